# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one exception type of strata.libvirt's module_utils. Private; no compatibility promise."""


class StrataError(Exception):
    """A failure with a message fit for the user; modules turn it into fail_json(msg=...)."""

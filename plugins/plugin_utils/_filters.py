# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What every filter of the collection shares: plain Python values in, StrataError out as AnsibleFilterError.

Private to strata.libvirt; no compatibility promise.
"""

import functools

from ansible.errors import AnsibleFilterError

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError


def plain(value):
    """Templated containers (lazy lists and dicts of ansible-core 2.19) as plain Python ones."""
    if isinstance(value, dict):
        return dict((k, plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def filter_function(func):
    """func as a filter: its arguments (positional and keyword) as plain values, a StrataError as an
    AnsibleFilterError with the same message."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*[plain(a) for a in args], **dict((k, plain(v)) for k, v in kwargs.items()))
        except StrataError as exc:
            raise AnsibleFilterError(str(exc))
    return wrapper

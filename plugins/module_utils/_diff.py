# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A difference tracker: what a plan changes, as before/after for Ansible's diff mode.

Private to strata.libvirt; no compatibility promise.
"""

import copy


class DifferenceTracker(object):
    """Records, key by key, the value before and after; only keys that differ count as changes.

    before() and after() hold every key that was recorded, so the diff shows the compared
    settings with their values on both sides, and changed_keys() names those that differ.
    """

    def __init__(self):
        self._entries = []  # (key, before, after), in insertion order
        self._keys = set()

    def add(self, key, before, after):
        if key in self._keys:
            self._entries = [e for e in self._entries if e[0] != key]
        self._keys.add(key)
        self._entries.append((key, copy.deepcopy(before), copy.deepcopy(after)))

    def has(self, key):
        return key in self._keys

    def changed_keys(self):
        return [key for key, before, after in self._entries if before != after]

    def has_differences(self):
        return bool(self.changed_keys())

    def before(self):
        return dict((key, before) for key, before, after in self._entries)

    def after(self):
        return dict((key, after) for key, before, after in self._entries)

    def diff(self):
        """The value of Ansible's `diff` result key."""
        return {'before': self.before(), 'after': self.after()}

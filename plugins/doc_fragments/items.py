# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The items option of the modules that manage several resources in one run."""


class ModuleDocFragment:

    # For modules that manage one resource, or several in one run (module_utils/_batch.py).
    DOCUMENTATION = r'''
options:
  items:
    description:
      - Several resources in one run, instead of a loop (a loop costs one module run per item, about half a
        second each through Ansible). Each item is a dict of this module's options; the options given
        beside O(items) are the defaults of every item. An empty list does nothing.
      - The options of every item are checked as if it were a run of its own (required options included) before
        the first one is touched; one invalid item fails the task and nothing changes. What only libvirt can
        tell (a network or volume that does not exist, for example) is found when that item runs.
      - The items then run in the order given. The first one that fails stops the task; the error names it and
        the items changed before it.
      - With O(items) the result has RV(results), one entry per item with the keys a single run returns plus
        C(item) (the item's name); RV(actions) are prefixed with that name and the diff has one entry per item.
    type: list
    elements: dict
'''

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type


class ModuleDocFragment(object):

    # For modules that change libvirt objects through read -> plan -> apply.
    DOCUMENTATION = r'''
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying target.
    support: full
    details:
      - Check mode runs the same planner as a real run and reports the same RV(actions) and diff,
        without changing anything on the hypervisor.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
    support: full
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
      - This assumes that the system controlled/queried by the module has not changed in a relevant way.
    support: full
  action_group:
    description: Use C(group/strata.libvirt.libvirt) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - strata.libvirt.libvirt
'''

    # For read-only (info) modules: nothing to plan, nothing to diff.
    INFO_MODULE = r'''
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying target.
    support: full
    details:
      - The module never changes anything; check mode returns the same facts.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
    support: none
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
      - This assumes that the system controlled/queried by the module has not changed in a relevant way.
    support: full
  action_group:
    description: Use C(group/strata.libvirt.libvirt) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - strata.libvirt.libvirt
'''

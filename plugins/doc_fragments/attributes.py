# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The attributes of the strata.libvirt modules, composed from parts.

DOCUMENTATION describes the attributes; the other parts say how far a kind of module supports them:

    extends_documentation_fragment:
      - strata.libvirt.attributes
      - strata.libvirt.attributes.planner               # or .info_module, or the module's own support
      - strata.libvirt.attributes.actiongroup_libvirt
"""


class ModuleDocFragment:

    # The descriptions; use it with one of the support parts below (or the module's own attributes).
    DOCUMENTATION = r'''
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
      - This assumes that the system controlled/queried by the module has not changed in a relevant way.
'''

    # For modules that change libvirt objects through read -> plan -> apply.
    PLANNER = r'''
options: {}
attributes:
  check_mode:
    support: full
    details:
      - Check mode runs the same planner as a real run and reports the same RV(actions) and diff,
        without changing anything on the hypervisor.
  diff_mode:
    support: full
  idempotent:
    support: full
'''

    # For read-only (info) modules: nothing to plan, nothing to diff.
    INFO_MODULE = r'''
options: {}
attributes:
  check_mode:
    support: full
    details:
      - The module never changes anything; check mode returns the same facts.
  diff_mode:
    support: N/A
    details:
      - The module never changes anything.
  idempotent:
    support: full
    details:
      - The module never changes anything.
'''

    # Membership of the action group of meta/runtime.yml (every strata.libvirt module).
    ACTIONGROUP_LIBVIRT = r'''
options: {}
attributes:
  action_group:
    description: Use C(group/strata.libvirt.libvirt) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - strata.libvirt.libvirt
'''

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: cluster_lock
short_description: One provisioning or teardown of a cluster at a time, for a whole run
version_added: 0.1.0
description:
  - Takes (O(state=held)) or gives back (O(state=released)) the lock of a cluster on a hypervisor, a lease file
    under O(state_dir). The modules' own per-URI lock covers one task; this one covers a whole run of many tasks, so
    that an unprovisioning cannot remove a cluster while a provisioning of it waits for its VMs, and two
    provisionings of one cluster run one after the other.
  - A lease held by another run is waited for up to O(wait) seconds. It counts as released when it is older than
    O(max_age), or when the run that holds it ran on this machine (same host name and boot, from O(holder)) and its
    ansible-playbook process is gone, as after a C(kill -9); then it is taken over with a warning.
  - The roles C(strata.libvirt.cluster) and C(strata.libvirt.unprovision) take it for the whole run and give it back
    at the end, also when they fail.
author:
  - strata.libvirt contributors (@strata-libvirt)
extends_documentation_fragment:
  - strata.libvirt.attributes
  - strata.libvirt.attributes.actiongroup_libvirt
  - strata.libvirt.connection.uri
attributes:
  check_mode:
    support: full
    details: Check mode waits for and reports the lock as a real run would, and writes nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Taking a lock this run holds, or giving back one it does not hold, changes nothing.
options:
  cluster:
    description: Name of the cluster.
    type: str
    required: true
  state:
    description: V(held) takes the lock (or keeps it, for the same O(owner)), V(released) gives it back.
    type: str
    choices: [held, released]
    default: held
  owner:
    description: A token of the run, at least 8 characters; the same token keeps or releases the lock.
    type: str
    required: true
  what:
    description: What the run does (V(provision), V(unprovision)), for the message another run gets.
    type: str
    default: provision
  holder:
    description:
      - Who holds it, for the message another run gets and to notice a holder that is gone; V(controller) (host
        name), V(boot_id) (C(/proc/sys/kernel/random/boot_id)) and V(pid) of the controller's ansible-playbook.
    type: dict
    default: {}
  wait:
    description: Seconds to wait for a lock that another run holds, then fail (before any change).
    type: int
    default: 120
  max_age:
    description: Seconds after which a lock that was not given back counts as released.
    type: int
    default: 86400
  state_dir:
    description:
      - Directory of the lease files (and of the per-URI lock around reading and writing them); not set means
        V(/var/lib/strata-libvirt).
    type: path
  lock_timeout:
    description: Seconds to wait for the per-URI lock around reading and writing the lease; not set means V(300).
    type: int
  adopt:
    description: Accepted for C(module_defaults) of the group, not used.
    type: bool
  objects:
    description:
      - With O(state=held), once the lock is held, look up these names of the cluster as M(strata.libvirt.cluster_info)
        does and return what it returns in RV(info), in the same module run. The keys are that module's options
        V(pool), V(network), V(networks), V(volumes) and V(domains), with the same meaning and checks.
      - Bad names fail before the lock is taken; when the lookup fails, a lock this run took is given back.
    type: dict
seealso:
  - module: strata.libvirt.cluster_info
'''

EXAMPLES = r'''
- name: Take the cluster's lock for this run
  strata.libvirt.cluster_lock:
    cluster: lab
    owner: "{{ run_token }}"
    what: provision
    holder:
      controller: "{{ lookup('ansible.builtin.pipe', 'hostname') }}"

- name: Take it and look up the cluster's names under it, in one run
  strata.libvirt.cluster_lock:
    cluster: lab
    owner: "{{ run_token }}"
    objects:
      pool: lab
      networks: [lab-net]
      domains: [lab-web1, lab-web2]
  register: lock

- name: Stop when a name is taken
  ansible.builtin.assert:
    that: lock.info.foreign | length == 0

- name: Give it back
  strata.libvirt.cluster_lock:
    cluster: lab
    owner: "{{ run_token }}"
    state: released
'''

RETURN = r'''
path:
  description: The lease file.
  returned: always
  type: str
took_over:
  description: The run whose lock was taken over, and why it no longer held; null when none was.
  returned: always
  type: str
info:
  description:
    - What M(strata.libvirt.cluster_info) returns for O(objects) (C(objects), C(foreign), C(marked) and C(node)),
      looked up under the lock.
  returned: when O(objects) is given
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.strata.libvirt.plugins.module_utils._cluster_lock import CONSTRAINTS, argument_spec, run


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True, **CONSTRAINTS)
    run(module)


if __name__ == '__main__':
    main()

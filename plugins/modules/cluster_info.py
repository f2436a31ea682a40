#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: cluster_info
short_description: Which objects of a cluster exist on a hypervisor, and whose they are
version_added: 0.1.0
description:
  - Looks up, in one read-only pass, the names a cluster uses (its storage pool, its network, the volumes in
    that pool and its domains) and says of each whether it exists and whether it carries this cluster's
    ownership mark. Every object of one of those names that is not this cluster's is listed in RV(foreign), all at once,
    so that a provisioning can refuse before its first change.
  - Also lists everything that carries the cluster's mark, whatever the names given (RV(marked)), domains and
    networks by the mark in their XML, pools and volumes by the ownership registry under O(state_dir). This is
    what a teardown removes; a volume that a domain of another owner uses names it in its V(used_by) (see RV(marked)).
  - The roles C(strata.libvirt.cluster) (before any change) and C(strata.libvirt.unprovision) run it.
author:
  - strata.libvirt contributors (@strata-libvirt)
extends_documentation_fragment:
  - strata.libvirt.attributes
  - strata.libvirt.attributes.info_module
  - strata.libvirt.attributes.actiongroup_libvirt
  - strata.libvirt.connection.uri
options:
  cluster:
    description: Name of the cluster whose ownership mark counts as ours.
    type: str
    required: true
  pool:
    description: Name of the cluster's storage pool.
    type: str
  network:
    description: Name of one of the cluster's networks (the same as one item of O(networks)).
    type: str
  networks:
    description: Names of the cluster's networks.
    type: list
    elements: str
    default: []
  volumes:
    description:
      - Names of the cluster's volumes in O(pool). While the pool is missing or inactive, their state is unknown
        (RV(objects.volumes) says V(exists=null)).
    type: list
    elements: str
    default: []
  domains:
    description: Names of the cluster's domains.
    type: list
    elements: str
    default: []
  state_dir:
    description: Directory of the lock files and of the ownership registry of pools and volumes; not set means V(/var/lib/strata-libvirt).
    type: path
  lock_timeout:
    description:
      - Seconds to wait for the per-URI lock (held while the objects are read, so that they are read as one state); not
        set means V(300).
    type: int
  adopt:
    description: Accepted for C(module_defaults) of the group, not used.
    type: bool
requirements:
  - libvirt-python (the C(libvirt) Python binding) on the managed node
  - lxml on the managed node
seealso:
  - module: strata.libvirt.domain_info
'''

EXAMPLES = r'''
- name: Refuse before any change when a name of the cluster is taken
  strata.libvirt.cluster_info:
    cluster: lab
    pool: strata-lab
    network: strata-lab
    volumes: [strata-lab-web1.qcow2, strata-lab-web1-seed.iso]
    domains: [strata-lab-web1]
  register: lab

- name: Stop with every collision at once
  ansible.builtin.fail:
    msg: "{{ lab.foreign }}"
  when: lab.foreign | length > 0
'''

RETURN = r'''
objects:
  description:
    - The names given, each with V(exists), and when it exists V(owner) (its ownership mark) and V(status)
      (V(ours) or V(foreign)). Pools and networks also have V(active); volumes V(key) and V(used_by) (domains of
      other owners that use it).
  returned: always
  type: dict
  contains:
    pool:
      description: The pool, or null when O(pool) is not set.
      type: dict
    network:
      description: The network, or null when O(network) is not set.
      type: dict
    networks:
      description: Network name -> its entry, for O(network) and O(networks).
      type: dict
    volumes:
      description: Volume name -> its entry.
      type: dict
    domains:
      description: Domain name -> its entry.
      type: dict
foreign:
  description: One line per object of one of the given names that is not this cluster's.
  returned: always
  type: list
  elements: str
  sample: ["domain 'strata-lab-web1' exists and was not created by strata.libvirt"]
node:
  description:
    - What the hypervisor offers, as its libvirt says (also over a remote URI such as V(qemu+ssh://)); the cluster
      role places the VMs of a cluster over several hypervisors from it.
  returned: always
  type: dict
  contains:
    cpus:
      description: The host's CPUs.
      type: int
    memory_mib:
      description: The host's memory, in MiB.
      type: int
    free_mib:
      description: Its memory available for new VMs, in MiB (free plus buffers and page cache; null where libvirt cannot say).
      type: int
    hostname:
      description: Its host name.
      type: str
    domains:
      description: The names of every domain defined there, of any owner.
      type: list
      elements: str
marked:
  description: Everything that carries this cluster's mark.
  returned: always
  type: dict
  contains:
    domains:
      description: Domain names.
      type: list
      elements: str
    networks:
      description: Network names.
      type: list
      elements: str
    pools:
      description: Pools (V(name), V(active)) the registry records for the cluster and libvirt still has.
      type: list
      elements: dict
    volumes:
      description:
        - Volumes (V(pool), V(name), V(key), V(image) (a base image), V(used_by)) the registry records for the
          cluster and libvirt still has.
      type: list
      elements: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.strata.libvirt.plugins.module_utils._cluster_scan import CONSTRAINTS, argument_spec, run


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True, **CONSTRAINTS)
    run(module)


if __name__ == '__main__':
    main()

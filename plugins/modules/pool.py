#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: pool
short_description: Manage libvirt storage pools declaratively
version_added: 0.1.0
description:
  - Defines, updates, builds, starts, stops and removes a libvirt storage pool of type V(dir) or V(netfs).
    Other types (logical, disk, iscsi, ...) can be managed through O(xml); they are never built by this module,
    because building them formats devices.
  - Only the settings you give are compared with the pool's persistent definition; capacity, allocation,
    UUID and other values libvirt fills in are never a difference.
  - A changed definition of a running pool is saved, and the module returns RV(restart_required=true) or,
    with O(restart=true), stops, rebuilds and starts the pool. Restarting a V(dir) pool does not disturb
    guests using its volumes.
  - Pools created by this module are recorded as its own in the ownership registry under O(state_dir)
    (libvirt 9.0 keeps no C(<metadata>) in pool XML). Another pool of the same name is refused unless O(adopt=true).
author:
  - strata.libvirt contributors (@strata-libvirt)
extends_documentation_fragment:
  - strata.libvirt.connection
  - strata.libvirt.attributes
  - strata.libvirt.attributes.planner
  - strata.libvirt.attributes.actiongroup_libvirt
options:
  name:
    description: Name of the pool (letters, digits, V(.), V(_) and V(-)).
    type: str
    required: true
  state:
    description:
      - V(present) defines or updates the pool (a new one is built and left stopped), keeping it running or stopped as it is.
      - V(running) also builds (for V(dir) and V(netfs) that only creates the directory) and starts it.
      - V(stopped) also stops it.
      - V(absent) stops and undefines it; its directory and files stay unless O(purge=true).
    type: str
    choices: [present, running, stopped, absent]
    default: present
  type:
    description: Pool type. It cannot change on an existing pool.
    type: str
    choices: [dir, netfs]
    default: dir
  path:
    description:
      - Target directory (absolute). Required to create a pool.
      - Changing it on an existing pool leaves the old directory and its files where they are.
    type: path
  mode:
    description: Octal permissions of the directory, quoted, for example V('0755').
    type: str
  owner:
    description: Owner of the directory, a user name (resolved on the managed node) or a numeric UID.
    type: str
  group:
    description: Group of the directory, a group name (resolved on the managed node) or a numeric GID.
    type: str
  source_host:
    description: NFS server, for O(type=netfs).
    type: str
  source_path:
    description: Exported directory on O(source_host), for O(type=netfs).
    type: str
  autostart:
    description: Start the pool when libvirtd starts. Not set leaves it as it is.
    type: bool
  build:
    description:
      - Build the pool (create the directory, apply O(mode), O(owner) and O(group)) when it is defined or
        started. Only for V(dir) and V(netfs) pools.
    type: bool
    default: true
  restart:
    description:
      - Stop, rebuild and start a running pool when its definition changed in a way that needs it, instead
        of returning RV(restart_required=true).
    type: bool
    default: false
  purge:
    description:
      - With O(state=absent), also remove the pool's directory.
      - Only for pools strata.libvirt created (not for adopted ones), and only when the pool holds no
        volumes; the task fails before any change otherwise. A stopped pool's volumes cannot be listed,
        then libvirt refuses to remove a directory that is not empty.
    type: bool
    default: false
  xml:
    description:
      - Escape hatch, a complete C(<pool>) definition instead of the structured options.
      - Compared semantically with the persistent definition, as a subset (see the M(strata.libvirt.network)
        module's O(strata.libvirt.network#module:xml) option); the pool is redefined from it when it differs.
      - Parsed with entity resolution off; a DOCTYPE is refused.
    type: str
notes:
  - Measured with libvirt 9.0, pool XML keeps no C(<metadata>), hence the registry.
  - The O(type=logical) pool type is not offered as structured options; use O(xml) and prepare the volume
    group yourself.
seealso:
  - module: strata.libvirt.volume
  - module: strata.libvirt.network
'''

EXAMPLES = r'''
- name: Directory pool for the cluster's disks, started at boot
  strata.libvirt.pool:
    name: strata-lab
    path: /var/lib/libvirt/strata-lab
    mode: '0711'
    state: running
    autostart: true
    cluster: lab

- name: Remove it and its (empty) directory
  strata.libvirt.pool:
    name: strata-lab
    state: absent
    purge: true
'''

RETURN = r'''
changed:
  description: Whether anything was (or, in check mode, would be) changed.
  returned: always
  type: bool
actions:
  description: What was done, or in check mode would be done, in order.
  returned: always
  type: list
  elements: str
  sample: ["define pool 'strata-lab'", "build pool 'strata-lab' (create its directory, apply permissions)",
           "start pool 'strata-lab'", "enable autostart of pool 'strata-lab'"]
diff:
  description: The compared settings before and after (also returned without diff mode).
  returned: always
  type: dict
restart_required:
  description: The running pool differs from its persistent definition in a way only a restart applies.
  returned: always
  type: bool
pool:
  description: The pool after the task (in check mode, as it is now).
  returned: always
  type: dict
  contains:
    name:
      description: Name.
      type: str
    exists:
      description: Whether the pool exists.
      type: bool
    uuid:
      description: UUID.
      type: str
    type:
      description: Pool type.
      type: str
    path:
      description: Target directory.
      type: str
    mode:
      description: Permissions from the definition.
      type: str
    owner:
      description: UID from the definition.
      type: int
    group:
      description: GID from the definition.
      type: int
    active:
      description: Whether it is running.
      type: bool
    persistent:
      description: Whether it has a persistent definition.
      type: bool
    autostart:
      description: Whether it starts with libvirtd.
      type: bool
    ownership:
      description: The strata ownership record, V(owned) and V(cluster).
      type: dict
    volumes:
      description: Names of its volumes (when running).
      type: list
      elements: str
    capacity:
      description: Capacity in bytes (when running).
      type: int
    allocation:
      description: Allocation in bytes (when running).
      type: int
    available:
      description: Free bytes (when running).
      type: int
    xml:
      description: The persistent XML definition.
      type: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.strata.libvirt.plugins.module_utils import _pool
from ansible_collections.strata.libvirt.plugins.module_utils._common import run


def main():
    module = AnsibleModule(argument_spec=_pool.argument_spec(), supports_check_mode=True, **_pool.CONSTRAINTS)
    run(module, _pool.PoolResource)


if __name__ == '__main__':
    main()

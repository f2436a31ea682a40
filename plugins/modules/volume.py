#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: volume
short_description: Manage libvirt storage volumes declaratively
version_added: 0.1.0
description:
  - Creates a volume in a running storage pool, empty, as a copy-on-write overlay of a backing volume or file,
    as a full clone of another volume, or from a file on the managed node; grows it; removes it.
  - After creation only the capacity changes, and only upwards. A smaller O(capacity) is an error that names
    both sizes. A different O(format) or backing is an error unless O(recreate=true).
  - O(clone_from) and O(upload) are sources used when the volume is created; they are not compared afterwards.
  - Volumes created by this module are recorded as its own in the ownership registry under O(state_dir)
    (libvirt 9.0 keeps no C(<metadata>) in volume XML). Another volume of the same name is refused unless
    O(adopt=true). A volume that other volumes of the pool use as their backing file is never removed.
author:
  - strata.libvirt contributors (@strata-libvirt)
extends_documentation_fragment:
  - strata.libvirt.connection
  - strata.libvirt.attributes
  - strata.libvirt.attributes.planner
  - strata.libvirt.attributes.actiongroup_libvirt
  - strata.libvirt.items
options:
  name:
    description:
      - Name of the volume (letters, digits, V(.), V(_) and V(-)).
      - Required, here or in each item of O(items).
    type: str
  pool:
    description:
      - Name of the storage pool; it must exist and be running.
      - Required, here or in each item of O(items).
    type: str
  state:
    description:
      - V(present) creates the volume or grows it.
      - V(absent) deletes it; nothing to do when it or its pool does not exist.
    type: str
    choices: [present, absent]
    default: present
  capacity:
    description:
      - Size, in bytes or with libvirt's units, for example V(35G), V(512M), V(1T) (V(K), V(M), V(G), V(T) are
        powers of 1024; V(KB), V(MB), V(GB), V(TB) powers of 1000). Rounded up to whole 512-byte sectors.
      - Required to create an empty volume; for an overlay, clone or upload it defaults to the source's size
        and may only be larger.
      - On an existing volume, a larger value grows it; a smaller one is an error.
    type: str
  format:
    description:
      - V(qcow2) or V(raw). Default for a new empty volume V(qcow2); a clone keeps its source's format; an
        upload takes the file's format (qcow2 is recognised by its header) and this must agree.
      - Overlays are always V(qcow2).
    type: str
    choices: [qcow2, raw]
  backing_volume:
    description:
      - Create a copy-on-write overlay on top of this volume, V(name) in the same pool or V(pool/name).
    type: str
  backing_file:
    description:
      - Create a copy-on-write overlay on top of this absolute path (a volume of any pool, or a file on the managed node).
    type: path
  backing_format:
    description: Format of the backing image; by default found out from libvirt or the file's header.
    type: str
    choices: [qcow2, raw]
  clone_from:
    description: Create the volume as a full copy of this volume, V(name) in the same pool or V(pool/name).
    type: str
  upload:
    description:
      - Create the volume from this file on the managed node.
      - When libvirt runs on this host and the volume is a file there (a V(dir) or V(fs) pool), the file is
        copied directly, in the kernel where it can; otherwise it goes through libvirt's stream API.
    type: path
  recreate:
    description:
      - When an existing volume's O(format) or backing differs, delete it and create it again. Its data is lost.
    type: bool
    default: false
  xml:
    description:
      - Escape hatch, a complete C(<volume>) definition used to create the volume.
      - Its name, capacity, format and backing store are compared like the structured options; the rest
        is only used at creation.
      - Parsed with entity resolution off; a DOCTYPE is refused.
    type: str
notes:
  - Measured with libvirt 9.0, volume XML keeps no C(<metadata>), hence the registry.
  - Only volumes in the same pool are checked when deciding whether a volume is still used as a backing file.
seealso:
  - module: strata.libvirt.pool
'''

EXAMPLES = r'''
- name: Base image, uploaded once
  strata.libvirt.volume:
    name: debian-12.qcow2
    pool: strata-lab
    upload: /var/cache/strata/debian-12.qcow2

- name: Per-VM overlay of 20 GiB on top of it
  strata.libvirt.volume:
    name: web1.qcow2
    pool: strata-lab
    backing_volume: debian-12.qcow2
    capacity: 20G
    cluster: lab

- name: Grow it later (shrinking is refused)
  strata.libvirt.volume:
    name: web1.qcow2
    pool: strata-lab
    capacity: 35G

- name: A full, independent copy
  strata.libvirt.volume:
    name: golden-copy.qcow2
    pool: strata-lab
    clone_from: debian-12.qcow2

- name: The disks of three VMs in one run (faster than a loop)
  strata.libvirt.volume:
    pool: strata-lab
    backing_volume: debian-12.qcow2
    cluster: lab
    items:
      - {name: web1.qcow2, capacity: 20G}
      - {name: web2.qcow2, capacity: 20G}
      - {name: db1.qcow2, capacity: 50G}

- name: Remove the overlay
  strata.libvirt.volume:
    name: web1.qcow2
    pool: strata-lab
    state: absent
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
  sample: ["grow volume 'web1.qcow2' in pool 'strata-lab' from 20G (21474836480 bytes) to 35G (37580963840 bytes)"]
diff:
  description:
    - Capacity, format and backing before and after (also returned without diff mode).
    - With O(items), a list of these, one per item.
  returned: always
  type: raw
results:
  description: With O(items), one entry per item, in order, with the keys of a single run and C(item).
  returned: when O(items) is given
  type: list
  elements: dict
volume:
  description: The volume after the task (in check mode, as it is now).
  returned: unless O(items) is given
  type: dict
  contains:
    name:
      description: Name.
      type: str
    pool:
      description: Pool name.
      type: str
    exists:
      description: Whether the volume exists.
      type: bool
    path:
      description: Path on the hypervisor.
      type: str
    key:
      description: libvirt's key of the volume.
      type: str
    capacity:
      description: Capacity in bytes.
      type: int
    allocation:
      description: Allocated bytes.
      type: int
    format:
      description: Format.
      type: str
    backing:
      description: Backing image, V(path) and V(format), or null.
      type: dict
    backing_users:
      description: Volumes of the same pool that use this one as their backing file.
      type: list
      elements: str
    ownership:
      description: The strata ownership record, V(owned) and V(cluster).
      type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.strata.libvirt.plugins.module_utils import _volume
from ansible_collections.strata.libvirt.plugins.module_utils._batch import module_spec
from ansible_collections.strata.libvirt.plugins.module_utils._common import run_items


def main():
    # the constraints between options hold per item: _batch checks each item with them
    module = AnsibleModule(argument_spec=module_spec(_volume.argument_spec()), supports_check_mode=True)
    run_items(module, _volume.VolumeResource, _volume.argument_spec(), _volume.CONSTRAINTS, _volume.item_label)


if __name__ == '__main__':
    main()

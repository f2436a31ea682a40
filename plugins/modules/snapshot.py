#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: snapshot
short_description: Take, revert and delete snapshots of libvirt domains
version_added: 0.1.0
description:
  - Takes, reverts to and deletes one snapshot of a libvirt domain, by name. The task also returns all snapshots of
    the domain in RV(snapshots).
  - Snapshots are libvirt's internal ones. They are kept inside the domain's qcow2 disks, with the guest's memory
    when the domain runs or is paused. A snapshot of a shut off domain holds its disks only.
  - V(present) takes the snapshot when the domain has none of that name; an existing one is left as it is, but for
    its description when O(description) is given (changed in libvirt's metadata, the disks are not touched).
  - V(reverted) always reverts, like a command, and reports a change every time. Whether the domain changed since
    its last revert cannot be told, so a revert is never skipped.
  - V(absent) deletes the snapshot, its metadata and the internal snapshot libvirt keeps in the disks. Its child
    snapshots, if any, are kept.
  - What libvirt 9.0 would refuse and the definition can tell is refused before any change, with the reason. That
    is a domain booting UEFI firmware (pflash with NVRAM), a writable disk that is not qcow2, no writable disk at
    all, O(memory=false) for a running domain and O(memory=true) for a shut off one.
  - Only the snapshots of domains strata.libvirt created (with its ownership mark, and of O(cluster) when given) are
    touched, unless O(adopt=true).
author:
  - strata.libvirt contributors (@strata-libvirt)
extends_documentation_fragment:
  - strata.libvirt.connection
  - strata.libvirt.attributes
  - strata.libvirt.attributes.actiongroup_libvirt
attributes:
  check_mode:
    support: full
    details:
      - Check mode runs the same planner as a real run and reports the same RV(actions) and diff, without changing
        anything on the hypervisor.
  diff_mode:
    support: full
  idempotent:
    support: partial
    details:
      - V(present) and V(absent) are idempotent. V(reverted) reverts the domain every time and always reports a
        change.
options:
  domain:
    description: Name of the domain.
    type: str
    required: true
  name:
    description:
      - Name of the snapshot (letters, digits, V(.), V(_) and V(-), not starting with V(.)).
    type: str
    required: true
  state:
    description:
      - V(present) takes the snapshot when it does not exist, and sets its description when O(description) is given.
      - V(reverted) reverts the domain to it (the snapshot must exist). See O(running) for the domain's state
        afterwards.
      - V(absent) deletes it. Nothing to do when it does not exist, or when the domain does not exist.
    type: str
    choices: [present, absent, reverted]
    default: present
  description:
    description:
      - Description of the snapshot, with O(state=present). Compared with an existing snapshot's (leading and trailing
        white space aside) and changed in place when it differs. V('') removes it. Not set leaves it as it is.
    type: str
  memory:
    description:
      - Whether the snapshot holds the guest's memory, with O(state=present). Not set, a running or paused domain's
        snapshot holds its memory and a shut off domain's does not.
      - libvirt 9.0 takes no internal snapshot of a running domain without its memory. V(false) for a running domain
        fails, so shut the domain down first or leave it unset. V(true) for a shut off domain fails, as there is no
        memory to save.
      - It cannot change on an existing snapshot, so a different value fails; delete the snapshot and take it again.
    type: bool
  running:
    description:
      - The domain's state after a revert, with O(state=reverted).
      - Not set, the state the snapshot recorded. A snapshot with memory resumes the guest running (or paused, if it
        was paused then); one without memory leaves the domain shut off (a running domain is powered off).
      - V(true) runs the domain from the snapshot. For a snapshot without memory the domain is started afterwards
        (it boots from the reverted disks).
      - V(false) leaves the domain shut off. For a snapshot with memory the domain is reverted paused, then forced off,
        so its disks are as the snapshot has them and the saved memory is not kept.
    type: bool
  cluster:
    description:
      - Name of the cluster the domain must belong to (its ownership mark). The snapshots of a domain marked for
        another cluster are not touched unless O(adopt=true).
      - When not set, any domain strata.libvirt created will do.
    type: str
  adopt:
    description:
      - Work on the snapshots of a domain that strata.libvirt did not create (it carries no ownership mark), or that
        is marked for another O(cluster).
      - The domain itself stays as it is. This module never adds or changes its mark; M(strata.libvirt.domain) with
        O(strata.libvirt.domain#module:adopt=true) takes a domain over.
    type: bool
    default: false
notes:
  - Measured with libvirt 9.0. An internal snapshot of a running domain is a full system checkpoint (disks and memory),
    and one without memory is refused (C(internal snapshot of a running VM must include the memory state)). A domain
    with pflash firmware is refused (C(internal snapshots of a VM with pflash based firmware are not supported)), and
    a raw disk too (C(internal snapshot for disk vda unsupported for storage type raw)).
  - External snapshots (overlay files, C(VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY)) are out of scope. Existing external
    snapshots are listed and can be deleted; whether libvirt reverts one is libvirt's to tell.
  - A revert that libvirt considers risky (for example a snapshot without the domain's definition in it) fails with
    libvirt's message; this module does not force it.
  - M(strata.libvirt.domain) with O(strata.libvirt.domain#module:state=absent) removes the metadata of a domain's
    snapshots with the domain.
seealso:
  - module: strata.libvirt.domain
'''

EXAMPLES = r'''
- name: Snapshot before an upgrade (with memory, as the VM runs)
  strata.libvirt.snapshot:
    domain: web1
    name: pre-upgrade
    description: Before the upgrade to 2.0
    cluster: lab
  register: snap

- name: Show the VM's snapshots
  ansible.builtin.debug:
    msg: "{{ snap.snapshots | map(attribute='name') | list }}"

- name: Roll back, and keep the VM running
  strata.libvirt.snapshot:
    domain: web1
    name: pre-upgrade
    state: reverted
    running: true

- name: The upgrade went well, drop the snapshot
  strata.libvirt.snapshot:
    domain: web1
    name: pre-upgrade
    state: absent

- name: A clean base of a shut off VM (disks only)
  strata.libvirt.snapshot:
    domain: ci-runner
    name: base
'''

RETURN = r'''
changed:
  description: Whether anything was (or, in check mode, would be) changed. Always true for O(state=reverted).
  returned: always
  type: bool
actions:
  description: What was done, or in check mode would be done, in order.
  returned: always
  type: list
  elements: str
  sample: ["create snapshot 'pre-upgrade' of domain 'web1' (with memory)"]
diff:
  description:
    - The compared settings before and after (also returned without diff mode). C(exists), C(memory) and
      C(description) of the snapshot; for a revert the domain's C(current) snapshot and its run C(state).
  returned: always
  type: dict
snapshot:
  description: The snapshot after the task (in check mode, as it is now).
  returned: always
  type: dict
  contains:
    name:
      description: Name.
      type: str
    exists:
      description: Whether the snapshot exists.
      type: bool
    description:
      description: Description, or null.
      type: str
    state:
      description: The domain's state when the snapshot was taken, for example V(running), V(paused), V(shut off).
      type: str
    memory:
      description: Whether it holds the guest's memory.
      type: bool
    location:
      description: V(internal) (inside the disks) or V(external) (overlay files, taken by other tools).
      type: str
    parent:
      description: Name of the snapshot it was taken after, or null.
      type: str
    current:
      description: Whether it is the domain's current snapshot (the last one taken or reverted to).
      type: bool
    creation_time:
      description: When it was taken, in seconds since the epoch.
      type: int
    created:
      description: When it was taken, ISO 8601 in UTC.
      type: str
      sample: '2026-12-02T10:12:03Z'
snapshots:
  description: All snapshots of the domain after the task (in check mode, as they are now), oldest first, each with
    the keys of RV(snapshot) but C(exists). Empty when the domain does not exist.
  returned: always
  type: list
  elements: dict
domain:
  description: The domain after the task (in check mode, as it is now).
  returned: always
  type: dict
  contains:
    name:
      description: Name.
      type: str
    exists:
      description: Whether the domain exists.
      type: bool
    state:
      description: Its state, for example V(running), V(paused), V(shut off).
      type: str
    ownership:
      description: The strata ownership mark, V(owned) and V(cluster).
      type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.strata.libvirt.plugins.module_utils._common import run
from ansible_collections.strata.libvirt.plugins.module_utils._snapshot import resource, spec


def main():
    module = AnsibleModule(argument_spec=spec.argument_spec(), supports_check_mode=True)
    run(module, resource.SnapshotResource)


if __name__ == '__main__':
    main()

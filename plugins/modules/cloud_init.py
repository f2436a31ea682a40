#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: cloud_init
short_description: Build a cloud-init NoCloud seed ISO, rewritten only when its content changes
version_added: 0.1.0
description:
  - Builds a NoCloud seed ISO (volume label C(cidata), files C(user-data), C(meta-data) and optionally
    C(network-config)) in Python with pycdlib; the managed node needs no ISO tool.
  - Writes it to a file O(path) beside the VM's disks, or into a storage pool as the raw volume O(volume).
  - The ISO is deterministic (fixed dates, sorted keys), so the same content gives the same bytes. The module
    compares bytes with the existing seed and rewrites it only when they differ; a re-run reports no change.
  - The user-data is either given whole (O(user_data) as a string), or rendered as C(#cloud-config) from the
    helper options (O(hostname), O(user), O(ssh_authorized_keys), O(ca_certs), ...) with O(user_data) as a dict
    deep-merged on top (dicts merge, lists are appended, other values replace).
  - Diff mode shows the seed's files before and after, with passwords, tokens and private keys redacted.
author:
  - strata.libvirt contributors (@strata-libvirt)
extends_documentation_fragment:
  - strata.libvirt.connection
  - strata.libvirt.attributes
  - strata.libvirt.attributes.planner
  - strata.libvirt.attributes.actiongroup_libvirt
  - strata.libvirt.items
options:
  path:
    description:
      - Absolute path of the seed ISO on the managed node; its directory must exist.
      - Written through a private temporary file and an atomic rename, with O(mode), O(owner) and O(group).
    type: path
  pool:
    description: Store the seed as a raw volume of this running storage pool (uploaded with libvirt's stream API).
    type: str
  volume:
    description: Name of the seed volume in O(pool).
    type: str
  state:
    description: V(present) writes the seed when it differs; V(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  user_data:
    description:
      - A string, used verbatim as user-data (it should start with C(#cloud-config)); the helper options must not be
        set then.
      - A dict, deep-merged on top of what the helper options produce and rendered as C(#cloud-config).
    type: raw
  hostname:
    description: Host name (cloud-init C(hostname), C(manage_etc_hosts), and C(local-hostname) in meta-data).
    type: str
  fqdn:
    description: Fully qualified name (cloud-init C(fqdn)).
    type: str
  user:
    description: A login user to create, with O(ssh_authorized_keys), O(sudo), O(shell), O(groups), password locked.
    type: str
  ssh_authorized_keys:
    description: SSH public keys of O(user) (or of the image's default user when O(user) is not set).
    type: list
    elements: str
  sudo:
    description: sudo rule of O(user); empty for none.
    type: str
    default: ALL=(ALL) NOPASSWD:ALL
  shell:
    description: Login shell of O(user).
    type: str
    default: /bin/bash
  groups:
    description: Supplementary groups of O(user).
    type: list
    elements: str
  packages:
    description:
      - Packages to install at first boot (for example V(python3)).
      - cloud-init runs the package manager's update first, which needs the guest to reach a mirror.
    type: list
    elements: str
  ca_certs:
    description: PEM CA certificates to add to the guest's trust store (cloud-init C(ca_certs)).
    type: list
    elements: str
  ssh_genkeytypes:
    description:
      - Delete any SSH host keys found in the image and generate keys of these types at first boot
        (cloud-init C(ssh_deletekeys), C(ssh_genkeytypes)), for example V([ed25519]).
      - Not set, the image's own cloud-init configuration decides.
    type: list
    elements: str
  write_files:
    description: cloud-init C(write_files) entries (dicts with C(path), C(content), C(permissions), ...).
    type: list
    elements: dict
  runcmd:
    description: cloud-init C(runcmd) entries (strings or argument lists).
    type: list
    elements: raw
  root_password:
    description:
      - For debugging only, a root password for the console (a C($...) crypt hash, or plain text) set with cloud-init
        C(chpasswd). The module warns when it is set. It is redacted in diffs; the seed itself holds it.
    type: str
  locale:
    description: cloud-init C(locale), for example V(C.UTF-8).
    type: str
  instance_id:
    description:
      - meta-data C(instance-id). cloud-init runs its once-per-instance modules again when it changes.
      - By default V(iid-<hostname>), or V(iid-<file or volume name>) without O(hostname). Not set, an existing seed
        whose instance-id is a generation of that default, V(iid-<hostname>-<suffix>) (given once, as the cluster
        role's reseed does), keeps it, so the seed is not rewritten and cloud-init does not run again.
    type: str
  meta_data:
    description: More meta-data keys, merged over C(instance-id) and C(local-hostname).
    type: dict
  network_config:
    description:
      - Network configuration version 2 (a dict, wrapped in C(network:) when it is not already) or a string used
        verbatim. Not set, the guest uses the image's default (DHCP).
    type: raw
  mode:
    description:
      - File mode of the seed file or volume. Modes that let every user read it are refused (the seed may hold
        password hashes). libvirt's DAC driver (C(dynamic_ownership), on by default) lets QEMU read a C(0600) root
        file when the VM starts; without it, use V(0640) with O(group) set to QEMU's group (for example
        V(libvirt-qemu) on Debian).
    type: raw
    default: '0600'
  owner:
    description: Owner of the seed file (O(path) only).
    type: str
  group:
    description: Group of the seed file (O(path) only).
    type: str
notes:
  - The ISO holds the files in ISO 9660 (level 3), Rock Ridge and Joliet names; cloud-init finds it by its label.
  - O(pool)/O(volume) seeds are recorded as strata.libvirt's own in the ownership registry, like volumes.
  - Redaction in diffs, and in the module arguments the result reports (C(invocation)), covers the values (blocks
    included) of keys that contain C(passw), C(secret), C(token) or C(private), the list of C(chpasswd), PEM private
    keys and the credentials of URLs (V(scheme://user:password@)); a secret hidden elsewhere (in a O(runcmd) line,
    say) is shown. O(root_password) is hidden wherever it appears.
  - The seed file is written through a private temporary file, with O(mode) whatever the umask.
requirements:
  - pycdlib on the managed node
seealso:
  - module: strata.libvirt.image
'''

EXAMPLES = r'''
- name: Seed of web1, beside its disk
  strata.libvirt.cloud_init:
    path: /var/lib/libvirt/images/strata/web1-seed.iso
    hostname: web1
    fqdn: web1.lab.test
    user: strata
    ssh_authorized_keys: ["{{ lookup('ansible.builtin.file', '~/.ssh/id_ed25519.pub') }}"]
    ssh_genkeytypes: [ed25519]
    ca_certs: ["{{ lookup('ansible.builtin.file', 'ca.pem') }}"]
    network_config:
      version: 2
      ethernets:
        eth0:
          match: {name: "en*"}
          dhcp4: true
    user_data:
      runcmd: [[touch, /etc/strata-ready]]

- name: The same as a pool volume
  strata.libvirt.cloud_init:
    pool: strata
    volume: web1-seed.iso
    hostname: web1
    user_data: "{{ lookup('ansible.builtin.template', 'user-data.j2') }}"
    cluster: lab

- name: The seeds of three VMs in one run (faster than a loop); the options beside items are every item's defaults
  strata.libvirt.cloud_init:
    pool: strata
    user: strata
    ssh_authorized_keys: ["{{ lookup('ansible.builtin.file', '~/.ssh/id_ed25519.pub') }}"]
    cluster: lab
    items:
      - {volume: web1-seed.iso, hostname: web1}
      - {volume: web2-seed.iso, hostname: web2}
      - {volume: db1-seed.iso, hostname: db1, packages: [postgresql]}
'''

RETURN = r'''
changed:
  description: Whether the seed was (or, in check mode, would be) written or removed.
  returned: always
  type: bool
actions:
  description: What was done, or in check mode would be done.
  returned: always
  type: list
  elements: str
  sample: ["rewrite /var/lib/libvirt/images/strata/web1-seed.iso (changed: user-data)"]
diff:
  description:
    - The seed's files before and after, each redacted (user-data, network-config, meta-data).
    - With O(items), a list of these, one per item.
  returned: always
  type: raw
results:
  description: With O(items), one entry per item, in order, with the keys of a single run and C(item).
  returned: when O(items) is given
  type: list
  elements: dict
path:
  description: Path of the seed on the managed node (for a volume, its path in the pool).
  returned: unless O(items) is given
  type: str
exists:
  description: Whether the seed exists after the task.
  returned: unless O(items) is given
  type: bool
sha256:
  description: sha256 of the ISO.
  returned: when state is present, unless O(items) is given
  type: str
size:
  description: Size of the ISO in bytes.
  returned: when state is present, unless O(items) is given
  type: int
files:
  description: Files in the seed.
  returned: unless O(items) is given
  type: list
  elements: str
  sample: [meta-data, user-data]
volume:
  description: V(pool) and V(name) of the seed volume.
  returned: with O(pool), unless O(items) is given
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.strata.libvirt.plugins.module_utils._batch import module_spec
from ansible_collections.strata.libvirt.plugins.module_utils._seed.module import run
from ansible_collections.strata.libvirt.plugins.module_utils._seed.spec import argument_spec


def main():
    module = AnsibleModule(argument_spec=module_spec(argument_spec()), supports_check_mode=True)
    run(module)


if __name__ == '__main__':
    main()

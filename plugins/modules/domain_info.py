#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


DOCUMENTATION = r'''
module: domain_info
short_description: Facts about libvirt domains, their IP addresses, uptime and SSH host keys
version_added: 0.1.0
description:
  - Reports one, several or all libvirt domains, optionally only those strata.libvirt owns or those of one
    cluster.
  - For each domain its run state, the settings of its persistent definition as M(strata.libvirt.domain)
    reports them (memory, vCPUs, disks, interfaces with their MAC addresses and more), its IP addresses,
    its uptime and its ownership mark.
  - IP addresses come from the DHCP leases of libvirt's networks (V(lease)) or from the QEMU guest agent
    inside the guest (V(agent)), see O(ip_source). A lease appears as soon as the guest asks for it (and a
    stale lease of a reused MAC address may be listed at once), so an address is no proof that the guest
    is up; use O(guest_agent=true) or a TCP or SSH probe for readiness.
  - With O(host_keys=true), the SSH host public keys of each running domain, read over channels that do not go
    through the network, so that they can be trusted without a first connection (see O(host_keys)).
  - With O(snapshots=true), the snapshots of each domain, as M(strata.libvirt.snapshot) reports them.
author:
  - strata.libvirt contributors (@strata-libvirt)
extends_documentation_fragment:
  - strata.libvirt.attributes
  - strata.libvirt.attributes.info_module
  - strata.libvirt.attributes.actiongroup_libvirt
  - strata.libvirt.connection.uri
options:
  name:
    description:
      - Names of the domains to report. Not set reports all domains (after the other filters).
      - Names that do not exist are listed in RV(missing); that is not an error.
    type: list
    elements: str
    aliases: [names]
  owned_only:
    description: Report only domains that carry the strata.libvirt ownership mark.
    type: bool
    default: false
  cluster:
    description: Report only domains marked as belonging to this cluster.
    type: str
  state_dir:
    description:
      - Accepted so that C(module_defaults) for C(group/strata.libvirt.libvirt) apply; not used (nothing is
        locked or registered by a read-only module).
    type: path
  lock_timeout:
    description: Accepted for C(module_defaults), not used.
    type: int
  adopt:
    description: Accepted for C(module_defaults), not used.
    type: bool
  ip_source:
    description:
      - Where IP addresses of running domains come from. V(lease) asks libvirt's DHCP server of the
        domain's networks (only interfaces on libvirt networks have leases), V(agent) the QEMU guest agent
        in the guest (all interfaces, including static addresses; needs the agent running), V(none) skips it.
    type: str
    choices: [lease, agent, none]
    default: lease
  guest_agent:
    description:
      - Ping the QEMU guest agent of each running domain (C(guest-ping), 5 s timeout) and report in
        RV(domains[].agent) whether it answers, a readiness signal.
    type: bool
    default: false
  host_keys:
    description:
      - Read the SSH host public keys of each running domain into RV(domains[].host_keys).
      - First through the QEMU guest agent (C(guest-file-open), C(guest-file-read), C(guest-file-close) of
        C(/etc/ssh/ssh_host_ed25519_key.pub), C(/etc/ssh/ssh_host_ecdsa_key.pub) and C(/etc/ssh/ssh_host_rsa_key.pub),
        those that exist; 5 s timeout per command). The domain needs a guest agent channel and the agent running in
        the guest with its file commands allowed (some distributions disable them).
      - When the agent gives none, from the domain's serial console log (its C(<serial><log file=...>), read on the
        managed node, so only for a local C(qemu://) URI), the last complete block cloud-init writes between
        C(-----BEGIN SSH HOST KEY KEYS-----) and C(-----END SSH HOST KEY KEYS-----). Lines may carry a prefix
        such as C(ec2:) or a timestamp. The module must be allowed to read that file (become root).
      - Each key is checked (a known host key algorithm whose base64 blob holds its fields) and reported as
        C(<type> <base64>), without the comment.
      - The agent may answer some seconds after SSH does, and cloud-init writes the block late in the first boot;
        retry the task (C(until)) while RV(domains[].host_keys.keys) is empty.
    type: bool
    default: false
  snapshots:
    description:
      - Report the snapshots of each domain in RV(domains[].snapshots), oldest first, with the keys of
        M(strata.libvirt.snapshot)'s RV(strata.libvirt.snapshot#module:snapshots). Nothing is changed.
    type: bool
    default: false
requirements:
  - libvirt-python (the C(libvirt) Python binding) on the managed node
  - lxml on the managed node
notes:
  - RV(domains[].uptime_seconds) is the time since the domain's QEMU process started, read from the pid file
    libvirt keeps (C(/run/libvirt/qemu/NAME.pid)) and the process start time in C(/proc) of the managed node.
    It is only available for a local C(qemu://) URI and a running domain, otherwise null. It counts from the
    start of the virtual machine, not from the guest's last reboot.
seealso:
  - module: strata.libvirt.domain
'''

EXAMPLES = r'''
- name: All domains of cluster lab
  strata.libvirt.domain_info:
    cluster: lab
  register: lab

- name: Wait until the guest agent of web1 answers, then show its address
  strata.libvirt.domain_info:
    name: web1
    guest_agent: true
  register: web1
  until: web1.domains[0].agent.responding | default(false)
  retries: 60
  delay: 2

- name: The SSH host keys of web1, read through the guest agent or the serial console log
  strata.libvirt.domain_info:
    name: web1
    ip_source: none
    host_keys: true
  register: web1_keys
  until: web1_keys.domains[0].host_keys['keys'] | length > 0
  retries: 20
  delay: 3

- name: The snapshots of the domains of cluster lab
  strata.libvirt.domain_info:
    cluster: lab
    ip_source: none
    snapshots: true
  register: lab_snapshots

- name: Addresses as the guest sees them
  strata.libvirt.domain_info:
    name: [web1, db1]
    ip_source: agent
'''

RETURN = r'''
domains:
  description: The selected domains, by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name.
      type: str
    uuid:
      description: UUID.
      type: str
    state:
      description: V(running), V(idle), V(paused), V(in shutdown), V(shut off), V(crashed) or V(pmsuspended).
      type: str
    active:
      description: Whether it runs (or is paused).
      type: bool
    persistent:
      description: Whether it has a persistent definition.
      type: bool
    autostart:
      description: Whether it starts with libvirtd.
      type: bool
    ownership:
      description: The strata ownership mark, V(owned) and V(cluster).
      type: dict
    type:
      description: Virtualisation type.
      type: str
    memory_mib:
      description: Memory in MiB (persistent definition).
      type: int
    vcpus:
      description: Number of vCPUs (persistent definition).
      type: int
    disks:
      description: Disks (target, bus, device, source, format, readonly).
      type: list
      elements: dict
    interfaces:
      description: Interfaces (type, source, mac, model) and their V(addresses).
      type: list
      elements: dict
    addresses:
      description: All IP addresses found, IPv4 first per interface.
      type: list
      elements: str
      sample: [10.241.0.50]
    ip_source:
      description: Where RV(domains[].addresses) came from, null when not asked or not running.
      type: str
    ip_error:
      description: Why addresses could not be read (for example no guest agent).
      type: str
      returned: when reading them failed
    agent:
      description: With O(guest_agent=true), V(responding) and, when it does not, V(error).
      type: dict
    uptime_seconds:
      description: Seconds since the QEMU process started (see the notes), null when unknown.
      type: int
    host_keys:
      description: With O(host_keys=true), the domain's SSH host public keys and where they came from.
      type: dict
      returned: when O(host_keys=true)
      contains:
        keys:
          description: The keys as C(<type> <base64>), ed25519 first, then ECDSA and RSA; empty when none was read.
          type: list
          elements: str
          sample: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJQov53N7ejYfFw4m3MhqksarXnH9XSQhcOcnU68CGCT"]
        source:
          description: V(agent) (the QEMU guest agent) or V(console) (the serial console log); null when none was read.
          type: str
          sample: agent
        error:
          description: Why no key was read (the domain does not run, or what the agent and the console log said).
          type: str
        agent_error:
          description: Why the guest agent gave no key.
          type: str
          returned: when RV(domains[].host_keys.source=console)
        console_boot:
          description:
            - V(earlier) when the guest booted again after it wrote the block (a kernel banner C(Linux version ...)
              follows it in the log), else V(current). The log is appended to, so a domain created anew with the
              name of an earlier one may show that one's block until the new guest writes its own.
          type: str
          returned: when RV(domains[].host_keys.source=console)
          sample: current
    snapshots:
      description:
        - With O(snapshots=true), the domain's snapshots, oldest first.
      type: list
      elements: dict
      returned: when O(snapshots=true)
      contains:
        name:
          description: Name.
          type: str
        description:
          description: Description, or null.
          type: str
        state:
          description: The domain's state when the snapshot was taken, for example V(running), V(shut off).
          type: str
        memory:
          description: Whether it holds the guest's memory.
          type: bool
        location:
          description: V(internal) (inside the disks) or V(external) (overlay files).
          type: str
        parent:
          description: Name of the snapshot it was taken after, or null.
          type: str
        current:
          description: Whether it is the domain's current snapshot.
          type: bool
        creation_time:
          description: When it was taken, in seconds since the epoch.
          type: int
        created:
          description: When it was taken, ISO 8601 in UTC.
          type: str
          sample: '2026-12-02T10:12:03Z'
    xml:
      description: The persistent XML definition.
      type: str
missing:
  description: Names given in O(name) that do not exist.
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.strata.libvirt.plugins.module_utils._domain.info import CONSTRAINTS, argument_spec, run_info


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True, **CONSTRAINTS)
    run_info(module)


if __name__ == '__main__':
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


DOCUMENTATION = r'''
module: domain_info
short_description: Facts about libvirt domains, their IP addresses and uptime
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

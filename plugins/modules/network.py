#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: network
short_description: Manage libvirt virtual networks declaratively
version_added: 0.1.0
description:
  - Defines, updates, starts, stops and removes a libvirt virtual network.
  - Only the settings you give are compared with the network's persistent definition; what libvirt
    generates (UUID, bridge MAC address, C(stp)/C(delay) defaults, a bridge name you did not choose) never
    counts as a difference, so a second run reports no change.
  - Static DHCP hosts (O(hosts)) and DNS hosts (O(dns_hosts)) are added, changed and deleted with
    C(virNetworkUpdate), on the running network and in its persistent definition at once, without a restart.
  - Any other change redefines the persistent definition. If the network is running, the module then
    returns RV(restart_required=true), or restarts the network when O(restart=true). Restarting a network
    detaches the interfaces of running guests from it until they are re-plugged.
  - The network is marked as created by strata.libvirt (C(<metadata>) in its XML). A network of the same
    name without that mark is refused unless O(adopt=true).
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
      - Name of the network (letters, digits, V(.), V(_) and V(-)).
      - Required, here or in each item of O(items).
    type: str
  state:
    description:
      - V(present) defines or updates the network and leaves it running or stopped as it is (a new network is
        defined stopped).
      - V(running) also starts it; V(stopped) also stops it.
      - V(absent) stops and undefines it; nothing to do when it does not exist.
    type: str
    choices: [present, running, stopped, absent]
    default: present
  autostart:
    description: Start the network when libvirtd starts. Not set leaves it as it is (a new network gets libvirt's default, off).
    type: bool
  forward:
    description:
      - How the network reaches the outside. V(isolated) means no C(<forward>) element.
      - V(bridge) attaches to an existing host bridge named by O(bridge), which does its own addressing.
      - When creating a network without O(forward), V(nat) is used. When updating, not set means not managed.
    type: str
    choices: [nat, route, isolated, bridge, open]
  bridge:
    description:
      - Name of the bridge device (at most 15 characters). For O(forward=bridge) the existing host bridge.
      - Not set lets libvirt choose (C(virbrN)); the chosen name is not a difference.
    type: str
  address:
    description: IPv4 address of the host on this network with the prefix length, for example V(10.240.1.1/24).
    type: str
  dhcp_range:
    description: Range of addresses the DHCP server hands out; both ends must be usable addresses inside O(address)'s subnet.
    type: dict
    suboptions:
      start:
        description: First address.
        type: str
        required: true
      end:
        description: Last address.
        type: str
        required: true
  hosts:
    description:
      - Static DHCP hosts. The list is authoritative when given; V([]) deletes all of them; not set leaves them alone.
      - An entry is identified by its O(hosts[].mac), or by its O(hosts[].name) when it has no MAC.
      - MACs and IPs must be unique; IPs must be inside O(address)'s subnet.
    type: list
    elements: dict
    suboptions:
      name:
        description: Host name handed out with the lease (and resolvable by the network's DNS).
        type: str
      mac:
        description: MAC address of the guest interface.
        type: str
      ip:
        description: IPv4 address to hand out.
        type: str
        required: true
  dns_hosts:
    description:
      - Extra DNS records of the network's DNS server. Authoritative when given, like O(hosts).
    type: list
    elements: dict
    suboptions:
      ip:
        description: IPv4 address.
        type: str
        required: true
      hostnames:
        description: Names that resolve to O(dns_hosts[].ip).
        type: list
        elements: str
        required: true
  domain:
    description: DNS domain of the network; guests resolve C(name.domain).
    type: str
  mtu:
    description: MTU of the bridge.
    type: int
  restart:
    description:
      - Restart a running network when a change needs it, instead of returning RV(restart_required=true).
      - Also applies a change made to the persistent definition by an earlier run that was not restarted.
    type: bool
    default: false
  external:
    description:
      - The network is not this module's and stays so (for example libvirt's V(default) network that a cluster's VMs
        use); only O(state) V(running), V(stopped) or V(present) and O(autostart) are applied, no ownership mark is
        added, and the network must exist.
      - Not together with the network's settings, O(xml), O(cluster), O(adopt), O(restart) or O(state=absent).
    type: bool
    default: false
  xml:
    description:
      - Escape hatch, a complete C(<network>) definition instead of the structured options.
      - It is compared semantically with the persistent definition, as a subset. Every attribute and element
        you give must match, in any order of repeated elements; what only libvirt has is ignored. For a
        repeated element such as C(<host>), the elements you give are the whole list.
      - When it differs, the network is redefined from it (UUID and ownership mark added). In this mode,
        DHCP host changes are not applied live.
      - Parsed with entity resolution off; a DOCTYPE is refused.
    type: str
notes:
  - Measured with libvirt 9.0, network XML keeps C(<metadata>), which holds the ownership mark.
seealso:
  - module: strata.libvirt.pool
  - module: strata.libvirt.volume
'''

EXAMPLES = r'''
- name: NAT network with static leases, started at boot
  strata.libvirt.network:
    name: strata-lab
    state: running
    autostart: true
    forward: nat
    address: 10.240.1.1/24
    dhcp_range:
      start: 10.240.1.100
      end: 10.240.1.199
    domain: lab.internal
    hosts:
      - name: web1
        mac: "52:54:00:f0:01:01"
        ip: 10.240.1.11
      - name: db1
        mac: "52:54:00:f0:01:02"
        ip: 10.240.1.12
    cluster: lab

- name: Add a host later; applied live, no restart
  strata.libvirt.network:
    name: strata-lab
    hosts:
      - {name: web1, mac: "52:54:00:f0:01:01", ip: 10.240.1.11}
      - {name: db1, mac: "52:54:00:f0:01:02", ip: 10.240.1.12}
      - {name: web2, mac: "52:54:00:f0:01:03", ip: 10.240.1.13}

- name: Change the MTU and restart to apply it
  strata.libvirt.network:
    name: strata-lab
    mtu: 9000
    restart: true

- name: Take over libvirt's default network
  strata.libvirt.network:
    name: default
    adopt: true
    autostart: false

- name: Remove it
  strata.libvirt.network:
    name: strata-lab
    state: absent

- name: Two networks of a cluster in one run
  strata.libvirt.network:
    state: running
    autostart: true
    cluster: lab
    items:
      - {name: lab-wan, forward: nat, address: 10.240.1.1/24}
      - {name: lab-lan, forward: isolated}
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
  sample:
    - "redefine network 'strata-lab' (mtu)"
    - "add dhcp host 52:54:00:f0:01:03 (web2, 10.240.1.13) [live+config]"
diff:
  description:
    - The compared settings before and after (also returned without diff mode).
    - With O(items), a list of these, one per item.
  returned: always
  type: raw
  sample: {before: {mtu: 1500, state: running}, after: {mtu: 9000, state: running}}
restart_required:
  description: The running network differs from its persistent definition in a way only a restart applies.
  returned: unless O(items) is given
  type: bool
results:
  description: With O(items), one entry per item, in order, with the keys of a single run and C(item).
  returned: when O(items) is given
  type: list
  elements: dict
network:
  description: The network after the task (in check mode, as it is now).
  returned: unless O(items) is given
  type: dict
  contains:
    name:
      description: Name.
      type: str
    exists:
      description: Whether the network exists.
      type: bool
    uuid:
      description: UUID.
      type: str
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
      description: The strata ownership mark, V(owned) and V(cluster).
      type: dict
    forward:
      description: Forward mode.
      type: str
    bridge:
      description: Bridge device name (as chosen by libvirt when not set).
      type: str
    address:
      description: IPv4 address with prefix.
      type: str
    dhcp_range:
      description: DHCP range, V(start) and V(end).
      type: dict
    hosts:
      description: Static DHCP hosts.
      type: list
      elements: dict
    dns_hosts:
      description: DNS hosts.
      type: list
      elements: dict
    domain:
      description: DNS domain.
      type: str
    mtu:
      description: MTU.
      type: int
    xml:
      description: The persistent XML definition.
      type: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.strata.libvirt.plugins.module_utils import _network
from ansible_collections.strata.libvirt.plugins.module_utils._batch import module_spec
from ansible_collections.strata.libvirt.plugins.module_utils._common import run_items


def main():
    # the constraints between options hold per item: _batch checks each item with them
    module = AnsibleModule(argument_spec=module_spec(_network.argument_spec()), supports_check_mode=True)
    run_items(module, _network.NetworkResource, _network.argument_spec(), _network.CONSTRAINTS, _network.item_label)


if __name__ == '__main__':
    main()

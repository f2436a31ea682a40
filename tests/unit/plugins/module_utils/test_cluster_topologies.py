# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Cluster topologies: several networks (ours, external libvirt network, host bridge, macvtap), NICs per VM with
static addressing by network-config, data disks, firmware, CPU, hostdevs and connection. First every rule, one case a
row (the change to a sound definition and its exact message), then what a sound definition resolves to."""

import copy

import pytest

from ansible_collections.strata.libvirt.plugins.module_utils._cluster import definition
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import plan as planner

KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKpc8QXeQS+7Sa9RPnbtTb86sZDiDouKCQQOJn2NJVXS test'
GIB = 1024 ** 3
IMAGE_MAP = {'default_label': 'lab', 'sizes': {'tiny': {'vcpus': 2, 'memory': '512M', 'disk': '4G'}},
             'images': {'lab': {'source': 'http://127.0.0.1:8088/lab.qcow2', 'checksum': 'none', 'size': 'tiny'}}}

# lan: ours with DHCP hosts; office: a host bridge on the LAN; storage: ours without the hypervisor's address;
# wan: a macvtap on eno1; default: an existing libvirt network that the cluster starts
CLUSTER = {
    'name': 'topo', 'virt_type': 'kvm', 'ssh_public_keys': [KEY],
    'networks': [
        {'name': 'lan', 'cidr': '10.250.0.0/24', 'domain': 't.test',
         'dhcp_range': {'start': '10.250.0.100', 'end': '10.250.0.199'}},
        {'name': 'office', 'external': True, 'bridge': 'br0', 'cidr': '192.168.1.0/24', 'gateway': '192.168.1.1',
         'dns': ['192.168.1.53'], 'search': ['office.test']},
        {'name': 'storage', 'cidr': '10.99.0.0/24', 'mode': 'isolated', 'host_address': False},
        {'name': 'wan', 'direct': 'eno1', 'mode': 'vepa', 'cidr': '172.16.0.0/24', 'gateway': '172.16.0.1'},
        {'name': 'default', 'external': True, 'ensure_active': True},
    ],
    'vms': [
        {'name': 'a', 'nics': [{'network': 'lan', 'ip': '10.250.0.10'}, {'network': 'storage', 'ip': '10.99.0.10'}]},
        {'name': 'b', 'nics': [{'network': 'office', 'ip': '192.168.1.20',
                                'routes': [{'to': '10.0.0.0/8', 'via': '192.168.1.254', 'metric': 50}]},
                               {'network': 'storage', 'ip': '10.99.0.11'}]},
        {'name': 'c', 'nics': [{'network': 'office', 'ip': '192.168.1.21'},
                               {'network': 'wan', 'ip': '172.16.0.21', 'primary': True}]},
        {'name': 'd', 'nics': [{'network': 'default', 'dhcp': True}, {'network': 'lan', 'ip': '10.250.0.13', 'model': 'e1000e'}]},
    ],
}

# the single network of ours of the `network:` shorthand, as clusters had it before `networks`
SHORTHAND = {
    'name': 'old', 'virt_type': 'qemu', 'ssh_public_keys': [KEY],
    'network': {'cidr': '10.250.0.0/24', 'dhcp_range': {'start': '10.250.0.100', 'end': '10.250.0.199'}},
    'vms': [{'name': 'a', 'ip': '10.250.0.10'}, {'name': 'b', 'ip': '10.250.0.11', 'mac': '52:54:00:AA:BB:CC'}],
}


def resolved(definition_, options=None):
    """The plan of a sound definition."""
    plan = planner.build(definition_, IMAGE_MAP, options)
    assert plan['problems'] == [], plan['problems']
    return plan


def top(**changes):
    out = copy.deepcopy(CLUSTER)
    out.update(changes)
    return out


def net(index, **changes):
    out = copy.deepcopy(CLUSTER)
    out['networks'][index].update(changes)
    return out


def with_net(network, *vms):
    out = copy.deepcopy(CLUSTER)
    out['networks'].append(network)
    out['vms'].extend(vms)
    return out


def vm(index, **changes):
    out = copy.deepcopy(CLUSTER)
    out['vms'][index].update(changes)
    return out


def nic(vm_index, nic_index, **changes):
    out = copy.deepcopy(CLUSTER)
    out['vms'][vm_index]['nics'][nic_index].update(changes)
    return out


def nics(vm_index, *values):
    return vm(vm_index, nics=list(values))


def with_macs(first, second):
    """The first NIC of VM a and the second of VM b with these MACs."""
    out = copy.deepcopy(CLUSTER)
    out['vms'][0]['nics'][0]['mac'] = first
    out['vms'][1]['nics'][1]['mac'] = second
    return out


def by_name(items, key='name'):
    return dict((item[key], item) for item in items)


OURS_KEYS = 'name, external, cidr, mode, domain, gateway, dhcp_range, bridge, autostart, mtu, host_address, dns, search'
EXTERNAL_KEYS = 'name, external, bridge, direct, mode, ensure_active, cidr, gateway, dns, search'
NIC_KEYS = 'network, ip, mac, model, primary, dhcp, gateway, dns, search, routes'
NOT_OURS_MODE = 'only for a network of ours (nat, route, isolated, open) or a macvtap (direct)'

CASES = [
    # the networks
    ('network and networks', top(network={'cidr': '10.1.0.0/24'}),
     'network, networks: give one of them (network is the shorthand for a single network of ours)'),
    ('networks not a list', top(networks={'name': 'lan', 'cidr': '10.250.0.0/24'}),
     'networks: a list of networks, each a dict with a name (for example [{name: lab-lan, cidr: 10.250.0.0/24}])'),
    ('networks empty', top(networks=[]),
     'networks: a list of networks, each a dict with a name (for example [{name: lab-lan, cidr: 10.250.0.0/24}])'),
    ('network not a dict', top(networks=['lan']), "networks[0]: must be a dict, got 'lan'"),
    ('network without name', net(0, name=None), 'networks[0].name: required (the NICs name their network by it)'),
    ('network name twice', net(2, name='lan'), "networks: the name 'lan' is given twice (networks[0] and networks[2])"),
    ('subnets overlap', net(2, cidr='10.250.0.0/16'), "networks: 'storage' (10.250.0.0/16) overlaps 'lan' (10.250.0.0/24)"),
    ('bridge twice', with_net({'name': 'office2', 'external': True, 'bridge': 'br0'}),
     "networks: 'office' and 'office2' are both bridge br0"),
    ('direct twice', with_net({'name': 'wan2', 'direct': 'eno1'}), "networks: 'wan' and 'wan2' are both direct eno1"),
    ('unknown key of ours', net(0, vlan=5), "networks[0] 'lan': unknown key(s) vlan (known: %s)" % OURS_KEYS),
    ('unknown key external', net(1, vlan=5), "networks[1] 'office': unknown key(s) vlan (known: %s)" % EXTERNAL_KEYS),
    ('bridge with mode', net(1, mode='nat'), "networks[1] 'office'.mode: %s" % NOT_OURS_MODE),
    ('libvirt network with mode', net(4, mode='nat'), "networks[4] 'default'.mode: %s" % NOT_OURS_MODE),
    ('ensure_active on a bridge', net(1, ensure_active=True),
     "networks[1] 'office'.ensure_active: only for an existing libvirt network (external: true without bridge or direct)"),
    ('direct bad mode', net(3, mode='wild'), "networks[3] 'wan'.mode: 'wild'; a macvtap takes one of bridge, vepa, private, passthrough"),
    ('host_address false nat', net(2, mode='nat'),
     "networks[2] 'storage'.host_address: false needs mode isolated (mode nat routes through the hypervisor's address)"),
    ('host_address false dhcp_range', net(2, dhcp_range={'start': '10.99.0.100', 'end': '10.99.0.199'}),
     "networks[2] 'storage'.dhcp_range: needs the hypervisor's address on the network (host_address: false)"),
    ('external gateway outside', net(1, gateway='10.0.0.1'), "networks[1] 'office'.gateway: 10.0.0.1 is outside 192.168.1.0/24"),
    # the NICs
    ('unknown network', nic(0, 1, network='nowhere'),
     "vms[0] 'a': nics[1]: network 'nowhere' is not one of the cluster's networks (lan, office, storage, wan, default)"),
    ('nics beside ip', vm(0, ip='10.250.0.10'), "vms[0] 'a': give ip on its NIC in nics, not beside nics"),
    ('nics beside mac', vm(0, mac='52:54:00:00:00:01'), "vms[0] 'a': give mac on its NIC in nics, not beside nics"),
    ('nics empty', vm(0, nics=[]), "vms[0] 'a': nics must be a list of NICs, each a dict with network (and ip)"),
    ('two primary', nics(0, {'network': 'lan', 'ip': '10.250.0.10', 'primary': True},
                         {'network': 'storage', 'ip': '10.99.0.10', 'primary': True}),
     "vms[0] 'a': nics 0, 1 are all primary: mark one NIC primary"),
    ('primary without ip', nics(1, {'network': 'office', 'ip': '192.168.1.20'}, {'network': 'office', 'dhcp': True, 'primary': True}),
     "vms[1] 'b': nics[1] is primary but has no ip (the address of ansible_host and of the probes)"),
    ('no ip on ours', nic(0, 1, ip=None), "vms[0] 'a': nics[1]: ip is required (its static address, inside networks[2] 'storage'.cidr)"),
    ('ip outside cidr', nic(0, 1, ip='10.98.0.5'),
     "vms[0] 'a': nics[1]: ip 10.98.0.5 is outside the usable addresses of networks[2] 'storage'.cidr 10.99.0.0/24"),
    ('ip twice on one network', nic(1, 1, ip='10.99.0.10'),
     "vms: ip 10.99.0.10 on network 'storage' is given twice (vms[0] 'a': nics[1] and vms[1] 'b': nics[1])"),
    ('ip in our dhcp range', nic(0, 0, ip='10.250.0.150'),
     "vms[0] 'a': nics[0]: ip 10.250.0.150 is inside the DHCP range 10.250.0.100 - 10.250.0.199; a static address must be outside it"),
    ('ip is our gateway', nic(0, 0, ip='10.250.0.1'), "vms[0] 'a': nics[0]: ip 10.250.0.1 is the network's gateway (the hypervisor's address)"),
    ('static ip without cidr', nic(3, 0, dhcp=None, ip='192.168.122.5'),
     "vms[3] 'd': nics[0]: a static ip on network 'default' needs the network's cidr (the LAN's subnet, for the prefix), or dhcp: true"),
    ('dhcp on ours', nic(0, 0, ip=None, dhcp=True),
     "vms[0] 'a': nics[0].dhcp: network 'lan' is ours: its NICs get their ip as a static DHCP host; give ip"),
    ('dhcp on ours without host address', nic(0, 1, ip=None, dhcp=True),
     "vms[0] 'a': nics[1].dhcp: network 'storage' has no DHCP (host_address: false); give ip"),
    ('dhcp with ip', nic(1, 0, dhcp=True), "vms[1] 'b': nics[0]: give ip or dhcp: true, not both"),
    ('dhcp with gateway', nic(3, 0, gateway='192.168.122.1'), "vms[3] 'd': nics[0].gateway: the LAN's DHCP gives it (dhcp: true)"),
    ('gateway outside', nic(1, 0, gateway='10.0.0.1'), "vms[1] 'b': nics[0].gateway: 10.0.0.1 is outside network 'office' (192.168.1.0/24)"),
    ('gateway is own ip', nic(1, 0, gateway='192.168.1.20'), "vms[1] 'b': nics[0].gateway: 192.168.1.20 is the NIC's own address"),
    ('route via outside', nic(1, 0, routes=[{'to': '10.0.0.0/8', 'via': '10.1.1.1'}]),
     "vms[1] 'b': nics[0].routes[0].via: 10.1.1.1 is outside network 'office' (192.168.1.0/24)"),
    ('route to not a cidr', nic(1, 0, routes=[{'to': 'far', 'via': '192.168.1.2'}]),
     "vms[1] 'b': nics[0].routes[0].to: 'far' is not an IPv4 subnet (or default)"),
    ('route without via', nic(1, 0, routes=[{'to': '10.0.0.0/8'}]),
     "vms[1] 'b': nics[0].routes[0]: a dict with to (a CIDR or default) and via (an address), got {'to': '10.0.0.0/8'}"),
    ('routes not a list', nic(1, 0, routes='10.0.0.0/8'), "vms[1] 'b': nics[0].routes: a list of routes, each {to: CIDR, via: ADDRESS}"),
    ('unknown nic key', nic(0, 0, vlan=3), "vms[0] 'a': nics[0]: unknown key(s) vlan (known: %s)" % NIC_KEYS),
    ('bad mac', nic(0, 0, mac='zz'), "vms[0] 'a': nics[0]: mac 'zz' is not a MAC address such as 52:54:00:12:34:56"),
    ('mac twice across nics', with_macs('52:54:00:0a:00:01', '52:54:00:0A:00:01'),
     "vms: mac 52:54:00:0a:00:01 is used twice (vms[0] 'a': nics[0] and vms[1] 'b': nics[1])"),
    ('only dhcp nics over ssh', nics(3, {'network': 'default', 'dhcp': True}),
     "vms[3] 'd': no NIC has an ip: the VM needs a known address for ansible_host and its probes "
     "(or connection: libvirt_qemu with an agent probe)"),
    # hostdevs, firmware, cpu, connection
    ('hostdev on the cluster', top(hostdevs=['0000:03:00.0']), 'hostdevs: a PCI device goes to one VM: give hostdevs on the VM'),
    ('bad hostdev', vm(0, hostdevs=['x']), "vms[0] 'a': hostdevs[0]: 'x' is not a PCI address such as '0000:03:00.0'"),
    ('hostdev twice in a VM', vm(0, hostdevs=['0000:03:00.0', '03:00.0']), "vms[0] 'a': hostdevs[1]: 0000:03:00.0 is given twice"),
    ('hostdev on two VMs', top(vms=[dict(CLUSTER['vms'][0], hostdevs=['0000:03:00.0']), dict(CLUSTER['vms'][1], hostdevs=['03:00.0'])]),
     "vms: hostdev 0000:03:00.0 is used twice (vms[0] 'a' and vms[1] 'b'): a PCI device goes to one VM only"),
    ('firmware', top(firmware='coreboot'), "firmware: 'coreboot'; use one of bios, uefi"),
    ('vm firmware', vm(0, firmware='coreboot'), "vms[0] 'a': firmware: 'coreboot'; use one of bios, uefi"),
    ('cpu not a dict', top(cpu='fast'), "cpu: a dict (mode, model, sockets, cores, threads), got 'fast'"),
    ('vm cpu not a dict', vm(0, cpu=['fast']), "vms[0] 'a': cpu: a dict (mode, model, sockets, cores, threads), got ['fast']"),
    ('cpu mode', vm(0, cpu={'mode': 'turbo'}), "vms[0] 'a': cpu.mode: 'turbo'; use one of host-passthrough, host-model, custom, maximum"),
    ('cpu sockets 0', vm(0, cpu={'sockets': 0}), "vms[0] 'a': cpu.sockets: 0 must be at least 1"),
    ('cpu key', top(cpu={'speed': 3}), 'cpu: unknown key(s) speed (known: mode, model, sockets, cores, threads)'),
    ('connection', top(connection='telnet'), "connection: 'telnet'; use one of ssh, libvirt_qemu"),
    ('vm connection', vm(0, connection='winrm'), "vms[0] 'a': connection: 'winrm'; use one of ssh, libvirt_qemu"),
    # data disks
    ('disks not a list', vm(0, disks={'size': '1G'}), "vms[0] 'a': disks must be a list of data disks, each a dict with size"),
    ('disk without size', vm(0, disks=[{'bus': 'sata'}]), "vms[0] 'a': disks[0]: a dict with size (such as 10G), got {'bus': 'sata'}"),
    ('bad disk size', vm(0, disks=[{'size': 'lots'}]),
     "vms[0] 'a': disks[0].size: invalid size 'lots'; use bytes or a number with a unit such as 512M, 35G, 1T "
     "(K/M/G/T are powers of 1024, KB/MB/GB/TB of 1000)"),
    ('disk size 0', vm(0, disks=[{'size': 0}]), "vms[0] 'a': disks[0].size: size 0 must be greater than 0"),
    ('disk format', vm(0, disks=[{'size': '1G', 'format': 'vmdk'}]), "vms[0] 'a': disks[0].format: 'vmdk'; use one of qcow2, raw"),
    ('disk bus', vm(0, disks=[{'size': '1G', 'bus': 'usb'}]), "vms[0] 'a': disks[0].bus: 'usb'; use one of virtio, sata, scsi, ide"),
    ('disk key', vm(0, disks=[{'size': '1G', 'cache': 'none'}]), "vms[0] 'a': disks[0]: unknown key(s) cache (known: size, bus, format, pool)"),
    ('disk pool', vm(0, disks=[{'size': '1G', 'pool': 'a b'}]), "vms[0] 'a': disks[0].pool: invalid pool name 'a b'"),
    ('ide on q35', vm(0, disks=[{'size': '1G', 'bus': 'ide'}]),
     "vms[0] 'a': disks[0].bus: ide; machine type q35 has no IDE controller (use virtio, sata or scsi)"),
    ('secure boot of a bios vm', vm(0, secure_boot=True), "vms[0] 'a': secure_boot: needs firmware uefi (the VM has firmware bios)"),
    ('secure boot without uefi vms', top(secure_boot=True), 'secure_boot: needs firmware uefi (no VM has it)'),
]


def test_the_topology_is_sound():
    plan = planner.build(CLUSTER, IMAGE_MAP)
    assert plan['problems'] == [] and plan['params_problems'] == [], plan['problems']


@pytest.mark.parametrize('bad, expected', [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_rule_is_one_exact_line(bad, expected):
    found = planner.problems(bad, IMAGE_MAP)
    assert expected in found, (expected, found)
    assert all(text and '\n' not in text for text in found), found


def test_the_same_ip_on_two_networks_is_not_given_twice():
    # the rule is per network: only the subnets' overlap is reported, not the address
    bad = net(2, cidr='10.250.0.0/16')
    bad['vms'][0]['nics'][1]['ip'] = '10.250.0.10'
    found = planner.problems(bad, IMAGE_MAP)
    assert "networks: 'storage' (10.250.0.0/16) overlaps 'lan' (10.250.0.0/24)" in found, found
    assert not [text for text in found if 'given twice' in text], found


def test_the_domain_modules_own_check_of_the_cpu_topology():
    plan = planner.build(vm(0, cpu={'sockets': 3}), IMAGE_MAP)
    expected = 'module domain, items[0]: Option cpu: sockets 3 x cores 1 x threads 1 = 3 is not vcpus (2)'
    assert plan['params_problems'] == [expected] and plan['problems'] == [expected]
    assert resolved(vm(0, cpu={'sockets': 1, 'cores': 2}))['params']['domains']['items'][0]['cpu'] == {
        'mode': 'host-passthrough', 'sockets': 1, 'cores': 2}


def test_the_shorthand_gives_the_old_plan():
    plan = resolved(SHORTHAND)
    assert [n['name'] for n in plan['networks']] == ['old-net'] and plan['network'] == plan['networks'][0]
    assert plan['network']['kind'] == 'ours' and plan['network']['address'] == '10.250.0.1/24'
    a, b = plan['vms']
    assert a['mac'] == definition.derive_mac('old', 'a') and b['mac'] == '52:54:00:aa:bb:cc'
    assert [nic['mode'] for nic in a['nics'] + b['nics']] == ['dhcp-host', 'dhcp-host']
    assert a['network_config'] is None and b['network_config'] is None
    assert plan['network_hosts'] == [{'name': 'a', 'mac': a['mac'], 'ip': '10.250.0.10'},
                                     {'name': 'b', 'mac': '52:54:00:aa:bb:cc', 'ip': '10.250.0.11'}]
    params = plan['params']
    assert params['networks']['items'] == [{
        'name': 'old-net', 'autostart': True, 'forward': 'nat', 'address': '10.250.0.1/24',
        'dhcp_range': {'start': '10.250.0.100', 'end': '10.250.0.199'}, 'hosts': plan['network_hosts']}]
    assert params['external_networks'] == [] and params['cluster_info']['networks'] == ['old-net']
    assert [item['interfaces'] for item in params['domains']['items']] == [
        [{'network': 'old-net', 'mac': a['mac']}], [{'network': 'old-net', 'mac': '52:54:00:aa:bb:cc'}]]
    assert all('network_config' not in item for item in params['seeds']['items'])
    assert [entry['address'] for entry in plan['startup_vms']] == ['10.250.0.10', '10.250.0.11']


def test_a_second_nic_has_a_stable_mac_of_its_own():
    first = resolved(CLUSTER)['vms'][0]
    again = resolved(CLUSTER)['vms'][0]
    macs = [nic['mac'] for nic in first['nics']]
    assert macs == [nic['mac'] for nic in again['nics']]
    assert macs[0] == first['mac'] == definition.derive_mac('topo', 'a')
    assert macs[1] != macs[0] and macs[1].startswith('52:54:00:')
    # the single-NIC MAC of a VM is the first NIC's, whatever NICs follow
    single = resolved(nics(0, {'network': 'lan', 'ip': '10.250.0.10'}))['vms'][0]
    assert single['mac'] == macs[0] and single['network_config'] is None


def test_network_config_of_each_vm():
    vms = by_name(resolved(CLUSTER)['vms'])
    a, b, c, d = (vms[name] for name in 'abcd')
    assert a['network_config'] == {'version': 2, 'ethernets': {
        'nic0': {'match': {'macaddress': a['nics'][0]['mac']}, 'dhcp4': True},
        'nic1': {'match': {'macaddress': a['nics'][1]['mac']}, 'dhcp4': False, 'addresses': ['10.99.0.10/24']}}}
    assert b['network_config'] == {'version': 2, 'ethernets': {
        'nic0': {'match': {'macaddress': b['nics'][0]['mac']}, 'dhcp4': False, 'addresses': ['192.168.1.20/24'],
                 'routes': [{'to': '0.0.0.0/0', 'via': '192.168.1.1'}, {'to': '10.0.0.0/8', 'via': '192.168.1.254', 'metric': 50}],
                 'nameservers': {'addresses': ['192.168.1.53'], 'search': ['office.test']}},
        'nic1': {'match': {'macaddress': b['nics'][1]['mac']}, 'dhcp4': False, 'addresses': ['10.99.0.11/24']}}}
    # c's primary is its second NIC: the default route goes there only; the LAN's DNS stays on the first
    assert c['network_config'] == {'version': 2, 'ethernets': {
        'nic0': {'match': {'macaddress': c['nics'][0]['mac']}, 'dhcp4': False, 'addresses': ['192.168.1.21/24'],
                 'nameservers': {'addresses': ['192.168.1.53'], 'search': ['office.test']}},
        'nic1': {'match': {'macaddress': c['nics'][1]['mac']}, 'dhcp4': False, 'addresses': ['172.16.0.21/24'],
                 'routes': [{'to': '0.0.0.0/0', 'via': '172.16.0.1'}]}}}
    assert d['network_config'] == {'version': 2, 'ethernets': {
        'nic0': {'match': {'macaddress': d['nics'][0]['mac']}, 'dhcp4': True},
        'nic1': {'match': {'macaddress': d['nics'][1]['mac']}, 'dhcp4': True}}}
    assert [[nic['mode'] for nic in vm_['nics']] for vm_ in (a, b, c, d)] == [
        ['dhcp-host', 'static'], ['static', 'static'], ['static', 'static'], ['dhcp', 'dhcp-host']]
    seeds = by_name(resolved(CLUSTER)['params']['seeds']['items'], 'hostname')
    assert seeds['b']['network_config'] == b['network_config']


def test_the_primary_nic_gives_the_address():
    plan = resolved(CLUSTER)
    vms = by_name(plan['vms'])
    startup = by_name(plan['startup_vms'])
    # c: primary: true on the second NIC; d: the first NIC with an ip (its first NIC is the LAN's DHCP)
    assert (vms['c']['ip'], startup['topo-c']['address']) == ('172.16.0.21', '172.16.0.21')
    assert (vms['d']['ip'], startup['topo-d']['address']) == ('10.250.0.13', '10.250.0.13')
    assert vms['d']['fqdn'] == 'd.t.test' and vms['c']['fqdn'] is None
    # without primary, the first NIC's ip
    plain = resolved(nic(2, 1, primary=None))
    assert by_name(plain['vms'])['c']['ip'] == '192.168.1.21'
    assert by_name(plain['vms'])['c']['network_config']['ethernets']['nic0']['routes'] == [{'to': '0.0.0.0/0', 'via': '192.168.1.1'}]


def test_dhcp_on_an_external_network():
    d = by_name(resolved(CLUSTER)['vms'])['d']
    assert d['nics'][0]['mode'] == 'dhcp' and d['nics'][0]['ip'] is None
    # only the LAN's DHCP: the agent finds the address (no ssh connection needs it in advance)
    only = resolved(vm(3, connection='libvirt_qemu', nics=[{'network': 'default', 'dhcp': True}]))
    d = by_name(only['vms'])['d']
    assert d['ip'] is None and d['connection'] == 'libvirt_qemu'
    assert by_name(only['startup_vms'])['topo-d']['address'] is None
    assert d['network_config'] == {'version': 2, 'ethernets': {'nic0': {'match': {'macaddress': d['mac']}, 'dhcp4': True}}}


def test_machine_settings_of_the_vm_over_the_clusters():
    plan = resolved(top(firmware='uefi', cpu={'mode': 'host-model'}, connection='libvirt_qemu', vms=[
        dict(CLUSTER['vms'][0], firmware='bios', cpu={'mode': 'maximum'}, connection='ssh', hostdevs=['03:00.0']),
        CLUSTER['vms'][1]]))
    a, b = plan['vms']
    assert (a['firmware'], a['cpu'], a['connection'], a['hostdevs']) == ('bios', {'mode': 'maximum'}, 'ssh', ['0000:03:00.0'])
    assert (b['firmware'], b['cpu'], b['connection'], b['hostdevs']) == ('uefi', {'mode': 'host-model'}, 'libvirt_qemu', [])
    items = plan['params']['domains']['items']
    assert 'firmware' not in items[0] and items[1]['firmware'] == 'uefi'
    assert items[0]['cpu'] == {'mode': 'maximum'} and items[1]['cpu'] == {'mode': 'host-model'}
    assert items[0]['hostdevs'] == ['0000:03:00.0'] and 'hostdevs' not in items[1]
    defaults = resolved(CLUSTER)['vms'][0]
    assert (defaults['firmware'], defaults['cpu'], defaults['connection'], defaults['hostdevs']) == ('bios', None, 'ssh', [])


def test_the_default_cpu_follows_the_virtualisation_type():
    kvm = resolved(CLUSTER)['params']['domains']['items']
    assert all(item['cpu'] == {'mode': 'host-passthrough'} for item in kvm)
    qemu = resolved(top(virt_type='qemu'))['params']['domains']['items']
    assert all('cpu' not in item for item in qemu)
    # an explicit cpu wins under either
    custom = {'mode': 'custom', 'model': 'Haswell'}
    for virt_type in ('kvm', 'qemu'):
        items = resolved(top(virt_type=virt_type, cpu=custom))['params']['domains']['items']
        assert all(item['cpu'] == custom for item in items), virt_type
    assert resolved(top(virt_type='qemu', cpu={'model': 'max'}))['params']['domains']['items'][0]['cpu'] == {'model': 'max'}
    # an open type is decided later: the host's choice sets the default then
    auto = resolved(top(virt_type='auto'))
    assert planner.set_virt_type(auto, 'kvm')['params']['domains']['items'][0]['cpu'] == {'mode': 'host-passthrough'}
    assert 'cpu' not in planner.set_virt_type(auto, 'qemu')['params']['domains']['items'][0]


def test_data_disks_are_volumes_and_domain_disks():
    plan = resolved(vm(0, disks=[{'size': '10G'}, {'size': '1G', 'format': 'raw', 'bus': 'scsi', 'pool': 'fast'}]))
    a = plan['vms'][0]
    assert a['data_disks'] == [
        {'volume': 'topo-a-data1.qcow2', 'pool': 'topo', 'capacity': 10 * GIB, 'format': 'qcow2', 'bus': 'virtio'},
        {'volume': 'topo-a-data2.img', 'pool': 'fast', 'capacity': GIB, 'format': 'raw', 'bus': 'scsi'}]
    params = plan['params']
    assert params['volumes']['items'][-2:] == [
        {'name': 'topo-a-data1.qcow2', 'pool': 'topo', 'capacity': str(10 * GIB), 'format': 'qcow2'},
        {'name': 'topo-a-data2.img', 'pool': 'fast', 'capacity': str(GIB), 'format': 'raw'}]
    assert params['domains']['items'][0]['disks'] == [
        {'volume': 'topo/topo-a.qcow2'},
        {'volume': 'topo/topo-a-seed.iso', 'bus': 'virtio', 'format': 'raw', 'readonly': True},
        {'volume': 'topo/topo-a-data1.qcow2', 'bus': 'virtio', 'format': 'qcow2'},
        {'volume': 'fast/topo-a-data2.img', 'bus': 'scsi', 'format': 'raw'}]
    assert len(params['domains']['items'][1]['disks']) == 2
    # cluster_info looks up the volumes of the cluster's pool; the disks count in the plan's total
    assert 'topo-a-data1.qcow2' in params['cluster_info']['volumes'] and 'topo-a-data2.img' not in params['cluster_info']['volumes']
    assert plan['disk_bytes'] == 4 * 4 * GIB + 11 * GIB


def test_the_domains_interfaces():
    items = by_name(resolved(CLUSTER)['params']['domains']['items'])
    vms = by_name(resolved(CLUSTER)['vms'])
    macs = dict((name, [nic['mac'] for nic in vms[name]['nics']]) for name in 'abcd')
    assert items['topo-a']['interfaces'] == [{'mac': macs['a'][0], 'network': 'lan'}, {'mac': macs['a'][1], 'network': 'storage'}]
    assert items['topo-b']['interfaces'] == [{'mac': macs['b'][0], 'bridge': 'br0'}, {'mac': macs['b'][1], 'network': 'storage'}]
    assert items['topo-c']['interfaces'] == [{'mac': macs['c'][0], 'bridge': 'br0'},
                                             {'mac': macs['c'][1], 'direct': 'eno1', 'mode': 'vepa'}]
    assert items['topo-d']['interfaces'] == [{'mac': macs['d'][0], 'network': 'default'},
                                             {'mac': macs['d'][1], 'network': 'lan', 'model': 'e1000e'}]
    # a macvtap without mode is in bridge mode
    plain = resolved(net(3, mode=None))
    assert by_name(plain['params']['domains']['items'])['topo-c']['interfaces'][1]['mode'] == 'bridge'


def test_only_networks_of_ours_are_made_and_looked_up():
    plan = resolved(CLUSTER)
    params = plan['params']
    vms = by_name(plan['vms'])
    assert params['networks']['items'] == [
        {'name': 'lan', 'autostart': True, 'forward': 'nat', 'domain': 't.test', 'address': '10.250.0.1/24',
         'dhcp_range': {'start': '10.250.0.100', 'end': '10.250.0.199'},
         'hosts': [{'name': 'a', 'mac': vms['a']['nics'][0]['mac'], 'ip': '10.250.0.10'},
                   {'name': 'd', 'mac': vms['d']['nics'][1]['mac'], 'ip': '10.250.0.13'}]},
        {'name': 'storage', 'autostart': True, 'forward': 'isolated'}]
    assert params['external_networks'] == [{'name': 'default', 'state': 'running', 'autostart': True, 'external': True}]
    assert params['cluster_info']['networks'] == ['lan', 'storage']
    # the DHCP hosts: NICs on a network of ours with the hypervisor's address, nothing else
    assert plan['network_hosts'] == params['networks']['items'][0]['hosts']
    assert [n['hosts'] for n in plan['networks'][1:]] == [[], [], [], []]
    # a libvirt network not to be started is only used
    assert resolved(net(4, ensure_active=False))['params']['external_networks'] == []
    assert [n['kind'] for n in plan['networks']] == ['ours', 'bridge', 'ours', 'direct', 'network']
    assert plan['network']['name'] == 'lan'


def test_without_networks_of_ours_the_network_module_has_nothing_to_do():
    external = top(networks=[CLUSTER['networks'][1]], vms=[{'name': 'b', 'nics': [{'network': 'office', 'ip': '192.168.1.20'}]}])
    plan = resolved(external)
    assert plan['params']['networks'] is None and plan['network_hosts'] == []
    assert 'networks' not in plan['params']['cluster_info'] and plan['params']['external_networks'] == []
    b = plan['vms'][0]
    assert b['ip'] == '192.168.1.20' and b['network_config']['ethernets']['nic0']['addresses'] == ['192.168.1.20/24']


def test_a_topology_alone_keeps_the_default_model():
    # under kvm the topology joins host-passthrough; under qemu it names QEMU's default model (not host-model)
    kvm = resolved(top(cpu={'sockets': 1, 'cores': 2}))['params']['domains']['items'][0]['cpu']
    assert kvm == {'mode': 'host-passthrough', 'sockets': 1, 'cores': 2}
    qemu = resolved(top(virt_type='qemu', cpu={'cores': 2}))['params']['domains']['items'][0]['cpu']
    assert qemu == {'mode': 'custom', 'model': 'qemu64', 'cores': 2}


def test_a_vm_reached_through_its_agent_is_probed_by_its_agent():
    plan = resolved(vm(1, connection='libvirt_qemu'))
    probes = dict((entry['name'], entry['probes']) for entry in plan['startup_vms'])
    assert probes['topo-b'] == [{'type': 'agent'}] and probes['topo-a'][0]['type'] == 'ssh'
    # probes of its own, or the cluster's default_probes, still win
    plan = resolved(top(connection='libvirt_qemu', default_probes=[{'type': 'tcp', 'port': 22}]))
    assert all(entry['probes'] == [{'type': 'tcp', 'port': 22}] for entry in plan['startup_vms'])


@pytest.mark.parametrize('text', ['False', 'off', 'no', False])
def test_external_false_as_ansible_reads_it(text):
    plan = resolved(net(0, external=text))
    assert plan['networks'][0]['kind'] == 'ours'


def test_the_router_of_a_plain_segment_is_the_default_route_of_the_vms_behind_it():
    # storage (host_address: false) names its router: the primary NIC of a VM there routes through it; the router's
    # own NIC does not, and a VM whose primary NIC is elsewhere keeps its one default route there
    definition = net(2, gateway='10.99.0.10')
    definition['vms'].append({'name': 'e', 'nics': [{'network': 'storage', 'ip': '10.99.0.12'}]})
    vms = by_name(resolved(definition)['vms'])
    assert vms['e']['network_config']['ethernets']['nic0']['routes'] == [{'to': '0.0.0.0/0', 'via': '10.99.0.10'}]
    assert 'routes' not in vms['a']['network_config']['ethernets']['nic1']      # a: the router, primary on lan
    assert 'routes' not in vms['b']['network_config']['ethernets']['nic1']      # b: primary on office
    assert resolved(top(secure_boot=True, firmware='uefi'))['vms'][0]['secure_boot'] is True

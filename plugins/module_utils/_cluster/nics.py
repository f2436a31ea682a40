# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A VM's NICs (`nics:`, or the `ip:`/`mac:` shorthand for one NIC on the first network), their addressing, and the
cloud-init network-config that follows from it.

How a NIC gets its address:

- `dhcp-host`: on a network of ours with the hypervisor's address, a static DHCP host (the address is reserved in
  libvirt's dnsmasq);
- `static`: on a network without our DHCP (external, or ours with `host_address: false`), or when the NIC gives its
  own `gateway`, `routes` or `dns`: the address, prefix, gateway, routes and DNS servers in the seed's network-config
  (version 2, each NIC matched by its MAC);
- `dhcp`: `dhcp: true`, the LAN's own DHCP serves it (the address is then not known in advance).

A VM with one NIC addressed by a DHCP host has no network-config (cloud-init's fallback asks DHCP, as before).

Private to strata.libvirt; no compatibility promise.
"""

import ipaddress

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.strata.libvirt.plugins.module_utils import _validate
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import definition as d
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import networks as _networks

ROUTE_KEYS = ('to', 'via', 'metric')
DEFAULT_ROUTE = '0.0.0.0/0'


def nic_mac(cluster_name, vm_name, index):
    """The derived MAC of a VM's NIC: the first NIC's is the one a single-NIC VM always had."""
    return d.derive_mac(cluster_name, vm_name if index == 0 else '%s#%d' % (vm_name, index))


def resolve(scope, raw, vm_name, where, connection):
    """The VM's NICs, resolved, and the index of its primary one (None without an address)."""
    problems, nets = scope.problems, scope.nets
    if raw.get('nics') is not None:
        for key in ('ip', 'mac'):
            if raw.get(key) is not None:
                problems.add('%s: give %s on its NIC in nics, not beside nics' % (where, key))
        raw_nics = raw['nics']
        if not isinstance(raw_nics, list) or not raw_nics:
            problems.add('%s: nics must be a list of NICs, each a dict with network (and ip)' % where)
            return [], None
    else:
        raw_nics = [dict((k, raw[k]) for k in ('ip', 'mac') if raw.get(k) is not None)]
        if not nets:
            return [], None
        raw_nics[0]['network'] = nets[0]['name']
    by_name = dict((net['name'], net) for net in nets)
    out = []
    for index, raw_nic in enumerate(raw_nics):
        nic_where = '%s: nics[%d]' % (where, index) if raw.get('nics') is not None else where
        if not isinstance(raw_nic, dict):
            problems.add('%s: must be a dict with network and ip, got %r' % (nic_where, raw_nic))
            continue
        if raw.get('nics') is not None:
            d.unknown_keys(problems, raw_nic, d.NIC_KEYS, nic_where)
        net_name = to_text(raw_nic.get('network') or (nets[0]['name'] if nets else ''))
        net = by_name.get(net_name)
        if net is None:
            problems.add("%s: network '%s' is not one of the cluster's networks (%s)"
                         % (nic_where, net_name, ', '.join(by_name) or 'none'))
            continue
        nic = _nic(scope, raw_nic, net, vm_name, index, nic_where, connection)
        if nic is not None:
            out.append(nic)
    primary = _primary(problems, out, raw_nics, where, connection)
    for index, nic in enumerate(out):
        # the LAN's gateway is the default route of the primary NIC only (one default route); others name their own
        if nic.pop('gateway_inherited') and index != primary:
            nic['gateway'] = None
    return out, primary


def _primary(problems, nics, raw_nics, where, connection):
    marked = [i for i, nic in enumerate(nics) if nic['primary']]
    if len(marked) > 1:
        problems.add('%s: nics %s are all primary: mark one NIC primary' % (where, ', '.join(str(i) for i in marked)))
        return marked[0]
    if marked:
        if nics[marked[0]]['ip'] is None:
            problems.add('%s: nics[%d] is primary but has no ip (the address of ansible_host and of the probes)'
                         % (where, marked[0]))
        return marked[0]
    for index, nic in enumerate(nics):
        if nic['ip'] is not None:
            return index
    if nics and connection != 'libvirt_qemu' and len(nics) == len(raw_nics) and all(nic['mode'] == 'dhcp' for nic in nics):
        problems.add('%s: no NIC has an ip: the VM needs a known address for ansible_host and its probes '
                     '(or connection: libvirt_qemu with an agent probe)' % where)
    return None


def _nic(scope, raw, net, vm_name, index, where, connection):
    problems = scope.problems
    nic = {'network': net['name'], 'kind': net['kind'], 'model': raw.get('model'),
           'primary': d.flag(problems, raw.get('primary'), '%s.primary' % where, False),
           'dhcp': d.flag(problems, raw.get('dhcp'), '%s.dhcp' % where, False),
           'ip': None, 'prefix': net.get('prefix'), 'gateway': None, 'gateway_inherited': False, 'routes': [], 'dns': [],
           'search': []}
    if nic['model'] is not None and not isinstance(nic['model'], str):
        problems.add('%s.model: %r is not a NIC model name such as virtio or e1000e' % (where, nic['model']))
    nic['mac'] = _mac(scope, raw, vm_name, index, where)
    if nic['dhcp'] and raw.get('ip') is not None:
        problems.add('%s: give ip or dhcp: true, not both' % where)
    if nic['dhcp']:
        if net['kind'] == 'ours' and net['host_address']:
            problems.add("%s.dhcp: network '%s' is ours: its NICs get their ip as a static DHCP host; give ip"
                         % (where, net['name']))
        elif net['kind'] == 'ours':
            problems.add("%s.dhcp: network '%s' has no DHCP (host_address: false); give ip" % (where, net['name']))
        for key in ('gateway', 'routes', 'dns'):
            if raw.get(key) is not None:
                problems.add('%s.%s: the LAN\'s DHCP gives it (dhcp: true)' % (where, key))
        nic['mode'] = 'dhcp'
        return nic
    if raw.get('ip') is None:
        if connection != 'libvirt_qemu' or net['kind'] == 'ours':
            problems.add('%s: ip is required (its static address%s)'
                         % (where, ', inside %s.cidr' % net['where'] if net.get('cidr') else " on network '%s'" % net['name']))
        nic['mode'] = 'none'
        return nic
    ip = _address(scope, raw['ip'], net, where)
    nic['ip'] = str(ip) if ip is not None else None
    own_routing = any(raw.get(key) is not None for key in ('gateway', 'routes', 'dns'))
    nic['mode'] = 'dhcp-host' if net['kind'] == 'ours' and net['host_address'] and not own_routing else 'static'
    if nic['mode'] == 'static' and net.get('subnet') is None:
        problems.add("%s: a static ip on network '%s' needs the network's cidr (the LAN's subnet, for the prefix), "
                     "or dhcp: true" % (where, net['name']))
    gateway = raw.get('gateway')
    if gateway is None and (net['kind'] != 'ours' or not net['host_address']
                            or (own_routing and net['mode'] in ('nat', 'route'))):
        # the network's router (an external LAN's, or the VM routing a plain segment of ours); not the router itself
        gateway = net.get('gateway') if net.get('gateway') != nic['ip'] else None
        nic['gateway_inherited'] = gateway is not None
    if gateway is not None:
        addr = d._ipv4(problems, gateway, '%s.gateway' % where)
        if addr is not None and net.get('subnet') is not None and addr not in net['subnet']:
            problems.add("%s.gateway: %s is outside network '%s' (%s)" % (where, addr, net['name'], net['subnet']))
        elif addr is not None and ip is not None and addr == ip:
            problems.add('%s.gateway: %s is the NIC\'s own address' % (where, addr))
        nic['gateway'] = str(addr) if addr is not None else None
    nic['routes'] = _routes(problems, raw.get('routes'), net, '%s.routes' % where)
    nic['dns'] = _networks._servers(problems, raw.get('dns'), '%s.dns' % where) or list(net.get('dns') or [])
    nic['search'] = _networks._search(problems, raw.get('search'), '%s.search' % where) or list(net.get('search') or [])
    return nic


def _address(scope, text, net, where):
    problems = scope.problems
    try:
        ip = ipaddress.IPv4Address(to_text(text).strip())
    except (ValueError, ipaddress.AddressValueError):
        problems.add('%s: ip %r is not an IPv4 address' % (where, text))
        return None
    subnet = net.get('subnet')
    if subnet is not None:
        if ip not in subnet or ip in (subnet.network_address, subnet.broadcast_address):
            problems.add('%s: ip %s is outside the usable addresses of %s.cidr %s' % (where, ip, net['where'], subnet))
        elif net.get('host_address', True) and net['kind'] == 'ours' and str(ip) == net['gateway']:
            problems.add("%s: ip %s is the network's gateway (the hypervisor's address)" % (where, ip))
        elif net.get('dhcp') and net['dhcp'][0] <= ip <= net['dhcp'][1]:
            problems.add('%s: ip %s is inside the DHCP range %s - %s; a static address must be outside it'
                         % (where, ip, net['dhcp'][0], net['dhcp'][1]))
    key = '%s %s' % (net['name'], ip)
    seen = scope.seen['ip']
    if key in seen:
        problems.add('vms: ip %s%s is given twice (%s and %s)'
                     % (ip, " on network '%s'" % net['name'] if len(scope.nets) > 1 else '', seen[key], where))
    seen.setdefault(key, where)
    return ip


def _mac(scope, raw, vm_name, index, where):
    problems, seen = scope.problems, scope.seen['mac']
    mac = raw.get('mac')
    derived = mac is None
    if derived:
        mac = nic_mac(scope.name, vm_name, index)
    else:
        mac = to_text(mac).strip().lower()
        if not _validate.MAC_RE.match(mac):
            problems.add('%s: mac %r is not a MAC address such as 52:54:00:12:34:56' % (where, raw['mac']))
        elif int(mac[:2], 16) & 1:
            problems.add('%s: mac %s is a multicast address' % (where, mac))
    if mac in seen and not (derived and seen[mac][1] == vm_name):
        # (a duplicate name derives a duplicate MAC: that is reported once, as the name)
        problems.add('vms: mac %s is used twice (%s and %s)%s' % (
            mac, seen[mac][0], where, ' (derived from the names: set mac on one)' if derived else ''))
    seen.setdefault(mac, (where, vm_name))
    return mac


def _routes(problems, value, net, where):
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add('%s: a list of routes, each {to: CIDR, via: ADDRESS}' % where)
        return []
    out = []
    for index, route in enumerate(value):
        here = '%s[%d]' % (where, index)
        if not isinstance(route, dict) or route.get('to') is None or route.get('via') is None:
            problems.add('%s: a dict with to (a CIDR or default) and via (an address), got %r' % (here, route))
            continue
        d.unknown_keys(problems, route, ROUTE_KEYS, here)
        to = DEFAULT_ROUTE if to_text(route['to']) == 'default' else to_text(route['to'])
        try:
            to = str(ipaddress.IPv4Network(to, strict=False))
        except (ValueError, ipaddress.AddressValueError, ipaddress.NetmaskValueError):
            problems.add('%s.to: %r is not an IPv4 subnet (or default)' % (here, route['to']))
            continue
        via = d._ipv4(problems, route['via'], '%s.via' % here)
        if via is None:
            continue
        if net.get('subnet') is not None and via not in net['subnet']:
            problems.add("%s.via: %s is outside network '%s' (%s)" % (here, via, net['name'], net['subnet']))
        entry = {'to': to, 'via': str(via)}
        if route.get('metric') is not None:
            metric = d.number(problems, route['metric'], '%s.metric' % here, 0, integer=True)
            if metric is not None:
                entry['metric'] = metric
        out.append(entry)
    return out


def network_config(nics):
    """The seed's network-config (version 2) for these NICs, or None when cloud-init's fallback (DHCP on the one
    NIC) gives the same."""
    if len(nics) == 1 and nics[0]['mode'] == 'dhcp-host':
        return None
    ethernets = {}
    for index, nic in enumerate(nics):
        entry = {'match': {'macaddress': nic['mac']}}
        if nic['mode'] in ('dhcp', 'dhcp-host'):
            entry['dhcp4'] = True
        elif nic['mode'] == 'static' and nic['ip']:
            entry['dhcp4'] = False
            entry['addresses'] = ['%s/%s' % (nic['ip'], nic['prefix'])]
            routes = ([{'to': DEFAULT_ROUTE, 'via': nic['gateway']}] if nic['gateway'] else []) + nic['routes']
            if routes:
                entry['routes'] = routes
            nameservers = {}
            if nic['dns']:
                nameservers['addresses'] = list(nic['dns'])
            if nic['search']:
                nameservers['search'] = list(nic['search'])
            if nameservers:
                entry['nameservers'] = nameservers
        else:
            entry['dhcp4'] = False
        ethernets['nic%d' % index] = entry
    return {'version': 2, 'ethernets': ethernets}


def interfaces(nets, nics):
    """The domain module's interfaces of the NICs."""
    by_name = dict((net['name'], net) for net in nets)
    return [_networks.interface(by_name[nic['network']], nic['mac'], nic['model']) for nic in nics]

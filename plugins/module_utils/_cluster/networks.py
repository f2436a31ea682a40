# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The networks of a cluster definition: `networks:` (a list) or the `network:` shorthand (one network of ours).

Each network is of one kind:

- ours (`mode` nat, route, isolated or open): created, owned and removed by the cluster, with a static DHCP host
  per NIC unless `host_address: false` (then the hypervisor has no address on it and its NICs are addressed by
  cloud-init's network-config);
- `external: true`: what the cluster uses and never changes: an existing libvirt network by `name` (optionally
  started and set to autostart with `ensure_active: true`), a host bridge (`bridge: br0`), or a macvtap on a host
  interface (`direct: eno1`, `mode` bridge, vepa, private or passthrough). Its `cidr`, `gateway`, `dns` and
  `search` describe the LAN, for the static addressing of the NICs on it.

Every check adds a one-line message naming the field to the shared Problems list.

Private to strata.libvirt; no compatibility promise.
"""

import ipaddress

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.strata.libvirt.plugins.module_utils._cluster import definition as d
from ansible_collections.strata.libvirt.plugins.module_utils import _validate
from ansible_collections.strata.libvirt.plugins.module_utils._domain.spec import DIRECT_MODES

OURS_KEYS = ('name', 'external', 'cidr', 'mode', 'domain', 'gateway', 'dhcp_range', 'bridge', 'autostart', 'mtu', 'host_address',
             'dns', 'search')
EXTERNAL_KEYS = ('name', 'external', 'bridge', 'direct', 'mode', 'ensure_active', 'cidr', 'gateway', 'dns', 'search')
NETWORK_KEYS = tuple(sorted(set(OURS_KEYS + EXTERNAL_KEYS)))
KINDS = ('ours', 'network', 'bridge', 'direct')


def resolve_all(problems, cluster, name):
    """The cluster's networks, resolved, in the order given (the first is the NICs' default); [] when none can be."""
    if cluster.get('networks') is not None and cluster.get('network') is not None:
        problems.add('network, networks: give one of them (network is the shorthand for a single network of ours)')
    if cluster.get('networks') is None:
        raw = cluster.get('network')
        if not isinstance(raw, dict):
            problems.add('network: required, a dict with at least cidr (for example {cidr: 10.250.0.0/24}), '
                         'or networks: a list of them')
            return []
        net = resolve(problems, raw, 'network', '%s-net' % name)
        return [net] if net else []
    raw_list = cluster.get('networks')
    if not isinstance(raw_list, list) or not raw_list:
        problems.add('networks: a list of networks, each a dict with a name (for example [{name: lab-lan, cidr: '
                     '10.250.0.0/24}])')
        return []
    out, seen = [], {}
    for index, raw in enumerate(raw_list):
        where = 'networks[%d]' % index
        if not isinstance(raw, dict):
            problems.add('%s: must be a dict, got %r' % (where, raw))
            continue
        if not raw.get('name'):
            problems.add('%s.name: required (the NICs name their network by it)' % where)
            continue
        net = resolve(problems, raw, "%s '%s'" % (where, raw['name']), None)
        if net is None:
            continue
        if net['name'] in seen:
            problems.add("networks: the name '%s' is given twice (%s and %s)" % (net['name'], seen[net['name']], where))
            continue
        seen[net['name']] = where
        out.append(net)
    _overlaps(problems, out)
    return out


def _overlaps(problems, nets):
    for index, net in enumerate(nets):
        for other in nets[:index]:
            if net.get('subnet') is not None and other.get('subnet') is not None and net['subnet'].overlaps(other['subnet']):
                problems.add("networks: '%s' (%s) overlaps '%s' (%s)"
                             % (net['name'], net['subnet'], other['name'], other['subnet']))
            if net['kind'] == other['kind'] and net['kind'] != 'ours' and net['source'] == other['source']:
                problems.add("networks: '%s' and '%s' are both %s %s"
                             % (other['name'], net['name'], net['kind'], net['source']))


def _kind(raw, external):
    if raw.get('direct') is not None:
        return 'direct'
    if not external:
        return 'ours'
    return 'bridge' if raw.get('bridge') is not None else 'network'


def resolve(problems, raw, where, default_name):
    """One network, resolved; None when it cannot be."""
    external = d.flag(problems, raw.get('external'), '%s: external' % where, raw.get('direct') is not None)
    kind = _kind(raw, external)
    if kind == 'direct' and raw.get('external') is not None and not external:
        problems.add('%s: direct (macvtap on a host interface) is always external; drop external: false' % where)
    name = to_text(raw.get('name') or default_name)
    if not d.NAME_RE.match(name):
        problems.add("%s.name: invalid name %r; use only letters, digits, '.', '_' and '-'" % (where, name))
    net = {'name': name, 'where': where, 'kind': kind, 'external': kind != 'ours', 'source': name, 'ensure_active': False,
           'dns': _servers(problems, raw.get('dns'), '%s.dns' % where),
           'search': _search(problems, raw.get('search'), '%s.search' % where)}
    if kind == 'ours':
        return _ours(problems, raw, where, net)
    d.unknown_keys(problems, raw, EXTERNAL_KEYS, where)
    if kind == 'bridge':
        net['source'] = problems.guard(_validate.bridge, raw['bridge'], '%s.bridge' % where) or to_text(raw['bridge'])
    elif kind == 'direct':
        net['source'] = problems.guard(_validate.bridge, raw['direct'], '%s.direct' % where) or to_text(raw['direct'])
        net['direct_mode'] = raw.get('mode') or 'bridge'
        if net['direct_mode'] not in DIRECT_MODES:
            problems.add('%s.mode: %r; a macvtap takes one of %s' % (where, raw.get('mode'), ', '.join(DIRECT_MODES)))
    if kind != 'direct' and raw.get('mode') is not None:
        problems.add('%s.mode: only for a network of ours (nat, route, isolated, open) or a macvtap (direct)' % where)
    if kind == 'network':
        net['ensure_active'] = d.flag(problems, raw.get('ensure_active'), '%s.ensure_active' % where, False)
    elif raw.get('ensure_active') is not None:
        problems.add('%s.ensure_active: only for an existing libvirt network (external: true without bridge or direct)'
                     % where)
    net['subnet'] = _subnet(problems, raw, where, required=False)
    net['gateway'] = None
    if net['subnet'] is not None:
        net['prefix'] = net['subnet'].prefixlen
        net['cidr'] = str(net['subnet'])
        net['gateway'] = _router(problems, raw, net['subnet'], where)
    elif raw.get('gateway'):
        problems.add('%s.gateway: needs cidr (the LAN\'s subnet)' % where)
    net['dhcp'] = None
    net['host_address'] = False
    return net


def _router(problems, raw, subnet, where):
    """The segment's router that is not the hypervisor (an external LAN's, or a VM routing a plain segment of
    ours): its address inside the subnet, or None."""
    if not raw.get('gateway'):
        return None
    gateway = d._ipv4(problems, raw['gateway'], '%s.gateway' % where)
    if gateway is not None and gateway not in subnet:
        problems.add('%s.gateway: %s is outside %s' % (where, gateway, subnet))
    return str(gateway) if gateway is not None else None


def _subnet(problems, raw, where, required):
    if raw.get('cidr') is None:
        if required:
            problems.add('%s.cidr: required, the IPv4 subnet of the network such as 10.250.0.0/24' % where)
        return None
    try:
        subnet = ipaddress.IPv4Network(to_text(raw.get('cidr')).strip(), strict=False)
    except (ValueError, ipaddress.AddressValueError, ipaddress.NetmaskValueError):
        problems.add('%s.cidr: %r is not an IPv4 subnet such as 10.250.0.0/24' % (where, raw.get('cidr')))
        return None
    if '/' not in to_text(raw.get('cidr')) or subnet.prefixlen > d.DEFAULTS['max_prefix']:
        problems.add('%s.cidr: %s is too small: give a prefix of at most /%d' % (where, raw.get('cidr'), d.DEFAULTS['max_prefix']))
        return None
    return subnet


def _ours(problems, raw, where, net):
    d.unknown_keys(problems, raw, OURS_KEYS, where)
    net.update({'mode': raw.get('mode') or d.DEFAULTS['network_mode'], 'domain': raw.get('domain'),
                'bridge': raw.get('bridge'), 'mtu': raw.get('mtu'),
                'autostart': d.flag(problems, raw.get('autostart'), '%s.autostart' % where, d.DEFAULTS['network_autostart']),
                'host_address': d.flag(problems, raw.get('host_address'), '%s.host_address' % where, True)})
    if net['mode'] not in d.NETWORK_MODES:
        problems.add('%s.mode: %r; use one of %s' % (where, net['mode'], ', '.join(d.NETWORK_MODES)))
    if net['domain'] is not None and not d.DNS_DOMAIN_RE.match(to_text(net['domain'])):
        problems.add('%s.domain: invalid DNS domain %r' % (where, net['domain']))
    subnet = _subnet(problems, raw, where, required=True)
    if subnet is None:
        return None
    net['cidr'] = str(subnet)
    net['prefix'] = subnet.prefixlen
    net['subnet'] = subnet
    hosts = list(subnet.hosts())
    if not net['host_address']:
        # a plain bridge: no address of the hypervisor, no DHCP, no routing (its NICs get network-config)
        if net['mode'] != 'isolated':
            problems.add("%s.host_address: false needs mode isolated (mode %s routes through the hypervisor's address)"
                         % (where, net['mode']))
        for key in ('dhcp_range', 'domain'):
            if raw.get(key) is not None:
                problems.add('%s.%s: needs the hypervisor\'s address on the network (host_address: false)' % (where, key))
        net['gateway'] = _router(problems, raw, subnet, where)
        net.update(address=None, dhcp=None, dhcp_range=None)
        return net
    gateway = hosts[0]
    if raw.get('gateway'):
        gateway = d._ipv4(problems, raw['gateway'], '%s.gateway' % where) or gateway
        if gateway not in hosts:
            problems.add('%s.gateway: %s is outside the usable addresses of %s' % (where, gateway, subnet))
    net['gateway'] = str(gateway)
    net['address'] = '%s/%d' % (gateway, subnet.prefixlen)
    start, end = d.dhcp_range(problems, raw.get('dhcp_range'), hosts, gateway, subnet, where)
    net['dhcp'] = (start, end) if start is not None else None
    net['dhcp_range'] = {'start': str(start), 'end': str(end)} if start is not None else None
    return net


def _servers(problems, value, where):
    out = []
    for index, server in enumerate(d.as_list(value)):
        addr = d._ipv4(problems, server, '%s[%d]' % (where, index))
        if addr is not None:
            out.append(str(addr))
    return out


def _search(problems, value, where):
    out = []
    for index, domain in enumerate(d.as_list(value)):
        if not d.DNS_DOMAIN_RE.match(to_text(domain)):
            problems.add('%s[%d]: invalid DNS domain %r' % (where, index, domain))
        else:
            out.append(to_text(domain))
    return out


def public(net):
    """The network as the plan shows it (without the parsed subnet and range)."""
    return dict((k, v) for k, v in net.items() if k not in ('subnet', 'dhcp', 'where'))


def interface(net, mac, model=None):
    """The domain module's interface of a NIC on this network."""
    out = {'mac': mac}
    if net['kind'] in ('ours', 'network'):
        out['network'] = net['name']
    elif net['kind'] == 'bridge':
        out['bridge'] = net['source']
    else:
        out['direct'] = net['source']
        out['mode'] = net['direct_mode']
    if model:
        out['model'] = model
    return out

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Routed networks split over several hypervisors: a network of ours with `segments` ({host: cidr}, mode route)
is, on each hypervisor, that host's segment; the hosts route each other's segments (host_setup adds the routes,
through the other hosts' addresses), so the VMs of different hosts reach each other.

    split(found, cluster, hosts, host_name) -> None when no network has segments, else
        {'views': {host: the definition as that host sees it (each segmented network's cidr its segment)},
         'vm_hosts': {VM name: the host whose segment holds one of its addresses},
         'routes': [{'network', 'cidr', 'host'}: the other hosts' segments, to route through them]}

A VM with an address on a segmented network runs on the host of that segment (it is pinned by its address).

Private to strata.libvirt; no compatibility promise.
"""

import copy
import ipaddress

from ansible.module_utils.common.text.converters import to_text


def _segments(found, raw, where, hosts):
    """{host: ip_network} of a network's segments, checked."""
    value = raw.get('segments')
    if not isinstance(value, dict) or not value:
        found.add('%s.segments: a dict of hypervisor -> its segment of the network (cidr), for example '
                  '{hv1: 10.251.1.0/24, hv2: 10.251.2.0/24}' % where)
        return {}
    if raw.get('external'):
        found.add('%s.segments: only for a network of ours (mode route)' % where)
    if raw.get('mode') != 'route':
        found.add('%s.segments: needs mode route (the hosts route each other\'s segments), not %s'
                  % (where, raw.get('mode') or 'nat (the default)'))
    if raw.get('cidr') is not None:
        found.add('%s: give cidr or segments, not both' % where)
    out = {}
    for host in sorted(value, key=to_text):
        try:
            out[to_text(host)] = ipaddress.IPv4Network(to_text(value[host]).strip())
        except ValueError as exc:
            found.add('%s.segments.%s: %r is not an IPv4 subnet (%s)' % (where, host, value[host], exc))
    for host in sorted(map(to_text, value)):
        if hosts and host not in hosts:
            found.add("%s.segments: '%s' is not one of the hypervisors (%s)" % (where, host, ', '.join(hosts)))
    for host in hosts:
        if host not in value:
            found.add("%s.segments: no segment for hypervisor '%s' (segments: %s)"
                      % (where, host, ', '.join(sorted(map(to_text, value)))))
    names = sorted(out)
    for index, host in enumerate(names):
        for other in names[:index]:
            if out[host].overlaps(out[other]):
                found.add('%s.segments: %s (%s) overlaps %s (%s)' % (where, host, out[host], other, out[other]))
    return out


def _addresses(vm, net_name, first):
    """The addresses of a raw VM on the network named net_name (first: it is the cluster's first network)."""
    if not isinstance(vm, dict):
        return []
    if vm.get('nics') is None:
        return [vm['ip']] if first and vm.get('ip') else []
    return [nic['ip'] for nic in vm.get('nics') or [] if isinstance(nic, dict) and nic.get('ip')
            and (nic.get('network') or (first and net_name)) == net_name]


def split(found, cluster, hosts, host_name):
    """See the module's docstring."""
    raw_nets = cluster.get('networks')
    if not isinstance(raw_nets, list) or not any(isinstance(n, dict) and n.get('segments') is not None for n in raw_nets):
        return None
    hosts = list(hosts or [])
    if host_name and host_name not in hosts:
        hosts.append(host_name)
    if len(hosts) < 2:
        found.add('networks: segments split a network over several hypervisors; this play has %s'
                  % (', '.join(hosts) or 'none'))
    segmented = {}
    for index, raw in enumerate(raw_nets):
        if isinstance(raw, dict) and raw.get('segments') is not None:
            segmented[index] = _segments(found, raw, "networks[%d] '%s'" % (index, raw.get('name')), hosts)
    views = {}
    for host in list(hosts) + sorted(set(h for segments in segmented.values() for h in segments) - set(hosts)):
        view = copy.deepcopy(cluster)
        for index, segments in segmented.items():
            net = dict((k, v) for k, v in view['networks'][index].items() if k != 'segments')
            if host in segments:
                net['cidr'] = str(segments[host])
            view['networks'][index] = net
        views[host] = view
    vm_hosts = {}
    for raw in cluster.get('vms') or []:
        if not isinstance(raw, dict):
            continue
        for index, segments in segmented.items():
            name = raw_nets[index].get('name')
            for text in _addresses(raw, name, index == 0):
                try:
                    address = ipaddress.IPv4Address(to_text(text).strip())
                except ValueError:
                    continue  # the NIC's own check says so
                owners = [h for h, subnet in segments.items() if address in subnet]
                where = "vms '%s'" % raw.get('name')
                if not owners:
                    found.add("%s: ip %s on network '%s' is in none of its segments (%s)"
                              % (where, address, name, ', '.join('%s %s' % (h, s) for h, s in sorted(segments.items()))))
                    continue
                owner = owners[0]
                if raw.get('host') is not None and to_text(raw['host']) != owner:
                    found.add("%s: host %s, but its ip %s is in the segment of %s on network '%s'"
                              % (where, raw['host'], address, owner, name))
                elif vm_hosts.get(raw.get('name'), owner) != owner:
                    found.add('%s: its addresses are in the segments of %s and %s; a VM runs on one host'
                              % (where, vm_hosts[raw.get('name')], owner))
                vm_hosts.setdefault(raw.get('name'), owner)
    routes = [{'network': raw_nets[index].get('name'), 'cidr': str(subnet), 'host': host}
              for index, segments in sorted(segmented.items()) for host, subnet in sorted(segments.items())
              if host != host_name]
    return {'views': views, 'vm_hosts': vm_hosts, 'routes': routes}

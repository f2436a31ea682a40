# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The VMs of a cluster definition, each resolved: names, image and resources, address and MAC, ordering
keys, probes, timings, cloud-config; every problem added to the shared Problems list.

Private to strata.libvirt; no compatibility promise.
"""

import ipaddress

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.strata.libvirt.plugins.module_utils import _imagemap
from ansible_collections.strata.libvirt.plugins.module_utils import _probes
from ansible_collections.strata.libvirt.plugins.module_utils import _validate
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import definition as d
from ansible_collections.strata.libvirt.plugins.module_utils._seed.render import merge


def default_probes(user, key_file):
    """The probes of a VM that has none: an SSH login with the cluster's key (a banner without a key)."""
    if key_file:
        return [{'type': 'ssh', 'user': user, 'key_file': key_file}]
    return [{'type': 'ssh'}]


class Scope(object):
    """What every VM of the definition shares while it is resolved."""

    def __init__(self, problems, cluster, image_map, options, name, prefix, net, images, login_user, tb_cache,
                 console_dir, user_data):
        self.problems = problems
        self.cluster = cluster
        self.image_map = image_map
        self.options = options
        self.name = name
        self.prefix = prefix
        self.net = net
        self.images = images
        self.login_user = login_user
        self.tb_cache = tb_cache
        self.console_dir = console_dir
        self.user_data = user_data
        self.seen = {'name': {}, 'ip': {}, 'mac': {}}


def resolve_all(scope, raw_vms):
    vms = []
    for index, raw in enumerate(raw_vms):
        vm = resolve(scope, index, raw)
        if vm is not None:
            vms.append(vm)
    return vms


def resolve(scope, index, raw):
    """One VM of the definition, resolved (None when it is not even a dict)."""
    problems = scope.problems
    where = 'vms[%d]' % index
    if not isinstance(raw, dict):
        problems.add('%s: must be a dict with name and ip, got %r' % (where, raw))
        return None
    vm_name = to_text(raw.get('name') or '')
    if vm_name:
        where = "vms[%d] '%s'" % (index, vm_name)
    d.unknown_keys(problems, raw, d.VM_KEYS, where)
    _name(scope, index, raw, vm_name, where)
    domain = '%s%s' % (scope.prefix, vm_name)
    if not d.NAME_RE.match(domain):
        problems.add("%s: domain name %r is invalid" % (where, domain))
    label = d.label(problems, raw.get('image'), '%s: image' % where) or d.label(problems, scope.cluster.get('image'), 'image')
    image = scope.images.get(label)
    resources = _resources(scope, raw, image, where)
    ip = _address(scope, raw, where)
    mac = _mac(scope, raw, vm_name, where)
    tier, after = _order(problems, raw, where)
    memory_mib = resources['memory_mib'] if resources else None
    vm_tb = d.number(problems, raw.get('tcg_tb_cache'), '%s: tcg_tb_cache' % where, 1, integer=True)
    if vm_tb is None:
        vm_tb = scope.tb_cache if scope.tb_cache is not None else (
            d.DEFAULTS['tcg_tb_cache_small'] if memory_mib is not None and memory_mib < 512 else d.DEFAULTS['tcg_tb_cache'])
    net = scope.net
    return {
        'name': vm_name,
        'domain': domain,
        'hostname': vm_name,
        'fqdn': '%s.%s' % (vm_name, net['domain']) if net and net.get('domain') else None,
        'ip': str(ip) if ip is not None else None,
        'mac': mac,
        'mac_derived': raw.get('mac') is None,
        'image': image['label'] if image else label,
        'base_volume': image['file_name'] if image else None,
        'python_interpreter': image['python_interpreter'] if image else '/usr/bin/python3',
        'vcpus': resources['vcpus'] if resources else None,
        'memory_mib': memory_mib,
        'disk_bytes': resources['disk_bytes'] if resources else None,
        'size': resources['size'] if resources else None,
        'tcg_tb_cache': vm_tb,
        'volume': '%s.qcow2' % domain,
        'seed_volume': '%s-seed.iso' % domain,
        'console_log': '%s/%s-console.log' % (scope.console_dir.rstrip('/'), domain),
        'user_data': merge(scope.user_data, _user_data(problems, raw, where)),
        'groups': _groups(problems, raw, where),
        '_tier': tier,
        '_after': after,
        'probes': _vm_probes(scope, raw, where),
        'timeout': d.number(problems, raw.get('timeout'), '%s: timeout' % where, 1),
        'grace': d.number(problems, raw.get('grace'), '%s: grace' % where, 0),
    }


def _name(scope, index, raw, vm_name, where):
    problems, seen = scope.problems, scope.seen['name']
    if len(vm_name) > d.MAX_HOST_LABEL:
        shown = vm_name if len(vm_name) <= 24 else vm_name[:24] + '...'
        problems.add("vms[%d].name: %r is %d characters; a host name label has at most %d"
                     % (index, shown, len(vm_name), d.MAX_HOST_LABEL))
    if not d.VM_NAME_RE.match(vm_name):
        problems.add("%s: invalid VM name %r; it is the guest's host name: lower-case letters, digits and '-'"
                     % (where, raw.get('name')))
    elif vm_name in seen:
        problems.add("vms: the name '%s' is given twice (%s and %s)" % (vm_name, seen[vm_name], where))
    seen.setdefault(vm_name, where)


def _resources(scope, raw, image, where):
    """vcpus, memory and disk: the VM's own over its size (or the cluster's) over its image's defaults; the
    problems named after the VM (vms[0] 'db1': memory: ...)."""
    if image is None:
        return None
    size = raw.get('size') if raw.get('size') is not None else scope.cluster.get('size')
    overrides = dict((k, raw[k]) for k in _imagemap.RESOURCE_KEYS if raw.get(k) is not None)
    return scope.problems.guard(_imagemap.resolve_resources, scope.image_map, size=size, overrides=overrides,
                                image_default=image['resources'], what=where)


def _address(scope, raw, where):
    problems, net = scope.problems, scope.net
    if raw.get('ip') is None:
        problems.add('%s: ip is required (its static address, inside network.cidr)' % where)
        return None
    try:
        ip = ipaddress.IPv4Address(to_text(raw['ip']).strip())
    except (ValueError, ipaddress.AddressValueError):
        problems.add('%s: ip %r is not an IPv4 address' % (where, raw['ip']))
        return None
    if net is not None:
        subnet = net['subnet']
        if ip not in subnet or ip in (subnet.network_address, subnet.broadcast_address):
            problems.add('%s: ip %s is outside the usable addresses of network.cidr %s' % (where, ip, subnet))
        elif str(ip) == net['gateway']:
            problems.add("%s: ip %s is the network's gateway (the hypervisor's address)" % (where, ip))
        elif net['dhcp'] and net['dhcp'][0] <= ip <= net['dhcp'][1]:
            problems.add('%s: ip %s is inside the DHCP range %s - %s; a static address must be outside it'
                         % (where, ip, net['dhcp'][0], net['dhcp'][1]))
    seen = scope.seen['ip']
    if str(ip) in seen:
        problems.add('vms: ip %s is given twice (%s and %s)' % (ip, seen[str(ip)], where))
    seen.setdefault(str(ip), where)
    return ip


def _mac(scope, raw, vm_name, where):
    problems, seen = scope.problems, scope.seen['mac']
    mac = raw.get('mac')
    if mac is None:
        mac = d.derive_mac(scope.name, vm_name)
    else:
        mac = to_text(mac).strip().lower()
        if not _validate.MAC_RE.match(mac):
            problems.add('%s: mac %r is not a MAC address such as 52:54:00:12:34:56' % (where, raw['mac']))
        elif int(mac[:2], 16) & 1:
            problems.add('%s: mac %s is a multicast address' % (where, mac))
    if mac in seen and not (raw.get('mac') is None and seen[mac][1] == vm_name):
        # (a duplicate name derives a duplicate MAC: that is reported once, as the name)
        problems.add('vms: mac %s is used twice (%s and %s)%s' % (
            mac, seen[mac][0], where, '' if raw.get('mac') else ' (derived from the names: set mac on one)'))
    seen.setdefault(mac, (where, vm_name))
    return mac


def _order(problems, raw, where):
    tier = raw.get('tier')
    after = raw.get('after')
    if tier is not None and after:
        problems.add('%s: give either tier or after, not both' % where)
    if tier is not None:
        tier = d.number(problems, tier, '%s: tier' % where, 0, integer=True)
    if after is not None:
        after = d.as_list(after)
        if not all(isinstance(a, str) for a in after):
            problems.add('%s: after must be a list of VM names' % where)
            after = []
    return tier, after


def _vm_probes(scope, raw, where):
    problems, key_file = scope.problems, scope.options.get('probe_key_file')
    probes_raw = raw.get('probes')
    if probes_raw is None:
        probes_raw = scope.cluster.get('default_probes')
    if probes_raw is None:
        return default_probes(scope.login_user, key_file)
    if not isinstance(probes_raw, list):
        problems.add('%s: probes must be a list' % where)
        return []
    probes = [dict(p) if isinstance(p, dict) else p for p in probes_raw]
    for pindex, probe in enumerate(probes):
        problems.guard(_probes.validate, probe, '%s: probes[%d]' % (where, pindex))
        if isinstance(probe, dict) and probe.get('type') in ('ssh', 'cloud_init') and probe.get('user') \
                and not probe.get('key_file') and key_file:
            probe['key_file'] = key_file
    return probes


def _user_data(problems, raw, where):
    value = raw.get('user_data') or {}
    if not isinstance(value, dict):
        problems.add('%s: user_data must be a dict of cloud-config keys' % where)
        return {}
    return value


def _groups(problems, raw, where):
    groups = [to_text(g) for g in d.as_list(raw.get('groups'))]
    for group in groups:
        if not d.GROUP_RE.match(group):
            problems.add('%s: group %r is not a valid Ansible group name' % (where, group))
    return groups

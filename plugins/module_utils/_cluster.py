# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cluster definition of the roles: validation (every problem at once) and the resolved plan.

    problems(cluster, image_map, options)  -> list of messages, empty when the definition is sound
    plan(cluster, image_map, options)      -> the resolved cluster (raises StrataError listing every problem)
    summary(plan, startup_results, ...)    -> the provision summary table, a list of lines

`options` (all optional): `host` ({memory_total_mib, memory_available_mib, running: [domain names]})
for the memory checks, `probe_key_file` (private key on the hypervisor for the default SSH login
probe), `virt_type` (the host's choice when the cluster says auto).

Pure functions, run on the controller by the strata.libvirt.cluster_* filters before any change.

Private to strata.libvirt; no compatibility promise.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import copy
import datetime
import hashlib
import ipaddress
import re

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _imagemap
from ansible_collections.strata.libvirt.plugins.module_utils import _probes
from ansible_collections.strata.libvirt.plugins.module_utils import _startup

MIB = 1024 ** 2
NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*$')
VM_NAME_RE = re.compile(r'^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$')
GROUP_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
MAC_RE = re.compile(r'^[0-9a-f]{2}(:[0-9a-f]{2}){5}$')
PEM_RE = re.compile(r'-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----', re.S)

CLUSTER_KEYS = ('name', 'uri', 'virt_type', 'machine', 'tcg_tb_cache', 'image', 'size', 'network', 'pool', 'domain_prefix',
                'inventory_group', 'user', 'ssh_public_keys', 'ssh_private_key_file', 'ca_certificate', 'packages',
                'user_data', 'startup', 'vms', 'console_log_dir', 'autostart', 'description', 'default_probes')
NETWORK_KEYS = ('name', 'cidr', 'mode', 'domain', 'gateway', 'dhcp_range', 'bridge', 'autostart', 'mtu')
POOL_KEYS = ('name', 'path')
STARTUP_KEYS = ('on_failure', 'timeout', 'tier_timeout', 'tier_delay', 'grace', 'shutdown_mode')
VM_KEYS = ('name', 'size', 'vcpus', 'memory', 'disk', 'image', 'ip', 'mac', 'tier', 'after', 'probes', 'timeout',
           'grace', 'user_data', 'groups', 'tcg_tb_cache', 'description')
VIRT_TYPES = ('kvm', 'qemu', 'auto')
NETWORK_MODES = ('nat', 'route', 'isolated', 'open')
DEFAULT_POOL_DIR = '/var/lib/libvirt/strata'
DEFAULT_CONSOLE_LOG_DIR = '/var/log/libvirt/qemu'
DEFAULT_USER = 'strata'
MAX_CLUSTER_NAME = 40


def derive_mac(cluster_name, vm_name):
    """A stable, locally administered-looking QEMU MAC (52:54:00:xx:xx:xx) from the cluster and VM names."""
    digest = hashlib.sha256(('%s/%s' % (cluster_name, vm_name)).encode('utf-8')).hexdigest()
    return '52:54:00:%s:%s:%s' % (digest[0:2], digest[2:4], digest[4:6])


def group_name(text):
    """An Ansible group name from a cluster name: strata-demo -> strata_demo."""
    out = re.sub(r'[^A-Za-z0-9_]', '_', to_text(text))
    if not out or out[0].isdigit():
        out = '_' + out
    return out


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _merge(base, extra):
    """cloud-init deep merge: dicts merge, lists are appended, other values replace."""
    result = copy.deepcopy(base)
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merge(result[key], value)
        elif isinstance(value, list) and isinstance(result.get(key), list):
            result[key] = result[key] + copy.deepcopy(value)
        else:
            result[key] = copy.deepcopy(value)
    return result


class _Problems(object):
    def __init__(self):
        self.items = []

    def add(self, text):
        if text not in self.items:
            self.items.append(text)

    def guard(self, func, *args, **kwargs):
        """Call func; a StrataError becomes a problem and the result None."""
        try:
            return func(*args, **kwargs)
        except StrataError as exc:
            self.add(to_text(exc))
            return None


def _unknown_keys(problems, value, known, where):
    unknown = sorted(k for k in value if k not in known)
    if unknown:
        problems.add('%s: unknown key(s) %s (known: %s)' % (where, ', '.join(unknown), ', '.join(known)))


def _number(problems, value, where, minimum=0, integer=False):
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise ValueError()
        number = int(value) if integer else float(value)
        if integer and float(value) != number:
            raise ValueError()
    except (TypeError, ValueError):
        problems.add('%s: %r is not a %s' % (where, value, 'whole number' if integer else 'number'))
        return None
    if number < minimum:
        problems.add('%s: %s must be at least %s' % (where, value, minimum))
        return None
    return number


def _network(problems, cluster, name):
    raw = cluster.get('network')
    if not isinstance(raw, dict):
        problems.add('network: required, a dict with at least cidr (for example {cidr: 10.250.0.0/24})')
        return None
    _unknown_keys(problems, raw, NETWORK_KEYS, 'network')
    net = {'name': raw.get('name') or '%s-net' % name, 'mode': raw.get('mode') or 'nat', 'domain': raw.get('domain'),
           'bridge': raw.get('bridge'), 'autostart': raw.get('autostart', True), 'mtu': raw.get('mtu')}
    if not NAME_RE.match(to_text(net['name'])):
        problems.add("network.name: invalid name %r; use only letters, digits, '.', '_' and '-'" % (net['name'],))
    if net['mode'] not in NETWORK_MODES:
        problems.add('network.mode: %r; use one of %s' % (net['mode'], ', '.join(NETWORK_MODES)))
    if net['domain'] is not None and not re.match(r'^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$', to_text(net['domain'])):
        problems.add('network.domain: invalid DNS domain %r' % (net['domain'],))
    try:
        subnet = ipaddress.IPv4Network(to_text(raw.get('cidr')).strip(), strict=False)
    except (ValueError, ipaddress.AddressValueError, ipaddress.NetmaskValueError):
        problems.add('network.cidr: %r is not an IPv4 subnet such as 10.250.0.0/24' % (raw.get('cidr'),))
        return None
    if '/' not in to_text(raw.get('cidr')) or subnet.prefixlen > 29:
        problems.add('network.cidr: %s is too small: give a prefix of at most /29' % (raw.get('cidr'),))
        return None
    net['cidr'] = str(subnet)
    net['prefix'] = subnet.prefixlen
    hosts = list(subnet.hosts())
    gateway = hosts[0]
    if raw.get('gateway'):
        try:
            gateway = ipaddress.IPv4Address(to_text(raw['gateway']).strip())
        except (ValueError, ipaddress.AddressValueError):
            problems.add('network.gateway: %r is not an IPv4 address' % (raw['gateway'],))
        if gateway not in hosts:
            problems.add('network.gateway: %s is outside the usable addresses of %s' % (gateway, subnet))
    net['gateway'] = str(gateway)
    net['address'] = '%s/%d' % (gateway, subnet.prefixlen)
    rng = raw.get('dhcp_range')
    if rng is None:
        # the upper half of the subnet; static addresses go below it
        start, end = hosts[len(hosts) // 2], hosts[-1]
    elif not isinstance(rng, dict) or not rng.get('start') or not rng.get('end'):
        problems.add('network.dhcp_range: a dict with start and end, got %r' % (rng,))
        start = end = None
    else:
        try:
            start = ipaddress.IPv4Address(to_text(rng['start']).strip())
            end = ipaddress.IPv4Address(to_text(rng['end']).strip())
        except (ValueError, ipaddress.AddressValueError):
            problems.add('network.dhcp_range: %s - %s are not IPv4 addresses' % (rng.get('start'), rng.get('end')))
            start = end = None
        if start is not None:
            for what, addr in (('start', start), ('end', end)):
                if addr not in hosts:
                    problems.add('network.dhcp_range.%s: %s is outside the usable addresses of %s' % (what, addr, subnet))
            if start > end:
                problems.add('network.dhcp_range: start %s is after end %s' % (start, end))
            elif start <= gateway <= end:
                problems.add('network.dhcp_range: %s - %s contains the gateway %s' % (start, end, gateway))
    net['subnet'] = subnet
    net['dhcp'] = (start, end) if start is not None else None
    net['dhcp_range'] = {'start': str(start), 'end': str(end)} if start is not None else None
    return net


def _ssh_keys(problems, cluster, options):
    keys = []
    for index, key in enumerate(_as_list(cluster.get('ssh_public_keys'))):
        text = to_text(key).strip()
        if not re.match(r'^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp\d+|sk-\S+) \S+', text):
            problems.add('ssh_public_keys[%d]: %r does not look like an OpenSSH public key' % (index, text[:40]))
        elif text not in keys:
            keys.append(text)
    for key in _as_list(options.get('extra_ssh_public_keys')):
        text = to_text(key).strip()
        if text and text not in keys:
            keys.append(text)
    if not keys and options.get('require_keys', True):
        problems.add('ssh_public_keys: give at least one public key (or ssh_private_key_file with key generation), '
                     'or nobody can log into the VMs')
    return keys


def _ca_certs(problems, cluster):
    certs = []
    for index, pem in enumerate(_as_list(cluster.get('ca_certificate'))):
        text = to_text(pem or '').strip()
        if not text:
            continue
        found = PEM_RE.findall(text)
        if not found:
            problems.add('ca_certificate[%d]: not a PEM certificate (-----BEGIN CERTIFICATE----- ...)' % index)
        certs.extend(found)
    return certs


def _startup_options(problems, cluster):
    raw = cluster.get('startup') or {}
    if not isinstance(raw, dict):
        problems.add('startup: must be a dict (%s)' % ', '.join(STARTUP_KEYS))
        raw = {}
    _unknown_keys(problems, raw, STARTUP_KEYS, 'startup')
    out = {
        'on_failure': raw.get('on_failure') or 'abort',
        'shutdown_mode': raw.get('shutdown_mode') or 'acpi',
        'timeout': _number(problems, raw.get('timeout', 600), 'startup.timeout', 1),
        'tier_timeout': _number(problems, raw.get('tier_timeout'), 'startup.tier_timeout', 1),
        'tier_delay': _number(problems, raw.get('tier_delay', 0), 'startup.tier_delay', 0),
        'grace': _number(problems, raw.get('grace', 60), 'startup.grace', 0),
    }
    if out['on_failure'] not in _startup.ON_FAILURE:
        problems.add('startup.on_failure: %r; use one of %s' % (out['on_failure'], ', '.join(_startup.ON_FAILURE)))
    if out['shutdown_mode'] not in _startup.SHUTDOWN_MODES:
        problems.add('startup.shutdown_mode: %r; use one of %s'
                     % (out['shutdown_mode'], ', '.join(_startup.SHUTDOWN_MODES)))
    return out


def _images(problems, image_map, labels):
    """label -> resolved image entry (None where it does not resolve)."""
    out = {}
    for label in labels:
        if label in out:
            continue
        out[label] = problems.guard(_imagemap.resolve_image, image_map, label)
    return out


def resolve_images(image_map, labels=None):
    """Resolved image entries of several labels (None or [] means the default label), each once."""
    problems = _Problems()
    labels = _as_list(labels) or [None]
    images = _images(problems, image_map, labels)
    if problems.items:
        raise StrataError('\n'.join(problems.items))
    out = []
    for label in labels:
        if images[label]['label'] not in [i['label'] for i in out]:
            out.append(images[label])
    return out


def _default_probes(user, key_file):
    if key_file:
        return [{'type': 'ssh', 'user': user, 'key_file': key_file}]
    return [{'type': 'ssh'}]


def problems(cluster, image_map, options=None):
    """Every problem of the definition (and, with options.host, of the host's memory), as messages."""
    return _build(cluster, image_map, options or {})[1]


def plan(cluster, image_map, options=None):
    """The resolved cluster; StrataError lists every problem, one per line."""
    result, found = _build(cluster, image_map, options or {})
    if found:
        raise StrataError('the cluster definition has %d problem%s:\n- %s'
                          % (len(found), '' if len(found) == 1 else 's', '\n- '.join(found)))
    return result


def _build(cluster, image_map, options):
    problems = _Problems()
    if not isinstance(cluster, dict):
        return None, ['the cluster definition must be a dict (strata_cluster), got %s' % type(cluster).__name__]
    _unknown_keys(problems, cluster, CLUSTER_KEYS, 'strata_cluster')
    name = to_text(cluster.get('name') or '')
    if not NAME_RE.match(name) or len(name) > MAX_CLUSTER_NAME:
        problems.add("name: invalid cluster name %r; 1 to %d letters, digits, '.', '_' and '-'"
                     % (cluster.get('name'), MAX_CLUSTER_NAME))
        name = name or 'cluster'
    virt_type = cluster.get('virt_type') or 'kvm'
    if virt_type not in VIRT_TYPES:
        problems.add('virt_type: %r; use one of %s' % (virt_type, ', '.join(VIRT_TYPES)))
    effective_type = virt_type
    if virt_type == 'auto':
        effective_type = options.get('virt_type') or 'auto'
    tb_cache = _number(problems, cluster.get('tcg_tb_cache'), 'tcg_tb_cache', 1, integer=True)
    prefix = cluster.get('domain_prefix')
    prefix = '%s-' % name if prefix is None else to_text(prefix)
    net = _network(problems, cluster, name)
    pool_raw = cluster.get('pool') or {}
    if not isinstance(pool_raw, dict):
        problems.add('pool: must be a dict (name, path)')
        pool_raw = {}
    _unknown_keys(problems, pool_raw, POOL_KEYS, 'pool')
    pool = {'name': pool_raw.get('name') or name, 'path': pool_raw.get('path') or '%s/%s' % (DEFAULT_POOL_DIR, name)}
    if not NAME_RE.match(to_text(pool['name'])):
        problems.add('pool.name: invalid name %r' % (pool['name'],))
    if not to_text(pool['path']).startswith('/'):
        problems.add('pool.path: %r must be an absolute path' % (pool['path'],))
    inventory_group = cluster.get('inventory_group') or group_name(name)
    if not GROUP_RE.match(to_text(inventory_group)):
        problems.add('inventory_group: %r is not a valid Ansible group name' % (inventory_group,))
    user = cluster.get('user')
    keys = _ssh_keys(problems, cluster, options)
    certs = _ca_certs(problems, cluster)
    packages = [to_text(p) for p in _as_list(cluster.get('packages'))]
    cluster_user_data = cluster.get('user_data') or {}
    if not isinstance(cluster_user_data, dict):
        problems.add('user_data: must be a dict of cloud-config keys (merged into every VM)')
        cluster_user_data = {}
    startup = _startup_options(problems, cluster)
    console_dir = to_text(cluster.get('console_log_dir') or DEFAULT_CONSOLE_LOG_DIR)
    if user is not None and not re.match(r'^[a-z_][a-z0-9_-]{0,31}$', to_text(user)):
        problems.add('user: %r is not a valid login name' % (user,))

    raw_vms = cluster.get('vms')
    if not isinstance(raw_vms, list) or not raw_vms:
        problems.add('vms: give at least one VM (a list of dicts with name and ip)')
        raw_vms = []
    labels = [cluster.get('image')] + [vm.get('image') for vm in raw_vms if isinstance(vm, dict) and vm.get('image')]
    images = _images(problems, image_map, labels)
    default_image = images.get(cluster.get('image'))
    if cluster.get('size') is not None:
        problems.guard(_imagemap.resolve_resources, image_map, size=cluster.get('size'), what='size')
    login_user = to_text(user or (default_image or {}).get('login_user') or DEFAULT_USER)

    vms = []
    seen = {'name': {}, 'ip': {}, 'mac': {}, 'domain': {}}
    for index, raw in enumerate(raw_vms):
        where = 'vms[%d]' % index
        if not isinstance(raw, dict):
            problems.add('%s: must be a dict with name and ip, got %r' % (where, raw))
            continue
        vm_name = to_text(raw.get('name') or '')
        if vm_name:
            where = "vms[%d] '%s'" % (index, vm_name)
        _unknown_keys(problems, raw, VM_KEYS, where)
        if not VM_NAME_RE.match(vm_name):
            problems.add("%s: invalid VM name %r; it is the guest's host name: lower-case letters, digits and '-'"
                         % (where, raw.get('name')))
        elif vm_name in seen['name']:
            problems.add("vms: the name '%s' is given twice (%s and %s)" % (vm_name, seen['name'][vm_name], where))
        seen['name'].setdefault(vm_name, where)
        domain = '%s%s' % (prefix, vm_name)
        if not NAME_RE.match(domain):
            problems.add("%s: domain name %r is invalid" % (where, domain))
        seen['domain'].setdefault(domain, where)
        # image and resources
        label = raw.get('image') or cluster.get('image')
        image = images.get(label)
        resources = None
        if image is not None:
            size = raw.get('size') if raw.get('size') is not None else cluster.get('size')
            vm_for_sizes = dict((k, raw.get(k)) for k in ('vcpus', 'memory', 'disk'))
            vm_for_sizes.update({'name': vm_name, 'image': label, 'size': size})
            resolved = problems.guard(_imagemap.resolve_vm, image_map, vm_for_sizes)
            if resolved is not None:
                resources = resolved['resources']
        # addresses
        ip = None
        if raw.get('ip') is None:
            problems.add('%s: ip is required (its static address, inside network.cidr)' % where)
        else:
            try:
                ip = ipaddress.IPv4Address(to_text(raw['ip']).strip())
            except (ValueError, ipaddress.AddressValueError):
                problems.add('%s: ip %r is not an IPv4 address' % (where, raw['ip']))
        if ip is not None and net is not None:
            subnet = net['subnet']
            if ip not in subnet or ip in (subnet.network_address, subnet.broadcast_address):
                problems.add('%s: ip %s is outside the usable addresses of network.cidr %s' % (where, ip, subnet))
            elif str(ip) == net['gateway']:
                problems.add("%s: ip %s is the network's gateway (the hypervisor's address)" % (where, ip))
            elif net['dhcp'] and net['dhcp'][0] <= ip <= net['dhcp'][1]:
                problems.add('%s: ip %s is inside the DHCP range %s - %s; a static address must be outside it'
                             % (where, ip, net['dhcp'][0], net['dhcp'][1]))
        if ip is not None:
            if str(ip) in seen['ip']:
                problems.add('vms: ip %s is given twice (%s and %s)' % (ip, seen['ip'][str(ip)], where))
            seen['ip'].setdefault(str(ip), where)
        mac = raw.get('mac')
        if mac is None:
            mac = derive_mac(name, vm_name)
        else:
            mac = to_text(mac).strip().lower()
            if not MAC_RE.match(mac):
                problems.add('%s: mac %r is not a MAC address such as 52:54:00:12:34:56' % (where, raw['mac']))
            elif int(mac[:2], 16) & 1:
                problems.add('%s: mac %s is a multicast address' % (where, mac))
        if mac in seen['mac'] and not (raw.get('mac') is None and seen['mac'][mac][1] == vm_name):
            # (a duplicate name derives a duplicate MAC: that is reported once, as the name)
            problems.add('vms: mac %s is used twice (%s and %s)%s' % (
                mac, seen['mac'][mac][0], where, '' if raw.get('mac') else ' (derived from the names: set mac on one)'))
        seen['mac'].setdefault(mac, (where, vm_name))
        # ordering, probes, timings
        tier = raw.get('tier')
        after = raw.get('after')
        if tier is not None and after:
            problems.add('%s: give either tier or after, not both' % where)
        if tier is not None:
            tier = _number(problems, tier, '%s: tier' % where, 0, integer=True)
        if after is not None:
            after = _as_list(after)
            if not all(isinstance(a, str) for a in after):
                problems.add('%s: after must be a list of VM names' % where)
                after = []
        probes_raw = raw.get('probes')
        if probes_raw is None:
            probes_raw = cluster.get('default_probes')
        if probes_raw is None:
            probes = _default_probes(login_user, options.get('probe_key_file'))
        elif not isinstance(probes_raw, list):
            problems.add('%s: probes must be a list' % where)
            probes = []
        else:
            probes = [dict(p) if isinstance(p, dict) else p for p in probes_raw]
            for pindex, probe in enumerate(probes):
                problems.guard(_probes.validate, probe, '%s: probes[%d]' % (where, pindex))
                if isinstance(probe, dict) and probe.get('type') in ('ssh', 'cloud_init') and probe.get('user') \
                        and not probe.get('key_file') and options.get('probe_key_file'):
                    probe['key_file'] = options['probe_key_file']
        timeout = _number(problems, raw.get('timeout'), '%s: timeout' % where, 1)
        grace = _number(problems, raw.get('grace'), '%s: grace' % where, 0)
        vm_user_data = raw.get('user_data') or {}
        if not isinstance(vm_user_data, dict):
            problems.add('%s: user_data must be a dict of cloud-config keys' % where)
            vm_user_data = {}
        groups = [to_text(g) for g in _as_list(raw.get('groups'))]
        for group in groups:
            if not GROUP_RE.match(group):
                problems.add('%s: group %r is not a valid Ansible group name' % (where, group))
        vm_tb = _number(problems, raw.get('tcg_tb_cache'), '%s: tcg_tb_cache' % where, 1, integer=True)
        memory_mib = resources['memory_mib'] if resources else None
        if vm_tb is None:
            vm_tb = tb_cache if tb_cache is not None else (64 if memory_mib is not None and memory_mib < 512 else 128)
        fqdn = '%s.%s' % (vm_name, net['domain']) if net and net.get('domain') else None
        vms.append({
            'name': vm_name,
            'domain': domain,
            'hostname': vm_name,
            'fqdn': fqdn,
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
            'console_log': '%s/%s-console.log' % (console_dir.rstrip('/'), domain),
            'user_data': _merge(cluster_user_data, vm_user_data),
            'groups': groups,
            '_tier': tier,
            '_after': after,
            'probes': probes,
            'timeout': timeout,
            'grace': grace,
        })

    # the dependency graph, with the startup engine's own rules (after names are VM names here)
    names = [vm['name'] for vm in vms]
    graph = None
    bad_after = False
    for vm in vms:
        for other in vm['_after'] or []:
            if other not in names:
                problems.add("vms '%s': after names unknown VM '%s' (VMs: %s)" % (vm['name'], other, ', '.join(names)))
                bad_after = True
            elif other == vm['name']:
                problems.add("vms '%s': after names the VM itself" % vm['name'])
                bad_after = True
    if not bad_after and vms and len(set(names)) == len(names):
        graph = problems.guard(_startup.build_graph, [
            {'name': vm['name'], 'after': vm['_after'] or [],
             'tier': vm['_tier'] if (vm['_tier'] is not None or vm['_after']) else 0} for vm in vms])
    by_name = dict((vm['name'], vm) for vm in vms)
    tiers = []
    if graph is not None:
        for index, members in enumerate(graph['tiers']):
            tiers.append({'tier': index, 'vms': [by_name[n]['domain'] for n in members], 'names': list(members)})
            for member in members:
                by_name[member]['tier'] = index
    startup_vms = []
    for vm in vms:
        entry = {'name': vm['domain'], 'probes': vm['probes'], 'address': vm['ip']}
        if vm['_after']:
            entry['after'] = ['%s%s' % (prefix, a) for a in vm['_after']]
        else:
            entry['tier'] = vm['_tier'] if vm['_tier'] is not None else 0
        if vm['timeout'] is not None:
            entry['timeout'] = vm['timeout']
        if vm['grace'] is not None:
            entry['grace'] = vm['grace']
        startup_vms.append(entry)
        vm['after'] = list(vm.pop('_after') or [])
        vm.pop('_tier')
        vm.setdefault('tier', None)

    # the host: memory beyond what it has
    host = options.get('host') or {}
    total = sum(vm['memory_mib'] or 0 for vm in vms)
    if host.get('memory_total_mib'):
        if total > int(host['memory_total_mib']):
            problems.add('memory: the VMs ask for %d MiB in all, more than the host has (%d MiB)'
                         % (total, int(host['memory_total_mib'])))
        elif host.get('memory_available_mib') is not None:
            running = set(host.get('running') or [])
            needed = sum(vm['memory_mib'] or 0 for vm in vms if vm['domain'] not in running)
            if needed > int(host['memory_available_mib']):
                problems.add('memory: the VMs not yet running need %d MiB, the host has %d MiB available'
                             % (needed, int(host['memory_available_mib'])))

    base_volumes = []
    for label in labels:
        image = images.get(label)
        if image and image['label'] not in [b['label'] for b in base_volumes]:
            base_volumes.append(dict(image, volume=image['file_name']))
    result = {
        'name': name,
        'uri': cluster.get('uri') or None,
        'virt_type': virt_type,
        'type': effective_type,
        'machine': to_text(cluster.get('machine') or 'q35'),
        'domain_prefix': prefix,
        'inventory_group': inventory_group,
        'pool': pool,
        'images': base_volumes,
        'network': dict((k, v) for k, v in (net or {}).items() if k not in ('subnet', 'dhcp')),
        'user': login_user,
        'ssh_public_keys': keys,
        'ssh_private_key_file': cluster.get('ssh_private_key_file'),
        'ca_certs': certs,
        'packages': packages,
        'autostart': bool(cluster.get('autostart', False)),
        'startup': startup,
        'tiers': tiers,
        'startup_vms': startup_vms,
        'vms': vms,
        'memory_mib': total,
        'disk_bytes': sum(vm['disk_bytes'] or 0 for vm in vms),
        'network_hosts': [{'name': vm['name'], 'mac': vm['mac'], 'ip': vm['ip']} for vm in vms],
    }
    return result, problems.items


def stop_vms(cluster_plan, present=None):
    """The startup engine's VM list for the reverse-order shutdown of the VMs in `present` (domain names).

    Dependencies become tier numbers (the plan's levels), so VMs that are gone do not break the graph.
    """
    present = None if present is None else set(present)
    out = []
    for vm in cluster_plan.get('vms') or []:
        if present is not None and vm['domain'] not in present:
            continue
        entry = {'name': vm['domain'], 'tier': vm.get('tier') or 0}
        if vm.get('grace') is not None:
            entry['grace'] = vm['grace']
        out.append(entry)
    return out


VM_ITEM_KINDS = ('volume', 'seed', 'domain')


def vm_items(cluster_plan, kind):
    """The per-VM options of the cluster role's one task per kind: the O(items) of strata.libvirt.volume
    (V(volume)), cloud_init (V(seed)) and domain (V(domain)). What every VM shares stays in the task."""
    if kind not in VM_ITEM_KINDS:
        raise StrataError('cluster_vm_items: kind must be one of %s, not %r' % (', '.join(VM_ITEM_KINDS), kind))
    pool = cluster_plan['pool']['name']
    out = []
    for vm in cluster_plan.get('vms') or []:
        if kind == 'volume':
            item = {'name': vm['volume'], 'backing_volume': vm['base_volume'], 'capacity': str(vm['disk_bytes'])}
        elif kind == 'seed':
            item = {'volume': vm['seed_volume'], 'hostname': vm['hostname']}
            if vm.get('fqdn'):
                item['fqdn'] = vm['fqdn']
            if vm.get('user_data'):
                item['user_data'] = vm['user_data']
        else:
            grace = vm['grace'] if vm.get('grace') is not None else cluster_plan['startup']['grace']
            item = {'name': vm['domain'], 'memory': vm['memory_mib'], 'vcpus': vm['vcpus'],
                    # the seed as a read-only virtio disk: cloud kernels (the lab image's too) may lack SATA/AHCI drivers
                    'disks': [{'volume': '%s/%s' % (pool, vm['volume'])},
                              {'volume': '%s/%s' % (pool, vm['seed_volume']), 'bus': 'virtio', 'format': 'raw',
                               'readonly': True}],
                    'interfaces': [{'network': cluster_plan['network']['name'], 'mac': vm['mac']}],
                    'console_log': vm['console_log'], 'shutdown_timeout': int(grace)}
            if cluster_plan.get('type') == 'qemu':
                item['tcg_tb_cache'] = vm['tcg_tb_cache']
        out.append(item)
    return out


# --------------------------------------------------------------------------------------------------
# the summary table

def _parse_at(text):
    try:
        return datetime.datetime.strptime(to_text(text), '%Y-%m-%dT%H:%M:%S.%fZ')
    except (TypeError, ValueError):
        return None


def _human_mib(mib):
    if mib is None:
        return '-'
    if mib >= 1024 and mib % 1024 == 0:
        return '%d GiB' % (mib // 1024)
    return '%d MiB' % mib


def summary(cluster_plan, startup_results=None, check_mode=False):
    """The table printed at the end of a provision: name, tier, IP, vCPUs, memory, state, ready after N s.

    startup_results: the registered results of the per-tier strata.libvirt.startup tasks (a loop's
    `results` list or single results). 'ready after' counts from the start of the first tier.
    """
    per_vm = {}
    began = []
    for result in _as_list(startup_results):
        if not isinstance(result, dict):
            continue
        if result.get('run_started_at'):
            when = _parse_at(result['run_started_at'])
            if when is not None:
                began.append(when)
        ran = set()
        for tier in result.get('tiers') or []:
            if isinstance(tier, dict):
                ran.update(v if not isinstance(v, dict) else v.get('name') for v in tier.get('vms') or [])
        for domain, info in (result.get('vms') or {}).items():
            # a per-tier task reports the other tiers' VMs as 'not started': keep what their own tier said
            if ran and domain not in ran:
                continue
            if domain in per_vm and (info or {}).get('status') == 'not started':
                continue
            per_vm[domain] = info
    origin = min(began) if began else None
    rows = [('NAME', 'TIER', 'IP', 'VCPUS', 'MEMORY', 'STATE', 'READY')]
    for vm in cluster_plan.get('vms') or []:
        info = per_vm.get(vm['domain']) or {}
        state = info.get('status') or ('planned' if check_mode else 'unknown')
        ready = '-'
        if info.get('action') == 'start' or info.get('status') == 'ready':
            ready_events = [e for e in info.get('timeline') or [] if e.get('event') == 'ready']
            if ready_events and info.get('action') == 'start' and origin is not None:
                at = _parse_at(ready_events[0].get('at'))
                ready = 'after %.0f s' % (at - origin).total_seconds() if at is not None else '-'
            elif info.get('action') != 'start' and info.get('status') == 'ready':
                ready = 'already running'
        if check_mode:
            state = {'start': 'would start', 'none': 'running'}.get(info.get('action'), state)
        rows.append((vm['name'], '%s' % vm.get('tier'), vm.get('ip') or '-', '%s' % (vm.get('vcpus') or '-'),
                     _human_mib(vm.get('memory_mib')), state, ready))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ['  '.join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, '  '.join('-' * w for w in widths))
    return lines

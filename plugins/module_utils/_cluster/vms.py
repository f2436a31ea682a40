# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The VMs of a cluster definition, each resolved: names, image and resources, address and MAC, ordering
keys, probes, timings, cloud-config; every problem added to the shared Problems list.

Private to strata.libvirt; no compatibility promise.
"""

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.strata.libvirt.plugins.module_utils import _imagemap
from ansible_collections.strata.libvirt.plugins.module_utils import _probes
from ansible_collections.strata.libvirt.plugins.module_utils import _validate
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import definition as d
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import nics as _nics
from ansible_collections.strata.libvirt.plugins.module_utils._domain.settings import pci_address
from ansible_collections.strata.libvirt.plugins.module_utils._domain.spec import CPU_MODES, DISK_BUSES, DISK_FORMATS
from ansible_collections.strata.libvirt.plugins.module_utils._seed.render import merge


def default_probes(user, key_file):
    """The probes of a VM that has none: an SSH login with the cluster's key (a banner without a key)."""
    if key_file:
        return [{'type': 'ssh', 'user': user, 'key_file': key_file}]
    return [{'type': 'ssh'}]


class Scope(object):
    """What every VM of the definition shares while it is resolved."""

    def __init__(self, problems, cluster, image_map, options, name, prefix, nets, images, login_user, tb_cache,
                 console_dir, user_data, pool):
        self.problems = problems
        self.cluster = cluster
        self.image_map = image_map
        self.options = options
        self.name = name
        self.prefix = prefix
        self.nets = nets
        self.pool = pool
        self.machine = machine_settings(problems, cluster, 'strata_cluster')
        self.images = images
        self.login_user = login_user
        self.tb_cache = tb_cache
        self.console_dir = console_dir
        self.user_data = user_data
        self.seen = {'name': {}, 'ip': {}, 'mac': {}, 'hostdev': {}}


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
    own = machine_settings(problems, raw, where, scope.machine)
    _hostdevs_once(scope, own['hostdevs'], where)
    nics, primary = _nics.resolve(scope, raw, vm_name, where, own['connection'])
    ip = nics[primary]['ip'] if primary is not None else None
    tier, after = _order(problems, raw, where)
    memory_mib = resources['memory_mib'] if resources else None
    vm_tb = d.number(problems, raw.get('tcg_tb_cache'), '%s: tcg_tb_cache' % where, 1, integer=True)
    if vm_tb is None:
        vm_tb = scope.tb_cache if scope.tb_cache is not None else (
            d.DEFAULTS['tcg_tb_cache_small'] if memory_mib is not None and memory_mib < 512 else d.DEFAULTS['tcg_tb_cache'])
    net = dict((n['name'], n) for n in scope.nets).get(nics[primary]['network']) if primary is not None else None
    return dict(own, **{
        'name': vm_name,
        'domain': domain,
        'hostname': vm_name,
        'fqdn': '%s.%s' % (vm_name, net['domain']) if net and net.get('domain') else None,
        'ip': ip,
        'mac': nics[0]['mac'] if nics else None,
        'nics': nics,
        'network_config': _nics.network_config(nics) if nics else None,
        'data_disks': _data_disks(scope, raw, domain, where),
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
        'probes': _vm_probes(scope, raw, where, own['connection']),
        'timeout': d.number(problems, raw.get('timeout'), '%s: timeout' % where, 1),
        'grace': d.number(problems, raw.get('grace'), '%s: grace' % where, 0),
        'host': to_text(raw['host']) if raw.get('host') is not None else None,
    })


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


def _vm_probes(scope, raw, where, connection):
    problems, key_file = scope.problems, scope.options.get('probe_key_file')
    probes_raw = raw.get('probes')
    if probes_raw is None:
        probes_raw = scope.cluster.get('default_probes')
    if probes_raw is None:
        # a VM reached through its guest agent is ready when the agent answers (it may have no address to log into)
        return [{'type': 'agent'}] if connection == 'libvirt_qemu' else default_probes(scope.login_user, key_file)
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


def machine_settings(problems, raw, where, inherited=None):
    """firmware, cpu, hostdevs and connection of the cluster (inherited None) or of a VM (over the cluster's)."""
    inherited = inherited or {'firmware': d.DEFAULTS['firmware'], 'secure_boot': d.DEFAULTS['secure_boot'], 'cpu': None,
                              'hostdevs': [], 'connection': d.DEFAULTS['connection']}
    out = dict(inherited)
    prefix = '' if where == 'strata_cluster' else '%s: ' % where
    if raw.get('firmware') is not None:
        if raw['firmware'] not in d.FIRMWARES:
            problems.add('%sfirmware: %r; use one of %s' % (prefix, raw['firmware'], ', '.join(d.FIRMWARES)))
        else:
            out['firmware'] = raw['firmware']
    out['secure_boot'] = d.flag(problems, raw.get('secure_boot'), '%ssecure_boot' % prefix, out['secure_boot'])
    if where != 'strata_cluster' and out['secure_boot'] and out['firmware'] != 'uefi' and \
            (raw.get('secure_boot') is not None or raw.get('firmware') is not None):
        problems.add('%ssecure_boot: needs firmware uefi (the VM has firmware %s)' % (prefix, out['firmware']))
    if raw.get('connection') is not None:
        if raw['connection'] not in d.CONNECTIONS:
            problems.add('%sconnection: %r; use one of %s' % (prefix, raw['connection'], ', '.join(d.CONNECTIONS)))
        else:
            out['connection'] = raw['connection']
    if raw.get('cpu') is not None:
        out['cpu'] = _cpu(problems, raw['cpu'], '%scpu' % prefix)
    if raw.get('hostdevs') is not None:
        if where == 'strata_cluster':
            problems.add('hostdevs: a PCI device goes to one VM: give hostdevs on the VM')
        else:
            out['hostdevs'] = _hostdevs(problems, raw['hostdevs'], '%shostdevs' % prefix)
    return out


def _cpu(problems, value, where):
    if not isinstance(value, dict):
        problems.add('%s: a dict (%s), got %r' % (where, ', '.join(d.CPU_KEYS), value))
        return None
    d.unknown_keys(problems, value, d.CPU_KEYS, where)
    out = {}
    if value.get('mode') is not None:
        if value['mode'] not in CPU_MODES:
            problems.add('%s.mode: %r; use one of %s' % (where, value['mode'], ', '.join(CPU_MODES)))
        else:
            out['mode'] = value['mode']
    if value.get('model') is not None:
        out['model'] = d.label(problems, value['model'], '%s.model' % where)
    for key in ('sockets', 'cores', 'threads'):
        if value.get(key) is not None:
            number = d.number(problems, value[key], '%s.%s' % (where, key), 1, integer=True)
            if number is not None:
                out[key] = number
    return out


def _hostdevs(problems, value, where):
    out = []
    for index, entry in enumerate(d.as_list(value)):
        address = pci_address(to_text(entry))
        if address is None:
            problems.add("%s[%d]: %r is not a PCI address such as '0000:03:00.0'" % (where, index, entry))
        elif address in out:
            problems.add('%s[%d]: %s is given twice' % (where, index, address))
        else:
            out.append(address)
    return out


def _hostdevs_once(scope, hostdevs, where):
    """A PCI device goes to one VM only: the second VM that names it is a problem naming both."""
    seen = scope.seen['hostdev']
    for address in hostdevs:
        if address in seen:
            scope.problems.add('vms: hostdev %s is used twice (%s and %s): a PCI device goes to one VM only'
                               % (address, seen[address], where))
        seen.setdefault(address, where)


def _data_disks(scope, raw, domain, where):
    """The VM's extra disks: owned volumes of their own, removed with the VM."""
    value = raw.get('disks')
    if value is None:
        return []
    if not isinstance(value, list):
        scope.problems.add('%s: disks must be a list of data disks, each a dict with size' % where)
        return []
    out = []
    for index, entry in enumerate(value):
        here = '%s: disks[%d]' % (where, index)
        if not isinstance(entry, dict) or entry.get('size') is None:
            scope.problems.add('%s: a dict with size (such as 10G), got %r' % (here, entry))
            continue
        d.unknown_keys(scope.problems, entry, d.DISK_KEYS, here)
        size = scope.problems.guard(_validate.size, entry['size'], 'size', '%s.size' % here)
        fmt = entry.get('format') or d.DEFAULTS['volume_format']
        if fmt not in DISK_FORMATS:
            scope.problems.add('%s.format: %r; use one of %s' % (here, fmt, ', '.join(DISK_FORMATS)))
        bus = entry.get('bus') or d.DEFAULTS['data_disk_bus']
        if bus not in DISK_BUSES:
            scope.problems.add('%s.bus: %r; use one of %s' % (here, bus, ', '.join(DISK_BUSES)))
        elif bus == 'ide' and 'q35' in to_text(scope.cluster.get('machine') or d.DEFAULTS['machine']):
            scope.problems.add('%s.bus: ide; machine type q35 has no IDE controller (use virtio, sata or scsi)' % here)
        pool = to_text(entry.get('pool') or scope.pool)
        if not d.NAME_RE.match(pool):
            scope.problems.add('%s.pool: invalid pool name %r' % (here, pool))
        out.append({'volume': '%s-data%d.%s' % (domain, index + 1, 'img' if fmt == 'raw' else 'qcow2'), 'pool': pool,
                    'capacity': size, 'format': fmt, 'bus': bus})
    return out

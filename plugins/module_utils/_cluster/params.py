# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The options the cluster role hands to each module, derived from the plan, and their check with each module's
own argument spec and desired-state code.

    module_params(plan) -> {'pool': {...}, 'networks': {..., 'items': [...]}, 'external_networks': [{...}],
                            'volumes': {..., 'items': [...]},
                            'seeds': {...}, 'domains': {...}, 'startup': {...}, 'cluster_info': {...}}
    check(params)       -> problems, one line each ([] when every module would accept its options)

Each entry is exactly a module call's options (the role passes it with `args:`); the role adds only what is not
part of the definition (the startup's state and log file, the domains' autostart and restart).

Private to strata.libvirt; no compatibility promise.
"""

import copy

from ansible_collections.strata.libvirt.plugins.module_utils import _cluster_scan
from ansible_collections.strata.libvirt.plugins.module_utils import _spec_check
from ansible_collections.strata.libvirt.plugins.module_utils import _network
from ansible_collections.strata.libvirt.plugins.module_utils import _pool
from ansible_collections.strata.libvirt.plugins.module_utils import _volume
from ansible_collections.strata.libvirt.plugins.module_utils._startup import spec as _startup
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import definition as d
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import nics as _nics
from ansible_collections.strata.libvirt.plugins.module_utils._domain import spec as _domain_spec
from ansible_collections.strata.libvirt.plugins.module_utils._seed import spec as _seed_spec

# the module behind each entry: (module name, its argument spec, constraints, desired_from_params)
MODULES = {
    'pool': ('pool', _pool.argument_spec, _pool.CONSTRAINTS, _pool.desired_from_params),
    'networks': ('network', _network.argument_spec, _network.CONSTRAINTS, _network.desired_from_params),
    'volumes': ('volume', _volume.argument_spec, _volume.CONSTRAINTS, _volume.desired_from_params),
    'seeds': ('cloud_init', _seed_spec.argument_spec, _seed_spec.CONSTRAINTS, _seed_spec.desired_from_params),
    'domains': ('domain', _domain_spec.argument_spec, _domain_spec.CONSTRAINTS, _domain_spec.desired_from_params),
    'startup': ('startup', _startup.argument_spec, _startup.CONSTRAINTS, _startup.desired_from_params),
    'cluster_info': ('cluster_info', _cluster_scan.argument_spec, _cluster_scan.CONSTRAINTS, _cluster_scan.desired_from_params),
}
# options the role adds to these entries at run time (validated here with a stand-in value of the right type)
ROLE_ADDS = {
    'domains': {'autostart': False, 'restart': False},
    'startup': {'state': 'started', 'log_file': '/var/log/strata-libvirt-startup.log'},
}


def _with_uri(plan, options):
    if plan.get('uri'):
        options['uri'] = plan['uri']
    return options


def _optional(options, **values):
    """options with the values that are set (not None, empty or 0: those leave the module's default)."""
    for key, value in values.items():
        if value:
            options[key] = value
    return options


def _network_item(net):
    """The network module's item of a network of ours."""
    item = {'name': net['name'], 'autostart': bool(net['autostart']), 'forward': net['mode']}
    if net['host_address']:
        item.update(address=net['address'], dhcp_range=net['dhcp_range'], hosts=net['hosts'])
    return _optional(item, domain=net.get('domain'), bridge=net.get('bridge'), mtu=net.get('mtu'))


def module_params(plan):
    """The options of every module the cluster role runs (domains: None while the virtualisation type is open)."""
    cluster, pool = plan['name'], plan['pool']
    nets = plan.get('networks') or []
    ours = [net for net in nets if net['kind'] == 'ours']
    out = {
        'pool': _with_uri(plan, {'name': pool['name'], 'path': pool['path'], 'mode': d.DEFAULTS['pool_mode'],
                                 'state': 'running', 'autostart': True, 'cluster': cluster}),
        # the networks of ours, in one run; the external libvirt networks to start (never changed otherwise)
        'networks': _with_uri(plan, {'state': 'running', 'cluster': cluster, 'items': [_network_item(net) for net in ours]})
        if ours else None,
        'external_networks': [_with_uri(plan, {'name': net['name'], 'state': 'running', 'autostart': True, 'external': True})
                              for net in nets if net['kind'] == 'network' and net['ensure_active']],
        'volumes': _with_uri(plan, {'pool': pool['name'], 'format': d.DEFAULTS['volume_format'], 'cluster': cluster,
                                    'items': [{'name': vm['volume'], 'backing_volume': vm['base_volume'],
                                               'capacity': str(vm['disk_bytes'])} for vm in plan['vms']]
                                    + [{'name': disk['volume'], 'pool': disk['pool'], 'capacity': str(disk['capacity']),
                                        'format': disk['format']}
                                       for vm in plan['vms'] for disk in vm.get('data_disks') or []]}),
        'seeds': _with_uri(plan, _optional(
            {'pool': pool['name'], 'user': plan['user'], 'ssh_authorized_keys': plan['ssh_public_keys'],
             'ssh_genkeytypes': list(d.DEFAULTS['seed_key_types']), 'locale': d.DEFAULTS['seed_locale'],
             'cluster': cluster, 'items': [_optional({'volume': vm['seed_volume'], 'hostname': vm['hostname']},
                                                     fqdn=vm.get('fqdn'), user_data=vm.get('user_data'),
                                                     network_config=vm.get('network_config'))
                                           for vm in plan['vms']]},
            ca_certs=plan['ca_certs'], packages=plan['packages'])),
        'domains': None,
        'startup': _with_uri(plan, _optional(
            {'vms': copy.deepcopy(plan['startup_vms']), 'on_failure': plan['startup']['on_failure'],
             'timeout': plan['startup']['timeout'], 'tier_delay': plan['startup']['tier_delay'],
             'grace': plan['startup']['grace'], 'shutdown_mode': plan['startup']['shutdown_mode'],
             'start_retries': plan['startup']['start_retries'], 'start_backoff': plan['startup']['start_backoff'],
             'restart_on_timeout': plan['startup']['restart_on_timeout'], 'start_delay': plan['startup']['start_delay'],
             'watch': plan['startup']['watch']},
            tier_timeout=plan['startup'].get('tier_timeout'), max_parallel=plan['startup'].get('max_parallel'),
            limits=plan['startup'].get('limits'))),
        # every name the cluster uses, looked up for objects that are not ours before the first change
        'cluster_info': _with_uri(plan, _optional({
            'cluster': cluster, 'pool': pool['name'],
            'volumes': ([name for vm in plan['vms'] for name in (vm['volume'], vm['seed_volume'])]
                        + [disk['volume'] for vm in plan['vms'] for disk in vm.get('data_disks') or []
                           if disk['pool'] == pool['name']]
                        + [image['volume'] for image in plan.get('images') or []]),
            'domains': [vm['domain'] for vm in plan['vms']]}, networks=[net['name'] for net in ours])),
    }
    if plan.get('type') in ('kvm', 'qemu'):
        out['domains'] = _with_uri(plan, {
            'state': 'present', 'type': plan['type'], 'machine': plan['machine'], 'serial_console': True,
            'guest_agent': True, 'rng': True, 'cluster': cluster,
            'items': [_domain_item(plan, vm) for vm in plan['vms']]})
    return out


def _domain_item(plan, vm):
    pool = plan['pool']['name']
    grace = vm['grace'] if vm.get('grace') is not None else plan['startup']['grace']
    item = {'name': vm['domain'], 'memory': vm['memory_mib'], 'vcpus': vm['vcpus'],
            # the seed as a read-only virtio disk: cloud kernels (the lab image's too) may lack SATA/AHCI drivers
            'disks': [{'volume': '%s/%s' % (pool, vm['volume'])},
                      {'volume': '%s/%s' % (pool, vm['seed_volume']), 'bus': 'virtio', 'format': 'raw', 'readonly': True}]
            + [{'volume': '%s/%s' % (disk['pool'], disk['volume']), 'bus': disk['bus'], 'format': disk['format']}
               for disk in vm.get('data_disks') or []],
            'interfaces': _nics.interfaces(plan.get('networks') or [], vm['nics']),
            'console_log': vm['console_log'], 'shutdown_timeout': int(grace)}
    if plan.get('type') == 'qemu':
        item['tcg_tb_cache'] = vm['tcg_tb_cache']
    cpu = dict(vm.get('cpu') or {})
    if not cpu.get('mode') and not cpu.get('model'):
        if d.DEFAULTS['cpu_mode'].get(plan.get('type')):
            cpu['mode'] = d.DEFAULTS['cpu_mode'][plan['type']]
        elif cpu:
            # a topology alone under TCG: QEMU's default model, named (the domain module's default would be host-model)
            cpu.update(mode='custom', model=d.DEFAULTS['tcg_cpu_model'])
    if cpu:
        item['cpu'] = cpu
    if vm.get('firmware') == 'uefi':
        item['firmware'] = 'uefi'
        item['secure_boot'] = bool(vm.get('secure_boot'))
    if vm.get('hostdevs'):
        item['hostdevs'] = list(vm['hostdevs'])
    return item


def check(module_options):
    """Every problem the modules would find in their options, one line each, naming the module (and the item)."""
    problems = []
    for index, options in enumerate(module_options.get('external_networks') or []):
        name, spec, constraints, desired = MODULES['networks']
        problems.extend(_spec_check.problems(spec(), constraints, copy.deepcopy(options), desired,
                                             'module network, external network %d: ' % index))
    for key in ('pool', 'networks', 'volumes', 'seeds', 'domains', 'startup', 'cluster_info'):
        options = module_options.get(key)
        if options is None:
            continue
        name, spec, constraints, desired = MODULES[key]
        options = dict(copy.deepcopy(options), **ROLE_ADDS.get(key, {}))
        items = options.pop('items', None)
        if items is None:
            problems.extend(_spec_check.problems(spec(), constraints, options, desired, 'module %s: ' % name))
            continue
        for index, item in enumerate(items):
            merged = dict(copy.deepcopy(options), **item)
            problems.extend(_spec_check.problems(spec(), constraints, merged, desired,
                                                 'module %s, items[%d]: ' % (name, index)))
    return problems

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cluster plan: the definition validated (every problem at once) and resolved into everything the roles
need, built once per play and host by the strata.libvirt.cluster_plan filter.

    build(cluster, image_map, options)  -> the plan; plan['problems'] lists every problem ([] when sound)
    problems(cluster, image_map, options) -> the problems alone
    set_virt_type(plan, virt_type)      -> the plan with the virtualisation type decided (cluster says auto)

`options` (all optional): `hosts` (the inventory names of the hypervisors the cluster is placed over; with more
than one, or a VM's `host:`, the cluster is placed: _cluster/placed), `placement` ({VM: host}, decided) with
`host_name` (this hypervisor: the plan is then this host's part of the cluster), `extra_ssh_public_keys`,
`require_keys` (default true: no key at all is one of the problems; false: it is only in plan['key_problems']),
`probe_key_file` (private key on the hypervisor for the default SSH login probe), `virt_type` (the host's choice
when the cluster says auto), `startup_log` (the startup log's path), `host` ({memory_total_mib,
memory_available_mib, running}) for the memory checks, `inputs_digest` (kept in the plan: what the roles compare to
know whether a plan of this play is still current).

The plan carries the options of every module the roles run (plan['params']), each checked with that module's own
argument spec and desired-state code (plan['params_problems']; while the virtualisation type is open, the domains
are checked as TCG domains, which have every option a KVM domain has), so "checked before any change" means what
the modules accept. plan['problems'] holds the definition's own problems and those, each once.

The key pair of ssh_private_key_file is looked at where the filter runs, on the controller (_cluster/keyfile): one
that is there but unusable, or missing where it cannot be made, is in plan['key_file_problems'] and plan['problems'].

Private to strata.libvirt; no compatibility promise.
"""

import copy
import ipaddress

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _imagemap
from ansible_collections.strata.libvirt.plugins.module_utils._startup import graph as _startup_graph
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import definition as d
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import host
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import keyfile
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import networks as _networks
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import params
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import segments as _segments
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import placed as _placed
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import placement as _placement
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import smoke as _smoke
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import vms as _vms
from ansible_collections.strata.libvirt.plugins.module_utils._image import cache as _image_cache


def problems(cluster, image_map, options=None):
    """Every problem of the definition (and, with options.host, of the host's memory), as messages."""
    return build(cluster, image_map, options)['problems']


def _images(problems, image_map, labels):
    """label -> resolved image entry (None where it does not resolve)."""
    out = {}
    for label in labels:
        if label not in out:
            out[label] = problems.guard(_imagemap.resolve_image, image_map, label)
    return out


def resolve_images(image_map, labels=None, cache_dir=None):
    """Resolved image entries of several labels (None or [] means the default label), each once, with the paths
    of their cache file and its verification record (sidecar) under cache_dir."""
    found = d.Problems()
    labels = d.as_list(labels) or [None]
    images = _images(found, image_map, labels)
    if found.items:
        raise StrataError('\n'.join(found.items))
    out = []
    for label in labels:
        if images[label]['label'] not in [i['label'] for i in out]:
            out.append(_with_paths(images[label], cache_dir))
    return out


def image_options(entries, pool=None, cluster=None, uri=None, retries=None, timeout=None):
    """The strata.libvirt.image options of each resolved entry (resolve_images): fetch and verify the image into its
    cache file and, with pool, import it into that pool as its base volume (named as the cache file, the entry's
    volume). Empty values are left out (the module's defaults)."""
    out = []
    for entry in entries:
        options = {'source': entry['source'], 'checksum': entry['checksum'], 'decompress': entry['decompress'],
                   'dest': entry['cache_file']}
        for key, value in (('format', entry.get('format')), ('pool', pool), ('cluster', cluster), ('uri', uri),
                           ('retries', retries), ('timeout', timeout)):
            if value is not None and value != '':
                options[key] = value
        out.append(options)
    return out


def _with_paths(image, cache_dir=None):
    entry = dict(image, volume=image['file_name'])
    entry['cache_file'] = '%s/%s' % ((cache_dir or _image_cache.DEFAULT_CACHE_DIR).rstrip('/'), image['file_name'])
    entry['sidecar_file'] = _image_cache.sidecar_path(entry['cache_file'])
    return entry


def _top(found, cluster, options):
    """The cluster-wide part of the plan (without the VMs)."""
    d.unknown_keys(found, cluster, d.CLUSTER_KEYS, 'strata_cluster')
    name = to_text(cluster.get('name') or '')
    if not d.NAME_RE.match(name) or len(name) > d.MAX_CLUSTER_NAME:
        found.add("name: invalid cluster name %r; 1 to %d letters, digits, '.', '_' and '-'"
                  % (cluster.get('name'), d.MAX_CLUSTER_NAME))
        name = name or 'cluster'
    virt_type = cluster.get('virt_type') or d.DEFAULTS['virt_type']
    if virt_type not in d.VIRT_TYPES:
        found.add('virt_type: %r; use one of %s' % (virt_type, ', '.join(d.VIRT_TYPES)))
    prefix = cluster.get('domain_prefix')
    inventory_group = cluster.get('inventory_group') or d.group_name(name)
    if not d.GROUP_RE.match(to_text(inventory_group)):
        found.add('inventory_group: %r is not a valid Ansible group name' % (inventory_group,))
    user = cluster.get('user')
    if user is not None and not d.USER_RE.match(to_text(user)):
        found.add('user: %r is not a valid login name' % (user,))
    user_data = cluster.get('user_data') or {}
    if not isinstance(user_data, dict):
        found.add('user_data: must be a dict of cloud-config keys (merged into every VM)')
        user_data = {}
    return {
        'name': name,
        'uri': options.get('uri') or cluster.get('uri') or None,   # the hypervisor's own (inventory), else the cluster's
        'virt_type': virt_type,
        'type': (options.get('virt_type') or 'auto') if virt_type == 'auto' else virt_type,
        'machine': to_text(cluster.get('machine') or d.DEFAULTS['machine']),
        'tb_cache': d.number(found, cluster.get('tcg_tb_cache'), 'tcg_tb_cache', 1, integer=True),
        'domain_prefix': '%s-' % name if prefix is None else to_text(prefix),
        'inventory_group': inventory_group,
        'networks': _networks.resolve_all(found, cluster, name),
        'pool': d.pool(found, cluster, name),
        'user': user,
        'ssh_public_keys': d.ssh_keys(found, cluster, options),
        'inputs_digest': options.get('inputs_digest'),
        'ssh_private_key_file': cluster.get('ssh_private_key_file'),
        'ca_certs': d.ca_certs(found, cluster),
        'packages': [to_text(p) for p in d.as_list(cluster.get('packages'))],
        'user_data': user_data,
        'startup': d.startup_options(found, cluster),
        'console_log_dir': to_text(cluster.get('console_log_dir') or d.DEFAULTS['console_log_dir']),
        'autostart': d.flag(found, cluster.get('autostart'), 'autostart', d.DEFAULTS['autostart']),
        'prune': d.flag(found, cluster.get('prune'), 'prune', d.DEFAULTS['prune']),
        'startup_log': options.get('startup_log') or d.startup_log_path(name),
    }


def _ordering(found, vms, prefix):
    """The dependency graph with the startup engine's own rules: tiers (its levels) and the engine's VM list."""
    names = [vm['name'] for vm in vms]
    bad_after = False
    for vm in vms:
        for other in vm['_after'] or []:
            if other not in names:
                found.add("vms '%s': after names unknown VM '%s' (VMs: %s)" % (vm['name'], other, ', '.join(names)))
                bad_after = True
            elif other == vm['name']:
                found.add("vms '%s': after names the VM itself" % vm['name'])
                bad_after = True
    graph = None
    if not bad_after and vms and len(set(names)) == len(names):
        graph = found.guard(_startup_graph.build_graph, [
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
        # the labels the start limits count a VM under: its inventory groups and its image label
        labels = list(dict.fromkeys(list(vm['groups']) + ([vm['image']] if vm.get('image') else [])))
        entry = {'name': vm['domain'], 'probes': vm['probes'], 'address': vm['ip'], 'labels': labels}
        if vm['_after']:
            entry['after'] = ['%s%s' % (prefix, a) for a in vm['_after']]
        else:
            entry['tier'] = vm['_tier'] if vm['_tier'] is not None else 0
        for key in ('timeout', 'grace'):
            if vm[key] is not None:
                entry[key] = vm[key]
        startup_vms.append(entry)
        vm['after'] = list(vm.pop('_after') or [])
        vm.pop('_tier')
        vm.setdefault('tier', None)
    return tiers, startup_vms


def _resolve_segmented(scope, raw_vms, seg, options):
    """The VMs, each resolved against the networks as its own host sees them: a VM with an address in another
    host's segment of a routed network runs there (its `host`)."""
    scopes = {}
    vms = []
    for index, raw in enumerate(raw_vms):
        owner = seg['vm_hosts'].get(raw.get('name')) if isinstance(raw, dict) else None
        here = scope
        if owner is not None and owner != options.get('host_name'):
            if owner not in scopes:
                view = seg['views'][owner]
                other = copy.copy(scope)
                other.cluster = view
                other.nets = _networks.resolve_all(scope.problems, view, scope.name)
                scopes[owner] = other
            here = scopes[owner]
        vm = _vms.resolve(here, index, raw)
        if vm is not None:
            vm['host'] = vm['host'] or owner
            vms.append(vm)
    return vms


def build(cluster, image_map, options=None):
    """The plan of a cluster definition; its 'problems' list every problem, one line each."""
    options = options or {}
    found = d.Problems()
    if not isinstance(cluster, dict):
        return {'problems': ['the cluster definition must be a dict (strata_cluster), got %s' % type(cluster).__name__],
                'params': {}, 'params_problems': [], 'key_problems': [], 'key_file_problems': []}
    hypervisors = [to_text(h) for h in d.as_list(options.get('hosts'))]
    # routed networks split over the hypervisors: this host sees its own segment of each (_cluster/segments)
    seg = _segments.split(found, cluster, hypervisors, options.get('host_name'))
    if seg is not None:
        cluster = seg['views'].get(options.get('host_name')) or seg['views'][sorted(seg['views'])[0]]
    top = _top(found, cluster, options)
    raw_vms = cluster.get('vms')
    if not isinstance(raw_vms, list) or not raw_vms:
        found.add('vms: give at least one VM (a list of dicts with name and ip)')
        raw_vms = []
    cluster_image = d.label(found, cluster.get('image'), 'image')
    # (a VM's label that is not a string is reported with the VM)
    labels = [cluster_image] + [vm['image'] for vm in raw_vms if isinstance(vm, dict) and vm.get('image')
                                and isinstance(vm['image'], str)]
    images = _images(found, image_map, labels)
    if cluster.get('size') is not None:
        found.guard(_imagemap.resolve_resources, image_map, size=cluster.get('size'), what='size')
    default_image = images.get(cluster_image)
    login_user = to_text(top['user'] or (default_image or {}).get('login_user') or d.DEFAULTS['user'])
    scope = _vms.Scope(found, cluster, image_map, options, top['name'], top['domain_prefix'], top['networks'], images,
                       login_user, top['tb_cache'], top['console_log_dir'], top['user_data'], top['pool']['name'])
    vms = _vms.resolve_all(scope, raw_vms) if seg is None else _resolve_segmented(scope, raw_vms, seg, options)
    smoke = _smoke.resolve(found, cluster, raw_vms, vms, options)
    if d.flag(found, cluster.get('secure_boot'), 'secure_boot', False) and not any(vm['firmware'] == 'uefi' for vm in vms):
        found.add('secure_boot: needs firmware uefi (no VM has it)')
    tiers, startup_vms = _ordering(found, vms, top['domain_prefix'])
    known = set(label for entry in startup_vms for label in entry['labels'])
    for label in sorted(top['startup']['limits']):
        if label not in known:
            found.add("startup.limits.%s: no VM is in the group or uses the image '%s' (groups and images: %s)"
                      % (label, label, ', '.join(sorted(known)) or 'none'))
    multi_host = len(hypervisors) > 1 or any(vm['host'] for vm in vms)
    if multi_host:
        for text in _placement.validate(cluster, [vm['name'] for vm in vms], hypervisors):
            found.add(text)
    host.memory_problems(found, vms, options.get('host'))
    placed = options.get('placement') if options.get('host_name') else None
    if placed:
        _placed.assign(found, vms, placed)
    else:
        for vm in vms:
            vm['hypervisor'] = options.get('host_name')
    all_vms = [{'name': vm['name'], 'domain': vm['domain'], 'ip': vm['ip'], 'hypervisor': vm['hypervisor'],
                'tier': vm['tier']} for vm in vms]
    if placed:  # this host's part: its VMs, and in the startup list the VMs of other hosts they wait for
        local_names = set(vm['name'] for vm in vms if vm['hypervisor'] == options['host_name'])
        startup_vms = _placed.local_startup(found, vms, startup_vms, options['host_name'])
        vms = [vm for vm in vms if vm['name'] in local_names]
        smoke = [item for item in smoke if item.get('vm') in local_names]
    base_volumes = []
    for label in labels:
        image = images.get(label)
        if image and image['label'] not in [b['label'] for b in base_volumes]:
            base_volumes.append(_with_paths(image))
    nets = top.pop('networks')
    for key in ('tb_cache', 'user_data', 'console_log_dir'):
        top.pop(key)
    for net in nets:
        # a static DHCP host per NIC on a network of ours that serves DHCP
        net['hosts'] = [{'name': vm['name'], 'mac': nic['mac'], 'ip': nic['ip']} for vm in vms for nic in vm['nics']
                        if nic['network'] == net['name'] and nic['ip'] and net['kind'] == 'ours' and net['host_address']
                        and (net.get('subnet') is None or ipaddress.ip_address(nic['ip']) in net['subnet'])]
    public = [_networks.public(net) for net in nets]
    result = dict(top, user=login_user, images=base_volumes, tiers=tiers, startup_vms=startup_vms, vms=vms,
                  networks=public, network=public[0] if public else {},
                  memory_mib=sum(vm['memory_mib'] or 0 for vm in vms),
                  disk_bytes=sum((vm['disk_bytes'] or 0) + sum(disk['capacity'] or 0 for disk in vm['data_disks'])
                                 for vm in vms),
                  network_hosts=[host for net in public for host in net['hosts']], smoke=smoke,
                  hypervisors=hypervisors, host_name=options.get('host_name'), all_vms=all_vms, multi_host=multi_host,
                  placement=cluster.get('placement') or _placement.DEFAULT_STRATEGY,
                  anti_affinity=_placement.anti_affinity_groups(cluster.get('anti_affinity')),
                  placed=dict(placed) if placed else None, segment_routes=seg['routes'] if seg else [])
    result['key_problems'] = [] if result['ssh_public_keys'] else [d.NO_KEY]
    if options.get('require_keys', True):
        for text in result['key_problems']:
            found.add(text)
    # the key pair on the controller (this runs there): usable as it is, or one the cluster role can make
    key_file = keyfile.inspect(cluster.get('ssh_private_key_file'))
    result['key_file_problems'] = [key_file['problem']] if key_file['problem'] else []
    for text in result['key_file_problems']:
        found.add(text)
    _with_params(result, found.items)
    return result


def _with_params(result, problems):
    """The modules' options and their own checks (only once the definition itself is sound); problems: the
    definition's, to which the modules' are added."""
    result['params'], result['params_problems'] = {}, []
    if not problems and result['vms']:
        # the modules' own checks, on what the roles will hand them; an open virtualisation type is checked as TCG
        result['params'] = params.module_params(result)
        checked = result['params'] if result.get('type') in ('kvm', 'qemu') else \
            params.module_params(dict(result, type='qemu'))
        result['params_problems'] = params.check(checked) + _smoke.module_problems(result.get('smoke') or [], result.get('uri'))
    result['problems'] = list(problems) + [p for p in result['params_problems'] if p not in problems]


def set_virt_type(cluster_plan, virt_type):
    """The plan with the virtualisation type decided: `type` and the domains' options follow virt_type (kvm or qemu).
    A plan whose type is already decided keeps it."""
    if virt_type not in ('kvm', 'qemu'):
        raise StrataError('cluster_set_virt_type: virt_type must be kvm or qemu, not %r' % (virt_type,))
    if cluster_plan.get('type') in ('kvm', 'qemu'):
        return cluster_plan
    result = copy.deepcopy(cluster_plan)
    result['type'] = virt_type
    definition_problems = [p for p in result.get('problems') or [] if p not in (result.get('params_problems') or [])]
    _with_params(result, definition_problems)
    return result

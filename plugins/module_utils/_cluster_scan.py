# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What of one cluster exists on a hypervisor, and whose it is: the strata.libvirt.cluster_info module.

Two questions, answered in one read-only pass (under the per-URI lock, so that no module of ours changes
anything while it looks):

- the names the cluster would use (its pool, network, volumes in that pool, domains): does each exist, is it
  ours (this cluster's ownership mark), and if not, whose? `foreign` lists every collision at once, so a
  provisioning can refuse before its first change;
- what carries this cluster's mark, whatever today's definition says (domains and networks by the mark in
  their XML, pools and volumes by the ownership registry): what a teardown removes. A volume that a domain
  of another owner uses is listed with that domain in `used_by`, and is not ours to remove.

    scan(conn, registry, query) -> the module's result (without `changed`)

Private to strata.libvirt; no compatibility promise.
"""

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _common
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils import _ownership
from ansible_collections.strata.libvirt.plugins.module_utils import _pool as _pool_module
from ansible_collections.strata.libvirt.plugins.module_utils import _session
from ansible_collections.strata.libvirt.plugins.module_utils import _validate
from ansible_collections.strata.libvirt.plugins.module_utils import _xml

CONSTRAINTS = {}


def argument_spec():
    """The strata.libvirt.cluster_info module's argument spec, a new dict. lock_timeout and adopt are accepted for
    module_defaults of the group and not used (nothing is locked or changed)."""
    return dict(
        cluster=dict(type='str', required=True),
        pool=dict(type='str'),
        network=dict(type='str'),
        networks=dict(type='list', elements='str', default=[]),
        volumes=dict(type='list', elements='str', default=[]),
        domains=dict(type='list', elements='str', default=[]),
        uri=dict(type='str'),
        state_dir=dict(type='path'),
        lock_timeout=dict(type='int'),
        adopt=dict(type='bool'),
    )


def desired_from_params(params):
    """The validated query. Pure; raises StrataError naming the option."""
    query = {'cluster': _validate.name(params.get('cluster'), 'cluster')}
    for key in ('pool', 'network'):
        query[key] = _validate.name(params[key], key) if params.get(key) else None
    for key in ('volumes', 'domains', 'networks'):
        query[key] = [_validate.name(value, '%s[%d]' % (key, index)) for index, value in enumerate(params.get(key) or [])]
    if query['volumes'] and not query['pool']:
        raise StrataError('volumes: needs pool (the volumes are looked up in it)')
    return query


def status(owner, cluster):
    """'ours' (this cluster's mark), or 'foreign' (no mark, or another cluster's)."""
    return 'ours' if owner.get('owned') and owner.get('cluster') == cluster else 'foreign'


def whose(owner):
    if not owner.get('owned'):
        return 'was not created by strata.libvirt'
    if owner.get('cluster'):
        return "belongs to cluster '%s'" % owner['cluster']
    return 'was created by strata.libvirt for no cluster'


def _domains(conn):
    """Every domain of the URI: name -> (owner, set of disk source paths)."""
    out = {}
    for dom in _connection.call('list the domains', conn.listAllDomains, 0):
        try:
            root = _xml.parse_xml(dom.XMLDesc(0), 'domain XML')
        except _connection.libvirt.libvirtError:
            continue  # undefined while we looked
        paths = set()
        for source in root.findall('devices/disk/source'):
            if source.get('file') or source.get('dev'):
                paths.add(source.get('file') or source.get('dev'))
        out[dom.name()] = (_ownership.read_mark(root), paths)
    return out


def _networks(conn):
    out = {}
    for net in _connection.call('list the networks', conn.listAllNetworks, 0):
        try:
            state = _common.read_definition('network', net.name(), net, _connection.libvirt.VIR_NETWORK_XML_INACTIVE)
        except (_connection.libvirt.libvirtError, StrataError):
            continue  # undefined while we looked
        out[net.name()] = {'owner': _ownership.read_mark(state['xml']), 'active': state['active']}
    return out


def _pool(conn, registry, name):
    pool = _pool_module.lookup_pool(conn, name)
    if pool is None:
        return None, {'exists': False}
    owner = registry.get('pools', pool.UUIDString())
    return pool, {'exists': True, 'active': bool(pool.isActive()), 'owner': owner}


def _volume_key(pool, name):
    vol = _common.lookup("volume '%s'" % name, pool.storageVolLookupByName, name, 'VIR_ERR_NO_STORAGE_VOL')
    return vol.key() if vol is not None else None


def _describe(kind, name, owner, extra=''):
    return "%s '%s'%s exists and %s" % (kind, name, extra, whose(owner))


def scan(conn, registry, query):
    """The cluster_info result: `objects` (the given names), `foreign` (one line per collision), `marked` (what
    carries this cluster's mark)."""
    cluster = query['cluster']
    domains = _domains(conn)
    networks = _networks(conn)
    objects = {'pool': None, 'network': None, 'networks': {}, 'volumes': {}, 'domains': {}}
    foreign = []
    users = {}  # disk path -> names of the domains of other owners that use it
    for dom_name, (owner, paths) in domains.items():
        if status(owner, cluster) == 'foreign':
            for path in paths:
                users.setdefault(path, []).append(dom_name)

    pool = None
    if query['pool']:
        pool, entry = _pool(conn, registry, query['pool'])
        if entry['exists']:
            entry['status'] = status(entry['owner'], cluster)
            if entry['status'] == 'foreign':
                foreign.append(_describe('pool', query['pool'], entry['owner'],
                                         '' if entry['active'] else ' (inactive)'))
        objects['pool'] = entry
    for name in ([query['network']] if query['network'] else []) + query['networks']:
        if name in objects['networks']:
            continue
        found = networks.get(name)
        entry = {'exists': False}
        if found:
            entry = {'exists': True, 'active': found['active'], 'owner': found['owner'],
                     'status': status(found['owner'], cluster)}
            if entry['status'] == 'foreign':
                foreign.append(_describe('network', name, found['owner'], '' if found['active'] else ' (inactive)'))
        objects['networks'][name] = entry
    if query['network']:
        objects['network'] = objects['networks'][query['network']]
    for name in query['volumes']:
        entry = {'exists': None}  # unknown while the pool is missing or inactive
        if pool is not None and objects['pool']['active']:
            key = _volume_key(pool, name)
            entry = {'exists': key is not None}
            if key is not None:
                owner = registry.get('volumes', key)
                entry.update(key=key, owner=owner, status=status(owner, cluster), used_by=sorted(users.get(key, [])))
                if entry['status'] == 'foreign':
                    foreign.append(_describe('volume', name, owner, " in pool '%s'" % query['pool']))
        objects['volumes'][name] = entry
    for name in query['domains']:
        entry = {'exists': name in domains}
        if entry['exists']:
            owner = domains[name][0]
            entry.update(owner=owner, status=status(owner, cluster))
            if entry['status'] == 'foreign':
                foreign.append(_describe('domain', name, owner))
        objects['domains'][name] = entry
    return {'objects': objects, 'foreign': foreign, 'marked': marked(conn, registry, cluster, domains, networks, users),
            'node': node(conn, domains)}


def available_mib(conn):
    """The memory the hypervisor has for new VMs, in MiB, as its libvirt says: free plus buffers and page cache (what
    the kernel gives back, like MemAvailable), else the free memory alone; None where libvirt cannot say."""
    try:
        stats = conn.getMemoryStats(-1, 0)  # all NUMA cells, KiB
        if stats.get('free') is not None:
            return int(stats['free'] + stats.get('buffers', 0) + stats.get('cached', 0)) // 1024
    except (_connection.libvirt.libvirtError, AttributeError, TypeError):
        pass
    try:
        return int(conn.getFreeMemory()) // (1024 * 1024)
    except _connection.libvirt.libvirtError:
        return None


def node(conn, domains):
    """What the hypervisor offers, as its libvirt says (also over a remote URI): CPUs, memory and available memory in MiB,
    its host name, and the names of every domain defined there (the placement keeps a VM where it is defined)."""
    info = _connection.call('read the node info', conn.getInfo)
    free = available_mib(conn)
    try:
        hostname = conn.getHostname()
    except _connection.libvirt.libvirtError:
        hostname = None
    return {'cpus': int(info[2]), 'memory_mib': int(info[1]), 'free_mib': free, 'hostname': hostname,
            'domains': sorted(domains)}


def marked(conn, registry, cluster, domains, networks, users):
    """What carries this cluster's mark: domain and network names, pools and volumes from the registry (those
    libvirt still has), each volume with `used_by` (domains of other owners that use it)."""
    if registry.data is None:
        registry.load()
    pools = []
    for uuid, entry in sorted(registry.data['pools'].items()):
        if entry.get('cluster') != cluster:
            continue
        try:
            pool = conn.storagePoolLookupByUUIDString(uuid)
        except _connection.libvirt.libvirtError:
            continue  # removed behind our back: nothing to do
        pools.append({'name': pool.name(), 'active': bool(pool.isActive())})
    volumes = []
    for key, entry in sorted(registry.data['volumes'].items()):
        if entry.get('cluster') != cluster:
            continue
        try:
            conn.storageVolLookupByKey(key)
        except _connection.libvirt.libvirtError:
            continue
        volumes.append({'pool': entry.get('pool'), 'name': entry.get('name'), 'key': key,
                        'image': bool(entry.get('image')), 'used_by': sorted(users.get(key, []))})
    return {
        'domains': sorted(name for name, (owner, _paths) in domains.items() if status(owner, cluster) == 'ours'),
        'networks': sorted(name for name, found in networks.items() if status(found['owner'], cluster) == 'ours'),
        'pools': pools,
        'volumes': volumes,
    }


def run(module):
    """The cluster_info module: validate, connect, scan. Nothing is changed (check mode is the same)."""
    _connection.require_libvirt(module)
    _xml.require_lxml(module)
    try:
        query = desired_from_params(module.params)
        with _session.module_session(module) as ctx:
            result = scan(ctx.conn, ctx.registry, query)
    except StrataError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which hypervisor each VM of a cluster goes to, decided before any change. Pure: no libvirt, no inventory.

    validate(cluster, vm_names, hosts)       -> the problems of the definition's placement keys (placement,
                                                anti_affinity, vms[].host), one line each
    anti_affinity_groups(value)              -> {group: [VM names]} of a (sound) anti_affinity value
    place(vms, hosts, strategy, anti_affinity, existing)
                                             -> {placement, problems, hosts, reasons}
    describe(result)                         -> one text line per hypervisor, for the plan's output

The order of place(): a VM whose domain exists on a hypervisor stays there (its memory is in use already: the free
memory given for that host is what is left, nothing is taken from it); then the VMs pinned with `host`, which take
their memory from that host; then the others, largest memory first (then definition order), each on a host that
holds no other member of the VM's anti-affinity groups, has the VM's memory free and at least its vCPUs as CPUs:
under `spread` the one with the most free memory left (ties: fewer vCPUs placed per CPU, then host order), under
`pack` the one with the least free memory left that still fits (ties: host order). Equal input, equal output.
A VM that fits nowhere is one problem naming what it needs and what each host has left; nothing raises.

Private to strata.libvirt; no compatibility promise.
"""

STRATEGIES = ('spread', 'pack')
DEFAULT_STRATEGY = 'spread'
REASON_PINNED = 'pinned (host:)'
REASON_KEPT = 'kept (its domain exists there)'
REASONS = {'spread': 'spread: most free memory', 'pack': 'pack: least free memory that fits'}
MOVE_HINT = 'remove it there first (unprovision or prune) to move it'


def _plural(count, word):
    return '%d %s%s' % (count, word, '' if count == 1 else 's')


def _and(names):
    """'a', 'a and b', 'a, b and c'."""
    names = list(names)
    if len(names) < 2:
        return ''.join(names)
    return '%s and %s' % (', '.join(names[:-1]), names[-1])


def _both(names):
    return 'both' if len(names) == 2 else 'all'


def _hypervisors(hosts):
    """'2 hypervisors (a, b)'."""
    return '%s (%s)' % (_plural(len(hosts), 'hypervisor'), ', '.join(hosts))


def _group_items(value):
    """(group name, members) pairs of an anti_affinity value as given: a dict, or a list (group1, group2...)."""
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, (list, tuple)):
        return [('group%d' % (index + 1), members) for index, members in enumerate(value)]
    return []


def anti_affinity_groups(value):
    """{group: [VM names]} of an anti_affinity value (None: no group); a list of lists names its groups group1,
    group2... Members are kept once each, in the order given; shapes validate() reports are left out."""
    groups = {}
    for name, members in _group_items(value):
        if isinstance(members, (list, tuple)):
            groups[str(name)] = list(dict.fromkeys(m for m in members if isinstance(m, str)))
    return groups


def validate(cluster, vm_names, hosts):
    """The problems of the placement keys of a cluster definition (the raw strata_cluster dict); vm_names: the
    VMs' names in definition order; hosts: the inventory host names of the hypervisors, in order."""
    problems = []

    def add(text):
        if text not in problems:
            problems.append(text)

    cluster = cluster if isinstance(cluster, dict) else {}
    hosts = list(hosts or [])
    vm_names = list(vm_names or [])
    strategy = cluster.get('placement')
    if strategy is not None and strategy not in STRATEGIES:
        add('placement: %r; use one of %s' % (strategy, ', '.join(STRATEGIES)))
    if vm_names and not hosts:
        add('placement: no hypervisor to place the %s on' % _plural(len(vm_names), 'VM'))
    pinned = {}
    for raw in cluster.get('vms') or []:
        if not isinstance(raw, dict) or raw.get('host') is None:
            continue
        if raw['host'] not in hosts:
            add("vms '%s': host %r is not one of the hypervisors (%s)" % (raw.get('name'), raw['host'], ', '.join(hosts)))
        else:
            pinned[raw.get('name')] = raw['host']
    value = cluster.get('anti_affinity')
    if value is None:
        return problems
    if not isinstance(value, (dict, list, tuple)):
        add('anti_affinity: a dict of group name -> VM names, or a list of such lists; got %r' % (value,))
        return problems
    known = set(vm_names)
    for name, members in _group_items(value):
        where = 'anti_affinity.%s' % name
        if not isinstance(name, str):
            add('anti_affinity: group name %r is not a string' % (name,))
            continue
        if not isinstance(members, (list, tuple)):
            add('%s: a list of at least 2 VM names, got %r' % (where, members))
            continue
        seen = []
        for member in members:
            if not isinstance(member, str):
                add('%s: %r is not a VM name' % (where, member))
                continue
            if member in seen:
                add("%s: names '%s' twice" % (where, member))
                continue
            seen.append(member)
            if member not in known:
                add("%s: names unknown VM %r (VMs: %s)" % (where, member, ', '.join(vm_names)))
        if len(seen) < 2:
            add('%s: names %s; a group needs at least 2' % (where, _plural(len(seen), 'VM')))
        elif hosts and len(seen) > len(hosts):
            add('%s: %d VMs that must be on different hosts, but there are only %s'
                % (where, len(seen), _hypervisors(hosts)))
        for host in hosts:
            here = [m for m in seen if pinned.get(m) == host]
            if len(here) > 1:
                add('%s: %s are %s pinned to host %s' % (where, _and(here), _both(here), host))
    return problems


class _Host(object):
    """One hypervisor while the VMs are placed on it."""

    __slots__ = ('name', 'index', 'free', 'left', 'cpus', 'vcpus', 'vms', 'asked')

    def __init__(self, index, raw):
        self.name = raw['name']
        self.index = index
        self.free = int(raw.get('memory_mib') or 0)
        self.left = self.free            # free memory left after the VMs that took theirs
        self.cpus = raw.get('cpus') or None      # None (or 0): unknown, no limit
        self.vcpus = 0
        self.vms = []
        self.asked = 0

    def load(self):
        """vCPUs placed per CPU."""
        return float(self.vcpus) / (self.cpus or 1)

    def take(self, vm, memory=True):
        self.vms.append(vm['name'])
        self.asked += vm['memory']
        self.vcpus += vm['vcpus']
        if memory:
            self.left -= vm['memory']


def _vm(index, raw):
    return {'name': raw['name'], 'index': index, 'memory': int(raw.get('memory_mib') or 0),
            'vcpus': int(raw.get('vcpus') or 0), 'host': raw.get('host')}


def _best(candidates, strategy):
    if strategy == 'pack':
        return min(candidates, key=lambda h: (h.left, h.index))
    return min(candidates, key=lambda h: (-h.left, h.load(), h.index))


def place(vms, hosts, strategy=DEFAULT_STRATEGY, anti_affinity=None, existing=None):
    """The hypervisor of each VM. vms: [{name, memory_mib, vcpus, host (pinned or None)}] in definition order;
    hosts: [{name, memory_mib (free for new VMs), cpus (None or 0: unknown, no limit)}] in order; anti_affinity: {group: [names]}; existing:
    {vm: host} of the VMs whose domain exists there. Returns {placement: {vm: host}, problems: [...], hosts:
    [{name, vms, memory_mib, free_mib, left_mib, cpus, vcpus}], reasons: {vm: why}, unplaced: [VMs without a host]}.
    memory_mib: asked by the VMs placed there (kept ones too); free_mib: as given; left_mib: free_mib less what the
    VMs placed there (not the kept ones) took."""
    problems = []

    def add(text):
        if text not in problems:
            problems.append(text)

    if strategy not in STRATEGIES:
        add('placement: %r; use one of %s' % (strategy, ', '.join(STRATEGIES)))
        strategy = DEFAULT_STRATEGY
    table = [_Host(index, raw) for index, raw in enumerate(hosts or [])]
    by_host = dict((h.name, h) for h in table)
    host_names = [h.name for h in table]
    todo = [_vm(index, raw) for index, raw in enumerate(vms or [])]
    groups = dict((g, list(members)) for g, members in (anti_affinity or {}).items())
    groups_of = {}
    for group, members in groups.items():
        for member in members:
            groups_of.setdefault(member, []).append(group)
    existing = existing or {}
    placement, reasons, how = {}, {}, {}

    def put(vm, host, reason, memory=True):
        host.take(vm, memory)
        placement[vm['name']] = host.name
        reasons[vm['name']] = reason

    if todo and not table:
        add('placement: no hypervisor to place the %s on' % _plural(len(todo), 'VM'))
    for vm in todo:                                   # 1. where the domain exists: kept
        where = existing.get(vm['name'])
        if where is None:
            continue
        if where not in by_host:
            add("vms '%s': its domain exists on %s, which is not one of the hypervisors (%s); %s"
                % (vm['name'], where, ', '.join(host_names), MOVE_HINT))
            how[vm['name']] = 'failed'
            continue
        if vm['host'] is not None and vm['host'] != where:
            add("vms '%s': host %s, but its domain exists on %s; %s" % (vm['name'], vm['host'], where, MOVE_HINT))
        put(vm, by_host[where], REASON_KEPT, memory=False)
        how[vm['name']] = 'kept'
    for vm in todo:                                   # 2. pinned with host:
        if vm['name'] in how or vm['host'] is None:
            continue
        host = by_host.get(vm['host'])
        how[vm['name']] = 'pinned'
        if host is None:
            add("vms '%s': host %r is not one of the hypervisors (%s)" % (vm['name'], vm['host'], ', '.join(host_names)))
            continue
        if vm['memory'] > host.left:
            add("vms '%s': pinned to host %s, needs %d MiB, but %s has %d MiB free (after the VMs placed before it)"
                % (vm['name'], host.name, vm['memory'], host.name, host.left))
        put(vm, host, REASON_PINNED)
    _fixed_conflicts(add, groups, placement, how, table)
    rest = sorted([vm for vm in todo if vm['name'] not in how], key=lambda vm: (-vm['memory'], vm['index']))
    for vm in rest:                                   # 3. the others, largest first
        excluded = {}
        for group in groups_of.get(vm['name'], []):
            for member in groups[group]:
                if member != vm['name'] and member in placement:
                    excluded.setdefault(placement[member], []).append(group)
        candidates = [h for h in table if h.name not in excluded and h.left >= vm['memory']
                      and (h.cpus is None or h.cpus >= vm['vcpus'])]
        if candidates:
            put(vm, _best(candidates, strategy), REASONS[strategy])
        elif table:
            add(_nowhere(vm, table, groups_of.get(vm['name'], []), excluded))
    order = dict((vm['name'], vm['index']) for vm in todo)
    out_hosts = [{'name': h.name, 'vms': sorted(h.vms, key=order.get), 'memory_mib': h.asked, 'free_mib': h.free,
                  'left_mib': h.left, 'cpus': h.cpus, 'vcpus': h.vcpus} for h in table]
    return {'placement': dict((vm['name'], placement[vm['name']]) for vm in todo if vm['name'] in placement),
            'problems': problems, 'hosts': out_hosts, 'reasons': reasons,
            'unplaced': [vm['name'] for vm in todo if vm['name'] not in placement]}


def _fixed_conflicts(add, groups, placement, how, table):
    """Two members of one anti-affinity group kept or pinned on the same host."""
    for group, members in groups.items():
        for host in table:
            here = [m for m in members if placement.get(m) == host.name]
            if len(here) < 2:
                continue
            kinds = set(how[m] for m in here)
            where = 'anti_affinity.%s' % group
            if kinds == set(['pinned']):
                add('%s: %s are %s pinned to host %s' % (where, _and(here), _both(here), host.name))
            elif kinds == set(['kept']):
                add('%s: %s %s have their domain on host %s; remove %s there first (unprovision or prune) to move it'
                    % (where, _and(here), _both(here), host.name, 'one' if len(here) == 2 else 'all but one'))
            else:
                add('%s: %s are %s on host %s (kept where the domain exists: %s; pinned: %s)'
                    % (where, _and(here), _both(here), host.name, _and(m for m in here if how[m] == 'kept'),
                       _and(m for m in here if how[m] == 'pinned')))


def _nowhere(vm, table, vm_groups, excluded):
    """The problem of a VM that no host can take."""
    why = []
    for group in vm_groups:
        hosts = [h.name for h in table if group in excluded.get(h.name, [])]
        if hosts:
            why.append('anti-affinity group %s excludes %s' % (group, ', '.join(hosts)))
    few = ['%s (%d)' % (h.name, h.cpus) for h in table if h.cpus is not None and h.cpus < vm['vcpus']]
    if few:
        why.append('too few CPUs: %s' % ', '.join(few))
    return ("vms '%s': no hypervisor can take it (needs %d MiB, %s; free after the VMs placed before it: %s%s)"
            % (vm['name'], vm['memory'], _plural(vm['vcpus'], 'vCPU'),
               ', '.join('%s %d MiB' % (h.name, h.left) for h in table), ''.join('; ' + w for w in why)))


def describe(result):
    """One line per hypervisor: 'a: gateway, db (1024 of 7000 MiB free, 2 vCPUs on 2 CPUs)', then the VMs that
    have no hypervisor, when there are any."""
    lines = []
    for host in result.get('hosts') or []:
        cpus = ', CPUs unknown' if host['cpus'] is None else ' on %s' % _plural(host['cpus'], 'CPU')
        lines.append('%s: %s (%d of %d MiB free, %s%s)'
                     % (host['name'], ', '.join(host['vms']) or 'no VMs', host['left_mib'], host['free_mib'],
                        _plural(host['vcpus'], 'vCPU'), cpus))
    if result.get('unplaced'):
        lines.append('no hypervisor: %s (see the problems)' % ', '.join(result['unplaced']))
    return lines

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One cluster over several hypervisors: placing its VMs from what each host offers, and the plan of one host.

    place(plan, facts)                    -> where each VM goes (_cluster/placement), from the whole cluster's plan
                                             and each host's facts {host: {memory_mib, cpus, domains}}
    assign(found, vms, placement)         each VM's hypervisor
    local_startup(found, vms, startup_vms, host)
                                          -> the startup VM list of one host: its VMs, and the VMs of other hosts
                                             that they depend on (remote: waited for by their network probes)

The plan filter builds the whole cluster's plan first (every host the same, every problem at once); the cluster role
places it (task file place.yml) and builds each host's plan with the placement (options placement, host_name).

Private to strata.libvirt; no compatibility promise.
"""

from ansible_collections.strata.libvirt.plugins.module_utils._cluster import placement as _placement
from ansible_collections.strata.libvirt.plugins.module_utils._startup import spec as _startup_spec


def is_multi_host(plan):
    """Whether the cluster is placed: more than one hypervisor, or a VM names its host."""
    return len(plan.get('hypervisors') or []) > 1 or any(vm.get('host') for vm in plan.get('vms') or [])


def place(plan, facts):
    """The placement of the whole cluster's plan over plan['hypervisors'] (see _cluster/placement.place), with
    its text lines. facts: {host: {'free_mib': free MiB, 'cpus': n, 'domains': [names of defined domains]}} (the
    node of cluster_info; 'memory_mib' stands for free_mib where that is missing);
    a host without facts can take only the VMs pinned to it or defined there."""
    facts = facts or {}
    hosts = list(plan.get('hypervisors') or [])
    by_domain = dict((vm['domain'], vm['name']) for vm in plan.get('vms') or [])
    existing = {}
    problems = []
    for host in hosts:
        for domain in (facts.get(host) or {}).get('domains') or []:
            name = by_domain.get(domain)
            if name is None:
                continue
            if name in existing:
                problems.append("vms '%s': its domain %s is defined on %s and on %s; remove one of them"
                                % (name, domain, existing[name], host))
            existing[name] = host
    free = dict((h, (facts.get(h) or {}).get('free_mib', (facts.get(h) or {}).get('memory_mib'))) for h in hosts)
    blind = [h for h in hosts if free[h] is None]
    hosts_in = [{'name': h, 'memory_mib': int(free[h] or 0),
                 'cpus': int((facts.get(h) or {}).get('cpus') or 0)} for h in hosts]
    vms = [{'name': vm['name'], 'memory_mib': vm.get('memory_mib') or 0, 'vcpus': vm.get('vcpus') or 1,
            'host': vm.get('host')} for vm in plan.get('vms') or []]
    if blind:
        free = [vm['name'] for vm in vms if not vm['host'] and vm['name'] not in existing]
        if free:
            problems.append('placement: no facts (free memory, CPUs) of %s, so %s cannot be placed: a hypervisor of '
                            'the cluster is not in this play (--limit) or failed before' % (', '.join(blind), ', '.join(free)))
    result = _placement.place(vms, hosts_in, plan.get('placement') or _placement.DEFAULT_STRATEGY,
                              plan.get('anti_affinity') or {}, existing)
    result['problems'] = problems + [p for p in result['problems'] if p not in problems]
    result['lines'] = _placement.describe(result)
    result['cluster'] = plan.get('name')
    return result


def _remote_entry(found, entry, host, needed_by):
    """The startup entry of a VM of another host that VMs here depend on: waited for by the probes that go
    through the network (the others are the other host's to wait for)."""
    probes = [p for p in entry.get('probes') or [] if p.get('type') in _startup_spec.REMOTE_PROBES
              and not (p.get('type') == 'ssh' and p.get('via') == 'agent')]
    if not probes:
        found.add("vms '%s': it runs on %s and %s on another host depend(s) on it, which wait for it through the "
                  "network: give it a probe of type %s (it has %s)"
                  % (entry['vm'], host, ', '.join(needed_by), ', '.join(_startup_spec.REMOTE_PROBES),
                     ', '.join(p.get('type') for p in entry.get('probes') or []) or 'none'))
    out = dict((k, v) for k, v in entry.items() if k != 'vm')
    out.update(probes=probes, remote=host)
    return out


def assign(found, vms, placement):
    """Each VM's hypervisor (vm['hypervisor']) from the placement; a VM it does not place is a problem."""
    for vm in vms:
        vm['hypervisor'] = placement.get(vm['name'])
        if vm['hypervisor'] is None:
            found.add("vms '%s': the placement does not place it (it was made for another definition)" % vm['name'])


def _deps(entries, name):
    """What a startup entry waits for, as the engine's graph has it: its `after`, else every VM of a lower tier
    without `after`."""
    entry = entries[name]
    if entry.get('after'):
        return list(entry['after'])
    return [other for other, e in entries.items() if not e.get('after') and (e.get('tier') or 0) < (entry.get('tier') or 0)]


def local_startup(found, vms, startup_vms, host):
    """The startup VM list of hypervisor `host`: its VMs, and the VMs of other hosts they depend on (directly or
    through others), as remote entries."""
    domains = dict((vm['domain'], vm) for vm in vms)
    entries = dict((e['name'], e) for e in startup_vms)
    keep = set(vm['domain'] for vm in vms if vm['hypervisor'] == host)
    stack, needed_by = list(keep), {}
    while stack:
        name = stack.pop()
        for dep in _deps(entries, name):
            needed_by.setdefault(dep, set()).add(domains[name]['name'])
            if dep not in keep:
                keep.add(dep)
                stack.append(dep)
    out = []
    for entry in startup_vms:
        if entry['name'] not in keep:
            continue
        vm = domains[entry['name']]
        if vm['hypervisor'] == host:
            out.append(entry)
        else:
            out.append(_remote_entry(found, dict(entry, vm=vm['name']), vm['hypervisor'],
                                     sorted(needed_by.get(entry['name']) or [])))
    return out

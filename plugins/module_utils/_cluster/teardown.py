# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Taking a cluster down: which domains are ours, the reverse-order shutdown list, the volumes left to remove.

    teardown(plan, objects)            -> what to remove and what to leave alone, from strata.libvirt.cluster_info
    orphans(plan, objects)             -> the cluster's domains that the definition no longer names (prune)
    stop_vms(plan, present)            -> the startup engine's VM list for the reverse shutdown
    leftover_volumes(teardown, removed) -> the volumes still to remove after the domains went with theirs

Private to strata.libvirt; no compatibility promise.
"""


def teardown(cluster_plan, objects):
    """What unprovision removes, and what it leaves alone, from the strata.libvirt.cluster_info result `objects`
    (run with the plan's names): everything that carries this cluster's mark, found by the mark and the registry,
    not only by today's names; a volume that a domain of another owner uses stays, and so does every object of one
    of the cluster's names that is not the cluster's own."""
    marked = objects.get('marked') or {}
    found = objects.get('objects') or {}
    ours = list(marked.get('domains') or [])
    foreign_domains = [name for name, entry in (found.get('domains') or {}).items() if entry.get('status') == 'foreign']
    left_alone = list(objects.get('foreign') or [])
    volumes, kept, busy_pools = [], [], set()
    for volume in marked.get('volumes') or []:
        where = '%s/%s' % (volume['pool'], volume['name'])
        if volume.get('used_by'):
            kept.append('volume %s: used by %s, not a domain of this cluster' % (where, ', '.join(volume['used_by'])))
            busy_pools.add(volume['pool'])
        else:
            volumes.append({'pool': volume['pool'], 'name': volume['name'], 'image': bool(volume.get('image'))})
    pools = []
    for pool in marked.get('pools') or []:
        if pool['name'] in busy_pools:
            kept.append("pool '%s': it holds a volume that a domain of another owner uses" % pool['name'])
        else:
            pools.append(pool['name'])
    # disks and seeds before the base images they are backed by
    volumes.sort(key=lambda volume: volume['image'])
    return {
        'domains': ours,
        'foreign_domains': foreign_domains,
        'stop_vms': stop_vms(cluster_plan, ours),
        # a cluster over several hypervisors: per tier, last first, this host's domains of it (every host stops one
        # tier at a time, so a VM stops only once the VMs on any host that depend on it are off)
        'stop_tiers': [{'tier': tier['tier'], 'names': tier['names'],
                        'vms': [dict((k, v) for k, v in entry.items() if k != 'tier') for entry in stop_vms(cluster_plan, ours)
                                if entry['name'] in tier['vms']]}
                       for tier in reversed(cluster_plan.get('tiers') or [])] if cluster_plan.get('multi_host') else [],
        'volumes': [{'pool': v['pool'], 'name': v['name']} for v in volumes],
        'networks': list(marked.get('networks') or []),
        'pools': pools,
        'left_alone': left_alone + kept,
        'console_logs': [vm['console_log'] for vm in cluster_plan.get('vms') or [] if vm['domain'] not in foreign_domains],
        # the domain module removes the logs of the domains it removes; these have no domain left to remove
        'console_logs_without_domain': [vm['console_log'] for vm in cluster_plan.get('vms') or []
                                        if vm['domain'] not in foreign_domains and vm['domain'] not in ours],
    }


def orphans(cluster_plan, objects):
    """The domains that carry this cluster's mark but are not in the definition (strata.libvirt.cluster_info's
    result `objects`): their names and the startup engine's VM list to shut them down. Their dependencies left the
    definition with them, so they are one wave."""
    known = set(vm['domain'] for vm in cluster_plan.get('vms') or [])
    names = sorted(name for name in (objects.get('marked') or {}).get('domains') or [] if name not in known)
    return {'domains': names, 'stop_vms': [{'name': name, 'tier': 0} for name in names]}


def stop_vms(cluster_plan, present=None):
    """The startup engine's VM list for the reverse-order shutdown of the VMs in `present` (domain names).

    Dependencies become tier numbers (the plan's levels), so VMs that are gone do not break the graph. Domains of
    the cluster that the definition no longer names go first (one tier above the plan's last).
    """
    vms = cluster_plan.get('vms') or []
    known = set(vm['domain'] for vm in vms)
    last = max([vm.get('tier') or 0 for vm in vms] or [0])
    present = None if present is None else list(present)
    out = []
    for vm in vms:
        if present is not None and vm['domain'] not in present:
            continue
        entry = {'name': vm['domain'], 'tier': vm.get('tier') or 0}
        if vm.get('grace') is not None:
            entry['grace'] = vm['grace']
        out.append(entry)
    out.extend({'name': name, 'tier': last + 1} for name in present or [] if name not in known)
    return out


def leftover_volumes(teardown_, removed=None):
    """teardown()'s volumes without those the domain module removed (or would remove) with their domains
    (`removed`: pool/name strings)."""
    gone = set(removed or [])
    return [volume for volume in teardown_.get('volumes') or [] if '%s/%s' % (volume['pool'], volume['name']) not in gone]


def removed_volumes(domain_results):
    """The volumes the domain module removed (or would remove) with their domains, from its `results`."""
    out = []
    for result in domain_results or []:
        after = ((result or {}).get('diff') or {}).get('after') or {}
        out.extend(after.get('volumes_removed') or [])
    return out

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Taking a cluster down: which domains are ours, the reverse-order shutdown list, the volumes left to remove.

    ownership(plan, domains)                  -> {'ours': [...], 'foreign': [...]} (domain names)
    stop_vms(plan, present)                   -> the startup engine's VM list for the reverse shutdown
    leftover_volumes(plan, foreign, removed)  -> volume names still to remove

Private to strata.libvirt; no compatibility promise.
"""


def ownership(cluster_plan, domains):
    """Split the domains that domain_info found (its `domains` list) into the cluster's own, those that carry this
    cluster's ownership mark, and the foreign ones (no mark, or another cluster's)."""
    ours, foreign = [], []
    for domain in domains or []:
        if not isinstance(domain, dict) or not domain.get('name'):
            continue
        mark = domain.get('ownership') or {}
        if mark.get('owned') and mark.get('cluster') == cluster_plan['name']:
            ours.append(domain['name'])
        else:
            foreign.append(domain['name'])
    return {'ours': ours, 'foreign': foreign}


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


def leftover_volumes(cluster_plan, foreign=None, removed=None):
    """The disks and seeds of the VMs whose domain is not foreign, then the base volumes, without those already
    removed (names, or pool/name as the domain module reports them)."""
    foreign = set(foreign or [])
    gone = set(name.split('/', 1)[-1] for name in removed or [])
    vms = [vm for vm in cluster_plan.get('vms') or [] if vm['domain'] not in foreign]
    names = [vm['volume'] for vm in vms] + [vm['seed_volume'] for vm in vms] + \
        [image['volume'] for image in cluster_plan.get('images') or []]
    return [name for name in names if name not in gone]


def removed_volumes(domain_results):
    """The volumes the domain module removed (or would remove) with their domains, from its `results`."""
    out = []
    for result in domain_results or []:
        after = ((result or {}).get('diff') or {}).get('after') or {}
        out.extend(after.get('volumes_removed') or [])
    return out

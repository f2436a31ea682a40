# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Rebuilding and reseeding named VMs of a provisioned cluster (-e strata_rebuild=..., -e strata_reseed=...).

    rebuild(plan, objects, rebuild, reseed, rebuild_data, stamp) -> what the cluster role shuts down, removes and
                                                                     writes anew, or the problems of the request

A rebuilt VM gets its disk anew from the base image (its data disks too with rebuild_data), a reseeded one keeps
its disks; both get a seed with a new generation of the instance-id (iid-<hostname>-<stamp>), so cloud-init runs
again as on a new instance (new SSH host keys). The role then starts them in the cluster's order.

Private to strata.libvirt; no compatibility promise.
"""

import copy
import re

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.strata.libvirt.plugins.module_utils._cluster import teardown

STAMP_RE = re.compile(r'^[A-Za-z0-9]+$')


def _names(value, field, problems):
    """A list of names from a list or a comma-separated string (what -e gives); [] for none."""
    if value is None or value == '' or value == []:
        return []
    if isinstance(value, str):
        value = [part.strip() for part in value.split(',')]
    if not isinstance(value, (list, tuple)) or not all(isinstance(name, str) and name for name in value):
        problems.append('%s: must be a list of VM names (or one string, comma-separated), got %r' % (field, value))
        return []
    return list(dict.fromkeys(value))


def _known(plan, names, field, problems):
    by_name = dict((vm['name'], vm) for vm in plan.get('vms') or [])
    unknown = [name for name in names if name not in by_name]
    if unknown:
        problems.append('%s: %s %s of cluster %s (its VMs: %s)'
                        % (field, ', '.join(unknown), 'is not a VM' if len(unknown) == 1 else 'are not VMs', plan.get('name'),
                           ', '.join(sorted(by_name)) or 'none'))
    return [by_name[name] for name in names if name in by_name]


def rebuild(cluster_plan, objects, rebuild_vms=None, reseed_vms=None, rebuild_data=False, stamp=None):
    """What the cluster role does for strata_rebuild / strata_reseed, from the plan and strata.libvirt.cluster_info's
    result `objects` (which domains exist):

    problems   every problem of the request, one line each (nothing is done when there is one)
    vms        the VMs rebuilt or reseeded, in the plan's order; rebuild and reseed the names of each
    domains    their domains (for the known_hosts file: their host keys are new)
    stop_vms   the startup engine's VM list to shut down those whose domains exist (reverse order)
    volumes    the volumes removed before the cluster's volume task creates them anew ({name, pool})
    seeds      the seed module's options of the cluster, with a new instance-id for the VMs of both lists
    """
    problems = []
    rebuilding = _names(rebuild_vms, 'strata_rebuild', problems)
    reseeding = [name for name in _names(reseed_vms, 'strata_reseed', problems) if name not in rebuilding]
    try:
        with_data = boolean(rebuild_data if rebuild_data is not None else False, strict=True)
    except TypeError:
        problems.append('strata_rebuild_data: must be a boolean, got %r' % (rebuild_data,))
        with_data = False
    rebuilt = _known(cluster_plan, rebuilding, 'strata_rebuild', problems)
    reseeded = _known(cluster_plan, reseeding, 'strata_reseed', problems)
    if (rebuilt or reseeded) and not (isinstance(stamp, str) and STAMP_RE.match(stamp)):
        problems.append('the stamp of the new instance-ids must be letters and digits, got %r' % (stamp,))
    seeds = copy.deepcopy((cluster_plan.get('params') or {}).get('seeds'))
    if problems:
        return {'problems': problems, 'vms': [], 'rebuild': [], 'reseed': [], 'domains': [], 'stop_vms': [],
                'volumes': [], 'seeds': seeds}
    chosen = set(vm['name'] for vm in rebuilt + reseeded)
    vms = [vm for vm in cluster_plan.get('vms') or [] if vm['name'] in chosen]
    existing = set((objects.get('marked') or {}).get('domains') or [])
    pool = cluster_plan['pool']['name']
    volumes = []
    for vm in vms:
        if vm['name'] in rebuilding:
            volumes.append({'name': vm['volume'], 'pool': pool})
            if with_data:
                volumes.extend({'name': disk['volume'], 'pool': disk['pool']} for disk in vm.get('data_disks') or [])
    new_ids = dict((vm['seed_volume'], 'iid-%s-%s' % (vm['hostname'], stamp)) for vm in vms)
    for item in (seeds or {}).get('items') or []:
        if item.get('volume') in new_ids:
            item['instance_id'] = new_ids[item['volume']]
    return {
        'problems': [],
        'vms': [vm['name'] for vm in vms],
        'rebuild': [vm['name'] for vm in vms if vm['name'] in rebuilding],
        'reseed': [vm['name'] for vm in vms if vm['name'] not in rebuilding],
        'domains': [vm['domain'] for vm in vms],
        'stop_vms': teardown.stop_vms(cluster_plan, [vm['domain'] for vm in vms if vm['domain'] in existing]),
        'volumes': volumes,
        'seeds': seeds,
    }

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The summary table printed at the end of a provision.

Private to strata.libvirt; no compatibility promise.
"""

import datetime

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.strata.libvirt.plugins.module_utils._cluster.definition import as_list as _as_list
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import smoke as _smoke


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


def _domain_states(built):
    """domain name -> its libvirt state ('running', 'shut off', ...), from the domain results of a build
    (strata.libvirt.cluster_build's domains.results, or the domain module's results)."""
    states = {}
    for result in _as_list(built):
        facts = result.get('domain') if isinstance(result, dict) else None
        if isinstance(facts, dict) and facts.get('exists') and facts.get('name'):
            states[facts['name']] = facts.get('state')
    return states


def summary(cluster_plan, startup_results=None, check_mode=False, orphaned=None, pruned=False, built=None):
    """The table printed at the end of a provision: name, tier, IP, vCPUs, memory, state, ready after N s.

    startup_results: the registered results of the per-tier strata.libvirt.startup tasks (a loop's
    `results` list or single results). 'ready after' counts from the start of the first tier.
    orphaned: the cluster's domains that the definition no longer names, shown as orphaned (pruned: removed, or in
    check mode to be removed).
    cluster_plan['smoke_results'], when there: the registered results of the smoke tests (the role's smoke.yml), a
    table of their own after the VMs (VM, smoke test, result).
    built: the domain results of the build; a VM that no startup result names (the start was skipped) shows the
    state its domain was in after the build.
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
    states = _domain_states(built)
    rows = [('NAME', 'TIER', 'IP', 'VCPUS', 'MEMORY', 'STATE', 'READY')]
    for vm in cluster_plan.get('vms') or []:
        info = per_vm.get(vm['domain']) or {}
        state = info.get('status') or states.get(vm['domain']) or ('planned' if check_mode else 'unknown')
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
    word = ('would remove' if check_mode else 'removed (prune)') if pruned else 'orphaned'
    rows.extend((name, '-', '-', '-', '-', word, '-') for name in _as_list(orphaned))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ['  '.join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, '  '.join('-' * w for w in widths))
    if cluster_plan.get('smoke_results') is not None:
        lines.extend(_smoke.table(cluster_plan['smoke_results']))
    return lines

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Snapshots of a whole cluster (the cluster role's `snapshot` entry point, the playbook strata.libvirt.snapshot):
one snapshot name on every VM of the plan, taken, reverted, deleted or listed with the strata.libvirt.snapshot module.

    request(plan, name, action, live)     -> the checked request: the VMs in start order, the module's state, problems
    decide(request, info, checks=None)    -> the request with what the run does: from strata.libvirt.domain_info (the
                                             domains and their snapshots) and the snapshot module's check-mode results
    summary(decision, done, stopped, started, check_mode) -> the lines of the run's summary

Offline (create without live, and revert), the whole cluster is shut down in reverse order first and started again
in order with its probes afterwards, as provisioning starts it: the startup engine's VM list is the plan's.

Private to strata.libvirt; no compatibility promise.
"""

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._snapshot.spec import snapshot_name

ACTIONS = ('create', 'revert', 'delete', 'list')
# the snapshot module's state for each action that changes something
MODULE_STATES = {'create': 'present', 'revert': 'reverted', 'delete': 'absent'}
# the role's variables, with the playbook's extra vars that set them (for messages)
NAME_VAR = 'cluster_snapshot_name (-e snapshot=NAME)'
ACTION_VAR = 'cluster_snapshot_action (-e action=%s)' % '|'.join(ACTIONS)
LIVE_VAR = 'cluster_snapshot_live (-e live=true)'
# the plan's problems that would make the startup module refuse its options (offline actions stop and start with it)
STARTUP_PROBLEM = 'module startup'


def _vms(cluster_plan):
    """The plan's VMs in start order (their tier, then the definition's order): name, domain, tier."""
    vms = [{'name': vm['name'], 'domain': vm['domain'], 'tier': vm.get('tier') or 0}
           for vm in cluster_plan.get('vms') or []]
    return sorted(vms, key=lambda vm: vm['tier'])


def _start_order(cluster_plan, domains=None):
    """'a -> b, c': the plan's tiers (domain names) in start order, only the domains given when given."""
    tiers = []
    for tier in cluster_plan.get('tiers') or []:
        names = [name for name in tier.get('vms') or [] if domains is None or name in domains]
        if names:
            tiers.append(', '.join(names))
    return ' -> '.join(tiers)


def request(cluster_plan, name, action, live=False):
    """The request checked before anything is read or changed; every problem at once, one line each, naming the
    variable. An empty name is only allowed with action list (every snapshot is listed)."""
    if not isinstance(cluster_plan, dict):
        raise StrataError('cluster_snapshot_request: the input must be the plan (cluster_plan), a dict, not %s'
                          % type(cluster_plan).__name__)
    problems = []
    action = '' if action is None else str(action)
    if action not in ACTIONS:
        problems.append('%s: %r is not an action; use one of %s' % (ACTION_VAR, action, ', '.join(ACTIONS)))
    name = '' if name is None else str(name)
    if name or action != 'list':
        if not name:
            problems.append('%s: give the name of the snapshot to %s' % (NAME_VAR, action or 'work on'))
        else:
            try:
                snapshot_name(name, NAME_VAR)
            except StrataError as exc:
                problems.append(str(exc)[len('Option '):] if str(exc).startswith('Option ') else str(exc))
    if not isinstance(live, bool):
        problems.append('%s: must be true or false, not %r' % (LIVE_VAR, live))
        live = False
    if live and action in ACTIONS and action != 'create':
        problems.append('%s: only with action create (a live snapshot keeps the VMs running); action is %s'
                        % (LIVE_VAR, action))
    offline = action == 'revert' or (action == 'create' and not live)
    if offline:
        # the cluster is stopped and started with the startup module: what it would refuse, it refuses before that
        problems.extend(p for p in cluster_plan.get('params_problems') or [] if p.startswith(STARTUP_PROBLEM))
    vms = _vms(cluster_plan)
    return {
        'cluster': cluster_plan.get('name'), 'name': name, 'action': action, 'live': bool(live),
        'state': MODULE_STATES.get(action), 'offline': offline, 'vms': vms,
        'domains': [vm['domain'] for vm in vms], 'start_order': _start_order(cluster_plan),
        'problems': problems, 'request_problems': list(problems),
    }


def _by_item(checks):
    """The results of a loop over domain names, by domain name."""
    out = {}
    for result in (checks or {}).get('results') or []:
        if isinstance(result, dict) and result.get('item') is not None:
            out[result['item']] = result
    return out


def _refused(result):
    """Whether the snapshot module refused (or failed): its result says so, or has no actions, as a refusal of the
    planner has none (the check-mode task's failed_when: false hides the failed of the module)."""
    return bool(result.get('failed')) or ('actions' not in result and not result.get('skipped'))


def _facts(info):
    """strata.libvirt.domain_info's domains, by name."""
    return dict((dom['name'], dom) for dom in (info or {}).get('domains') or [] if isinstance(dom, dict))


def _label(vm):
    return vm['domain'] if vm['name'] == vm['domain'] else '%s (VM %s)' % (vm['domain'], vm['name'])


def decide(req, info, checks=None):
    """The request with what the run does. info: strata.libvirt.domain_info's result for the request's domains (with
    snapshots); checks: the snapshot module's check-mode results of a loop over `present` (None before that loop).

    Adds `present` (domains that exist, start order), `missing` (domains that do not), `running`, `targets` (the
    domains the snapshot module changes, start order), `stop` and `start` (whether the whole cluster is shut down
    and started again), `problems` (the request's, the missing domains for create and revert, and every refusal of
    the module, one line each) and `plan` (what a run does, one line a step; empty when nothing is to do)."""
    out = dict(req)
    facts = _facts(info)
    out['present'] = [vm['domain'] for vm in req['vms'] if vm['domain'] in facts]
    out['missing'] = [vm['domain'] for vm in req['vms'] if vm['domain'] not in facts]
    out['running'] = [name for name in out['present'] if facts[name].get('active')]
    problems = list(req['request_problems'])
    if req['action'] in ('create', 'revert'):
        problems.extend("VM %s: its domain does not exist (provision the cluster first, with strata.libvirt.provision); "
                        "a snapshot of the cluster is taken or reverted on every VM or none" % _label(vm)
                        for vm in req['vms'] if vm['domain'] in out['missing'])
    results = _by_item(checks)
    targets = []
    for vm in req['vms']:
        result = results.get(vm['domain'])
        if result is None:
            continue
        if _refused(result):
            problems.append('VM %s: %s' % (_label(vm), result.get('msg') or 'the snapshot module failed'))
        elif result.get('actions'):  # what the module would do (the task's changed may be overridden)
            targets.append(vm['domain'])
    out['problems'] = problems
    out['targets'] = targets if checks is not None else []
    out['stop'] = out['start'] = bool(req['offline'] and out['targets'])
    out['plan'] = _plan_lines(out) if not problems else []
    return out


def _plan_lines(decision):
    """What a run does, one line a step (the check mode message)."""
    name, targets = decision['name'], decision['targets']
    if not targets:
        return []
    lines = []
    if decision['stop']:
        stopping = [vm['domain'] for vm in reversed(decision['vms']) if vm['domain'] in decision['running']]
        lines.append('shut the whole cluster down, last tier first: %s' % (
            ', '.join(stopping) if stopping else 'none of its VMs runs'))
    if decision['action'] == 'create':
        how = ('with its memory where the VM runs (libvirt pauses it meanwhile), disks only where it is shut off'
               if decision['live'] else 'disks only, the VMs shut off')
        lines.append("take snapshot '%s' of %s (%s)" % (name, ', '.join(targets), how))
    elif decision['action'] == 'revert':
        lines.append("revert %s to snapshot '%s' (disks as the snapshot has them, left shut off)" % (', '.join(targets), name))
    else:
        lines.append("delete snapshot '%s' of %s" % (name, ', '.join(targets)))
    if decision['start']:
        lines.append('start the whole cluster in order, each VM once the VMs it depends on pass their probes: %s'
                     % decision['start_order'])
    return lines


def _snapshot_text(snap):
    parts = [snap.get('created') or 'created at an unknown time', snap.get('state') or 'unknown state',
             'with memory' if snap.get('memory') else 'disks only']
    if snap.get('location') == 'external':
        parts.append('external')
    if snap.get('current'):
        parts.append('current')
    return '%s (%s)' % (snap.get('name'), ', '.join(parts))


def _listing(decision, info):
    facts = _facts(info)
    lines = []
    for vm in decision['vms']:
        dom = facts.get(vm['domain'])
        if dom is None:
            lines.append('%s: no domain' % _label(vm))
            continue
        snaps = [snap for snap in dom.get('snapshots') or [] if not decision['name'] or snap.get('name') == decision['name']]
        text = '; '.join(_snapshot_text(snap) for snap in snaps) if snaps else (
            "no snapshot '%s'" % decision['name'] if decision['name'] else 'no snapshot')
        lines.append('%s [%s]: %s' % (_label(vm), dom.get('state') or 'unknown', text))
    return lines


def _done(decision, done, check_mode):
    """Per VM, what happened (or in check mode would happen)."""
    results = _by_item(done)
    would = 'would be ' if check_mode else ''
    verbs = {'create': 'taken', 'revert': 'reverted (its disks as the snapshot has them)', 'delete': 'deleted'}
    untouched = {'create': 'had it already', 'revert': 'not reverted', 'delete': 'did not have it'}
    lines = []
    for vm in decision['vms']:
        label, domain = _label(vm), vm['domain']
        if domain in decision['missing']:
            lines.append('%s: no domain, skipped' % label)
        elif domain in decision['targets']:
            result = results.get(domain)
            if check_mode or (result is not None and not result.get('failed') and not result.get('skipped')):
                memory = ''
                if decision['action'] == 'create' and result is not None:
                    after = (result.get('snapshot') or {})
                    if after.get('exists'):
                        memory = ' (%s)' % ('with memory' if after.get('memory') else 'disks only')
                lines.append('%s: %s%s%s' % (label, would, verbs[decision['action']], memory))
            else:
                lines.append('%s: not done (%s)' % (label, ((result or {}).get('msg') or 'the run stopped before it').rstrip('.')))
        else:
            lines.append('%s: %s' % (label, untouched[decision['action']]))
    return lines


def summary(decision, done=None, stopped=None, started=None, check_mode=False, info=None):
    """The lines of the run's summary: the action and snapshot, then one line per VM. done: the snapshot module's
    loop results over the targets; stopped, started: the startup module's results (or None when it did not run);
    info: the domain_info result (action list)."""
    head = 'Cluster %s: ' % decision['cluster']
    if decision['action'] == 'list':
        head += ("the snapshot '%s' of each VM" % decision['name']) if decision['name'] else 'the snapshots of each VM'
        return [head] + _listing(decision, info)
    head += "%s snapshot '%s'" % (decision['action'], decision['name'])
    if decision['action'] == 'create':
        head += ' (live)' if decision['live'] else ' (offline)'
    lines = [('Check mode, nothing changed. ' if check_mode else '') + head]
    if not decision['targets']:
        nothing = {'create': 'every VM has it', 'delete': 'no VM has it', 'revert': 'no VM to revert'}
        lines.append('nothing to do: %s' % nothing[decision['action']])
    for what, result in (('shut down', stopped), ('started', started)):
        if result and not result.get('skipped'):
            names = result.get('stopped' if what == 'shut down' else 'started') or []
            forced = result.get('forced') or []
            lines.append('%s: %s%s' % (what, ', '.join(names) if names else 'none (as they were)',
                                       ('; forced off after their grace period: %s' % ', '.join(forced)) if forced else ''))
    return lines + _done(decision, done, check_mode)

# -*- coding: utf-8 -*-
# Copyright: strata.libvirt developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible runs as the callback plugin (bench/callback_plugins/strata_bench_events.py) writes them: its JSON
lines read back, split into tasks, startup tiers and phases, and the recap's counts."""

from __future__ import annotations

import json
import os

from .util import rnd


def read_events(path):
    events = []
    if os.path.exists(path):
        with open(path, encoding='utf-8') as handle:
            for line in handle:
                try:
                    events.append(json.loads(line))
                except ValueError:
                    pass
    return events


def task_durations(events, started):
    """[(task name, action, seconds, [results])] in order, each task lasting until the next one starts."""
    starts = [e for e in events if e['event'] == 'task_start']
    end_time = max([e['time'] for e in events] or [started])
    tasks = []
    for index, event in enumerate(starts):
        until = starts[index + 1]['time'] if index + 1 < len(starts) else end_time
        results = [e for e in events if e['event'] == 'result' and e['uuid'] == event['uuid']]
        tasks.append({'task': event['task'], 'action': event['action'], 'began': event['time'],
                      'seconds': until - event['time'], 'results': results})
    return tasks


def startup_tiers(startup):
    """The tiers the startup tasks report: number, status, VMs and seconds from begin to ready."""
    tiers = []
    for task in startup:
        for result in task['results']:
            for item in result['result'].get('results', []) or [result['result']]:
                for tier in item.get('tiers') or []:
                    began, ready = tier.get('began') or {}, tier.get('ready') or {}
                    tiers.append({'tier': tier.get('tier'), 'status': tier.get('status'),
                                  'vms': [v.get('name') if isinstance(v, dict) else v for v in tier.get('vms', [])],
                                  'seconds': rnd(ready['t'] - began['t'], 2)
                                  if isinstance(ready.get('t'), (int, float)) and isinstance(began.get('t'), (int, float))
                                  else None})
    return tiers


def fill_tier_seconds(results):
    """--report on a run saved before tiers had their seconds: take them from its events files, if still there."""
    p = results['phases']
    runs = [(p.get('ours') or {}).get('cold')] + [pair.get('ours_cold') for pair in p.get('pairs') or []]
    for res in [r for r in runs if r and r.get('tiers') and any('seconds' not in t for t in r['tiers'])]:
        if res.get('events') and os.path.exists(res['events']):
            startup = [t for t in task_durations(read_events(res['events']), 0) if t['action'] == 'strata.libvirt.startup']
            # the log names are reused by the next run: only the events of this very run (same startup time)
            if startup and rnd(startup[-1]['began'] + startup[-1]['seconds'] - startup[0]['began'], 2) == res.get('startup_s'):
                res['tiers'] = startup_tiers(startup)


# the module each step of strata.libvirt.cluster_build runs the code of (its result's steps)
BUILD_STEPS = {'pool': 'pool', 'images': 'image', 'networks': 'network', 'external_networks': 'network',
               'volumes': 'volume', 'seeds': 'cloud_init', 'domains': 'domain'}


def expand_builds(tasks):
    """tasks with each strata.libvirt.cluster_build task split by its result's steps: one task per step, with the
    action of the module whose code the step ran, and the rest of the task's time (the module run itself: Ansible's
    work, the Python process, its imports) as the cluster_build task."""
    out = []
    for task in tasks:
        steps = [step for result in task['results'] for step in (result.get('result') or {}).get('steps') or []]
        if task['action'] != 'strata.libvirt.cluster_build' or not steps:
            out.append(task)
            continue
        for step in steps:
            out.append(dict(task, action='strata.libvirt.' + BUILD_STEPS.get(step['step'], step['step']),
                            task='%s (%s)' % (task['task'], step['step']), seconds=step['seconds']))
        out.append(dict(task, seconds=max(0.0, task['seconds'] - sum(step['seconds'] for step in steps))))
    return out


def classify(tasks, rules, started, finished):
    """Sum task seconds into phases: rules is [(phase, predicate(task))]; the rest is 'other tasks'.
    'ansible start-up' is the time before the first task began."""
    phases = {}
    order = ['ansible start-up']
    first = tasks[0]['began'] if tasks else finished
    phases['ansible start-up'] = first - started
    for task in tasks:
        phase = 'other tasks (set_fact, checks, summary)'
        for name, predicate in rules:
            if predicate(task):
                phase = name
                break
        if phase not in phases:
            phases[phase] = 0.0
            order.append(phase)
        phases[phase] += task['seconds']
    return [(name, rnd(phases[name], 2)) for name in order]


def recap_changed(events):
    stats = [e for e in events if e['event'] == 'stats']
    if not stats:
        return None, None
    recap = stats[-1]['recap']
    changed = sum(h.get('changed', 0) for h in recap.values())
    failures = sum(h.get('failures', 0) + h.get('unreachable', 0) for h in recap.values())
    return changed, failures

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The startup engine's scheduler end to end against libvirt's test:///default driver (no fake libvirt), with
command probes on the host that sleep: starts on the dependency graph's edges, max_parallel (also auto), start
retries, restart_on_timeout, on_failure=continue's skipped dependents, the schedule in the plan, the events
callback, and cancel()."""


import sys
import threading

import pytest

from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._startup import starting as _starting
from ansible_collections.strata.libvirt.plugins.module_utils._startup.engine import Engine
from ansible_collections.strata.libvirt.plugins.module_utils._startup.spec import normalize

libvirt = pytest.importorskip('libvirt')

URI = 'test:///default'
PREFIX = 'ss-'


def engine(hv, tmp_path, check=False, lines=None, events=None, **params):
    """An Engine on test:///default; lines: a list (gets the progress lines) or a callable."""
    config = normalize(params)
    state_dir = str(tmp_path / 'state')

    def lock():
        return _connection.hypervisor_lock(state_dir, URI, 10)

    sink = lines if callable(lines) or lines is None else lines.append
    extra = {'events': events} if events is not None else {}
    return Engine(config, hv, progress=sink, lock=lock, check_mode=check, **extra)


def sleeps(seconds):
    """A command probe that passes after `seconds`."""
    return {'type': 'command', 'command': [sys.executable, '-c', 'import time; time.sleep(%s)' % seconds]}


def events_of(result, name):
    return [e['event'] for e in result['vms'][name]['timeline']]


def event_t(result, name, prefix):
    return [e['t'] for e in result['vms'][name]['timeline'] if e['event'].startswith(prefix)][0]


def running(hv, name):
    return hv.lookupByName(name).isActive() == 1


def booting_at(result, names, t):
    """The VMs between their 'start issued' and 'ready' at time t: [start, ready)."""
    return [n for n in names if event_t(result, n, 'start issued') <= t < event_t(result, n, 'ready')]


class FlakyStart(object):
    """Wraps our start_domain: the VMs in `fail` get a StrataError from their first `times` start calls."""

    def __init__(self, monkeypatch, fail, times=1):
        self.real = _starting.start_domain
        self.left = dict((name, times) for name in fail)
        self.calls = []
        monkeypatch.setattr(_starting, 'start_domain', self)

    def __call__(self, conn, name):
        self.calls.append(name)
        if self.left.get(name):
            self.left[name] -= 1
            raise StrataError('boom')
        return self.real(conn, name)


# -- the edges, not the tiers -------------------------------------------------------------------------

def test_a_vm_starts_once_its_own_dependency_is_ready_not_after_its_whole_tier(hv, define, tmp_path):
    define('ss-gw', 'ss-slowdb', 'ss-app')
    vms = [{'name': 'ss-gw', 'tier': 0, 'probes': [sleeps(0.3)]},
           {'name': 'ss-slowdb', 'tier': 0, 'probes': [sleeps(1.5)]},
           {'name': 'ss-app', 'after': ['ss-gw']}]
    lines = []
    res = engine(hv, tmp_path, lines=lines, vms=vms).run()
    assert not res.get('failed'), res.get('msg')
    assert res['started'] == ['ss-gw', 'ss-slowdb', 'ss-app']
    assert event_t(res, 'ss-app', 'start issued') >= event_t(res, 'ss-gw', 'ready')
    assert event_t(res, 'ss-app', 'start issued') < event_t(res, 'ss-slowdb', 'ready')
    assert event_t(res, 'ss-app', 'ready') < event_t(res, 'ss-slowdb', 'ready')
    assert res['vms']['ss-app']['tier'] == 1 and res['plan']['schedule']['waits_for']['ss-app'] == ['ss-gw']
    assert any('ss-app after ss-gw' in line for line in lines)


def test_max_parallel_bounds_the_vms_between_start_and_ready(hv, define, tmp_path):
    names = ['ss-v%d' % i for i in range(5)]
    define(*names)
    lines = []
    res = engine(hv, tmp_path, lines=lines, vms=[{'name': n, 'probes': [sleeps(0.5)]} for n in names],
                 max_parallel=2).run()
    assert not res.get('failed'), res.get('msg')
    assert all(res['vms'][n]['status'] == 'ready' for n in names) and res['started'] == names
    for name in names:
        at = event_t(res, name, 'start issued')
        assert len(booting_at(res, names, at)) <= 2, (name, at, booting_at(res, names, at))
    assert max(len(booting_at(res, names, event_t(res, n, 'start issued'))) for n in names) == 2
    assert res['schedule']['peak_booting'] == 2 and res['schedule']['max_parallel'] == 2
    starts = [event_t(res, n, 'start issued') for n in names]
    assert starts == sorted(starts)                         # the definition's order
    assert starts[2] >= min(event_t(res, n, 'ready') for n in names[:2])
    assert any('ss-v2: ready to start; waiting for a start slot (max_parallel 2; 2 booting)' in line
               for line in lines)


@pytest.mark.parametrize('check', [True, False], ids=['check mode', 'run'])
def test_max_parallel_auto_is_resolved_from_the_host_cpus(hv, define, tmp_path, check):
    define('ss-a', 'ss-b')
    res = engine(hv, tmp_path, check=check, vms=[{'name': 'ss-a'}, {'name': 'ss-b'}], max_parallel='auto').run()
    assert not res.get('failed'), res.get('msg')
    schedule = res['plan']['schedule']
    value = schedule['max_parallel']
    assert isinstance(value, int) and not isinstance(value, bool) and value >= 1
    assert schedule['max_parallel_source'].startswith('auto: ') and 'host CPU(s)' in schedule['max_parallel_source']
    assert schedule['limits_text'] == 'max_parallel %d (%s)' % (value, schedule['max_parallel_source'])
    if check:
        assert res['started'] == [] and not running(hv, 'ss-a')
    else:
        assert res['started'] == ['ss-a', 'ss-b'] and 1 <= res['schedule']['peak_booting'] <= value


# -- start retries -------------------------------------------------------------------------------------

def test_a_refused_start_is_tried_again_after_the_backoff(hv, define, tmp_path, monkeypatch):
    define('ss-a', 'ss-b')
    flaky = FlakyStart(monkeypatch, ['ss-b'])
    lines = []
    res = engine(hv, tmp_path, lines=lines, vms=[{'name': 'ss-a'}, {'name': 'ss-b'}], start_backoff=0.1).run()
    assert not res.get('failed'), res.get('msg')
    assert flaky.calls.count('ss-b') == 2 and flaky.calls.count('ss-a') == 1
    assert res['vms']['ss-b']['status'] == 'ready' and running(hv, 'ss-b')
    events = events_of(res, 'ss-b')
    assert events[0] == 'start failed: boom; trying again in 0.1 s (retry 1 of 2)'
    assert events[1] == 'start issued (started)' and events[-1] == 'ready'
    assert event_t(res, 'ss-b', 'start issued') - event_t(res, 'ss-b', 'start failed') >= 0.09
    assert res['started'] == ['ss-a', 'ss-b'] and res['changed'] is True
    assert any('ss-b: start failed: boom; trying again in 0.1 s' in line for line in lines)


@pytest.mark.parametrize('retries, failed_with', [
    (0, "VM 'ss-b' (tier 0) could not be started: boom"),
    (1, "VM 'ss-b' (tier 0) could not be started (2 attempts): boom"),
], ids=['no retries', 'retries run out'])
def test_when_the_start_retries_run_out_the_vm_could_not_be_started(hv, define, tmp_path, monkeypatch, retries, failed_with):
    define('ss-b')
    flaky = FlakyStart(monkeypatch, ['ss-b'], times=5)
    res = engine(hv, tmp_path, vms=[{'name': 'ss-b'}], start_backoff=0.1, start_retries=retries).run()
    assert res['failed'] is True and flaky.calls == ['ss-b'] * (retries + 1)
    assert res['msg'].startswith(failed_with) and res['vms']['ss-b']['error'] == failed_with
    assert res['vms']['ss-b']['status'] == 'failed' and not running(hv, 'ss-b') and res['started'] == []
    retried = ['start failed: boom; trying again in 0.1 s (retry 1 of 1)'] if retries else []
    assert events_of(res, 'ss-b') == retried + ['start failed: boom']


# -- restart_on_timeout --------------------------------------------------------------------------------

@pytest.mark.parametrize('where', ['task', 'vm', 'off'])
def test_restart_on_timeout_powers_the_vm_off_and_starts_it_once_more(hv, define, tmp_path, where):
    define('ss-r')
    marker = tmp_path / 'booted-twice'
    probe = {'type': 'command', 'interval': 0.2,
             'command': [sys.executable, '-c', 'import os, sys; sys.exit(0 if os.path.exists(%r) else 1)' % str(marker)]}
    vm = {'name': 'ss-r', 'timeout': 1, 'probes': [probe]}
    params = {}
    if where == 'task':
        params['restart_on_timeout'] = True
    elif where == 'vm':
        vm['restart_on_timeout'] = True
    lines = []

    def sink(line):
        lines.append(line)
        if 'powering it off and starting it once more' in line:
            marker.write_text('up')     # the second boot comes up

    res = engine(hv, tmp_path, lines=sink, vms=[vm], **params).run()
    if where == 'off':
        assert res['failed'] is True and res['restarted'] == [] and not marker.exists()
        assert "VM 'ss-r' (tier 0) not ready: probe command" in res['msg'] and 'did not pass within the timeout 1 s' in res['msg']
        assert 'after one restart' not in res['msg']
        return
    assert not res.get('failed'), res.get('msg')
    assert res['restarted'] == ['ss-r'] and res['vms']['ss-r']['status'] == 'ready' and running(hv, 'ss-r')
    events = events_of(res, 'ss-r')
    restart = [e for e in events if e.startswith('not ready within the timeout 1 s (probe command')]
    assert len(restart) == 1 and restart[0].endswith('powering it off and starting it once more')
    assert 'command exited 1' in restart[0]
    assert events.index('start issued (started)') < events.index(restart[0]) < events.index('start issued again (started)')
    assert events[-1] == 'ready' and res['plan']['schedule']['restart_on_timeout'] == ['ss-r']
    assert any('ss-r: start issued again' in line for line in lines)


def test_restart_on_timeout_leaves_a_vm_that_was_already_running_alone(hv, define, tmp_path):
    define('ss-r')
    hv.lookupByName('ss-r').create()
    vm = {'name': 'ss-r', 'timeout': 1, 'restart_on_timeout': True,
          'probes': [{'type': 'command', 'command': 'false', 'interval': 0.2}]}
    res = engine(hv, tmp_path, vms=[vm]).run()
    assert res['failed'] is True and res['restarted'] == [] and 'did not pass within the timeout 1 s' in res['msg']
    assert not any(e.startswith('start issued') for e in events_of(res, 'ss-r')) and running(hv, 'ss-r')


# -- on_failure=continue -------------------------------------------------------------------------------

@pytest.mark.parametrize('how', ['probe', 'start'])
def test_continue_skips_only_the_dependents_and_says_so(hv, define, tmp_path, monkeypatch, how):
    names = ('ss-a', 'ss-b', 'ss-c', 'ss-x', 'ss-y')
    define(*names)
    vms = [{'name': 'ss-a'}, {'name': 'ss-b', 'after': ['ss-a']}, {'name': 'ss-c', 'after': ['ss-b']},
           {'name': 'ss-x', 'probes': [sleeps(0.3)]}, {'name': 'ss-y', 'after': ['ss-x']}]
    if how == 'probe':
        vms[0]['probes'] = [{'type': 'command', 'command': '/nonexistent/x'}]     # fails at once
        why = 'did not become ready'
    else:
        FlakyStart(monkeypatch, ['ss-a'], times=5)
        why = 'could not be started'
    lines, events = [], []
    res = engine(hv, tmp_path, lines=lines, events=events.append, vms=vms, on_failure='continue', start_retries=0).run()
    assert res['failed'] is True and res['skipped'] == ['ss-b', 'ss-c']
    assert 'skipped, as they depend on it: ss-b, ss-c' in res['msg']
    for name in ('ss-b', 'ss-c'):
        reason = "skipped: it depends on 'ss-a', which %s" % why
        assert res['vms'][name]['status'] == 'skipped' and res['vms'][name]['reason'] == reason
        assert events_of(res, name) == [reason] and not running(hv, name)
        assert len([line for line in lines if line.endswith('] %s: %s' % (name, reason))]) == 1
        assert [e for e in events if e['vm'] == name and e['kind'] == 'skipped'][0]['notable'] is True
    assert res['vms']['ss-y']['status'] == 'ready' and running(hv, 'ss-x') and running(hv, 'ss-y')
    assert res['running'] == (['ss-a', 'ss-x', 'ss-y'] if how == 'probe' else ['ss-x', 'ss-y'])


# -- the schedule in the plan --------------------------------------------------------------------------

SCHEDULED = [{'name': 'ss-gw', 'labels': ['net']},
             {'name': 'ss-db', 'after': ['ss-gw'], 'labels': ['db']},
             {'name': 'ss-web1', 'after': ['ss-db'], 'labels': ['web'], 'restart_on_timeout': True},
             {'name': 'ss-web2', 'after': ['ss-db'], 'labels': ['web']},
             {'name': 'ss-mon'}]


def test_check_mode_shows_the_schedule(hv, define, tmp_path):
    define(*[vm['name'] for vm in SCHEDULED])
    res = engine(hv, tmp_path, check=True, vms=SCHEDULED, max_parallel=2, limits={'web': 1}, start_retries=1,
                 start_backoff=0.5, tier_delay=2).run()
    schedule = res['plan']['schedule']
    assert schedule['edges'] == [{'from': 'ss-gw', 'to': 'ss-db'}, {'from': 'ss-db', 'to': 'ss-web1'},
                                 {'from': 'ss-db', 'to': 'ss-web2'}]
    assert schedule['start_order'] == ['ss-gw', 'ss-mon', 'ss-db', 'ss-web1', 'ss-web2']
    assert schedule['waits_for'] == {'ss-gw': [], 'ss-db': ['ss-gw'], 'ss-web1': ['ss-db'], 'ss-web2': ['ss-db'],
                                     'ss-mon': []}
    assert schedule['limits_text'] == 'max_parallel 2, web at most 1'
    assert schedule['max_parallel'] == 2 and schedule['max_parallel_source'] is None and schedule['limits'] == {'web': 1}
    assert schedule['start_retries'] == 1 and schedule['start_backoff'] == 0.5 and schedule['tier_delay'] == 2
    assert schedule['restart_on_timeout'] == ['ss-web1'] and 'stop_waves' not in schedule
    assert res['schedule'] == schedule and 'peak_booting' not in res['schedule']
    assert res['started'] == [] and not any(running(hv, vm['name']) for vm in SCHEDULED)

    down = engine(hv, tmp_path, check=True, vms=SCHEDULED, state='stopped').run()['plan']['schedule']
    assert down['stop_waves'] == [['ss-web2', 'ss-web1', 'ss-mon'], ['ss-db'], ['ss-gw']]
    assert 'start_order' not in down and 'waits_for' not in down and down['limits_text'] == 'no start limit'


# -- the events callback -------------------------------------------------------------------------------

def test_events_mark_what_a_person_follows(hv, define, tmp_path):
    define('ss-a', 'ss-b')
    vms = [{'name': 'ss-a', 'probes': [sleeps(0.3)]}, {'name': 'ss-b', 'after': ['ss-a']}]
    events = []
    res = engine(hv, tmp_path, events=events.append, vms=vms).run()
    assert not res.get('failed'), res.get('msg')
    assert events and all(set(e) == {'t', 'vm', 'kind', 'text', 'notable'} for e in events)
    assert all(isinstance(e['notable'], bool) and isinstance(e['t'], float) for e in events)
    passed = [e for e in events if e['text'].startswith('ss-a: probe command') and e['text'].endswith(' passed')]
    assert len(passed) == 1 and passed[0]['notable'] is False and passed[0]['vm'] == 'ss-a' and passed[0]['kind'] == 'probe'
    for name in ('ss-a', 'ss-b'):
        ready = [e for e in events if e['vm'] == name and e['kind'] == 'ready']
        assert [e['text'] for e in ready] == ['%s: ready' % name] and ready[0]['notable'] is True
        start = [e for e in events if e['vm'] == name and e['kind'] == 'start']
        assert start[0]['text'] == '%s: start issued (started)' % name and start[0]['notable'] is True

    again = []
    res = engine(hv, tmp_path, events=again.append, vms=vms).run()
    assert not res.get('failed') and res['changed'] is False
    ready = [e for e in again if e['kind'] == 'ready']
    assert sorted(e['vm'] for e in ready) == ['ss-a', 'ss-b'] and not any(e['notable'] for e in ready)
    done = [e for e in again if e['notable'] and e['text'].startswith('all 2 VM(s) already run and are ready')]
    assert len(done) == 1 and done[0]['vm'] is None
    assert [e for e in again if e['notable'] and e['vm']] == []


# -- cancel ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize('policy', ['abort', 'continue'])
def test_cancel_stops_the_start_and_what_it_started(hv, define, tmp_path, policy):
    names = ('ss-a', 'ss-b', 'ss-c')
    define(*names)
    vms = [{'name': 'ss-a', 'probes': [sleeps(0.3)]},
           {'name': 'ss-b', 'after': ['ss-a'], 'timeout': 8, 'probes': [{'type': 'command', 'command': 'false', 'interval': 0.2}]},
           {'name': 'ss-c', 'after': ['ss-b']}]
    b_started = threading.Event()

    def events(record):
        if record['vm'] == 'ss-b' and record['kind'] == 'start':
            b_started.set()

    run = engine(hv, tmp_path, events=events, vms=vms, grace=5, on_failure=policy)

    def cancel():
        if b_started.wait(10):
            threading.Event().wait(0.3)         # while ss-b's probe is being retried
            run.cancel('SIGTERM')
    canceller = threading.Thread(target=cancel)
    canceller.start()
    try:
        res = run.run()
    finally:
        canceller.join()
    assert b_started.is_set()
    assert res['failed'] is True and res['msg'].startswith('the start was cancelled (SIGTERM)'), res.get('msg')
    assert res['elapsed'] < 6                    # not ss-b's 8 s timeout
    assert res['started'] == ['ss-a', 'ss-b'] and res['stopped'] == ['ss-b', 'ss-a']
    assert 'stopped what this run started (ss-b, ss-a); running now: none' in res['msg']
    assert res['running'] == [] and not any(running(hv, n) for n in names)
    assert res['vms']['ss-b']['status'] == 'abandoned'
    assert res['vms']['ss-c']['status'] == 'not started' and 'cancelled (SIGTERM)' in res['vms']['ss-c']['reason']
    assert not any(e.startswith('start issued') for e in events_of(res, 'ss-c'))
    assert res['skipped'] == [] and res['vms']['ss-c']['reason'] == 'not started: the run was cancelled (SIGTERM)'

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The start scheduler's pure part on a fake clock: which VM may start when on the dependency graph's edges,
within max_parallel and per-label limits; retries, delays, policies; the order of a shutdown; the new options'
validation and the worst case they give."""


import pytest

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._startup.graph import build_graph
from ansible_collections.strata.libvirt.plugins.module_utils._startup.schedule import Schedule, simulate, start_order, stop_waves
from ansible_collections.strata.libvirt.plugins.module_utils._startup.spec import normalize, worst_case


def planned(*vms, **params):
    """(config, graph, names in the engine's priority order: tier, then definition order)."""
    config = normalize(dict(params, vms=list(vms)))
    graph = build_graph(config['vms'])
    index = dict((vm['name'], i) for i, vm in enumerate(config['vms']))
    names = sorted(index, key=lambda n: (graph['level'][n], index[n]))
    return config, graph, names


def schedule_of(*vms, **params):
    """A Schedule as the engine builds it from a definition."""
    config, graph, names = planned(*vms, **params)
    labels = dict((vm['name'], vm['labels']) for vm in config['vms'])
    return Schedule(names, graph['deps'], labels=labels, max_parallel=config['max_parallel'], limits=config['limits'],
                    delay=config['tier_delay'], policy=config['on_failure'])


def booting_at(timeline, t, among=None):
    """The VMs between their start and their end (ready or failed) at time t: [start, end)."""
    out = []
    for name, times in timeline.items():
        end = times.get('ready', times.get('failed'))
        if (among is None or name in among) and times['start'] <= t and (end is None or t < end):
            out.append(name)
    return out


def peak(timeline, among=None):
    return max(len(booting_at(timeline, times['start'], among)) for times in timeline.values())


GW_DB_APP = ({'name': 'gw', 'tier': 0}, {'name': 'slowdb', 'tier': 0}, {'name': 'app', 'after': ['gw']})


# -- the edges, not the tiers -----------------------------------------------------------------------

def test_a_vm_starts_when_its_own_dependencies_are_ready_not_its_whole_tier():
    sched = schedule_of(*GW_DB_APP)
    assert sched.names == ['gw', 'slowdb', 'app']       # app is in tier 1, but waits only for gw
    out = simulate(sched, {'gw': 10, 'slowdb': 100, 'app': 5})
    line = out['timeline']
    assert line['gw'] == {'start': 0, 'ready': 10} and line['slowdb'] == {'start': 0, 'ready': 100}
    assert line['app'] == {'start': 10, 'ready': 15}
    assert line['app']['start'] < line['slowdb']['ready']
    assert out['skipped'] == [] and out['not_started'] == [] and out['peak'] == 2


def test_under_abort_a_failure_halts_new_starts_but_not_a_vm_that_already_started():
    # app started at 10, slowdb fails at 100: app was already booting and becomes ready
    out = simulate(schedule_of(*GW_DB_APP), {'gw': 10, 'slowdb': 100, 'app': 5}, fails={'slowdb'})
    line = out['timeline']
    assert line['slowdb'] == {'start': 0, 'failed': 100}
    assert line['app'] == {'start': 10, 'ready': 15}
    assert out['not_started'] == [] and out['skipped'] == []
    # app boots past slowdb's failure; 'late' (after app) would start at 160: under abort it never starts
    sched = schedule_of(*(GW_DB_APP + ({'name': 'late', 'after': ['app']},)))
    out = simulate(sched, {'gw': 10, 'slowdb': 100, 'app': 150, 'late': 1})
    assert out['timeline']['late'] == {'start': 160, 'ready': 161}
    sched = schedule_of(*(GW_DB_APP + ({'name': 'late', 'after': ['app']},)))
    out = simulate(sched, {'gw': 10, 'slowdb': 100, 'app': 150, 'late': 1}, fails={'slowdb'})
    assert out['timeline']['app'] == {'start': 10, 'ready': 160}     # what booted goes on booting
    assert 'late' not in out['timeline'] and out['not_started'] == ['late']
    assert out['skipped'] == []                                      # abort halts; nothing is called skipped
    assert sched.halted and sched.due(1000) == [] and sched.finished()


def test_a_diamond_joins_on_both_branches():
    vms = ({'name': 'a'}, {'name': 'b', 'after': ['a']}, {'name': 'c', 'after': ['a']}, {'name': 'd', 'after': ['b', 'c']})
    for b, c in ((5, 2), (2, 5)):
        line = simulate(schedule_of(*vms), {'a': 1, 'b': b, 'c': c, 'd': 1})['timeline']
        assert line['b']['start'] == line['c']['start'] == line['a']['ready'] == 1
        assert line['d']['start'] == max(line['b']['ready'], line['c']['ready']) == 1 + max(b, c)
        assert line['d']['start'] > min(line['b']['ready'], line['c']['ready'])


# -- start limits ----------------------------------------------------------------------------------

def test_max_parallel_bounds_the_vms_booting_at_once():
    vms = [{'name': 'v%d' % i} for i in range(6)]
    boot = {'v0': 3, 'v1': 1, 'v2': 4, 'v3': 1, 'v4': 5, 'v5': 9}
    sched = schedule_of(*vms, max_parallel=2)
    out = simulate(sched, boot)
    line = out['timeline']
    assert sorted(line) == sorted(boot) and all('ready' in t for t in line.values())
    for name, times in line.items():
        assert len(booting_at(line, times['start'])) <= 2, (name, booting_at(line, times['start']))
    assert peak(line) == 2 and out['peak'] == 2 and sched.peak == 2
    starts = [line['v%d' % i]['start'] for i in range(6)]
    assert starts == sorted(starts)                                   # the definition's order
    assert sorted(line, key=lambda n: (line[n]['start'], n)) == ['v%d' % i for i in range(6)]
    # v0 and v1 first; v2 takes v1's slot at 1, v3 v0's at 3, v4 v3's at 4, v5 v2's at 5
    assert starts == [0, 0, 1, 3, 4, 5]
    unlimited = simulate(schedule_of(*vms), boot)
    assert unlimited['peak'] == 6 and all(t['start'] == 0 for t in unlimited['timeline'].values())


def test_a_label_limit_holds_back_only_the_vms_with_the_label():
    vms = ([{'name': 'web%d' % i, 'labels': ['web']} for i in range(3)]
           + [{'name': 'db%d' % i, 'labels': ['db']} for i in range(2)])
    boot = dict([('web%d' % i, 10) for i in range(3)] + [('db%d' % i, 3) for i in range(2)])
    sched = schedule_of(*vms, limits={'web': 1})
    out = simulate(sched, boot)
    line = out['timeline']
    webs = ['web0', 'web1', 'web2']
    assert [line[n]['start'] for n in webs] == [0, 10, 20]
    assert line['db0']['start'] == line['db1']['start'] == 0          # not held back by the waiting web VMs
    assert peak(line, webs) == 1 and sched.peak_label == {'web': 1}
    assert all('ready' in t for t in line.values())
    # with max_parallel 2 too: a db VM takes the second slot while web1 waits for the web slot
    sched = schedule_of(*vms, limits={'web': 1}, max_parallel=2)
    line = simulate(sched, boot)['timeline']
    assert line['web0']['start'] == 0 and line['db0']['start'] == 0
    assert line['db1']['start'] == 3 and line['web1']['start'] == 10 and line['web2']['start'] == 20
    assert peak(line) == 2 and peak(line, webs) == 1


def test_waiting_for_room_names_the_vms_held_back_only_by_a_limit():
    sched = schedule_of({'name': 'a'}, {'name': 'b'}, {'name': 'c', 'after': ['a']}, max_parallel=1)
    assert sched.due(0) == ['a']
    assert sched.waiting_for_room(0) == ['b']                         # c waits for a, not for a slot
    sched.ready('a', 2)
    assert sched.due(2) == ['b'] and sched.waiting_for_room(2) == ['c']


# -- failures, retries, delays ---------------------------------------------------------------------

def test_continue_skips_only_the_dependents_of_the_failed_vm():
    vms = ({'name': 'a'}, {'name': 'x'}, {'name': 'b', 'after': ['a']}, {'name': 'y', 'after': ['x']},
           {'name': 'c', 'after': ['b']}, {'name': 'z', 'after': ['a', 'x']})
    sched = schedule_of(*vms, on_failure='continue')
    out = simulate(sched, {'a': 2, 'x': 3, 'b': 1, 'y': 1, 'c': 1, 'z': 1}, fails={'a'})
    line = out['timeline']
    assert out['skipped'] == ['b', 'z', 'c']                          # transitively, in priority order
    assert [sched.state[n] for n in ('b', 'c', 'z')] == ['skipped'] * 3
    assert not any(n in line for n in ('b', 'c', 'z'))
    assert line['x'] == {'start': 0, 'ready': 3} and line['y'] == {'start': 3, 'ready': 4}
    assert out['not_started'] == [] and sched.finished() and not sched.halted
    # the same failure under abort: y (after x, ready at 3) never starts, and nothing is called skipped
    out = simulate(schedule_of(*vms), {'a': 2, 'x': 3, 'b': 1, 'y': 1, 'c': 1, 'z': 1}, fails={'a'})
    assert out['skipped'] == [] and 'y' not in out['timeline'] and out['timeline']['x']['ready'] == 3
    assert out['not_started'] == ['b', 'y', 'z', 'c']


def test_a_retry_frees_the_slot_and_starts_again_at_its_time():
    sched = schedule_of({'name': 'a'}, {'name': 'b'}, max_parallel=1)
    assert sched.due(0) == ['a'] and sched.waiting_for_room(0) == ['b']
    sched.retry('a', 5.0)                                             # the start call failed; again at 5
    assert sched.state['a'] == 'waiting' and sched.booting() == []
    assert sched.due(1) == ['b']                                      # a's slot went to b meanwhile
    assert sched.wake(1) == 5.0 and not sched.finished()
    sched.ready('b', 2)
    assert sched.due(2) == [] and sched.wake(2) == 5.0
    assert sched.due(4.9) == [] and sched.due(5.0) == ['a']
    sched.ready('a', 6)
    assert sched.finished() and sched.wake(6) is None and sched.peak == 1
    # without a limit: the retried VM waits for its time only
    sched = schedule_of({'name': 'a'})
    assert sched.due(0) == ['a']
    sched.retry('a', 3.0)
    assert sched.due(1) == [] and sched.wake(1) == 3.0 and not sched.finished()
    assert sched.due(3.0) == ['a']


def test_tier_delay_counts_from_the_last_dependency_ready():
    vms = ({'name': 'a'}, {'name': 'c'}, {'name': 'b', 'after': ['a']}, {'name': 'd', 'after': ['a', 'c']},
           {'name': 'e', 'tier': 1})
    sched = schedule_of(*vms, tier_delay=5)
    assert sched.delay == 5.0
    line = simulate(sched, {'a': 10, 'c': 20, 'b': 1, 'd': 1, 'e': 1})['timeline']
    assert line['a']['start'] == line['c']['start'] == 0              # no dependency: no delay
    assert line['b']['start'] == 15                                   # a ready at 10, + 5
    assert line['d']['start'] == 25                                   # c (its last) ready at 20, + 5
    assert line['e']['start'] == 25                                   # tier 1 waits for every tier 0 VM with a tier
    sched = schedule_of(*vms, tier_delay=5)
    sched.due(0)
    sched.ready('a', 10)
    assert sched.due(12) == [] and sched.wake(12) == 15.0 and sched.due(15) == ['b']


# -- order of a start and of a shutdown ------------------------------------------------------------

def test_start_order_and_stop_waves_follow_the_edges():
    config, graph, names = planned({'name': 'gw', 'tier': 0}, {'name': 'app1', 'tier': 1}, {'name': 'app2', 'after': ['gw']},
                                   {'name': 'web', 'tier': 2})
    assert graph['deps'] == {'gw': [], 'app1': ['gw'], 'app2': ['gw'], 'web': ['gw', 'app1']}
    assert start_order(names, graph['deps']) == ['gw', 'app1', 'app2', 'web']
    # web and app2 have no dependents: they stop first, together; gw last
    assert stop_waves(names[::-1], graph['dependents']) == [['web', 'app2'], ['app1'], ['gw']]
    # a dependency given later in the definition still starts first; the shutdown is its reverse
    deps = {'app': ['db'], 'db': [], 'mon': []}
    assert start_order(['app', 'mon', 'db'], deps) == ['mon', 'db', 'app']
    assert stop_waves(['app', 'mon', 'db'], {'db': ['app'], 'app': [], 'mon': []}) == [['app', 'mon'], ['db']]
    # a diamond: d, then b and c side by side, then a
    deps = {'a': [], 'b': ['a'], 'c': ['a'], 'd': ['b', 'c']}
    dependents = {'a': ['b', 'c'], 'b': ['d'], 'c': ['d'], 'd': []}
    assert start_order(['a', 'b', 'c', 'd'], deps) == ['a', 'b', 'c', 'd']
    assert stop_waves(['d', 'c', 'b', 'a'], dependents) == [['d'], ['c', 'b'], ['a']]
    # only the VMs of the run count: without d, b and c stop first
    assert stop_waves(['c', 'b', 'a'], dependents) == [['c', 'b'], ['a']]


# -- the new options' validation -------------------------------------------------------------------

def error_of(**params):
    params.setdefault('vms', [{'name': 'a', 'labels': ['web']}])
    with pytest.raises(StrataError) as err:
        normalize(params)
    return str(err.value)


@pytest.mark.parametrize('value', [0, -1, 'x', True, 2.5, [2]], ids=['0', '-1', 'x', 'True', '2.5', 'list'])
def test_invalid_max_parallel_is_an_error_naming_the_field(value):
    msg = error_of(max_parallel=value)
    assert msg.startswith('max_parallel: '), msg


def test_valid_max_parallel_values():
    vms = [{'name': 'a'}]
    assert normalize({'vms': vms})['max_parallel'] is None
    assert normalize({'vms': vms, 'max_parallel': 3})['max_parallel'] == 3
    assert normalize({'vms': vms, 'max_parallel': '3'})['max_parallel'] == 3
    assert normalize({'vms': vms, 'max_parallel': 'auto'})['max_parallel'] == 'auto'


def test_limits_and_labels_are_checked():
    msg = error_of(limits={'db': 1})
    assert msg.startswith('limits.db: ') and "no VM has the label 'db'" in msg and 'labels: web' in msg
    assert error_of(limits={'web': 0}).startswith('limits.web: ')
    assert error_of(limits={'web': 'auto'}).startswith('limits.web: ')
    assert error_of(limits=['web']).startswith('limits: ')
    msg = error_of(vms=[{'name': 'a', 'labels': {'web': 1}}])
    assert msg.startswith('vms[0] (a).labels: must be a list of label names'), msg
    assert error_of(vms=[{'name': 'a', 'labels': [1]}]).startswith('vms[0] (a).labels: ')
    assert error_of(vms=[{'name': 'a', 'restart_on_timeout': 'yes'}]).startswith('vms[0] (a).restart_on_timeout: ')
    assert error_of(start_retries=-1).startswith('start_retries: ')
    assert error_of(start_retries=True).startswith('start_retries: ')
    config = normalize({'vms': [{'name': 'a', 'labels': 'web'}, {'name': 'b', 'restart_on_timeout': True}],
                        'limits': {'web': 2}})
    assert config['vms'][0]['labels'] == ['web'] and config['limits'] == {'web': 2}
    assert config['vms'][0]['restart_on_timeout'] is False and config['vms'][1]['restart_on_timeout'] is True


def test_worst_case_grows_as_the_start_limit_tightens():
    vms = [{'name': 'v%d' % i, 'timeout': 60} for i in range(4)]

    def start(**params):
        return worst_case(normalize(dict(params, vms=vms)))['start']

    free = start()
    assert free < start(max_parallel=4) < start(max_parallel=2) < start(max_parallel=1)
    assert start(max_parallel='auto') == start(max_parallel=1)
    assert start(max_parallel=2, restart_on_timeout=True) > start(max_parallel=2)
    assert start(start_retries=3, start_backoff=10) > start()
    assert start(start_delay=30) == free + 30

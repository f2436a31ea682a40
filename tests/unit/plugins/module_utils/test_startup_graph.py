# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The startup engine's pure part: validation, the dependency graph and its tiers."""


import pytest

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._startup.spec import normalize
from ansible_collections.strata.libvirt.plugins.module_utils._startup.graph import build_graph, find_cycle


def tiers_of(*vms, **params):
    params['vms'] = list(vms)
    config = normalize(params)
    return build_graph(config['vms'])['tiers']


def test_tier_numbers_group_and_order():
    assert tiers_of({'name': 'app', 'tier': 2}, {'name': 'gw', 'tier': 0}, {'name': 'db', 'tier': 1},
                    {'name': 'web', 'tier': 2}) == [['gw'], ['db'], ['app', 'web']]


def test_sparse_tier_numbers_become_consecutive_levels():
    assert tiers_of({'name': 'a', 'tier': 10}, {'name': 'b', 'tier': 20}, {'name': 'c', 'tier': 10}) == [['a', 'c'], ['b']]


def test_no_tier_no_after_means_tier_zero():
    assert tiers_of({'name': 'a'}, {'name': 'b', 'tier': 1}) == [['a'], ['b']]


def test_after_gives_topological_levels():
    assert tiers_of({'name': 'web', 'after': ['db', 'gw']}, {'name': 'db', 'after': ['gw']}, {'name': 'gw'},
                    {'name': 'mon', 'after': ['gw']}) == [['gw'], ['db', 'mon'], ['web']]


def test_after_and_tier_mixed():
    graph = build_graph(normalize({'vms': [
        {'name': 'gw', 'tier': 0}, {'name': 'dns', 'tier': 1}, {'name': 'app', 'after': ['dns']},
        {'name': 'lb', 'tier': 2}]})['vms'])
    assert graph['tiers'] == [['gw'], ['dns'], ['app', 'lb']]
    assert graph['deps'] == {'gw': [], 'dns': ['gw'], 'app': ['dns'], 'lb': ['gw', 'dns']}
    assert graph['dependents']['dns'] == ['app', 'lb']


def test_after_as_a_string_and_duplicates():
    config = normalize({'vms': [{'name': 'a'}, {'name': 'b', 'after': 'a'}, {'name': 'c', 'after': ['a', 'a']}]})
    assert [vm['after'] for vm in config['vms']] == [[], ['a'], ['a']]


@pytest.mark.parametrize('vms, message', [
    ([{'name': 'a', 'after': ['b']}, {'name': 'b', 'after': ['a']}], 'dependency cycle: '),
    ([{'name': 'a', 'after': ['b']}, {'name': 'b', 'after': ['c']}, {'name': 'c', 'after': ['a']}],
     'dependency cycle: '),
    ([{'name': 'a', 'after': ['a']}], "VM 'a': after names the VM itself"),
    ([{'name': 'a', 'after': ['nope', 'b']}, {'name': 'b'}], "VM 'a': after names unknown VM(s) 'nope'; known VMs: a, b"),
    ([{'name': 'a', 'tier': 1, 'after': ['b']}, {'name': 'b'}], 'vms[0] (a): give either tier or after, not both'),
    ([{'name': 'a'}, {'name': 'a'}], "vms: the name 'a' is given twice"),
    ([{'name': 'a b'}], 'vms[0].name: invalid domain name'),
    ([{'name': 'a', 'tier': -1}], 'vms[0] (a).tier: must be 0 or more'),
    ([{'name': 'a', 'wait': 3}], 'vms[0]: unknown key(s) wait'),
    ([{'name': 'a', 'timeout': 0}], 'vms[0] (a).timeout: 0 is less than 1'),
    ([], 'vms: give at least one VM'),
])
def test_invalid_definitions_are_rejected_with_clear_messages(vms, message):
    with pytest.raises(StrataError) as err:
        normalize({'vms': vms})
    assert message in str(err.value)


def test_cycle_is_reported_as_a_path():
    with pytest.raises(StrataError) as err:
        normalize({'vms': [{'name': 'fw', 'after': ['app']}, {'name': 'db', 'after': ['fw']}, {'name': 'app', 'after': ['db']},
                           {'name': 'other'}]})
    text = str(err.value)
    path = text.split('dependency cycle: ')[1].split(';')[0].split(' -> ')
    assert path[0] == path[-1] and sorted(path[:-1]) == ['app', 'db', 'fw']
    # every arrow goes from a VM to one that waits for it
    waits_for = {'fw': 'app', 'db': 'fw', 'app': 'db'}
    assert all(waits_for[b] == a for a, b in zip(path, path[1:]))


def test_find_cycle_none_for_a_dag():
    assert find_cycle(['a', 'b', 'c'], {'a': [], 'b': ['a'], 'c': ['a', 'b']}) is None


@pytest.mark.parametrize('probe, message', [
    ({'type': 'tcp'}, 'a tcp probe needs a port'),
    ({'type': 'tcp', 'port': 70000}, 'is not a TCP port'),
    ({'type': 'http'}, 'an http probe needs a url'),
    ({'type': 'http', 'url': 'ftp://x/'}, 'must start with http:// or https://'),
    ({'type': 'http', 'url': 'http://x/', 'body': '('}, 'invalid regular expression'),
    ({'type': 'cloud_init', 'via': 'ssh'}, 'cloud_init via ssh needs a user'),
    ({'type': 'cloud_init', 'via': 'serial'}, "use 'agent' or 'ssh'"),
    ({'type': 'command'}, 'a command probe needs a command'),
    ({'type': 'command', 'command': 'echo "unterminated'}, 'cannot split'),
    ({'type': 'command', 'command': 5}, 'command: must be a string or a list of arguments, got 5'),
    ({'type': 'command', 'command': ['echo', {'a': 1}]}, 'command: must be a string or a list of arguments'),
    ({'type': 'ping'}, "unknown probe type 'ping'"),
    ({'type': 'ssh', 'key_file': '/k'}, 'key_file is set but user is not'),
    ({'type': 'agent', 'interval': 0}, 'interval: must be greater than 0'),
    ({'type': 'agent', 'port': 22}, 'port does not apply to probe type agent (it takes interval)'),
    ({'type': 'tcp', 'port': 22, 'url': 'http://x/'}, 'url does not apply to probe type tcp (it takes interval, host, port)'),
])
def test_invalid_probes_name_the_vm_and_the_probe(probe, message):
    with pytest.raises(StrataError) as err:
        normalize({'vms': [{'name': 'gw', 'probes': [probe]}]})
    assert str(err.value).startswith('vms[0] (gw).probes[0]')
    assert message in str(err.value)


def test_defaults_and_per_vm_overrides():
    config = normalize({'vms': [{'name': 'a'}, {'name': 'b', 'timeout': 30, 'grace': 0}], 'timeout': 90, 'grace': 10})
    a, b = config['vms']
    assert (a['timeout'], a['grace'], a['probes']) == (90, 10, [{'type': 'running'}])
    assert (b['timeout'], b['grace']) == (30, 0)
    assert config['on_failure'] == 'abort' and config['shutdown_mode'] == 'acpi' and config['state'] == 'started'


def test_tier_selection_is_checked_against_the_graph():
    vms = [{'name': 'a'}, {'name': 'b', 'tier': 1}]
    assert normalize({'vms': vms, 'tiers': [1]})['tiers'] == [1]
    with pytest.raises(StrataError) as err:
        normalize({'vms': vms, 'tiers': [2]})
    assert 'tiers: 2 out of range; this definition has tiers 0 to 1: tier 0: a; tier 1: b' in str(err.value)


@pytest.mark.parametrize('key, value, message', [
    ('state', 'running', "state: 'running'; use one of started, stopped, present"),
    ('on_failure', 'retry', "on_failure: 'retry'"),
    ('shutdown_mode', 'halt', "shutdown_mode: 'halt'"),
    ('grace', -1, 'grace: -1 is less than 0'),
    ('tier_timeout', 'x', "tier_timeout: not a number: 'x'"),
])
def test_invalid_top_level_options(key, value, message):
    with pytest.raises(StrataError) as err:
        normalize({'vms': [{'name': 'a'}], key: value})
    assert message in str(err.value)

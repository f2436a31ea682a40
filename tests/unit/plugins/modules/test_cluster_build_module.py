# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""strata.libvirt.cluster_build end to end against libvirt's test:///default driver: the kinds in order in one
run, check mode that defers what needs objects not made yet, every problem before any change, and a failure that
says what the kinds before it did."""

import pytest

libvirt = pytest.importorskip('libvirt')
pytest.importorskip('pycdlib')

from ansible_collections.strata.libvirt.plugins.module_utils import _cluster_build
from ansible_collections.strata.libvirt.plugins.modules import cluster_build

POOL = 'strata-ut-build'
NET = 'strata-ut-build-net'


def params(tmp_path, **changes):
    out = dict(
        cluster='ut',
        pool={'name': POOL, 'path': '/srv/' + POOL, 'state': 'running', 'autostart': True},
        networks={'state': 'running', 'items': [{'name': NET, 'forward': 'nat', 'address': '10.250.1.1/24'}]},
        volumes={'pool': POOL, 'items': [{'name': 'web1.qcow2', 'capacity': '1G'}, {'name': 'web2.qcow2', 'capacity': '1G'}]},
        seeds={'user': 'strata', 'ssh_authorized_keys': ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBn6 ut'],
               'user_data': {'bootcmd': ['true'], 'api_token': 'hunter2'},
               'items': [{'path': str(tmp_path / 'web1-seed.iso'), 'hostname': 'web1'},
                         {'path': str(tmp_path / 'web2-seed.iso'), 'hostname': 'web2'}]},
        domains={'state': 'present', 'type': 'qemu', 'memory': '64M', 'interfaces': [{'network': NET}],
                 'items': [{'name': 'strata-ut-web1', 'disks': [{'volume': POOL + '/web1.qcow2'}]},
                           {'name': 'strata-ut-web2', 'disks': [{'volume': POOL + '/web2.qcow2'}]}]})
    out.update(changes)
    return out


def names(hv):
    return (sorted(p.name() for p in hv.listAllStoragePools(0) if p.name().startswith('strata-ut')),
            sorted(n.name() for n in hv.listAllNetworks(0) if n.name().startswith('strata-ut')),
            sorted(d.name() for d in hv.listAllDomains(0) if d.name().startswith('strata-ut')))


def test_every_kind_in_order_in_one_run_then_nothing_to_do(run_module, hv, tmp_path):
    fresh = run_module(cluster_build, check=True, diff=True, **params(tmp_path))
    # the disks, seeds and domains need the pool and the network, which do not exist yet: planned later, not looked at
    assert fresh['changed'] and fresh['deferred'] == ['volumes', 'seeds', 'domains'], fresh
    assert [s['step'] for s in fresh['steps']] == ['pool', 'networks']
    assert "define pool '%s'" % POOL in fresh['actions'] and "%s: define network '%s'" % (NET, NET) in fresh['actions']
    assert names(hv) == ([], [], [])

    built = run_module(cluster_build, diff=True, **params(tmp_path))
    assert built['changed'] and built['deferred'] == [] and not built.get('failed'), built.get('msg')
    assert [(s['step'], s['items'], s['changed']) for s in built['steps']] == [
        ('pool', 1, True), ('networks', 1, True), ('volumes', 2, True), ('seeds', 2, True), ('domains', 2, True)]
    assert built['pool']['pool']['ownership'] == {'owned': True, 'cluster': 'ut'}
    assert [r['item'] for r in built['domains']['results']] == ['strata-ut-web1', 'strata-ut-web2']
    assert all(r['domain']['ownership'] == {'owned': True, 'cluster': 'ut'} for r in built['domains']['results'])
    assert names(hv) == ([POOL], [NET], ['strata-ut-web1', 'strata-ut-web2'])
    assert (tmp_path / 'web2-seed.iso').exists()
    # one diff per item that has one, each headed by its item
    assert {d['before_header'] for d in built['diff']} >= {'%s (before)' % POOL, 'strata-ut-web1 (before)'}
    # the seeds' secrets are not in the module arguments the result reports
    assert 'hunter2' not in str(built['invocation']) and 'hunter2' not in str(built['seeds'])

    again = run_module(cluster_build, check=True, diff=True, **params(tmp_path))
    assert not again['changed'] and again['actions'] == [] and again['deferred'] == []
    assert not run_module(cluster_build, **params(tmp_path))['changed']


@pytest.mark.parametrize('first', ['networks', 'pool'])
def test_check_mode_defers_what_needs_the_pool_or_a_network_still_to_be_made(run_module, hv, tmp_path, first):
    everything = params(tmp_path)
    assert run_module(cluster_build, **{'cluster': 'ut', first: everything[first]})['changed']
    result = run_module(cluster_build, check=True, **everything)
    assert result['changed'] and result['deferred'] == ['volumes', 'seeds', 'domains'], result
    assert [s['step'] for s in result['steps']] == ['pool', 'networks']


def test_every_problem_of_every_kind_before_any_change(run_module, hv, tmp_path):
    bad = params(tmp_path,
                 pool={'name': POOL, 'path': 'relative', 'state': 'running', 'colour': 'red'},
                 volumes={'pool': POOL, 'items': [{'name': 'web1.qcow2', 'capacity': '1G'}, {'capacity': '1G'}]},
                 domains={'type': 'qemu', 'memory': 'lots', 'items': [{'name': 'strata-ut-web1'}]})
    result = run_module(cluster_build, **bad)
    assert result['failed'] and result['msg'].startswith('Nothing was changed; these options are invalid:')
    lines = result['msg'].splitlines()[1:]
    assert any(line.startswith('- pool: ') and 'colour' in line for line in lines), lines
    assert any(line.startswith('- volumes: items[1]') and 'name' in line for line in lines), lines
    assert any(line.startswith('- domains: items[0] (strata-ut-web1): ') and 'memory' in line for line in lines), lines
    assert names(hv) == ([], [], [])


def test_a_failure_names_the_kind_and_keeps_what_the_kinds_before_it_did(run_module, hv, tmp_path):
    broken = params(tmp_path, domains={'type': 'qemu', 'memory': '64M', 'items': [
        {'name': 'strata-ut-web1', 'disks': [{'volume': POOL + '/web1.qcow2'}]},
        {'name': 'strata-ut-web2', 'disks': [{'volume': POOL + '/missing.qcow2'}]}]})
    result = run_module(cluster_build, **broken)
    assert result['failed'] and result['changed']
    assert result['msg'].startswith('domains (domain): items[1] (strata-ut-web2): '), result['msg']
    assert 'missing.qcow2' in result['msg'] and 'Changed before it: strata-ut-web1.' in result['msg']
    assert result['pool']['changed'] and result['volumes']['changed'] and result['seeds']['changed']
    assert [r['item'] for r in result['domains']['results']] == ['strata-ut-web1', 'strata-ut-web2']
    assert names(hv) == ([POOL], [NET], ['strata-ut-web1'])


def test_cluster_and_adopt_are_every_item_s_but_not_the_external_networks(run_module, hv, tmp_path):
    only = {'cluster': 'ut', 'pool': params(tmp_path)['pool'],
            'external_networks': [{'name': 'default', 'state': 'running', 'external': True}]}
    result = run_module(cluster_build, **only)
    assert not result.get('failed'), result.get('msg')
    assert result['pool']['pool']['ownership']['cluster'] == 'ut'
    assert result['external_networks']['results'][0]['network']['ownership'] == {'owned': False, 'cluster': None}
    # a kind given twice its cluster: the item's wins over the kind's, the kind's over the module's
    other = dict(params(tmp_path)['volumes'], cluster='other', items=[{'name': 'v.qcow2', 'capacity': '1G'}])
    assert run_module(cluster_build, cluster='ut', volumes=other)['volumes']['results'][0]['volume']['ownership'] == \
        {'owned': True, 'cluster': 'other'}


def test_the_kinds_run_in_the_order_their_objects_depend_on(main_calls):
    assert [step.name for step in _cluster_build.STEPS] == ['pool', 'images', 'networks', 'external_networks', 'volumes',
                                                            'seeds', 'domains']
    module_args = main_calls(cluster_build, 'run')[0]
    assert module_args == dict(argument_spec=_cluster_build.argument_spec(), supports_check_mode=True)

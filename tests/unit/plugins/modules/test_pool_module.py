# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""strata.libvirt.pool end to end against libvirt's test:///default driver (it does not touch the disk)."""

import json
import os

import pytest

libvirt = pytest.importorskip('libvirt')

from ansible_collections.strata.libvirt.plugins.module_utils import _pool
from ansible_collections.strata.libvirt.plugins.modules import pool

POOL = dict(name='strata-ut-pool', path='/srv/strata-ut-pool', mode='0711', state='running', autostart=True,
            cluster='ut')


def _registry(state_dir):
    directory = os.path.join(state_dir, 'owners')
    files = os.listdir(directory)
    assert len(files) == 1
    with open(os.path.join(directory, files[0])) as handle:
        return json.load(handle)


def test_four_steps_and_registry(four_steps, run_module, hv):
    results = four_steps(pool, **POOL)
    assert results[0]['actions'] == ["define pool 'strata-ut-pool'",
                                     "build pool 'strata-ut-pool' (create its directory, apply permissions)",
                                     "start pool 'strata-ut-pool'", "enable autostart of pool 'strata-ut-pool'"]
    obj = hv.storagePoolLookupByName('strata-ut-pool')
    assert obj.isActive() and obj.autostart()
    facts = results[1]['pool']
    assert facts['ownership'] == {'owned': True, 'cluster': 'ut'} and facts['mode'] == '0711'
    registry = _registry(run_module.state_dir)
    assert registry['uri'] == 'test:///default'
    assert registry['pools'] == {obj.UUIDString(): {'cluster': 'ut', 'name': 'strata-ut-pool'}}


def test_check_mode_changes_nothing(run_module, hv):
    assert run_module(pool, check=True, **POOL)['changed']
    assert 'strata-ut-pool' not in hv.listStoragePools() + hv.listDefinedStoragePools()
    assert not os.path.exists(os.path.join(run_module.state_dir, 'owners'))


def test_modify_stop_absent_twice(run_module, hv):
    run_module(pool, **POOL)
    stopped = run_module(pool, name='strata-ut-pool', state='stopped', diff=True)
    assert stopped['actions'] == ["stop pool 'strata-ut-pool'"]
    moved = run_module(pool, name='strata-ut-pool', path='/srv/strata-ut-pool2', diff=True)
    assert moved['diff'] == {'before': {'type': 'dir', 'path': '/srv/strata-ut-pool', 'state': 'stopped'},
                             'after': {'type': 'dir', 'path': '/srv/strata-ut-pool2', 'state': 'stopped'}}
    assert '/srv/strata-ut-pool2' in hv.storagePoolLookupByName('strata-ut-pool').XMLDesc(0)
    assert not run_module(pool, name='strata-ut-pool', path='/srv/strata-ut-pool2')['changed']
    gone = run_module(pool, name='strata-ut-pool', state='absent', purge=True)
    assert gone['actions'] == ["delete the directory /srv/strata-ut-pool2 of pool 'strata-ut-pool'",
                               "undefine pool 'strata-ut-pool'"]
    assert _registry(run_module.state_dir)['pools'] == {}
    assert not run_module(pool, name='strata-ut-pool', state='absent', purge=True)['changed']


def test_running_pool_change_needs_restart(run_module, hv):
    run_module(pool, **POOL)
    result = run_module(pool, name='strata-ut-pool', mode='0750')
    assert result['changed'] and result['restart_required']


def test_foreign_pool_refused_and_untouched(run_module, hv):
    hv.storagePoolDefineXML("<pool type='dir'><name>strata-ut-foreign</name><target><path>/srv/f</path></target></pool>")
    before = hv.storagePoolLookupByName('strata-ut-foreign').XMLDesc(0)
    for params in (dict(path='/tmp/elsewhere'), dict(state='absent')):
        result = run_module(pool, name='strata-ut-foreign', **params)
        assert result['failed'] and "storage pool 'strata-ut-foreign' exists but was not created" in result['msg']
        assert 'adopt=true' in result['msg']
    assert hv.storagePoolLookupByName('strata-ut-foreign').XMLDesc(0) == before
    adopted = run_module(pool, name='strata-ut-foreign', adopt=True)
    assert adopted['actions'] == ["adopt storage pool 'strata-ut-foreign' (add the strata ownership mark)"]
    assert not run_module(pool, name='strata-ut-foreign')['changed']


@pytest.mark.parametrize('params,match', [
    (dict(name='a b'), "Option name: invalid name 'a b'"),
    (dict(mode='999'), "Option mode: invalid octal mode '999'"),
    (dict(path=None), "Option path: required to create pool 'strata-ut-pool'"),
    (dict(xml='<pool type="dir"><name>strata-ut-pool'), 'Option xml: malformed XML'),
])
def test_bad_input(run_module, hv, params, match):
    args = dict(POOL)
    args.update(params)
    if 'xml' in params:
        args.pop('path')
        args.pop('mode')
    result = run_module(pool, **dict((k, v) for k, v in args.items() if v is not None))
    assert result['failed'] and match in result['msg'], result['msg']
    assert 'strata-ut-pool' not in hv.listStoragePools() + hv.listDefinedStoragePools()


def test_module_uses_the_module_utils_spec(main_calls):
    module_args, run_args = main_calls(pool, 'run')
    assert module_args == dict(argument_spec=_pool.argument_spec(), supports_check_mode=True, **_pool.CONSTRAINTS)
    assert run_args == (module_args, _pool.PoolResource)
    assert _pool.argument_spec() is not _pool.argument_spec()


def test_desired_from_params_names_the_option():
    params = dict(name='strata-ut-pool', state='present', type='dir', path='/srv/p', mode='999')
    with pytest.raises(_pool.StrataError, match='^Option mode: invalid octal mode'):
        _pool.desired_from_params(params)

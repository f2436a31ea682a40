# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cluster lock: waits for another run, takes over a lease whose holder is gone or that expired, keeps it for
the same run, gives it back only to its owner; the module end to end."""

import json
import os
import subprocess

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.strata.libvirt.plugins.module_utils import _cluster_lock as lock
from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.modules import cluster_lock


class Clock(object):
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += max(seconds, 0.5)


def request(owner='run-one-token', wait=10, **extra):
    out = {'cluster': 'lab', 'owner': owner, 'what': 'provision', 'wait': wait, 'max_age': 3600,
           'holder': dict(lock.this_machine(), pid=os.getpid())}
    out.update(extra)
    return out


def test_take_keep_and_release(tmp_path):
    path = str(tmp_path / 'clusters' / 'lab.lease')
    clock = Clock()
    assert lock.acquire(path, request(), clock=clock, sleep=clock.sleep)['changed']
    assert oct(os.stat(path).st_mode & 0o777) == '0o600'
    assert not lock.acquire(path, request(), clock=clock, sleep=clock.sleep)['changed']  # the same run keeps it
    assert not lock.release(path, 'another-token')['changed']
    assert lock.release(path, 'run-one-token')['changed'] and not os.path.exists(path)


def test_another_run_waits_then_fails_with_who_holds_it(tmp_path):
    path = str(tmp_path / 'lab.lease')
    clock = Clock()
    lock.acquire(path, request(), clock=clock, sleep=clock.sleep)
    with pytest.raises(StrataError) as err:
        lock.acquire(path, request('run-two-token', what='unprovision'), clock=clock, sleep=clock.sleep)
    assert 'cluster lab is locked by the provision run run-one-token' in str(err.value)
    assert 'pid %d' % os.getpid() in str(err.value) and 'nothing was changed' in str(err.value)
    assert clock.now >= 1010  # it waited
    assert json.load(open(path))['owner'] == 'run-one-token'


def test_check_mode_writes_nothing(tmp_path):
    path = str(tmp_path / 'lab.lease')
    assert lock.acquire(path, request(), check_mode=True)['changed'] and not os.path.exists(path)


def test_a_holder_that_is_gone_or_an_expired_lease_is_taken_over(tmp_path):
    path = str(tmp_path / 'lab.lease')
    dead = subprocess.Popen(['true'])
    dead.wait()
    clock = Clock()
    lock.acquire(path, request(holder=dict(lock.this_machine(), pid=dead.pid)), clock=clock, sleep=clock.sleep)
    result = lock.acquire(path, request('run-two-token', wait=0), clock=clock, sleep=clock.sleep)
    assert 'is gone' in result['took_over'] and json.load(open(path))['owner'] == 'run-two-token'
    # a holder on another machine is not looked at: its lease holds until it expires
    lock.release(path, 'run-two-token')
    lock.acquire(path, request(holder={'controller': 'elsewhere', 'boot_id': 'x', 'pid': dead.pid}), clock=clock, sleep=clock.sleep)
    with pytest.raises(StrataError):
        lock.acquire(path, request('run-two-token', wait=0), clock=clock, sleep=clock.sleep)
    clock.now += 3601
    assert 'expired' in lock.acquire(path, request('run-two-token', wait=0), clock=clock, sleep=clock.sleep)['took_over']


def test_bad_requests_name_the_option():
    with pytest.raises(StrataError, match='^owner: '):
        lock.desired_from_params({'cluster': 'lab', 'owner': 'short'})
    with pytest.raises(StrataError, match='^wait: '):
        lock.desired_from_params({'cluster': 'lab', 'owner': 'long-enough', 'wait': -1})


def test_module_end_to_end(tmp_path, capsys):
    def run(**params):
        params.update(cluster='lab', state_dir=str(tmp_path), uri='test:///default')
        capsys.readouterr()
        with patch_module_args(params):
            with pytest.raises(SystemExit):
                cluster_lock.main()
        return json.loads(capsys.readouterr().out)
    first = run(owner='run-one-token', holder={'controller': 'c1', 'pid': 1})
    assert first['changed'] and first['path'].startswith(str(tmp_path / 'clusters'))
    other = run(owner='run-two-token', wait=0, what='unprovision')
    assert other['failed'] and 'locked by the provision run run-one-token' in other['msg']
    assert run(owner='run-one-token', state='released')['changed']
    assert run(owner='run-two-token', wait=0)['changed']


def test_held_with_objects_looks_the_cluster_up_under_the_lock(tmp_path, capsys):
    import libvirt
    hv = libvirt.open('test:///default')   # keeps the test driver's state between the module's connections

    def run(**params):
        params.setdefault('uri', 'test:///default')
        params.update(cluster='lab', state_dir=str(tmp_path))
        capsys.readouterr()
        with patch_module_args(params):
            with pytest.raises(SystemExit):
                cluster_lock.main()
        return json.loads(capsys.readouterr().out)
    try:
        # the test driver's own objects have the names: foreign, as strata.libvirt.cluster_info reports them
        held = run(owner='run-one-token', objects={'pool': 'default-pool', 'networks': ['default'], 'domains': ['test']})
        assert held['changed'] and not held.get('failed'), held.get('msg')
        assert len(held['info']['foreign']) == 3 and held['info']['objects']['domains']['test']['exists']
        assert os.path.exists(held['path'])
        # bad names fail before the lock is taken; a lookup that fails gives back the lock it took
        bad = run(owner='run-two-token', objects={'volumes': ['v.qcow2']})
        assert bad['failed'] and bad['msg'].startswith('objects: volumes: needs pool')
        bad = run(owner='run-two-token', objects={'domains': 'test', 'colour': 'red'})
        assert bad['failed'] and bad['msg'].startswith('objects: ') and 'colour' in bad['msg']
        assert run(owner='run-one-token', state='released', objects={})['msg'].startswith('objects: only with state=held')
        assert run(owner='run-one-token', state='released')['changed']
        failing = run(owner='run-two-token', objects={'pool': 'p'}, uri='test:///nonexistent-driver')
        assert failing.get('failed') and 'the lock was given back' in failing['msg'], failing
        assert not os.path.exists(held['path'])
    finally:
        hv.close()

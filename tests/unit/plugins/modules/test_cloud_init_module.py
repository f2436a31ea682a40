# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""strata.libvirt.cloud_init in-process: a seed file, and a seed volume in test:///default."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os

import pytest

pytest.importorskip('pycdlib')

from ansible_collections.strata.libvirt.plugins.modules import cloud_init
from ansible_collections.strata.libvirt.plugins.module_utils import _seed


def params(path, **kwargs):
    base = dict(path=path, hostname='web1', fqdn='web1.lab.test', user='strata',
                ssh_authorized_keys=['ssh-ed25519 AAAA lab'], ssh_genkeytypes=['ed25519'],
                root_password='hunter2-debug')
    base.update(kwargs)
    return base


def test_seed_file_four_steps_then_change(four_steps, run_module, tmp_path):
    path = str(tmp_path / 'web1-seed.iso')
    first = four_steps(cloud_init, **params(path))
    assert first[1]['actions'] == ['create %s (NoCloud seed, %d bytes)' % (path, os.path.getsize(path))]
    assert os.stat(path).st_mode & 0o777 == 0o600
    data = open(path, 'rb').read()
    files, label = _seed.read_iso(data)
    assert label == 'cidata' and 'hostname: web1' in files['user-data']
    assert 'instance-id: iid-web1' in files['meta-data']
    assert 'hunter2-debug' not in str(first[0]['diff']) and 'hunter2-debug' not in str(first[1])
    # a change: check mode says what, writes nothing; diff shows it redacted
    changed = params(path, runcmd=['echo hi'])
    check = run_module(cloud_init, check=True, diff=True, **changed)
    assert check['changed'] and check['actions'] == ['rewrite %s (changed: user-data)' % path]
    assert open(path, 'rb').read() == data
    assert 'echo hi' in check['diff']['after'] and 'echo hi' not in check['diff']['before']
    assert 'password: <redacted>' in check['diff']['before'] and 'hunter2' not in str(check['diff'])
    applied = run_module(cloud_init, **changed)
    assert applied['changed'] and open(path, 'rb').read() != data
    assert not run_module(cloud_init, **changed)['changed']
    # mode drift is repaired without a rebuild
    os.chmod(path, 0o640)
    fixed = run_module(cloud_init, **changed)
    assert fixed['actions'] == ['set mode 0640 -> 0600 of %s' % path] and os.stat(path).st_mode & 0o777 == 0o600
    # absent, twice
    assert run_module(cloud_init, path=path, state='absent')['changed'] and not os.path.exists(path)
    assert not run_module(cloud_init, path=path, state='absent')['changed']


def test_seed_errors(run_module, tmp_path):
    path = str(tmp_path / 'seed.iso')
    result = run_module(cloud_init, **params(path, user_data='#cloud-config\n{}\n'))
    assert result['failed'] and 'cannot be combined with hostname' in result['msg']
    result = run_module(cloud_init, **params(path, mode='0644'))
    assert result['failed'] and 'every user read the seed' in result['msg']
    result = run_module(cloud_init, **params(str(tmp_path / 'missing' / 'seed.iso')))
    assert result['failed'] and 'does not exist' in result['msg']
    assert not os.listdir(str(tmp_path))


def test_raw_user_data_and_network_config(run_module, tmp_path):
    path = str(tmp_path / 'seed.iso')
    result = run_module(cloud_init, path=path, user_data='#cloud-config\nhostname: raw\n', instance_id='i-1',
                        network_config={'version': 2, 'ethernets': {'eth0': {'dhcp4': True}}})
    assert result['changed'] and result['files'] == ['meta-data', 'network-config', 'user-data']
    files = _seed.read_iso(open(path, 'rb').read())[0]
    assert files['user-data'] == '#cloud-config\nhostname: raw\n' and files['meta-data'] == 'instance-id: i-1\n'


def test_items_in_one_run(four_steps, run_module, tmp_path):
    paths = [str(tmp_path / ('vm%d-seed.iso' % i)) for i in range(3)]
    shared = dict(user='strata', ssh_authorized_keys=['ssh-ed25519 AAAA lab'], ssh_genkeytypes=['ed25519'])
    items = [{'path': paths[0], 'hostname': 'vm0'}, {'path': paths[1], 'hostname': 'vm1', 'packages': ['jq']},
             {'path': paths[2], 'hostname': 'vm2', 'root_password': 'item-secret-42'}]
    results = four_steps(cloud_init, items=items, **shared)
    assert [r['item'] for r in results[1]['results']] == paths
    assert results[1]['actions'] == ['%s: create %s (NoCloud seed, %d bytes)' % (p, p, os.path.getsize(p)) for p in paths]
    for index, path in enumerate(paths):
        user_data = _seed.read_iso(open(path, 'rb').read())[0]['user-data']
        assert 'hostname: vm%d' % index in user_data and 'ssh-ed25519 AAAA lab' in user_data
    assert '- jq' in _seed.read_iso(open(paths[1], 'rb').read())[0]['user-data']
    # a secret given inside an item is hidden like a top-level one (no_log), in results and diffs alike
    assert all('item-secret-42' not in str(r) for r in results)


def test_items_invalid_one_writes_nothing(run_module, tmp_path):
    good, bad = str(tmp_path / 'good.iso'), str(tmp_path / 'bad.iso')
    result = run_module(cloud_init, hostname='h', items=[{'path': good}, {'path': bad, 'pool': 'p'},
                                                         {'path': bad, 'mode': '0644'}, {'volume': 'v.iso'}])
    assert result['failed'] and result['msg'].startswith('Nothing was changed; these items are invalid:'), result['msg']
    assert 'items[1] (%s): parameters are mutually exclusive: path|pool' % bad in result['msg']
    assert 'items[3] (None/v.iso): one of the following is required: path, pool' in result['msg']
    assert 'items[2]' not in result['msg']  # valid as options; the seed's own check comes next, once these pass
    result = run_module(cloud_init, hostname='h', items=[{'path': good}, {'path': bad, 'mode': '0644'}])
    assert result['failed'] and 'items[1] (%s): ' % bad in result['msg'] and 'every user read the seed' in result['msg']
    assert not os.listdir(str(tmp_path))

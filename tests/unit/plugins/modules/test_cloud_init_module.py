# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""strata.libvirt.cloud_init in-process: a seed file, and a seed volume in test:///default."""

import json
import os

import pytest

pytest.importorskip('pycdlib')

from ansible_collections.strata.libvirt.plugins.modules import cloud_init, pool, volume
from ansible_collections.strata.libvirt.plugins.module_utils._batch import module_spec
from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._seed import iso, spec, volume_seed


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
    files, label = iso.read_iso(data)
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
    files = iso.read_iso(open(path, 'rb').read())[0]
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
        user_data = iso.read_iso(open(path, 'rb').read())[0]['user-data']
        assert 'hostname: vm%d' % index in user_data and 'ssh-ed25519 AAAA lab' in user_data
    assert '- jq' in iso.read_iso(open(paths[1], 'rb').read())[0]['user-data']
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


def test_module_uses_the_module_utils_spec(main_calls):
    module_args, run_args = main_calls(cloud_init, 'run')
    assert module_args == dict(argument_spec=module_spec(spec.argument_spec()), supports_check_mode=True)
    assert run_args[0] is module_args
    assert spec.argument_spec() is not spec.argument_spec()


def test_desired_from_params_names_the_option():
    params = dict(path='/srv/seed.iso', state='present', mode='0600', user_data=5)
    with pytest.raises(StrataError, match='^Option user_data: must be a dict'):
        spec.desired_from_params(params)
    with pytest.raises(StrataError, match='^Option path: '):
        spec.desired_from_params(dict(params, path='seed.iso'))
    desired = spec.desired_from_params(dict(params, user_data=None, hostname='web1'))
    assert desired['iso'] is None and sorted(desired['files']) == ['meta-data', 'user-data']  # no ISO built yet


# ---------------------------------------------------------------- a seed volume (test:///default)

@pytest.fixture
def seed_pool(run_module, hv, monkeypatch):
    """A running pool; the test driver has no stream API, so the volumes' contents live in a dict."""
    assert run_module(pool, name='strata-ut-seeds', path='/srv/strata-ut-seeds', state='running')['changed']
    contents = {}
    monkeypatch.setattr(volume_seed, 'download', lambda conn, vol, label: contents.get(vol.key(), b''))
    monkeypatch.setattr(volume_seed, 'upload', lambda conn, vol, data, label: contents.__setitem__(vol.key(), data))
    return contents


def owners(run_module):
    directory = os.path.join(run_module.state_dir, 'owners')
    with open(os.path.join(directory, os.listdir(directory)[0])) as handle:
        return json.load(handle)['volumes']


def test_seed_volume_four_steps_change_and_absent(four_steps, run_module, seed_pool):
    args = dict(pool='strata-ut-seeds', volume='web1-seed.iso', hostname='web1', cluster='ut')
    results = four_steps(cloud_init, **args)
    key = '/srv/strata-ut-seeds/web1-seed.iso'
    assert results[1]['actions'] == ["create seed volume 'web1-seed.iso' in pool 'strata-ut-seeds' (NoCloud seed, "
                                     "%d bytes)" % len(seed_pool[key])]
    assert results[0]['path'] is None and results[1]['path'] == results[3]['path'] == key
    assert results[3]['volume'] == {'pool': 'strata-ut-seeds', 'name': 'web1-seed.iso'}
    assert iso.read_iso(seed_pool[key])[0]['meta-data'] == 'instance-id: iid-web1\nlocal-hostname: web1\n'
    assert owners(run_module)[key] == {'cluster': 'ut', 'pool': 'strata-ut-seeds', 'name': 'web1-seed.iso',
                                       'seed': {'sha256': results[1]['sha256']}}
    assert results[0]['diff']['before'] == '' and 'hostname: web1' in results[0]['diff']['after']
    assert results[0]['diff']['before_header'] == 'strata-ut-seeds/web1-seed.iso (before)'
    changed = run_module(cloud_init, **dict(args, hostname='web2'))
    assert changed['actions'] == ["replace seed volume 'web1-seed.iso' in pool 'strata-ut-seeds' (changed: meta-data, "
                                  "user-data)"]
    assert 'local-hostname: web2' in iso.read_iso(seed_pool[key])[0]['meta-data']
    refused = run_module(cloud_init, **dict(args, cluster='other'))
    assert refused['failed'] and "belongs to cluster 'ut', not to cluster 'other'" in refused['msg']
    absent = dict(pool='strata-ut-seeds', volume='web1-seed.iso', state='absent')
    assert run_module(cloud_init, check=True, **absent)['actions'] == [
        "delete seed volume 'web1-seed.iso' in pool 'strata-ut-seeds'"]
    result = run_module(cloud_init, **absent)
    assert result['changed'] and result['exists'] is False and 'volume' not in result and key not in owners(run_module)
    assert not run_module(cloud_init, **absent)['changed']
    assert not run_module(cloud_init, pool='strata-ut-gone', volume='x.iso', state='absent')['changed']


def test_seed_volume_adopt_and_failed_upload(run_module, hv, seed_pool, monkeypatch):
    assert run_module(volume, name='s.iso', pool='strata-ut-seeds', capacity='1M', format='raw', cluster='a')['changed']
    args = dict(pool='strata-ut-seeds', volume='s.iso', hostname='h', cluster='b')
    refused = run_module(cloud_init, **args)
    assert refused['failed'] and "belongs to cluster 'a', not to cluster 'b'" in refused['msg']
    replaced = run_module(cloud_init, adopt=True, **args)
    assert replaced['actions'] == ["replace seed volume 's.iso' in pool 'strata-ut-seeds' (changed: meta-data, user-data)"]
    key = '/srv/strata-ut-seeds/s.iso'
    assert owners(run_module)[key]['cluster'] == 'b'
    moved = run_module(cloud_init, adopt=True, **dict(args, cluster='c'))
    assert moved['actions'] == ["adopt volume 'strata-ut-seeds/s.iso' (move it from cluster 'b' to cluster 'c')"]
    assert owners(run_module)[key]['cluster'] == 'c'

    def broken(conn, vol, data, label):
        raise StrataError('Failed to write the seed: broken pipe')
    monkeypatch.setattr(volume_seed, 'upload', broken)
    failed = run_module(cloud_init, **dict(args, cluster='c', hostname='h2'))
    assert failed['failed'] and failed['msg'] == 'Failed to write the seed: broken pipe'
    assert failed['actions_done'] == [] and key not in owners(run_module)  # no partial seed is left behind
    assert 's.iso' not in hv.storagePoolLookupByName('strata-ut-seeds').listVolumes()


def test_a_reseed_generation_of_the_instance_id_is_kept(run_module, tmp_path, seed_pool):
    # a seed file: given once (a reseed), the generation stays when instance_id is not set again
    path = str(tmp_path / 'web1-seed.iso')
    assert run_module(cloud_init, **params(path))['changed']
    reseed = run_module(cloud_init, **params(path, instance_id='iid-web1-20261202T120000'))
    assert reseed['changed'] and 'instance-id: iid-web1-20261202T120000' in iso.read_iso(open(path, 'rb').read())[0]['meta-data']
    data = open(path, 'rb').read()
    kept = run_module(cloud_init, check=True, diff=True, **params(path))
    assert not kept['changed'] and open(path, 'rb').read() == data
    assert not run_module(cloud_init, **params(path))['changed']
    # a change elsewhere rewrites the seed with the kept instance-id
    changed = run_module(cloud_init, **params(path, runcmd=['echo hi']))
    assert changed['changed'] and 'iid-web1-20261202T120000' in iso.read_iso(open(path, 'rb').read())[0]['meta-data']
    # another id than a generation of the default, or another host name, is not kept
    open(path, 'wb').write(iso.build_iso(spec.seed_files('#cloud-config\n{}\n', 'instance-id: iid-web10\n')))
    assert 'instance-id: iid-web1\n' in (run_module(cloud_init, **params(path)) and iso.read_iso(open(path, 'rb').read())[0]['meta-data'])
    # a seed volume keeps it too
    args = dict(pool='strata-ut-seeds', volume='web1-seed.iso', hostname='web1', cluster='ut')
    assert run_module(cloud_init, **dict(args, instance_id='iid-web1-r2'))['changed']
    assert not run_module(cloud_init, **args)['changed']
    assert 'instance-id: iid-web1-r2\n' in iso.read_iso(seed_pool['/srv/strata-ut-seeds/web1-seed.iso'])[0]['meta-data']
    assert run_module(cloud_init, **dict(args, instance_id='iid-web1'))['changed']
    assert 'instance-id: iid-web1\n' in iso.read_iso(seed_pool['/srv/strata-ut-seeds/web1-seed.iso'])[0]['meta-data']

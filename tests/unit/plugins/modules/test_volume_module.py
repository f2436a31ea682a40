# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""strata.libvirt.volume end to end against libvirt's test:///default driver.

The test driver has no virStorageVolResize and no virStorageVolUpload: for those the tests check
the plan in check mode and that the real run reports the driver's refusal clearly.
"""

import pytest

libvirt = pytest.importorskip('libvirt')

from ansible_collections.strata.libvirt.plugins.module_utils import _batch, _volume
from ansible_collections.strata.libvirt.plugins.module_utils._session import Session
from ansible_collections.strata.libvirt.plugins.modules import pool, volume

G = 1024 ** 3


@pytest.fixture
def strata_pool(run_module, hv):
    result = run_module(pool, name='strata-ut-vols', path='/srv/strata-ut-vols', state='running')
    assert result['changed'], result
    return hv.storagePoolLookupByName('strata-ut-vols')


def test_four_steps_empty_volume(four_steps, strata_pool):
    results = four_steps(volume, name='base.qcow2', pool='strata-ut-vols', capacity='1G', cluster='ut')
    assert results[0]['actions'] == ["create volume 'base.qcow2' in pool 'strata-ut-vols' (qcow2, 1G (1073741824 bytes))"]
    assert results[0]['diff']['after']['volume'] == {'capacity': G, 'format': 'qcow2', 'backing': None}
    vol = strata_pool.storageVolLookupByName('base.qcow2')
    assert vol.info()[1] == G
    assert results[1]['volume']['ownership'] == {'owned': True, 'cluster': 'ut'}


def test_check_mode_creates_nothing(run_module, strata_pool):
    assert run_module(volume, check=True, name='v.qcow2', pool='strata-ut-vols', capacity='1G')['changed']
    assert strata_pool.listVolumes() == []


def test_overlay_and_clone_and_protection_of_backing(run_module, strata_pool):
    run_module(volume, name='base.qcow2', pool='strata-ut-vols', capacity='1G')
    overlay = run_module(volume, name='web1.qcow2', pool='strata-ut-vols', backing_volume='base.qcow2')
    assert overlay['changed'] and overlay['volume']['backing'] == {'path': '/srv/strata-ut-vols/base.qcow2',
                                                                   'format': 'qcow2'}
    assert overlay['volume']['capacity'] == G
    assert not run_module(volume, name='web1.qcow2', pool='strata-ut-vols', backing_volume='base.qcow2')['changed']
    clone = run_module(volume, name='copy.qcow2', pool='strata-ut-vols', clone_from='base.qcow2')
    assert clone['actions'] == ["clone volume 'copy.qcow2' in pool 'strata-ut-vols' from strata-ut-vols/base.qcow2"]
    assert clone['volume']['backing'] is None and clone['volume']['capacity'] == G
    refused = run_module(volume, name='base.qcow2', pool='strata-ut-vols', state='absent')
    assert refused['failed'] and 'is the backing file of web1.qcow2' in refused['msg']
    assert 'base.qcow2' in strata_pool.listVolumes()
    assert run_module(volume, name='web1.qcow2', pool='strata-ut-vols', state='absent')['changed']
    assert run_module(volume, name='base.qcow2', pool='strata-ut-vols', state='absent')['changed']
    assert not run_module(volume, name='base.qcow2', pool='strata-ut-vols', state='absent')['changed']
    assert sorted(strata_pool.listVolumes()) == ['copy.qcow2']


def test_grow_is_planned_and_shrink_refused(run_module, strata_pool):
    run_module(volume, name='v.qcow2', pool='strata-ut-vols', capacity='1G')
    planned = run_module(volume, check=True, diff=True, name='v.qcow2', pool='strata-ut-vols', capacity='2G')
    assert planned['actions'] == ["grow volume 'v.qcow2' in pool 'strata-ut-vols' from 1G (1073741824 bytes) "
                                  "to 2G (2147483648 bytes)"]
    assert planned['diff']['after']['volume']['capacity'] == 2 * G
    real = run_module(volume, name='v.qcow2', pool='strata-ut-vols', capacity='2G')
    assert real['failed'] and 'does not support this operation' in real['msg'] and real['actions_done'] == []
    shrink = run_module(volume, name='v.qcow2', pool='strata-ut-vols', capacity='512M')
    assert shrink['failed'] and '512M (536870912 bytes) is smaller than the current capacity 1G' in shrink['msg']


def test_upload_plan(run_module, strata_pool, tmp_path):
    image = tmp_path / 'disk.raw'
    image.write_bytes(b'\0' * 4096)
    planned = run_module(volume, check=True, name='up.raw', pool='strata-ut-vols', upload=str(image))
    assert planned['actions'] == ["create volume 'up.raw' in pool 'strata-ut-vols' (raw)",
                                  "upload %s into volume 'up.raw' in pool 'strata-ut-vols'" % image]
    real = run_module(volume, name='up.raw', pool='strata-ut-vols', upload=str(image))
    assert real['failed'] and real['actions_done'] == ["create volume 'up.raw' in pool 'strata-ut-vols' (raw)"]
    assert 'the volume created for it was removed again' in real['msg']
    assert strata_pool.listVolumes() == []


def test_foreign_volume_refused(run_module, hv, strata_pool):
    strata_pool.createXML("<volume><name>foreign.img</name><capacity>1048576</capacity></volume>", 0)
    for params in (dict(capacity='2M'), dict(state='absent')):
        result = run_module(volume, name='foreign.img', pool='strata-ut-vols', **params)
        assert result['failed'] and 'not created by strata.libvirt' in result['msg'] and 'adopt=true' in result['msg']
    assert 'foreign.img' in strata_pool.listVolumes()
    assert run_module(volume, name='foreign.img', pool='strata-ut-vols', adopt=True)['actions'][0].startswith('adopt')
    assert run_module(volume, name='foreign.img', pool='strata-ut-vols', state='absent')['changed']


@pytest.mark.parametrize('params,match', [
    (dict(pool='no-such-pool'), "Option pool: storage pool 'no-such-pool' does not exist"),
    (dict(capacity='ten'), "Option capacity: invalid size 'ten'"),
    (dict(name='x y'), "Option name: invalid name 'x y'"),
    (dict(backing_volume='missing.qcow2', capacity=None), "Option backing_volume: volume 'missing.qcow2' does not exist"),
    (dict(xml='<volume><name>v.qcow2</name>', capacity=None), 'Option xml: malformed XML'),
])
def test_bad_input(run_module, strata_pool, params, match):
    args = dict(name='v.qcow2', pool='strata-ut-vols', capacity='1G')
    args.update(params)
    result = run_module(volume, **dict((k, v) for k, v in args.items() if v is not None))
    assert result['failed'] and match in result['msg'], result['msg']
    assert strata_pool.listVolumes() == []


def test_stopped_pool_is_reported(run_module, strata_pool):
    strata_pool.destroy()
    result = run_module(volume, name='v.qcow2', pool='strata-ut-vols', capacity='1G')
    assert result['failed'] and "storage pool 'strata-ut-vols' is not active" in result['msg']


def test_items_in_one_run(four_steps, run_module, strata_pool):
    """items: several volumes in one run; top-level options are every item's defaults; four steps as one volume."""
    run_module(volume, name='base.qcow2', pool='strata-ut-vols', capacity='1G')
    results = four_steps(volume, pool='strata-ut-vols', backing_volume='base.qcow2', cluster='ut',
                         items=[{'name': 'a.qcow2'}, {'name': 'b.qcow2', 'capacity': '2G'}])
    assert results[0]['actions'] == [
        "%s: create volume '%s' in pool 'strata-ut-vols' (qcow2, %s) as a copy-on-write overlay of "
        "/srv/strata-ut-vols/base.qcow2" % ('strata-ut-vols/' + name, name, size)
        for name, size in (('a.qcow2', '1G (1073741824 bytes)'), ('b.qcow2', '2G (2147483648 bytes)'))]
    assert [r['item'] for r in results[1]['results']] == ['strata-ut-vols/a.qcow2', 'strata-ut-vols/b.qcow2']
    assert [r['volume']['capacity'] for r in results[1]['results']] == [G, 2 * G]
    assert [d['after_header'] for d in results[0]['diff']] == ['strata-ut-vols/a.qcow2 (after)', 'strata-ut-vols/b.qcow2 (after)']
    assert results[3]['results'][1]['volume']['ownership'] == {'owned': True, 'cluster': 'ut'}


def test_items_invalid_item_changes_nothing(run_module, strata_pool):
    result = run_module(volume, pool='strata-ut-vols', capacity='1G',
                        items=[{'name': 'ok.qcow2'}, {'capacity': '2G'}, {'name': 'x.qcow2', 'xml': '<volume/>'},
                               {'name': 'y.qcow2', 'colour': 'red'}])
    assert result['failed'] and result['msg'].startswith('Nothing was changed; these items are invalid:')
    assert 'items[1] (strata-ut-vols/None): missing required arguments: name' in result['msg']
    assert 'items[2] (strata-ut-vols/x.qcow2): parameters are mutually exclusive: xml|capacity' in result['msg']
    assert "items[3] (strata-ut-vols/y.qcow2): unsupported parameters: colour" in result['msg'] and 'colour' in result['msg']
    assert 'ok.qcow2' not in result['msg'] and strata_pool.listVolumes() == []
    # the planner's own validation (desired state) also runs for every item before the first is touched
    result = run_module(volume, pool='strata-ut-vols', items=[{'name': 'ok.qcow2', 'capacity': '1G'}, {'name': 'bad/name'}])
    assert result['failed'] and 'items[1] (strata-ut-vols/bad/name)' in result['msg'], result['msg']
    assert strata_pool.listVolumes() == []
    # an empty list does nothing (a role's list of VMs may be empty)
    empty = run_module(volume, pool='strata-ut-vols', items=[])
    assert not empty.get('failed') and not empty['changed'] and empty['results'] == [] and empty['actions'] == []
    # without items the top-level options are checked as the one item, as before
    assert 'missing required arguments: name' in run_module(volume, pool='strata-ut-vols', capacity='1G')['msg']


def test_items_failure_names_the_item_and_what_changed_before(run_module, strata_pool):
    run_module(volume, name='big.qcow2', pool='strata-ut-vols', capacity='2G')
    result = run_module(volume, pool='strata-ut-vols',
                        items=[{'name': 'new.qcow2', 'capacity': '1G'}, {'name': 'big.qcow2', 'capacity': '1G'},
                               {'name': 'later.qcow2', 'capacity': '1G'}])
    assert result['failed'] and result['changed']
    assert result['msg'].startswith('items[1] (strata-ut-vols/big.qcow2): ') and 'smaller' in result['msg'], result['msg']
    assert result['msg'].endswith('Changed before it: strata-ut-vols/new.qcow2. Not run: 1 later item(s).')
    assert [r['item'] for r in result['results']] == ['strata-ut-vols/new.qcow2', 'strata-ut-vols/big.qcow2']
    assert sorted(strata_pool.listVolumes()) == ['big.qcow2', 'new.qcow2']


def test_local_file_only_for_a_file_of_this_host():
    conn = libvirt.open('test:///default')
    try:
        pool = conn.storagePoolLookupByName('default-pool')
        vol = pool.createXML("<volume><name>lf.img</name><capacity>1048576</capacity></volume>", 0)
        ctx = Session(None, conn, 'test:///default', None, None)
        assert _volume.local_file(ctx, vol) is None  # the test driver's path is not a file here
        ctx = Session(None, conn, 'qemu+ssh://root@hv1/system', None, None)
        assert _volume.local_file(ctx, vol) is None
    finally:
        conn.close()


def test_module_uses_the_module_utils_spec(main_calls):
    module_args, run_args = main_calls(volume, 'run_items')
    # the module takes items: its spec is the item spec made optional plus items; constraints hold per item
    assert module_args == dict(argument_spec=_batch.module_spec(_volume.argument_spec()), supports_check_mode=True)
    assert run_args == (module_args, _volume.VolumeResource, _volume.argument_spec(), _volume.CONSTRAINTS, _volume.item_label)
    assert _volume.item_label(dict(pool='p', name='v')) == 'p/v'


def test_desired_from_params_names_the_option():
    params = dict(name='v.qcow2', pool='p', state='present', capacity='lots')
    with pytest.raises(_volume.StrataError, match="^Option capacity: invalid size 'lots'"):
        _volume.desired_from_params(params)


def test_items_share_one_session_and_read_each_volume_once(run_module, strata_pool, monkeypatch):
    """The items of one run: one connection and one registry read for all, and each volume's XML read a bounded
    number of times (a pool of N overlays is not read once per item); who backs on what stays exact."""
    from ansible_collections.strata.libvirt.plugins.module_utils import _connection, _ownership
    run_module(volume, name='base.qcow2', pool='strata-ut-vols', capacity='1G')
    items = [{'name': 'o%d.qcow2' % i} for i in range(8)]
    counts = {}

    def counting(key, real):
        def call(*args, **kwargs):
            counts[key] = counts.get(key, 0) + 1
            return real(*args, **kwargs)
        return call
    monkeypatch.setattr(_connection, 'open_connection', counting('connect', _connection.open_connection))
    monkeypatch.setattr(_ownership.OwnerRegistry, 'load', counting('registry', _ownership.OwnerRegistry.load))
    monkeypatch.setattr(_volume, 'volume_state', counting('xml', _volume.volume_state))
    assert run_module(volume, pool='strata-ut-vols', backing_volume='base.qcow2', items=items)['changed']
    # per item: its backing source and the new volume, twice each (plan and index, result); the index is built
    # when the first result reads it, from the two volumes the pool has then
    assert counts == {'connect': 1, 'registry': 1, 'xml': 4 * len(items) + 2}, counts
    counts.clear()
    again = run_module(volume, pool='strata-ut-vols', backing_volume='base.qcow2', items=items)
    assert not again['changed'], again
    # per item: its own volume and its backing source; the pool's 9 volumes once for the backing index
    assert counts == {'connect': 1, 'registry': 1, 'xml': 2 * len(items) + 9}, counts
    facts = run_module(volume, pool='strata-ut-vols',
                       items=[{'name': 'base.qcow2'}, {'name': 'o0.qcow2', 'state': 'absent'}, {'name': 'base.qcow2'}])
    assert facts['results'][0]['volume']['backing_users'] == ['o%d.qcow2' % i for i in range(8)]
    # the index is read again after a change: o0 is gone from base's users in the same run
    assert facts['results'][2]['volume']['backing_users'] == ['o%d.qcow2' % i for i in range(1, 8)]

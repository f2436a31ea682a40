# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The filter cluster_rebuild: what -e strata_rebuild / strata_reseed shut down, remove and write anew."""

from ansible_collections.strata.libvirt.plugins.filter.cluster import FilterModule

FILTERS = FilterModule().filters()
KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKpc8QXeQS+7Sa9RPnbtTb86sZDiDouKCQQOJn2NJVXS test'
IMAGE_MAP = {'default_label': 'lab', 'images': {'lab': {'source': 'http://h/lab.qcow2', 'checksum': 'none'}}}
CLUSTER = {'name': 'c1', 'network': {'cidr': '10.9.0.0/24'}, 'ssh_public_keys': [KEY], 'virt_type': 'qemu',
           'vms': [{'name': 'a', 'ip': '10.9.0.10'},
                   {'name': 'b', 'ip': '10.9.0.11', 'after': ['a'], 'disks': [{'size': '1G'}]},
                   {'name': 'c', 'ip': '10.9.0.12', 'after': ['b']}]}
STAMP = '20261202T120000'


def plan():
    result = FILTERS['cluster_plan'](CLUSTER, IMAGE_MAP, {})
    assert result['problems'] == []
    return result


def objects(domains):
    return {'marked': {'domains': domains}}


def seed_ids(result):
    return dict((item['volume'], item.get('instance_id')) for item in result['seeds']['items'])


def test_rebuild_removes_the_disk_and_gives_a_new_instance_id():
    result = FILTERS['cluster_rebuild'](plan(), objects(['c1-a', 'c1-b', 'c1-c']), ['b'], [], False, STAMP)
    assert result['problems'] == [] and result['vms'] == ['b'] and result['rebuild'] == ['b'] and result['reseed'] == []
    assert result['domains'] == ['c1-b'] and result['stop_vms'] == [{'name': 'c1-b', 'tier': 1}]
    assert result['volumes'] == [{'name': 'c1-b.qcow2', 'pool': 'c1'}]
    assert seed_ids(result) == {'c1-a-seed.iso': None, 'c1-b-seed.iso': 'iid-b-' + STAMP, 'c1-c-seed.iso': None}
    # the plan's own seed options are not changed
    assert all('instance_id' not in item for item in plan()['params']['seeds']['items'])
    # with its data disks, from a comma-separated string (what -e gives)
    data = FILTERS['cluster_rebuild'](plan(), objects(['c1-b']), 'b', None, 'true', STAMP)
    assert data['volumes'] == [{'name': 'c1-b.qcow2', 'pool': 'c1'}, {'name': 'c1-b-data1.qcow2', 'pool': 'c1'}]


def test_reseed_keeps_the_disks_and_the_order_is_the_plans():
    result = FILTERS['cluster_rebuild'](plan(), objects(['c1-a', 'c1-c']), 'c', 'c, a,b', False, STAMP)
    assert result['vms'] == ['a', 'b', 'c'] and result['rebuild'] == ['c'] and result['reseed'] == ['a', 'b']
    assert result['volumes'] == [{'name': 'c1-c.qcow2', 'pool': 'c1'}]
    # only the domains that exist are shut down, with their tiers (the engine stops the last tier first)
    assert result['stop_vms'] == [{'name': 'c1-a', 'tier': 0}, {'name': 'c1-c', 'tier': 2}]
    assert sorted(v for v in seed_ids(result).values()) == sorted('iid-%s-%s' % (n, STAMP) for n in 'abc')


def test_nothing_named_is_nothing_to_do():
    for empty in (None, '', []):
        result = FILTERS['cluster_rebuild'](plan(), objects([]), empty, empty, False, None)
        assert result['problems'] == [] and result['vms'] == [] and result['stop_vms'] == [] and result['volumes'] == []
        assert seed_ids(result) == {'c1-a-seed.iso': None, 'c1-b-seed.iso': None, 'c1-c-seed.iso': None}


def test_bad_requests_name_the_variable():
    cases = [
        ((['web9', 'a'], [], False, STAMP), ['strata_rebuild: web9 is not a VM of cluster c1 (its VMs: a, b, c)']),
        (([], ['x', 'y'], False, STAMP), ['strata_reseed: x, y are not VMs of cluster c1 (its VMs: a, b, c)']),
        (([1], [], False, STAMP), ['strata_rebuild: must be a list of VM names (or one string, comma-separated), got [1]']),
        ((['a'], [], 'maybe', STAMP), ["strata_rebuild_data: must be a boolean, got 'maybe'"]),
        ((['a'], [], False, 'a b'), ["the stamp of the new instance-ids must be letters and digits, got 'a b'"]),
    ]
    for args, problems in cases:
        result = FILTERS['cluster_rebuild'](plan(), objects(['c1-a']), *args)
        assert result['problems'] == problems, args
        assert result['vms'] == [] and result['stop_vms'] == [] and result['volumes'] == []

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The strata.libvirt.cluster_* filters: thin wrappers, errors as AnsibleFilterError."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.strata.libvirt.plugins.filter.cluster import FilterModule

FILTERS = FilterModule().filters()
KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKpc8QXeQS+7Sa9RPnbtTb86sZDiDouKCQQOJn2NJVXS test'
IMAGE_MAP = {'default_label': 'lab', 'images': {'lab': {'source': 'http://h/lab.qcow2', 'checksum': 'none'}}}
CLUSTER = {'name': 'c1', 'network': {'cidr': '10.9.0.0/24'}, 'ssh_public_keys': [KEY],
           'vms': [{'name': 'a', 'ip': '10.9.0.10'}, {'name': 'b', 'ip': '10.9.0.11', 'after': ['a']}]}


def test_filters_are_there():
    assert sorted(FILTERS) == ['cluster_mac', 'cluster_plan', 'cluster_problems', 'cluster_stop_vms',
                               'cluster_summary', 'cluster_vm_items', 'resolve_images']


def test_vm_items_filter():
    plan = FILTERS['cluster_plan'](CLUSTER, IMAGE_MAP, {'virt_type': 'qemu'})
    assert [item['name'] for item in FILTERS['cluster_vm_items'](plan, 'domain')] == ['c1-a', 'c1-b']
    assert [item['volume'] for item in FILTERS['cluster_vm_items'](plan, 'seed')] == ['c1-a-seed.iso', 'c1-b-seed.iso']
    with pytest.raises(AnsibleFilterError, match='kind must be one of'):
        FILTERS['cluster_vm_items'](plan, 'pool')


def test_plan_and_problems():
    plan = FILTERS['cluster_plan'](CLUSTER, IMAGE_MAP)
    assert [t['vms'] for t in plan['tiers']] == [['c1-a'], ['c1-b']]
    assert FILTERS['cluster_problems'](CLUSTER, IMAGE_MAP) == []
    bad = dict(CLUSTER, vms=[{'name': 'a', 'ip': '10.9.0.10'}, {'name': 'a', 'ip': '10.9.0.10'}])
    assert len(FILTERS['cluster_problems'](bad, IMAGE_MAP)) == 2
    with pytest.raises(AnsibleFilterError, match='2 problems'):
        FILTERS['cluster_plan'](bad, IMAGE_MAP)


def test_helpers():
    plan = FILTERS['cluster_plan'](CLUSTER, IMAGE_MAP, {})
    assert FILTERS['cluster_stop_vms'](plan, ['c1-b']) == [{'name': 'c1-b', 'tier': 1}]
    assert FILTERS['cluster_summary'](plan, [])[2].split()[:3] == ['a', '0', '10.9.0.10']
    assert FILTERS['cluster_mac']('c1', 'a').startswith('52:54:00:')
    assert FILTERS['resolve_images'](IMAGE_MAP, [])[0]['label'] == 'lab'
    with pytest.raises(AnsibleFilterError, match="unknown image label 'zz'"):
        FILTERS['resolve_images'](IMAGE_MAP, ['zz'])

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""strata.libvirt.cluster_info against libvirt's test:///default driver: every collision at once, what carries the
cluster's mark, and the volumes that a foreign domain uses."""

import pytest

libvirt = pytest.importorskip('libvirt')

from ansible_collections.strata.libvirt.plugins.module_utils import _cluster_scan
from ansible_collections.strata.libvirt.plugins.modules import cluster_info, network, pool, volume

FOREIGN_DOMAIN = '''<domain type='test'><name>%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type>hvm</type></os><devices><disk type='file' device='disk'><source file='%s'/><target dev='vda'/></disk>
</devices></domain>'''


@pytest.fixture
def domains(hv):
    made = []

    def define(name, disk):
        made.append(hv.defineXML(FOREIGN_DOMAIN % (name, disk)))
    yield define
    for dom in made:
        dom.undefine()


@pytest.fixture
def ours(run_module):
    assert run_module(pool, name='strata-ut-ci', path='/srv/strata-ut-ci', state='running', cluster='ci')['changed']
    assert run_module(volume, name='base.qcow2', pool='strata-ut-ci', capacity='1G', cluster='ci')['changed']
    assert run_module(volume, name='ci-a.qcow2', pool='strata-ut-ci', backing_volume='base.qcow2', cluster='ci')['changed']
    assert run_module(network, name='strata-ut-ci', address='10.99.0.1/24', cluster='ci')['changed']


def test_main_hands_the_spec_to_module_utils(main_calls):
    kwargs, args = main_calls(cluster_info, 'run')
    assert kwargs['argument_spec'] == _cluster_scan.argument_spec() and kwargs['supports_check_mode']
    assert len(args) == 1


def test_nothing_there_is_no_collision(run_module):
    result = run_module(cluster_info, check=True, cluster='ci', pool='strata-ut-none', network='strata-ut-none',
                        volumes=['a.qcow2'], domains=['strata-ut-none-a'])
    assert not result['changed'] and result['foreign'] == []
    assert result['objects']['pool'] == {'exists': False}
    assert result['objects']['volumes']['a.qcow2'] == {'exists': None}
    assert result['objects']['domains']['strata-ut-none-a'] == {'exists': False}


def test_ours_and_the_marks(run_module, ours):
    result = run_module(cluster_info, cluster='ci', pool='strata-ut-ci', network='strata-ut-ci',
                        volumes=['ci-a.qcow2', 'ci-a-seed.iso'], domains=['strata-ut-ci-a'])
    assert result['foreign'] == []
    objects = result['objects']
    assert objects['pool']['status'] == 'ours' and objects['pool']['active']
    assert objects['network']['status'] == 'ours'
    assert objects['volumes']['ci-a.qcow2']['status'] == 'ours'
    assert objects['volumes']['ci-a-seed.iso'] == {'exists': False}
    marked = result['marked']
    assert marked['pools'] == [{'name': 'strata-ut-ci', 'active': True}]
    assert marked['networks'] == ['strata-ut-ci']
    assert sorted(v['name'] for v in marked['volumes']) == ['base.qcow2', 'ci-a.qcow2']
    # another cluster sees the same objects as foreign
    other = run_module(cluster_info, cluster='other', pool='strata-ut-ci', network='strata-ut-ci',
                       volumes=['ci-a.qcow2'])
    assert other['foreign'] == [
        "pool 'strata-ut-ci' exists and belongs to cluster 'ci'",
        "network 'strata-ut-ci' (inactive) exists and belongs to cluster 'ci'",
        "volume 'ci-a.qcow2' in pool 'strata-ut-ci' exists and belongs to cluster 'ci'",
    ]
    assert other['marked'] == {'domains': [], 'networks': [], 'pools': [], 'volumes': []}


def test_every_collision_at_once(run_module, hv, domains):
    hv.networkDefineXML("<network><name>strata-ut-taken</name><bridge name='virbr-ut9'/></network>")  # inactive
    hv.storagePoolDefineXML("<pool type='dir'><name>strata-ut-taken</name><target><path>/srv/x</path></target></pool>")
    domains('strata-ut-taken-a', '/srv/x/a.qcow2')
    try:
        result = run_module(cluster_info, check=True, cluster='ci', pool='strata-ut-taken', network='strata-ut-taken',
                            volumes=['a.qcow2'], domains=['strata-ut-taken-a', 'strata-ut-taken-b'])
    finally:
        hv.networkLookupByName('strata-ut-taken').undefine()
        hv.storagePoolLookupByName('strata-ut-taken').undefine()
    assert result['foreign'] == [
        "pool 'strata-ut-taken' (inactive) exists and was not created by strata.libvirt",
        "network 'strata-ut-taken' (inactive) exists and was not created by strata.libvirt",
        "domain 'strata-ut-taken-a' exists and was not created by strata.libvirt",
    ]
    assert result['objects']['volumes']['a.qcow2'] == {'exists': None}  # the pool is inactive: unknown


def test_a_volume_that_a_foreign_domain_uses(run_module, ours, domains):
    domains('strata-ut-ci-a', '/srv/strata-ut-ci/ci-a.qcow2')
    result = run_module(cluster_info, cluster='ci', pool='strata-ut-ci', volumes=['ci-a.qcow2'],
                        domains=['strata-ut-ci-a'])
    assert result['foreign'] == ["domain 'strata-ut-ci-a' exists and was not created by strata.libvirt"]
    assert result['objects']['volumes']['ci-a.qcow2']['used_by'] == ['strata-ut-ci-a']
    used = dict((v['name'], v['used_by']) for v in result['marked']['volumes'])
    assert used == {'base.qcow2': [], 'ci-a.qcow2': ['strata-ut-ci-a']}


def test_bad_query_names_the_option(run_module):
    result = run_module(cluster_info, cluster='ci', volumes=['a.qcow2'])
    assert result['failed'] and result['msg'].startswith('volumes: needs pool')
    result = run_module(cluster_info, cluster='ci', domains=['bad name'])
    assert result['failed'] and 'domains[0]' in result['msg']

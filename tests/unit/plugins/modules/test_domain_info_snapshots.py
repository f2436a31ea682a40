# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""strata.libvirt.domain_info with snapshots=true against libvirt's test:///default driver: each domain's snapshots,
as strata.libvirt.snapshot reports them, and nothing changed."""

import pytest

libvirt = pytest.importorskip('libvirt')

from ansible_collections.strata.libvirt.plugins.module_utils._domain import info
from ansible_collections.strata.libvirt.plugins.modules import domain_info, snapshot
from ansible_collections.strata.libvirt.tests.unit.plugins.modules.test_snapshot_module import DOM, domain_xml


@pytest.fixture
def define(hv):
    """define() -> a domain of test:///default with the strata mark, removed with its snapshots after the test."""
    made = []

    def make():
        made.append(hv.defineXML(domain_xml()))
        return made[-1]
    yield make
    for dom in made:
        for snap in dom.listAllSnapshots(0):
            snap.delete(0)
        dom.undefine()


def test_snapshots_of_each_domain(run_module, define):
    dom = define()
    run_module(snapshot, domain=DOM, name='base', description='clean base')
    run_module(snapshot, domain=DOM, name='second')
    taken = run_module(snapshot, domain=DOM, name='second', check=True)['snapshots']
    found = run_module(domain_info, name=[DOM, 'nope'], ip_source='none', snapshots=True, check=True)
    assert not found['changed'] and found['missing'] == ['nope']
    facts = found['domains'][0]
    assert facts['snapshots'] == taken
    assert [snap['name'] for snap in facts['snapshots']] == ['base', 'second']
    assert facts['snapshots'][0]['description'] == 'clean base' and facts['snapshots'][0]['memory'] is False
    assert facts['snapshots'][1]['current'] and facts['snapshots'][1]['parent'] == 'base'
    assert sorted(snap.getName() for snap in dom.listAllSnapshots(0)) == ['base', 'second']


def test_no_snapshots_key_unless_asked(run_module, define):
    define()
    plain = run_module(domain_info, name=[DOM], ip_source='none')['domains'][0]
    assert 'snapshots' not in plain
    assert run_module(domain_info, name=[DOM], ip_source='none', snapshots=True)['domains'][0]['snapshots'] == []


def test_the_option_is_in_the_spec_and_the_query():
    assert info.argument_spec()['snapshots'] == dict(type='bool', default=False)
    assert info.desired_from_params(dict(snapshots=True))['snapshots'] is True
    assert info.desired_from_params(dict())['snapshots'] is False

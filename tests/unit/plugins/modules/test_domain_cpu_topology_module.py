# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""strata.libvirt.domain's CPU topology end to end against libvirt's test:///default driver."""


import pytest

libvirt = pytest.importorskip('libvirt')

from ansible_collections.strata.libvirt.plugins.module_utils import _xml
from ansible_collections.strata.libvirt.plugins.modules import domain

NAME = 'strata-ut-topo'
DOM = dict(name=NAME, state='running', type='qemu', memory='256M', vcpus=4,
           cpu={'mode': 'host-passthrough', 'sockets': 1, 'cores': 2, 'threads': 2}, cluster='ut')


def _stored(hv):
    root = _xml.parse_xml(hv.lookupByName(NAME).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    return root.find('vcpu').text, dict(root.find('cpu/topology').attrib)


def test_define_then_idempotent(four_steps, hv):
    results = four_steps(domain, **DOM)
    assert results[0]['diff']['after']['cpu'] == {'mode': 'host-passthrough', 'sockets': 1, 'dies': 1, 'cores': 2,
                                                  'threads': 2}
    assert _stored(hv) == ('4', {'sockets': '1', 'dies': '1', 'cores': '2', 'threads': '2'})
    assert results[3]['domain']['cpu'] == {'mode': 'host-passthrough', 'model': None, 'sockets': 1, 'dies': 1,
                                           'cores': 2, 'threads': 2}
    assert results[3]['restart_required'] is False


def test_topology_change_of_running_domain(run_module, hv):
    run_module(domain, **DOM)
    changed = dict(DOM, cpu=dict(DOM['cpu'], sockets=2, threads=1))
    result = run_module(domain, diff=True, **changed)
    assert result['changed'] and result['restart_required']
    assert result['actions'] == ["redefine domain '%s' (cpu)" % NAME]
    assert result['diff']['before']['cpu']['sockets'] == 1 and result['diff']['after']['cpu']['sockets'] == 2
    assert _stored(hv) == ('4', {'sockets': '2', 'dies': '1', 'cores': '2', 'threads': '1'})
    again = run_module(domain, **changed)
    assert not again['changed'] and again['restart_required']
    restarted = run_module(domain, **dict(changed, restart=True))
    assert restarted['changed'] and not restarted['restart_required']
    assert not run_module(domain, **changed)['restart_required']


def test_without_vcpus_the_topology_counts_them(run_module, hv):
    params = dict(DOM, vcpus=None, cpu={'mode': 'host-passthrough', 'cores': 3})
    assert run_module(domain, **params)['changed']
    assert _stored(hv) == ('3', {'sockets': '1', 'dies': '1', 'cores': '3', 'threads': '1'})
    assert not run_module(domain, **params)['changed']
    # leaving out the topology options leaves the topology as it is
    assert not run_module(domain, **dict(DOM, vcpus=None, cpu={'mode': 'host-passthrough'}))['changed']


def test_mismatch_fails_before_any_change(run_module, hv):
    result = run_module(domain, **dict(DOM, vcpus=2))
    assert result['failed'] and result['msg'] == 'Option cpu: sockets 1 x cores 2 x threads 2 = 4 is not vcpus (2)'
    with pytest.raises(libvirt.libvirtError):
        hv.lookupByName(NAME)

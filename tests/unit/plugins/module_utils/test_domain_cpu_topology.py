# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The domain's CPU topology (cpu.sockets, cpu.cores, cpu.threads): validation, normalise, compare and render,
as pure functions: no libvirt."""


import pytest

pytest.importorskip('lxml')

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._domain.plan import plan_domain
from ansible_collections.strata.libvirt.plugins.module_utils._domain.settings import parse_domain
from ansible_collections.strata.libvirt.plugins.module_utils._domain.spec import argument_spec, desired_from_params
from ansible_collections.strata.libvirt.plugins.module_utils._xml import parse_xml

# What libvirt 9.0 stores: dies='1' added, <topology> after <model>.
STORED = '''<domain type='qemu'>
  <name>vm1</name>
  <uuid>0d4c2b8e-6a3a-4b59-9a46-0c1e8a8d1b10</uuid>
  <memory unit='KiB'>524288</memory>
  <currentMemory unit='KiB'>524288</currentMemory>
  <vcpu placement='static'>%(vcpus)d</vcpu>
  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type><boot dev='hd'/></os>
  %(cpu)s
  <devices/>
</domain>'''
CUSTOM = ("<cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64</model>"
          "<topology sockets='1' dies='1' cores='2' threads='2'/><feature policy='require' name='x2apic'/></cpu>")


def stored(cpu=CUSTOM, vcpus=4):
    return STORED % {'cpu': cpu, 'vcpus': vcpus}


def params(**kwargs):
    base = dict((key, None) for key in argument_spec())
    base.update(name='vm1', state='present', restart=False, adopt=False, remove_volumes=False, shutdown_timeout=120)
    base.update(kwargs)
    return base


def cpu(**kwargs):
    value = dict(mode=None, model=None, sockets=None, cores=None, threads=None)
    value.update(kwargs)
    return value


def desired(**kwargs):
    return desired_from_params(params(**kwargs))


def current(xml, active=False, live_xml=None):
    root = parse_xml(xml)
    live = parse_xml(live_xml or xml) if active else None
    return {'exists': True, 'name': 'vm1', 'uuid': None, 'id': 1 if active else None, 'active': active,
            'persistent': True, 'state': 1 if active else 5, 'state_reason': 0, 'autostart': False,
            'owner': {'owned': True, 'cluster': None}, 'config': parse_domain(root),
            'live': parse_domain(live) if active else None, 'xml': root, 'live_xml': live}


def topology_of(xml):
    elem = parse_xml(xml).find('cpu/topology')
    return dict(elem.attrib) if elem is not None else None


# ---------------------------------------------------------------- validation

def test_topology_with_vcpus():
    config = desired(vcpus=4, cpu=cpu(sockets=1, cores=2, threads=2))['config']
    assert config['cpu'] == {'mode': 'host-model', 'model': None, 'sockets': 1, 'dies': 1, 'cores': 2, 'threads': 2}
    assert config['vcpus'] == 4


def test_topology_defaults_to_one_and_sets_vcpus():
    config = desired(cpu=cpu(mode='host-passthrough', cores=4))['config']
    assert config['cpu'] == {'mode': 'host-passthrough', 'model': None, 'sockets': 1, 'dies': 1, 'cores': 4,
                             'threads': 1}
    assert config['vcpus'] == 4


def test_no_topology_leaves_it_and_vcpus_alone():
    config = desired(cpu=cpu(mode='host-passthrough'))['config']
    assert config['cpu'] == {'mode': 'host-passthrough', 'model': None, 'sockets': None, 'dies': None,
                             'cores': None, 'threads': None}
    assert 'vcpus' not in config


@pytest.mark.parametrize('kwargs, message', [
    (dict(vcpus=2, cpu=cpu(sockets=1, cores=2, threads=2)),
     'Option cpu: sockets 1 x cores 2 x threads 2 = 4 is not vcpus (2)'),
    (dict(vcpus=3, cpu=cpu(threads=2)), 'Option cpu: sockets 1 x cores 1 x threads 2 = 2 is not vcpus (3)'),
    (dict(cpu=cpu(sockets=0, cores=2)), 'Option cpu.sockets: 0 must be 1 or more'),
    (dict(cpu=cpu(cores=-1)), 'Option cpu.cores: -1 must be 1 or more'),
    (dict(vcpus=2, cpu=cpu(threads=0)), 'Option cpu.threads: 0 must be 1 or more'),
])
def test_bad_topology_names_the_option(kwargs, message):
    with pytest.raises(StrataError) as err:
        desired(**kwargs)
    assert str(err.value) == message


# ---------------------------------------------------------------- normalise

def test_parse_topology_and_libvirts_default_dies():
    assert parse_domain(parse_xml(stored()))['cpu'] == {'mode': 'custom', 'model': 'qemu64', 'sockets': 1, 'dies': 1,
                                                        'cores': 2, 'threads': 2}
    no_dies = parse_domain(parse_xml(stored("<cpu mode='host-model'><topology sockets='2' cores='1' threads='2'/></cpu>")))
    assert no_dies['cpu']['dies'] == 1 and no_dies['cpu']['sockets'] == 2
    none = parse_domain(parse_xml(stored("<cpu mode='host-model'/>")))['cpu']
    assert [none[key] for key in ('sockets', 'dies', 'cores', 'threads')] == [None] * 4


# ---------------------------------------------------------------- planner and render

def test_stored_topology_is_not_a_change():
    plan = plan_domain(current(stored()), desired(vcpus=4, cpu=cpu(model='qemu64', sockets=1, cores=2, threads=2)))
    assert plan.actions == [] and not plan.diff.has_differences()
    # without the topology options, the stored topology is not compared (nor changed)
    assert plan_domain(current(stored()), desired(vcpus=4, cpu=cpu(model='qemu64'))).actions == []


def test_topology_change_edits_the_cpu_in_place():
    plan = plan_domain(current(stored()), desired(cpu=cpu(model='qemu64', sockets=2, cores=2, threads=2)))
    assert plan.ops() == ['define']
    assert plan.actions[0].text == "redefine domain 'vm1' (vcpus, cpu)"
    diff = plan.diff.diff()
    assert diff['before']['cpu'] == {'mode': 'custom', 'model': 'qemu64', 'sockets': 1, 'dies': 1, 'cores': 2,
                                     'threads': 2}
    assert diff['after']['cpu'] == {'mode': 'custom', 'model': 'qemu64', 'sockets': 2, 'dies': 1, 'cores': 2,
                                    'threads': 2}
    root = parse_xml(plan.actions[0].args['xml'])
    assert root.find('vcpu').text == '8'
    assert [child.tag for child in root.find('cpu')] == ['model', 'topology', 'feature']  # the feature kept
    assert dict(root.find('cpu/topology').attrib) == {'sockets': '2', 'dies': '1', 'cores': '2', 'threads': '2'}
    # what was written compares equal (the second run changes nothing)
    again = plan_domain(current(plan.actions[0].args['xml']), desired(cpu=cpu(model='qemu64', sockets=2, cores=2,
                                                                              threads=2)))
    assert again.actions == []


def test_new_topology_on_a_cpu_without_one():
    plan = plan_domain(current(stored("<cpu mode='host-passthrough' check='none' migratable='on'/>", vcpus=2)),
                       desired(vcpus=2, cpu=cpu(mode='host-passthrough', cores=2)))
    assert plan.actions[0].text == "redefine domain 'vm1' (cpu)"
    root = parse_xml(plan.actions[0].args['xml'])
    assert root.find('cpu').get('migratable') == 'on'
    assert topology_of(plan.actions[0].args['xml']) == {'sockets': '1', 'dies': '1', 'cores': '2', 'threads': '1'}


def test_new_domain_gets_the_topology():
    plan = plan_domain({'exists': False, 'name': 'vm1'}, desired(memory=512, cpu=cpu(sockets=2, threads=2)))
    xml = plan.actions[0].args['xml']
    assert topology_of(xml) == {'sockets': '2', 'dies': '1', 'cores': '1', 'threads': '2'}
    assert parse_xml(xml).find('vcpu').text == '4'


def test_mode_change_keeps_the_topology():
    plan = plan_domain(current(stored()), desired(cpu=cpu(mode='host-passthrough')))
    xml = plan.actions[0].args['xml']
    assert parse_xml(xml).find('cpu').get('mode') == 'host-passthrough'
    assert topology_of(xml) == {'sockets': '1', 'dies': '1', 'cores': '2', 'threads': '2'}


def test_topology_change_of_running_domain_requires_restart():
    plan = plan_domain(current(stored(), active=True), desired(vcpus=4, cpu=cpu(model='qemu64', cores=4)))
    assert plan.ops() == ['define'] and plan.restart_required
    # once redefined, the live definition still has the old topology: still required, nothing to redefine
    new_xml = plan.actions[0].args['xml']
    pending = plan_domain(current(new_xml, active=True, live_xml=stored()),
                          desired(vcpus=4, cpu=cpu(model='qemu64', cores=4)))
    assert pending.actions == [] and pending.restart_required
    restarted = plan_domain(current(new_xml, active=True), desired(vcpus=4, cpu=cpu(model='qemu64', cores=4)))
    assert restarted.actions == [] and not restarted.restart_required

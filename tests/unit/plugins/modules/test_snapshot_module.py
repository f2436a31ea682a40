# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""strata.libvirt.snapshot end to end against libvirt's test:///default driver.

The test driver keeps snapshots as metadata only and refuses nothing a definition could tell (UEFI firmware, raw
disks, a running domain's snapshot without memory): what the module refuses here, it refuses before libvirt."""

import pytest

libvirt = pytest.importorskip('libvirt')

from ansible_collections.strata.libvirt.plugins.module_utils import _ownership
from ansible_collections.strata.libvirt.plugins.module_utils._snapshot import resource, spec
from ansible_collections.strata.libvirt.plugins.modules import snapshot

DOM = 'strata-ut-snap'
MARK = "<metadata><strata:owner xmlns:strata='%s' cluster='ut'/></metadata>" % _ownership.NAMESPACE
DISK = ("<disk type='file' device='disk'><driver name='qemu' type='%s'/><source file='/var/tmp/%s.%s'/>"
        "<target dev='%s' bus='virtio'/></disk>")


def domain_xml(name=DOM, mark=MARK, os_extra='', os_attrs='', disks=(('qcow2', 'vda'),)):
    devices = ''.join(DISK % (fmt, name, fmt, dev) for fmt, dev in disks)
    return ("<domain type='test'><name>%s</name>%s<memory unit='MiB'>64</memory><os%s><type>hvm</type>%s</os>"
            "<devices>%s</devices></domain>" % (name, mark, os_attrs, os_extra, devices))


@pytest.fixture
def define(hv):
    """define(**domain_xml arguments) -> a domain of test:///default, removed with its snapshots after the test."""
    made = []

    def make(**kwargs):
        dom = hv.defineXML(domain_xml(**kwargs))
        made.append(dom)
        return dom
    yield make
    for dom in made:
        if dom.isActive():
            dom.destroy()
        for snap in dom.listAllSnapshots(0):
            snap.delete(0)
        dom.undefine()
    test = hv.lookupByName('test')
    for snap in test.listAllSnapshots(0):   # test:///default's own domain: nothing of a test stays on it
        snap.delete(0)


def names(dom):
    return sorted(snap.getName() for snap in dom.listAllSnapshots(0))


def test_module_hands_the_spec_to_module_utils(main_calls):
    module_args, run_args = main_calls(snapshot, 'run')
    assert module_args == dict(argument_spec=spec.argument_spec(), supports_check_mode=True)
    assert run_args == (module_args, resource.SnapshotResource)


def test_four_steps_of_a_shut_off_domain(four_steps, define):
    dom = define()
    results = four_steps(snapshot, domain=DOM, name='base', description='clean base', cluster='ut')
    check, apply_ = results[0], results[1]
    assert check['actions'] == ["create snapshot 'base' of domain 'strata-ut-snap' (disks only)"]
    assert check['diff'] == {'before': {'exists': False, 'memory': None, 'description': None},
                             'after': {'exists': True, 'memory': False, 'description': 'clean base'}}
    assert check['snapshot'] == {'name': 'base', 'exists': False} and check['snapshots'] == []
    facts = apply_['snapshot']
    assert facts['exists'] and facts['state'] == 'shut off' and facts['memory'] is False and facts['current']
    assert facts['description'] == 'clean base' and facts['location'] == 'internal' and facts['parent'] is None
    assert isinstance(facts['creation_time'], int) and facts['created'].endswith('Z')
    assert apply_['snapshots'] == [dict((k, v) for k, v in facts.items() if k != 'exists')]
    assert apply_['domain'] == {'name': DOM, 'exists': True, 'state': 'shut off',
                                'ownership': {'owned': True, 'cluster': 'ut'}}
    assert results[3]['diff']['before'] == results[3]['diff']['after']
    assert names(dom) == ['base'] and not dom.isActive()


def test_four_steps_of_a_running_domain_save_its_memory(four_steps, define):
    dom = define()
    dom.create()
    results = four_steps(snapshot, domain=DOM, name='live')
    assert results[1]['actions'] == ["create snapshot 'live' of domain 'strata-ut-snap' (with memory)"]
    assert results[1]['snapshot']['state'] == 'running' and results[1]['snapshot']['memory'] is True
    assert "<memory snapshot='internal'/>" in dom.snapshotLookupByName('live', 0).getXMLDesc(0)
    assert dom.isActive()


def test_check_mode_changes_nothing(run_module, define):
    dom = define()
    assert run_module(snapshot, check=True, domain=DOM, name='base')['changed'] and names(dom) == []
    run_module(snapshot, domain=DOM, name='base')
    dom.create()
    for params in (dict(state='absent'), dict(state='reverted'), dict(description='new')):
        result = run_module(snapshot, check=True, domain=DOM, name='base', **params)
        assert result['changed'] and not result.get('failed'), result
        assert names(dom) == ['base'] and dom.isActive()
        assert dom.snapshotLookupByName('base', 0).getXMLDesc(0).count('<description>') == 0


def test_description_changed_in_place_and_removed(run_module, define):
    dom = define()
    run_module(snapshot, domain=DOM, name='base', description='first')
    run_module(snapshot, domain=DOM, name='next')
    created = dom.snapshotLookupByName('base', 0).getXMLDesc(0).split('<creationTime>')[1][:10]
    result = run_module(snapshot, diff=True, domain=DOM, name='base', description='second\n')
    assert result['changed']
    assert result['actions'] == ["update the description of snapshot 'base' of domain 'strata-ut-snap'"]
    assert result['diff']['before']['description'] == 'first' and result['snapshot']['description'] == 'second'
    xml = dom.snapshotLookupByName('base', 0).getXMLDesc(0)
    assert '<description>second' in xml and created in xml               # the same snapshot, its metadata redefined
    assert not run_module(snapshot, domain=DOM, name='base', description='second')['changed']
    assert dom.snapshotCurrent(0).getName() == 'next'                      # the current one stays current
    run_module(snapshot, domain=DOM, name='next', description='the current one')
    assert dom.snapshotCurrent(0).getName() == 'next'
    removed = run_module(snapshot, domain=DOM, name='base', description='')
    assert removed['changed'] and removed['snapshot']['description'] is None
    assert '<description>' not in dom.snapshotLookupByName('base', 0).getXMLDesc(0)
    assert not run_module(snapshot, domain=DOM, name='base', description='')['changed']


def test_a_redefinition_keeps_the_current_snapshot_current(run_module, define, monkeypatch):
    # (test:///default keeps it current anyway; libvirt's qemu driver makes current what it is told to)
    define()
    run_module(snapshot, domain=DOM, name='base')
    run_module(snapshot, domain=DOM, name='next')
    flags = []
    original = libvirt.virDomain.snapshotCreateXML

    def recording(self, xml, value=0):
        flags.append(value)
        return original(self, xml, value)
    monkeypatch.setattr(libvirt.virDomain, 'snapshotCreateXML', recording)
    run_module(snapshot, domain=DOM, name='base', description='not the current one')
    run_module(snapshot, domain=DOM, name='next', description='the current one')
    redefine, current = libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE, libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT
    assert flags == [redefine, redefine | current]


def test_memory_of_an_existing_snapshot_cannot_change(run_module, define):
    define()
    run_module(snapshot, domain=DOM, name='base')
    result = run_module(snapshot, domain=DOM, name='base', memory=True)
    assert result['failed'] and result['msg'].startswith("Option memory: snapshot 'base' of domain 'strata-ut-snap' "
                                                         "exists without its memory"), result['msg']
    assert not run_module(snapshot, domain=DOM, name='base', memory=False)['changed']


def test_memory_refused_where_libvirt_cannot(run_module, define):
    dom = define()
    result = run_module(snapshot, domain=DOM, name='base', memory=True)
    assert result['failed'] and "domain 'strata-ut-snap' is shut off, there is no memory to save" in result['msg']
    dom.create()
    result = run_module(snapshot, domain=DOM, name='base', memory=False)
    assert result['failed'] and 'libvirt 9.0 takes no internal snapshot of a running domain without its memory' in \
        result['msg'] and 'Shut the domain down first, or set memory=true' in result['msg'], result['msg']
    assert not result.get('actions_done')
    assert names(dom) == []


def test_revert_is_always_a_change_and_sets_the_run_state(run_module, define):
    dom = define()
    run_module(snapshot, domain=DOM, name='off')
    dom.create()
    run_module(snapshot, domain=DOM, name='live')
    # to the shut off one: the running domain is powered off
    result = run_module(snapshot, diff=True, domain=DOM, name='off', state='reverted')
    assert result['changed'] and result['actions'] == [
        "revert domain 'strata-ut-snap' to snapshot 'off' (disks only: the running domain is powered off)"]
    assert result['diff'] == {'before': {'current': 'live', 'state': 'running'},
                              'after': {'current': 'off', 'state': 'shut off'}}
    assert not dom.isActive() and dom.snapshotCurrent(0).getName() == 'off'
    assert result['domain']['state'] == 'shut off' and result['snapshot']['current']
    again = run_module(snapshot, domain=DOM, name='off', state='reverted')
    assert again['changed'] and again['actions'] == [
        "revert domain 'strata-ut-snap' to snapshot 'off' (disks only: the domain stays shut off)"]
    # running=true: reverted, then started
    started = run_module(snapshot, domain=DOM, name='off', state='reverted', running=True)
    assert started['actions'][1:] == ["start domain 'strata-ut-snap'"] and dom.isActive()
    assert started['domain']['state'] == 'running'
    # to the one with memory: running again
    dom.destroy()
    live = run_module(snapshot, domain=DOM, name='live', state='reverted')
    assert live['actions'] == ["revert domain 'strata-ut-snap' to snapshot 'live' (running, from its saved memory)"]
    assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    # running=false with memory: reverted paused, then forced off
    off = run_module(snapshot, domain=DOM, name='live', state='reverted', running=False)
    assert [a.split(' ')[0] for a in off['actions']] == ['revert', 'force'] and not dom.isActive()
    assert off['domain']['state'] == 'shut off'


def test_revert_to_an_unknown_snapshot(run_module, define):
    dom = define()
    run_module(snapshot, domain=DOM, name='base')
    run_module(snapshot, domain=DOM, name='other')
    result = run_module(snapshot, domain=DOM, name='nope', state='reverted')
    assert result['failed'] and result['msg'] == ("snapshot 'nope' of domain 'strata-ut-snap' does not exist; the "
                                                  "domain's snapshots: 'base', 'other'")
    assert dom.snapshotCurrent(0).getName() == 'other'


def test_absent_twice_keeps_the_children(run_module, define):
    dom = define()
    for name in ('base', 'next'):
        run_module(snapshot, domain=DOM, name=name)
    check = run_module(snapshot, check=True, domain=DOM, name='base', state='absent')
    gone = run_module(snapshot, domain=DOM, name='base', state='absent')
    assert check['actions'] == gone['actions'] == [
        "delete snapshot 'base' of domain 'strata-ut-snap' (its metadata and the internal snapshot in the disks); "
        "its child snapshot(s) 'next' are kept"]
    assert gone['changed'] and gone['snapshot'] == {'name': 'base', 'exists': False}
    assert [s['name'] for s in gone['snapshots']] == ['next'] and names(dom) == ['next']
    again = run_module(snapshot, domain=DOM, name='base', state='absent')
    assert not again['changed'] and again['actions'] == []
    assert not run_module(snapshot, domain='strata-ut-nodomain', name='base', state='absent')['changed']


def test_a_missing_domain(run_module, hv):
    for state in ('present', 'reverted'):
        result = run_module(snapshot, domain='strata-ut-nodomain', name='base', state=state)
        assert result['failed'] and result['msg'] == "domain 'strata-ut-nodomain' does not exist"


def test_foreign_domain_refused_untouched_then_with_adopt(run_module, define, hv):
    test = hv.lookupByName('test')   # test:///default's own domain: no strata mark
    xml = test.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    for state in ('present', 'absent', 'reverted'):
        result = run_module(snapshot, domain='test', name='base', state=state)
        assert result['failed'] and result['msg'].startswith(
            "domain 'test' exists but was not created by strata.libvirt (it has no strata ownership mark); refusing "
            "to take, revert or delete its snapshots. Set adopt=true"), result['msg']
    assert names(test) == []
    adopted = run_module(snapshot, domain='test', name='base', adopt=True)
    assert adopted['changed'] and names(test) == ['base'] and adopted['snapshot']['memory'] is True
    assert adopted['domain']['ownership'] == {'owned': False, 'cluster': None}
    assert test.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) == xml                 # the domain was not marked
    # a domain of another cluster
    define()
    result = run_module(snapshot, domain=DOM, name='base', cluster='other')
    assert result['failed'] and "domain 'strata-ut-snap' belongs to cluster 'ut', not to cluster 'other'" in result['msg']
    assert run_module(snapshot, domain=DOM, name='base', cluster='other', adopt=True)['changed']


@pytest.mark.parametrize('kwargs, evidence', [
    (dict(os_extra="<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>"),
     "<loader type='pflash'> /usr/share/OVMF/OVMF_CODE_4M.fd"),
    (dict(os_attrs=" firmware='efi'"), "<os firmware='efi'>"),
])
def test_uefi_domain_refused_before_libvirt(run_module, define, kwargs, evidence):
    dom = define(**kwargs)
    for running in (False, True):
        if running:
            dom.create()
        result = run_module(snapshot, domain=DOM, name='base')
        assert result['failed'] and result['msg'].startswith(
            "domain 'strata-ut-snap' boots UEFI firmware from pflash with NVRAM (%s): libvirt 9.0 takes no internal "
            "snapshot of it" % evidence), result['msg']
        assert names(dom) == []       # test:///default itself would have taken it


def test_disks_that_cannot_hold_it_refused_before_libvirt(run_module, define):
    dom = define(disks=(('qcow2', 'vda'), ('raw', 'vdb')))
    result = run_module(snapshot, domain=DOM, name='base')
    assert result['failed'] and result['msg'].endswith('only qcow2 disks can hold one; not vdb (raw)'), result['msg']
    assert names(dom) == []
    define(name='strata-ut-snap-nodisk', disks=())
    result = run_module(snapshot, domain='strata-ut-snap-nodisk', name='base')
    assert result['failed'] and "domain 'strata-ut-snap-nodisk' has no writable disk" in result['msg']


@pytest.mark.parametrize('params, fragment', [
    (dict(name='bad/name'), "Option name: invalid name 'bad/name'"),
    (dict(name='.hidden'), "a snapshot name cannot start with '.'"),
    (dict(domain='bad name!'), "Option domain: invalid name 'bad name!'"),
    (dict(running=True), 'Option running: only with state=reverted'),
    (dict(state='absent', memory=True), 'Option memory: only with state=present'),
    (dict(state='reverted', description='x'), 'Option description: only with state=present'),
    (dict(description='bell\x07'), 'Option description: All strings must be XML compatible'),
    (dict(state='rolled-back'), 'value of state must be one of: present, absent, reverted'),
    (dict(memory='sometimes'), 'memory'),
])
def test_bad_input_fails_before_any_change(run_module, define, params, fragment):
    dom = define()
    args = dict(domain=DOM, name='base')
    args.update(params)
    result = run_module(snapshot, **args)
    assert result['failed'] and fragment in result['msg'], result['msg']
    assert not result.get('changed') and names(dom) == []

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The snapshot planner and the normalisation of snapshot and domain XML, as pure functions: no libvirt involved."""

import pytest

pytest.importorskip('lxml')

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._snapshot import plan, read, resource, spec
from ansible_collections.strata.libvirt.plugins.module_utils._xml import parse_xml

RUNNING, PAUSED, SHUT_OFF = 1, 3, 5
OURS = {'owned': True, 'cluster': 'lab'}
QCOW2 = [{'target': 'vda', 'format': 'qcow2'}]


def snap(name, state='shut off', memory=False, current=False, parent=None, description=None, location='internal'):
    return {'name': name, 'description': description, 'state': state, 'memory': memory, 'location': location,
            'parent': parent, 'current': current, 'creation_time': 1796194819, 'created': '2026-12-02T07:00:19Z'}


def current(state=SHUT_OFF, snapshots=(), owner=None, uefi=None, disks=None):
    return {'exists': True, 'name': 'vm1', 'active': state != SHUT_OFF, 'state': state, 'owner': dict(owner or OURS),
            'uefi': uefi, 'disks': list(QCOW2 if disks is None else disks), 'snapshots': list(snapshots)}


def desired(**kwargs):
    params = dict(domain='vm1', name='base', state='present', description=None, memory=None, running=None,
                  cluster=None, adopt=False)
    params.update(kwargs)
    return spec.desired_from_params(params)


def planned(read_state=None, **kwargs):
    return plan.plan_snapshot(read_state if read_state is not None else current(), desired(**kwargs))


# ---------------------------------------------------------------- present

def test_shut_off_domain_gets_a_disks_only_snapshot():
    result = planned(description='clean base')
    assert result.texts() == ["create snapshot 'base' of domain 'vm1' (disks only)"]
    assert result.actions[0].args == {'memory': False, 'description': 'clean base'}
    assert result.diff.diff() == {'before': {'exists': False, 'memory': None, 'description': None},
                                  'after': {'exists': True, 'memory': False, 'description': 'clean base'}}


@pytest.mark.parametrize('state', [RUNNING, PAUSED])
def test_running_or_paused_domain_gets_its_memory_saved(state):
    result = planned(current(state), memory=None)
    assert result.texts() == ["create snapshot 'base' of domain 'vm1' (with memory)"]
    assert result.actions[0].args['memory'] is True
    assert planned(current(state), memory=True).texts() == result.texts()


def test_existing_snapshot_is_no_change_its_description_is_compared():
    existing = current(snapshots=[snap('base', description='clean base')])
    assert not planned(existing).changed
    assert not planned(existing, description='  clean base\n').changed        # white space around does not count
    assert not planned(existing, memory=False).changed
    changed = planned(existing, description='after the fix')
    assert changed.ops() == ['describe'] and changed.actions[0].args == {'description': 'after the fix'}
    assert changed.texts() == ["update the description of snapshot 'base' of domain 'vm1'"]
    assert changed.diff.before()['description'] == 'clean base' and changed.diff.after()['description'] == 'after the fix'
    removed = planned(existing, description='')
    assert removed.ops() == ['describe'] and removed.diff.after()['description'] is None
    assert not planned(current(snapshots=[snap('base')]), description='').changed


def test_existing_snapshot_with_other_memory_is_an_error():
    with pytest.raises(StrataError, match=r"^Option memory: snapshot 'base' of domain 'vm1' exists without its memory"):
        planned(current(snapshots=[snap('base')]), memory=True)
    with pytest.raises(StrataError, match=r"exists with its memory, and that cannot change; delete it"):
        planned(current(RUNNING, snapshots=[snap('base', 'running', True)]), memory=False)


def test_memory_false_on_a_running_domain_is_refused():
    with pytest.raises(StrataError, match=r"^Option memory: libvirt 9.0 takes no internal snapshot of a running domain "
                                          r"without its memory .*domain 'vm1' is running\). Shut the domain down first, or "
                                          r"set memory=true"):
        planned(current(RUNNING), memory=False)


def test_memory_true_on_a_shut_off_domain_is_refused():
    with pytest.raises(StrataError, match=r"^Option memory: domain 'vm1' is shut off, there is no memory to save"):
        planned(memory=True)


@pytest.mark.parametrize('state', [SHUT_OFF, RUNNING])
@pytest.mark.parametrize('evidence', ["<loader type='pflash'> /usr/share/OVMF/OVMF_CODE_4M.fd", "<os firmware='efi'>"])
def test_uefi_domain_is_refused(state, evidence):
    with pytest.raises(StrataError) as failed:
        planned(current(state, uefi=evidence))
    msg = str(failed.value)
    assert msg.startswith("domain 'vm1' boots UEFI firmware from pflash with NVRAM (%s)" % evidence)
    assert 'internal snapshots of a VM with pflash based firmware are not supported' in msg
    assert 'external snapshots are out of its scope' in msg


def test_uefi_domain_snapshots_can_still_be_deleted_and_reverted():
    uefi = current(uefi="<os firmware='efi'>", snapshots=[snap('base')])
    assert planned(uefi, state='absent').ops() == ['delete']
    assert planned(uefi, state='reverted').ops() == ['revert']


def test_disks_that_cannot_hold_an_internal_snapshot():
    with pytest.raises(StrataError, match=r"^domain 'vm1': .*only qcow2 disks can hold one; not vdb \(raw\)$"):
        planned(current(disks=QCOW2 + [{'target': 'vdb', 'format': 'raw'}]))
    with pytest.raises(StrataError, match=r"^domain 'vm1' has no writable disk"):
        planned(current(disks=[]))
    assert planned(current(disks=[{'target': 'vda', 'format': None}])).ops() == ['create']   # format unknown: libvirt's


# ---------------------------------------------------------------- absent

def test_absent_deletes_and_keeps_the_children():
    state = current(snapshots=[snap('base'), snap('next', parent='base'), snap('other', parent='next')])
    result = planned(state, state='absent')
    assert result.texts() == ["delete snapshot 'base' of domain 'vm1' (its metadata and the internal snapshot in the "
                              "disks); its child snapshot(s) 'next' are kept"]
    assert result.diff.diff() == {'before': {'exists': True}, 'after': {'exists': False}}
    assert planned(state, state='absent', name='other').texts() == [
        "delete snapshot 'other' of domain 'vm1' (its metadata and the internal snapshot in the disks)"]
    external = planned(current(snapshots=[snap('base', location='external')]), state='absent')
    assert external.texts() == ["delete snapshot 'base' of domain 'vm1'"]


def test_absent_of_a_missing_snapshot_or_domain_is_no_change():
    assert not planned(state='absent').changed
    gone = plan.plan_snapshot({'exists': False, 'name': 'vm1', 'snapshots': []}, desired(state='absent'))
    assert not gone.changed and gone.diff.diff() == {'before': {'exists': False}, 'after': {'exists': False}}


def test_a_missing_domain_is_an_error_but_for_absent():
    for state in ('present', 'reverted'):
        with pytest.raises(StrataError, match=r"^domain 'vm1' does not exist$"):
            plan.plan_snapshot({'exists': False, 'name': 'vm1', 'snapshots': []}, desired(state=state))


# ---------------------------------------------------------------- reverted

WITH_MEMORY = snap('live', 'running', True)
PAUSED_MEMORY = snap('held', 'paused', True)
DISKS_ONLY = snap('base', current=True)


@pytest.mark.parametrize('domain_state, snapshot, running, steps, after', [
    # a snapshot with memory: the state it recorded, or what running asks
    (SHUT_OFF, WITH_MEMORY, None, [('revert', 'running')], 'running'),
    (RUNNING, WITH_MEMORY, True, [('revert', 'running')], 'running'),
    (RUNNING, PAUSED_MEMORY, None, [('revert', 'paused')], 'paused'),
    (SHUT_OFF, PAUSED_MEMORY, True, [('revert', 'running')], 'running'),
    (RUNNING, WITH_MEMORY, False, [('revert', 'paused'), ('destroy', None)], 'shut off'),
    # a snapshot without memory: shut off, started afterwards with running=true
    (RUNNING, DISKS_ONLY, None, [('revert', None)], 'shut off'),
    (SHUT_OFF, DISKS_ONLY, False, [('revert', None)], 'shut off'),
    (RUNNING, DISKS_ONLY, True, [('revert', None), ('start', None)], 'running'),
    (SHUT_OFF, DISKS_ONLY, True, [('revert', None), ('start', None)], 'running'),
])
def test_revert_steps_and_the_state_after(domain_state, snapshot, running, steps, after):
    state = current(domain_state, snapshots=[DISKS_ONLY, WITH_MEMORY, PAUSED_MEMORY])
    result = planned(state, state='reverted', name=snapshot['name'], running=running)
    assert [(action.op, action.args.get('mode')) for action in result.actions] == steps
    assert result.changed
    assert result.diff.diff() == {'before': {'current': 'base', 'state': {1: 'running', 5: 'shut off'}[domain_state]},
                                  'after': {'current': snapshot['name'], 'state': after}}


def test_revert_texts():
    state = current(RUNNING, snapshots=[DISKS_ONLY, WITH_MEMORY])
    assert planned(state, state='reverted', name='live', running=False).texts() == [
        "revert domain 'vm1' to snapshot 'live' (paused, from its saved memory)",
        "force off domain 'vm1' (running=false: the memory the snapshot restored is not kept)"]
    assert planned(state, state='reverted', running=True).texts() == [
        "revert domain 'vm1' to snapshot 'base' (disks only: the running domain is powered off)",
        "start domain 'vm1'"]
    assert planned(current(snapshots=[DISKS_ONLY]), state='reverted').texts() == [
        "revert domain 'vm1' to snapshot 'base' (disks only: the domain stays shut off)"]


def test_revert_to_an_unknown_snapshot_names_it_and_lists_the_others():
    with pytest.raises(StrataError, match=r"^snapshot 'nope' of domain 'vm1' does not exist; the domain's snapshots: "
                                          r"'base', 'live'$"):
        planned(current(snapshots=[DISKS_ONLY, WITH_MEMORY]), state='reverted', name='nope')
    with pytest.raises(StrataError, match=r"the domain's snapshots: none$"):
        planned(state='reverted', name='nope')


# ---------------------------------------------------------------- ownership

@pytest.mark.parametrize('state', ['present', 'absent', 'reverted'])
def test_a_foreign_domain_is_refused_whatever_the_state(state):
    foreign = current(owner={'owned': False, 'cluster': None}, snapshots=[DISKS_ONLY])
    with pytest.raises(StrataError, match=r"^domain 'vm1' exists but was not created by strata.libvirt .*refusing to take, "
                                          r"revert or delete its snapshots. Set adopt=true"):
        planned(foreign, state=state)
    with pytest.raises(StrataError, match=r"^domain 'vm1' belongs to cluster 'lab', not to cluster 'other' \(option "
                                          r"cluster\); refusing"):
        planned(current(snapshots=[DISKS_ONLY]), state=state, cluster='other')
    assert planned(foreign, state=state, adopt=True).ops() == {'present': [], 'absent': ['delete'],
                                                               'reverted': ['revert']}[state]
    assert not planned(current(snapshots=[DISKS_ONLY]), cluster='lab').changed


# ---------------------------------------------------------------- options

@pytest.mark.parametrize('params, match', [
    (dict(name='bad/name'), r"^Option name: invalid name 'bad/name'"),
    (dict(name='.hidden'), r"^Option name: invalid name '.hidden'; a snapshot name cannot start with '.'"),
    (dict(domain='bad name'), r"^Option domain: invalid name 'bad name'"),
    (dict(cluster='a b'), r"^Option cluster: invalid name 'a b'"),
    (dict(running=True), r"^Option running: only with state=reverted \(state is present\)"),
    (dict(state='absent', memory=True), r"^Option memory: only with state=present \(state is absent\)"),
    (dict(state='reverted', description='x'), r"^Option description: only with state=present \(state is reverted\)"),
    (dict(description='a\x01b'), r"^Option description: All strings must be XML compatible"),
])
def test_bad_options_name_the_option(params, match):
    with pytest.raises(StrataError, match=match):
        desired(**params)


# ---------------------------------------------------------------- normalisation

SNAPSHOT_XML = '''<domainsnapshot>
  <name>live</name>
  <description>before the upgrade</description>
  <state>running</state>
  <parent><name>base</name></parent>
  <creationTime>1796194819</creationTime>
  <memory snapshot='internal'/>
  <disks><disk name='vda' snapshot='internal'/><disk name='sda' snapshot='no'/></disks>
  <domain type='kvm'><name>vm1</name></domain>
</domainsnapshot>'''


def test_parse_snapshot():
    assert read.parse_snapshot(parse_xml(SNAPSHOT_XML), current=1) == {
        'name': 'live', 'description': 'before the upgrade', 'state': 'running', 'memory': True,
        'location': 'internal', 'parent': 'base', 'current': True, 'creation_time': 1796194819,
        'created': '2026-12-02T07:00:19Z'}
    off = read.parse_snapshot(parse_xml("<domainsnapshot><name>base</name><state>shutoff</state><memory snapshot='no'/>"
                                        "<disks><disk name='vda' snapshot='external'/></disks></domainsnapshot>"))
    assert (off['state'], off['memory'], off['location'], off['parent'], off['current'], off['created']) == (
        'shut off', False, 'external', None, False, None)
    # an old snapshot without <memory>: its state tells
    old = read.parse_snapshot(parse_xml('<domainsnapshot><name>old</name><state>paused</state></domainsnapshot>'))
    assert old['memory'] is True


@pytest.mark.parametrize('os_xml, evidence', [
    ("<os><type>hvm</type><loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader></os>",
     "<loader type='pflash'> /usr/share/OVMF/OVMF_CODE.fd"),
    ("<os firmware='efi'><type>hvm</type></os>", "<os firmware='efi'>"),
    ("<os><type>hvm</type><loader type='rom'>/usr/share/seabios/bios.bin</loader></os>", None),
    ("<os><type>hvm</type></os>", None),
    ('', None),
])
def test_uefi_evidence(os_xml, evidence):
    assert read.uefi_evidence(parse_xml('<domain><name>vm1</name>%s</domain>' % os_xml)) == evidence


def test_snapshot_disks_are_the_writable_disks_with_a_source():
    disks = [{'target': 'vda', 'device': 'disk', 'readonly': False, 'source': {'file': '/a.qcow2'}, 'format': 'qcow2'},
             {'target': 'vdb', 'device': 'disk', 'readonly': True, 'source': {'file': '/b.raw'}, 'format': 'raw'},
             {'target': 'sda', 'device': 'cdrom', 'readonly': True, 'source': {'file': '/c.iso'}, 'format': 'raw'},
             {'target': 'sdb', 'device': 'cdrom', 'readonly': True, 'source': None, 'format': None},
             {'target': 'vdc', 'device': 'disk', 'readonly': False, 'source': None, 'format': 'raw'}]
    assert read.snapshot_disks({'disks': disks}) == [{'target': 'vda', 'format': 'qcow2'}]


def test_snapshot_xml_and_a_new_description():
    assert resource.snapshot_xml('base', False) == ("<domainsnapshot><name>base</name><memory snapshot=\"no\"/>"
                                                    "</domainsnapshot>")
    assert resource.snapshot_xml('live', True, 'a & b') == (
        '<domainsnapshot><name>live</name><description>a &amp; b</description><memory snapshot="internal"/>'
        '</domainsnapshot>')
    redefined = parse_xml(resource.described(parse_xml(SNAPSHOT_XML), 'after'))
    assert redefined.findtext('description') == 'after' and redefined[1].tag == 'description'
    assert redefined.findtext('creationTime') == '1796194819' and redefined.find('domain') is not None
    assert parse_xml(resource.described(parse_xml(SNAPSHOT_XML), None)).find('description') is None

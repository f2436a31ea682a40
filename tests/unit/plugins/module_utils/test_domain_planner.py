# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The domain planner and the domain XML normalise/compare/render, as pure functions: no libvirt."""


import pytest

pytest.importorskip('lxml')

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _ownership
from ansible_collections.strata.libvirt.plugins.module_utils._domain.compare import xml_differences
from ansible_collections.strata.libvirt.plugins.module_utils._domain.spec import desired_from_params
from ansible_collections.strata.libvirt.plugins.module_utils._validate import memory_bytes
from ansible_collections.strata.libvirt.plugins.module_utils._domain.facts import domain_facts
from ansible_collections.strata.libvirt.plugins.module_utils._domain.plan import plan_domain
from ansible_collections.strata.libvirt.plugins.module_utils._domain.read import missing_log_dir
from ansible_collections.strata.libvirt.plugins.module_utils._domain.settings import parse_domain
from ansible_collections.strata.libvirt.plugins.module_utils._xml import parse_xml, to_text

MARK = "<metadata><strata:owner xmlns:strata='%s' cluster='lab'/></metadata>" % _ownership.NAMESPACE

# What libvirt 9.0 stores for a domain we defined: uuid, KiB units, versioned machine, MAC, PCI addresses,
# controllers, the console copy of the serial port, aliases in the live XML.
STORED = '''<domain type='qemu'>
  <name>vm1</name>
  <uuid>0d4c2b8e-6a3a-4b59-9a46-0c1e8a8d1b10</uuid>
  %s
  <memory unit='KiB'>524288</memory>
  <currentMemory unit='KiB'>524288</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type><boot dev='hd'/></os>
  <features><acpi/><apic/><tcg><tb-cache unit='KiB'>131072</tb-cache></tcg></features>
  <cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64</model></cpu>
  <clock offset='utc'/>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='volume' device='disk'>
      <driver name='qemu' type='qcow2' cache='none' discard='unmap' detect_zeroes='unmap'/>
      <source pool='vms' volume='vm1.qcow2'/>
      <target dev='vda' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x04' slot='0x00' function='0x0'/>
    </disk>
    <controller type='usb' index='0' model='qemu-xhci'/>
    <controller type='pci' index='0' model='pcie-root'/>
    <interface type='network'>
      <mac address='52:54:00:aa:bb:cc'/>
      <source network='lab'/>
      <model type='virtio'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </interface>
    <serial type='pty'><log file='/var/log/vm1.log' append='on'/><target port='0'/></serial>
    <console type='pty'><log file='/var/log/vm1.log' append='on'/><target type='serial' port='0'/></console>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <input type='mouse' bus='ps2'/>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <source><address domain='0x0000' bus='0x03' slot='0x00' function='0x1'/></source>
    </hostdev>
  </devices>
</domain>''' % MARK


def params(**kwargs):
    base = dict(name='vm1', state='present', autostart=None, restart=False, cluster=None, adopt=False, xml=None,
                remove_volumes=False, shutdown_timeout=120, type=None, memory=None, vcpus=None, cpu=None,
                machine=None, firmware=None, uefi_loader=None, uefi_nvram_template=None, tcg_tb_cache=None,
                disks=None, interfaces=None, serial_console=None, console_log=None, guest_agent=None, rng=None,
                graphics=None, hostdevs=None, secure_boot=None)
    base.update(kwargs)
    return base


def desired(**kwargs):
    return desired_from_params(params(**kwargs))


def current(xml=STORED, active=False, live_xml=None, **extra):
    if xml is None:
        return dict(extra, exists=False, name='vm1')
    root = parse_xml(xml)
    live = parse_xml(live_xml or xml) if active else None
    state = {'exists': True, 'name': 'vm1', 'uuid': '0d4c2b8e-6a3a-4b59-9a46-0c1e8a8d1b10', 'id': 1 if active else None,
             'active': active, 'persistent': True, 'state': 1 if active else 5, 'state_reason': 0,
             'autostart': False, 'owner': _ownership.read_mark(root), 'config': parse_domain(root),
             'live': parse_domain(live) if active else None, 'xml': root, 'live_xml': live}
    state.update(extra)
    return state


SAME = dict(type='qemu', memory='512M', vcpus=1, machine='q35', tcg_tb_cache=128, cpu={'mode': 'custom', 'model': 'qemu64'},
            disks=[{'volume': 'vms/vm1.qcow2'}], interfaces=[{'network': 'lab'}], console_log='/var/log/vm1.log',
            guest_agent=True, rng=True, serial_console=True, graphics='none', hostdevs=['03:00.1'])
SOURCES = {0: {'format': 'qcow2', 'path': '/vms/vm1.qcow2'}}


# ---------------------------------------------------------------- normalise

def test_parse_ignores_generated_values():
    config = parse_domain(parse_xml(STORED))
    assert config['memory'] == 512 * 1024 ** 2 and config['tcg_tb_cache'] == 128
    assert config['disks'] == [{'target': 'vda', 'bus': 'virtio', 'device': 'disk',
                                'source': {'pool': 'vms', 'volume': 'vm1.qcow2'}, 'format': 'qcow2', 'readonly': False,
                                'discard': 'unmap'}]
    assert config['interfaces'] == [{'type': 'network', 'source': 'lab', 'mac': '52:54:00:aa:bb:cc', 'model': 'virtio'}]
    assert config['hostdevs'] == ['0000:03:00.1'] and config['graphics'] == 'none'
    assert config['console_log'] == '/var/log/vm1.log' and config['guest_agent'] and config['rng']


def test_uefi_recognised_in_both_forms():
    auto = parse_domain(parse_xml("<domain><name>a</name><os firmware='efi'><type>hvm</type></os></domain>"))
    explicit = parse_domain(parse_xml(
        "<domain><name>a</name><os><type>hvm</type><loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd"
        "</loader><nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>/var/lib/libvirt/qemu/nvram/a_VARS.fd</nvram>"
        "</os></domain>"))
    assert auto['firmware'] == explicit['firmware'] == 'uefi'
    assert explicit['nvram'] == '/var/lib/libvirt/qemu/nvram/a_VARS.fd'
    assert explicit['nvram_template'] == '/usr/share/OVMF/OVMF_VARS_4M.fd'


# ---------------------------------------------------------------- validation

@pytest.mark.parametrize('kwargs, fragment', [
    (dict(memory=0), 'Option memory'),
    (dict(memory='-5G'), 'Option memory'),
    (dict(memory='12 parsecs'), 'Option memory'),
    (dict(vcpus=0), 'Option vcpus'),
    (dict(vcpus=-2), 'Option vcpus'),
    (dict(name='bad name!'), 'Option name'),
    (dict(disks=[{'volume': 'x.qcow2', 'device': 'disk'}]), 'disks[0].pool'),
    (dict(disks=[{'device': 'disk'}]), 'disks[0]'),
    (dict(disks=[{'file': 'relative.img', 'device': 'disk'}]), 'disks[0].file'),
    (dict(disks=[{'file': '/a', 'device': 'cdrom', 'bus': 'virtio'}]), 'disks[0].bus'),
    (dict(disks=[{'file': '/a', 'device': 'disk', 'target': 'vda'}, {'file': '/b', 'device': 'disk', 'target': 'vda'}]),
     'disks (target)'),
    (dict(interfaces=[{'network': 'a', 'bridge': 'br0'}]), 'interfaces[0]'),
    (dict(interfaces=[{'network': 'a', 'mac': 'nope'}]), 'interfaces[0].mac'),
    (dict(interfaces=[{'network': 'a', 'mac': '52:54:00:00:00:01'}, {'network': 'b', 'mac': '52:54:00:00:00:01'}]),
     'interfaces (mac)'),
    (dict(hostdevs=['zz:00.0']), 'hostdevs[0]'),
    (dict(cpu={'mode': 'custom'}), 'cpu.model'),
    (dict(uefi_loader='/x.fd'), 'uefi_loader'),
    (dict(firmware='uefi', uefi_nvram_template='/v.fd'), 'uefi_nvram_template'),
    (dict(tcg_tb_cache=0), 'tcg_tb_cache'),
    (dict(shutdown_timeout=-1), 'shutdown_timeout'),
    (dict(xml='<domain><name>x'), 'malformed'),
    (dict(xml='<!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]><domain><name>&e;</name></domain>'), 'Option xml'),
    (dict(xml='<domain><name>other</name></domain>'), 'Option xml'),
])
def test_bad_input_names_the_option(kwargs, fragment):
    with pytest.raises(StrataError) as err:
        desired(**kwargs)
    assert fragment in str(err.value)


def test_memory_units():
    assert memory_bytes(512) == memory_bytes('512') == memory_bytes('512M') == 512 * 1024 ** 2
    assert memory_bytes('2G') == memory_bytes('2GiB') == 2 * 1024 ** 3


def test_disk_targets_assigned_per_bus():
    disks = desired(disks=[{'file': '/a', 'device': 'disk'}, {'file': '/s', 'device': 'cdrom'},
                           {'file': '/b', 'device': 'disk', 'target': 'vda'}])['config']['disks']
    assert [d['target'] for d in disks] == ['vdb', 'sda', 'vda']
    assert disks[1]['readonly'] and disks[1]['format'] == 'raw' and disks[1]['bus'] == 'sata'


# ---------------------------------------------------------------- planner

def test_new_domain_gets_defaults_and_no_graphics():
    plan = plan_domain(current(None, sources={0: {'format': 'qcow2'}}),
                       desired(memory=512, state='running', disks=[{'volume': 'vms/vm1.qcow2'}]))
    assert plan.ops() == ['define', 'start']
    xml = plan.actions[0].args['xml']
    assert '<graphics' not in xml and "<channel type=\"unix\">" in xml.replace("'", '"')
    root = parse_xml(xml)
    assert root.get('type') == 'kvm' and root.find('features/acpi') is not None
    assert root.find('devices/disk/driver').get('type') == 'qcow2'
    assert _ownership.read_mark(root) == {'owned': True, 'cluster': None}
    assert plan.diff.diff()['before']['state'] == 'absent' and plan.diff.diff()['after']['state'] == 'running'


def test_new_domain_needs_memory():
    with pytest.raises(StrataError, match='Option memory: required'):
        plan_domain(current(None), desired(vcpus=1))


def test_tb_cache_only_for_qemu():
    with pytest.raises(StrataError, match='tcg_tb_cache'):
        plan_domain(current(None), desired(memory=512, tcg_tb_cache=64))
    with pytest.raises(StrataError, match='tcg_tb_cache'):
        plan_domain(current(), desired(type='kvm', tcg_tb_cache=64))


def test_stored_form_is_not_a_change():
    plan = plan_domain(current(sources=SOURCES), desired(**SAME))
    assert plan.actions == [] and not plan.diff.has_differences()
    assert plan.diff.diff()['before']['machine'] == 'q35'  # shown as asked: no false change in the diff


def test_change_is_minimal_and_keeps_the_rest():
    plan = plan_domain(current(sources=SOURCES), desired(memory='1G', vcpus=2))
    assert plan.texts() == ["redefine domain 'vm1' (memory, vcpus)"]
    assert plan.diff.changed_keys() == ['memory', 'vcpus']
    root = parse_xml(plan.actions[0].args['xml'])
    assert root.findtext('uuid') == '0d4c2b8e-6a3a-4b59-9a46-0c1e8a8d1b10'
    assert root.find('memory').text == str(1024 * 1024) and root.find('currentMemory').text == str(1024 * 1024)
    assert root.find('devices/disk/driver').get('cache') == 'none'       # untouched disk kept as it was
    assert root.find('devices/interface/mac').get('address') == '52:54:00:aa:bb:cc'
    assert root.find('devices/hostdev') is not None and _ownership.read_mark(root)['cluster'] == 'lab'


def test_writable_disks_unmap_freed_and_zeroed_blocks_by_default():
    thick = STORED.replace(" discard='unmap' detect_zeroes='unmap'", '')
    plan = plan_domain(current(xml=thick, sources=SOURCES), desired(**SAME))
    assert plan.texts() == ["redefine domain 'vm1' (disks)"]
    assert plan.diff.diff()['before']['disks'][0]['discard'] == 'ignore'
    assert plan.diff.diff()['after']['disks'][0]['discard'] == 'unmap'
    driver = parse_xml(plan.actions[0].args['xml']).find('devices/disk/driver')
    assert (driver.get('discard'), driver.get('detect_zeroes'), driver.get('type')) == ('unmap', 'unmap', 'qcow2')
    # discard=ignore keeps libvirt's default: the thick definition is what is asked for
    keep = dict(SAME)
    keep['disks'] = [{'volume': 'vms/vm1.qcow2', 'discard': 'ignore'}]
    assert plan_domain(current(xml=thick, sources=SOURCES), desired(**keep)).actions == []
    # half of it (only discard='unmap') is neither: shown as it is, and set right
    half = STORED.replace(" detect_zeroes='unmap'", '')
    plan = plan_domain(current(xml=half, sources=SOURCES), desired(**SAME))
    assert plan.diff.diff()['before']['disks'][0]['discard'] == 'discard=unmap detect_zeroes=None'
    # read-only disks have no such setting; asking for unmap there is an error before any change
    seed = {'volume': 'vms/seed.iso', 'readonly': True, 'format': 'raw'}
    assert desired_from_params(params(disks=[seed]))['config']['disks'][0]['discard'] is None
    with pytest.raises(StrataError, match=r'disks\[0\]\.discard: unmap needs a writable disk'):
        desired_from_params(params(disks=[dict(seed, discard='unmap')]))


def test_changed_interface_keeps_its_mac():
    plan = plan_domain(current(), desired(interfaces=[{'network': 'lab', 'model': 'e1000e'}]))
    root = parse_xml(plan.actions[0].args['xml'])
    iface = root.find('devices/interface')
    assert iface.find('mac').get('address') == '52:54:00:aa:bb:cc' and iface.find('model').get('type') == 'e1000e'


def test_disks_list_is_authoritative():
    plan = plan_domain(current(sources={0: {'format': 'raw'}}),
                       desired(disks=[{'file': '/data/other.img'}]))
    root = parse_xml(plan.actions[0].args['xml'])
    disks = root.findall('devices/disk')
    assert len(disks) == 1 and disks[0].find('source').get('file') == '/data/other.img'
    assert disks[0].find('driver').get('type') == 'raw'


def test_unknown_disk_format_is_an_error():
    with pytest.raises(StrataError, match=r'disks\[0\].format'):
        plan_domain(current(sources={}), desired(disks=[{'file': '/nowhere.img'}]))


def test_running_domain_change_requires_restart():
    plan = plan_domain(current(active=True, sources=SOURCES), desired(memory='1G'))
    assert plan.ops() == ['define'] and plan.restart_required
    plan = plan_domain(current(active=True, sources=SOURCES), desired(memory='1G', restart=True))
    assert plan.ops() == ['define', 'restart'] and not plan.restart_required


def test_earlier_unapplied_change_still_requires_restart():
    live = STORED.replace('524288', '262144')
    plan = plan_domain(current(active=True, live_xml=live), desired(memory='512M'))
    assert plan.actions == [] and plan.restart_required


def test_stop_and_state_diff():
    plan = plan_domain(current(active=True), desired(state='stopped', shutdown_timeout=30))
    assert plan.ops() == ['stop'] and plan.actions[0].args['timeout'] == 30
    assert plan.diff.diff() == {'before': {'state': 'running'}, 'after': {'state': 'shut off'}}


def test_foreign_domain_refused_without_adopt():
    foreign = STORED.replace(MARK, '')
    with pytest.raises(StrataError, match='adopt=true'):
        plan_domain(current(foreign), desired(memory='1G'))
    with pytest.raises(StrataError, match='adopt=true'):
        plan_domain(current(foreign), desired(state='absent'))
    plan = plan_domain(current(foreign), desired(adopt=True, cluster='lab'))
    assert plan.ops() == ['define'] and plan.texts()[0].startswith('adopt domain')


def test_other_cluster_refused():
    with pytest.raises(StrataError, match="cluster 'lab'"):
        plan_domain(current(), desired(cluster='prod', memory='512M'))


def test_absent_removes_everything_it_should():
    uefi = STORED.replace("<os>", "<os><loader readonly='yes' type='pflash'>/c.fd</loader>"
                                  "<nvram>/var/lib/libvirt/qemu/nvram/vm1_VARS.fd</nvram>")
    volumes = [
        {'pool': 'vms', 'name': 'vm1.qcow2', 'key': '/vms/vm1.qcow2', 'path': '/vms/vm1.qcow2',
         'owner': {'owned': True, 'cluster': 'lab'}, 'used_by': []},
        {'pool': 'vms', 'name': 'shared.iso', 'key': '/vms/shared.iso', 'path': '/vms/shared.iso',
         'owner': {'owned': True, 'cluster': 'lab'}, 'used_by': ['vm2']},
        {'pool': 'vms', 'name': 'foreign.img', 'key': '/vms/foreign.img', 'path': '/vms/foreign.img',
         'owner': {'owned': False, 'cluster': None}, 'used_by': []},
    ]
    state = current(uefi, active=True, managed_save=True, snapshots=['s1'], checkpoints=[], volumes=volumes)
    plan = plan_domain(state, desired(state='absent', remove_volumes=True))
    assert plan.ops() == ['stop', 'remove_managed_save', 'remove_snapshots', 'undefine', 'delete_volume']
    assert plan.actions[3].args['nvram'] is True and 'NVRAM' in plan.texts()[3]
    assert plan.actions[4].args['volume'] == 'vm1.qcow2'
    assert len(plan.warnings) == 2 and 'vm2' in plan.warnings[0] and 'does not own' in plan.warnings[1]


def test_absent_when_absent_is_no_change():
    plan = plan_domain(current(None), desired(state='absent'))
    assert plan.actions == [] and plan.diff.diff() == {'before': {'state': 'absent'}, 'after': {'state': 'absent'}}


# ---------------------------------------------------------------- xml escape hatch

USER_XML = '''<domain type='qemu'><name>vm1</name><memory unit='MiB'>512</memory><vcpu>1</vcpu>
<os><type machine='q35'>hvm</type></os>
<devices><controller type='usb' model='qemu-xhci'/><input type='mouse' bus='ps2'/>
<interface type='network'><source network='lab'/></interface></devices></domain>'''


def test_xml_compared_semantically():
    assert xml_differences(parse_xml(USER_XML), parse_xml(STORED)) == []
    plan = plan_domain(current(), desired(xml=USER_XML))
    assert plan.actions == []
    changed = USER_XML.replace("<vcpu>1</vcpu>", "<vcpu>2</vcpu>")
    plan = plan_domain(current(), desired(xml=changed))
    root = parse_xml(plan.actions[0].args['xml'])
    assert plan.ops() == ['define'] and root.findtext('uuid') == '0d4c2b8e-6a3a-4b59-9a46-0c1e8a8d1b10'
    assert _ownership.read_mark(root)['owned'] and 'vcpu' in to_text(root)


def test_facts_hide_graphics_password():
    xml = STORED.replace("<input type='mouse' bus='ps2'/>", "<graphics type='vnc' passwd='s3cret'/>")
    facts = domain_facts(current(xml))
    assert 's3cret' not in facts['xml'] and facts['graphics'] == 'vnc'
    plan = plan_domain(current(xml), desired(memory='1G'))
    assert 's3cret' in plan.actions[0].args['xml']   # the redefine keeps it


def test_missing_console_log_directory_is_created_before_the_start():
    state = current(None, sources={0: {'format': 'qcow2'}})
    state['console_log_dir'] = '/srv/consoles'
    plan = plan_domain(state, desired(memory=512, state='running', disks=[{'volume': 'vms/vm1.qcow2'}],
                                      console_log='/srv/consoles/vm1.log'))
    assert plan.ops() == ['define', 'log_dir', 'start']
    assert plan.texts()[1] == 'create directory /srv/consoles for the console log'
    assert plan.diff.diff()['after']['console_log_dir'] == '/srv/consoles: directory, mode 0755'
    state = current(sources=SOURCES)
    state['console_log_dir'] = '/var/log'
    assert plan_domain(state, desired(**SAME)).ops() == ['log_dir']  # removed by hand: made again


def test_missing_log_dir_only_for_local_qemu(tmp_path):
    log = str(tmp_path / 'consoles' / 'vm1.log')
    assert missing_log_dir('qemu:///system', log) == str(tmp_path / 'consoles')
    assert missing_log_dir('qemu:///system', str(tmp_path / 'vm1.log')) is None
    assert missing_log_dir('qemu+ssh://root@hv1/system', log) is None  # not this host's file system
    assert missing_log_dir('test:///default', log) is None
    assert missing_log_dir('qemu:///system', None) is None

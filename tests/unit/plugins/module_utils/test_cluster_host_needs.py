# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""host_checks and what the cluster uses of the host: external networks, PCI devices, EFI firmware. probe_needs()
and findings() from the plan and probe lines; then the probe script itself against libvirt's test driver."""

import copy
import os
import shutil
import subprocess
import sys

import pytest

from ansible_collections.strata.libvirt.plugins.module_utils._cluster import host

ROOT = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..')
PROBE = os.path.join(ROOT, 'roles', 'host_checks', 'files', 'host_probe.sh')
GOOD = ['cpu_virt=vmx', 'kvm_dev=yes', 'kvm_rw=yes', 'kvm_pvm=no', 'libvirt_error=', 'libvirt_uri=qemu:///system',
        'mem_total_kb=16777216', 'mem_available_kb=8388608', 'running=', 'disk_path=/var/lib/libvirt',
        'disk_avail_mb=50000', 'qemu_img=/usr/bin/qemu-img', 'ssh=/usr/bin/ssh', 'python_missing=', 'systemd=yes']
NETWORKS = [{'name': 'c1-net', 'kind': 'ours', 'source': 'c1-net', 'ensure_active': False},
            {'name': 'default', 'kind': 'network', 'source': 'default', 'ensure_active': False},
            {'name': 'lan', 'kind': 'bridge', 'source': 'br-lan', 'ensure_active': False},
            {'name': 'wan', 'kind': 'direct', 'source': 'eno1', 'ensure_active': False}]
# the plan's keys that findings() reads (a hand-made plan: what the cluster_plan filter makes is tested elsewhere)
PLAN = {'name': 'c1', 'virt_type': 'kvm', 'machine': 'q35', 'uri': None, 'problems': [], 'disk_bytes': 0,
        'pool': {'path': '/var/lib/libvirt/strata/c1'}, 'networks': NETWORKS,
        'vms': [{'name': 'a', 'domain': 'c1-a', 'memory_mib': 512, 'vcpus': 1},
                {'name': 'b', 'domain': 'c1-b', 'memory_mib': 512, 'vcpus': 1, 'firmware': 'uefi'},
                {'name': 'gpu1', 'domain': 'c1-gpu1', 'memory_mib': 512, 'vcpus': 1, 'firmware': 'uefi',
                 'hostdevs': ['0000:03:00.0', '0000:0A:00.1']}]}
ANSWERS = ['need_network_default=active autostart', 'need_bridge_br-lan=bridge', 'need_direct_eno1=present',
           'need_hostdev_0000:03:00.0=free', 'need_hostdev_0000:0a:00.1=used:c1-gpu1', 'need_uefi_kvm=yes',
           'need_uefi_qemu=no']


def plan(**changes):
    out = copy.deepcopy(PLAN)
    out.update(changes)
    return out


def probe(changes=None, **more):
    """GOOD and ANSWERS, with the lines given here instead (key to value)."""
    changes = dict(changes or {}, **more)
    lines = [line for line in GOOD + ANSWERS if line.split('=', 1)[0] not in changes]
    return lines + ['%s=%s' % item for item in changes.items()]


def test_probe_needs_lists_what_the_cluster_does_not_make():
    assert host.probe_needs(PLAN) == 'network=default,bridge=br-lan,direct=eno1,hostdev=0000:03:00.0,hostdev=0000:0a:00.1,uefi=1'
    # each once, in the plan's order
    vms = [dict(PLAN['vms'][2], name='gpu2', hostdevs=['0000:03:00.0'])] + PLAN['vms']
    assert host.probe_needs(plan(vms=vms, networks=NETWORKS[:2])) == 'network=default,hostdev=0000:03:00.0,hostdev=0000:0a:00.1,uefi=1'
    # what cannot travel as itself comes as %XX
    assert host.probe_needs({'networks': [{'name': 'x', 'kind': 'network', 'source': 'a,b=c d%'}]}) == 'network=a%2Cb%3Dc%20d%25'
    assert host.probe_needs({'networks': [{'name': 'x', 'kind': 'network', 'source': u'r\u00e9seau'}]}) == 'network=r%C3%A9seau'


def test_probe_needs_of_an_older_plan_or_a_plan_of_ours_only_is_empty():
    assert host.probe_needs({}) == ''
    assert host.probe_needs({'vms': [{'name': 'a', 'domain': 'c1-a'}]}) == ''
    assert host.probe_needs(plan(networks=NETWORKS[:1], vms=[{'name': 'a', 'firmware': 'bios', 'hostdevs': []}])) == ''


def test_everything_there_says_nothing():
    found = host.findings(PLAN, probe(), {})
    assert found['problems'] == [] and found['warnings'] == []


def test_an_older_plan_behaves_as_before():
    older = plan()
    del older['networks']
    older['vms'] = [dict((k, v) for k, v in vm.items() if k not in ('firmware', 'hostdevs')) for vm in older['vms']]
    lines = probe({'need_network_default': 'missing', 'need_bridge_br-lan': 'missing', 'need_uefi_kvm': 'no'})
    found = host.findings(older, lines, {})
    assert found['problems'] == [] and found['warnings'] == []


def test_the_libvirt_network():
    found = host.findings(PLAN, probe(need_network_default='missing'), {})
    assert found['problems'] == ["network 'default': there is no libvirt network default at qemu:///system "
                                 "(an external network must exist)"]
    for answer in ('inactive', 'inactive autostart'):
        found = host.findings(PLAN, probe(need_network_default=answer), {})
        assert found['problems'] == ["network 'default': the libvirt network default is not active; start it or set "
                                     "ensure_active: true"] and found['warnings'] == []
    nets = copy.deepcopy(NETWORKS)
    nets[1]['ensure_active'] = True
    found = host.findings(plan(networks=nets), probe(need_network_default='inactive'), {})
    assert found['problems'] == []
    assert found['warnings'] == ["network 'default': the libvirt network default is not active; provision starts it "
                                 "and sets autostart (ensure_active: true)"]
    assert host.findings(plan(networks=nets), probe(need_network_default='active'), {})['warnings'] == []
    # a NIC name other than the libvirt network's is named too
    nets[1].update(name='up', ensure_active=False)
    assert host.findings(plan(networks=nets), probe(need_network_default='missing'), {})['problems'] == [
        "network 'up' (libvirt network default): there is no libvirt network default at qemu:///system "
        "(an external network must exist)"]


def test_the_bridge_and_the_macvtap_interface():
    found = host.findings(PLAN, probe({'need_bridge_br-lan': 'missing', 'need_direct_eno1': 'missing'}), {})
    assert found['problems'] == ["network 'lan' (bridge br-lan): there is no device br-lan on this host",
                                 "network 'wan' (direct eno1): there is no interface eno1 on this host"]
    found = host.findings(PLAN, probe({'need_bridge_br-lan': 'not-a-bridge'}), {})
    assert found['problems'] == ["network 'lan' (bridge br-lan): br-lan is not a bridge on this host "
                                 "(direct: br-lan puts a macvtap on it)"]


def test_the_hostdevs():
    found = host.findings(PLAN, probe({'need_hostdev_0000:03:00.0': 'missing'}), {})
    assert found['problems'] == ['vms[2] (gpu1): hostdev 0000:03:00.0 does not exist on this host']
    found = host.findings(PLAN, probe({'need_hostdev_0000:03:00.0': 'used:other-vm',
                                       'need_hostdev_0000:0a:00.1': 'used:c1-gpu1,off%2Cvm,c1-a,x2'}), {})
    assert found['problems'] == ['vms[2] (gpu1): hostdev 0000:03:00.0 is used by domain other-vm',
                                 'vms[2] (gpu1): hostdev 0000:0a:00.1 is used by domains off,vm, x2']
    # the cluster's own domains may hold it (the VM itself, or another of the cluster being rebuilt)
    found = host.findings(PLAN, probe({'need_hostdev_0000:03:00.0': 'used:c1-b', 'need_hostdev_0000:0a:00.1': 'used:c1-gpu1'}), {})
    assert found['problems'] == []


def test_the_efi_firmware_of_the_virtualisation_type_that_runs():
    found = host.findings(PLAN, probe(need_uefi_kvm='no'), {})
    assert found['problems'] == ['firmware uefi: vms[1] (b), vms[2] (gpu1): libvirt at qemu:///system offers no EFI '
                                 'firmware for a kvm domain of machine type q35; install OVMF (Debian: ovmf, Fedora: edk2-ovmf)']
    # auto without KVM: TCG's domain capabilities count
    found = host.findings(plan(virt_type='auto'), probe(kvm_dev='no'), {})
    assert 'firmware uefi: vms[1] (b), vms[2] (gpu1): libvirt at qemu:///system offers no EFI firmware for a qemu ' \
           'domain of machine type q35; install OVMF (Debian: ovmf, Fedora: edk2-ovmf)' in found['problems']
    assert host.findings(plan(virt_type='qemu'), probe(need_uefi_qemu='yes'), {})['problems'] == []
    found = host.findings(PLAN, probe(need_uefi_kvm='unknown'), {})
    assert found['problems'] == [] and found['warnings'] == [
        'firmware uefi: vms[1] (b), vms[2] (gpu1): not checked whether libvirt at qemu:///system offers EFI firmware for a '
        'kvm domain of machine type q35: no domain capabilities']
    # no VM with uefi: the answer does not matter
    vms = [dict(vm, firmware='bios') for vm in PLAN['vms']]
    assert host.findings(plan(vms=vms), probe(need_uefi_kvm='no'), {})['problems'] == []


def test_a_check_that_failed_is_a_warning_with_its_reason():
    lines = probe({'need_network_default': 'error:internal error: network is broken', 'need_bridge_br-lan': 'error:ip link show: x',
                   'need_hostdev_0000:03:00.0': 'error:denied', 'need_uefi_kvm': 'error:no caps'})
    found = host.findings(PLAN, lines, {})
    assert found['problems'] == []
    assert found['warnings'] == [
        "network 'default': not checked: internal error: network is broken",
        "network 'lan' (bridge br-lan): not checked: ip link show: x",
        'vms[2] (gpu1): hostdev 0000:03:00.0 not checked: denied',
        'firmware uefi: vms[1] (b), vms[2] (gpu1): not checked whether libvirt at qemu:///system offers EFI firmware for a '
        'kvm domain of machine type q35: no caps']


def test_without_a_libvirt_connection_only_the_libvirt_problem_is_said():
    lines = probe({'need_network_default': 'missing', 'need_bridge_br-lan': 'missing', 'need_hostdev_0000:03:00.0': 'missing',
                   'need_uefi_kvm': 'no', 'libvirt_error': 'Failed to connect socket'})
    assert host.findings(PLAN, lines, {})['problems'] == ['libvirt: cannot connect to qemu:///system: Failed to connect socket']
    problems = host.findings(PLAN, [], {})['problems']  # no answer at all
    assert 'libvirt: cannot connect to the default URI: no answer' in problems
    assert not [text for text in problems if text.startswith(('network ', 'vms[', 'firmware'))]


# the probe itself, against libvirt's test driver (a node file of its own: networks, domains and node devices)
NODE = """<node>
  <network><name>default</name><bridge name='virbr7'/></network>
  <domain type='test'>
    <name>other-vm</name><memory>65536</memory><os><type>hvm</type></os>
    <devices><hostdev mode='subsystem' type='pci' managed='yes'>
      <source><address domain='0x0000' bus='0x03' slot='0x00' function='0x0'/></source></hostdev></devices>
  </domain>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>off,vm</name><memory>65536</memory><os><type>hvm</type></os>
    <devices><hostdev mode='subsystem' type='pci' managed='yes'>
      <source><address domain='0x0000' bus='0x05' slot='0x00' function='0x0'/></source></hostdev></devices>
    <test:runstate>5</test:runstate>
  </domain>
  <domain type='test'>
    <name>c1-gpu1</name><memory>65536</memory><os><type>hvm</type></os>
    <devices><hostdev mode='subsystem' type='pci' managed='yes'>
      <source><address domain='0x0000' bus='0x0a' slot='0x00' function='0x1'/></source></hostdev></devices>
  </domain>
  %s
</node>"""
DEVICE = """<device><name>pci_%s</name><parent>computer</parent><capability type='pci'><domain>0</domain><bus>%d</bus>
  <slot>0</slot><function>%d</function><product id='0x1234'/><vendor id='0x10de'/></capability></device>"""


def run_probe(tmp_path, needs, uri=None, netns=''):
    """The probe's lines, run with this Python (it has libvirt) against a test driver node file, in a new network
    namespace (unshare -rn) when netns is a shell command to run there first."""
    pytest.importorskip('libvirt')
    node = tmp_path / 'node.xml'
    node.write_text(NODE % ''.join(DEVICE % (name, bus, fn) for name, bus, fn in
                                   (('0000_03_00_0', 3, 0), ('0000_05_00_0', 5, 0), ('0000_0a_00_1', 10, 1))))
    command = ['sh', PROBE, str(tmp_path), sys.executable, uri or 'test://%s' % node, 'q35', needs]
    if netns:
        command = ['unshare', '-rn', 'sh', '-c', netns + ' && exec "$@"', 'netns'] + command
    out = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, universal_newlines=True, timeout=60,
                         check=False)
    assert out.returncode == 0
    return out.stdout.splitlines()


def need_lines(lines):
    return sorted(line for line in lines if line.startswith('need_'))


def test_the_probe_answers_against_the_test_driver(tmp_path):
    nets = NETWORKS + [{'name': 'gone', 'kind': 'network', 'source': 'no,such', 'ensure_active': True},
                       {'name': 'lo-br', 'kind': 'bridge', 'source': 'lo'},
                       {'name': 'nic', 'kind': 'direct', 'source': 'lo'}]
    vms = PLAN['vms'][:2] + [dict(PLAN['vms'][2], hostdevs=['0000:03:00.0', '0000:0a:00.1', '0000:05:00.0', '0000:09:00.0'])]
    the_plan = plan(networks=nets, vms=vms)
    lines = run_probe(tmp_path, host.probe_needs(the_plan))
    assert need_lines(lines) == [
        'need_bridge_br-lan=missing', 'need_bridge_lo=not-a-bridge', 'need_direct_eno1=missing', 'need_direct_lo=present',
        'need_hostdev_0000:03:00.0=used:other-vm', 'need_hostdev_0000:05:00.0=used:off%2Cvm',
        'need_hostdev_0000:09:00.0=missing', 'need_hostdev_0000:0a:00.1=used:c1-gpu1',
        'need_network_default=active', 'need_network_no%2Csuch=missing',
        'need_uefi_kvm=unknown', 'need_uefi_qemu=unknown']  # the test driver has no domain capabilities
    found = host.findings(the_plan, lines, {})
    uri = 'test://%s' % (tmp_path / 'node.xml')
    mine = [text for text in found['problems'] if text.startswith(('network ', 'vms[', 'firmware'))]
    assert mine == [
        "network 'lan' (bridge br-lan): there is no device br-lan on this host",
        "network 'wan' (direct eno1): there is no interface eno1 on this host",
        "network 'gone' (libvirt network no,such): there is no libvirt network no,such at %s (an external network must exist)" % uri,
        "network 'lo-br' (bridge lo): lo is not a bridge on this host (direct: lo puts a macvtap on it)",
        'vms[2] (gpu1): hostdev 0000:03:00.0 is used by domain other-vm',
        'vms[2] (gpu1): hostdev 0000:05:00.0 is used by domain off,vm',
        'vms[2] (gpu1): hostdev 0000:09:00.0 does not exist on this host']
    assert 'firmware uefi: vms[1] (b), vms[2] (gpu1): not checked whether libvirt at %s offers EFI firmware for a ' \
           'kvm domain of machine type q35: no domain capabilities' % uri in found['warnings']


def test_the_probe_finds_a_bridge_in_its_network_namespace(tmp_path):
    if not shutil.which('unshare') or subprocess.run(['unshare', '-rn', 'ip', 'link', 'add', 'br-t', 'type', 'bridge'],
                                                     stderr=subprocess.DEVNULL, check=False).returncode != 0:
        pytest.skip('no user and network namespace here (unshare -rn) to make a bridge in')
    # /sys/class/net is the host's there (not remounted): ip is what knows the namespace's devices
    lines = run_probe(tmp_path, 'bridge=br-t,direct=br-t,bridge=lo,direct=eth0', netns='ip link add br-t type bridge')
    assert need_lines(lines) == ['need_bridge_br-t=bridge', 'need_bridge_lo=not-a-bridge', 'need_direct_br-t=present',
                                 'need_direct_eth0=missing']


def test_the_probe_without_libvirt_answers_only_the_host_needs(tmp_path):
    lines = run_probe(tmp_path, 'network=default,bridge=lo,hostdev=0000:03:00.0,uefi=1', uri='test:///nonexistent/node.xml')
    assert need_lines(lines) == ['need_bridge_lo=not-a-bridge']
    nets = [{'name': 'lo-br', 'kind': 'bridge', 'source': 'lo'}]
    problems = host.findings(plan(networks=nets), lines, {})['problems']
    assert [text for text in problems if text.startswith('libvirt: cannot connect to test:///nonexistent/node.xml: ')]
    assert not [text for text in problems if text.startswith(('network ', 'vms[', 'firmware'))]


def test_the_probe_without_needs_prints_none(tmp_path):
    assert need_lines(run_probe(tmp_path, '', uri='test:///default')) == []

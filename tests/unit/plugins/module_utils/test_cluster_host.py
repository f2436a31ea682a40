# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""host_checks' findings and the disks smaller than their image, from the plan (no libvirt needed)."""

import copy

from ansible_collections.strata.libvirt.plugins.module_utils._cluster import host
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import plan as planner

KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKpc8QXeQS+7Sa9RPnbtTb86sZDiDouKCQQOJn2NJVXS test'
IMAGE_MAP = {'default_label': 'lab', 'images': {'lab': {'source': 'http://h/lab.qcow2', 'checksum': 'none'}}}
CLUSTER = {'name': 'c1', 'virt_type': 'kvm', 'network': {'cidr': '10.9.0.0/24'}, 'ssh_public_keys': [KEY],
           'vms': [{'name': 'a', 'ip': '10.9.0.10', 'memory': '2G', 'disk': '4G'},
                   {'name': 'b', 'ip': '10.9.0.11', 'memory': '1G', 'disk': '10G'}]}
GOOD = ['cpu_virt=vmx', 'kvm_dev=yes', 'kvm_rw=yes', 'kvm_pvm=no', 'libvirt_error=', 'libvirt_uri=qemu:///system',
        'mem_total_kb=16777216', 'mem_available_kb=8388608', 'running=', 'disk_path=/var/lib/libvirt',
        'disk_avail_mb=50000', 'qemu_img=/usr/bin/qemu-img', 'ssh=/usr/bin/ssh', 'python_missing=', 'systemd=yes',
        'some noise without an equals sign']


def plan(**changes):
    cluster = copy.deepcopy(CLUSTER)
    cluster.update(changes)
    return planner.build(cluster, IMAGE_MAP)


def probe(**changes):
    lines = [line for line in GOOD if line.split('=', 1)[0] not in changes]
    return lines + ['%s=%s' % item for item in changes.items()]


def test_a_good_kvm_host_has_nothing_to_say():
    found = host.findings(plan(), GOOD, {'min_free_disk_mb': 2048, 'python': '/usr/bin/python3'})
    assert found['problems'] == [] and found['warnings'] == []
    assert found['virt_type'] == 'kvm' and found['kvm_usable'] is True and found['systemd'] is True
    assert found['memory_total_mib'] == 16384 and found['memory_available_mib'] == 8192 and found['running'] == []
    assert found['virt']['libvirt_uri'] == 'qemu:///system'


def test_kvm_wanted_on_a_kvm_pvm_host():
    found = host.findings(plan(), probe(kvm_pvm='yes', cpu_virt='none'), {})
    assert found['kvm_usable'] is False
    assert found['problems'] == [
        'virt_type kvm: this host cannot run KVM guests: no vmx/svm flag in /proc/cpuinfo (no VT-x/AMD-V, or it is '
        'disabled in the firmware); /dev/kvm comes from the kvm_pvm module (/sys/module/kvm_pvm), which cannot run a '
        'stock Linux guest. Set virt_type: qemu (emulation) or auto.']


def test_auto_and_qemu_choose_and_warn():
    found = host.findings(plan(virt_type='auto'), probe(kvm_dev='no'), {})
    assert found['virt_type'] == 'qemu' and found['problems'] == []
    assert found['warnings'] == ['virt_type auto: KVM is not usable here (/dev/kvm does not exist (kvm module not loaded));'
                                 ' the VMs run under QEMU emulation (TCG), much slower.']
    assert host.findings(plan(virt_type='auto'), GOOD, {})['virt_type'] == 'kvm'
    found = host.findings(plan(virt_type='qemu'), GOOD, {})
    assert found['virt_type'] == 'qemu' and found['warnings'] == ['virt_type qemu: the VMs run under emulation (TCG); KVM would work here']
    found = host.findings(plan(virt_type='qemu'), probe(kvm_rw='no'), {})
    assert 'KVM is not usable here: /dev/kvm is not readable and writable' in found['warnings'][0]


def test_every_host_problem_at_once():
    lines = probe(libvirt_error='Failed to connect socket', mem_total_kb=1048576, disk_avail_mb=100, qemu_img='', ssh='',
                  python_missing='lxml pycdlib')
    found = host.findings(plan(), lines, {'min_free_disk_mb': 2048, 'python': '/opt/py'})
    assert found['problems'] == [
        'libvirt: cannot connect to qemu:///system: Failed to connect socket',
        'memory: the VMs ask for 3072 MiB in all, more than the host has (1024 MiB)',
        'disk: /var/lib/libvirt has 100 MiB free, less than host_checks_min_free_disk_mb=2048 MiB (for the pool '
        '/var/lib/libvirt/strata/c1)',
        'tools: qemu-img is not installed on the hypervisor (Debian: qemu-utils, Fedora: qemu-img)',
        'tools: the ssh client is not installed on the hypervisor (the ssh readiness probes use it)',
        'python: /opt/py on the hypervisor cannot import lxml pycdlib (Debian: python3-libvirt python3-lxml '
        'python3-pycdlib; or pip install libvirt-python lxml pycdlib)']
    assert found['warnings'] == ['disk: /var/lib/libvirt has 100 MiB free; the VM disks (thin overlays) may grow to 14336 MiB in all']


def test_no_answer_from_the_probe_is_a_libvirt_problem():
    found = host.findings(plan(uri='qemu+ssh://hv/system'), [], {})
    assert 'libvirt: cannot connect to qemu+ssh://hv/system: no answer' in found['problems']


def test_memory_counts_only_the_vms_not_running_yet():
    lines = probe(mem_available_kb=1572864)
    assert host.findings(plan(), lines, {})['problems'] == [
        'memory: the VMs not yet running need 3072 MiB, the host has 1536 MiB available']
    assert host.findings(plan(), lines + ['running=c1-a'], {})['problems'] == []


def test_definition_problems_come_first_and_no_disk_estimate():
    bad = plan(vms=[{'name': 'a', 'ip': '10.9.0.300'}])
    found = host.findings(bad, probe(disk_avail_mb=10), {})
    assert found['problems'][0] == "vms[0] 'a': ip '10.9.0.300' is not an IPv4 address"
    assert not any(w.startswith('disk:') for w in found['warnings'])


def test_small_disks():
    results = {'lab': {'virtual_size': 5 * 1024 ** 3}}
    assert host.small_disks(plan(), results) == ['a (4.00 GB < 5.00 GB of lab)']
    assert host.small_disks(plan(), {'lab': {'virtual_size': 4 * 1024 ** 3}}) == []
    assert host.small_disks(plan(), {}) == []  # check mode before the image exists: nothing to compare


def test_vcpus_beyond_the_machine_type_are_a_problem_beyond_the_host_a_warning():
    vms = [dict(CLUSTER['vms'][0], vcpus=4096), dict(CLUSTER['vms'][1], vcpus=4)]
    lines = probe(host_cpus='2', max_vcpus_kvm='288', max_vcpus_qemu='255')
    found = host.findings(plan(vms=vms), lines, {})
    assert found['problems'] == ['vms[0] (a): vcpus 4096 is more than libvirt allows a kvm domain of machine type q35 here (288)']
    assert found['warnings'] == ['vms[1] (b): vcpus 4 is more than the host has CPUs (2); the vCPUs share them']
    # the limit of the type that will run: auto without KVM is TCG's
    found = host.findings(plan(vms=vms, virt_type='auto'), probe(kvm_dev='no', host_cpus='8', max_vcpus_qemu='255'), {})
    assert found['problems'] == ['vms[0] (a): vcpus 4096 is more than libvirt allows a qemu domain of machine type q35 here (255)']
    # no domain capabilities (an older libvirt, a test driver): no limit is made up
    assert host.findings(plan(vms=vms), probe(max_vcpus_kvm=''), {})['problems'] == []


def test_a_remote_uri_is_judged_by_what_its_libvirt_says_not_by_the_machine_the_probe_ran_on():
    uri = 'qemu+ssh://root@hv2/system'
    # the controller has no KVM and little memory or disk; hv2's libvirt offers KVM and has room
    lines = probe(libvirt_uri=uri, cpu_virt='none', kvm_dev='no', mem_total_kb=1048576, mem_available_kb=524288,
                  disk_avail_mb=10, node_memory_kb=33554432, node_free_kb=16777216, node_kvm='yes',
                  node_hostname='hv2.example')
    found = host.findings(plan(), lines, {'min_free_disk_mb': 2048})
    assert found['problems'] == []
    assert found['kvm_usable'] is True and found['virt_type'] == 'kvm'
    assert found['memory_total_mib'] == 32768 and found['memory_available_mib'] == 16384
    assert found['warnings'] == ['libvirt URI qemu+ssh://root@hv2/system names another machine: its CPUs, memory and '
                                 'KVM were read through its libvirt (host hv2.example); the free disk of its pool is '
                                 'not checked']
    no_kvm = host.findings(plan(), probe(libvirt_uri=uri, node_kvm='no', node_memory_kb=33554432,
                                         node_free_kb=16777216), {})
    assert no_kvm['problems'] == ["virt_type kvm: this host cannot run KVM guests: its libvirt offers no "
                                  "<domain type='kvm'> (capabilities). Set virt_type: qemu (emulation) or auto."]
    small = host.findings(plan(), probe(libvirt_uri=uri, node_kvm='yes', node_memory_kb=2097152,
                                        node_free_kb=1048576), {})
    assert any(p.startswith('memory: the VMs ask for 3072 MiB in all, more than the host has (2048 MiB)')
               for p in small['problems'])
    assert host.is_remote(uri) and not host.is_remote('qemu:///system') and not host.is_remote(None)


def test_the_bridge_of_a_host_behind_a_remote_uri_is_not_judged_by_this_machine():
    uri = 'qemu+ssh://root@hv2/system'
    definition = plan(network=None, networks=[{'name': 'lan', 'external': True, 'bridge': 'br-lan',
                                               'cidr': '10.9.0.0/24'}])
    lines = probe(libvirt_uri=uri, node_kvm='yes', node_memory_kb=33554432, node_free_kb=16777216) + [
        'need_bridge_br-lan=missing']
    found = host.findings(definition, lines, {})
    assert found['problems'] == []
    assert ("network 'lan' (bridge br-lan): not checked: the bridge is on the host behind %s, which libvirt does not "
            "describe" % uri) in found['warnings']
    here = host.findings(definition, probe(node_kvm='yes') + ['need_bridge_br-lan=missing'], {})
    assert here['problems'] == ["network 'lan' (bridge br-lan): there is no device br-lan on this host"]

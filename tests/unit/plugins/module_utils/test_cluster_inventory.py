# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The in-memory inventory entries of a cluster's VMs: how each VM is reached, from its hypervisor's connection."""

import os

from ansible_collections.strata.libvirt.plugins.module_utils._cluster import inventory

PLAN = {'user': 'strata', 'ssh_private_key_file': '~/.ssh/lab', 'inventory_group': 'lab', 'uri': ''}
HERE = {'name': 'hv1', 'connection': 'local', 'user': 'root', 'host': 'hv1', 'port': None, 'uri': ''}
OPTIONS = {'ssh_common_args': '-o LogLevel=ERROR', 'proxy_jump': 'auto', 'verify_host_keys': True}
HOSTVARS = {'hv2': {'ansible_host': '192.0.2.2', 'ansible_port': 2222, 'ansible_user': 'ops',
                    'cluster_plan': {'uri': 'qemu:///system'}},
            'hv3': {'ansible_connection': 'ssh'}}


def vm(name, tier=0, **extra):
    out = {'name': name, 'domain': 'lab-' + name, 'ip': '10.0.0.%d' % (10 + tier), 'tier': tier,
           'python_interpreter': '/usr/bin/python3', 'groups': []}
    out.update(extra)
    return out


def by_name(entries):
    return dict((e['name'], e) for e in entries)


def test_ssh_vms_get_a_jump_over_a_remote_hypervisor_only():
    got = by_name(inventory.entries([vm('fw'), vm('web', 1, hypervisor='hv2', groups=['web']), vm('db', 1, hypervisor='hv3')],
                                    PLAN, HERE, HOSTVARS, OPTIONS))
    assert got['fw']['vars'] == {
        'ansible_host': '10.0.0.10', 'ansible_python_interpreter': '/usr/bin/python3', 'ansible_user': 'strata',
        'ansible_ssh_common_args': '-o LogLevel=ERROR', 'ansible_host_key_checking': True,
        'ansible_ssh_private_key_file': os.path.expanduser('~/.ssh/lab'),
        'strata_hypervisor': 'hv1', 'strata_domain': 'lab-fw', 'strata_tier': 0, 'strata_address': '10.0.0.10'}
    assert got['fw']['groups'] == ['lab', 'lab_tier_0'] and got['fw']['label'] == 'fw (10.0.0.10)'
    assert got['web']['vars']['ansible_ssh_common_args'] == '-o LogLevel=ERROR -o ProxyJump=ops@192.0.2.2'
    assert got['web']['groups'] == ['lab', 'lab_tier_1', 'web'] and got['web']['vars']['strata_hypervisor'] == 'hv2'
    # Ansible's own defaults for a host without connection variables: root at the inventory name
    assert got['db']['vars']['ansible_ssh_common_args'] == '-o LogLevel=ERROR -o ProxyJump=root@hv3'


def test_a_given_jump_host_and_no_jump_and_no_host_key_checking():
    given = dict(OPTIONS, proxy_jump='bastion', verify_host_keys=False)
    got = inventory.entries([vm('fw')], dict(PLAN, ssh_private_key_file=''), HERE, HOSTVARS, given)[0]['vars']
    assert got['ansible_ssh_common_args'] == '-o LogLevel=ERROR -o ProxyJump=bastion'
    assert 'ansible_host_key_checking' not in got and 'ansible_ssh_private_key_file' not in got
    none = inventory.entries([vm('web', hypervisor='hv2')], PLAN, HERE, HOSTVARS, dict(OPTIONS, proxy_jump=''))
    assert none[0]['vars']['ansible_ssh_common_args'] == '-o LogLevel=ERROR'


def test_guest_agent_vms_go_over_their_hypervisors_libvirt():
    vms = [vm('fw', connection='libvirt_qemu'), vm('web', 1, hypervisor='hv2', connection='libvirt_qemu'),
           vm('db', 1, hypervisor='hv3', connection='libvirt_qemu')]
    got = by_name(inventory.entries(vms, PLAN, HERE, HOSTVARS, OPTIONS))
    assert got['fw']['vars']['ansible_libvirt_uri'] == 'qemu:///system'
    assert got['fw']['vars']['ansible_connection'] == 'community.libvirt.libvirt_qemu'
    assert got['fw']['vars']['ansible_host'] == 'lab-fw' and got['fw']['label'] == 'fw (lab-fw over the guest agent)'
    for key in ('ansible_user', 'ansible_ssh_common_args', 'ansible_host_key_checking', 'ansible_ssh_private_key_file'):
        assert key not in got['fw']['vars']
    assert got['web']['vars']['ansible_libvirt_uri'] == 'qemu+ssh://ops@192.0.2.2:2222/system'
    assert got['db']['vars']['ansible_libvirt_uri'] == 'qemu+ssh://root@hv3/system'
    # a URI that names its host is used as it is; a local controller with a URI of its own keeps it
    remote = dict(HERE, connection='ssh', uri='qemu+tls://hv1.example/system')
    assert inventory.entries(vms[:1], PLAN, remote, {}, OPTIONS)[0]['vars']['ansible_libvirt_uri'] == 'qemu+tls://hv1.example/system'
    session = dict(HERE, uri='qemu:///session')
    assert inventory.entries(vms[:1], PLAN, session, {}, OPTIONS)[0]['vars']['ansible_libvirt_uri'] == 'qemu:///session'
    over_ssh = dict(HERE, connection='ssh', uri='qemu:///session')
    assert inventory.entries(vms[:1], PLAN, over_ssh, {}, OPTIONS)[0]['vars']['ansible_libvirt_uri'] == 'qemu+ssh://root@hv1/session'

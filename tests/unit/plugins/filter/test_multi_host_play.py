# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A cluster over two hypervisors in a real ansible-playbook run (both hosts on the controller, against libvirt's
test:///default driver), with the placement given: each host's plan holds its own VM, the in-memory inventory gets
the VMs of both hosts with their hypervisor, and every host compares the one known_hosts file with the keys of both."""

import pytest

from ansible_collections.strata.libvirt.tests.unit.plugins.filter.playbook import run_playbook

pytest.importorskip('libvirt')

KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKpc8QXeQS+7Sa9RPnbtTb86sZDiDouKCQQOJn2NJVXS test'
IMAGE_MAP = {'default_label': 'lab', 'images': {'lab': {'source': 'http://127.0.0.1:9/lab.qcow2', 'checksum': 'none'}}}
CLUSTER = {'name': 'mh', 'uri': 'test:///default', 'network': {'cidr': '10.9.0.0/24'}, 'ssh_public_keys': [KEY],
           'vms': [{'name': 'a', 'ip': '10.9.0.10'}, {'name': 'b', 'ip': '10.9.0.11', 'after': ['a']}]}
PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.add_host:
        name: "{{ item }}"
        groups: [hypervisor]
        ansible_connection: local
        ansible_python_interpreter: "{{ ansible_playbook_python }}"
      loop: [hv1, hv2]

- hosts: hypervisor
  gather_facts: false
  vars:
    cluster_generate_ssh_key: false
    cluster_host_keys_wait: 0
    cluster_placement: {cluster: mh, placement: {a: hv1, b: hv2}, problems: []}  # what place.yml would find (test:///default has no free memory)
  tasks:
    - ansible.builtin.include_role: {name: strata.libvirt.cluster, tasks_from: inventory}
    - ansible.builtin.debug:
        msg: "PLAN {{ inventory_hostname }} {{ cluster_plan.vms | map(attribute='name') | join(',') }}"

- hosts: mh
  gather_facts: false
  tasks:
    - ansible.builtin.debug:
        msg: "VM {{ inventory_hostname }} on {{ strata_hypervisor }} at {{ ansible_host }}"
    - ansible.builtin.debug:
        msg: "VARS {{ inventory_hostname }} {{ ansible_user }} {{ group_names | join(',') }} {{ strata_domain }} {{ strata_tier }}
          {{ ansible_host_key_checking }} {{ ansible_ssh_common_args }}"
"""


def test_two_hypervisors_one_inventory_one_known_hosts_file(tmp_path):
    where = tmp_path / 'ssh' / 'mh_known_hosts'
    run = run_playbook(tmp_path, PLAY, {
        'strata_cluster': CLUSTER,
        'strata_image_map': IMAGE_MAP, 'cluster_known_hosts_file': str(where), 'ansible_connection': 'local'})
    out = run.stdout
    assert run.returncode == 0, out[-4000:] + run.stderr[-2000:]
    assert '"msg": "PLAN hv1 a"' in out and '"msg": "PLAN hv2 b"' in out
    assert '"msg": "VM a on hv1 at 10.9.0.10"' in out and '"msg": "VM b on hv2 at 10.9.0.11"' in out
    # each VM's connection as the hosts' entries say: the cluster's user, its groups, host key checking on, the known
    # hosts file in the SSH arguments (both hypervisors are the controller: no ProxyJump)
    for vm, tier in (('a', 0), ('b', 1)):
        line = '"msg": "VARS %s strata mh,mh_tier_%d mh-%s %d True -o StrictHostKeyChecking=yes -o UserKnownHostsFile=%s' % (
            vm, tier, vm, tier, where)
        assert line in out and 'ProxyJump' not in out.split(line)[1].split('\n')[0], out[-3000:]
    # every host compares the file with the keys of both VMs (neither domain exists in the test driver: a warning for
    # each, from each host), so both write the same content
    warnings = out.split('TASK [strata.libvirt.cluster : Warn about the VMs whose host keys were not read]')[1].split('TASK [')[0]
    for host in ('hv1', 'hv2'):
        mine = warnings.split('ok: [%s]' % host)[1].split('ok: [')[0]
        assert 'VM a (10.9.0.10): host keys not verified' in mine and 'VM b (10.9.0.11): host keys not verified' in mine
    assert where.exists()
    again = run_playbook(tmp_path, PLAY, {
        'strata_cluster': CLUSTER, 'strata_image_map': IMAGE_MAP, 'cluster_known_hosts_file': str(where),
        'ansible_connection': 'local'})
    assert again.returncode == 0 and 'changed=0' in again.stdout.split('PLAY RECAP')[1].split('localhost')[0]

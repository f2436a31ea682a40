# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cluster role's known_hosts tasks in a real ansible-playbook run on the controller, against libvirt's
test:///default driver (its one domain, `test`, runs and has neither a guest agent nor a console log): the file is
written with mode 0600 and a second run changes nothing; check mode writes nothing; a file that is not the
cluster's is left alone; a running VM that gives no key stops the play."""

import json
import stat

import pytest

from ansible_collections.strata.libvirt.plugins.module_utils._cluster import known_hosts as kh
from ansible_collections.strata.libvirt.tests.unit.plugins.filter.playbook import run_playbook

pytest.importorskip('libvirt')

KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKpc8QXeQS+7Sa9RPnbtTb86sZDiDouKCQQOJn2NJVXS test'
ED25519 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKvsupau1lmQ56Apej98wl7wNvZuiMzHsG+Nqcqf8Trv'
IMAGE_MAP = {'default_label': 'lab', 'images': {'lab': {'source': 'http://127.0.0.1:9/lab.qcow2', 'checksum': 'none'}}}
PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    cluster_generate_ssh_key: false
    cluster_host_keys_wait: 0
  tasks:
    - ansible.builtin.include_role: {name: strata.libvirt.cluster, tasks_from: plan}
    - ansible.builtin.include_role: {name: strata.libvirt.cluster, tasks_from: known_hosts}
    - ansible.builtin.debug:
        msg: "RESULT {{ _cluster_known_hosts | to_json }}"
"""


def run_play(tmp_path, cluster, check=False, **extra):
    return run_playbook(tmp_path, PLAY, dict({
        'strata_cluster': dict({'name': 'kh', 'uri': 'test:///default', 'network': {'cidr': '10.9.0.0/24'},
                                'ssh_public_keys': [KEY], 'vms': [{'name': 'a', 'ip': '10.9.0.10'}]}, **cluster),
        'strata_image_map': IMAGE_MAP, 'cluster_known_hosts_file': str(tmp_path / 'ssh' / 'kh_known_hosts')}, **extra),
        *(['--check'] if check else []))


def result(run):
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    line = [text for text in run.stdout.splitlines() if '"msg": "RESULT ' in text][0]
    return json.loads(json.loads('{%s}' % line.strip())['msg'][len('RESULT '):])


def test_written_with_mode_0600_then_unchanged(tmp_path):
    where = tmp_path / 'ssh' / 'kh_known_hosts'
    # check mode: reported, not written (and the directory not made)
    out = result(run_play(tmp_path, {}, check=True))
    assert out['changed'] is True and not (tmp_path / 'ssh').exists()
    # the VM's domain does not exist: a warning, and the file holds the header alone
    run = run_play(tmp_path, {})
    out = result(run)
    assert out['warnings'] == ['VM a (10.9.0.10): host keys not verified (the domain does not exist); SSH to it fails '
                               'its host key check until they are']
    assert where.read_text() == kh.header('kh') + '\n'
    assert stat.S_IMODE(where.stat().st_mode) == 0o600 and stat.S_IMODE((tmp_path / 'ssh').stat().st_mode) == 0o700
    assert 'changed=1' in run.stdout.split('PLAY RECAP')[1]  # one task makes the directory and writes the file
    # an entry from before stays while the VM cannot be read; a second run changes nothing
    where.write_text('%s\n10.9.0.10,a %s\n' % (kh.header('kh'), ED25519))
    where.chmod(0o644)
    run = run_play(tmp_path, {})
    assert result(run)['entries'][0]['status'] == 'kept' and stat.S_IMODE(where.stat().st_mode) == 0o600
    run = run_play(tmp_path, {})
    assert result(run)['changed'] is False and 'changed=0' in run.stdout.split('PLAY RECAP')[1]
    assert where.read_text() == '%s\n10.9.0.10,a %s\n' % (kh.header('kh'), ED25519)


def test_a_file_of_someone_else_is_left_alone(tmp_path):
    where = tmp_path / 'ssh' / 'kh_known_hosts'
    where.parent.mkdir()
    where.write_text('github.com %s\n' % ED25519)
    run = run_play(tmp_path, {})
    assert run.returncode != 0 and 'exists and was not written for cluster kh' in run.stdout
    assert where.read_text() == 'github.com %s\n' % ED25519


def test_a_running_vm_without_keys_stops_the_play(tmp_path):
    # the test driver's domain `test` runs; it has no guest agent and no console log. Asked twice (5 s apart), then
    # the wait ends without failing the reading task, and the next task says why
    run = run_play(tmp_path, {'domain_prefix': '', 'vms': [{'name': 'test', 'ip': '10.9.0.10'}]}, cluster_host_keys_wait=5)
    assert run.returncode != 0, run.stdout[-3000:]
    assert run.stdout.count('FAILED - RETRYING') == 1
    assert "TASK [strata.libvirt.cluster : Stop when a VM's host key changed without a rebuild, or none could be read]" in run.stdout
    assert 'VM test (10.9.0.10): no SSH host key could be read (guest agent: ' in run.stdout
    assert 'serial console: the domain has no serial console log file' in run.stdout
    assert not (tmp_path / 'ssh' / 'kh_known_hosts').exists()

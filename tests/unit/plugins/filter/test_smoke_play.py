# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cluster role's smoke tests (tasks smoke.yml) in real ansible-playbook runs on the controller: the VMs are
in-memory hosts with connection local (one with an SSH port that refuses), the probes run by strata.libvirt.startup
against libvirt's test driver loaded from a file whose domains run. Every check runs; the summary shows them all; a
failed one fails the play naming the VM, the check and its output; strata_smoke=false and check mode run none."""

import importlib.util
import json
import sys

import pytest

from ansible_collections.strata.libvirt.tests.unit.plugins.filter.playbook import run_playbook

needs_libvirt = pytest.mark.skipif(importlib.util.find_spec('libvirt') is None, reason='libvirt-python is not installed')

KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKpc8QXeQS+7Sa9RPnbtTb86sZDiDouKCQQOJn2NJVXS test'
NODE = "<node xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>%s</node>"
DOM = "<domain type='test'><name>%s</name><memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>"
IMAGE_MAP = {'default_label': 'lab', 'images': {'lab': {'source': 'http://127.0.0.1:9/lab.qcow2', 'checksum': 'none'}}}
FAILING = {'type': 'command', 'command': [sys.executable, '-c', 'raise SystemExit(3)'], 'interval': 0.3}

PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/strata.libvirt.libvirt:
      state_dir: "{{ work }}/state"
  tasks:
    - ansible.builtin.set_fact:
        cluster_plan: "{{ strata_cluster | strata.libvirt.cluster_plan(strata_image_map, {'startup_log': work ~ '/startup.log'}) }}"
    - ansible.builtin.assert:
        that:
          - cluster_plan.problems == []
    - name: The VMs in the inventory, as hosts.yml adds them (here local; gone refuses SSH)
      ansible.builtin.add_host:
        name: "{{ item.name }}"
        ansible_connection: "{{ 'ssh' if item.name == 'gone' else 'local' }}"
        ansible_host: 127.0.0.1
        ansible_port: 1
      loop: "{{ cluster_plan.vms }}"
    - name: What main.yml has when it includes smoke.yml
      ansible.builtin.set_fact:
        _cluster_startup: {skipped: true}
        cluster_summary: "{{ cluster_plan | strata.libvirt.cluster_summary([], ansible_check_mode) }}"
    - block:
        - ansible.builtin.include_role: {name: strata.libvirt.cluster, tasks_from: smoke}
      rescue:
        - ansible.builtin.debug:
            msg: "FAILED {{ ansible_failed_result.msg }}"
    - ansible.builtin.debug:
        msg: "RESULT {{ cluster_summary | to_json }}"
"""


def flat(line):
    """A line of the summary with single spaces."""
    return ' '.join(line.split())


def run(tmp_path, smoke, vm_smoke=None, *args):
    node = tmp_path / 'node.xml'
    node.write_text(NODE % ''.join(DOM % name for name in ('sm-web1', 'sm-db1', 'sm-gone')))
    vms = [{'name': 'web1', 'ip': '10.250.0.11'}, {'name': 'db1', 'ip': '10.250.0.12', 'smoke': vm_smoke or []},
           {'name': 'gone', 'ip': '10.250.0.13'}]
    cluster = {'name': 'sm', 'uri': 'test://%s' % node, 'virt_type': 'qemu', 'ssh_public_keys': [KEY],
               'network': {'cidr': '10.250.0.0/24'}, 'smoke': smoke, 'vms': vms}
    proc = run_playbook(tmp_path, PLAY, {'work': str(tmp_path), 'strata_cluster': cluster, 'strata_image_map': IMAGE_MAP},
                        *args)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    summary = [json.loads(json.loads(line.strip()[len('"msg": '):])[len('RESULT '):])
               for line in proc.stdout.splitlines() if line.strip().startswith('"msg": "RESULT ')]
    failed = [json.loads(line.strip()[len('"msg": '):])[len('FAILED '):]
              for line in proc.stdout.splitlines() if line.strip().startswith('"msg": "FAILED ')]
    return proc, summary[0], failed[0] if failed else None


@needs_libvirt
def test_every_check_runs_and_a_failure_fails_the_play_naming_vm_check_and_output(tmp_path):
    proc, summary, failed = run(
        tmp_path,
        [{'command': 'echo in the guest', 'vms': ['web1', 'db1']},
         {'command': 'true', 'vm': 'gone'},
         {'name': 'never ready', 'probe': FAILING, 'vm': 'db1', 'timeout': 1},
         {'probe': {'type': 'running'}}],
        [{'command': 'echo out-line; echo err-line >&2; exit 3'},
         {'command': 'sleep 30', 'timeout': 1}])
    smoke = summary[next(i for i, line in enumerate(summary) if line.startswith('VM ')):]
    rows = smoke[2:]
    assert len(rows) == 9, smoke
    assert rows[0].split() == ['web1', 'command:', 'echo', 'in', 'the', 'guest', 'ok']
    assert rows[1].startswith('db1 ') and rows[1].endswith('  ok'), rows
    assert rows[2].startswith('gone ') and '  FAILED: unreachable: ' in rows[2], rows
    assert rows[3].startswith('db1 ') and "never ready (probe: command " in rows[3], rows
    assert "FAILED: VM 'sm-db1' (tier 0) not ready: probe command" in rows[3] and 'command exited 3' in rows[3], rows
    assert [row.split()[0] for row in rows[4:7]] == ['web1', 'db1', 'gone']
    assert all(flat(row).endswith(' probe: running ok') for row in rows[4:7]), rows
    assert flat(rows[7]) == 'db1 command: echo out-line; echo err-line >&2; exit 3 FAILED: rc 3; stderr: err-line; stdout: out-line'
    assert flat(rows[8]) == 'db1 command: sleep 30 FAILED: rc 124 (timed out after 1 s); no output'
    # the play failed after every check ran, with the smoke table in its message
    assert failed.startswith('4 of 9 smoke test(s) of cluster sm failed. The cluster is provisioned; fix the cause and run '
                             'provision again (or skip them: -e strata_smoke=false):\n'), failed
    assert failed.split('\n')[1:] == smoke
    # the VM table comes first, unchanged
    assert summary[0].startswith('NAME ') and [line.split()[0] for line in summary[2:5]] == ['web1', 'db1', 'gone']
    # the probes' events are in the startup log
    assert 'sm-db1' in (tmp_path / 'startup.log').read_text()


@needs_libvirt
def test_passing_checks_let_the_play_go_on(tmp_path):
    proc, summary, failed = run(tmp_path, [{'command': 'echo fine', 'vms': ['web1', 'db1']},
                                           {'probe': {'type': 'running'}, 'vm': 'web1'}])
    assert failed is None
    assert [flat(row) for row in summary[-3:]] == ['web1 command: echo fine ok', 'db1 command: echo fine ok',
                                                   'web1 probe: running ok']


@pytest.mark.parametrize('args, said', [
    (('-e', 'strata_smoke=false'), 'smoke tests skipped (strata_smoke=false)'),
    (('--check',), 'check mode: smoke tests not run'),
])
def test_none_runs_with_strata_smoke_false_or_in_check_mode(tmp_path, args, said):
    proc, summary, failed = run(tmp_path, [{'command': 'false'}, {'probe': FAILING, 'timeout': 1}], None, *args)
    assert failed is None
    assert '"msg": "%s"' % said in proc.stdout
    assert not [line for line in summary if 'SMOKE TEST' in line]
    assert not (tmp_path / 'startup.log').exists()

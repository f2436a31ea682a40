# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cluster role's `plan` entry point and the key pair on the controller, in real ansible-playbook runs (no
hypervisor needed): a path where no pair can be made fails with the plan's message before any command runs, check
mode makes nothing, a real run makes the pair and the plan takes its public key."""

import shutil

import pytest

from ansible_collections.strata.libvirt.tests.unit.plugins.filter.playbook import run_playbook

IMAGE_MAP = {'default_label': 'lab', 'images': {'lab': {'source': 'http://127.0.0.1:9/lab.qcow2', 'checksum': 'none'}}}
PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.include_role: {name: strata.libvirt.cluster, tasks_from: plan}
    - ansible.builtin.debug:
        msg: "KEYS={{ cluster_plan.ssh_public_keys | length }} PROBLEMS={{ cluster_plan.problems | length }}"
"""


def run_plan(tmp_path, key_file, *args):
    """ansible-playbook of PLAY with a cluster whose only key is the pair at key_file."""
    cluster = {'name': 'pk', 'network': {'cidr': '10.9.0.0/24'}, 'ssh_private_key_file': key_file,
               'vms': [{'name': 'a', 'ip': '10.9.0.10'}]}
    return run_playbook(tmp_path, PLAY, {'strata_cluster': cluster, 'strata_image_map': IMAGE_MAP}, *args)


@pytest.mark.parametrize('args', [[], ['--check']], ids=['run', 'check mode'])
def test_a_key_path_where_no_pair_can_be_made_fails_with_the_plans_message(tmp_path, args):
    (tmp_path / 'file').write_text('x')
    key = str(tmp_path / 'file' / 'keys' / 'id')
    run = run_plan(tmp_path, key, *args)
    assert run.returncode != 0
    assert 'ssh_private_key_file: %s cannot be created: %s/file is not a directory' % (key, tmp_path) in run.stdout, \
        run.stdout[-3000:]
    assert 'cannot create directory' not in run.stdout and 'mkdir' not in run.stdout, run.stdout[-3000:]


def test_check_mode_makes_no_pair_and_waives_its_key(tmp_path):
    key = tmp_path / 'keys' / 'id'
    run = run_plan(tmp_path, str(key), '--check')
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert 'KEYS=0 PROBLEMS=0' in run.stdout and not (tmp_path / 'keys').exists()


@pytest.mark.skipif(shutil.which('ssh-keygen') is None, reason='needs ssh-keygen on the controller')
def test_a_missing_pair_is_made_and_its_public_key_taken(tmp_path):
    key = tmp_path / 'keys' / 'id'
    run = run_plan(tmp_path, str(key))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert 'KEYS=1 PROBLEMS=0' in run.stdout and key.is_file() and (tmp_path / 'keys' / 'id.pub').is_file()


def test_taking_a_cluster_down_does_not_need_the_key_pair(tmp_path):
    run = run_plan(tmp_path, '/proc/x/key', '-e', 'cluster_plan_for=teardown')
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert 'KEYS=0 PROBLEMS=1' in run.stdout

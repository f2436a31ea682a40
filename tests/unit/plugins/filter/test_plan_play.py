# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cluster role's `plan` entry point in a real ansible-playbook run on the controller (no hypervisor needed):
a second run with the same definition keeps the plan of the play, another definition gets a new plan."""

from ansible_collections.strata.libvirt.tests.unit.plugins.filter.playbook import run_playbook

KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKpc8QXeQS+7Sa9RPnbtTb86sZDiDouKCQQOJn2NJVXS test'
VARS = {
    'strata_image_map': {'default_label': 'lab',
                         'images': {'lab': {'source': 'http://127.0.0.1:9/lab.qcow2', 'checksum': 'none'}}},
    'cluster_a': {'name': 'pa', 'network': {'cidr': '10.9.0.0/24'}, 'ssh_public_keys': [KEY],
                  'vms': [{'name': 'a', 'ip': '10.9.0.10'}]},
}
PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    strata_cluster: "{{ cluster_a }}"
    cluster_generate_ssh_key: false
  tasks:
    - ansible.builtin.include_role: {name: strata.libvirt.cluster, tasks_from: plan}
    - ansible.builtin.set_fact:
        cluster_plan: "{{ cluster_plan | combine({'marker': 'first build'}) }}"
    - ansible.builtin.include_role: {name: strata.libvirt.cluster, tasks_from: plan}
    - ansible.builtin.assert:
        that:
          - cluster_plan.marker == 'first build'
        fail_msg: the same definition was planned again
    - ansible.builtin.include_role: {name: strata.libvirt.cluster, tasks_from: plan}
      vars:
        strata_cluster: "{{ cluster_a | combine({'name': 'pb'}) }}"
    - ansible.builtin.assert:
        that:
          - cluster_plan.marker is not defined
          - cluster_plan.name == 'pb'
          - cluster_plan.problems | length == 0
        fail_msg: another definition kept the old plan
    - ansible.builtin.include_role: {name: strata.libvirt.cluster, tasks_from: plan}
      vars:
        strata_cluster: "{{ cluster_a | combine({'vms': [{'name': 'a', 'ip': '10.9.0.1'}]}) }}"
        cluster_plan_fail: false
    - ansible.builtin.assert:
        that:
          - cluster_plan.problems | length == 1
          - cluster_plan.problems[0] is search("ip 10.9.0.1 is the network's gateway")
"""


def test_the_plan_of_a_play_is_kept_until_the_definition_changes(tmp_path):
    run = run_play(tmp_path, PLAY)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert 'failed=0' in run.stdout


def run_play(tmp_path, play):
    return run_playbook(tmp_path, play, VARS)


def test_a_wrong_purpose_of_the_plan_fails_before_anything(tmp_path):
    run = run_play(tmp_path, """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.include_role: {name: strata.libvirt.cluster, tasks_from: plan}
      vars: {strata_cluster: "{{ cluster_a }}", cluster_plan_for: destroy, cluster_generate_ssh_key: false}
""")
    assert run.returncode != 0
    assert 'cluster_plan_for' in run.stdout and 'provision, teardown' in run.stdout, run.stdout[-3000:]


def test_the_boot_service_needs_its_startup_definition(tmp_path):
    run = run_play(tmp_path, """
- hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - {role: strata.libvirt.boot_order, boot_order_cluster: pa}
""")
    assert run.returncode != 0
    assert 'boot_order_startup: give the startup definition' in run.stdout, run.stdout[-3000:]


KEY_PLAY = """
- hosts: localhost:h2
  connection: local
  gather_facts: false
  vars:
    strata_cluster: "{{ cluster_a | combine({'ssh_private_key_file': key_path, 'ssh_public_keys': []}) }}"
  tasks:
    - ansible.builtin.include_role: {name: strata.libvirt.cluster, tasks_from: plan}
    - ansible.builtin.assert:
        that:
          - cluster_plan.problems | length == 0
          - cluster_plan.key_problems | default([]) | length == 0
"""


def test_a_missing_key_pair_is_made_once_on_the_controller_then_left_alone(tmp_path):
    key = tmp_path / 'keys' / 'id_ed25519'
    variables = dict(VARS, key_path=str(key))
    first = run_playbook(tmp_path, KEY_PLAY, variables, '-i', 'h2,')
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert key.is_file() and (tmp_path / 'keys' / 'id_ed25519.pub').read_text().startswith('ssh-ed25519 ')
    assert oct((tmp_path / 'keys').stat().st_mode & 0o777) == '0o700'
    # two hypervisors in the play, one key pair: the tasks ran once, on the controller
    assert first.stdout.count('TASK [strata.libvirt.cluster : Create the key pair (ed25519, no passphrase)]') == 1, first.stdout
    made = key.read_bytes()
    again = run_playbook(tmp_path, KEY_PLAY, variables, '-i', 'h2,')
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
    assert key.read_bytes() == made
    # the pair is there: the include is skipped as a whole, none of its tasks is even weighed
    assert 'Create the key pair' not in again.stdout and "Create the cluster's SSH key pair" in again.stdout, again.stdout


def test_the_playbooks_host_pattern_takes_a_list_and_names_the_variable_when_bad(tmp_path):
    play = """
- hosts: "{{ strata_hypervisors | default('hypervisor') | strata.libvirt.hypervisors }}"
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.debug: {msg: "on {{ inventory_hostname }}"}
"""
    ran = run_playbook(tmp_path, play, dict(VARS, strata_hypervisors=['localhost', 'h2']), '-i', 'h2,')
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
    assert '"msg": "on localhost"' in ran.stdout and '"msg": "on h2"' in ran.stdout
    bad = run_playbook(tmp_path, play, dict(VARS, strata_hypervisors=''))
    assert bad.returncode != 0 and 'strata_hypervisors: \'\' is not a host pattern' in bad.stdout + bad.stderr, \
        bad.stdout[-3000:] + bad.stderr[-2000:]


def test_a_start_that_is_not_true_or_false_fails_before_anything(tmp_path):
    run = run_play(tmp_path, """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.include_role: {name: strata.libvirt.cluster}
      vars: {strata_cluster: "{{ cluster_a }}", strata_start: maybe, cluster_generate_ssh_key: false}
""")
    assert run.returncode != 0
    out = run.stdout + run.stderr
    assert 'cluster_start' in out and "'maybe'" in out and 'bool' in out, out[-3000:]
    # the role's argument validation stopped it: no plan, no lock, no libvirt call
    assert 'Take the lock' not in out and 'Resolve and validate the cluster definition' not in out, out[-3000:]

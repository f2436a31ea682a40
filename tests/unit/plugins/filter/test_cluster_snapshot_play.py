# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cluster role's snapshot entry point in real ansible-playbook runs on the controller (connection local) against
libvirt's test driver loaded from a file, test:///<file>.xml: every module run opens the file's state (domains with the
cluster's mark, shut off or running, with or without the snapshot), so each task sees the cluster as the file has it.
What one task changes, the next does not see; the runs check what each step decides, runs, refuses and reports."""

import importlib.util
import json
import uuid

import pytest

from ansible_collections.strata.libvirt.plugins.module_utils import _ownership
from ansible_collections.strata.libvirt.tests.unit.plugins.filter.playbook import run_playbook
from ansible_collections.strata.libvirt.tests.unit.plugins.filter.test_plan_once import walk_playbook

pytestmark = pytest.mark.skipif(importlib.util.find_spec('libvirt') is None, reason='libvirt-python is not installed')

KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKpc8QXeQS+7Sa9RPnbtTb86sZDiDouKCQQOJn2NJVXS test'
MARK = "<metadata><strata:owner xmlns:strata='%s' cluster='ut'/></metadata>" % _ownership.NAMESPACE
DISK = ("<disk type='file' device='disk'><driver name='qemu' type='%s'/><source file='/var/tmp/%s-%s.%s'/>"
        "<target dev='%s' bus='virtio'/></disk>")
UEFI = "<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>"
SNAP = ("<test:domainsnapshot><name>%s</name><state>shutoff</state><creationTime>1764670323</creationTime>"
        "<memory snapshot='no'/><active>0</active><domain type='test'>%s</domain></test:domainsnapshot>")


def domain(name, running=False, snapshots=(), uefi=False, data_disk=None):
    disks = DISK % ('qcow2', name, 'root', 'qcow2', 'vda') + (DISK % (data_disk, name, 'data', data_disk, 'vdb') if data_disk else '')
    # the snapshot's domain has the domain's UUID: a revert of the test driver takes the domain from it
    body = "<name>%s</name><uuid>%s</uuid><memory unit='MiB'>64</memory><os><type>hvm</type>%s</os><devices>%s</devices>" % (
        name, uuid.uuid5(uuid.NAMESPACE_DNS, name), UEFI if uefi else '', disks)
    return "<domain type='test'>%s%s%s%s</domain>" % (
        body, MARK, '' if running else '<test:runstate>5</test:runstate>', ''.join(SNAP % (snap, body) for snap in snapshots))


def variables(tmp_path, *domains):
    """The cluster ut (gw first, then db and web) on a test driver file holding these domains."""
    node = tmp_path / 'node.xml'
    node.write_text("<node xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>%s</node>" % ''.join(domains))
    return {
        'strata_image_map': {'default_label': 'lab', 'images': {'lab': {'source': 'http://127.0.0.1:9/lab.qcow2', 'checksum': 'none'}}},
        'strata_cluster': {'name': 'ut', 'uri': 'test://%s' % node, 'network': {'cidr': '10.9.0.0/24'}, 'ssh_public_keys': [KEY],
                           'default_probes': [{'type': 'running'}], 'startup': {'timeout': 30, 'grace': 1},
                           'vms': [{'name': 'gw', 'ip': '10.9.0.10'}, {'name': 'db', 'ip': '10.9.0.11', 'after': ['gw']},
                                   {'name': 'web', 'ip': '10.9.0.12', 'after': ['gw']}]},
        'cluster_generate_ssh_key': False,
        'cluster_startup_log': str(tmp_path / 'startup.log'),
        'state_dir': str(tmp_path / 'state'),
    }


STEP = """
    - name: step {index}
      block:
        - ansible.builtin.include_role: {{name: strata.libvirt.cluster, tasks_from: snapshot}}
          vars: {vars}
        - ansible.builtin.debug:
            msg: "RESULT {{{{ {{'summary': cluster_snapshot_summary}} | to_json }}}}"
      rescue:
        - ansible.builtin.debug:
            msg: "RESULT {{{{ {{'failed': ansible_failed_result.msg}} | to_json }}}}"
"""


def play(*steps):
    """A play of steps, each the snapshot entry point with its variables, showing its summary or its failure."""
    return """
- hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/strata.libvirt.libvirt:
      state_dir: "{{ state_dir }}"
  tasks:
""" + ''.join(STEP.format(index=index, vars=json.dumps(step)) for index, step in enumerate(steps))


def results(run):
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-3000:]
    head = '"msg": "RESULT '
    return [json.loads(json.loads(line.strip()[len('"msg": '):])[len('RESULT '):])
            for line in run.stdout.splitlines() if line.strip().startswith(head)]


def step(name, action, live=False):
    return {'cluster_snapshot_name': name, 'cluster_snapshot_action': action, 'cluster_snapshot_live': live}


def test_list_create_revert_delete_and_a_bad_name(tmp_path):
    steps = play(step('', 'list'), step('base', 'create'), step('base', 'revert'), step('base', 'delete'),
                 step('.base', 'create'))
    base = variables(tmp_path, domain('ut-gw', snapshots=['base']), domain('ut-db'), domain('ut-web'))
    listed, created, reverted, deleted, bad = results(run_playbook(tmp_path, steps, base))
    assert listed['summary'] == ['Cluster ut: the snapshots of each VM',
                                 'ut-gw (VM gw) [shut off]: base (2025-12-02T10:12:03Z, shut off, disks only)',
                                 'ut-db (VM db) [shut off]: no snapshot', 'ut-web (VM web) [shut off]: no snapshot']
    # offline: the whole cluster shut down (it was), db and web snapshotted, the whole cluster started in order
    assert created['summary'] == ["Cluster ut: create snapshot 'base' (offline)", 'shut down: none (as they were)',
                                  'started: ut-gw, ut-db, ut-web', 'ut-gw (VM gw): had it already',
                                  'ut-db (VM db): taken (disks only)', 'ut-web (VM web): taken (disks only)']
    assert 'ut-gw: ready' in (tmp_path / 'startup.log').read_text()
    assert reverted['failed'].startswith('Cluster ut, revert snapshot base: 2 problem(s); nothing was changed:\n- VM ut-db (VM db): ')
    assert "snapshot 'base' of domain 'ut-web' does not exist" in reverted['failed']
    assert deleted['summary'] == ["Cluster ut: delete snapshot 'base'", 'ut-gw (VM gw): deleted',
                                  'ut-db (VM db): did not have it', 'ut-web (VM web): did not have it']
    assert bad['failed'] == ("The snapshot request has 1 problem(s); nothing was changed:\n- cluster_snapshot_name "
                             "(-e snapshot=NAME): invalid name '.base'; a snapshot name cannot start with '.'")


def test_check_mode_says_what_it_would_do_and_changes_nothing(tmp_path):
    base = variables(tmp_path, domain('ut-gw', running=True, snapshots=['base']), domain('ut-db', running=True), domain('ut-web'))
    run = run_playbook(tmp_path, play(step('base', 'create'), step('base', 'delete')), base, '--check', '--diff')
    created, deleted = results(run)
    assert created['summary'] == ["Check mode, nothing changed. Cluster ut: create snapshot 'base' (offline)",
                                  'ut-gw (VM gw): had it already', 'ut-db (VM db): would be taken',
                                  'ut-web (VM web): would be taken']
    assert deleted['summary'][1:] == ['ut-gw (VM gw): would be deleted', 'ut-db (VM db): did not have it',
                                      'ut-web (VM web): did not have it']
    assert '"shut the whole cluster down, last tier first: ut-db, ut-gw"' in run.stdout
    assert '"take snapshot \'base\' of ut-db, ut-web (disks only, the VMs shut off)"' in run.stdout
    assert 'pass their probes: ut-gw -> ut-db, ut-web"' in run.stdout
    assert '+    "exists": true,' in run.stdout          # the module's diff
    assert 'strata.libvirt.startup [' not in run.stdout  # nothing stopped or started
    assert not (tmp_path / 'startup.log').exists()


def test_a_second_create_changes_nothing_and_does_not_stop_the_cluster(tmp_path):
    base = variables(tmp_path, *[domain('ut-' + name, running=True, snapshots=['base']) for name in ('gw', 'db', 'web')])
    run = run_playbook(tmp_path, play(step('base', 'create')), base)
    assert results(run)[0]['summary'][:2] == ["Cluster ut: create snapshot 'base' (offline)", 'nothing to do: every VM has it']
    assert 'changed=0' in run.stdout and 'strata.libvirt.startup [' not in run.stdout


def test_revert_restarts_the_cluster_in_order_and_live_create_keeps_it_running(tmp_path):
    base = variables(tmp_path, domain('ut-gw', running=True, snapshots=['base']), domain('ut-db', snapshots=['base']),
                     domain('ut-web', running=True, snapshots=['base']))
    reverted, live, wrong = results(run_playbook(tmp_path, play(step('base', 'revert'), step('live1', 'create', True),
                                                                step('base', 'delete', True)), base))
    # the startup run opens the file as it is (gw and web running): it starts db, once gw passed its probe
    assert reverted['summary'] == ["Cluster ut: revert snapshot 'base'", 'shut down: ut-web, ut-gw', 'started: ut-db',
                                   'ut-gw (VM gw): reverted (its disks as the snapshot has them)',
                                   'ut-db (VM db): reverted (its disks as the snapshot has them)',
                                   'ut-web (VM web): reverted (its disks as the snapshot has them)']
    log = (tmp_path / 'startup.log').read_text()
    assert log.index('ut-gw: ready') < log.index('ut-db: start issued')
    assert live['summary'] == ["Cluster ut: create snapshot 'live1' (live)", 'ut-gw (VM gw): taken (with memory)',
                               'ut-db (VM db): taken (disks only)', 'ut-web (VM web): taken (with memory)']
    assert wrong['failed'].endswith('- cluster_snapshot_live (-e live=true): only with action create (a live snapshot keeps '
                                    'the VMs running); action is delete')


def test_every_refusal_and_missing_domain_before_any_change(tmp_path):
    base = variables(tmp_path, domain('ut-gw', uefi=True), domain('ut-db', data_disk='raw'))
    refused, deleted = results(run_playbook(tmp_path, play(step('base', 'create'), step('base', 'delete')), base))
    problems = refused['failed'].split('\n- ')
    assert problems[0] == 'Cluster ut, create snapshot base: 3 problem(s); nothing was changed:'
    assert problems[1].startswith("VM ut-web (VM web): its domain does not exist")
    assert problems[2].startswith("VM ut-gw (VM gw): domain 'ut-gw' boots UEFI firmware from pflash with NVRAM")
    assert 'internal snapshots of a VM with pflash based firmware are not supported' in problems[2]
    assert problems[3] == "VM ut-db (VM db): domain 'ut-db': an internal snapshot is kept inside the disks, and only qcow2 disks can hold one; not vdb (raw)"
    assert deleted['summary'][1:] == ['nothing to do: no VM has it', 'ut-gw (VM gw): did not have it',
                                      'ut-db (VM db): did not have it', 'ut-web (VM web): no domain, skipped']


def test_the_playbook_builds_the_plan_once():
    walk = walk_playbook('snapshot')
    assert len(walk.builds) == 1 and walk.builds[0].startswith('roles/cluster/tasks/plan.yml'), walk.builds


def test_the_playbook_maps_its_extra_vars(tmp_path):
    base = variables(tmp_path, domain('ut-gw', running=True, snapshots=['base']), domain('ut-db'))
    base.update(strata_hypervisors='localhost', ansible_connection='local')
    play_text = '- ansible.builtin.import_playbook: strata.libvirt.snapshot\n'
    listed = run_playbook(tmp_path, play_text, base, '-e', 'action=list', '-e', 'snapshot=base')
    assert listed.returncode == 0, listed.stdout[-4000:]
    assert "\"Cluster ut: the snapshot 'base' of each VM\"," in listed.stdout
    assert '"ut-gw (VM gw) [running]: base (2025-12-02T10:12:03Z, shut off, disks only)",' in listed.stdout
    assert '"ut-web (VM web): no domain"' in listed.stdout and 'changed=0' in listed.stdout
    wrong = run_playbook(tmp_path, play_text, base, '-e', 'action=destroy', '-e', 'snapshot=base')
    assert wrong.returncode != 0
    assert 'value of cluster_snapshot_action must be one of: create, revert, delete, list, got: destroy' in wrong.stdout

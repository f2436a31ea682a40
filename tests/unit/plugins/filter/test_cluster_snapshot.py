# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Snapshots of a whole cluster, the pure parts: the request checked, the decision from what domain_info and the
snapshot module's check mode report, the summary. A real plan of a three-VM cluster (gw first, then web and db)."""

import os

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.strata.libvirt.plugins.filter.cluster_snapshot import FilterModule
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import plan as _plan
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import snapshot

KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKpc8QXeQS+7Sa9RPnbtTb86sZDiDouKCQQOJn2NJVXS test'
IMAGE_MAP = {'default_label': 'lab', 'images': {'lab': {'source': 'http://h/lab.qcow2', 'checksum': 'none'}}}
# db comes first in the definition but starts after gw
CLUSTER = {'name': 'c1', 'network': {'cidr': '10.9.0.0/24'}, 'ssh_public_keys': [KEY],
           'vms': [{'name': 'db', 'ip': '10.9.0.12', 'after': ['gw']}, {'name': 'gw', 'ip': '10.9.0.10'},
                   {'name': 'web', 'ip': '10.9.0.11', 'after': ['gw']}]}
PLAN = _plan.build(CLUSTER, IMAGE_MAP, {})
FILTERS = FilterModule().filters()


def dom(name, active=False, snapshots=()):
    return {'name': name, 'active': active, 'state': 'running' if active else 'shut off',
            'snapshots': [{'name': snap, 'created': '2026-12-02T10:12:03Z', 'state': 'shut off', 'memory': False,
                           'location': 'internal', 'current': index == len(snapshots) - 1}
                          for index, snap in enumerate(snapshots)]}


def would(domain, actions=()):
    """A check-mode result of the snapshot module (the loop's item is the domain)."""
    return {'item': domain, 'changed': False, 'actions': list(actions), 'snapshot': {'exists': not actions}}


def refused(domain, msg):
    """A refusal as the check-mode task registers it: failed_when false hides failed, and there are no actions."""
    return {'item': domain, 'changed': False, 'failed': False, 'failed_when_result': False, 'msg': msg}


def test_the_plan_is_sound():
    assert PLAN['problems'] == []


def test_request_puts_the_vms_in_start_order():
    req = snapshot.request(PLAN, 'base', 'create')
    assert req['problems'] == []
    assert req['domains'] == ['c1-gw', 'c1-db', 'c1-web']
    assert req['vms'][0] == {'name': 'gw', 'domain': 'c1-gw', 'tier': 0}
    assert req['start_order'] == 'c1-gw -> c1-db, c1-web'
    assert req['state'] == 'present' and req['offline'] and not req['live']
    assert snapshot.request(PLAN, 'base', 'create', True)['offline'] is False
    assert snapshot.request(PLAN, 'base', 'revert')['offline'] is True
    assert snapshot.request(PLAN, 'base', 'delete')['state'] == 'absent'
    assert snapshot.request(PLAN, '', 'list')['state'] is None


@pytest.mark.parametrize('name, action, live, problem', [
    ('base', 'destroy', False, "cluster_snapshot_action (-e action=create|revert|delete|list): 'destroy' is not an action; "
                               "use one of create, revert, delete, list"),
    ('', 'create', False, 'cluster_snapshot_name (-e snapshot=NAME): give the name of the snapshot to create'),
    ('.hidden', 'create', False, "cluster_snapshot_name (-e snapshot=NAME): invalid name '.hidden'; a snapshot name cannot "
                                 "start with '.'"),
    ('a/b', 'delete', False, "cluster_snapshot_name (-e snapshot=NAME): invalid name 'a/b'; use only letters, digits, '.', "
                             "'_' and '-'"),
    ('base', 'revert', True, 'cluster_snapshot_live (-e live=true): only with action create (a live snapshot keeps the '
                             'VMs running); action is revert'),
    ('base', 'create', 'yes', "cluster_snapshot_live (-e live=true): must be true or false, not 'yes'"),
])
def test_request_problems_name_the_variable(name, action, live, problem):
    assert snapshot.request(PLAN, name, action, live)['problems'] == [problem]


def test_request_problems_all_at_once_and_list_without_a_name():
    assert len(snapshot.request(PLAN, '.x', 'nothing', False)['problems']) == 2
    assert snapshot.request(PLAN, '', 'list')['problems'] == []
    assert snapshot.request(PLAN, None, 'list')['name'] == ''
    assert snapshot.request(PLAN, 'bad name', 'list')['problems'][0].startswith('cluster_snapshot_name')


def test_offline_requests_take_the_startup_problems_of_the_plan():
    plan = dict(PLAN, params_problems=['module startup: vms[0]: timeout must be positive', 'module domain, items[0]: x'])
    assert snapshot.request(plan, 'base', 'create')['problems'] == ['module startup: vms[0]: timeout must be positive']
    assert snapshot.request(plan, 'base', 'revert')['problems'] == ['module startup: vms[0]: timeout must be positive']
    assert snapshot.request(plan, 'base', 'create', True)['problems'] == []
    assert snapshot.request(plan, 'base', 'delete')['problems'] == []


def test_decide_before_the_checks_tells_what_exists_and_runs():
    req = snapshot.request(PLAN, 'base', 'delete')
    found = snapshot.decide(req, {'domains': [dom('c1-web', active=True), dom('c1-gw')], 'missing': ['c1-db']})
    assert found['present'] == ['c1-gw', 'c1-web'] and found['missing'] == ['c1-db'] and found['running'] == ['c1-web']
    assert found['problems'] == [] and found['targets'] == [] and not found['stop'] and found['plan'] == []


def test_create_offline_stops_snapshots_the_vms_that_lack_it_and_starts_the_cluster():
    req = snapshot.request(PLAN, 'base', 'create')
    info = {'domains': [dom('c1-gw', True, ['base']), dom('c1-db', True), dom('c1-web')]}
    first = snapshot.decide(req, info)
    checks = {'results': [would('c1-gw'), would('c1-db', ["create snapshot 'base' of domain 'c1-db' (with memory)"]),
                          would('c1-web', ["create snapshot 'base' of domain 'c1-web' (disks only)"])]}
    decision = snapshot.decide(first, info, checks)
    assert decision['problems'] == [] and decision['targets'] == ['c1-db', 'c1-web']
    assert decision['stop'] and decision['start']
    assert decision['plan'] == [
        'shut the whole cluster down, last tier first: c1-db, c1-gw',
        "take snapshot 'base' of c1-db, c1-web (disks only, the VMs shut off)",
        'start the whole cluster in order, each VM once the VMs it depends on pass their probes: c1-gw -> c1-db, c1-web']
    done = {'results': [{'item': 'c1-db', 'changed': True, 'actions': ['...'], 'snapshot': {'exists': True, 'memory': False}},
                        {'item': 'c1-web', 'changed': True, 'actions': ['...'], 'snapshot': {'exists': True, 'memory': False}}]}
    stopped = {'changed': True, 'stopped': ['c1-db', 'c1-gw'], 'forced': ['c1-db']}
    started = {'changed': True, 'started': ['c1-gw', 'c1-db', 'c1-web']}
    assert snapshot.summary(decision, done, stopped, started) == [
        "Cluster c1: create snapshot 'base' (offline)",
        'shut down: c1-db, c1-gw; forced off after their grace period: c1-db',
        'started: c1-gw, c1-db, c1-web',
        'c1-gw (VM gw): had it already',
        'c1-db (VM db): taken (disks only)',
        'c1-web (VM web): taken (disks only)']
    assert snapshot.summary(decision, check_mode=True) == [
        "Check mode, nothing changed. Cluster c1: create snapshot 'base' (offline)",
        'c1-gw (VM gw): had it already', 'c1-db (VM db): would be taken', 'c1-web (VM web): would be taken']


def test_create_when_every_vm_has_it_does_nothing():
    req = snapshot.request(PLAN, 'base', 'create')
    info = {'domains': [dom(name, True, ['base']) for name in req['domains']]}
    decision = snapshot.decide(req, info, {'results': [would(name) for name in req['domains']]})
    assert decision['targets'] == [] and not decision['stop'] and not decision['start'] and decision['plan'] == []
    assert snapshot.summary(decision, {'skipped': True, 'results': []}, {'skipped': True}, {'skipped': True}) == [
        "Cluster c1: create snapshot 'base' (offline)", 'nothing to do: every VM has it',
        'c1-gw (VM gw): had it already', 'c1-db (VM db): had it already', 'c1-web (VM web): had it already']


def test_create_live_keeps_the_cluster_running_and_takes_the_memory():
    req = snapshot.request(PLAN, 'base', 'create', True)
    info = {'domains': [dom(name, True) for name in req['domains']]}
    decision = snapshot.decide(req, info, {'results': [would(name, ['create']) for name in req['domains']]})
    assert decision['targets'] == ['c1-gw', 'c1-db', 'c1-web'] and not decision['stop'] and not decision['start']
    assert decision['plan'] == ["take snapshot 'base' of c1-gw, c1-db, c1-web (with its memory where the VM runs "
                                "(libvirt pauses it meanwhile), disks only where it is shut off)"]
    done = {'results': [{'item': name, 'actions': ['create'], 'snapshot': {'exists': True, 'memory': True}}
                        for name in req['domains']]}
    lines = snapshot.summary(decision, done)
    assert lines[0] == "Cluster c1: create snapshot 'base' (live)"
    assert lines[1:] == ['c1-gw (VM gw): taken (with memory)', 'c1-db (VM db): taken (with memory)',
                         'c1-web (VM web): taken (with memory)']


def test_create_and_revert_need_every_domain_and_list_every_refusal():
    for action in ('create', 'revert'):
        req = snapshot.request(PLAN, 'base', action)
        info = {'domains': [dom('c1-gw'), dom('c1-web')], 'missing': ['c1-db']}
        checks = {'results': [refused('c1-gw', "domain 'c1-gw' boots UEFI firmware from pflash with NVRAM"),
                              refused('c1-web', "domain 'c1-web': only qcow2 disks can hold one; not vdb (raw)")]}
        decision = snapshot.decide(snapshot.decide(req, info), info, checks)
        assert decision['problems'] == [
            'VM c1-db (VM db): its domain does not exist (provision the cluster first, with strata.libvirt.provision); '
            'a snapshot of the cluster is taken or reverted on every VM or none',
            "VM c1-gw (VM gw): domain 'c1-gw' boots UEFI firmware from pflash with NVRAM",
            "VM c1-web (VM web): domain 'c1-web': only qcow2 disks can hold one; not vdb (raw)"], action
        assert decision['plan'] == [] and decision['targets'] == []


def test_revert_stops_reverts_every_vm_and_starts_the_cluster():
    req = snapshot.request(PLAN, 'base', 'revert')
    info = {'domains': [dom(name, True, ['base']) for name in req['domains']]}
    decision = snapshot.decide(req, info, {'results': [would(name, ['revert']) for name in req['domains']]})
    assert decision['targets'] == req['domains'] and decision['stop'] and decision['start']
    assert decision['plan'][1] == ("revert c1-gw, c1-db, c1-web to snapshot 'base' (disks as the snapshot has them, "
                                   "left shut off)")
    assert decision['plan'][0] == 'shut the whole cluster down, last tier first: c1-web, c1-db, c1-gw'
    lines = snapshot.summary(decision, {'results': [{'item': name, 'actions': ['revert']} for name in req['domains']]},
                             {'stopped': ['c1-web', 'c1-db', 'c1-gw']}, {'started': ['c1-gw', 'c1-db', 'c1-web']})
    assert lines[3:] == ['c1-gw (VM gw): reverted (its disks as the snapshot has them)',
                         'c1-db (VM db): reverted (its disks as the snapshot has them)',
                         'c1-web (VM web): reverted (its disks as the snapshot has them)']


def test_delete_skips_missing_domains_and_never_stops():
    req = snapshot.request(PLAN, 'base', 'delete')
    info = {'domains': [dom('c1-gw', True, ['base']), dom('c1-web')], 'missing': ['c1-db']}
    decision = snapshot.decide(req, info, {'results': [would('c1-gw', ['delete']), would('c1-web')]})
    assert decision['problems'] == [] and decision['targets'] == ['c1-gw'] and not decision['stop']
    assert decision['plan'] == ["delete snapshot 'base' of c1-gw"]
    assert snapshot.summary(decision, {'results': [{'item': 'c1-gw', 'changed': True, 'actions': ['delete']}]})[1:] == [
        'c1-gw (VM gw): deleted', 'c1-db (VM db): no domain, skipped', 'c1-web (VM web): did not have it']


def test_a_failed_change_is_named_in_the_summary():
    req = snapshot.request(PLAN, 'base', 'delete')
    info = {'domains': [dom(name, False, ['base']) for name in req['domains']]}
    decision = snapshot.decide(req, info, {'results': [would(name, ['delete']) for name in req['domains']]})
    done = {'results': [{'item': 'c1-gw', 'actions': ['delete'], 'changed': True},
                        {'item': 'c1-db', 'failed': True, 'msg': 'libvirt said no'}]}
    assert snapshot.summary(decision, done)[1:] == ['c1-gw (VM gw): deleted', 'c1-db (VM db): not done (libvirt said no)',
                                                    'c1-web (VM web): not done (the run stopped before it)']


def test_list_shows_each_vm_and_its_snapshots():
    info = {'domains': [dom('c1-gw', True, ['base', 'later']), dom('c1-db')], 'missing': ['c1-web']}
    everything = snapshot.decide(snapshot.request(PLAN, '', 'list'), info)
    assert snapshot.summary(everything, info=info) == [
        'Cluster c1: the snapshots of each VM',
        'c1-gw (VM gw) [running]: base (2026-12-02T10:12:03Z, shut off, disks only); '
        'later (2026-12-02T10:12:03Z, shut off, disks only, current)',
        'c1-db (VM db) [shut off]: no snapshot',
        'c1-web (VM web): no domain']
    one = snapshot.decide(snapshot.request(PLAN, 'later', 'list'), info)
    assert snapshot.summary(one, info=info)[:3] == [
        "Cluster c1: the snapshot 'later' of each VM",
        'c1-gw (VM gw) [running]: later (2026-12-02T10:12:03Z, shut off, disks only, current)',
        "c1-db (VM db) [shut off]: no snapshot 'later'"]


def test_a_domain_named_as_its_vm_is_named_once():
    plan = _plan.build(dict(CLUSTER, domain_prefix=''), IMAGE_MAP, {})
    info = {'domains': [dom('gw')], 'missing': ['db', 'web']}
    lines = snapshot.summary(snapshot.decide(snapshot.request(plan, '', 'list'), info), info=info)
    assert lines[1:] == ['gw [shut off]: no snapshot', 'db: no domain', 'web: no domain']


def test_the_filters_and_their_docs():
    assert sorted(FILTERS) == ['cluster_snapshot_decide', 'cluster_snapshot_request', 'cluster_snapshot_summary']
    here = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'plugins', 'filter')
    for name in FILTERS:
        with open(os.path.join(here, '%s.yml' % name)) as handle:
            doc = yaml.safe_load(handle)
        assert doc['DOCUMENTATION']['name'] == name and doc['EXAMPLES'] and doc['RETURN'], name
    req = FILTERS['cluster_snapshot_request'](PLAN, 'base', 'create', False)
    decision = FILTERS['cluster_snapshot_decide'](req, {'domains': []}, {})
    assert decision['targets'] == [] and len(decision['problems']) == 3
    assert FILTERS['cluster_snapshot_summary'](decision, None, None, None, False, None)[0].startswith('Cluster c1: ')
    with pytest.raises(AnsibleFilterError):
        FILTERS['cluster_snapshot_request']('not a plan', 'base', 'create')

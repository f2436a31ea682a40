# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A cluster over several hypervisors: the whole plan, its placement from each host's facts, and each host's plan
(its VMs, the remote VMs its VMs wait for, the modules' options), and the teardown's tiers."""

import copy

from ansible_collections.strata.libvirt.plugins.module_utils._cluster import placed, plan, teardown
from ansible_collections.strata.libvirt.plugins.module_utils._startup import spec as startup_spec

KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKpc8QXeQS+7Sa9RPnbtTb86sZDiDouKCQQOJn2NJVXS test'
IMAGE_MAP = {'default_label': 'lab', 'images': {'lab': {'source': 'http://h/lab.qcow2', 'checksum': 'none'}}}
HOSTS = ['hv1', 'hv2']
CLUSTER = {
    'name': 'mh', 'virt_type': 'qemu', 'ssh_public_keys': [KEY],
    'networks': [{'name': 'lan', 'external': True, 'bridge': 'br-lan', 'cidr': '10.9.0.0/24', 'gateway': '10.9.0.1'}],
    'anti_affinity': {'front': ['gateway', 'web']},
    'vms': [{'name': 'gateway', 'ip': '10.9.0.21', 'memory': '1G',
             'probes': [{'type': 'running'}, {'type': 'http', 'url': 'http://{address}:8080/'}]},
            {'name': 'web', 'ip': '10.9.0.22', 'memory': '512M', 'after': ['gateway']},
            {'name': 'app', 'ip': '10.9.0.23', 'memory': '512M', 'after': ['web']},
            {'name': 'worker', 'ip': '10.9.0.24', 'memory': '256M'}]}
FACTS = {'hv1': {'free_mib': 4000, 'cpus': 2, 'domains': []}, 'hv2': {'free_mib': 3000, 'cpus': 2, 'domains': []}}


def whole(cluster=None):
    return plan.build(cluster or CLUSTER, IMAGE_MAP, {'hosts': HOSTS})


def of_host(where, host, cluster=None):
    return plan.build(cluster or CLUSTER, IMAGE_MAP, {'hosts': HOSTS, 'placement': where, 'host_name': host})


def test_the_whole_plan_is_placed_and_kept_where_domains_are():
    p = whole()
    assert p['problems'] == [] and p['multi_host'] is True and p['placement'] == 'spread'
    result = placed.place(p, FACTS)
    assert result['problems'] == []
    assert result['placement']['gateway'] != result['placement']['web']
    assert result['placement'] == {'gateway': 'hv1', 'web': 'hv2', 'app': 'hv1', 'worker': 'hv2'}
    # hv2 now has far more free memory, but the VMs defined on hv1 stay there
    facts = copy.deepcopy(FACTS)
    facts['hv2']['free_mib'] = 64000
    facts['hv1']['domains'] = ['mh-gateway', 'mh-app', 'not-ours']
    facts['hv2']['domains'] = ['mh-web', 'mh-worker']
    assert placed.place(p, facts)['placement'] == result['placement']
    assert placed.place(p, dict(FACTS, hv2=dict(FACTS['hv2'], free_mib=64000)))['placement']['app'] == 'hv2'


def test_problems_before_any_change():
    p = whole()
    nowhere = placed.place(p, {'hv1': {'free_mib': 600, 'cpus': 2, 'domains': []},
                               'hv2': {'free_mib': 600, 'cpus': 2, 'domains': []}})
    assert any(text.startswith("vms 'gateway': no hypervisor can take it (needs 1024 MiB") for text in nowhere['problems'])
    twice = placed.place(p, dict(FACTS, hv1=dict(FACTS['hv1'], domains=['mh-web']), hv2=dict(FACTS['hv2'], domains=['mh-web'])))
    assert "vms 'web': its domain mh-web is defined on hv1 and on hv2; remove one of them" in twice['problems']
    blind = placed.place(p, {'hv1': FACTS['hv1']})
    assert blind['problems'][0] == ('placement: no facts (free memory, CPUs) of hv2, so gateway, web, app, worker cannot '
                                    'be placed: a hypervisor of the cluster is not in this play (--limit) or failed before')
    bad = dict(CLUSTER, placement='wide', vms=[dict(CLUSTER['vms'][0], host='hv9')] + CLUSTER['vms'][1:])
    problems = whole(bad)['problems']
    assert "placement: 'wide'; use one of spread, pack" in problems
    assert "vms 'gateway': host 'hv9' is not one of the hypervisors (hv1, hv2)" in problems


def test_each_host_plan_has_its_vms_and_waits_for_the_remote_ones_by_network_probes():
    where = {'gateway': 'hv1', 'web': 'hv2', 'app': 'hv1', 'worker': 'hv2'}
    one, two = of_host(where, 'hv1'), of_host(where, 'hv2')
    assert one['problems'] == [] and two['problems'] == []
    assert [vm['name'] for vm in one['vms']] == ['gateway', 'app']
    assert [vm['name'] for vm in two['vms']] == ['web', 'worker']
    assert [vm['hypervisor'] for vm in one['all_vms']] == ['hv1', 'hv2', 'hv1', 'hv2']
    # hv1 runs app, which waits for web on hv2, which waits for gateway (here): web is a remote entry
    startup = dict((e['name'], e) for e in one['params']['startup']['vms'])
    assert sorted(startup) == ['mh-app', 'mh-gateway', 'mh-web']
    assert startup['mh-web']['remote'] == 'hv2' and startup['mh-web']['address'] == '10.9.0.22'
    assert 'remote' not in startup['mh-gateway'] and 'remote' not in startup['mh-app']
    two_startup = dict((e['name'], e) for e in two['params']['startup']['vms'])
    assert sorted(two_startup) == ['mh-gateway', 'mh-web', 'mh-worker']
    # only the probe that goes through the network is kept for the remote gateway
    assert two_startup['mh-gateway']['probes'] == [{'type': 'http', 'url': 'http://{address}:8080/'}]
    # every module option is the host's own: its domains, volumes, and the startup the engine accepts
    assert [item['name'] for item in two['params']['domains']['items']] == ['mh-web', 'mh-worker']
    assert two['params']['cluster_info']['domains'] == ['mh-web', 'mh-worker']
    config = startup_spec.normalize(dict(two['params']['startup'], state='started'))
    assert [vm['name'] for vm in config['vms'] if vm['remote']] == ['mh-gateway']
    assert two['memory_mib'] == 768


def test_a_remote_dependency_that_only_the_other_host_can_probe_is_a_problem():
    cluster = copy.deepcopy(CLUSTER)
    cluster['vms'][0]['probes'] = [{'type': 'agent'}]
    where = {'gateway': 'hv1', 'web': 'hv2', 'app': 'hv1', 'worker': 'hv2'}
    problems = of_host(where, 'hv2', cluster)['problems']
    assert problems == ["vms 'gateway': it runs on hv1 and web on another host depend(s) on it, which wait for it "
                        "through the network: give it a probe of type tcp, ssh, http, command (it has agent)"]
    assert of_host(where, 'hv1', cluster)['problems'] == []   # hv1 waits for gateway itself


def test_one_host_is_as_before():
    p = plan.build(CLUSTER, IMAGE_MAP, {'hosts': ['hv1'], 'host_name': 'hv1'})
    assert p['multi_host'] is False and [vm['hypervisor'] for vm in p['vms']] == ['hv1'] * 4
    assert 'remote' not in str(p['params']['startup'])


def test_the_teardown_stops_tier_by_tier_last_first_with_this_hosts_domains():
    p = whole()
    objects = {'marked': {'domains': ['mh-gateway', 'mh-app'], 'networks': [], 'pools': [], 'volumes': []},
               'objects': {}, 'foreign': []}
    tiers = teardown.teardown(p, objects)['stop_tiers']
    assert [t['tier'] for t in tiers] == [2, 1, 0]
    assert [t['vms'] for t in tiers] == [[{'name': 'mh-app'}], [], [{'name': 'mh-gateway'}]]
    assert tiers[1]['names'] == ['web']
    single = plan.build(CLUSTER, IMAGE_MAP, {'hosts': ['hv1']})
    assert teardown.teardown(single, objects)['stop_tiers'] == []


def test_a_host_the_placement_gave_no_vm_has_an_empty_plan_without_problems():
    where = {'gateway': 'hv1', 'web': 'hv2', 'app': 'hv1', 'worker': 'hv2'}
    three = plan.build(CLUSTER, IMAGE_MAP, {'hosts': HOSTS + ['hv3'], 'placement': where, 'host_name': 'hv3'})
    assert three['problems'] == [] and three['vms'] == [] and three['params'] == {}
    assert three['startup_vms'] == [] and len(three['all_vms']) == 4
    stale = plan.build(CLUSTER, IMAGE_MAP, {'hosts': HOSTS, 'placement': {'gateway': 'hv1'}, 'host_name': 'hv1'})
    assert "vms 'web': the placement does not place it (it was made for another definition)" in stale['problems']


def test_tiers_order_across_hosts_too():
    cluster = copy.deepcopy(CLUSTER)
    cluster['anti_affinity'] = None
    cluster['vms'] = [{'name': 'db', 'ip': '10.9.0.30', 'tier': 0, 'probes': [{'type': 'tcp', 'port': 5432}]},
                      {'name': 'web', 'ip': '10.9.0.31', 'tier': 1},
                      {'name': 'cache', 'ip': '10.9.0.32', 'tier': 0}]
    where = {'db': 'hv1', 'web': 'hv2', 'cache': 'hv2'}
    two = plan.build(cluster, IMAGE_MAP, {'hosts': HOSTS, 'placement': where, 'host_name': 'hv2'})
    assert two['problems'] == []
    startup = dict((e['name'], e) for e in two['params']['startup']['vms'])
    # web (tier 1) waits for every tier-0 VM, db on hv1 too
    assert sorted(startup) == ['mh-cache', 'mh-db', 'mh-web'] and startup['mh-db']['remote'] == 'hv1'
    assert startup['mh-db']['tier'] == 0 and startup['mh-web']['tier'] == 1
    one = plan.build(cluster, IMAGE_MAP, {'hosts': HOSTS, 'placement': where, 'host_name': 'hv1'})
    assert [e['name'] for e in one['params']['startup']['vms']] == ['mh-db']


def test_the_tier_by_tier_stop_keeps_each_vms_grace():
    cluster = copy.deepcopy(CLUSTER)
    cluster['vms'][0]['grace'] = 7
    p = plan.build(cluster, IMAGE_MAP, {'hosts': HOSTS})
    objects = {'marked': {'domains': ['mh-gateway'], 'networks': [], 'pools': [], 'volumes': []}, 'objects': {},
               'foreign': []}
    assert teardown.teardown(p, objects)['stop_tiers'][-1]['vms'] == [{'name': 'mh-gateway', 'grace': 7}]

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A routed network split over several hypervisors (segments): each host's view of it, the VMs pinned by their
addresses, the routes to the other hosts' segments, and the problems, before any change."""

import copy

from ansible_collections.strata.libvirt.plugins.module_utils._cluster import placed, plan

KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKpc8QXeQS+7Sa9RPnbtTb86sZDiDouKCQQOJn2NJVXS test'
IMAGE_MAP = {'default_label': 'lab', 'images': {'lab': {'source': 'http://h/lab.qcow2', 'checksum': 'none'}}}
HOSTS = ['hv1', 'hv2']
CLUSTER = {
    'name': 'mh', 'virt_type': 'qemu', 'ssh_public_keys': [KEY],
    'networks': [{'name': 'seg', 'mode': 'route', 'segments': {'hv1': '10.251.1.0/24', 'hv2': '10.251.2.0/24'}}],
    'vms': [{'name': 'gateway', 'ip': '10.251.1.10', 'probes': [{'type': 'http', 'url': 'http://{address}/'}]},
            {'name': 'web', 'ip': '10.251.2.10', 'after': ['gateway']},
            {'name': 'cache', 'ip': '10.251.2.11'}]}
FACTS = {'hv1': {'free_mib': 4000, 'cpus': 2, 'domains': []}, 'hv2': {'free_mib': 9000, 'cpus': 2, 'domains': []}}


def build(host, cluster=None, placement=None):
    options = {'hosts': HOSTS, 'host_name': host}
    if placement:
        options['placement'] = placement
    return plan.build(cluster or CLUSTER, IMAGE_MAP, options)


def test_each_host_makes_its_segment_and_routes_the_others():
    for host, cidr, other, other_cidr in (('hv1', '10.251.1.0/24', 'hv2', '10.251.2.0/24'),
                                          ('hv2', '10.251.2.0/24', 'hv1', '10.251.1.0/24')):
        whole = build(host)
        assert whole['problems'] == []
        assert whole['networks'][0]['cidr'] == cidr and whole['networks'][0]['mode'] == 'route'
        assert whole['segment_routes'] == [{'network': 'seg', 'cidr': other_cidr, 'host': other}]
        # the VMs are pinned by their addresses, whatever the free memory says
        assert [(vm['name'], vm['host']) for vm in whole['vms']] == [('gateway', 'hv1'), ('web', 'hv2'), ('cache', 'hv2')]
        result = placed.place(whole, FACTS)
        assert result['problems'] == [] and result['placement'] == {'gateway': 'hv1', 'web': 'hv2', 'cache': 'hv2'}
        mine = build(host, placement=result['placement'])
        assert mine['problems'] == []
        net = mine['params']['networks']['items'][0]
        prefix = cidr.rsplit('.', 1)[0]
        assert net['address'] == prefix + '.1/24' and net['forward'] == 'route'
        assert all(h['ip'].startswith(prefix + '.') for h in net['hosts']) and net['hosts']


def test_the_problems_name_the_field():
    cluster = copy.deepcopy(CLUSTER)
    cluster['networks'][0].update(mode='nat', cidr='10.251.0.0/16', segments={'hv1': '10.251.1.0/24', 'hv3': 'nope'})
    cluster['vms'][1]['ip'] = '10.251.9.10'
    cluster['vms'][2]['host'] = 'hv1'
    problems = build('hv1', cluster)['problems']
    where = "networks[0] 'seg'"
    assert "%s.segments: needs mode route (the hosts route each other's segments), not nat" % where in problems
    assert '%s: give cidr or segments, not both' % where in problems
    assert any(p.startswith("%s.segments.hv3: 'nope' is not an IPv4 subnet" % where) for p in problems)
    assert "%s.segments: 'hv3' is not one of the hypervisors (hv1, hv2)" % where in problems
    assert "%s.segments: no segment for hypervisor 'hv2' (segments: hv1, hv3)" % where in problems
    assert "vms 'web': ip 10.251.9.10 on network 'seg' is in none of its segments (hv1 10.251.1.0/24)" in problems
    overlap = copy.deepcopy(CLUSTER)
    overlap['networks'][0]['segments'] = {'hv1': '10.251.0.0/16', 'hv2': '10.251.2.0/24'}
    assert "%s.segments: hv2 (10.251.2.0/24) overlaps hv1 (10.251.0.0/16)" % where in build('hv1', overlap)['problems']
    pinned = copy.deepcopy(CLUSTER)
    pinned['vms'][2]['host'] = 'hv1'
    assert ("vms 'cache': host hv1, but its ip 10.251.2.11 is in the segment of hv2 on network 'seg'"
            in build('hv1', pinned)['problems'])
    one = plan.build(CLUSTER, IMAGE_MAP, {'hosts': ['hv1'], 'host_name': 'hv1'})['problems']
    assert 'networks: segments split a network over several hypervisors; this play has hv1' in one

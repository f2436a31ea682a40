# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The placement of a cluster's VMs across hypervisors: the definition's placement keys, spread and pack, pinned
and kept VMs, anti-affinity, the problems, the plan's table, a large cluster (no libvirt needed)."""

import copy
import random
import time

from ansible_collections.strata.libvirt.plugins.module_utils._cluster import placement


def vm(name, memory, vcpus=1, host=None):
    return {'name': name, 'memory_mib': memory, 'vcpus': vcpus, 'host': host}


def hv(name, memory, cpus=4):
    return {'name': name, 'memory_mib': memory, 'cpus': cpus}


def where(result):
    assert result['problems'] == [], result['problems']
    return result['placement']


# -- validate ------------------------------------------------------------------------------------------------------

def test_a_sound_definition_has_no_placement_problems():
    cluster = {'placement': 'pack', 'anti_affinity': {'db': ['db1', 'db2']},
               'vms': [{'name': 'db1', 'host': 'a'}, {'name': 'db2'}, {'name': 'web', 'host': None}]}
    assert placement.validate(cluster, ['db1', 'db2', 'web'], ['a', 'b']) == []
    assert placement.validate({'vms': [{'name': 'web'}]}, ['web'], ['a']) == []
    assert placement.validate({'placement': 'spread', 'anti_affinity': [['db1', 'db2']]}, ['db1', 'db2'], ['a', 'b']) == []


def test_validate_names_each_field():
    cluster = {'placement': 'wide',
               'anti_affinity': {'db': ['web', 'db9']},
               'vms': [{'name': 'web', 'host': 'c'}, {'name': 'db', 'host': 5}]}
    assert placement.validate(cluster, ['web', 'db'], ['a', 'b']) == [
        "placement: 'wide'; use one of spread, pack",
        "vms 'web': host 'c' is not one of the hypervisors (a, b)",
        "vms 'db': host 5 is not one of the hypervisors (a, b)",
        "anti_affinity.db: names unknown VM 'db9' (VMs: web, db)",
    ]


def test_validate_anti_affinity_groups():
    names = ['a1', 'a2', 'a3', 'web']
    check = placement.validate
    assert check({'anti_affinity': {'db': ['a1', 'a2', 'a3']}}, names, ['a', 'b']) == [
        'anti_affinity.db: 3 VMs that must be on different hosts, but there are only 2 hypervisors (a, b)']
    assert check({'anti_affinity': {'db': ['a1', 'a2']}}, names, ['a']) == [
        'anti_affinity.db: 2 VMs that must be on different hosts, but there are only 1 hypervisor (a)']
    assert check({'anti_affinity': {'db': ['a1']}}, names, ['a', 'b']) == [
        'anti_affinity.db: names 1 VM; a group needs at least 2']
    assert check({'anti_affinity': {'db': ['a1', 'a1']}}, names, ['a', 'b']) == [
        "anti_affinity.db: names 'a1' twice", 'anti_affinity.db: names 1 VM; a group needs at least 2']
    assert check({'anti_affinity': {'db': 'a1'}}, names, ['a', 'b']) == [
        "anti_affinity.db: a list of at least 2 VM names, got 'a1'"]
    assert check({'anti_affinity': {'db': ['a1', {'x': 1}]}}, names, ['a', 'b']) == [
        "anti_affinity.db: {'x': 1} is not a VM name", 'anti_affinity.db: names 1 VM; a group needs at least 2']
    assert check({'anti_affinity': 'a1'}, names, ['a']) == [
        "anti_affinity: a dict of group name -> VM names, or a list of such lists; got 'a1'"]
    assert check({'anti_affinity': {1: ['a1', 'a2']}}, names, ['a', 'b']) == [
        'anti_affinity: group name 1 is not a string']
    # a list of lists: its groups are group1, group2...
    assert check({'anti_affinity': [['a1', 'a2'], ['a3', 'nope']]}, names, ['a', 'b']) == [
        "anti_affinity.group2: names unknown VM 'nope' (VMs: a1, a2, a3, web)"]


def test_validate_two_pinned_members_of_a_group_on_one_host():
    cluster = {'anti_affinity': {'db': ['web', 'db', 'x']},
               'vms': [{'name': 'web', 'host': 'a'}, {'name': 'db', 'host': 'a'}, {'name': 'x', 'host': 'b'}]}
    assert placement.validate(cluster, ['web', 'db', 'x'], ['a', 'b', 'c']) == [
        'anti_affinity.db: web and db are both pinned to host a']
    cluster['vms'][2]['host'] = 'a'
    assert placement.validate(cluster, ['web', 'db', 'x'], ['a', 'b', 'c']) == [
        'anti_affinity.db: web, db and x are all pinned to host a']


def test_validate_without_hypervisors():
    assert placement.validate({}, ['a', 'b'], []) == ['placement: no hypervisor to place the 2 VMs on']
    assert placement.validate({}, [], []) == []


def test_anti_affinity_groups_of_a_list_are_numbered():
    assert placement.anti_affinity_groups([['a', 'b'], ['c', 'd', 'c']]) == {'group1': ['a', 'b'], 'group2': ['c', 'd']}
    assert placement.anti_affinity_groups({'db': ['a', 'b']}) == {'db': ['a', 'b']}
    assert placement.anti_affinity_groups(None) == {}


# -- spread and pack ---------------------------------------------------------------------------------------------

VMS = [vm('x', 2048), vm('y', 1024), vm('z', 512)]
HOSTS = [hv('a', 4096), hv('b', 3072)]


def test_spread_takes_the_host_with_most_free_memory_left():
    result = placement.place(VMS, HOSTS)
    assert where(result) == {'x': 'a', 'y': 'b', 'z': 'a'}
    assert result['reasons'] == dict.fromkeys(['x', 'y', 'z'], 'spread: most free memory')


def test_pack_takes_the_fullest_host_that_still_fits():
    result = placement.place(VMS, HOSTS, 'pack')
    assert where(result) == {'x': 'b', 'y': 'b', 'z': 'a'}
    assert result['reasons'] == dict.fromkeys(['x', 'y', 'z'], 'pack: least free memory that fits')


def test_the_largest_vm_is_placed_first():
    # in definition order the two small VMs would take a share of both hosts and leave no room for big
    vms = [vm('small1', 1024), vm('small2', 1024), vm('big', 2048)]
    assert where(placement.place(vms, [hv('a', 2048), hv('b', 2048)])) == {'small1': 'b', 'small2': 'b', 'big': 'a'}


def test_equal_memory_keeps_definition_order():
    # both 1024: first comes first, and takes a (most free, first in host order)
    assert where(placement.place([vm('one', 1024), vm('two', 1024)], [hv('a', 2048), hv('b', 2048)])) == \
        {'one': 'a', 'two': 'b'}
    assert where(placement.place([vm('two', 1024), vm('one', 1024)], [hv('a', 2048), hv('b', 2048)])) == \
        {'two': 'a', 'one': 'b'}


def test_spread_ties_go_to_fewer_vcpus_per_cpu_then_host_order():
    # kept VMs take no memory: a and b have the same free memory, a has more vCPUs per CPU
    vms = [vm('old', 1024, vcpus=2), vm('new', 1024)]
    result = placement.place(vms, [hv('a', 4096, cpus=2), hv('b', 4096, cpus=2)], existing={'old': 'a'})
    assert where(result)['new'] == 'b'
    # per CPU, not per host: 2 vCPUs on 8 CPUs is less loaded than 1 on 2
    vms = [vm('old1', 1024, vcpus=2), vm('old2', 1024, vcpus=1), vm('new', 1024)]
    result = placement.place(vms, [hv('a', 4096, cpus=2), hv('b', 4096, cpus=8)], existing={'old1': 'b', 'old2': 'a'})
    assert where(result)['new'] == 'b'
    # equal load: host order
    assert where(placement.place([vm('new', 1024)], [hv('b', 4096), hv('a', 4096)])) == {'new': 'b'}


def test_pack_ties_go_by_host_order():
    assert where(placement.place([vm('new', 1024)], [hv('b', 4096), hv('a', 4096)], 'pack')) == {'new': 'b'}


def test_a_host_needs_at_least_the_vms_vcpus_as_cpus():
    result = placement.place([vm('wide', 1024, vcpus=4)], [hv('a', 8192, cpus=2), hv('b', 2048, cpus=4)])
    assert where(result) == {'wide': 'b'}
    result = placement.place([vm('wide', 1024, vcpus=4)], [hv('a', 8192, cpus=2)])
    assert result['problems'] == ["vms 'wide': no hypervisor can take it (needs 1024 MiB, 4 vCPUs; free after the VMs "
                                  "placed before it: a 8192 MiB; too few CPUs: a (2))"]


def test_unknown_cpus_are_no_limit():
    result = placement.place([vm('wide', 1024, vcpus=4)], [hv('a', 2048, cpus=None), hv('b', 8192, cpus=0)])
    assert where(result) == {'wide': 'b'}
    assert placement.describe(result)[1] == 'b: wide (7168 of 8192 MiB free, 4 vCPUs, CPUs unknown)'


def test_an_unknown_strategy_is_a_problem_and_spreads():
    result = placement.place(VMS, HOSTS, 'wide')
    assert result['problems'] == ["placement: 'wide'; use one of spread, pack"]
    assert result['placement'] == {'x': 'a', 'y': 'b', 'z': 'a'}


# -- anti-affinity -------------------------------------------------------------------------------------------------

def test_anti_affinity_keeps_members_apart_and_others_free():
    vms = [vm('db1', 1024), vm('db2', 1024), vm('web', 1024)]
    hosts = [hv('a', 8192), hv('b', 8192)]
    assert where(placement.place(vms, hosts, 'pack')) == {'db1': 'a', 'db2': 'a', 'web': 'a'}
    assert where(placement.place(vms, hosts, 'pack', {'db': ['db1', 'db2']})) == {'db1': 'a', 'db2': 'b', 'web': 'a'}


def test_anti_affinity_counts_every_group_of_a_vm():
    vms = [vm('p', 1024), vm('q', 1024), vm('r', 1024)]
    hosts = [hv('a', 8192), hv('b', 8192), hv('c', 8192)]
    groups = {'g1': ['p', 'r'], 'g2': ['q', 'r']}
    assert where(placement.place(vms, hosts, 'pack', groups)) == {'p': 'a', 'q': 'a', 'r': 'b'}
    groups = {'g1': ['p', 'r'], 'g2': ['q', 'r'], 'g3': ['p', 'q']}
    assert where(placement.place(vms, hosts, 'pack', groups)) == {'p': 'a', 'q': 'b', 'r': 'c'}


def test_a_vm_that_fits_nowhere_is_one_problem_and_the_others_are_placed():
    vms = [vm('primary', 2048), vm('db', 2048, vcpus=2), vm('huge', 9999), vm('small', 256)]
    result = placement.place(vms, [hv('a', 3072), hv('b', 512)], anti_affinity={'db': ['primary', 'db']})
    assert result['problems'] == [
        "vms 'huge': no hypervisor can take it (needs 9999 MiB, 1 vCPU; free after the VMs placed before it: a 3072 MiB, "
        "b 512 MiB)",
        "vms 'db': no hypervisor can take it (needs 2048 MiB, 2 vCPUs; free after the VMs placed before it: a 1024 MiB, "
        "b 512 MiB; anti-affinity group db excludes a)"]
    assert result['placement'] == {'primary': 'a', 'small': 'a'}
    assert result['unplaced'] == ['db', 'huge']
    assert placement.describe(result)[-1] == 'no hypervisor: db, huge (see the problems)'


def test_no_hypervisor_at_all():
    result = placement.place([vm('a', 512)], [])
    assert result['problems'] == ['placement: no hypervisor to place the 1 VM on'] and result['placement'] == {}


# -- pinned ------------------------------------------------------------------------------------------------------

def test_pinned_vms_take_their_memory_first():
    # b would be the tightest fit for x, but the pinned VM took 1024 of its 4000 MiB
    vms = [vm('x', 3584), vm('p', 1024, host='b')]
    result = placement.place(vms, [hv('a', 4096), hv('b', 4000)], 'pack')
    assert where(result) == {'x': 'a', 'p': 'b'}
    assert result['reasons']['p'] == 'pinned (host:)'
    assert [(h['name'], h['left_mib']) for h in result['hosts']] == [('a', 512), ('b', 2976)]


def test_pinned_vms_come_before_the_others_whatever_their_size():
    # unpinned first, pack would put x on b and leave the pinned VM without room there
    vms = [vm('x', 2048), vm('p', 2048, host='b')]
    assert where(placement.place(vms, [hv('a', 3072), hv('b', 2048)], 'pack')) == {'x': 'a', 'p': 'b'}


def test_a_pinned_vm_that_does_not_fit_is_a_problem():
    vms = [vm('db', 1024, host='a'), vm('web', 2048, host='a')]
    result = placement.place(vms, [hv('a', 2048), hv('b', 8192)])
    assert result['problems'] == ["vms 'web': pinned to host a, needs 2048 MiB, but a has 1024 MiB free (after the VMs "
                                  "placed before it)"]
    assert result['placement'] == {'db': 'a', 'web': 'a'}


def test_a_pinned_vm_on_an_unknown_host():
    result = placement.place([vm('web', 512, host='c')], [hv('a', 2048), hv('b', 2048)])
    assert result['problems'] == ["vms 'web': host 'c' is not one of the hypervisors (a, b)"]
    assert result['placement'] == {}


def test_pinned_members_of_a_group_on_one_host():
    vms = [vm('web', 512, host='a'), vm('db', 512, host='a')]
    result = placement.place(vms, [hv('a', 2048), hv('b', 2048)], anti_affinity={'db': ['web', 'db']})
    assert result['problems'] == ['anti_affinity.db: web and db are both pinned to host a']


def test_an_unpinned_member_avoids_its_pinned_partner():
    vms = [vm('db1', 512, host='b'), vm('db2', 512)]
    hosts = [hv('a', 2048), hv('b', 4096)]
    assert where(placement.place(vms, hosts))['db2'] == 'b'
    assert where(placement.place(vms, hosts, anti_affinity={'db': ['db1', 'db2']}))['db2'] == 'a'


# -- kept where the domain exists ----------------------------------------------------------------------------------

def test_an_existing_domain_stays_even_where_a_fresh_placement_would_not_put_it():
    vms = [vm('web', 2048), vm('x', 512)]
    hosts = [hv('a', 512), hv('b', 8192)]   # a's free memory is what web (running there) left
    assert where(placement.place(vms, hosts, 'pack'))['web'] == 'b'
    result = placement.place(vms, hosts, 'pack', existing={'web': 'a'})
    # web's memory is not taken again from a: x still fits there, the tightest fit
    assert where(result) == {'web': 'a', 'x': 'a'}
    assert result['reasons'] == {'web': 'kept (its domain exists there)', 'x': 'pack: least free memory that fits'}
    assert result['hosts'][0] == {'name': 'a', 'vms': ['web', 'x'], 'memory_mib': 2560, 'free_mib': 512, 'left_mib': 0,
                                  'cpus': 4, 'vcpus': 2}


def test_an_existing_domain_is_not_moved_by_its_anti_affinity_partner():
    vms = [vm('db1', 4096), vm('db2', 512)]
    hosts = [hv('a', 8192), hv('b', 1024)]
    result = placement.place(vms, hosts, anti_affinity={'db': ['db1', 'db2']}, existing={'db2': 'a'})
    assert result['problems'] == ["vms 'db1': no hypervisor can take it (needs 4096 MiB, 1 vCPU; free after the VMs "
                                  "placed before it: a 8192 MiB, b 1024 MiB; anti-affinity group db excludes a)"]
    assert result['placement'] == {'db2': 'a'}


def test_an_existing_domain_pinned_elsewhere_is_a_problem():
    result = placement.place([vm('web', 512, host='b')], [hv('a', 2048), hv('b', 2048)], existing={'web': 'a'})
    assert result['problems'] == ["vms 'web': host b, but its domain exists on a; remove it there first (unprovision or "
                                  "prune) to move it"]
    assert result['placement'] == {'web': 'a'}
    # pinned where it exists: kept, no problem
    result = placement.place([vm('web', 512, host='a')], [hv('a', 0), hv('b', 2048)], existing={'web': 'a'})
    assert where(result) == {'web': 'a'} and result['reasons']['web'] == 'kept (its domain exists there)'


def test_an_existing_domain_on_a_host_that_is_no_hypervisor():
    result = placement.place([vm('web', 512)], [hv('a', 2048)], existing={'web': 'old'})
    assert result['problems'] == ["vms 'web': its domain exists on old, which is not one of the hypervisors (a); "
                                  "remove it there first (unprovision or prune) to move it"]
    assert result['placement'] == {} and result['unplaced'] == ['web']


def test_existing_members_of_a_group_on_one_host_are_a_problem():
    vms = [vm('db1', 512), vm('db2', 512), vm('db3', 512, host='a')]
    hosts = [hv('a', 2048), hv('b', 2048), hv('c', 2048)]
    result = placement.place(vms, hosts, anti_affinity={'db': ['db1', 'db2']}, existing={'db1': 'a', 'db2': 'a'})
    assert result['problems'] == ['anti_affinity.db: db1 and db2 both have their domain on host a; remove one there '
                                  'first (unprovision or prune) to move it']
    result = placement.place(vms, hosts, anti_affinity={'db': ['db1', 'db3']}, existing={'db1': 'a'})
    assert result['problems'] == ['anti_affinity.db: db1 and db3 are both on host a (kept where the domain exists: db1; '
                                  'pinned: db3)']


def test_existing_vms_outside_the_definition_are_ignored():
    assert where(placement.place([vm('web', 512)], [hv('a', 2048)], existing={'gone': 'a'})) == {'web': 'a'}


# -- the result and its table ------------------------------------------------------------------------------------

def test_hosts_and_describe():
    vms = [vm('gateway', 512), vm('db', 2048, vcpus=2, host='a'), vm('web', 1024)]
    hosts = [hv('a', 4096, cpus=2), hv('b', 1024, cpus=1), {'name': 'c', 'memory_mib': 0, 'cpus': None}]
    result = placement.place(vms, hosts)
    # db pinned to a; web (larger) next: most free is a (2048); gateway: a and b have 1024 left, b fewer vCPUs per CPU
    assert where(result) == {'gateway': 'b', 'db': 'a', 'web': 'a'}
    assert result['hosts'] == [
        {'name': 'a', 'vms': ['db', 'web'], 'memory_mib': 3072, 'free_mib': 4096, 'left_mib': 1024, 'cpus': 2, 'vcpus': 3},
        {'name': 'b', 'vms': ['gateway'], 'memory_mib': 512, 'free_mib': 1024, 'left_mib': 512, 'cpus': 1, 'vcpus': 1},
        {'name': 'c', 'vms': [], 'memory_mib': 0, 'free_mib': 0, 'left_mib': 0, 'cpus': None, 'vcpus': 0}]
    assert placement.describe(result) == [
        'a: db, web (1024 of 4096 MiB free, 3 vCPUs on 2 CPUs)',
        'b: gateway (512 of 1024 MiB free, 1 vCPU on 1 CPU)',
        'c: no VMs (0 of 0 MiB free, 0 vCPUs, CPUs unknown)']


def test_placement_is_deterministic_and_leaves_its_input_alone():
    rng = random.Random(7)
    vms = [vm('vm%d' % i, rng.choice([512, 1024, 2048]), rng.choice([1, 2])) for i in range(60)]
    hosts = [hv('h%d' % i, 16384, cpus=8) for i in range(6)]
    groups = {'g': ['vm1', 'vm2', 'vm3'], 'h': ['vm3', 'vm4']}
    before = copy.deepcopy((vms, hosts, groups))
    for strategy in placement.STRATEGIES:
        first = placement.place(vms, hosts, strategy, groups)
        assert first == placement.place(copy.deepcopy(vms), copy.deepcopy(hosts), strategy, copy.deepcopy(groups))
        assert first['problems'] == []
    assert (vms, hosts, groups) == before


def test_spread_balances_and_pack_fills():
    vms = [vm('vm%d' % i, 1024) for i in range(8)]
    hosts = [hv('h%d' % i, 8192) for i in range(4)]
    assert [len(h['vms']) for h in placement.place(vms, hosts)['hosts']] == [2, 2, 2, 2]
    assert [len(h['vms']) for h in placement.place(vms, hosts, 'pack')['hosts']] == [8, 0, 0, 0]


def test_two_thousand_vms_over_a_hundred_hosts():
    rng = random.Random(2000)
    vms = [vm('vm%d' % i, rng.randint(1, 8) * 512, rng.choice([1, 1, 2, 4])) for i in range(2000)]
    hosts = [hv('h%02d' % i, rng.choice([65536, 98304]), cpus=rng.choice([16, 32])) for i in range(100)]
    groups = {'db': ['vm%d' % i for i in range(0, 40, 4)], 'web': ['vm%d' % i for i in range(1, 200, 10)]}
    for strategy in placement.STRATEGIES:
        start = time.perf_counter()
        result = placement.place(vms, hosts, strategy, groups)
        assert time.perf_counter() - start < 5.0
        assert result['problems'] == [] and len(result['placement']) == 2000
        memory = dict((v['name'], v['memory_mib']) for v in vms)
        for host, given in zip(result['hosts'], hosts):
            assert sum(memory[name] for name in host['vms']) == host['memory_mib'] <= given['memory_mib']
            assert host['left_mib'] == given['memory_mib'] - host['memory_mib'] >= 0
        for v in vms:
            assert v['vcpus'] <= hosts[int(result['placement'][v['name']][1:])]['cpus']
        for members in groups.values():
            assert len(set(result['placement'][m] for m in members)) == len(members)
    spread = placement.place(vms, hosts, 'spread', groups)['hosts']
    packed = placement.place(vms, hosts, 'pack', groups)['hosts']
    assert sum(1 for h in packed if h['vms']) < sum(1 for h in spread if h['vms']) == 100

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cluster definition of the roles: validation (every problem at once), the resolved plan, the summary."""


import copy

import pytest

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import definition
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import plan as planner
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import summary
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import teardown
from ansible_collections.strata.libvirt.tests.unit.plugins.module_utils.certs import CA_PEM

KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKpc8QXeQS+7Sa9RPnbtTb86sZDiDouKCQQOJn2NJVXS test'
PEM = CA_PEM

IMAGE_MAP = {
    'default_label': 'lab',
    'aliases': {'debian': 'lab'},
    'sizes': {'tiny': {'vcpus': 1, 'memory': '512M', 'disk': '4G'}},
    'images': {
        'lab': {'source': 'http://127.0.0.1:8088/strata-debian-12.qcow2',
                'checksum': 'sha256:http://127.0.0.1:8088/SHA256SUMS', 'login_user': 'debian', 'size': 'tiny'},
        'other': {'source': 'http://127.0.0.1:8088/other.qcow2.zst', 'checksum': 'none'},
    },
}

CLUSTER = {
    'name': 'strata-t',
    'virt_type': 'qemu',
    'image': 'debian',
    'network': {'cidr': '10.250.0.0/24', 'domain': 't.test', 'dhcp_range': {'start': '10.250.0.100', 'end': '10.250.0.199'}},
    'ssh_public_keys': [KEY],
    'ca_certificate': PEM,
    'user_data': {'runcmd': [['touch', '/etc/cluster']]},
    'vms': [
        {'name': 'gateway', 'ip': '10.250.0.10', 'tier': 0,
         'probes': [{'type': 'http', 'url': 'http://{address}/'}, {'type': 'ssh', 'user': 'strata'}],
         'user_data': {'runcmd': [['touch', '/etc/gw']], 'packages': ['nginx']}},
        {'name': 'web1', 'ip': '10.250.0.11', 'tier': 1, 'size': 'small', 'groups': ['web']},
        {'name': 'db1', 'ip': '10.250.0.12', 'after': ['gateway'], 'vcpus': 2, 'memory': 768, 'disk': '6G',
         'mac': '52:54:00:AA:BB:CC'},
        {'name': 'late', 'ip': '10.250.0.13', 'after': ['web1', 'db1'], 'image': 'other'},
    ],
}


def resolved(definition, image_map, options=None):
    """The plan of a sound definition."""
    plan = planner.build(definition, image_map, options)
    assert plan['problems'] == [], plan['problems']
    return plan


def cluster(**changes):
    result = copy.deepcopy(CLUSTER)
    result.update(changes)
    return result


def test_mac_is_derived_deterministically():
    assert definition.derive_mac('strata-t', 'web1') == definition.derive_mac('strata-t', 'web1')
    assert definition.derive_mac('strata-t', 'web1') != definition.derive_mac('strata-u', 'web1')
    assert definition.derive_mac('strata-t', 'web1').startswith('52:54:00:')


def test_plan_resolves_everything():
    plan = resolved(cluster(), IMAGE_MAP, {'probe_key_file': '/keys/id'})
    assert plan['pool'] == {'name': 'strata-t', 'path': '/var/lib/libvirt/strata/strata-t'}
    assert plan['network']['name'] == 'strata-t-net' and plan['network']['address'] == '10.250.0.1/24'
    assert plan['inventory_group'] == 'strata_t' and plan['user'] == 'debian' and plan['type'] == 'qemu'
    assert plan['machine'] == 'q35'
    vms = dict((vm['name'], vm) for vm in plan['vms'])
    assert vms['gateway']['domain'] == 'strata-t-gateway' and vms['gateway']['fqdn'] == 'gateway.t.test'
    assert (vms['gateway']['vcpus'], vms['gateway']['memory_mib'], vms['gateway']['disk_bytes']) == (1, 512, 4 * 1024 ** 3)
    assert (vms['web1']['vcpus'], vms['web1']['memory_mib']) == (1, 1024)
    assert (vms['db1']['vcpus'], vms['db1']['memory_mib'], vms['db1']['disk_bytes']) == (2, 768, 6 * 1024 ** 3)
    assert vms['db1']['mac'] == '52:54:00:aa:bb:cc' and vms['web1']['mac'] == definition.derive_mac('strata-t', 'web1')
    assert vms['gateway']['tcg_tb_cache'] == 128
    # cluster user_data first, the VM's merged over it (lists appended)
    assert vms['gateway']['user_data']['runcmd'] == [['touch', '/etc/cluster'], ['touch', '/etc/gw']]
    assert vms['web1']['user_data'] == {'runcmd': [['touch', '/etc/cluster']]}
    # tiers are the engine's topological levels
    assert [t['names'] for t in plan['tiers']] == [['gateway'], ['web1', 'db1'], ['late']]
    assert vms['late']['tier'] == 2
    startup = dict((vm['name'], vm) for vm in plan['startup_vms'])
    assert startup['strata-t-late']['after'] == ['strata-t-web1', 'strata-t-db1']
    assert startup['strata-t-gateway']['address'] == '10.250.0.10'
    # default probe: an SSH login with the key on the hypervisor; a given ssh probe gets that key too
    assert startup['strata-t-web1']['probes'] == [{'type': 'ssh', 'user': 'debian', 'key_file': '/keys/id'}]
    assert startup['strata-t-gateway']['probes'][1]['key_file'] == '/keys/id'
    assert [i['label'] for i in plan['images']] == ['lab', 'other']
    assert vms['late']['base_volume'] == 'other.qcow2'
    assert plan['ca_certs'] == [PEM.strip()]
    assert plan['network_hosts'][0] == {'name': 'gateway', 'mac': vms['gateway']['mac'], 'ip': '10.250.0.10'}


def test_default_dhcp_range_is_the_upper_half():
    plan = resolved(cluster(network={'cidr': '10.250.0.0/24'}), IMAGE_MAP)
    assert plan['network']['dhcp_range'] == {'start': '10.250.0.128', 'end': '10.250.0.254'}


def test_every_problem_at_once():
    bad = cluster(
        name='bad name',
        image='nope',
        surprise=1,
        network={'cidr': '10.250.0.0/24', 'dhcp_range': {'start': '10.250.0.100', 'end': '10.250.0.199'}},
        ssh_public_keys=['not a key'],
        vms=[
            {'name': 'a', 'ip': '10.250.0.10', 'image': 'lab', 'size': 'huge'},
            {'name': 'a', 'ip': '10.250.0.10', 'image': 'lab'},
            {'name': 'b', 'ip': '10.251.0.5', 'image': 'lab', 'mac': '52:54:00:00:00:01'},
            {'name': 'c', 'ip': '10.250.0.150', 'image': 'lab', 'mac': '52:54:00:00:00:01'},
            {'name': 'd', 'ip': '10.250.0.20', 'image': 'lab', 'tier': 1, 'after': ['a']},
            {'name': 'E_bad', 'ip': '10.250.0.1', 'image': 'lab'},
            {'name': 'f', 'ip': '10.250.0.21', 'image': 'lab', 'probes': [{'type': 'http'}]},
        ])
    found = planner.problems(bad, IMAGE_MAP)
    text = '\n'.join(found)
    for expected in ("invalid cluster name 'bad name'",
                     "unknown key(s) surprise",
                     "unknown image label 'nope'",
                     "unknown size 'huge'",
                     "the name 'a' is given twice",
                     "ip 10.250.0.10 is given twice",
                     "10.251.0.5 is outside the usable addresses of network.cidr 10.250.0.0/24",
                     "10.250.0.150 is inside the DHCP range 10.250.0.100 - 10.250.0.199",
                     "mac 52:54:00:00:00:01 is used twice",
                     "give either tier or after, not both",
                     "invalid VM name 'E_bad'",
                     "is the network's gateway",
                     "an http probe needs a url",
                     "does not look like an OpenSSH public key"):
        assert expected in text, (expected, found)
    assert planner.build(bad, IMAGE_MAP)['problems'] == found


def test_dependency_cycle_and_unknown_after():
    vms = [{'name': 'a', 'ip': '10.250.0.10', 'after': ['b']}, {'name': 'b', 'ip': '10.250.0.11', 'after': ['a']}]
    found = planner.problems(cluster(vms=vms), IMAGE_MAP)
    assert any('dependency cycle' in p for p in found), found
    vms = [{'name': 'a', 'ip': '10.250.0.10', 'after': ['zz']}]
    found = planner.problems(cluster(vms=vms), IMAGE_MAP)
    assert any("after names unknown VM 'zz'" in p for p in found), found


def test_memory_beyond_the_host():
    host = {'memory_total_mib': 1024, 'memory_available_mib': 512, 'running': []}
    found = planner.problems(cluster(), IMAGE_MAP, {'host': host})
    assert any('more than the host has (1024 MiB)' in p for p in found), found
    host = {'memory_total_mib': 65536, 'memory_available_mib': 1000, 'running': ['strata-t-web1', 'strata-t-db1']}
    found = planner.problems(cluster(), IMAGE_MAP, {'host': host})
    # gateway 512 + late 1024 (small default) still to start
    assert any('need 1536 MiB, the host has 1000 MiB available' in p for p in found), found
    host['memory_available_mib'] = 2000
    assert planner.problems(cluster(), IMAGE_MAP, {'host': host}) == []


def test_keys_may_come_from_the_role_or_be_waived():
    assert any('ssh_public_keys' in p for p in planner.problems(cluster(ssh_public_keys=[]), IMAGE_MAP))
    assert planner.problems(cluster(ssh_public_keys=[]), IMAGE_MAP, {'extra_ssh_public_keys': [KEY]}) == []
    assert planner.problems(cluster(ssh_public_keys=[]), IMAGE_MAP, {'require_keys': False}) == []


def test_bad_network_and_ca():
    found = planner.problems(cluster(network={'cidr': '10.250.0.0/30'}, ca_certificate='nope'), IMAGE_MAP)
    assert any('too small' in p for p in found) and any('not a PEM certificate' in p for p in found), found
    found = planner.problems(cluster(network={'cidr': 'x'}), IMAGE_MAP)
    assert any("network.cidr: 'x'" in p for p in found), found
    found = planner.problems(cluster(network={'cidr': '10.250.0.0/24', 'mode': 'bridge',
                                              'dhcp_range': {'start': '10.250.0.1', 'end': '10.250.1.5'}}), IMAGE_MAP)
    text = '\n'.join(found)
    assert "network.mode: 'bridge'" in text and 'dhcp_range.end: 10.250.1.5 is outside' in text
    assert 'contains the gateway 10.250.0.1' in text


def test_not_a_dict():
    assert planner.problems('x', IMAGE_MAP) == ['the cluster definition must be a dict (strata_cluster), got str']
    assert any('give at least one VM' in p for p in planner.problems(cluster(vms=[]), IMAGE_MAP))


def test_small_vms_get_a_small_translation_cache():
    vms = [{'name': 'a', 'ip': '10.250.0.10', 'memory': 256}, {'name': 'b', 'ip': '10.250.0.11', 'tcg_tb_cache': 32}]
    plan = resolved(cluster(vms=vms), IMAGE_MAP)
    assert [vm['tcg_tb_cache'] for vm in plan['vms']] == [64, 32]
    plan = resolved(cluster(vms=vms, tcg_tb_cache=96), IMAGE_MAP)
    assert [vm['tcg_tb_cache'] for vm in plan['vms']] == [96, 32]


def test_virt_type_auto_takes_the_hosts_choice():
    assert resolved(cluster(virt_type='auto'), IMAGE_MAP)['type'] == 'auto'
    assert resolved(cluster(virt_type='auto'), IMAGE_MAP, {'virt_type': 'kvm'})['type'] == 'kvm'
    assert any("virt_type: 'xen'" in p for p in planner.problems(cluster(virt_type='xen'), IMAGE_MAP))


def test_stop_vms_uses_tiers_of_what_is_there():
    plan = resolved(cluster(), IMAGE_MAP)
    assert teardown.stop_vms(plan, ['strata-t-late', 'strata-t-gateway']) == [
        {'name': 'strata-t-gateway', 'tier': 0}, {'name': 'strata-t-late', 'tier': 2}]
    assert len(teardown.stop_vms(plan)) == 4


def test_params_are_each_modules_options():
    plan = resolved(cluster(vms=[dict(CLUSTER['vms'][0], grace=5), CLUSTER['vms'][2]]), IMAGE_MAP)
    gw, db1 = plan['vms']
    params = plan['params']
    assert params['volumes'] == {
        'pool': 'strata-t', 'format': 'qcow2', 'cluster': 'strata-t', 'items': [
            {'name': 'strata-t-gateway.qcow2', 'backing_volume': 'strata-debian-12.qcow2', 'capacity': str(4 * 1024 ** 3)},
            {'name': 'strata-t-db1.qcow2', 'backing_volume': 'strata-debian-12.qcow2', 'capacity': str(6 * 1024 ** 3)}]}
    seeds = params['seeds']['items']
    assert seeds[0] == {'volume': 'strata-t-gateway-seed.iso', 'hostname': 'gateway', 'fqdn': 'gateway.t.test',
                        'user_data': gw['user_data']}
    assert seeds[1]['user_data'] == {'runcmd': [['touch', '/etc/cluster']]}
    assert params['seeds']['ca_certs'] == [PEM.strip()] and params['seeds']['ssh_authorized_keys'] == [KEY]
    domains = params['domains']['items']
    assert domains[1] == {
        'name': 'strata-t-db1', 'memory': 768, 'vcpus': 2, 'tcg_tb_cache': 128,
        'disks': [{'volume': 'strata-t/strata-t-db1.qcow2'},
                  {'volume': 'strata-t/strata-t-db1-seed.iso', 'bus': 'virtio', 'format': 'raw', 'readonly': True}],
        'interfaces': [{'network': 'strata-t-net', 'mac': '52:54:00:aa:bb:cc'}],
        'console_log': db1['console_log'], 'shutdown_timeout': plan['startup']['grace']}
    assert domains[0]['shutdown_timeout'] == 5 and domains[0]['interfaces'][0]['mac'] == gw['mac']
    assert params['domains']['type'] == 'qemu' and params['domains']['machine'] == 'q35'
    assert params['pool'] == {'name': 'strata-t', 'path': '/var/lib/libvirt/strata/strata-t', 'mode': '0711',
                              'state': 'running', 'autostart': True, 'cluster': 'strata-t'}
    assert params['networks']['items'][0]['hosts'] == plan['network_hosts'] and params['networks']['items'][0]['forward'] == 'nat'
    assert params['startup']['vms'] == plan['startup_vms'] and 'uri' not in params['startup']
    # the translation cache is a TCG setting: a KVM cluster's domains do not get it
    kvm = resolved(cluster(virt_type='kvm'), IMAGE_MAP)
    assert all('tcg_tb_cache' not in item for item in kvm['params']['domains']['items'])
    # with virt_type auto the domains wait for the host's choice
    auto = resolved(cluster(virt_type='auto'), IMAGE_MAP)
    assert auto['params']['domains'] is None
    decided = planner.set_virt_type(auto, 'qemu')
    assert decided['type'] == 'qemu' and decided['params']['domains']['items'][0]['tcg_tb_cache'] == 128
    assert auto['type'] == 'auto'  # the plan given is not changed
    with pytest.raises(StrataError, match='virt_type must be kvm or qemu'):
        planner.set_virt_type(auto, 'xen')


def test_uri_goes_to_every_module():
    plan = resolved(cluster(uri='qemu+ssh://root@hv1/system'), IMAGE_MAP)
    assert all(plan['params'][key]['uri'] == 'qemu+ssh://root@hv1/system'
               for key in ('pool', 'networks', 'volumes', 'seeds', 'domains', 'startup'))


def test_resolve_images():
    assert [i['label'] for i in planner.resolve_images(IMAGE_MAP)] == ['lab']
    assert [i['label'] for i in planner.resolve_images(IMAGE_MAP, ['debian', 'lab', 'other'])] == ['lab', 'other']
    with pytest.raises(StrataError, match="unknown image label 'x'"):
        planner.resolve_images(IMAGE_MAP, ['x'])


def test_summary_table():
    plan = resolved(cluster(), IMAGE_MAP)
    results = [
        {'run_started_at': '2026-11-21T14:00:00.000Z', 'vms': {
            'strata-t-gateway': {'action': 'start', 'status': 'ready', 'timeline': [
                {'event': 'start issued (started)', 'at': '2026-11-21T14:00:01.000Z'},
                {'event': 'ready', 'at': '2026-11-21T14:00:41.400Z'}]}}},
        {'run_started_at': '2026-11-21T14:00:42.000Z', 'tiers': [{'tier': 1, 'vms': ['strata-t-web1', 'strata-t-db1']}], 'vms': {
            'strata-t-gateway': {'action': 'none', 'status': 'not started', 'timeline': []},
            'strata-t-web1': {'action': 'none', 'status': 'ready', 'timeline': [{'event': 'ready', 'at': 'x'}]},
            'strata-t-db1': {'action': 'start', 'status': 'failed', 'timeline': []}}},
        {'skipped': True},
    ]
    lines = summary.summary(plan, results)
    assert lines[0].split() == ['NAME', 'TIER', 'IP', 'VCPUS', 'MEMORY', 'STATE', 'READY']
    assert set(lines[1]) <= set('- ')
    assert lines[2].split() == ['gateway', '0', '10.250.0.10', '1', '512', 'MiB', 'ready', 'after', '41', 's']
    assert lines[3].split() == ['web1', '1', '10.250.0.11', '1', '1', 'GiB', 'ready', 'already', 'running']
    assert lines[4].split()[-2:] == ['failed', '-']
    assert lines[5].split()[-2:] == ['unknown', '-']
    check = summary.summary(plan, [{'vms': {'strata-t-gateway': {'action': 'start'}}}], check_mode=True)
    assert check[2].split()[-3:] == ['would', 'start', '-'] and check[3].split()[-2:] == ['planned', '-']


def test_summary_without_a_start_shows_each_domains_state_after_the_build():
    plan = resolved(cluster(), IMAGE_MAP)
    built = [{'item': 'strata-t-gateway', 'domain': {'name': 'strata-t-gateway', 'exists': True, 'state': 'shut off'}},
             {'item': 'strata-t-web1', 'domain': {'name': 'strata-t-web1', 'exists': True, 'state': 'running'}},
             {'item': 'strata-t-db1', 'domain': {'name': 'strata-t-db1', 'exists': False}}]
    lines = summary.summary(plan, [], built=built)
    assert lines[2].split()[-3:] == ['shut', 'off', '-']
    assert lines[3].split()[-2:] == ['running', '-']
    assert lines[4].split()[-2:] == ['unknown', '-']  # no domain to show: the build did not make it
    # what the startup reported wins over the build's state
    started = summary.summary(plan, [{'vms': {'strata-t-gateway': {'action': 'start', 'status': 'ready'}}}], built=built)
    assert started[2].split()[-2:] == ['ready', '-']


def test_default_probes_of_the_cluster():
    plan = resolved(cluster(default_probes=[{'type': 'ssh', 'user': 'strata'}, {'type': 'cloud_init'}]), IMAGE_MAP,
                    {'probe_key_file': '/k'})
    startup = dict((vm['name'], vm) for vm in plan['startup_vms'])
    assert startup['strata-t-web1']['probes'] == [{'type': 'ssh', 'user': 'strata', 'key_file': '/k'}, {'type': 'cloud_init'}]
    assert startup['strata-t-gateway']['probes'][0]['type'] == 'http'  # its own probes win
    found = planner.problems(cluster(default_probes=[{'type': 'tcp'}]), IMAGE_MAP)
    assert any('a tcp probe needs a port' in p for p in found), found


def test_resources_that_no_vm_can_have():
    found = planner.problems(cluster(vms=[{'name': 'a', 'ip': '10.250.0.10', 'memory': 0},
                                          {'name': 'b', 'ip': '10.250.0.11', 'vcpus': 0}]), IMAGE_MAP)
    assert "vms[0] 'a': memory: 0 must be greater than 0 (a plain number is MiB)" in found, found
    assert "vms[1] 'b': vcpus 0 is not a positive integer" in found, found


def test_a_missing_cidr_is_required():
    found = planner.problems(cluster(network={'domain': 't.test'}), IMAGE_MAP)
    assert 'network.cidr: required, the IPv4 subnet of the network such as 10.250.0.0/24' in found, found


def test_the_modules_own_checks_run_on_their_options():
    # a bare-number disk of 0 passes the definition's size rules only to be refused by the volume module's own code
    plan = planner.build(cluster(vms=[{'name': 'a', 'ip': '10.250.0.10'}]), IMAGE_MAP)
    assert plan['problems'] == []
    bad = dict(plan, networks=[dict(plan['networks'][0], address='10.250.0.1')])
    found = params_check(bad)
    assert any(p.startswith('module network, items[0]: ') and 'address' in p for p in found), found


def params_check(plan):
    from ansible_collections.strata.libvirt.plugins.module_utils._cluster import params
    return params.check(params.module_params(plan))


def test_an_open_virtualisation_type_still_checks_the_domains():
    bad = cluster(virt_type='auto', console_log_dir='logs')
    found = planner.problems(bad, IMAGE_MAP)
    assert any(p.startswith('module domain, items[0]: ') and 'console_log' in p for p in found), found
    plan = planner.build(bad, IMAGE_MAP)
    assert plan['params_problems'] and set(plan['params_problems']) <= set(plan['problems'])
    assert planner.set_virt_type(plan, 'kvm')['problems'] == plan['problems']


def test_booleans_as_ansible_reads_them():
    plan = resolved(cluster(autostart='yes', network=dict(CLUSTER['network'], autostart='false')), IMAGE_MAP)
    assert plan['autostart'] is True and plan['network']['autostart'] is False
    assert plan['params']['networks']['items'][0]['autostart'] is False
    found = planner.problems(cluster(autostart='maybe'), IMAGE_MAP)
    assert "autostart: 'maybe' is not a boolean (true or false)" in found


def test_a_missing_key_is_kept_apart_unless_required():
    plan = planner.build(cluster(ssh_public_keys=[]), IMAGE_MAP, {'require_keys': False})
    assert plan['problems'] == [] and plan['key_problems'] == [definition.NO_KEY]
    assert plan['params']['seeds']['ssh_authorized_keys'] == []
    assert planner.build(cluster(ssh_public_keys=[]), IMAGE_MAP)['problems'] == [definition.NO_KEY]
    assert resolved(cluster(), IMAGE_MAP, {'inputs_digest': 'abc'})['inputs_digest'] == 'abc'


def test_odd_values_are_problems_not_crashes():
    odd = cluster(image=['x'])
    odd[1] = 'a key that is a number'
    found = planner.problems(odd, IMAGE_MAP)
    assert "image: ['x'] is not an image label" in found, found
    assert any(p.startswith('strata_cluster: unknown key(s) 1 ') for p in found), found
    found = planner.problems(cluster(vms=[{'name': 'a', 'ip': '10.250.0.10', 'image': {'x': 1}}]), IMAGE_MAP)
    assert found == ["vms[0] 'a': image: {'x': 1} is not an image label"], found

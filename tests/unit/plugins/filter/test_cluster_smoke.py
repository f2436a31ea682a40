# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The smoke tests of a cluster definition (strata_cluster.smoke, vms[].smoke): every rule, one case a row (the change
to a sound definition and its exact message), the plan's resolved `smoke` list, and the results in the summary."""

import copy

import pytest

from ansible_collections.strata.libvirt.plugins.filter import cluster as cluster_filters
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import definition
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import plan as planner
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import smoke
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import summary

KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKpc8QXeQS+7Sa9RPnbtTb86sZDiDouKCQQOJn2NJVXS test'
IMAGE_MAP = {'default_label': 'lab', 'sizes': {'tiny': {'vcpus': 1, 'memory': '512M', 'disk': '4G'}},
             'images': {'lab': {'source': 'http://127.0.0.1:8088/lab.qcow2', 'checksum': 'none', 'size': 'tiny'}}}
BASE = {
    'name': 'sm', 'virt_type': 'qemu', 'ssh_public_keys': [KEY],
    'networks': [{'name': 'sm-net', 'cidr': '10.250.0.0/24'}, {'name': 'default', 'external': True}],
    'vms': [{'name': 'web1', 'ip': '10.250.0.11'}, {'name': 'db1', 'ip': '10.250.0.12', 'tier': 1},
            {'name': 'agent1', 'connection': 'libvirt_qemu', 'nics': [{'network': 'default', 'dhcp': True}]}],
}


def top(**changes):
    out = copy.deepcopy(BASE)
    out.update(changes)
    return out


def vm(index, **changes):
    out = copy.deepcopy(BASE)
    out['vms'][index].update(changes)
    return out


def problems_of(definition_, options=None):
    return planner.build(definition_, IMAGE_MAP, options)['problems']


def resolved(definition_, options=None):
    plan = planner.build(definition_, IMAGE_MAP, options)
    assert plan['problems'] == [], plan['problems']
    return plan


CASES = [
    ('not a list', top(smoke={'command': 'true'}), 'smoke: must be a list of checks, each a dict with command or probe'),
    ('item not a dict', top(smoke=['true']), "smoke[0]: must be a dict with command or probe, got 'true'"),
    ('unknown key', top(smoke=[{'command': 'true', 'expect': 'x', 'become': True}]),
     'smoke[0]: unknown key(s) become, expect (known: command, probe, name, timeout, vm, vms)'),
    ('neither', top(smoke=[{'name': 'nothing'}]), 'smoke[0]: give command (run in the guest) or probe (from the hypervisor)'),
    ('both', top(smoke=[{'command': 'true', 'probe': {'type': 'running'}}]), 'smoke[0]: give either command or probe, not both'),
    ('empty command', top(smoke=[{'command': ' '}]), 'smoke[0].command: must be a non-empty string'),
    ('command list', top(smoke=[{'command': ['true']}]), 'smoke[0].command: must be a non-empty string'),
    ('name', top(smoke=[{'command': 'true', 'name': ''}]), 'smoke[0].name: must be a non-empty string'),
    ('name type', top(smoke=[{'command': 'true', 'name': 5}]), 'smoke[0].name: must be a non-empty string'),
    ('timeout text', top(smoke=[{'command': 'true', 'timeout': 'long'}]), "smoke[0].timeout: 'long' is not a number"),
    ('timeout 0', top(smoke=[{'command': 'true', 'timeout': 0}]), 'smoke[0].timeout: 0 must be at least 1'),
    ('probe type', top(smoke=[{'probe': {'type': 'ping'}}]),
     "smoke[0].probe.type: unknown probe type 'ping'; use one of running, agent, tcp, ssh, http, cloud_init, command"),
    ('probe not a dict', top(smoke=[{'probe': 'http'}]), "smoke[0].probe: a probe must be a dict with a type, got 'http'"),
    ('probe option', top(smoke=[{'probe': {'type': 'tcp', 'port': 80, 'url': 'http://x/'}}]),
     'smoke[0].probe: url does not apply to probe type tcp (it takes interval, host, port)'),
    ('probe tcp port', top(smoke=[{'probe': {'type': 'tcp'}}]), 'smoke[0].probe: a tcp probe needs a port'),
    ('vm unknown', top(smoke=[{'command': 'true', 'vm': 'web9'}]), 'smoke[0].vm: no VM named web9 (VMs: web1, db1, agent1)'),
    ('vm not a name', top(smoke=[{'command': 'true', 'vm': ['web1']}]),
     "smoke[0].vm: no VM named ['web1'] (VMs: web1, db1, agent1)"),
    ('vms unknown', top(smoke=[{'command': 'true', 'vms': ['web1', 'web9']}]),
     'smoke[0].vms[1]: no VM named web9 (VMs: web1, db1, agent1)'),
    ('vms empty', top(smoke=[{'command': 'true', 'vms': []}]), 'smoke[0].vms: must be a list of VM names'),
    ('vms text', top(smoke=[{'command': 'true', 'vms': 'web1'}]), 'smoke[0].vms: must be a list of VM names'),
    ('vm and vms', top(smoke=[{'command': 'true', 'vm': 'web1', 'vms': ['db1']}]), 'smoke[0]: give vm or vms, not both'),
    # a VM's own
    ('vm: not a list', vm(1, smoke='true'), "vms[1] 'db1': smoke: must be a list of checks, each a dict with command or probe"),
    ('vm: item not a dict', vm(1, smoke=[None]), "vms[1] 'db1': smoke[0]: must be a dict with command or probe, got None"),
    ('vm: vm key', vm(1, smoke=[{'command': 'true', 'vm': 'web1'}]),
     "vms[1] 'db1': smoke[0]: unknown key(s) vm (known: command, probe, name, timeout)"),
    ('vm: empty command', vm(1, smoke=[{'command': 'true'}, {'command': ''}]),
     "vms[1] 'db1': smoke[1].command: must be a non-empty string"),
    ('vm: timeout', vm(0, smoke=[{'command': 'true', 'timeout': -5}]), "vms[0] 'web1': smoke[0].timeout: -5 must be at least 1"),
    ('vm: probe', vm(0, smoke=[{'probe': {'type': 'http'}}]),
     "vms[0] 'web1': smoke[0].probe: an http probe needs a url (it may contain {address})"),
    ('vm without a name', vm(0, name=None, smoke=[{'command': ''}]), 'vms[0]: smoke[0].command: must be a non-empty string'),
]


@pytest.mark.parametrize('definition_, message', [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_every_rule_names_the_field(definition_, message):
    assert message in problems_of(definition_)


def test_the_startup_modules_own_checks_of_a_probe():
    found = problems_of(top(smoke=[{'probe': {'type': 'http', 'url': 'http://{address}/', 'validate_certs': 'maybe'}}]))
    assert len(found) == 1
    assert found[0].startswith("module startup, smoke[0]: argument 'validate_certs' is of type str found in 'vms -> probes'."
                               " and we were unable to convert to bool: The value 'maybe' is not a valid boolean."), found
    # a teardown does not weigh them (they are the plan's params_problems)
    assert planner.build(top(smoke=[{'probe': {'type': 'http', 'url': 'http://x/', 'validate_certs': 'maybe'}}]),
                         IMAGE_MAP)['params_problems'] == found


def test_every_problem_at_once():
    found = problems_of(top(smoke=[{'command': ''}, {'command': 'true', 'vm': 'web9'}, {'probe': {'type': 'ping'}}],
                            vms=[dict(BASE['vms'][0], smoke=[{'nothing': 1}]), BASE['vms'][1], BASE['vms'][2]]))
    assert found == [
        'smoke[0].command: must be a non-empty string',
        'smoke[1].vm: no VM named web9 (VMs: web1, db1, agent1)',
        "smoke[2].probe.type: unknown probe type 'ping'; use one of running, agent, tcp, ssh, http, cloud_init, command",
        "vms[0] 'web1': smoke[0]: unknown key(s) nothing (known: command, probe, name, timeout)",
        "vms[0] 'web1': smoke[0]: give command (run in the guest) or probe (from the hypervisor)",
    ]


def test_smoke_is_a_key_of_the_definition_and_of_a_vm():
    assert 'smoke' in definition.CLUSTER_KEYS and 'smoke' in definition.VM_KEYS
    assert definition.DEFAULTS['smoke_timeout'] == 60
    assert resolved(BASE)['smoke'] == []


def test_the_plan_resolves_one_flat_list_in_the_definitions_order():
    plan = resolved(top(
        uri='qemu:///system',
        smoke=[{'command': 'systemctl is-active ssh'},
               {'name': 'web answers', 'probe': {'type': 'http', 'url': 'http://{address}/', 'body': 'ok'}, 'vm': 'web1',
                'timeout': 20},
               {'probe': {'type': 'agent'}, 'vms': ['agent1', 'db1', 'agent1']}],
        vms=[BASE['vms'][0], dict(BASE['vms'][1], smoke=[{'command': 'pg_isready\n  -q', 'timeout': 5.5}]), BASE['vms'][2]]))
    shown = [(c['index'], c['vm'], c['kind'], c['check'], c['timeout']) for c in plan['smoke']]
    assert shown == [
        (0, 'web1', 'command', 'command: systemctl is-active ssh', 60),
        (1, 'db1', 'command', 'command: systemctl is-active ssh', 60),
        (2, 'agent1', 'command', 'command: systemctl is-active ssh', 60),
        (3, 'web1', 'probe', 'web answers (probe: http http://10.250.0.11/)', 20),
        (4, 'agent1', 'probe', 'probe: agent (guest-ping)', 60),
        (5, 'db1', 'probe', 'probe: agent (guest-ping)', 60),
        (6, 'db1', 'command', 'command: pg_isready -q', 5.5),
    ]
    assert plan['smoke'][0] == {
        'index': 0, 'where': 'smoke[0]', 'kind': 'command', 'label': None, 'vm': 'web1', 'host': 'web1',
        'domain': 'sm-web1', 'timeout': 60, 'command': 'systemctl is-active ssh',
        'argv': ['timeout', '-k', '5', '60', 'sh', '-c', 'systemctl is-active ssh'],
        'check': 'command: systemctl is-active ssh'}
    assert plan['smoke'][6]['argv'] == ['timeout', '-k', '5', '5.5', 'sh', '-c', 'pg_isready\n  -q']
    assert plan['smoke'][6]['where'] == "vms[1] 'db1': smoke[0]"
    probe = {'type': 'http', 'url': 'http://{address}/', 'body': 'ok', 'status': [200], 'validate_certs': True}
    assert plan['smoke'][3] == {
        'index': 3, 'where': 'smoke[1]', 'kind': 'probe', 'label': 'web answers', 'vm': 'web1', 'host': 'web1',
        'domain': 'sm-web1', 'timeout': 20, 'probe': probe,
        'startup': {'vms': [{'name': 'sm-web1', 'address': '10.250.0.11', 'timeout': 20, 'probes': [probe]}]},
        'check': 'web answers (probe: http http://10.250.0.11/)'}
    # a VM without an address (guest agent): the startup engine finds it, as for its own probes
    assert plan['smoke'][4]['startup'] == {'vms': [{'name': 'sm-agent1', 'timeout': 60, 'probes': [{'type': 'agent'}]}]}


def test_a_login_probe_gets_the_clusters_key_as_the_vms_own_probes_do():
    plan = resolved(top(smoke=[{'probe': {'type': 'ssh', 'user': 'strata'}, 'vm': 'web1'},
                               {'probe': {'type': 'ssh', 'user': 'strata', 'key_file': '/k'}, 'vm': 'web1'},
                               {'probe': {'type': 'ssh'}, 'vm': 'web1'}]),
                    {'probe_key_file': '/root/.ssh/sm'})
    assert [c['probe'].get('key_file') for c in plan['smoke']] == ['/root/.ssh/sm', '/k', None]
    assert plan['smoke'][0]['check'] == 'probe: ssh 10.250.0.11:22 (login as strata)'


def test_a_long_command_is_shown_shortened():
    command = 'echo ' + 'x' * 100
    check = resolved(vm(0, smoke=[{'command': command}]))['smoke'][0]
    assert check['check'] == 'command: ' + command[:77] + '...'
    assert check['argv'][-1] == command


# -- the results --------------------------------------------------------------------------------------------------

def checks():
    return resolved(top(smoke=[{'command': 'true', 'vm': 'web1'},
                               {'command': 'curl -fsS localhost', 'vm': 'db1', 'name': 'web'},
                               {'command': 'sleep 99', 'vm': 'db1', 'timeout': 2},
                               {'command': 'true', 'vm': 'agent1'},
                               {'probe': {'type': 'tcp', 'port': 5432}, 'vm': 'db1'},
                               {'probe': {'type': 'running'}, 'vm': 'web1'}]))


def registered():
    """What smoke.yml registers: the commands' loop results, then the probes'."""
    c = checks()['smoke']
    error = "VM 'sm-db1' (tier 0) not ready: probe tcp 10.250.0.12:5432 ... refused; waited 60.0 s for this probe"
    return c, [
        {'item': c[0], 'rc': 0, 'stdout': '', 'stderr': '', 'changed': False},
        {'item': c[1], 'rc': 7, 'failed': True, 'stdout': 'one\n\ntwo\nthree\nfour\n', 'msg': 'non-zero return code',
         'stderr': 'curl: (7) Failed to connect to localhost port 80'},
        {'item': c[2], 'rc': 124, 'failed': True, 'stdout': '', 'stderr': '', 'msg': 'non-zero return code'},
        {'item': c[3], 'unreachable': True, 'msg': 'Failed to connect to the host via ssh: timed out', 'changed': False},
    ], [
        {'item': c[4], 'failed': True, 'msg': error + '. on_failure=abort: ...',
         'vms': {'sm-db1': {'status': 'failed', 'error': error}}},
        {'item': c[5], 'changed': False, 'vms': {'sm-web1': {'status': 'ready'}}},
    ]


def test_outcomes_say_what_failed_with_the_output_and_keep_the_plans_order():
    c, commands, probes = registered()
    rows = smoke.outcomes(probes + commands)
    assert [(r['vm'], r['kind'], r['ok']) for r in rows] == [
        ('web1', 'command', True), ('db1', 'command', False), ('db1', 'command', False), ('agent1', 'command', False),
        ('db1', 'probe', False), ('web1', 'probe', True)]
    assert [r['detail'] for r in rows] == [
        'ok',
        'rc 7; stderr: curl: (7) Failed to connect to localhost port 80; stdout: two / three / four',
        'rc 124 (timed out after 2 s); no output',
        'unreachable: Failed to connect to the host via ssh: timed out',
        probes[0]['vms']['sm-db1']['error'],
        'ok']
    assert rows[1]['check'] == 'web (command: curl -fsS localhost)'


def test_a_check_not_run_and_a_failure_without_output():
    c = checks()['smoke']
    rows = smoke.outcomes([{'item': c[0], 'skipped': True, 'skip_reason': 'Conditional result was False'},
                           {'item': c[3], 'failed': True, 'msg': '[Errno 2] No such file or directory: timeout'},
                           {'item': c[5], 'failed': True, 'msg': 'Invalid startup definition'},
                           {'msg': 'not a check'}, 'x'])
    assert [(r['ok'], r['detail']) for r in rows] == [
        (None, 'not run'), (False, '[Errno 2] No such file or directory: timeout'), (False, 'Invalid startup definition')]


def test_a_long_output_keeps_its_end():
    c = checks()['smoke']
    rows = smoke.outcomes([{'item': c[1], 'failed': True, 'rc': 1, 'stdout': '', 'stderr': 'e' * 400 + 'END'}])
    assert rows[0]['detail'] == 'rc 1; stderr: ...' + ('e' * 400 + 'END')[-300:]


def test_the_summary_shows_the_smoke_tests_after_the_vms():
    c, commands, probes = registered()
    plan = checks()
    without = summary.summary(plan, [])
    lines = summary.summary(dict(plan, smoke_results=commands + probes), [])
    assert lines[:len(without)] == without
    assert lines[len(without):] == [
        'VM      SMOKE TEST                          RESULT',
        '------  ----------------------------------  ------',
        'web1    command: true                       ok',
        'db1     web (command: curl -fsS localhost)  FAILED: rc 7; stderr: curl: (7) Failed to connect to localhost port 80; '
        'stdout: two / three / four',
        'db1     command: sleep 99                   FAILED: rc 124 (timed out after 2 s); no output',
        'agent1  command: true                       FAILED: unreachable: Failed to connect to the host via ssh: timed out',
        'db1     probe: tcp 10.250.0.12:5432         FAILED: ' + probes[0]['vms']['sm-db1']['error'],
        'web1    probe: running                      ok',
    ]
    # the filter the role calls: the plan with the smoke results
    assert cluster_filters.cluster_summary(dict(plan, smoke_results=commands + probes), [], False) == lines
    assert cluster_filters.cluster_summary(plan, [], False) == without
    # no check ran: the header alone
    assert summary.summary(dict(plan, smoke_results=[]), [])[len(without):] == [
        'VM  SMOKE TEST  RESULT', '--  ----------  ------']

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The startup action plugin: its pure parts on their own, and real ansible-playbook runs on the controller
(connection local) against libvirt's test driver loaded from a file, test:///<file>.xml, which every process
(each module run) opens in the file's state: domains shut off (test:runstate 5) or running.

The command probes sleep, so the run takes seconds and the progress lines must come while the task waits: the
ansible log (ANSIBLE_LOG_PATH) stamps each line with the time it was shown."""

import datetime
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest

from ansible_collections.strata.libvirt.plugins.action import startup as action
from ansible_collections.strata.libvirt.tests.unit.plugins.filter.playbook import run_playbook

# the module needs libvirt-python in the playbook runs; the pure parts do not
needs_libvirt = pytest.mark.skipif(importlib.util.find_spec('libvirt') is None, reason='libvirt-python is not installed')

NODE = "<node xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>%s</node>"
DOM = "<domain type='test'><name>%s</name><memory unit='MiB'>64</memory><os><type>hvm</type></os>%s</domain>"
SHUT_OFF = '<test:runstate>5</test:runstate>'


def node_uri(path, running=(), shut_off=()):
    """A test driver URI of a file with these domains."""
    path.write_text(NODE % ''.join([DOM % (n, '') for n in running] + [DOM % (n, SHUT_OFF) for n in shut_off]))
    return 'test://%s' % path


def sleep_probe(seconds):
    return {'type': 'command', 'command': [sys.executable, '-c', 'import time; time.sleep(%s)' % seconds]}


def progress(stdout, host=None):
    """The progress lines of stdout (of one host), without the prefix, in order."""
    head = '%s [%s] ' % (action.PREFIX, host) if host else action.PREFIX + ' '
    return [line[len(head):] for line in stdout.splitlines() if line.startswith(head)]


def texts(lines):
    """'[+   1.6s] gw: ready' -> 'gw: ready'."""
    return [line.split('] ', 1)[1] for line in lines]


def shown_line(stdout, host, text):
    """The line of stdout that shows text for host, from its '[+' on."""
    for line in progress(stdout, host):
        if line.endswith(text):
            return line
    raise AssertionError('not shown for %s: %r' % (host, text))


def registered(stdout):
    """The values the play's debug tasks show as msg: "RESULT <json>"."""
    head = '"msg": "RESULT '
    return [json.loads(json.loads(line.strip()[len('"msg": '):])[len('RESULT '):])
            for line in stdout.splitlines() if line.strip().startswith(head)]


def logged(log, needle):
    """When the ansible log shows the first line holding needle."""
    for line in log.splitlines():
        if needle in line:
            return datetime.datetime.strptime(line[:23], '%Y-%m-%d %H:%M:%S,%f')
    raise AssertionError('not in the ansible log: %r' % needle)


# -- the pure parts --------------------------------------------------------------------------------------------

def test_event_line_shows_notable_events_only():
    ready = {'t': 12.345, 'vm': 'web1', 'kind': 'ready', 'text': 'web1: ready', 'notable': True}
    assert action.event_line(ready) == 'strata.libvirt.startup [+  12.3s] web1: ready'
    assert action.event_line(ready, 'hv1') == 'strata.libvirt.startup [hv1] [+  12.3s] web1: ready'
    passed = {'t': 3.0, 'vm': 'web1', 'kind': 'probe', 'text': 'web1: probe tcp 10.0.0.5:22 passed', 'notable': False}
    heartbeat = {'t': 30.0, 'vm': 'web1', 'kind': None, 'text': 'web1: still waiting for probe ssh', 'notable': False}
    assert action.event_line(passed) is None and action.event_line(heartbeat) is None
    run_line = {'t': 0.01, 'vm': None, 'kind': None, 'text': 'startup of 2 VM(s) begins', 'notable': True}
    assert action.event_line(run_line) == 'strata.libvirt.startup [+   0.0s] startup of 2 VM(s) begins'


def test_parse_lines_leaves_a_partial_line_for_the_next_read():
    first = json.dumps({'t': 0.1, 'text': 'a: start issued', 'notable': True})
    second = json.dumps({'t': 1.2, 'text': 'a: ready', 'notable': True})
    records, count = action.parse_lines(first + '\n' + second[:10])
    assert count == 1 and [r['text'] for r in records] == ['a: start issued']
    records, count = action.parse_lines(second + '\r\n' + 'not json\n')  # a tty's line ends; junk counts, shows nothing
    assert count == 2 and [r['text'] for r in records] == ['a: ready']
    assert action.parse_lines('') == ([], 0)


def test_a_look_tells_the_job_state_and_the_new_lines():
    cmd = action.look_command('/root/.ansible_async/j1.2', "/tmp/x y/p.jsonl", 3)
    assert "'/tmp/x y/p.jsonl'" in cmd and 'tail -n +4 ' in cmd
    placeholder = json.dumps({'started': True, 'finished': False, 'ansible_job_id': 'j1.2'})
    event = json.dumps({'t': 0.5, 'text': 'a: ready', 'notable': True})
    stdout = 'BECOME-SUCCESS noise\n%s\n%s\n%s\n%s\n{"t": 0.' % (action.MARKS[0], placeholder, action.MARKS[1], event)
    head, lines = action.split_look(stdout)
    assert action.job_state(head) == 'running'
    assert action.parse_lines(lines)[1] == 1
    assert action.split_look('no marks at all') is None
    # the module's result says started: [the VMs] (a list), not the placeholder's True
    assert action.job_state(json.dumps({'changed': True, 'started': ['a'], 'actions': []})) == 'finished'
    assert action.job_state('{"changed": true, "vms": {"a": {"timeline": [') == 'finished'  # cut at RESULTS_HEAD
    assert action.job_state('') is None


def test_reading_the_files_here_gives_what_the_look_command_prints(tmp_path):
    results, events = tmp_path / 'j1.2', tmp_path / 'p.jsonl'
    missing = action.read_look(str(results), str(events), 0)
    assert missing == ('', '')  # neither file yet: no results file, no events
    results.write_text('{"started": 1, "finished": 0, "ansible_job_id": "j1.2"}' + ' ' * 2000)
    events.write_text('{"t": 0.1}\n{"t": 0.2}\n{"t": 0.3}\n{"t": 0.')
    for seen in (0, 2, 3, 4):
        out = subprocess.run(['/bin/sh', '-c', action.look_command(str(results), str(events), seen)],
                             capture_output=True, text=True, check=True).stdout
        assert action.read_look(str(results), str(events), seen) == action.split_look(out), seen
    assert len(action.read_look(str(results), str(events), 0)[0]) == action.RESULTS_HEAD
    # a file this process cannot read (here a directory): None, and the plugin runs the command instead
    assert action.read_look(str(tmp_path), str(events), 0) is None


def test_module_result_keeps_the_modules_keys():
    status = {'changed': True, 'started': ['gw', 'app'], 'actions': ['start'], 'finished': False,
              'stderr': 'libvirt noise', 'stderr_lines': ['libvirt noise']}
    assert action.module_result(status) == {'changed': True, 'started': ['gw', 'app'], 'actions': ['start']}
    failed = {'failed': True, 'msg': "VM 'gw' (tier 0) not ready", 'finished': True, 'ansible_job_id': 'j1.2'}
    assert action.module_result(failed) == {'failed': True, 'msg': "VM 'gw' (tier 0) not ready"}
    crashed = {'failed': True, 'cmd': 'AnsiballZ_startup.py', 'msg': 'Traceback', 'stderr': 'boom', 'ansible_job_id': 'j'}
    assert action.module_result(crashed) == {'failed': True, 'cmd': 'AnsiballZ_startup.py', 'msg': 'Traceback',
                                             'stderr': 'boom'}
    killed = action.module_result({'failed': True, 'msg': 'Timeout exceeded', 'child_pid': 7, 'finished': True}, 21600)
    assert killed['failed'] and 'within 21600 s' in killed['msg'] and 'child_pid' not in killed


def test_time_limit_from_the_modules_own_spec():
    vms = [{'name': 'a'}, {'name': 'b', 'after': ['a']}]
    assert action.time_limit({'vms': vms}) == action.TIME_LIMIT
    long = action.time_limit({'vms': vms, 'timeout': '20000', 'restart_on_timeout': True})
    assert long > 4 * 20000
    assert action.time_limit({'vms': vms, 'bogus': 1}) is None  # the module runs in the foreground and says why
    assert action.time_limit({'vms': [{'name': 'a', 'after': ['nobody']}]}) is None


# -- ansible-playbook ------------------------------------------------------------------------------------------

START_PLAY = """
- hosts: hv1:hv2
  gather_facts: false
  tasks:
    - name: Start, the progress shown while the task waits
      strata.libvirt.startup:
        uri: "{{ node_uri }}"
        state_dir: "{{ work }}/state-{{ inventory_hostname }}"
        vms:
          - {name: gw, probes: ["{{ probe_gw }}"]}
          - {name: app, after: [gw], probes: ["{{ probe_app }}"]}
      register: up
    - ansible.builtin.debug:
        msg: "RESULT {{ {'host': inventory_hostname, 'up': up} | to_json }}"
"""


@needs_libvirt
def test_progress_lines_of_two_hosts_while_the_task_waits(tmp_path, monkeypatch):
    log = tmp_path / 'ansible.log'
    monkeypatch.setenv('ANSIBLE_LOG_PATH', str(log))
    monkeypatch.setenv('ANSIBLE_ASYNC_DIR', str(tmp_path / 'async'))
    monkeypatch.setenv('ANSIBLE_REMOTE_TMP', str(tmp_path / 'remote'))
    inventory = tmp_path / 'hosts.ini'
    inventory.write_text(''.join('%s ansible_connection=local node_uri=%s\n'
                                 % (h, node_uri(tmp_path / ('%s.xml' % h), shut_off=('gw', 'app'))) for h in ('hv1', 'hv2')))
    variables = {'work': str(tmp_path), 'probe_gw': sleep_probe(1.5), 'probe_app': sleep_probe(2)}
    proc = run_playbook(tmp_path, START_PLAY, variables, '-i', str(inventory))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for host in ('hv1', 'hv2'):
        shown = texts(progress(proc.stdout, host))
        assert shown[0].startswith('startup of 2 VM(s) begins, 2 to start'), shown
        assert shown[1:] == ['gw: start issued (started)', 'gw: ready', 'app: start issued (started)', 'app: ready']
        assert proc.stdout.index('[%s] [+' % host) < proc.stdout.index('changed: [%s]' % host)
        # gw's line came while app's probe (2 s) still ran, not with the task's result
        text = log.read_text()
        shown_at = logged(text, '[%s] %s' % (host, shown_line(proc.stdout, host, 'gw: ready')))
        done_at = logged(text, 'changed: [%s]' % host)
        assert done_at - shown_at >= datetime.timedelta(seconds=1), (shown_at, done_at)
        result = dict((r['host'], r['up']) for r in registered(proc.stdout))[host]
        assert result['changed'] is True and result['started'] == ['gw', 'app'] and not result.get('failed')
        assert [vm['status'] for vm in result['vms'].values()] == ['ready', 'ready']
        assert not set(result) & {'ansible_job_id', 'finished', 'results_file', 'stderr', 'stdout'}
    assert all(line.startswith(('[hv1] [+', '[hv2] [+')) for line in progress(proc.stdout))  # each names its host
    assert not [line for line in progress(proc.stdout) if 'passed' in line]  # each probe passed: not shown
    # the job's results file is cleaned up, and no progress file is left
    assert list((tmp_path / 'async').iterdir()) == []
    assert list((tmp_path / 'remote').rglob(action.PROGRESS_FILE)) == []


AGAIN_PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/strata.libvirt.libvirt:
      state_dir: "{{ work }}/state"
  tasks:
    - name: Plan in check mode
      strata.libvirt.startup: {uri: "{{ running_uri }}", vms: "{{ running_vms }}"}
      check_mode: true
    - name: Validate only
      strata.libvirt.startup: {uri: "{{ running_uri }}", vms: "{{ running_vms }}", state: present}
    - name: Again, on running VMs
      strata.libvirt.startup: {uri: "{{ running_uri }}", vms: "{{ running_vms }}"}
      register: again
    - name: Again, with a progress_file of the task's own
      strata.libvirt.startup: {uri: "{{ running_uri }}", vms: "{{ running_vms }}", progress_file: "{{ work }}/own.jsonl"}
      register: plain
    - name: A VM that is never ready
      strata.libvirt.startup:
        uri: "{{ broken_uri }}"
        vms: [{name: gw, timeout: 1.5, probes: ["{{ never }}"]}]
      register: broken
      ignore_errors: true
    - name: With the task keyword async
      strata.libvirt.startup: {uri: "{{ running_uri }}", vms: "{{ running_vms }}"}
      async: 60
      poll: 1
      register: in_background
      ignore_errors: true
    - ansible.builtin.debug:
        msg: "RESULT {{ {'again': again, 'plain': plain, 'broken': broken, 'in_background': in_background} | to_json }}"
"""


@needs_libvirt
def test_a_rerun_shows_two_lines_and_a_failure_fails_the_task(tmp_path):
    variables = {
        'work': str(tmp_path),
        'running_uri': node_uri(tmp_path / 'running.xml', running=('gw', 'app')),
        'running_vms': [{'name': 'gw', 'probes': [sleep_probe(0.2)]},
                        {'name': 'app', 'after': ['gw'], 'probes': [sleep_probe(0.2), {'type': 'running'}]}],
        'broken_uri': node_uri(tmp_path / 'broken.xml', shut_off=('gw',)),
        'never': {'type': 'command', 'command': [sys.executable, '-c', 'raise SystemExit(1)'], 'interval': 0.3},
    }
    proc = run_playbook(tmp_path, AGAIN_PLAY, variables)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tasks = dict((part.split(']', 1)[0], part) for part in proc.stdout.split('TASK [')[1:])
    # check mode and state=present: the module as it is, nothing shown
    assert progress(tasks['Plan in check mode']) == [] and progress(tasks['Validate only']) == []
    # a re-run: two lines, none per VM or probe
    again = texts(progress(tasks['Again, on running VMs']))
    assert len(again) == 2, again
    assert again[0] == 'every VM already runs: probing the readiness of all 2 at once'
    assert again[1].startswith('all 2 VM(s) already run and are ready (')
    assert 'ok: [localhost]' in tasks['Again, on running VMs']
    # the module's own progress_file: the module as it is, nothing shown, the file written; the same result's keys
    assert progress(tasks["Again, with a progress_file of the task's own"]) == []
    assert '"notable": true' in (tmp_path / 'own.jsonl').read_text()
    # the failure: its line while the task waits, then the task fails with the module's message
    broken = tasks['A VM that is never ready']
    shown = texts(progress(broken))
    assert len(shown) == 3 and shown[1] == 'gw: start issued (started)', shown
    assert shown[2].startswith('gw: not ready: probe command'), shown
    assert broken.index('gw: not ready') < broken.index('fatal: [localhost]: FAILED!') < broken.index('...ignoring')
    results = registered(proc.stdout)[0]
    assert results['again']['changed'] is False and results['again']['started'] == []
    assert sorted(results['again']) == sorted(results['plain'])
    assert results['broken']['failed'] is True and results['broken']['started'] == ['gw']
    assert results['broken']['msg'].startswith("VM 'gw' (tier 0) not ready: probe command"), results['broken']['msg']
    assert results['broken']['msg'] in broken  # the task's failure shows the module's message
    # async: refused at once, saying why (async_status would wait for a 'started' job forever)
    assert results['in_background']['failed'] is True
    assert 'does not take the task keyword async' in results['in_background']['msg']


LOOK_PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Read here
      strata.libvirt.startup: &start
        uri: "{{ node_uri }}"
        state_dir: "{{ work }}/state"
        vms: [{name: gw, probes: ["{{ probe }}"]}]
    - name: Read by a command
      strata.libvirt.startup: *start
      become: true
      become_method: su
      when: with_become
"""


@needs_libvirt
def test_on_the_controller_the_plugin_reads_the_files_and_runs_no_command(tmp_path):
    """Connection local: each look reads the results and progress files here, a quarter of a second apart; with
    become (the files may be another user's) one command per look reads them."""
    become = os.geteuid() == 0 and shutil.which('su') is not None
    variables = {'work': str(tmp_path), 'node_uri': node_uri(tmp_path / 'node.xml', shut_off=('gw',)),
                 'probe': sleep_probe(1.5), 'with_become': become}
    proc = run_playbook(tmp_path, LOOK_PLAY, variables, '-vvv')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tasks = dict((part.split(']', 1)[0], part) for part in proc.stdout.split('TASK [')[1:])
    here = tasks['Read here']
    assert texts(progress(here))[1:] == ['gw: start issued (started)', 'gw: ready']
    assert action.MARKS[0] not in here  # no look command ran
    if become:
        by_command = tasks['Read by a command']
        assert 'gw: ready' in by_command and by_command.count(action.MARKS[0]) >= 2

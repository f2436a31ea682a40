# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The startup engine end to end against libvirt's test:///default driver (no fake libvirt),
with probes against real sockets on 127.0.0.1; and the boot service's entry point."""


import json
import socket
import sys
import threading
import time

import pytest

libvirt = pytest.importorskip('libvirt')

from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils._startup import cli as _startup_cli
from ansible_collections.strata.libvirt.plugins.module_utils._startup import domains as _domains
from ansible_collections.strata.libvirt.plugins.module_utils._startup import probing as _probing
from ansible_collections.strata.libvirt.plugins.module_utils._startup.spec import boot_config, normalize
from ansible_collections.strata.libvirt.plugins.module_utils._startup.engine import Engine
from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError

URI = 'test:///default'
PREFIX = 'su-'   # the domains of these tests (removed after each by the conftest's hv)
DOM = "<domain type='test'><name>%s</name><memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>"


@pytest.fixture
def listener():
    """A port that accepts TCP connections (a 'service that is up')."""
    srv = socket.socket()
    srv.bind(('127.0.0.1', 0))
    srv.listen(50)
    yield srv.getsockname()[1]
    srv.close()


def closed_port():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def engine(hv, tmp_path, check=False, lines=None, **params):
    config = normalize(params)
    state_dir = str(tmp_path / 'state')

    def lock():
        return _connection.hypervisor_lock(state_dir, URI, 10)

    sink = lines.append if lines is not None else None
    return Engine(config, hv, progress=sink, lock=lock, check_mode=check)


def event_t(result, name, prefix):
    return [e['t'] for e in result['vms'][name]['timeline'] if e['event'].startswith(prefix)][0]


def running(hv, name):
    return hv.lookupByName(name).isActive() == 1


SLOW = [sys.executable, '-c', 'import time; time.sleep(0.4)']
VMS = [{'name': 'su-gw', 'tier': 0, 'probes': [{'type': 'running'}, {'type': 'command', 'command': SLOW}]},
       {'name': 'su-app1', 'tier': 1},
       {'name': 'su-app2', 'after': ['su-gw']},
       {'name': 'su-web', 'tier': 2}]


def test_check_apply_check_apply(hv, define, tmp_path):
    define('su-gw', 'su-app1', 'su-app2', 'su-web')
    check = engine(hv, tmp_path, check=True, vms=VMS).run()
    assert check['changed'] is True and check['started'] == []
    assert [[v['name'] for v in t['vms']] for t in check['plan']['tiers']] == [['su-gw'], ['su-app1', 'su-app2'], ['su-web']]
    assert [v['action'] for t in check['plan']['tiers'] for v in t['vms']] == ['start'] * 4
    assert check['actions'][0] == "start VM 'su-gw' (tier 0)"
    assert not any(running(hv, n) for n in ('su-gw', 'su-app1', 'su-app2', 'su-web'))

    lines = []
    up = engine(hv, tmp_path, lines=lines, vms=VMS).run()
    assert not up.get('failed'), up.get('msg')
    assert up['changed'] is True and up['started'] == ['su-gw', 'su-app1', 'su-app2', 'su-web']
    assert up['actions'] == check['actions']
    # order, proven from the timeline: a tier's start is issued after every VM of the tier before is ready
    gw_ready = event_t(up, 'su-gw', 'ready')
    assert gw_ready >= 0.4
    assert event_t(up, 'su-app1', 'start issued') >= gw_ready
    assert event_t(up, 'su-app2', 'start issued') >= gw_ready
    assert event_t(up, 'su-web', 'start issued') >= max(event_t(up, 'su-app1', 'ready'), event_t(up, 'su-app2', 'ready'))
    assert [t['status'] for t in up['tiers']] == ['ready', 'ready', 'ready']
    assert up['tiers'][1]['began']['t'] >= up['tiers'][0]['ready']['t']
    gw_events = [e['event'] for e in up['vms']['su-gw']['timeline']]
    assert gw_events[0] == 'start issued (started)' and gw_events[-1] == 'ready'
    assert 'probe running passed' in gw_events and any(e.startswith('probe command') for e in gw_events)
    assert all(e['at'].endswith('Z') for e in up['vms']['su-gw']['timeline'])
    assert any('startup of 4 VM(s) begins, 4 to start' in line for line in lines) and lines[0].startswith('[+')
    assert any('su-app2 after su-gw' in line for line in lines)

    again_check = engine(hv, tmp_path, check=True, vms=VMS).run()
    assert again_check['changed'] is False and again_check['actions'] == []
    lines = []
    again = engine(hv, tmp_path, lines=lines, vms=VMS).run()
    assert again['changed'] is False and again['started'] == [] and not again.get('failed')
    # running VMs are still probed; nothing waits on another tier, so all tiers at once
    assert again['vms']['su-gw']['timeline'][0]['event'] == 'already running: not started, probing'
    assert all(v['status'] == 'ready' for v in again['vms'].values())
    assert [t['status'] for t in again['tiers']] == ['ready', 'ready', 'ready']
    assert again['tiers'][2]['began']['t'] - again['tiers'][0]['began']['t'] < 0.2
    assert event_t(again, 'su-web', 'ready') < event_t(again, 'su-gw', 'ready')   # not gated by su-gw's 0.4 s probe
    assert again['tiers'][0]['ready']['t'] == event_t(again, 'su-gw', 'ready')
    assert any('probing the readiness of all 4 at once' in line for line in lines)


def test_running_cluster_with_a_failing_probe(hv, define, listener, tmp_path):
    """The all-at-once check of an already running cluster: a failure in tier 1 abandons the other
    probes (on_failure=abort), fails the run, stops nothing."""
    define('su-gw', 'su-bad', 'su-old', 'su-web')
    for name in ('su-gw', 'su-bad', 'su-old', 'su-web'):
        hv.lookupByName(name).create()
    vms = failing_vms(listener)
    vms[3].update(address='127.0.0.1', timeout=60, probes=[{'type': 'tcp', 'port': closed_port(), 'interval': 0.2}])
    res = engine(hv, tmp_path, vms=vms).run()
    assert res['failed'] is True and res['changed'] is False and res['elapsed'] < 20
    assert "VM 'su-bad' (tier 1) not ready: probe tcp 127.0.0.1:" in res['msg']
    assert [t['status'] for t in res['tiers']] == ['ready', 'failed', 'abandoned']
    assert res['vms']['su-web']['status'] == 'abandoned' and res['stopped'] == []
    assert res['running'] == ['su-bad', 'su-gw', 'su-old', 'su-web']


def test_reverse_shutdown_order_and_idempotence(hv, define, tmp_path):
    define('su-gw', 'su-app1', 'su-app2', 'su-web')
    engine(hv, tmp_path, vms=VMS).run()
    check = engine(hv, tmp_path, check=True, vms=VMS, state='stopped').run()
    assert check['changed'] and check['plan']['order'] == [2, 1, 0]
    assert check['actions'][0] == "stop VM 'su-web' (tier 2): acpi shutdown, grace 60 s, then force"
    assert running(hv, 'su-web')
    down = engine(hv, tmp_path, vms=VMS, state='stopped', grace=5).run()
    # by edges: su-web (tier 2) needs su-gw and su-app1, su-app2 only su-gw; so su-web and su-app2 stop first, together
    assert check['plan']['schedule']['stop_waves'] == [['su-web', 'su-app2'], ['su-app1'], ['su-gw']]
    # 'stopped' lists the VMs as the engine saw them go, so su-app1 may be seen in the same poll as su-app2: the order
    # the edges ask for is in the events below
    assert down['changed'] and sorted(down['stopped']) == ['su-app1', 'su-app2', 'su-gw', 'su-web']
    assert down['stopped'][-1] == 'su-gw'
    assert down['forced'] == []
    assert event_t(down, 'su-app2', 'shutdown requested') <= event_t(down, 'su-web', 'stopped')
    assert event_t(down, 'su-app1', 'shutdown requested') >= event_t(down, 'su-web', 'stopped')
    last_tier1 = max(event_t(down, 'su-app1', 'stopped'), event_t(down, 'su-app2', 'stopped'))
    assert event_t(down, 'su-gw', 'shutdown requested') >= last_tier1
    assert not any(running(hv, n) for n in ('su-gw', 'su-app1', 'su-app2', 'su-web'))
    assert [t['tier'] for t in down['tiers']] == [2, 1, 0]
    again = engine(hv, tmp_path, vms=VMS, state='stopped').run()
    assert again['changed'] is False and again['stopped'] == [] and again['actions'] == []


def test_zero_grace_forces_and_says_so(hv, define, tmp_path):
    define('su-gw', 'su-app1')
    vms = [{'name': 'su-gw'}, {'name': 'su-app1', 'tier': 1, 'grace': 0}]
    engine(hv, tmp_path, vms=vms).run()
    down = engine(hv, tmp_path, vms=vms, state='stopped').run()
    assert down['forced'] == ['su-app1'] and down['vms']['su-app1']['forced'] is True
    assert down['vms']['su-gw']['forced'] is False
    assert 'forced off (destroy) after a grace period of 0 s' in [e['event'] for e in down['vms']['su-app1']['timeline']]


def failing_vms(port_ok):
    return [{'name': 'su-gw', 'probes': [{'type': 'tcp', 'port': port_ok}], 'address': '127.0.0.1'},
            {'name': 'su-bad', 'tier': 1, 'address': '127.0.0.1', 'timeout': 1.5,
             'probes': [{'type': 'running'}, {'type': 'tcp', 'port': closed_port(), 'interval': 0.3}]},
            {'name': 'su-old', 'tier': 1},
            {'name': 'su-web', 'tier': 2}]


def test_on_failure_abort(hv, define, listener, tmp_path):
    define('su-gw', 'su-bad', 'su-old', 'su-web')
    hv.lookupByName('su-old').create()   # already running before the run
    res = engine(hv, tmp_path, vms=failing_vms(listener)).run()
    assert res['failed'] is True
    msg = res['msg']
    assert "VM 'su-bad' (tier 1) not ready: probe tcp 127.0.0.1:" in msg
    assert 'did not pass within the timeout 1.5 s' in msg and 'Connection refused' in msg
    assert 'waited 1.' in msg and 'on_failure=abort: nothing more was started (not started: su-web)' in msg
    assert res['running'] == ['su-bad', 'su-gw', 'su-old']
    assert not running(hv, 'su-web') and res['vms']['su-web']['status'] == 'not started'
    assert [t['status'] for t in res['tiers']] == ['ready', 'failed', 'not started']
    assert res['vms']['su-bad']['status'] == 'failed' and res['vms']['su-bad']['error'].startswith("VM 'su-bad'")


def test_on_failure_stop_started_stops_only_this_runs_vms_in_reverse(hv, define, listener, tmp_path):
    define('su-gw', 'su-bad', 'su-old', 'su-web')
    hv.lookupByName('su-old').create()
    res = engine(hv, tmp_path, vms=failing_vms(listener), on_failure='stop_started', grace=5).run()
    assert res['failed'] is True and "VM 'su-bad' (tier 1) not ready" in res['msg']
    assert res['stopped'] == ['su-bad', 'su-gw']             # reverse order, started by this run
    assert 'stopped what this run started (su-bad, su-gw)' in res['msg']
    assert running(hv, 'su-old') and not running(hv, 'su-gw') and not running(hv, 'su-bad')
    assert res['running'] == ['su-old']
    assert event_t(res, 'su-gw', 'shutdown requested') >= event_t(res, 'su-bad', 'stopped')
    assert res['vms']['su-bad']['status'] == 'failed' and res['vms']['su-bad']['stopped_after_failure']


def test_on_failure_continue_starts_what_does_not_depend_on_the_failed_vm(hv, define, listener, tmp_path):
    define('su-gw', 'su-bad', 'su-old', 'su-web', 'su-side')
    vms = failing_vms(listener) + [{'name': 'su-side', 'after': ['su-old']}]
    res = engine(hv, tmp_path, vms=vms, on_failure='continue').run()
    assert res['failed'] is True and 'on_failure=continue' in res['msg']
    # su-web (tier 2) needs every VM of tier 1, su-bad too: skipped; su-side needs only su-old: started
    assert not running(hv, 'su-web') and res['vms']['su-web']['status'] == 'skipped'
    assert res['skipped'] == ['su-web'] and 'skipped, as they depend on it: su-web' in res['msg']
    assert "skipped: it depends on 'su-bad'" in res['vms']['su-web']['reason']
    assert running(hv, 'su-side') and res['vms']['su-side']['status'] == 'ready'
    assert [t['status'] for t in res['tiers']] == ['ready', 'failed', 'skipped']


def test_siblings_are_abandoned_when_a_vm_fails(hv, define, tmp_path):
    define('su-a', 'su-b')
    vms = [{'name': 'su-a', 'address': '127.0.0.1', 'probes': [{'type': 'tcp', 'port': closed_port(), 'interval': 0.2}],
            'timeout': 60},
           {'name': 'su-b', 'probes': [{'type': 'command', 'command': 'false'}], 'timeout': 1}]
    res = engine(hv, tmp_path, vms=vms).run()
    assert res['elapsed'] < 10
    assert res['vms']['su-b']['status'] == 'failed' and res['vms']['su-a']['status'] == 'abandoned'
    assert "VM 'su-b' (tier 0) not ready: probe command false did not pass within the timeout 1 s" in res['msg']


def test_fatal_probe_fails_at_once(hv, define, tmp_path):
    define('su-a')
    res = engine(hv, tmp_path, vms=[{'name': 'su-a', 'probes': [{'type': 'command', 'command': '/nonexistent/x'}]}]).run()
    assert res['elapsed'] < 5 and 'cannot pass: cannot run /nonexistent/x' in res['msg']


def test_tier_timeout(hv, define, tmp_path):
    define('su-a')
    vms = [{'name': 'su-a', 'address': '127.0.0.1', 'probes': [{'type': 'tcp', 'port': closed_port(), 'interval': 0.2}]}]
    res = engine(hv, tmp_path, vms=vms, tier_timeout=1).run()
    assert 'did not pass within the tier_timeout 1 s' in res['msg']


def test_tier_delay(hv, define, tmp_path):
    define('su-a', 'su-b')
    res = engine(hv, tmp_path, vms=[{'name': 'su-a'}, {'name': 'su-b', 'tier': 1}], tier_delay=0.5).run()
    assert event_t(res, 'su-b', 'start issued') - event_t(res, 'su-a', 'ready') >= 0.5


def test_one_tier_per_call_keeps_the_order(hv, define, tmp_path):
    define('su-gw', 'su-app1', 'su-app2', 'su-web')
    with pytest.raises(StrataError) as err:
        engine(hv, tmp_path, vms=VMS, tiers=[1]).run()
    assert "'su-app1' (tier 1) needs 'su-gw' (tier 0), which is shutoff" in str(err.value)
    assert not running(hv, 'su-app1')
    for tier in (0, 1, 2):
        res = engine(hv, tmp_path, vms=VMS, tiers=[tier]).run()
        assert res['changed'] and [t['tier'] for t in res['tiers']] == [tier]
    with pytest.raises(StrataError) as err:
        engine(hv, tmp_path, vms=VMS, tiers=[0], state='stopped').run()
    assert "is needed by 'su-app1' (tier 1), which is still running" in str(err.value)
    assert running(hv, 'su-gw')
    for tier in (2, 1, 0):
        assert engine(hv, tmp_path, vms=VMS, tiers=[tier], state='stopped').run()['changed']
    assert not running(hv, 'su-gw')


def test_undefined_vm_is_an_error_before_anything_starts(hv, define, tmp_path):
    define('su-gw')
    vms = [{'name': 'su-gw'}, {'name': 'su-missing', 'tier': 1}]
    with pytest.raises(StrataError) as err:
        engine(hv, tmp_path, vms=vms).run()
    assert "VM(s) not defined at this uri: 'su-missing'; nothing was started" in str(err.value)
    assert not running(hv, 'su-gw')
    check = engine(hv, tmp_path, check=True, vms=vms).run()
    assert check['changed'] and 'su-missing' in check['warnings'][0]
    # stopping something that does not exist is nothing to do
    assert engine(hv, tmp_path, vms=vms, state='stopped').run()['changed'] is False


def test_paused_vm_is_resumed(hv, define, tmp_path):
    define('su-a')
    dom = hv.lookupByName('su-a')
    dom.create()
    dom.suspend()
    res = engine(hv, tmp_path, vms=[{'name': 'su-a'}]).run()
    assert res['changed'] and res['vms']['su-a']['timeline'][0]['event'] == 'start issued (resumed)'
    assert res['vms']['su-a']['state_before'] == 'paused'


def test_present_sets_autostart_only(hv, define, tmp_path):
    define('su-a', 'su-b')
    hv.lookupByName('su-a').setAutostart(1)
    vms = [{'name': 'su-a'}, {'name': 'su-b', 'tier': 1}]
    check = engine(hv, tmp_path, check=True, vms=vms, state='present', autostart=False).run()
    assert check['changed'] and check['actions'] == ["disable libvirt autostart of VM 'su-a'"]
    assert hv.lookupByName('su-a').autostart() == 1
    res = engine(hv, tmp_path, vms=vms, state='present', autostart=False).run()
    assert res['changed'] and hv.lookupByName('su-a').autostart() == 0
    assert not running(hv, 'su-a') and res['started'] == []
    assert engine(hv, tmp_path, vms=vms, state='present', autostart=False).run()['changed'] is False


# -- the boot service's entry point -----------------------------------------------------------------

def write_config(tmp_path, vms, **extra):
    config = boot_config(normalize(dict(extra, vms=vms, uri=URI)))
    path = tmp_path / 'cluster.json'
    path.write_text(json.dumps(config))
    return str(path)


def cli(tmp_path, *args):
    return _startup_cli.main(list(args) + ['--state-dir', str(tmp_path / 'state')])


def test_cli_start_plan_stop(hv, define, tmp_path, capsys):
    define('su-gw', 'su-app1', 'su-app2', 'su-web')
    conf = write_config(tmp_path, VMS, grace=5)
    assert cli(tmp_path, 'plan', '--config', conf) == 0
    out = capsys.readouterr().out
    assert 'tier 0: su-gw (start)' in out and 'tier 1: su-app1 (start), su-app2 (start)' in out
    assert not running(hv, 'su-gw')
    result_file = tmp_path / 'out' / 'result.json'
    assert cli(tmp_path, 'start', '--config', conf, '--result', str(result_file)) == 0
    out = capsys.readouterr().out
    assert out.index('su-gw: ready') < out.index('su-app1: start issued') < out.index('su-web: start issued')
    assert 'strata-libvirt-boot start: done' in out
    result = json.loads(result_file.read_text())
    assert result['started'] == ['su-gw', 'su-app1', 'su-app2', 'su-web']
    assert cli(tmp_path, 'stop', '--config', conf) == 0
    out = capsys.readouterr().out
    assert out.index('su-web: stopped') < out.index('su-app1: shutdown requested') < out.index('su-gw: shutdown requested')
    assert not running(hv, 'su-gw')


def test_cli_failures(hv, define, tmp_path, capsys):
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps({'uri': URI, 'vms': [{'name': 'a', 'after': ['b']}]}))
    assert cli(tmp_path, 'start', '--config', str(bad)) == 2
    assert "after names unknown VM(s) 'b'" in capsys.readouterr().err
    assert cli(tmp_path, 'start', '--config', str(tmp_path / 'none.json')) == 2
    define('su-a')
    conf = write_config(tmp_path, [{'name': 'su-a', 'probes': [{'type': 'command', 'command': 'false'}], 'timeout': 1}])
    assert cli(tmp_path, 'start', '--config', conf) == 1
    assert "FAILED: VM 'su-a' (tier 0) not ready: probe command false" in capsys.readouterr().err


def test_a_port_that_opens_is_seen_at_once_not_an_interval_later(hv, define, tmp_path):
    """While a probe's port refuses connections the engine asks again every PORT_POLL seconds, whatever the
    probe's interval: the VM is ready when its port opens (here after 1 s), not up to an interval later."""
    define('su-gw')
    port = closed_port()
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    def open_later():
        time.sleep(1.0)
        srv.bind(('127.0.0.1', port))
        srv.listen(5)
    opener = threading.Thread(target=open_later)
    opener.start()
    try:
        vms = [{'name': 'su-gw', 'tier': 0, 'address': '127.0.0.1', 'timeout': 60,
                'probes': [{'type': 'tcp', 'port': port, 'interval': 30}]}]
        res = engine(hv, tmp_path, vms=vms).run()
    finally:
        opener.join()
        srv.close()
    assert res['vms']['su-gw']['status'] == 'ready'
    passed = [e for e in res['vms']['su-gw']['timeline'] if e['event'].startswith('probe tcp')][0]
    assert 1.0 <= passed['waited'] < 3.0 and passed['attempts'] > 2


# -- the domain watched during the readiness wait -----------------------------------------------------

def meanwhile(hv, name, act, after=0.5):
    """Calls act(domain) from another thread once the domain `name` has run for `after` seconds."""
    def job():
        end = time.monotonic() + 10
        while time.monotonic() < end and not running(hv, name):
            time.sleep(0.02)
        time.sleep(after)
        act(hv.lookupByName(name))
    thread = threading.Thread(target=job)
    thread.start()
    return thread


def never_ready(name, **extra):
    """A VM whose probe never passes: a tcp probe of a closed loopback port."""
    return dict({'name': name, 'address': '127.0.0.1', 'timeout': 20,
                 'probes': [{'type': 'tcp', 'port': closed_port(), 'interval': 0.2}]}, **extra)


def vanish(dom):
    dom.undefine()   # a running domain becomes transient...
    dom.destroy()    # ...and is gone once it is off


@pytest.mark.parametrize('act, cause', [
    (lambda dom: dom.destroy(), 'shut off after %s s (destroyed)'),
    (lambda dom: dom.shutdown(), 'shut off after %s s (shut down from inside the guest)'),
    (vanish, 'no longer defined after %s s'),
], ids=['destroyed', 'shut down by the guest', 'undefined and off'])
def test_a_vm_that_goes_off_while_waited_for_fails_at_once(hv, define, tmp_path, act, cause):
    define('su-db')
    thread = meanwhile(hv, 'su-db', act)
    try:
        res = engine(hv, tmp_path, vms=[never_ready('su-db')]).run()
    finally:
        thread.join()
    assert res['failed'] is True and res['elapsed'] < 3      # not the 20 s timeout
    record = res['vms']['su-db']
    assert record['status'] == 'failed' and record['error'] == res['msg'].split('. on_failure=')[0]
    head, tail = cause.split('%s')
    assert record['error'].startswith("VM 'su-db' (tier 0) not ready: " + head)
    waited = float(record['error'].split(head, 1)[1].split(' s', 1)[0])
    assert 0.4 <= waited < 2.5 and tail in record['error']
    assert '; probe tcp 127.0.0.1:' in record['error'] and 'had not passed (last result: tcp 127.0.0.1:' in record['error']
    assert 'timed out' not in res['msg'] and 'did not pass within' not in res['msg']
    last = record['timeline'][-1]
    assert last['event'].startswith('not ready: ' + head) and last['probe'] == 'tcp'
    assert res['tiers'][0]['status'] == 'failed' and 'on_failure=abort' in res['msg']


def test_on_failure_continue_a_vm_gone_off_does_not_stop_its_tier_or_the_next(hv, define, tmp_path):
    define('su-db', 'su-ok', 'su-web')
    vms = [never_ready('su-db'),
           {'name': 'su-ok', 'probes': [{'type': 'command', 'command': [sys.executable, '-c', 'import time; time.sleep(1.5)']}]},
           {'name': 'su-web', 'after': ['su-ok']}]
    thread = meanwhile(hv, 'su-db', lambda dom: dom.destroy())
    try:
        res = engine(hv, tmp_path, vms=vms, on_failure='continue').run()
    finally:
        thread.join()
    assert res['failed'] is True and res['elapsed'] < 6
    assert "VM 'su-db' (tier 0) not ready: shut off after" in res['msg'] and '(destroyed)' in res['msg']
    assert res['vms']['su-ok']['status'] == 'ready' and event_t(res, 'su-ok', 'ready') > event_t(res, 'su-db', 'not ready')
    assert res['vms']['su-web']['status'] == 'ready' and running(hv, 'su-web')
    assert [t['status'] for t in res['tiers']] == ['failed', 'ready']
    assert res['running'] == ['su-ok', 'su-web']


def test_a_paused_vm_is_waited_for_and_shown(hv, define, tmp_path, monkeypatch):
    """Paused is no failure: the wait goes on, the timeline and the progress lines say so."""
    monkeypatch.setattr(_probing, 'HEARTBEAT', 0.3)
    define('su-db')
    port = closed_port()
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    def pause_resume_open(dom):
        dom.suspend()
        time.sleep(1.0)
        dom.resume()
        time.sleep(1.2)  # longer than the watch's pause between looks
        srv.bind(('127.0.0.1', port))
        srv.listen(5)
    thread = meanwhile(hv, 'su-db', pause_resume_open, after=0.3)
    lines = []
    try:
        vm = dict(never_ready('su-db'), probes=[{'type': 'tcp', 'port': port, 'interval': 0.2}])
        res = engine(hv, tmp_path, lines=lines, vms=[vm]).run()
    finally:
        thread.join()
        srv.close()
    assert not res.get('failed'), res.get('msg')
    events = [e['event'] for e in res['vms']['su-db']['timeline']]
    assert 'the domain is paused (by the user); the readiness wait goes on' in events
    assert events.index('the domain runs again') > events.index('the domain is paused (by the user); the readiness wait goes on')
    assert events[-1] == 'ready'
    assert any('still waiting for probe tcp' in line and 'the domain is paused (by the user))' in line for line in lines)


def test_the_domain_states_as_the_wait_names_them():
    assert _domains.end_of(None) == ('no longer defined', None)
    assert _domains.end_of([libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_DESTROYED]) == ('shut off', 'destroyed')
    assert _domains.end_of([libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_FAILED]) == ('shut off', 'failed to start')
    assert _domains.end_of([libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_UNKNOWN]) == ('shut off', None)
    assert _domains.end_of([libvirt.VIR_DOMAIN_CRASHED, libvirt.VIR_DOMAIN_CRASHED_PANICKED]) == ('crashed', 'the guest kernel panicked')
    assert _domains.end_of([libvirt.VIR_DOMAIN_CRASHED, libvirt.VIR_DOMAIN_CRASHED_UNKNOWN]) == ('crashed', None)
    for state in ([libvirt.VIR_DOMAIN_RUNNING, 1], [libvirt.VIR_DOMAIN_PAUSED, 1], [libvirt.VIR_DOMAIN_PMSUSPENDED, 0]):
        assert _domains.end_of(state) is None
    assert _domains.state_text([libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_IOERROR]) == 'paused (after a disk I/O error)'
    assert _domains.state_text([libvirt.VIR_DOMAIN_BLOCKED, 0]) == 'running'


def test_stop_a_vm_undefined_meanwhile_is_no_error(hv, tmp_path):
    """A guest that ignores the power button (here: on_poweroff restart) is undefined and destroyed by
    someone else during its grace period: it is off, not an error, and not forced."""
    hv.defineXML(DOM.replace('</domain>', '<on_poweroff>restart</on_poweroff></domain>') % 'su-db')
    hv.lookupByName('su-db').create()
    thread = meanwhile(hv, 'su-db', vanish, after=0.8)
    try:
        res = engine(hv, tmp_path, vms=[{'name': 'su-db', 'grace': 10}], state='stopped').run()
    finally:
        thread.join()
    assert not res.get('failed'), res.get('msg')
    assert res['elapsed'] < 5 and res['forced'] == [] and res['stopped'] == ['su-db']
    events = [e['event'] for e in res['vms']['su-db']['timeline']]
    assert events[0].startswith('shutdown requested') and events[-1].startswith('stopped (no longer defined after ')
    assert res['vms']['su-db']['status'] == 'stopped' and res['tiers'][0]['status'] == 'stopped'


def test_the_opening_line_names_the_order_and_stays_short(hv, tmp_path):
    vms = [{'name': 'su-a'}, {'name': 'su-b'}] + [{'name': 'su-n%d' % i, 'after': ['su-a']} for i in range(20)]
    eng = engine(hv, tmp_path, vms=vms)
    names = eng.priority([vm['name'] for vm in vms])
    text = eng.order_text(names, eng.graph['deps'], 'after')
    assert text.startswith('first: su-a, su-b; su-n0 after su-a; su-n1 after su-a')
    assert text.endswith('; 9 more (see the plan)') and text.count(' after su-a') == 11

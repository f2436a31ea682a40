# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The boot service's entry point against libvirt's test:///default driver: start_delay, SIGTERM while the cluster
comes up, the watch that starts again a VM that stopped unasked, the stop marker. The service runs in this
process's main thread (signals are delivered there); a helper thread plays the host (SIGTERM, virsh destroy)."""

import json
import os
import signal
import sys
import threading
import time

import pytest

libvirt = pytest.importorskip('libvirt')

from ansible_collections.strata.libvirt.plugins.module_utils import _connection  # noqa: E402
from ansible_collections.strata.libvirt.plugins.module_utils._startup import cli as _cli  # noqa: E402
from ansible_collections.strata.libvirt.plugins.module_utils._startup import watching as _watching  # noqa: E402
from ansible_collections.strata.libvirt.plugins.module_utils._startup.spec import boot_config, normalize  # noqa: E402

URI = 'test:///default'
DOM = "<domain type='test'><name>%s</name><memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>"
SLEEP = [sys.executable, '-c', 'import time; time.sleep(%s)']


@pytest.fixture
def hv():
    _connection.open_connection(URI).close()
    conn = libvirt.open(URI)
    yield conn
    for dom in conn.listAllDomains():
        if dom.name().startswith('sb-'):
            if dom.isActive():
                dom.destroy()
            dom.undefine()
    conn.close()


def define(hv, *names):
    for name in names:
        hv.defineXML(DOM % name)


def running(hv, name):
    return hv.lookupByName(name).isActive() == 1


def write_config(tmp_path, vms, **extra):
    path = tmp_path / 'sb.json'
    path.write_text(json.dumps(boot_config(normalize(dict(extra, vms=vms, uri=URI)))))
    return str(path)


def service(tmp_path, *args):
    return _cli.main(list(args) + ['--state-dir', str(tmp_path / 'state')])


def later(seconds, action):
    """Run action in a helper thread after seconds (or when it returns True from a polled test)."""
    thread = threading.Thread(target=lambda: (time.sleep(seconds), action()))
    thread.daemon = True
    thread.start()
    return thread


def sigterm():
    os.kill(os.getpid(), signal.SIGTERM)


def wait_until(test, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if test():
            return True
        time.sleep(0.05)
    return False


def test_sigterm_during_start_stops_what_the_run_started_in_reverse(hv, tmp_path, capsys):
    define(hv, 'sb-gw', 'sb-db', 'sb-app')
    vms = [{'name': 'sb-gw'},
           {'name': 'sb-db', 'after': ['sb-gw'], 'probes': [{'type': 'command', 'command': SLEEP[:2] + [SLEEP[2] % 30]}]},
           {'name': 'sb-app', 'after': ['sb-db']}]
    conf = write_config(tmp_path, vms, grace=2)
    thread = later(0, lambda: wait_until(lambda: running(hv, 'sb-db')) and (time.sleep(0.3), sigterm()))
    began = time.monotonic()
    code = service(tmp_path, 'start', '--config', conf)
    thread.join()
    out = capsys.readouterr().out
    assert code == 0, out
    assert time.monotonic() - began < 15       # the 30 s probe was abandoned
    assert 'cancelled by SIGTERM; what this run had started was stopped again (sb-db, sb-gw)' in out
    assert out.index('sb-db: stopped') < out.index('sb-gw: shutdown requested')     # reverse order
    assert not any(running(hv, n) for n in ('sb-gw', 'sb-db', 'sb-app'))
    assert 'sb-app: start issued' not in out
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL   # the handler is the service's only while it runs


def test_start_delay_waits_and_sigterm_during_it_starts_nothing(hv, tmp_path, capsys):
    define(hv, 'sb-gw')
    conf = write_config(tmp_path, [{'name': 'sb-gw'}], start_delay=30)
    thread = later(0.5, sigterm)
    began = time.monotonic()
    assert service(tmp_path, 'start', '--config', conf) == 0
    thread.join()
    out = capsys.readouterr().out
    assert time.monotonic() - began < 10
    assert 'waiting start_delay 30 s before the first start' in out
    assert 'SIGTERM during start_delay: nothing was started' in out
    assert not running(hv, 'sb-gw')
    conf = write_config(tmp_path, [{'name': 'sb-gw'}], start_delay=0.6)
    began = time.monotonic()
    assert service(tmp_path, 'start', '--config', conf) == 0
    assert time.monotonic() - began >= 0.6 and running(hv, 'sb-gw')


def test_watch_starts_again_a_vm_destroyed_unasked_after_its_dependency_and_sigterm_stops_all(hv, tmp_path, capsys,
                                                                                              monkeypatch):
    monkeypatch.setattr(_watching, 'WATCH_INTERVAL', 0.2)
    monkeypatch.setattr(_watching, 'RESTART_BACKOFF', 0.5)
    define(hv, 'sb-gw', 'sb-web')
    vms = [{'name': 'sb-gw'}, {'name': 'sb-web', 'after': ['sb-gw']}]
    conf = write_config(tmp_path, vms, watch=True, grace=1)
    seen = {}

    def host():
        assert wait_until(lambda: running(hv, 'sb-web'))
        time.sleep(0.5)
        hv.lookupByName('sb-web').destroy()             # virsh destroy: not a stop by the service
        seen['restarted'] = wait_until(lambda: running(hv, 'sb-web'))
        time.sleep(0.3)
        sigterm()
    thread = later(0, host)
    code = service(tmp_path, 'start', '--config', conf)
    thread.join()
    out = capsys.readouterr().out
    assert seen['restarted'] and code == 0, out
    assert 'watch: watching 2 VM(s)' in out
    assert 'watch: sb-web is shut off (destroyed) without a stop by this service' in out
    assert 'watch: sb-web runs again and is ready' in out
    restart = out[out.index('watch: sb-web is shut off'):]
    assert restart.index('sb-gw: already running: not started, probing') < restart.index('sb-web: start issued')
    assert 'SIGTERM: stopping the cluster in reverse order' in out
    assert out.rindex('sb-web: stopped') < out.rindex('sb-gw: shutdown requested')
    assert not running(hv, 'sb-gw') and not running(hv, 'sb-web')


def test_the_stop_command_leaves_a_marker_that_ends_the_watch(hv, tmp_path):
    state_dir = str(tmp_path / 'state')
    conf = str(tmp_path / 'sb.json')
    marker = _watching.marker_path(state_dir, conf)
    assert marker == os.path.join(state_dir, 'boot', 'sb.stopping')
    define(hv, 'sb-gw')
    write_config(tmp_path, [{'name': 'sb-gw'}])
    assert service(tmp_path, 'stop', '--config', conf) == 0 and os.path.exists(marker)
    watch = _watching.Watch(hv, ['sb-gw'], lambda line: None, lambda: os.path.exists(marker))
    calls = []
    watch.run(calls.append)     # returns at once: the marker is there; sb-gw is off but not started again
    assert calls == []
    assert service(tmp_path, 'start', '--config', conf) == 0 and not os.path.exists(marker)


def test_sd_notify_sends_to_the_socket_systemd_gives(tmp_path, monkeypatch):
    import socket
    path = str(tmp_path / 'notify')
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    try:
        monkeypatch.setenv('NOTIFY_SOCKET', path)
        assert _cli.sd_notify('READY=1') is True
        assert sock.recv(100) == b'READY=1'
        monkeypatch.delenv('NOTIFY_SOCKET')
        assert _cli.sd_notify('READY=1') is False
    finally:
        sock.close()

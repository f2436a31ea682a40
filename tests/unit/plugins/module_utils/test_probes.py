# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Readiness probes against real servers on 127.0.0.1 and address discovery on test:///default."""


import socket
import sys
import threading
import time

import pytest

from http.server import BaseHTTPRequestHandler, HTTPServer

libvirt = pytest.importorskip('libvirt')

from ansible_collections.strata.libvirt.plugins.module_utils import _probes
from ansible_collections.strata.libvirt.plugins.module_utils._probes import ProbeFailed, ProbeFatal


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        status = {'/ok': 200, '/missing': 404, '/broken': 500}.get(self.path, 200)
        body = ('gateway ready at %s' % self.path).encode()
        self.send_response(status)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_port():
    server = HTTPServer(('127.0.0.1', 0), Handler)
    thread = threading.Thread(target=server.serve_forever)
    thread.daemon = True
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def ssh_greeter(delay):
    """A TCP server that greets like an SSH server after `delay` seconds, then hangs up; yields its port."""
    srv = socket.socket()
    srv.bind(('127.0.0.1', 0))
    srv.listen(5)
    stop = threading.Event()

    def serve():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                client, dummy = srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            stop.wait(delay)
            try:
                client.sendall(b'SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n')
            finally:
                client.close()

    thread = threading.Thread(target=serve)
    thread.daemon = True
    thread.start()
    yield srv.getsockname()[1]
    stop.set()
    thread.join(2)
    srv.close()


@pytest.fixture
def banner_port():
    """An SSH server that greets at once."""
    yield from ssh_greeter(0)


@pytest.fixture
def slow_sshd():
    """An SSH server that takes 11 s to send its banner (a guest under emulation on a busy host)."""
    yield from ssh_greeter(11)


def closed_port():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


class NoAddress(object):
    found = {}

    def address(self, ctx):
        raise ProbeFailed('no address')


def ctx(address='127.0.0.1', name='vm1', seconds=5, conn=None, resolver=None):
    vm = {'name': name, 'address': address}
    return _probes.ProbeContext(vm, conn, resolver or NoAddress(), time.monotonic() + seconds)


def probe(**spec):
    spec = _probes.validate(spec, 'probe')
    return _probes.build(spec)


def test_tcp_open_and_closed(http_port):
    assert 'accepts connections' in probe(type='tcp', port=http_port).check(ctx())
    with pytest.raises(ProbeFailed) as err:
        probe(type='tcp', port=closed_port()).check(ctx())
    assert '127.0.0.1:' in str(err.value)


def test_a_closed_port_asks_to_try_again_soon(banner_port):
    for spec in ({'type': 'tcp'}, {'type': 'ssh'}, {'type': 'ssh', 'user': 'nobody'}):
        with pytest.raises(ProbeFailed) as err:
            probe(port=closed_port(), **spec).check(ctx())
        assert err.value.retry_after == _probes.PORT_POLL, spec
    with pytest.raises(ProbeFailed) as err:
        probe(type='tcp', port=22).check(ctx(address=None))
    assert err.value.retry_after is None  # no address yet: the probe's interval


def test_ssh_login_runs_the_client_only_once_the_port_is_open(monkeypatch, banner_port):
    runs = []
    monkeypatch.setattr(_probes, 'run_ssh', lambda spec, host, port, command, timeout, cancel=None: runs.append(port) or
                        (255, '', 'Permission denied (publickey).'))
    closed = probe(type='ssh', port=closed_port(), user='nobody')
    with pytest.raises(ProbeFailed, match=r'^ssh login nobody@127\.0\.0\.1:\d+: .*Connection refused'):
        closed.check(ctx())
    assert runs == [] and not closed.port_seen
    login = probe(type='ssh', port=banner_port, user='nobody')
    for dummy in range(2):
        with pytest.raises(ProbeFailed, match='rc=255 Permission denied') as err:
            login.check(ctx())
        assert err.value.retry_after is None  # sshd answers: the next login after the interval
    assert runs == [banner_port] * 2 and login.port_seen


def test_tcp_explicit_host_wins_over_the_address(http_port):
    assert probe(type='tcp', host='127.0.0.1', port=http_port).check(ctx(address='192.0.2.1'))


def test_tcp_without_address_waits():
    with pytest.raises(ProbeFailed) as err:
        probe(type='tcp', port=22).check(ctx(address=None))
    assert 'no address' in str(err.value)


def test_http_status_and_body(http_port):
    base = 'http://{address}:%d' % http_port
    assert 'answered 200' in probe(type='http', url=base + '/ok').check(ctx())
    assert probe(type='http', url=base + '/ok', body=r'gateway ready at /o.').check(ctx())
    assert probe(type='http', url=base + '/missing', status=[404]).check(ctx())
    with pytest.raises(ProbeFailed) as err:
        probe(type='http', url=base + '/broken').check(ctx())
    assert 'status 500, expected 200' in str(err.value)
    with pytest.raises(ProbeFailed) as err:
        probe(type='http', url=base + '/ok', body='^nope').check(ctx())
    assert "does not match '^nope'" in str(err.value)


def test_http_refused_is_a_retry():
    with pytest.raises(ProbeFailed) as err:
        probe(type='http', url='http://127.0.0.1:%d/' % closed_port()).check(ctx())
    assert 'refused' in str(err.value).lower()


def test_http_name_placeholder(http_port):
    assert 'vm1' in probe(type='http', url='http://127.0.0.1:%d/{name}' % http_port).url(ctx())


def test_ssh_banner(banner_port, http_port):
    assert 'SSH-2.0-OpenSSH_9.2p1' in probe(type='ssh', port=banner_port).check(ctx())
    with pytest.raises(ProbeFailed) as err:
        probe(type='ssh', port=closed_port()).check(ctx())
    assert 'ssh 127.0.0.1' in str(err.value)


def test_ssh_banner_wrong_server(http_port):
    # an HTTP server says nothing first: the attempt times out and is a retry, not a pass
    with pytest.raises(ProbeFailed):
        probe(type='ssh', port=http_port).check(ctx(seconds=0.5))


def test_ssh_login_attempt_waits_for_a_slow_server(slow_sshd):
    """One login attempt may take longer than 10 s: cutting it short (the old bound, also ssh's ConnectTimeout,
    which covers the banner exchange) made a busy guest start its key exchange over and over."""
    began = time.monotonic()
    with pytest.raises(ProbeFailed) as err:
        probe(type='ssh', port=slow_sshd, user='nobody').check(ctx(seconds=40))
    assert time.monotonic() - began >= 10.5
    assert 'banner exchange' not in str(err.value) and 'did not finish' not in str(err.value)


def test_command_probe_rc_and_environment(tmp_path):
    marker = tmp_path / 'env'
    script = 'import os; open(%r, "w").write(os.environ["STRATA_VM_NAME"] + " " + os.environ["STRATA_VM_ADDRESS"])' % str(marker)
    assert probe(type='command', command=[sys.executable, '-c', script]).check(ctx()) == 'command exited 0'
    assert marker.read_text() == 'vm1 127.0.0.1'
    with pytest.raises(ProbeFailed) as err:
        probe(type='command', command='%s -c "import sys; sys.stderr.write(\'not yet\'); sys.exit(3)"' % sys.executable).check(ctx())
    assert str(err.value) == 'command exited 3: not yet'


def test_command_probe_missing_program_is_fatal():
    with pytest.raises(ProbeFatal):
        probe(type='command', command='/nonexistent/strata-probe').check(ctx())


def test_command_probe_attempt_timeout():
    t0 = time.monotonic()
    with pytest.raises(ProbeFailed) as err:
        probe(type='command', command=[sys.executable, '-c', 'import time; time.sleep(5)'], attempt_timeout=0.3).check(ctx())
    assert time.monotonic() - t0 < 3 and 'did not finish' in str(err.value)


@pytest.mark.parametrize('out, outcome', [
    ('\nstatus: done\n', 'pass'),
    ('status: degraded done\n', 'pass'),
    ('status: running\n', 'retry'),
    ('status: not run\n', 'retry'),
    ('', 'retry'),
    ('status: error\n', 'fatal'),
])
def test_cloud_init_status_judgement(out, outcome):
    if outcome == 'pass':
        assert _probes.CloudInitProbe.judge(out).startswith('cloud-init status: ')
    else:
        with pytest.raises(ProbeFatal if outcome == 'fatal' else ProbeFailed):
            _probes.CloudInitProbe.judge(out)


# -- against libvirt's test driver ----------------------------------------------------------------

NET = """<network><name>strata-ut-su</name><bridge name='virbr-su'/>
<ip address='10.243.9.1' netmask='255.255.255.0'><dhcp><range start='10.243.9.100' end='10.243.9.200'/>
<host mac='52:54:00:24:30:01' name='gw' ip='10.243.9.10'/></dhcp></ip></network>"""

DOM = """<domain type='test'><name>%s</name><memory unit='MiB'>64</memory><os><type>hvm</type></os>
<devices><interface type='network'><source network='strata-ut-su'/><mac address='%s'/></interface></devices></domain>"""


@pytest.fixture
def hv():
    conn = libvirt.open('test:///default')
    net = conn.networkDefineXML(NET)
    net.create()
    yield conn
    # test:///default outlives this connection while libvirt objects still refer to it: clean up
    for dom in conn.listAllDomains():
        if dom.name().startswith('strata-ut-'):
            if dom.isActive():
                dom.destroy()
            dom.undefine()
    net.destroy()
    net.undefine()
    conn.close()


def test_running_probe(hv):
    dom = hv.defineXML(DOM % ('strata-ut-a', '52:54:00:24:30:01'))
    with pytest.raises(ProbeFailed) as err:
        probe(type='running').check(ctx(conn=hv, name='strata-ut-a'))
    assert 'shutoff' in str(err.value)
    dom.create()
    assert probe(type='running').check(ctx(conn=hv, name='strata-ut-a')) == 'libvirt state running'


def test_address_from_a_static_dhcp_host(hv):
    hv.defineXML(DOM % ('strata-ut-a', '52:54:00:24:30:01'))
    resolver = _probes.AddressResolver()
    context = ctx(address=None, conn=hv, name='strata-ut-a', resolver=resolver)
    assert context.address() == '10.243.9.10'
    assert resolver.source('strata-ut-a') == 'static DHCP host'


def test_no_address_is_a_retry_that_names_the_mac(hv):
    hv.defineXML(DOM % ('strata-ut-b', '52:54:00:24:30:99'))
    resolver = _probes.AddressResolver()
    with pytest.raises(ProbeFailed) as err:
        ctx(address=None, conn=hv, name='strata-ut-b', resolver=resolver).address()
    assert '52:54:00:24:30:99' in str(err.value)


def test_agent_probe_fails_softly_without_an_agent(hv):
    hv.defineXML(DOM % ('strata-ut-a', '52:54:00:24:30:01')).create()
    with pytest.raises((ProbeFailed, ProbeFatal)) as err:
        probe(type='agent').check(ctx(conn=hv, name='strata-ut-a'))
    assert 'guest agent' in str(err.value) or 'libvirt_qemu' in str(err.value)


def test_domain_nics():
    assert _probes.domain_nics(DOM % ('x', '52:54:00:AA:00:01')) == [('52:54:00:aa:00:01', 'strata-ut-su')]

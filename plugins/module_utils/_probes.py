# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Readiness probes and address discovery for the startup engine (strata.libvirt.startup).

Every probe is one object with a check(ctx) method that makes ONE attempt, bounded in time, and
returns a short text on success or raises ProbeFailed (try again) / ProbeFatal (no point in
trying again, e.g. cloud-init reports an error). The engine owns the loop, the interval and the
deadlines. Nothing here imports Ansible: the boot-time service runs this file without it.

Private to strata.libvirt; no compatibility promise.
"""


import base64
import json
import os
import re
import shlex
import socket
import ssl
import subprocess
import time

try:
    from urllib.request import Request, build_opener, HTTPSHandler, HTTPErrorProcessor
    from urllib.error import URLError
    HAS_URLLIB = True
except ImportError:  # pragma: no cover - Python 2
    HAS_URLLIB = False

try:
    import libvirt
except ImportError:
    libvirt = None

try:
    import libvirt_qemu
    HAS_LIBVIRT_QEMU = True
except ImportError:
    libvirt_qemu = None
    HAS_LIBVIRT_QEMU = False

try:
    from lxml import etree as _lxml
except ImportError:  # the boot-time service may run where lxml is missing
    _lxml = None
import xml.etree.ElementTree as _stdlib_etree

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError

PROBE_TYPES = ('running', 'agent', 'tcp', 'ssh', 'http', 'cloud_init', 'command')
DEFAULT_INTERVAL = 2.0
ATTEMPT_TIMEOUT = 5.0  # seconds one attempt of a network probe may take (capped by the deadline)
# One SSH login (key exchange, authentication, a session running a command): on a loaded host a guest under
# emulation needs 10-30 s for it. An attempt cut short is not progress: the next one starts the guest's side
# of the work over, so a short bound made busy guests ready later or never (the benchmark's 4 VMs of 256 MiB:
# 89 s later than plain libvirt with 10 s). ssh's ConnectTimeout bounds the TCP connect and also the banner
# exchange and key exchange (OpenSSH 8.x and later), so it gets room too.
SSH_ATTEMPT_TIMEOUT = 60.0
SSH_CONNECT_TIMEOUT = 30


PORT_POLL = 0.25  # seconds between attempts while a probe's TCP port does not accept connections yet


class ProbeFailed(Exception):
    """This attempt did not pass; try again after the interval (or after retry_after, when shorter)."""

    def __init__(self, message, retry_after=None):
        super(ProbeFailed, self).__init__(message)
        self.retry_after = retry_after


class ProbeFatal(Exception):
    """The probe can never pass (for example cloud-init finished with an error)."""


def _fmt_host(host):
    return '[%s]' % host if ':' in host else host


def _safe_xml(text):
    """Parse libvirt's own XML: lxml with entity resolution off, else the stdlib parser."""
    if _lxml is not None:
        parser = _lxml.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        return _lxml.fromstring(text.encode('utf-8'), parser)
    return _stdlib_etree.fromstring(text)


class ProbeContext(object):
    """What one attempt needs: the VM's domain, its address (discovered lazily) and the time left."""

    def __init__(self, vm, conn, resolver, deadline, cancel=None):
        self.vm = vm
        self.conn = conn
        self.resolver = resolver
        self.deadline = deadline
        self.cancel = cancel    # a threading.Event: when set, a command or ssh client under way is ended

    def remaining(self):
        return max(0.1, self.deadline - time.monotonic())

    def attempt_timeout(self, wanted=ATTEMPT_TIMEOUT):
        return max(0.1, min(wanted, self.remaining()))

    def domain(self):
        return self.conn.lookupByName(self.vm['name'])

    def address(self):
        """The VM's address: given, else discovered; ProbeFailed while there is none yet."""
        if self.vm.get('address'):
            return self.vm['address']
        return self.resolver.address(self)


class AddressResolver(object):
    """Finds a VM's IPv4 address and remembers where it came from.

    Sources, in order: a static DHCP host entry for the domain's MAC on its libvirt network (known
    before the guest boots), the network's DHCP leases for that MAC, the guest agent. A lease is an
    address source only, never a readiness signal: with a reused MAC a stale lease shows up at once.
    """

    def __init__(self):
        self.found = {}  # name -> (address, source)

    def address(self, ctx):
        name = ctx.vm['name']
        if name in self.found:
            return self.found[name][0]
        try:
            dom = ctx.domain()
            nics = domain_nics(dom.XMLDesc(0))
        except Exception as exc:
            raise ProbeFailed('cannot read the interfaces of domain %s: %s' % (name, exc))
        for source, finder in (('static DHCP host', self._static), ('DHCP lease', self._lease),
                               ('guest agent', self._agent)):
            try:
                addr = finder(ctx, dom, nics)
            except Exception:  # a source that does not answer (no agent yet, no network) is skipped
                addr = None
            if addr:
                self.found[name] = (addr, source)
                return addr
        raise ProbeFailed('no IPv4 address known yet for %s (no static DHCP host, lease or guest agent answer '
                          'for MAC %s); set the VM\'s address to skip discovery'
                          % (name, ', '.join(mac for mac, dummy in nics) or 'none'))

    def source(self, name):
        return self.found.get(name, (None, None))[1]

    @staticmethod
    def _static(ctx, dom, nics):
        for mac, net in _networks(ctx, nics):
            root = _safe_xml(net.XMLDesc(0))
            for host in root.iter('host'):
                if (host.get('mac') or '').lower() == mac and host.get('ip') and ':' not in host.get('ip'):
                    return host.get('ip')
        return None

    @staticmethod
    def _lease(ctx, dom, nics):
        for mac, net in _networks(ctx, nics):
            for lease in net.DHCPLeases(mac) or []:
                if lease.get('type') == 0 and lease.get('ipaddr'):  # VIR_IP_ADDR_TYPE_IPV4
                    return lease['ipaddr']
        return None

    @staticmethod
    def _agent(ctx, dom, nics):
        macs = set(mac for mac, dummy in nics)
        src = getattr(libvirt, 'VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT', 1)
        for ifname, info in (dom.interfaceAddresses(src, 0) or {}).items():
            if (info.get('hwaddr') or '').lower() not in macs or ifname == 'lo':
                continue
            for addr in info.get('addrs') or []:
                if addr.get('type') == 0 and not addr.get('addr', '').startswith('127.'):
                    return addr['addr']
        return None


def _networks(ctx, nics):
    """(mac, libvirt network) of each interface on a libvirt network, looked up one after the other."""
    for mac, network in nics:
        if network:
            yield mac, ctx.conn.networkLookupByName(network)


def domain_nics(xml):
    """[(mac, network name or None)] of a domain's interfaces, from its XML."""
    root = _safe_xml(xml)
    nics = []
    for iface in root.iter('interface'):
        mac = iface.find('mac')
        source = iface.find('source')
        network = source.get('network') if (source is not None and iface.get('type') == 'network') else None
        if mac is not None and mac.get('address'):
            nics.append((mac.get('address').lower(), network))
    return nics


def agent_command(dom, command, timeout):
    """Run one guest agent command, return the decoded 'return' value; ProbeFailed when it fails."""
    if not HAS_LIBVIRT_QEMU:
        raise ProbeFatal('the libvirt_qemu Python module (part of libvirt-python) is missing')
    try:
        out = libvirt_qemu.qemuAgentCommand(dom, json.dumps(command), int(max(1, timeout)), 0)
    except Exception as exc:  # libvirt.libvirtError: agent not connected / not responding
        msg = exc.get_error_message() if hasattr(exc, 'get_error_message') else str(exc)
        raise ProbeFailed('guest agent: %s' % msg)
    try:
        return json.loads(out).get('return')
    except ValueError:
        raise ProbeFailed('guest agent: unreadable answer %r' % out[:200])


class Probe(object):
    """One readiness probe of one VM, built from its normalised option dict."""

    def __init__(self, spec):
        self.spec = spec
        self.type = spec['type']
        self.interval = float(spec.get('interval') or DEFAULT_INTERVAL)

    def describe(self, address=None):
        """Short text naming the probe; with the VM's address when it is known."""
        return self.type

    def check(self, ctx):
        raise NotImplementedError


class RunningProbe(Probe):
    def check(self, ctx):
        try:
            state = ctx.domain().state()[0]
        except Exception as exc:
            raise ProbeFailed('cannot read the state: %s' % exc)
        if state != getattr(libvirt, 'VIR_DOMAIN_RUNNING', 1):
            raise ProbeFailed('domain state is %s, not running' % STATE_NAMES.get(state, state))
        return 'libvirt state running'


class AgentProbe(Probe):
    def describe(self, address=None):
        return 'agent (guest-ping)'

    def check(self, ctx):
        agent_command(ctx.domain(), {'execute': 'guest-ping'}, ctx.attempt_timeout())
        return 'guest agent answers guest-ping'


class TcpProbe(Probe):
    def describe(self, address=None):
        return 'tcp %s:%s' % (_fmt_host(self.spec.get('host') or address or '<address>'), self.spec['port'])

    def check(self, ctx):
        host = self.spec.get('host') or ctx.address()
        port = int(self.spec['port'])
        connect(ctx, host, port, 'tcp').close()
        return 'tcp %s:%s accepts connections' % (_fmt_host(host), port)


def connect(ctx, host, port, what, user=None):
    """A TCP connection to host:port, else ProbeFailed that asks to try again soon: a refused or unreachable
    port costs the guest nothing to ask again, and the VM is ready the moment it opens, not an interval later."""
    try:
        return socket.create_connection((host, port), timeout=ctx.attempt_timeout())
    except (OSError, socket.error) as exc:
        raise ProbeFailed('%s %s%s:%s: %s' % (what, (user + '@') if user else '', _fmt_host(host), port, exc),
                          retry_after=PORT_POLL)


class SshProbe(Probe):
    """Without user: the server sends an SSH banner. With user (and key_file): a login runs `true`."""

    def __init__(self, spec):
        super(SshProbe, self).__init__(spec)
        self.port_seen = False

    def describe(self, address=None):
        what = 'login as %s' % self.spec['user'] if self.spec.get('user') else 'banner'
        return 'ssh %s:%s (%s)' % (_fmt_host(self.spec.get('host') or address or '<address>'),
                                   self.spec.get('port') or 22, what)

    def check(self, ctx):
        host = self.spec.get('host') or ctx.address()
        port = int(self.spec.get('port') or 22)
        if not self.spec.get('user'):
            return self._banner(ctx, host, port)
        if not self.port_seen:  # until sshd listens, a connect (not an ssh client run) per attempt
            connect(ctx, host, port, 'ssh login', self.spec['user']).close()
            self.port_seen = True
        res = run_ssh(self.spec, host, port, 'true', ctx.attempt_timeout(SSH_ATTEMPT_TIMEOUT), ctx.cancel)
        if res[0] != 0:
            raise ProbeFailed('ssh login %s@%s:%s: rc=%s %s'
                              % (self.spec['user'], host, port, res[0], _last_line(res[2] or res[1])))
        return 'ssh login as %s on %s:%s' % (self.spec['user'], _fmt_host(host), port)

    @staticmethod
    def _banner(ctx, host, port):
        sock = connect(ctx, host, port, 'ssh')
        try:
            sock.settimeout(ctx.attempt_timeout())
            data = sock.recv(256)
        except (OSError, socket.error) as exc:
            raise ProbeFailed('ssh %s:%s: %s' % (_fmt_host(host), port, exc))
        finally:
            sock.close()
        line = data.decode('latin-1').splitlines()[0] if data else ''
        if not line.startswith('SSH-'):
            raise ProbeFailed('ssh %s:%s: no SSH banner (got %r)' % (_fmt_host(host), port, line[:60]))
        return 'ssh banner %s on %s:%s' % (line.strip(), _fmt_host(host), port)


def run_ssh(spec, host, port, command, timeout, cancel=None):
    """Run a command over the system ssh client, non-interactively: (rc, stdout, stderr)."""
    argv = ['ssh', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
            '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=%d' % max(1, int(min(timeout, SSH_CONNECT_TIMEOUT))),
            '-p', str(port)]
    if spec.get('key_file'):
        argv += ['-i', spec['key_file'], '-o', 'IdentitiesOnly=yes']
    argv += ['%s@%s' % (spec['user'], host), command]
    return run_argv(argv, timeout, cancel=cancel)


CANCEL_POLL = 0.25       # seconds between looks at the cancel event while a command runs


def run_argv(argv, timeout, env=None, cancel=None):
    """(rc, stdout, stderr) of a command bounded by timeout; ended at once when the cancel event is set."""
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL if hasattr(subprocess, 'DEVNULL') else None,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    except OSError as exc:
        raise ProbeFatal('cannot run %s: %s' % (argv[0], exc))
    end = time.monotonic() + timeout
    while True:
        slice_ = end - time.monotonic()
        if cancel is not None:
            slice_ = min(slice_, CANCEL_POLL)
        try:
            out, err = proc.communicate(timeout=max(0.0, slice_))
            break
        except subprocess.TimeoutExpired:
            stopped = cancel is not None and cancel.is_set()
            if stopped or time.monotonic() >= end:
                proc.kill()
                proc.communicate()
                if stopped:
                    raise ProbeFailed('%s was ended: the wait was abandoned' % argv[0])
                raise ProbeFailed('%s did not finish within %.0f s' % (argv[0], timeout))
    return proc.returncode, out.decode('utf-8', 'replace'), err.decode('utf-8', 'replace')


def _last_line(text):
    lines = [line for line in (text or '').strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ''


class _NoRaise(HTTPErrorProcessor if HAS_URLLIB else object):
    """Hand every status back to the probe instead of raising for 4xx/5xx."""

    def http_response(self, request, response):
        return response

    https_response = http_response


class HttpProbe(Probe):
    def describe(self, address=None):
        url = self.spec['url']
        return 'http %s' % (url.replace('{address}', _fmt_host(address)) if address else url)

    def url(self, ctx):
        url = self.spec['url']
        if '{address}' in url:
            url = url.replace('{address}', _fmt_host(ctx.address()))
        return url.replace('{name}', ctx.vm['name'])

    def check(self, ctx):
        url = self.url(ctx)
        handlers = [_NoRaise()]
        if url.startswith('https') and not self.spec.get('validate_certs', True):
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            handlers.append(HTTPSHandler(context=context))
        opener = build_opener(*handlers)
        try:
            resp = opener.open(Request(url, headers={'User-Agent': 'strata.libvirt-startup'}),
                               timeout=ctx.attempt_timeout())
            status = resp.getcode()
            body = resp.read(1024 * 1024).decode('utf-8', 'replace') if self.spec.get('body') else ''
            resp.close()
        except (URLError, OSError, socket.error, ValueError) as exc:
            raise ProbeFailed('http %s: %s' % (url, getattr(exc, 'reason', exc)))
        expected = self.spec.get('status') or [200]
        if status not in expected:
            raise ProbeFailed('http %s: status %s, expected %s' % (url, status, ' or '.join(str(s) for s in expected)))
        if self.spec.get('body') and not re.search(self.spec['body'], body):
            raise ProbeFailed('http %s: status %s but the body does not match %r' % (url, status, self.spec['body']))
        return 'http %s answered %s' % (url, status)


class CloudInitProbe(Probe):
    """cloud-init finished: `cloud-init status` through the guest agent (guest-exec) or over SSH.

    Each attempt runs the non-blocking `cloud-init status` so the engine keeps its interval and
    deadline; `status: error` is final (the probe fails at once).
    """

    def describe(self, address=None):
        return 'cloud_init (via %s)' % self.spec.get('via', 'agent')

    def check(self, ctx):
        if self.spec.get('via', 'agent') == 'ssh':
            host = self.spec.get('host') or ctx.address()
            rc, out, err = run_ssh(self.spec, host, int(self.spec.get('port') or 22), 'cloud-init status',
                                   ctx.attempt_timeout(SSH_ATTEMPT_TIMEOUT), ctx.cancel)
            if rc == 255:
                raise ProbeFailed('ssh %s@%s: %s' % (self.spec['user'], host, _last_line(err)))
        else:
            rc, out, err = self._agent_exec(ctx)
        return self.judge(out, err)

    @staticmethod
    def judge(out, err=''):
        match = re.search(r'^status:\s*(.+?)\s*$', out or '', re.M)
        status = match.group(1) if match else None
        if status in ('done', 'degraded done'):
            return 'cloud-init status: %s' % status
        if status in ('error', 'degraded error'):
            raise ProbeFatal('cloud-init finished with status: %s (see /var/log/cloud-init.log in the guest)' % status)
        if status is None:
            raise ProbeFailed('cloud-init status: no answer (%s)' % _last_line(err or out))
        raise ProbeFailed('cloud-init status: %s' % status)

    def _agent_exec(self, ctx):
        """guest-exec `cloud-init status`, then poll it. A command still running when the attempt's time
        is up is polled again by the next attempt instead of being started once more (under heavy load
        python in a TCG guest may need longer than one attempt to start)."""
        dom = ctx.domain()
        pid = getattr(self, '_pending', None)
        if pid is None:
            started = agent_command(dom, {'execute': 'guest-exec', 'arguments': {
                'path': 'cloud-init', 'arg': ['status'], 'capture-output': True}}, ctx.attempt_timeout())
            pid = (started or {}).get('pid')
            if pid is None:
                raise ProbeFailed('guest agent: guest-exec returned no pid')
            self._pending = pid
        end = time.monotonic() + ctx.attempt_timeout(15.0)
        while True:
            try:
                status = agent_command(dom, {'execute': 'guest-exec-status', 'arguments': {'pid': pid}},
                                       ctx.attempt_timeout()) or {}
            except ProbeFailed:
                self._pending = None  # the agent restarted or forgot the pid: start afresh next time
                raise
            if status.get('exited'):
                self._pending = None
                out = base64.b64decode(status.get('out-data') or '').decode('utf-8', 'replace')
                err = base64.b64decode(status.get('err-data') or '').decode('utf-8', 'replace')
                return status.get('exitcode'), out, err
            if time.monotonic() >= end:
                raise ProbeFailed('cloud-init status (guest pid %s) still running' % pid)
            time.sleep(0.3)


class CommandProbe(Probe):
    """A command on the hypervisor (the host running the engine); ready when its exit code is 0.

    Given as a string (split like a shell would, not run by one) or a list; the environment gets
    STRATA_VM_NAME and, when known, STRATA_VM_ADDRESS.
    """

    def argv(self):
        cmd = self.spec['command']
        return shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]

    def describe(self, address=None):
        return 'command %s' % ' '.join(shlex.quote(a) for a in self.argv())

    def check(self, ctx):
        env = dict(os.environ, STRATA_VM_NAME=ctx.vm['name'])
        if ctx.vm.get('address') or ctx.resolver.found.get(ctx.vm['name']):
            env['STRATA_VM_ADDRESS'] = ctx.address()
        timeout = ctx.attempt_timeout(float(self.spec.get('attempt_timeout') or 30))
        rc, out, err = run_argv(self.argv(), timeout, env=env, cancel=ctx.cancel)
        if rc != 0:
            raise ProbeFailed('command exited %s: %s' % (rc, _last_line(err or out)))
        return 'command exited 0'


_CLASSES = {
    'running': RunningProbe, 'agent': AgentProbe, 'tcp': TcpProbe, 'ssh': SshProbe,
    'http': HttpProbe, 'cloud_init': CloudInitProbe, 'command': CommandProbe,
}

STATE_NAMES = {0: 'nostate', 1: 'running', 2: 'blocked', 3: 'paused', 4: 'shutdown', 5: 'shutoff',
               6: 'crashed', 7: 'pmsuspended'}


def build(spec):
    return _CLASSES[spec['type']](spec)


_KEYS = {
    'running': (),
    'agent': (),
    'tcp': ('host', 'port'),
    'ssh': ('host', 'port', 'user', 'key_file'),
    'http': ('url', 'status', 'body', 'validate_certs'),
    'cloud_init': ('via', 'host', 'port', 'user', 'key_file'),
    'command': ('command', 'attempt_timeout'),
}


def validate(spec, where):
    """Check one probe's options (pure); returns the normalised dict. Raises StrataError naming the option."""
    if not isinstance(spec, dict):
        raise StrataError('%s: a probe must be a dict with a type, got %r' % (where, spec))
    ptype = spec.get('type')
    if ptype not in PROBE_TYPES:
        raise StrataError('%s.type: unknown probe type %r; use one of %s' % (where, ptype, ', '.join(PROBE_TYPES)))
    out = dict((k, v) for k, v in spec.items() if v is not None)
    allowed = _KEYS[ptype]
    extra = sorted(k for k in out if k not in allowed and k not in ('type', 'interval'))
    if extra:
        raise StrataError('%s: %s does not apply to probe type %s (it takes %s)'
                          % (where, ', '.join(extra), ptype, ', '.join(('interval',) + allowed)))
    if out.get('interval') is not None:
        try:
            out['interval'] = float(out['interval'])
        except (TypeError, ValueError):
            raise StrataError('%s.interval: not a number: %r' % (where, out['interval']))
        if out['interval'] <= 0:
            raise StrataError('%s.interval: must be greater than 0' % where)
    if ptype == 'tcp' and not out.get('port'):
        raise StrataError('%s: a tcp probe needs a port' % where)
    if out.get('port') is not None:
        try:
            out['port'] = int(out['port'])
        except (TypeError, ValueError):
            raise StrataError('%s.port: not a number: %r' % (where, out['port']))
        if not 0 < out['port'] < 65536:
            raise StrataError('%s.port: %s is not a TCP port' % (where, out['port']))
    if ptype == 'http':
        if not out.get('url'):
            raise StrataError('%s: an http probe needs a url (it may contain {address})' % where)
        if not re.match(r'^https?://', out['url']):
            raise StrataError('%s.url: %r must start with http:// or https://' % (where, out['url']))
        out.setdefault('validate_certs', True)
        status = out.get('status') or [200]
        if not isinstance(status, list):
            status = [status]
        try:
            out['status'] = [int(s) for s in status]
        except (TypeError, ValueError):
            raise StrataError('%s.status: not a list of HTTP status codes: %r' % (where, status))
        if out.get('body'):
            try:
                re.compile(out['body'])
            except re.error as exc:
                raise StrataError('%s.body: invalid regular expression %r: %s' % (where, out['body'], exc))
    if ptype == 'cloud_init':
        out.setdefault('via', 'agent')
        if out['via'] not in ('agent', 'ssh'):
            raise StrataError("%s.via: %r; use 'agent' or 'ssh'" % (where, out['via']))
        if out['via'] == 'ssh' and not out.get('user'):
            raise StrataError('%s: cloud_init via ssh needs a user (and normally a key_file)' % where)
    if ptype == 'command':
        if not out.get('command'):
            raise StrataError('%s: a command probe needs a command' % where)
        if isinstance(out['command'], str):
            try:
                if not shlex.split(out['command']):
                    raise ValueError('empty')
            except ValueError as exc:
                raise StrataError('%s.command: cannot split %r: %s' % (where, out['command'], exc))
        elif not (isinstance(out['command'], list) and all(isinstance(part, (str, int, float)) for part in out['command'])):
            raise StrataError('%s.command: must be a string or a list of arguments, got %r' % (where, out['command']))
    if out.get('key_file') and not out.get('user'):
        raise StrataError('%s: key_file is set but user is not' % where)
    return out

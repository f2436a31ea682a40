# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Command-line entry point of the boot-time service (role strata.libvirt.boot_order).

    strata-libvirt-boot start --config /etc/strata-libvirt/boot/CLUSTER.json
    strata-libvirt-boot stop  --config ...
    strata-libvirt-boot plan  --config ...     (what start would do; changes nothing)

It runs the SAME engine as the strata.libvirt.startup module (_startup.engine.Engine) with the config
that module validated and returned (RV config); there is no second implementation. Progress goes
to stdout one line per event (the journal under systemd), the full result as JSON to --result.

start waits the config's start_delay first. SIGTERM (or SIGINT) during the start stops the scheduling: nothing more
is started, and what this run started is shut down in reverse order with the grace periods. With the config's
`watch`, start then tells systemd it is ready (sd_notify, for Type=notify) and watches the VMs (_startup.watching)
until SIGTERM, which shuts the cluster down in reverse order, or until `stop` runs.

Exit codes: 0 done (also a start cancelled by SIGTERM whose VMs were all stopped again), 1 a VM did not become
ready or could not be stopped, 2 invalid config or libvirt unreachable.

Private to strata.libvirt; no compatibility promise.
"""

import argparse
import json
import os
import signal
import socket
import sys
import tempfile
import threading

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils import _session
from ansible_collections.strata.libvirt.plugins.module_utils._startup.spec import normalize
from ansible_collections.strata.libvirt.plugins.module_utils._startup.engine import Engine
from ansible_collections.strata.libvirt.plugins.module_utils._startup.watching import Watch, marker_path

COMMANDS = {'start': 'started', 'stop': 'stopped', 'plan': 'started'}


def _say(line, stream=None):
    stream = stream or sys.stdout
    stream.write(line + '\n')
    stream.flush()


def load_config(path):
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (IOError, OSError) as exc:
        raise StrataError("cannot read the config '%s': %s" % (path, exc))
    except ValueError as exc:
        raise StrataError("the config '%s' is not valid JSON: %s" % (path, exc))
    if not isinstance(data, dict):
        raise StrataError("the config '%s' must hold a JSON object" % path)
    return data


def write_result(path, result):
    """Atomically write the JSON result (temp file in the same directory, then rename). The result holds the probes'
    messages, as the startup log does: the file is 0600 whatever the umask, a directory made for it 0700 (by default
    it is state_dir/boot, in the state directory, 0700 too)."""
    directory = os.path.dirname(os.path.abspath(path))
    _connection.make_dirs(directory, 0o700)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.result-')
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, 'w') as handle:
        json.dump(result, handle, indent=2, sort_keys=True)
    os.rename(tmp, path)


def summary(result):
    lines = []
    for tier in result['tiers']:
        lines.append('tier %s: %s (%s)' % (tier['tier'], tier['status'], ', '.join(tier['vms'])))
    for name in sorted(result['vms'], key=lambda n: (result['vms'][n]['tier'], n)):
        rec = result['vms'][name]
        extra = ' forced' if rec.get('forced') else ''
        lines.append('  %s: tier %s, %s%s, address %s' % (name, rec['tier'], rec['status'], extra,
                                                          rec.get('address') or '-'))
    return lines


def sd_notify(text):
    """Tell systemd (Type=notify) about the service; nothing without NOTIFY_SOCKET."""
    path = os.environ.get('NOTIFY_SOCKET')
    if not path:
        return False
    if path.startswith('@'):
        path = '\0' + path[1:]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.connect(path)
        sock.sendall(text.encode('utf-8'))
    except OSError:
        return False
    finally:
        sock.close()
    return True


def _mark_stopping(path, stopping):
    if stopping:
        _connection.make_dirs(os.path.dirname(path), 0o700)
        with open(path, 'w') as handle:
            handle.write('%d\n' % os.getpid())
    elif os.path.exists(path):
        os.unlink(path)


class Service(object):
    """One command of the boot service: runs the engine, reacts to SIGTERM, watches when asked to."""

    def __init__(self, args, config, conn, lock):
        self.args = args
        self.config = config
        self.conn = conn
        self.lock = lock
        self.stop = threading.Event()
        self.engine = None
        self.signal_name = None

    def on_signal(self, signum, frame):
        self.signal_name = signal.Signals(signum).name
        self.stop.set()
        engine = self.engine
        if engine is not None:
            engine.cancel(self.signal_name)

    @staticmethod
    def engine_errors(result):
        """True when a cancelled start also failed to stop what it had started."""
        return any(rec.get('stop_error') for rec in result['vms'].values())

    def run_engine(self, state, check_mode=False):
        config = dict(self.config, state=state)
        self.engine = Engine(config, self.conn, progress=_say, lock=self.lock, check_mode=check_mode)
        if self.stop.is_set() and state == 'started':
            self.engine.cancel(self.signal_name)
        try:
            return self.engine.run()
        finally:
            self.engine = None

    def start(self):
        delay = self.config['start_delay']
        if delay:
            _say('strata-libvirt-boot start: waiting start_delay %.0f s before the first start' % delay)
            if self.stop.wait(delay):
                _say('strata-libvirt-boot start: %s during start_delay: nothing was started' % self.signal_name)
                return None
        return self.run_engine('started')

    def watch(self):
        names = [vm['name'] for vm in self.config['vms']]
        marker = marker_path(self.args.state_dir, self.args.config)
        sd_notify('READY=1\nSTATUS=the cluster is up; watching %d VM(s)' % len(names))
        watcher = Watch(self.conn, names, _say, lambda: self.stop.is_set() or os.path.exists(marker))
        watcher.run(lambda name: self.run_engine('started'))
        if not self.stop.is_set():
            return 0    # `stop` runs and shuts the cluster down itself
        sd_notify('STOPPING=1')
        _say('strata-libvirt-boot: %s: stopping the cluster in reverse order' % self.signal_name)
        self.signal_name = None
        result = self.run_engine('stopped')
        for line in summary(result):
            _say(line)
        return 1 if result.get('failed') else 0


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='strata-libvirt-boot',
        description='Ordered start / reverse stop of a strata.libvirt cluster (boot-time service).')
    parser.add_argument('command', choices=sorted(COMMANDS))
    parser.add_argument('--config', required=True, help='JSON config written by the boot_order role')
    parser.add_argument('--uri', help='libvirt URI (default: the config\'s, else LIBVIRT_DEFAULT_URI, else qemu:///system)')
    parser.add_argument('--state-dir', default=_connection.DEFAULT_STATE_DIR, help='directory of the per-URI lock')
    parser.add_argument('--lock-timeout', type=int, default=_connection.DEFAULT_LOCK_TIMEOUT)
    parser.add_argument('--result', help='write the full JSON result (timelines) to this file')
    args = parser.parse_args(argv)

    if not _connection.HAS_LIBVIRT:
        _say('strata-libvirt-boot: the libvirt Python binding is missing for %s' % sys.executable, sys.stderr)
        return 2
    try:
        params = load_config(args.config)
        params['state'] = COMMANDS[args.command]
        params['uri'] = args.uri or params.get('uri')
        params.pop('tiers', None)
        params.pop('autostart', None)
        config = normalize(params)
        if args.command != 'plan':
            _mark_stopping(marker_path(args.state_dir, args.config), args.command == 'stop')
        with _session.session(config['uri'], args.state_dir, args.lock_timeout, hold_lock=False, registry=False) as ctx:
            _say('strata-libvirt-boot %s: %d VM(s) at %s, config %s' % (args.command, len(config['vms']), ctx.uri, args.config))
            service = Service(args, config, ctx.conn, ctx.lock)
            previous = dict((signum, signal.signal(signum, service.on_signal)) for signum in (signal.SIGTERM, signal.SIGINT))
            try:
                code = _run(service, args)
            finally:
                for signum, handler in previous.items():
                    signal.signal(signum, handler)
    except StrataError as exc:
        _say('strata-libvirt-boot: %s' % exc, sys.stderr)
        return 2
    return code


def _run(service, args):
    if args.command == 'plan':
        result = service.run_engine('started', check_mode=True)
    elif args.command == 'start':
        result = service.start()
        if result is None:
            return 0
    else:
        result = service.run_engine('stopped')
    if args.command == 'plan':
        for tier in result['plan']['tiers']:
            _say('tier %s: %s' % (tier['tier'], ', '.join('%s (%s)' % (v['name'], v['action']) for v in tier['vms'])))
        schedule = result['plan']['schedule']
        _say('start order: %s (%s)' % (', '.join(schedule['start_order']), schedule['limits_text']))
    else:
        for line in summary(result):
            _say(line)
    for warning in result.get('warnings', []):
        _say('warning: %s' % warning, sys.stderr)
    if args.result:
        write_result(args.result, result)
    if result.get('failed'):
        cancelled = service.signal_name is not None and args.command == 'start'
        if cancelled and not service.engine_errors(result):
            _say('strata-libvirt-boot start: cancelled by %s; what this run had started was stopped again (%s)'
                 % (service.signal_name, ', '.join(result['stopped']) or 'nothing'))
            return 0
        _say('strata-libvirt-boot: FAILED: %s' % result['msg'], sys.stderr)
        return 1
    _say('strata-libvirt-boot %s: done in %.1f s (changed: %s)' % (args.command, result['elapsed'], result['changed']))
    if args.command == 'start' and service.config['watch']:
        return service.watch()
    return 0

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
Exit codes: 0 done, 1 a VM did not become ready or could not be stopped, 2 invalid config or
libvirt unreachable.

Private to strata.libvirt; no compatibility promise.
"""

import argparse
import json
import os
import sys
import tempfile

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils import _session
from ansible_collections.strata.libvirt.plugins.module_utils._startup.spec import normalize
from ansible_collections.strata.libvirt.plugins.module_utils._startup.engine import Engine

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
        with _session.session(config['uri'], args.state_dir, args.lock_timeout, hold_lock=False, registry=False) as ctx:
            _say('strata-libvirt-boot %s: %d VM(s) at %s, config %s' % (args.command, len(config['vms']), ctx.uri, args.config))
            result = Engine(config, ctx.conn, progress=_say, lock=ctx.lock, check_mode=args.command == 'plan').run()
    except StrataError as exc:
        _say('strata-libvirt-boot: %s' % exc, sys.stderr)
        return 2
    if args.command == 'plan':
        for tier in result['plan']['tiers']:
            _say('tier %s: %s' % (tier['tier'], ', '.join('%s (%s)' % (v['name'], v['action']) for v in tier['vms'])))
    else:
        for line in summary(result):
            _say(line)
    for warning in result.get('warnings', []):
        _say('warning: %s' % warning, sys.stderr)
    if args.result:
        write_result(args.result, result)
    if result.get('failed'):
        _say('strata-libvirt-boot: FAILED: %s' % result['msg'], sys.stderr)
        return 1
    _say('strata-libvirt-boot %s: done in %.1f s (changed: %s)' % (args.command, result['elapsed'], result['changed']))
    return 0

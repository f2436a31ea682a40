# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The strata.libvirt.startup module's side of the engine: validate, connect, run, report.

Ansible objects are passed in, never imported here.

Private to strata.libvirt; no compatibility promise.
"""

import errno
import json
import os
import time

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils import _session
from ansible_collections.strata.libvirt.plugins.module_utils._startup.spec import boot_config, normalize, worst_case
from ansible_collections.strata.libvirt.plugins.module_utils._startup.engine import Engine
from ansible_collections.strata.libvirt.plugins.module_utils._startup.timing import iso


# The startup log holds every probe's description and messages: an http probe's URL, a command probe's command line,
# which may carry credentials. A log file the module creates is for its owner only, whatever the umask.
LOG_MODE = 0o600


def open_log(path):
    """A descriptor of the log file to append to: created with LOG_MODE, or the file that is there (its owner chose
    its mode: a file made for tail -f beforehand, a FIFO, /dev/stderr)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, LOG_MODE)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise
        return os.open(path, os.O_WRONLY | os.O_APPEND)
    os.fchmod(fd, LOG_MODE)
    return fd


def file_progress(path):
    """A progress sink that appends lines to a log file (tail -f it while the task waits)."""
    def write(line):
        with os.fdopen(open_log(path), 'a') as handle:
            handle.write('%s %s\n' % (iso(time.time()), line))
    return write


def events_progress(path):
    """An events sink that appends one JSON object per line to path (the action plugin reads it while it waits)."""
    def write(record):
        with os.fdopen(open_log(path), 'a') as handle:
            handle.write(json.dumps(record, sort_keys=True) + '\n')
    return write


def run_module(module):
    """Validate the definition (nothing is started or stopped when it is invalid), connect, run the engine
    (it takes the per-URI lock per step) and report."""
    _connection.require_libvirt(module)
    params = module.params
    try:
        config = normalize(params)
    except StrataError as exc:
        module.fail_json(msg='Invalid startup definition: %s. Nothing was started or stopped.' % exc)
    progress = None
    if params.get('log_file'):
        progress = file_progress(params['log_file'])
        try:
            progress('strata.libvirt.startup: state=%s, check_mode=%s' % (config['state'], module.check_mode))
        except (IOError, OSError) as exc:
            module.fail_json(msg="Cannot write the log_file '%s': %s" % (params['log_file'], exc))
    events = events_progress(params['progress_file']) if params.get('progress_file') else None
    try:
        with _session.module_session(module, hold_lock=False, registry=False) as ctx:
            config['uri'] = ctx.uri
            result = Engine(config, ctx.conn, progress=progress, lock=ctx.lock, check_mode=module.check_mode,
                            events=events).run()
    except StrataError as exc:
        module.fail_json(msg=str(exc))
    for warning in result.pop('warnings'):
        module.warn(warning)
    result['config'] = boot_config(config)
    result['worst_case'] = worst_case(config)
    if result.get('failed'):
        result.pop('failed')
        module.fail_json(**result)
    module.exit_json(**result)

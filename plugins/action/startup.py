# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The action plugin of strata.libvirt.startup: the module's progress in Ansible's output while the task waits.

The module runs in the background (async_wrapper, as the gather_facts action runs its modules) with O(progress_file)
set to a file in a temporary directory of the managed node. Every second one command reads the head of the job's
results file and the progress file's new lines (on the controller itself, connection local without become, the
plugin reads both files every quarter of a second, and runs no command); the plugin prints the notable events (a
VM started, ready, failed, retried, restarted, skipped, waiting for a slot, stopped, forced, and the run's own lines)
through Display. Once the job finished, async_status gives its result, and the task's result is the module's result
as it returned it.

The job's state is read from the results file, not from async_status's `finished`: async_status takes a result with
a key `started` for its placeholder of a running job, and the startup module returns `started` (the VMs it started).

The task keyword async is refused (the module's own `started` result would confuse async_status). The module runs
as it would without the plugin in check mode, with a progress_file given by the task, with state=present, with no_log,
with become to an unprivileged user (the module could not write the file), and on connections that pipeline every
module; also when its arguments do not validate (it fails at once).
"""

import errno
import json
import os
import re
import shlex
import time

from ansible import constants as C
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.strata.libvirt.plugins.module_utils._startup.spec import (
    CONSTRAINTS, argument_spec, normalize, worst_case)

display = Display()

PREFIX = 'strata.libvirt.startup'
POLL_INTERVAL = 1.0          # seconds between two looks at the progress file and the job
LOCAL_POLL_INTERVAL = 0.25   # the same when the plugin reads the files itself (a read costs no process)
FIRST_LOOK = 0.25            # seconds before the first look; each next one waits twice as long, up to POLL_INTERVAL
TIME_LIMIT = 6 * 3600        # least number of seconds async_wrapper lets the module run (a bound, not a timeout)
PROGRESS_FILE = 'startup-progress.jsonl'
UNSEEN_LOOKS = 5             # looks without a results file after which the job counts as gone (async_status says so)
RESULTS_HEAD = 1024          # bytes of the results file read while the job runs (its placeholder is shorter)
# printed around the results file's head, so what a become method or a login prints first is told apart from it
MARKS = ('STRATA-LIBVIRT-STARTUP-JOB', 'STRATA-LIBVIRT-STARTUP-EVENTS')
LOOK_RE = re.compile(r'%s\r?\n(.*?)\r?\n%s\r?\n(.*)\Z' % tuple(re.escape(m) for m in MARKS), re.S)
# what async_wrapper and async_status add to the module's result (`started` only as True: the module's is a list)
JOB_KEYS = ('ansible_job_id', 'finished', 'results_file', 'erased')
OUTPUT_KEYS = ('stdout', 'stdout_lines', 'stderr', 'stderr_lines')


def time_limit(args):
    """Seconds the background job may run, from the task's arguments validated with the module's own spec: twice the
    definition's worst case of a start and a stop plus a wait for the lock per VM, at least TIME_LIMIT. None when the
    arguments do not validate (the module then runs in the foreground and reports the mistakes)."""
    try:
        validation = ArgumentSpecValidator(argument_spec(), **CONSTRAINTS).validate(dict(args))
        if validation.error_messages:
            return None
        params = validation.validated_parameters
        bounds = worst_case(normalize(params))
        locks = (len(params['vms']) + 2) * (params.get('lock_timeout') or 0)
    except Exception:  # pylint: disable=broad-exception-caught
        return None
    return int(max(TIME_LIMIT, 2 * (bounds['start'] + bounds['stop']) + locks))


def look_command(results_file, progress_file, seen):
    """One shell command: the head of the job's results file, then the progress file's lines after the first `seen`
    (in this order: once the job is seen finished, every event it wrote is in the lines that follow)."""
    return ("printf '%%s\\n' %s; head -c %d %s 2>/dev/null; printf '\\n%%s\\n' %s; tail -n +%d %s 2>/dev/null"
            % (MARKS[0], RESULTS_HEAD, shlex.quote(results_file), MARKS[1], seen + 1, shlex.quote(progress_file)))


def read_look(results_file, progress_file, seen):
    """What look_command prints, read from the files by this process: (results file head, progress lines after the
    first `seen`); None when a file exists but cannot be read (another user's, e.g. with become)."""
    parts = []
    for path, read in ((results_file, lambda f: f.read(RESULTS_HEAD)),
                       (progress_file, lambda f: b''.join(f.readlines()[seen:]))):
        try:
            with open(path, 'rb') as handle:
                parts.append(to_text(read(handle), errors='surrogate_or_replace'))
        except (IOError, OSError) as exc:
            if exc.errno != errno.ENOENT:
                return None
            parts.append('')
    return tuple(parts)


def split_look(stdout):
    """(results file head, progress lines) from look_command's output; None when it is not there."""
    match = LOOK_RE.search(stdout or '')
    return (match.group(1), match.group(2)) if match else None


def job_state(head):
    """'running' for async_wrapper's placeholder of a running job, None for no results file (yet), else 'finished'
    (the module's result, maybe cut at RESULTS_HEAD)."""
    if not head.strip():
        return None
    try:
        data = json.loads(head)
    except ValueError:
        return 'finished'
    if isinstance(data, dict) and 'finished' in data and not data['finished'] and data.get('started') in (True, 1):
        return 'running'
    return 'finished'


def parse_lines(text):
    """The events of the complete lines of text (a partial last line is left for the next read): (records, number of
    complete lines). A line that is not a JSON object counts but gives no record."""
    lines = text.split('\n')
    records = []
    for line in lines[:-1]:
        try:
            record = json.loads(line.rstrip('\r'))
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records, len(lines) - 1


def event_line(record, host=None):
    """The line shown for an event, None for an event that is not notable (each probe passed, heartbeats)."""
    if not record.get('notable'):
        return None
    try:
        seconds = float(record.get('t') or 0)
    except (TypeError, ValueError):
        seconds = 0.0
    parts = [PREFIX]
    if host:
        parts.append('[%s]' % host)
    parts.append('[+%6.1fs]' % seconds)
    parts.append(to_text(record.get('text') or ''))
    return ' '.join(parts)


def module_result(status, limit=None):
    """The module's result from async_status's answer (or async_wrapper's), without the job's bookkeeping."""
    result = dict(status)
    for key in JOB_KEYS:
        result.pop(key, None)
    if result.get('started') is True:
        result.pop('started')
    if 'cmd' in result and result.get('failed'):
        # async_wrapper's own failure (the module's output was no JSON): its output is the only clue
        return result
    for key in OUTPUT_KEYS:
        result.pop(key, None)
    if result.get('failed') and result.get('msg') == 'Timeout exceeded' and 'child_pid' in result:
        result.pop('child_pid')
        result['msg'] = ('The startup module did not finish within %s s, the bound the action plugin gave its '
                         'background job, and was killed' % limit)
    return result


class ActionModule(ActionBase):

    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        if self._task.async_val:
            # the module's result has its own 'started' (the VMs it started), which async_status would read as a job
            # still running: it would never report the job finished
            result.update(failed=True, msg='strata.libvirt.startup does not take the task keyword async: it runs in the '
                                           'background by itself and shows its progress while the task waits; '
                                           'remove async and poll from the task')
            return result
        limit = self._time_limit()
        if limit is None:
            return self._run_plain(result, task_vars)
        return self._run_followed(result, task_vars, limit)

    def _time_limit(self):
        """The background job's time limit, or None: run the module as it is."""
        args = self._task.args
        if (self._task.check_mode or self._task.no_log or args.get('progress_file')
                or args.get('state', 'started') == 'present' or self._is_become_unprivileged()
                or self._connection.always_pipeline_modules or self._connection.has_native_async):
            return None
        return time_limit(args)

    def _run_plain(self, result, task_vars):
        """As ansible's own 'normal' action plugin runs a module."""
        result.update(self._execute_module(task_vars=task_vars))
        self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _run_followed(self, result, task_vars, limit):
        """The module in the background, its notable events shown as they come, its result returned."""
        shell = self._connection._shell
        tmpdir = shell.tmpdir or self._make_tmp_path()
        progress = shell.join_path(tmpdir, PROGRESS_FILE)
        module_args = dict(self._task.args, progress_file=progress)
        batch = task_vars.get('ansible_play_batch') or ()
        host = task_vars.get('inventory_hostname') if len(batch) > 1 else None
        async_val = self._task.async_val
        try:
            # the job gets a temporary directory of its own, which async_wrapper removes when the module ends (this
            # one, with the progress file, is read after that)
            shell.tmpdir = None
            self._task.async_val = limit
            try:
                job = self._execute_module(module_args=module_args, task_vars=task_vars, wrap_async=True)
            finally:
                self._task.async_val = async_val
                self._cleanup_remote_tmp = True
                if shell.tmpdir not in (None, tmpdir):
                    # the launch failed after the job's directory was made: async_wrapper will not remove it
                    self._remove_tmp_path(shell.tmpdir)
                shell.tmpdir = tmpdir
            if job.get('failed') or not job.get('ansible_job_id') or not job.get('results_file'):
                result.update(module_result(job, limit))
                return result
            status = self._follow(job, progress, task_vars, host)
            # async_status's mode=cleanup removes the results file; so does this, without sending a module
            self._low_level_execute_command('rm -f %s' % shlex.quote(job['results_file']))
            result.update(module_result(status, limit))
            return result
        finally:
            self._remove_tmp_path(tmpdir)

    def _follow(self, job, progress, task_vars, host):
        """Every POLL_INTERVAL (LOCAL_POLL_INTERVAL when the files are read here; sooner at first: a re-run of a
        running cluster takes a second or less), one look: the job's state and the new events, shown; once the job
        finished (or its state cannot be read for UNSEEN_LOOKS looks), async_status's answer, the module's result
        unless the job still runs."""
        seen = 0
        unseen = 0
        delay = FIRST_LOOK
        local = self._connection.transport == 'local' and not self._connection.become
        async_args = {'jid': job['ansible_job_id'], '_async_dir': os.path.dirname(job['results_file'])}
        while True:
            time.sleep(delay)
            delay = min(LOCAL_POLL_INTERVAL if local else POLL_INTERVAL, delay * 2)
            state, seen, local = self._look(job['results_file'], progress, seen, host, local)
            if state == 'running':
                unseen = 0
                continue
            if state is None:
                unseen += 1
                if unseen < UNSEEN_LOOKS:
                    continue
                unseen = 0
            status = self._execute_module(module_name='ansible.legacy.async_status', module_args=dict(async_args),
                                          task_vars=task_vars)
            if not (status.get('started') is True and not status.get('finished')):
                return status

    def _look(self, results_file, progress, seen, host, local):
        """One look: the job's state (job_state), the number of progress lines seen, and whether the next look may
        read the files itself; shows the new notable ones. The files are read by this process while it can
        (connection local), else by one command."""
        look = read_look(results_file, progress, seen) if local else None
        if look is None:
            local = False
            res = self._low_level_execute_command(look_command(results_file, progress, seen))
            look = split_look(res.get('stdout'))
        if look is None:
            display.vvv('%s: cannot read the job state and progress: rc=%s %s' % (PREFIX, res.get('rc'), res.get('stderr')))
            return None, seen, local
        records, count = parse_lines(look[1])
        for record in records:
            line = event_line(record, host)
            if line is not None:
                display.display(line, color=C.COLOR_ERROR if record.get('kind') == 'failed' else None)
        return job_state(look[0]), seen + count, local

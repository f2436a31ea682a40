# -*- coding: utf-8 -*-
# Copyright: strata.libvirt developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark callback: one JSON line per task result and per task start, plus the play recap.

Not part of the collection's plugins: bench/run enables it with ANSIBLE_CALLBACK_PLUGINS and writes
the lines to the file named by STRATA_BENCH_EVENTS. It records wall-clock times (time.time()) so the
harness can split a playbook run into phases.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r'''
name: strata_bench_events
type: aggregate
short_description: write task timings for bench/run as JSON lines
description:
  - Writes one JSON line per task start and result, and the recap, to the file in E(STRATA_BENCH_EVENTS).
requirements:
  - the environment variable E(STRATA_BENCH_EVENTS)
'''

# result keys worth keeping (the startup module's timeline, changed counts, the image module's download, the steps of
# cluster_build)
KEEP = ('changed', 'failed', 'skipped', 'elapsed', 'tiers', 'vms', 'started', 'stopped', 'forced', 'actions', 'schedule',
        'downloaded', 'cached', 'msg', 'rc', 'cmd', 'delta', 'steps', 'deferred')


class CallbackModule(CallbackBase):
    """Task start/end times and results as JSON lines."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'strata_bench_events'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._path = os.environ.get('STRATA_BENCH_EVENTS')

    def _write(self, record):
        if not self._path:
            return
        record['time'] = time.time()
        with open(self._path, 'a', encoding='utf-8') as handle:
            handle.write(json.dumps(record, default=str) + '\n')

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._write({'event': 'task_start', 'task': task.get_name(), 'uuid': task._uuid, 'action': task.action})

    def v2_playbook_on_handler_task_start(self, task):
        self._write({'event': 'task_start', 'task': task.get_name(), 'uuid': task._uuid, 'action': task.action})

    def _result(self, status, result):
        data = result._result if isinstance(result._result, dict) else {}
        kept = dict((k, data[k]) for k in KEEP if k in data)
        if 'results' in data and isinstance(data['results'], list):
            kept['results'] = [dict((k, item.get(k)) for k in KEEP if isinstance(item, dict) and k in item)
                               for item in data['results']]
        self._write({'event': 'result', 'status': status, 'task': result._task.get_name(),
                     'uuid': result._task._uuid, 'action': result._task.action, 'host': result._host.get_name(),
                     'result': kept})

    def v2_runner_on_ok(self, result):
        self._result('ok', result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result('failed', result)

    def v2_runner_on_skipped(self, result):
        self._result('skipped', result)

    def v2_runner_on_unreachable(self, result):
        self._result('unreachable', result)

    def v2_playbook_on_stats(self, stats):
        recap = {}
        for host in sorted(stats.processed.keys()):
            recap[host] = stats.summarize(host)
        self._write({'event': 'stats', 'recap': recap})

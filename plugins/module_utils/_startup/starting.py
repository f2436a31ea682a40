# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The startup engine's start: libvirt autostart, and the start loop on the dependency graph.

The loop asks the schedule (_startup.schedule) which VMs may start, issues their start calls side by side under
the per-URI lock, and waits for each in a thread of its own (_startup.probing). A VM starts as soon as every VM
it depends on is ready, within the start limits; a start call libvirt refuses is tried again after a backoff;
a VM that already runs is probed at once. The loop ends when nothing boots and nothing more can start, or when
the run is cancelled (the boot service's SIGTERM).

Private to strata.libvirt; no compatibility promise.
"""

import concurrent.futures
import queue

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils._startup import keys
from ansible_collections.strata.libvirt.plugins.module_utils._startup.domains import start_domain
from ansible_collections.strata.libvirt.plugins.module_utils._startup.schedule import Schedule
from ansible_collections.strata.libvirt.plugins.module_utils._startup.timing import seconds_text

PARALLEL_CALLS = 8       # start calls issued at once (each is a QEMU launch, ~0.5-1.5 s)
LOOP_TICK = 0.5          # seconds between looks at a cancel request while nothing else happens


class StartMixin(object):
    """Engine methods that start the VMs (see Engine for the attributes they use)."""

    def _apply_autostart(self, states):
        want = self.config['autostart']
        with self.lock():
            for name in self.vms:
                current = states[name]
                if current and current['persistent'] and current['autostart'] != want:
                    dom = _connection.call("look up domain '%s'" % name, self.conn.lookupByName, name)
                    _connection.call("set the autostart flag of '%s'" % name, dom.setAutostart, 1 if want else 0)
                    self.changed = True
                    self.progress("%s: libvirt autostart %s" % (name, 'enabled' if want else 'disabled'))

    def new_schedule(self, names):
        limits = self.limits
        return Schedule(names, self.graph['deps'], labels=dict((n, self.vms[n]['labels']) for n in names),
                        max_parallel=limits['max_parallel'], limits=limits['labels'],
                        delay=self.config['tier_delay'], policy=self.config['on_failure'])

    def _run_start(self, plan):
        entries = dict((e['name'], e) for t in plan['tiers'] for e in t['vms'])
        names = self.priority(list(entries))
        sched = self.schedule = self.new_schedule(names)
        outcomes = queue.Queue()
        to_start = [n for n in names if entries[n]['action'] == 'start']
        self.verify_only = not to_start
        if self.verify_only:
            self.progress('every VM already runs: probing the readiness of all %d at once' % len(names), notable=True)
        else:
            self.progress('startup of %d VM(s) begins, %d to start (%s; on_failure=%s): %s'
                          % (len(names), len(to_start), self.limits['text'], self.config['on_failure'],
                             self.order_text(names, sched.deps, 'after')), notable=True)
        for name in names:
            if entries[name]['action'] != 'start':
                sched.probing(name)
                early = [d for d in self.graph['deps'][name] if d in to_start and entries[name]['action'] != 'wait']
                if early:
                    self.warnings.append("VM '%s' was already running before its dependencies %s were started"
                                         % (name, ', '.join(early)))
                if entries[name]['action'] == 'wait':
                    self.event(name, 'on host %s: waiting for its probes (it is started there)' % self.vms[name]['remote'],
                               kind='probe')
                else:
                    self.event(name, 'already %s: not started, probing' % entries[name]['current'], kind='probe')
                self._spawn_wait(name, outcomes)
        noted_room = set()
        while True:
            if self.cancel_requested.is_set() and not sched.halted:
                sched.halt()
                self.abandon('the run was cancelled (%s)' % self.cancel_reason)
            now = self.clock.since()
            batch = sched.due(now)
            if batch:
                self._start_batch(batch, sched, outcomes)
                continue
            for name in sched.waiting_for_room(now):
                if name not in noted_room:
                    noted_room.add(name)
                    self.event(name, 'ready to start; waiting for a start slot (%s; %d booting)'
                               % (self.limits['short'], len(sched.booting())), kind='waiting')
            if sched.finished():
                break
            wake = sched.wake(now)
            tick = LOOP_TICK if wake is None else max(0.0, min(LOOP_TICK, wake - now))
            try:
                kind, name, detail = outcomes.get(timeout=tick)
            except queue.Empty:
                continue
            self._outcome(sched, kind, name, detail)
        self._await_key_reads()
        for name in sched.not_started():
            if self.records[name]['status'] == 'not started' and sched.halted and to_start:
                self.records[name]['reason'] = 'not started: %s' % (self.abandon_why or 'the start was stopped')
        if self.verify_only and all(self.records[n]['status'] == 'ready' for n in names):
            self.progress('all %d VM(s) already run and are ready (%.1f s)' % (len(names), self.clock.since()), notable=True)
        failed = bool(self.failures) or self.cancel_requested.is_set()
        if failed and self.started and (self.config['on_failure'] == 'stop_started' or self.cancel_requested.is_set()):
            why = 'the run was cancelled' if self.cancel_requested.is_set() else 'on_failure=stop_started'
            self.progress('%s: stopping what this run started, each once the VMs that depend on it are off: %s'
                          % (why, ', '.join(self.priority(self.started)[::-1])), notable=True)
            self._stop_started()

    def _outcome(self, sched, kind, name, detail):
        now = self.clock.since()
        if kind == 'retry':
            sched.retry(name, now + detail)
            return
        status = self.records[name]['status']
        if kind == 'waited' and status == 'ready':
            sched.ready(name, now)
            return
        if status == 'abandoned' or self.cancel_requested.is_set():
            sched.abandoned(name)
            return
        skipped = sched.failed(name)
        for other in skipped:
            self.records[other]['status'] = 'skipped'
            self.records[other]['reason'] = "skipped: it depends on '%s', which %s" % (
                name, 'could not be started' if kind == 'start_failed' else 'did not become ready')
            self.event(other, self.records[other]['reason'], kind='skipped')
        if skipped:
            self.skipped.extend(skipped)

    def _spawn_wait(self, name, outcomes):
        self.tier_began(self.graph['level'][name])

        def wait():
            self._wait_ready(name, self.graph['level'][name], self.tier_deadline(self.graph['level'][name]), self.abandoned)
            outcomes.put(('waited', name, None))
            # after the outcome: the VMs that wait for this one start while its keys are read
            if self.config.get('host_keys') and self.records[name]['status'] == 'ready' and not self.vms[name]['remote']:
                self.records[name]['host_keys'] = keys.read(self.conn, self.config['uri'], name)
        self.waits.append(self.thread(wait, 'strata-startup-%s' % name))

    def _await_key_reads(self):
        """The host keys still being read when the last VM is ready (option host_keys), within keys.KEYS_WAIT."""
        if not self.config.get('host_keys'):
            return
        end = self.clock.since() + keys.KEYS_WAIT
        for thread in self.waits:
            thread.join(max(0.0, end - self.clock.since()))

    def _start_batch(self, batch, sched, outcomes):
        """Issue the start calls of the VMs the schedule let go, side by side under the per-URI lock."""
        for name in batch:
            self.tier_began(self.graph['level'][name])
        with self.lock():
            if len(batch) > 1:
                with concurrent.futures.ThreadPoolExecutor(max_workers=min(len(batch), PARALLEL_CALLS)) as pool:
                    errors = list(pool.map(self._issue_start, batch))
            else:
                errors = [self._issue_start(batch[0])]
        for name, exc in zip(batch, errors):
            index = self.graph['level'][name]
            if exc is None:
                self.changed = True
                self.started.append(name)
                self._spawn_wait(name, outcomes)
                continue
            tries = self.start_attempts[name]
            if tries <= self.config['start_retries']:
                backoff = self.config['start_backoff'] * (2 ** (tries - 1))
                self.event(name, 'start failed: %s; trying again in %s s (retry %d of %d)'
                           % (exc, seconds_text(backoff), tries, self.config['start_retries']), kind='retry')
                self._outcome(sched, 'retry', name, backoff)
                continue
            self.records[name]['status'] = 'failed'
            msg = "VM '%s' (tier %d) could not be started" % (name, index)
            if tries > 1:
                msg += ' (%d attempts)' % tries
            self.records[name]['error'] = '%s: %s' % (msg, exc)
            self.failures.append(self.records[name]['error'])
            self.event(name, 'start failed: %s' % exc, kind='failed')
            if self.config['on_failure'] != 'continue':
                self.abandon("'%s' could not be started" % name)
            self._outcome(sched, 'start_failed', name, None)

    def _issue_start(self, name):
        """Start one VM and note it in its timeline; returns the StrataError when it could not be started."""
        self.start_attempts[name] = self.start_attempts.get(name, 0) + 1
        try:
            did = start_domain(self.conn, name)
        except StrataError as exc:
            return exc
        self.event(name, 'start issued (%s)' % did, kind='start')
        return None

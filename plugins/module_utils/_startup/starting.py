# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The startup engine's scheduling: libvirt autostart, tier after tier, the start calls of a tier side by
side, and the all-at-once readiness check of a cluster that already runs.

Private to strata.libvirt; no compatibility promise.
"""

import concurrent.futures
import time

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils._startup.domains import start_domain
from ansible_collections.strata.libvirt.plugins.module_utils._startup.timing import seconds_text

PARALLEL_STARTS = 8      # start calls of one tier issued at once (each is a QEMU launch, ~0.5-1.5 s)


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

    def _run_start(self, plan):
        policy = self.config['on_failure']
        self.progress('startup of %d tier(s) begins (on_failure=%s): %s'
                      % (len(plan['tiers']), policy, '; '.join(
                          'tier %d: %s' % (t['tier'], ', '.join(v['name'] for v in t['vms'])) for t in plan['tiers'])))
        if plan['tiers'] and not any(v['action'] == 'start' for t in plan['tiers'] for v in t['vms']):
            self._verify_running(plan)
            return
        stop_here = False
        for position, tier in enumerate(plan['tiers']):
            index = tier['tier']
            record = {'tier': index, 'vms': [v['name'] for v in tier['vms']], 'status': 'not started',
                      'began': None, 'ready': None}
            self.tier_records.append(record)
            if stop_here:
                continue
            record['began'] = self.clock.now()
            self.progress('tier %d: begins (%s)' % (index, ', '.join(record['vms'])))
            ok = self._start_tier(index, tier['vms'])
            if ok:
                record['status'] = 'ready'
                record['ready'] = self.clock.now()
                self.progress('tier %d: ready after %.1f s' % (index, record['ready']['t'] - record['began']['t']))
                delay = self.config['tier_delay']
                if delay and position < len(plan['tiers']) - 1:
                    self.progress('tier %d: waiting tier_delay %s s before the next tier' % (index, seconds_text(delay)))
                    time.sleep(delay)
                continue
            record['status'] = 'failed'
            record['failed'] = self.clock.now()
            if policy == 'continue':
                self.progress('tier %d: failed; on_failure=continue: going on with the next tier' % index)
                continue
            stop_here = True
            if policy == 'stop_started':
                self.progress('tier %d: failed; on_failure=stop_started: stopping what this run started, '
                              'in reverse order' % index)
                self._stop_started()
            else:
                self.progress('tier %d: failed; on_failure=abort: later tiers are not started' % index)

    def _start_tier(self, index, entries):
        deadline_tier = None
        if self.config['tier_timeout']:
            deadline_tier = time.monotonic() + self.config['tier_timeout']
        to_start = [e['name'] for e in entries if e['action'] == 'start']
        with self.lock():
            # each start launches a QEMU process; issue them side by side, then wait for all at once
            if len(to_start) > 1:
                with concurrent.futures.ThreadPoolExecutor(max_workers=min(len(to_start), PARALLEL_STARTS)) as pool:
                    errors = list(pool.map(self._issue_start, to_start))
            else:
                errors = [self._issue_start(name) for name in to_start]
        for name, exc in zip(to_start, errors):
            if exc is not None:
                self.records[name]['status'] = 'failed'
                self.failures.append("VM '%s' (tier %d) could not be started: %s" % (name, index, exc))
                continue
            self.changed = True
            self.started.append(name)
        for entry in entries:
            if entry['action'] != 'start':
                self.event(entry['name'], 'already %s: not started, probing' % entry['current'])
                dep_states = [d for d in self.graph['deps'][entry['name']] if d in self.started]
                if dep_states:
                    self.warnings.append("VM '%s' was already running before its dependencies %s were started"
                                         % (entry['name'], ', '.join(dep_states)))
        self._wait_all([(index, entry['name']) for entry in entries], deadline_tier)
        return all(self.records[e['name']]['status'] == 'ready' for e in entries)

    def _issue_start(self, name):
        """Start one VM and note it in its timeline; returns the StrataError when it could not be started."""
        try:
            did = start_domain(self.conn, name)
        except StrataError as exc:
            self.event(name, 'start failed: %s' % exc)
            return exc
        self.event(name, 'start issued (%s)' % did)
        return None

    def _verify_running(self, plan):
        """Every selected VM already runs, so no start waits on another tier's readiness: the probes of
        all tiers run at once (a re-run of a ready cluster costs one probe round, not one per tier).
        A tier is ready when all its VMs are."""
        tiers = '; '.join('tier %d: %s' % (t['tier'], ', '.join(v['name'] for v in t['vms'])) for t in plan['tiers'])
        self.progress('every VM already runs: probing the readiness of %d tier(s) at once: %s' % (len(plan['tiers']), tiers))
        deadline_tier = None
        if self.config['tier_timeout']:
            deadline_tier = time.monotonic() + self.config['tier_timeout']
        began = self.clock.now()
        pairs = []
        for tier in plan['tiers']:
            self.tier_records.append({'tier': tier['tier'], 'vms': [v['name'] for v in tier['vms']],
                                      'status': 'probing', 'began': began, 'ready': None})
            for entry in tier['vms']:
                self.event(entry['name'], 'already %s: not started, probing' % entry['current'])
                pairs.append((tier['tier'], entry['name']))
        self._wait_all(pairs, deadline_tier)
        for record in self.tier_records:
            statuses = [self.records[name]['status'] for name in record['vms']]
            if all(status == 'ready' for status in statuses):
                record['status'] = 'ready'
                last = max((e for name in record['vms'] for e in self.records[name]['timeline'] if e['event'] == 'ready'),
                           key=lambda e: e['t'])
                record['ready'] = {'at': last['at'], 't': last['t']}
                self.progress('tier %d: ready after %.1f s' % (record['tier'], record['ready']['t'] - began['t']))
            else:
                record['status'] = 'failed' if 'failed' in statuses else 'abandoned'
                record['failed'] = self.clock.now()
                self.progress('tier %d: %s' % (record['tier'], record['status']))

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The startup engine's readiness waits: every VM's probes in a thread of its own, retried until they pass,
fail for good, hit a deadline, or are abandoned because another VM of the tier failed.

Private to strata.libvirt; no compatibility promise.
"""

import threading
import time

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils import _probes
from ansible_collections.strata.libvirt.plugins.module_utils._startup.timing import HEARTBEAT, seconds_text


class ProbeMixin(object):
    """Engine methods that wait for readiness (see Engine for the attributes they use)."""

    def _wait_all(self, pairs, deadline_tier):
        """Run the probes of every (tier, VM name) pair at once; returns when each is ready, failed
        or abandoned (a failure abandons the others unless on_failure=continue)."""
        abandon = threading.Event()
        threads = []
        for index, name in pairs:
            if self.records[name]['status'] == 'failed':
                continue
            thread = threading.Thread(target=self._wait_ready, args=(name, index, deadline_tier, abandon),
                                      name='strata-startup-%s' % name)
            thread.daemon = True
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()

    def _wait_ready(self, name, index, deadline_tier, abandon):
        vm = self.vms[name]
        record = self.records[name]
        record['status'] = 'waiting'
        began = time.monotonic()
        deadline = began + vm['timeout']
        limit = 'timeout %s s' % seconds_text(vm['timeout'])
        if deadline_tier is not None and deadline_tier < deadline:
            deadline, limit = deadline_tier, 'tier_timeout %s s' % seconds_text(self.config['tier_timeout'])
        ctx = _probes.ProbeContext(vm, self.conn, self.resolver, deadline)
        policy = self.config['on_failure']
        try:
            for probe in [_probes.build(p) for p in vm['probes']]:
                probe_began = noted = time.monotonic()
                last = None
                attempts = 0
                while True:
                    if abandon.is_set():
                        record['status'] = 'abandoned'
                        self.event(name, 'abandoned while waiting for probe %s: another VM of tier %d failed'
                                   % (probe.describe(self._known_address(name)), index))
                        return
                    attempts += 1
                    wait = probe.interval
                    try:
                        detail = probe.check(ctx)
                    except _probes.ProbeFailed as exc:
                        last = str(exc)
                        wait = min(wait, exc.retry_after or wait)
                    except _probes.ProbeFatal as exc:
                        self._fail(name, index, probe, probe_began, began, 'cannot pass: %s' % exc, abandon, policy)
                        return
                    except Exception as exc:  # pragma: no cover - an unexpected error is a failure, not a crash
                        self._fail(name, index, probe, probe_began, began,
                                   'raised %s' % _connection.error_text(exc), abandon, policy)
                        return
                    else:
                        self._note_address(name)
                        self.event(name, 'probe %s passed' % probe.describe(self._known_address(name)),
                                   probe=probe.type, detail=detail,
                                   attempts=attempts, waited=round(time.monotonic() - probe_began, 2))
                        break
                    now = time.monotonic()
                    if now - noted >= HEARTBEAT:
                        noted = now
                        self.progress('%s: still waiting for probe %s (%.0f s so far, %.0f s left; last result: %s)'
                                      % (name, probe.describe(self._known_address(name)), now - probe_began,
                                         max(0, deadline - now), last))
                    if now >= deadline:
                        self._fail(name, index, probe, probe_began, began,
                                   'did not pass within the %s (last result: %s)' % (limit, last), abandon, policy)
                        return
                    time.sleep(max(0.0, min(wait, deadline - now)))
            record['status'] = 'ready'
            self.event(name, 'ready', waited=round(time.monotonic() - began, 2))
        except StrataError as exc:  # pragma: no cover - e.g. the domain vanished
            self._fail(name, index, None, began, began, str(exc), abandon, policy)

    def _known_address(self, name):
        return self.vms[name]['address'] or self.resolver.found.get(name, (None, None))[0]

    def _note_address(self, name):
        found = self.resolver.found.get(name)
        if found and not self.records[name]['address']:
            self.records[name]['address'], self.records[name]['address_source'] = found

    def _fail(self, name, index, probe, probe_began, began, why, abandon, policy):
        now = time.monotonic()
        what = ('probe %s' % probe.describe(self._known_address(name))) if probe else 'the readiness wait'
        msg = ("VM '%s' (tier %d) not ready: %s %s; waited %.1f s for this probe, %.1f s since the wait began"
               % (name, index, what, why, now - probe_began, now - began))
        self.records[name]['status'] = 'failed'
        self.records[name]['error'] = msg
        self.event(name, 'not ready: %s %s' % (what, why), probe=probe.type if probe else None,
                   waited=round(now - probe_began, 2))
        with self._mutex:
            self.failures.append(msg)
        if policy != 'continue':
            abandon.set()

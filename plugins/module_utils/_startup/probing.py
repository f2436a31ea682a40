# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The startup engine's readiness waits: every VM's probes in a thread of its own, retried until they pass,
fail for good, hit a deadline (then, with restart_on_timeout, the VM is powered off, started once more and waited
for again), or are abandoned because another VM failed or the run was cancelled.

While it waits, each thread also looks at its VM's domain (after each attempt and every DOMAIN_WATCH seconds
between attempts): a domain that shut off, crashed or is no longer defined fails the VM at once, with the
cause libvirt gives; a paused one is noted in the timeline and the progress lines, and the wait goes on.
An attempt already under way finishes first (it is bounded by its attempt timeout).

Private to strata.libvirt; no compatibility promise.
"""

import time

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils import _probes
from ansible_collections.strata.libvirt.plugins.module_utils._startup.domains import DomainWatch, RemoteWatch, start_domain
from ansible_collections.strata.libvirt.plugins.module_utils._startup.timing import DOMAIN_WATCH, HEARTBEAT, seconds_text


class ProbeMixin(object):
    """Engine methods that wait for readiness (see Engine for the attributes they use)."""

    def _wait_ready(self, name, index, deadline_tier, abandon):
        """Wait until the VM passed all its probes (status ready), failed, or was abandoned. A VM this run started
        that is not ready in time is, with restart_on_timeout, powered off and started once more, and waited for
        again with its full timeout."""
        vm = self.vms[name]
        record = self.records[name]
        record['status'] = 'waiting'
        policy = self.config['on_failure']
        watch = RemoteWatch(vm['remote'], DOMAIN_WATCH) if vm.get('remote') else DomainWatch(self.conn, name, DOMAIN_WATCH)
        restarted = False
        while True:
            began = time.monotonic()
            deadline = began + vm['timeout']
            limit = 'timeout %s s' % seconds_text(vm['timeout'])
            if deadline_tier is not None and deadline_tier < deadline and not restarted:
                deadline, limit = deadline_tier, 'tier_timeout %s s' % seconds_text(self.config['tier_timeout'])
            probe = last = None
            try:
                outcome = self._probe_round(name, index, vm, watch, began, deadline, abandon, policy)
                if outcome is None:
                    return
                probe, probe_began, last = outcome
                if vm['restart_on_timeout'] and not restarted and name in self.started and not abandon.is_set():
                    restarted = True
                    self._restart(name, probe, limit, last)
                    continue
                self._fail(name, index, probe, probe_began, began,
                           'did not pass within the %s (last result: %s)%s'
                           % (limit, last, ' after one restart' if restarted else ''), policy)
                return
            except StrataError as exc:  # pragma: no cover - e.g. the connection broke
                if self._watch(name, watch, force=True):
                    self._fail_ended(name, index, probe, began, watch, last, policy)
                else:
                    self._fail(name, index, None, began, began, str(exc), policy)
                return

    def _restart(self, name, probe, limit, last):
        """Power the VM off and start it once more (restart_on_timeout)."""
        self.event(name, 'not ready within the %s (probe %s, last result: %s): powering it off and starting it once more'
                   % (limit, probe.describe(self._known_address(name)), last), kind='restart')
        with self.lock():
            dom = _connection.call("look up domain '%s'" % name, self.conn.lookupByName, name)
            if dom.isActive():
                _connection.call("power off domain '%s'" % name, dom.destroy)
            did = start_domain(self.conn, name)
        with self._mutex:
            self.restarted.append(name)
        self.event(name, 'start issued again (%s)' % did, kind='start')

    def _probe_round(self, name, index, vm, watch, began, deadline, abandon, policy):
        """All the VM's probes once, each retried until it passes. None when the VM is ready or was failed or
        abandoned here; (probe, when it began, its last result) when the deadline came first."""
        record = self.records[name]
        for probe in [_probes.build(p) for p in vm['probes']]:
            probe_began = noted = time.monotonic()
            last = None
            attempts = 0
            ctx = _probes.ProbeContext(vm, self.conn, self.resolver, deadline, cancel=abandon)
            while True:
                if self._watch(name, watch):
                    self._fail_ended(name, index, probe, began, watch, last, policy)
                    return None
                if abandon.is_set():
                    record['status'] = 'abandoned'
                    self.event(name, 'abandoned while waiting for probe %s: %s'
                               % (probe.describe(self._known_address(name)), self.abandon_why or 'the run stopped'))
                    return None
                attempts += 1
                wait = probe.interval
                try:
                    detail = probe.check(ctx)
                except _probes.ProbeFailed as exc:
                    last = str(exc)
                    wait = min(wait, exc.retry_after or wait)
                except _probes.ProbeFatal as exc:
                    self._fail(name, index, probe, probe_began, began, 'cannot pass: %s' % exc, policy)
                    return None
                except Exception as exc:  # an unexpected error is a failure, not a crash
                    if self._watch(name, watch, force=True):  # e.g. the domain went away under the probe
                        self._fail_ended(name, index, probe, began, watch, last, policy)
                    else:  # pragma: no cover
                        self._fail(name, index, probe, probe_began, began,
                                   'raised %s' % _connection.error_text(exc), policy)
                    return None
                else:
                    self._note_address(name)
                    self.event(name, 'probe %s passed' % probe.describe(self._known_address(name)), kind='probe',
                               probe=probe.type, detail=detail,
                               attempts=attempts, waited=round(time.monotonic() - probe_began, 2))
                    break
                now = time.monotonic()
                if now - noted >= HEARTBEAT:
                    noted = now
                    self.progress('%s: still waiting for probe %s (%.0f s so far, %.0f s left; last result: %s%s)'
                                  % (name, probe.describe(self._known_address(name)), now - probe_began,
                                     max(0, deadline - now), last, watch.note()), vm=name, kind='heartbeat')
                if now >= deadline:
                    return probe, probe_began, last
                if self._pause(name, watch, abandon, min(wait, deadline - now)):
                    self._fail_ended(name, index, probe, began, watch, last, policy)
                    return None
        record['status'] = 'ready'
        self.event(name, 'ready', kind='ready', waited=round(time.monotonic() - began, 2))
        return None

    def _watch(self, name, watch, force=False):
        """Look at the domain when due; a change that is not the end (paused, running again) goes into the
        timeline. True when the domain can no longer become ready (shut off, crashed, gone)."""
        was_running = watch.running() if watch.looked is not None else None
        if watch.look(force) and watch.ended() is None:
            if not watch.running():
                self.event(name, 'the domain is %s; the readiness wait goes on' % watch.text(), domain=watch.text())
            elif was_running is False:
                self.event(name, 'the domain runs again', domain=watch.text())
        return watch.ended() is not None

    def _pause(self, name, watch, abandon, seconds):
        """Sleep until the next attempt, looking at the domain meanwhile; True when it ended."""
        end = time.monotonic() + max(0.0, seconds)
        while not abandon.is_set():
            left = end - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(left, watch.every))
            if self._watch(name, watch):
                return True
        return False

    def _known_address(self, name):
        return self.vms[name]['address'] or self.resolver.found.get(name, (None, None))[0]

    def _note_address(self, name):
        found = self.resolver.found.get(name)
        if found and not self.records[name]['address']:
            self.records[name]['address'], self.records[name]['address_source'] = found

    def _fail(self, name, index, probe, probe_began, began, why, policy):
        now = time.monotonic()
        what = ('probe %s' % probe.describe(self._known_address(name))) if probe else 'the readiness wait'
        msg = ("VM '%s' (tier %d) not ready: %s %s; waited %.1f s for this probe, %.1f s since the wait began"
               % (name, index, what, why, now - probe_began, now - began))
        self._failed(name, msg, policy, 'not ready: %s %s' % (what, why), probe=probe.type if probe else None,
                     waited=round(now - probe_began, 2))

    def _fail_ended(self, name, index, probe, began, watch, last, policy):
        """The domain shut off, crashed or went away while its probes had not passed."""
        now = time.monotonic()
        what, why = watch.ended()
        cause = '%s after %.1f s%s' % (what, now - began, (' (%s)' % why) if why else '')
        msg = "VM '%s' (tier %d) not ready: %s" % (name, index, cause)
        if probe is not None:
            msg += '; probe %s had not passed' % probe.describe(self._known_address(name))
            if last:
                msg += ' (last result: %s)' % last
        self._failed(name, msg, policy, 'not ready: %s' % cause, probe=probe.type if probe else None,
                     domain=watch.text(), waited=round(now - began, 2))

    def _failed(self, name, msg, policy, event, **extra):
        self.records[name]['status'] = 'failed'
        self.records[name]['error'] = msg
        self.event(name, event, kind='failed', **extra)
        with self._mutex:
            self.failures.append(msg)
        if policy != 'continue':
            self.abandon("'%s' failed" % name)

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The startup engine's shutdown in reverse dependency order, by edges: a VM is asked to shut down (repeatedly within
its grace period, then it is forced off) once every VM that depends on it is off; VMs with no such wait stop side by
side. A domain that goes away meanwhile
(undefined by someone else) counts as off.

Private to strata.libvirt; no compatibility promise.
"""

import queue
import time

from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils._startup.domains import PAUSED, is_gone, is_off, request_shutdown
from ansible_collections.strata.libvirt.plugins.module_utils._startup.timing import HEARTBEAT, seconds_text

ACPI_RESEND = 15.0       # seconds between repeated shutdown requests within the grace period
STOP_POLL = 0.5


class StopMixin(object):
    """Engine methods that stop the VMs (see Engine for the attributes they use)."""

    def _stop_started(self):
        self._run_stop(list(self.started))

    def _run_stop(self, names):
        """Stop `names` in reverse dependency order, by edges: a VM is asked to shut down once every VM of `names`
        that depends on it is off. A VM that fails to stop holds back the VMs it depends on (they stay running)."""
        order = self.priority(names)[::-1]
        member = set(order)
        waits = dict((n, set(d for d in self.graph['dependents'][n] if d in member)) for n in order)
        self.progress('stopping %d VM(s), each once the VMs that depend on it are off: %s'
                      % (len(order), self.order_text(order, dict((n, sorted(waits[n], key=order.index)) for n in order),
                                                     'after')))
        done = queue.Queue()
        pending = set()
        held = set()
        left = list(order)
        while left or pending:
            for name in [n for n in left if not waits[n]]:
                left.remove(name)
                pending.add(name)
                self.tier_began(self.graph['level'][name])
                self.thread(lambda n=name: (self._stop_one(n), done.put(n)), 'strata-stop-%s' % name)
            if not pending:
                break
            name = done.get()
            pending.discard(name)
            if self.records[name].get('stop_error'):
                blocked = sorted(self._depended_on(name, member) & set(left), key=order.index)
                if blocked:
                    held.update(blocked)
                    self.progress('not stopping %s: %s failed to stop, and they are its dependencies'
                                  % (', '.join(blocked), name))
                    left = [n for n in left if n not in blocked]
                continue
            for other in order:
                waits[other].discard(name)

    def _depended_on(self, name, member):
        """Every VM of `member` that name depends on, directly or not."""
        found, todo = set(), list(self.graph['deps'][name])
        while todo:
            dep = todo.pop()
            if dep in member and dep not in found:
                found.add(dep)
                todo.extend(self.graph['deps'][dep])
        return found

    def _stop_one(self, name):
        vm = self.vms[name]
        record = self.records[name]
        mode = self.config['shutdown_mode']
        dom = None
        began = None
        try:
            try:
                dom = self.conn.lookupByName(name)
            except Exception as exc:
                if _connection.is_error(exc, 'VIR_ERR_NO_DOMAIN'):
                    return
                raise
            if is_off(dom):
                return
            persistent = bool(dom.isPersistent())
            if dom.state()[0] == PAUSED:
                dom.resume()  # a paused guest cannot see the power button
                self.event(name, 'resumed (paused guests ignore ACPI)')
            self.changed = True
            began = time.monotonic()
            grace = vm['grace']
            if grace > 0:
                request_shutdown(dom, mode)
                self.event(name, 'shutdown requested (%s, grace %s s)' % (mode, seconds_text(grace)))
                last_request = noted = began
                while not is_off(dom) and time.monotonic() - began < grace:
                    time.sleep(min(STOP_POLL, max(0.0, grace - (time.monotonic() - began))))
                    if time.monotonic() - noted >= HEARTBEAT:
                        noted = time.monotonic()
                        self.progress('%s: still shutting down (%.0f s of %s s grace)'
                                      % (name, noted - began, seconds_text(grace)))
                    if time.monotonic() - last_request >= ACPI_RESEND and not is_off(dom):
                        try:
                            request_shutdown(dom, mode)
                        except Exception:  # pragma: no cover - it may be going down right now
                            pass
                        last_request = time.monotonic()
            if persistent and is_gone(dom):  # a transient domain is gone once it is off; this one was undefined
                self.event(name, 'stopped (no longer defined after %.1f s: undefined meanwhile)' % (time.monotonic() - began),
                           kind='stopped', forced=False, waited=round(time.monotonic() - began, 2))
            elif is_off(dom):
                self.event(name, 'stopped (shut down by the guest after %.1f s)' % (time.monotonic() - began),
                           kind='stopped', forced=False, waited=round(time.monotonic() - began, 2))
            else:
                try:
                    dom.destroy()
                except Exception:
                    if not is_off(dom):
                        raise
                record['forced'] = True
                with self._mutex:
                    self.forced.append(name)
                self.event(name, 'forced off (destroy) after a grace period of %s s' % seconds_text(grace),
                           kind='forced', forced=True, waited=round(time.monotonic() - began, 2))
            self._stopped(name)
        except Exception as exc:
            if dom is not None and _vanished(dom):
                self.event(name, 'no longer defined (undefined meanwhile): nothing left to stop')
                if began is not None:
                    self._stopped(name)
                return
            record['stop_error'] = 'failed to stop: %s' % _connection.error_text(exc)
            record['status'] = 'stop failed'
            self.event(name, record['stop_error'], kind='failed')
            with self._mutex:
                self.errors.append("VM '%s': %s" % (name, record['stop_error']))

    def _stopped(self, name):
        if self.config['state'] == 'stopped':
            self.records[name]['status'] = 'stopped'
        else:  # on_failure=stop_started: keep the readiness status, say that it was stopped
            self.records[name]['stopped_after_failure'] = True
        with self._mutex:
            self.stopped.append(name)


def _vanished(dom):
    """True when the domain no longer exists; False also when that cannot be told."""
    try:
        return is_gone(dom)
    except Exception:
        return False

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The startup engine's shutdown: tier by tier in reverse order, the VMs of a tier in parallel, each asked
to shut down (repeatedly within its grace period) and then forced off. A domain that goes away meanwhile
(undefined by someone else) counts as off.

Private to strata.libvirt; no compatibility promise.
"""

import threading
import time

from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils._startup.domains import PAUSED, is_gone, is_off, request_shutdown
from ansible_collections.strata.libvirt.plugins.module_utils._startup.timing import HEARTBEAT, seconds_text

ACPI_RESEND = 15.0       # seconds between repeated shutdown requests within the grace period
STOP_POLL = 0.5


class StopMixin(object):
    """Engine methods that stop the VMs (see Engine for the attributes they use)."""

    def _stop_started(self):
        names = set(self.started)
        order = [t for t in reversed(range(len(self.graph['tiers'])))
                 if any(n in names for n in self.graph['tiers'][t])]
        self._run_stop(order, only=names)

    def _run_stop(self, order, stop_all=False, only=None):
        for index in order:
            names = [n for n in self.graph['tiers'][index] if only is None or n in only]
            record = {'tier': index, 'vms': names, 'status': 'stopping', 'began': self.clock.now(), 'stopped': None}
            if stop_all:
                self.tier_records.append(record)
            else:
                record['status'] = 'stopping (on_failure=stop_started)'
                self.tier_records.append(record)
            self.progress('tier %d: stopping %s' % (index, ', '.join(names)))
            threads = []
            for name in names:
                thread = threading.Thread(target=self._stop_one, args=(name,), name='strata-stop-%s' % name)
                thread.daemon = True
                thread.start()
                threads.append(thread)
            for thread in threads:
                thread.join()
            record['stopped'] = self.clock.now()
            failed = [n for n in names if self.records[n].get('stop_error')]
            record['status'] = 'failed' if failed else 'stopped'
            self.progress('tier %d: %s after %.1f s' % (index, record['status'], record['stopped']['t'] - record['began']['t']))
            if failed:
                self.progress('tier %d: not stopping the earlier tiers: %s failed to stop' % (index, ', '.join(failed)))
                break

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
                           forced=False, waited=round(time.monotonic() - began, 2))
            elif is_off(dom):
                self.event(name, 'stopped (shut down by the guest after %.1f s)' % (time.monotonic() - began),
                           forced=False, waited=round(time.monotonic() - began, 2))
            else:
                try:
                    dom.destroy()
                except Exception as exc:
                    if not is_off(dom):
                        raise
                record['forced'] = True
                with self._mutex:
                    self.forced.append(name)
                self.event(name, 'forced off (destroy) after a grace period of %s s' % seconds_text(grace),
                           forced=True, waited=round(time.monotonic() - began, 2))
            self._stopped(name)
        except Exception as exc:
            if dom is not None and _vanished(dom):
                self.event(name, 'no longer defined (undefined meanwhile): nothing left to stop')
                if began is not None:
                    self._stopped(name)
                return
            record['stop_error'] = 'failed to stop: %s' % _connection.error_text(exc)
            record['status'] = 'stop failed'
            self.event(name, record['stop_error'])
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

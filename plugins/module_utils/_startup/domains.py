# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The libvirt calls of the startup engine: read a domain's state, start it, watch it while the engine waits
for it, ask it to shut down.

Small on purpose; the domain module has the full lifecycle. The engine's threads share one libvirt connection
(libvirt's API is thread-safe: one connection may serve several threads at once), as the probes do.

Private to strata.libvirt; no compatibility promise.
"""

import re
import time

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils import _probes

libvirt = _connection.libvirt


def _table(rows):
    """{libvirt's number: text} of (VIR_* name, number, text) rows; the number stands in where the binding
    is missing or older than the name."""
    return dict((getattr(libvirt, name, number), text) for name, number, text in rows)


SHUTOFF = getattr(libvirt, 'VIR_DOMAIN_SHUTOFF', 5)
CRASHED = getattr(libvirt, 'VIR_DOMAIN_CRASHED', 6)
PAUSED = getattr(libvirt, 'VIR_DOMAIN_PAUSED', 3)
RUNNING_STATES = (getattr(libvirt, 'VIR_DOMAIN_RUNNING', 1), getattr(libvirt, 'VIR_DOMAIN_BLOCKED', 2))

# why a domain is in its state (the reason of virDomainGetState), as the readiness wait reports it
SHUTOFF_REASONS = _table([
    ('VIR_DOMAIN_SHUTOFF_SHUTDOWN', 1, 'shut down from inside the guest'),
    ('VIR_DOMAIN_SHUTOFF_DESTROYED', 2, 'destroyed'),
    ('VIR_DOMAIN_SHUTOFF_CRASHED', 3, 'the guest crashed'),
    ('VIR_DOMAIN_SHUTOFF_MIGRATED', 4, 'migrated to another host'),
    ('VIR_DOMAIN_SHUTOFF_SAVED', 5, 'saved to a file'),
    ('VIR_DOMAIN_SHUTOFF_FAILED', 6, 'failed to start'),
    ('VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT', 7, 'reverted to a snapshot taken while it was off'),
    ('VIR_DOMAIN_SHUTOFF_DAEMON', 8, 'killed by libvirt while it reconnected to the hypervisor'),
])
CRASHED_REASONS = _table([('VIR_DOMAIN_CRASHED_PANICKED', 1, 'the guest kernel panicked')])
PAUSED_REASONS = _table([
    ('VIR_DOMAIN_PAUSED_USER', 1, 'by the user'),
    ('VIR_DOMAIN_PAUSED_MIGRATION', 2, 'for a migration'),
    ('VIR_DOMAIN_PAUSED_SAVE', 3, 'while being saved'),
    ('VIR_DOMAIN_PAUSED_DUMP', 4, 'for a core dump'),
    ('VIR_DOMAIN_PAUSED_IOERROR', 5, 'after a disk I/O error'),
    ('VIR_DOMAIN_PAUSED_WATCHDOG', 6, 'by its watchdog'),
    ('VIR_DOMAIN_PAUSED_FROM_SNAPSHOT', 7, 'reverted to a paused snapshot'),
    ('VIR_DOMAIN_PAUSED_SHUTTING_DOWN', 8, 'while shutting down'),
    ('VIR_DOMAIN_PAUSED_SNAPSHOT', 9, 'for a snapshot'),
    ('VIR_DOMAIN_PAUSED_CRASHED', 10, 'after the guest crashed'),
    ('VIR_DOMAIN_PAUSED_STARTING_UP', 11, 'while starting up'),
    ('VIR_DOMAIN_PAUSED_POSTCOPY', 12, 'during a post-copy migration'),
    ('VIR_DOMAIN_PAUSED_POSTCOPY_FAILED', 13, 'after a failed post-copy migration'),
    ('VIR_DOMAIN_PAUSED_API_ERROR', 14, 'after a failed libvirt call'),
])
DOMAIN_TYPE_RE = re.compile(r"<domain[^>]*\btype=['\"]([a-z]+)['\"]")
STATE_TEXTS = {PAUSED: 'paused', SHUTOFF: 'shut off', CRASHED: 'crashed', 4: 'being shut down',
               7: 'suspended by the guest (power management)'}


def state_name(state):
    return _probes.STATE_NAMES.get(state, str(state))


def read_state(conn, name, with_type=False):
    """(state name, autostart, persistent and, with_type, the domain type: kvm or qemu) of a domain, or None when
    it is not defined."""
    try:
        dom = conn.lookupByName(name)
    except Exception as exc:
        if _connection.is_error(exc, 'VIR_ERR_NO_DOMAIN'):
            return None
        raise StrataError("Failed to look up domain '%s': %s" % (name, _connection.error_text(exc)))
    state = _connection.call("read the state of domain '%s'" % name, dom.state)[0]
    persistent = bool(_connection.call("read domain '%s'" % name, dom.isPersistent))
    autostart = bool(_connection.call("read the autostart flag of '%s'" % name, dom.autostart)) if persistent else None
    out = {'state': state_name(state), 'autostart': autostart, 'persistent': persistent}
    if with_type:
        found = DOMAIN_TYPE_RE.search(_connection.call("read the XML of domain '%s'" % name, dom.XMLDesc, 0))
        out['type'] = found.group(1) if found else None
    return out


def start_domain(conn, name):
    """Start (or resume) a domain; returns what was done."""
    dom = _connection.call("look up domain '%s'" % name, conn.lookupByName, name)
    state = dom.state()[0]
    if state == libvirt.VIR_DOMAIN_PAUSED:
        _connection.call("resume domain '%s'" % name, dom.resume)
        return 'resumed'
    if state == libvirt.VIR_DOMAIN_PMSUSPENDED:
        _connection.call("wake up domain '%s'" % name, dom.pMWakeup, 0)
        return 'woken up'
    if state in (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_BLOCKED):
        return 'already running'
    _connection.call("start domain '%s'" % name, dom.create)
    return 'started'


def request_shutdown(dom, mode):
    """One shutdown request (ACPI power button by default); falls back to libvirt's default method
    when the driver does not support the flag (the test driver)."""
    flags = {'acpi': getattr(libvirt, 'VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN', 1),
             'agent': getattr(libvirt, 'VIR_DOMAIN_SHUTDOWN_GUEST_AGENT', 2),
             'default': 0}[mode]
    try:
        dom.shutdownFlags(flags)
    except Exception as exc:
        if flags and _connection.unsupported(exc):
            dom.shutdownFlags(0)
        elif _connection.is_error(exc, 'VIR_ERR_OPERATION_INVALID') and not dom.isActive():
            return  # it went off meanwhile
        else:
            raise


def is_off(dom):
    try:
        return dom.state()[0] in (SHUTOFF, CRASHED) or not dom.isActive()
    except Exception as exc:
        if _connection.is_error(exc, 'VIR_ERR_NO_DOMAIN'):
            return True  # a transient domain is gone once it is off
        raise


def is_gone(dom):
    """True when the domain no longer exists (undefined while off, or a transient domain that went off)."""
    try:
        dom.state()
    except Exception as exc:
        if _connection.is_error(exc, 'VIR_ERR_NO_DOMAIN'):
            return True
        raise
    return False


def look(conn, name):
    """[state, reason] of the domain called name, or None when no domain has that name (any more)."""
    try:
        return list(conn.lookupByName(name).state()[:2])
    except Exception as exc:
        if _connection.is_error(exc, 'VIR_ERR_NO_DOMAIN'):
            return None
        raise


def end_of(state):
    """(what happened, why or None) when a domain in this look() state can no longer become ready
    (shut off, crashed, gone), else None."""
    if state is None:
        return 'no longer defined', None
    if state[0] == SHUTOFF:
        return 'shut off', SHUTOFF_REASONS.get(state[1])
    if state[0] == CRASHED:
        return 'crashed', CRASHED_REASONS.get(state[1])
    return None


def state_text(state):
    """'running', 'paused (by the user)', 'shut off (destroyed)', 'no longer defined', ... of a look() state."""
    if state is None:
        return 'no longer defined'
    if state[0] in RUNNING_STATES:
        return 'running'
    reason = {PAUSED: PAUSED_REASONS, SHUTOFF: SHUTOFF_REASONS, CRASHED: CRASHED_REASONS}.get(state[0], {}).get(state[1])
    text = STATE_TEXTS.get(state[0]) or state_name(state[0])
    return '%s (%s)' % (text, reason) if reason else text


class RemoteWatch(object):
    """The DomainWatch of a VM on another hypervisor (remote): its state cannot be looked at from here, so the wait
    goes on until its probes pass or its time is up."""

    def __init__(self, host, every):
        self.host = host
        self.every = every
        self.looked = None

    def look(self, force=False):
        return False

    def ended(self):
        return None

    def running(self):
        return True

    def text(self):
        return 'on host %s' % self.host

    def note(self):
        return ''


class DomainWatch(object):
    """The state of one domain the readiness wait waits for, looked up at most every `every` seconds
    (one lookupByName().state() call): after each probe attempt and during the pauses between them."""

    def __init__(self, conn, name, every):
        self.conn = conn
        self.name = name
        self.every = every
        self.looked = None      # monotonic time of the last look
        self.state = None       # the last look() answer
        self.error = None       # why the last look failed (a libvirt error other than 'no such domain')

    def look(self, force=False):
        """Look again when due (or forced); returns True when the state differs from the last look's."""
        now = time.monotonic()
        if not force and self.looked is not None and now - self.looked < self.every:
            return False
        first = self.looked is None
        self.looked = now
        try:
            state = look(self.conn, self.name)
        except Exception as exc:
            self.error = _connection.error_text(exc)
            return False
        self.error = None
        changed = first or state != self.state
        self.state = state
        return changed

    def ended(self):
        """end_of() of the last successful look; None before the first one."""
        return end_of(self.state) if self.looked is not None and self.error is None else None

    def running(self):
        return self.state is not None and self.state[0] in RUNNING_STATES

    def text(self):
        if self.error:
            return 'state unknown (%s)' % self.error
        return state_text(self.state)

    def note(self):
        """'' while the domain runs, else how it is: for the progress lines."""
        if self.error:
            return '; the state of the domain cannot be read: %s' % self.error
        return '' if self.running() else '; the domain is %s' % state_text(self.state)

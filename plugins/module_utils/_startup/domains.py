# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The libvirt calls of the startup engine: read a domain's state, start it, ask it to shut down.

Small on purpose; the domain module has the full lifecycle.

Private to strata.libvirt; no compatibility promise.
"""

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils import _probes

libvirt = _connection.libvirt


def state_name(state):
    return _probes.STATE_NAMES.get(state, str(state))


def read_state(conn, name):
    """(state name, autostart, persistent) of a domain, or None when it is not defined."""
    try:
        dom = conn.lookupByName(name)
    except Exception as exc:
        if _connection.is_error(exc, 'VIR_ERR_NO_DOMAIN'):
            return None
        raise StrataError("Failed to look up domain '%s': %s" % (name, _connection.error_text(exc)))
    state = _connection.call("read the state of domain '%s'" % name, dom.state)[0]
    persistent = bool(_connection.call("read domain '%s'" % name, dom.isPersistent))
    autostart = bool(_connection.call("read the autostart flag of '%s'" % name, dom.autostart)) if persistent else None
    return {'state': state_name(state), 'autostart': autostart, 'persistent': persistent}


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
        return dom.state()[0] in (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_CRASHED) or not dom.isActive()
    except Exception as exc:
        if _connection.is_error(exc, 'VIR_ERR_NO_DOMAIN'):
            return True  # a transient domain is gone once it is off
        raise

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A domain's lifecycle in libvirt: a graceful stop (ACPI shutdown, a timeout, then forced off), the undefine
with every cleanup flag the driver supports, and the removal of snapshot and checkpoint metadata.

Private to strata.libvirt; no compatibility promise.
"""

import time

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils._domain.facts import STATE_NAMES

POLL = 0.25


def is_active(dom):
    libvirt = _connection.libvirt
    try:
        return bool(dom.isActive())
    except libvirt.libvirtError as exc:
        if _connection.is_error(exc, 'VIR_ERR_NO_DOMAIN'):
            return False  # a transient domain is gone once it is off
        raise


def stop_domain(dom, timeout, poll=POLL):
    """ACPI shutdown, wait up to timeout seconds, then force off. Returns {method, seconds[, reason]}."""
    libvirt = _connection.libvirt
    name = dom.name()
    started = time.monotonic()

    def report(method, reason=None):
        result = {'method': method, 'seconds': round(time.monotonic() - started, 1)}
        if reason:
            result['reason'] = reason
        return result

    def force(reason):
        try:
            dom.destroy()
        except libvirt.libvirtError as exc:
            if is_active(dom):
                raise StrataError("Failed to force off domain '%s': %s" % (name, _connection.error_text(exc)))
        return report('forced', reason)

    if not is_active(dom):
        return report('none', 'already shut off')
    state = dom.state()[0]
    if state in (libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PMSUSPENDED, libvirt.VIR_DOMAIN_CRASHED):
        return force('the domain is %s and cannot handle an ACPI shutdown' % STATE_NAMES.get(state))
    if timeout <= 0:
        return force('shutdown_timeout is 0')
    try:
        try:
            dom.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)
        except libvirt.libvirtError as exc:
            if not _connection.unsupported(exc):
                raise
            dom.shutdown()  # drivers without the ACPI flag (test:///default)
    except libvirt.libvirtError as exc:
        if not is_active(dom):
            return report('acpi')
        raise StrataError("Failed to ask domain '%s' for an ACPI shutdown: %s" % (name, _connection.error_text(exc)))
    while time.monotonic() - started < timeout:
        if not is_active(dom):
            return report('acpi')
        time.sleep(poll)
    if not is_active(dom):
        return report('acpi')
    return force('no ACPI shutdown within %ss' % timeout)


def undefine_domain(dom, nvram):
    """Undefine with every cleanup flag the driver supports; narrower flag sets when it refuses some.

    A flag that was needed but dropped makes libvirt refuse the undefine (e.g. snapshots left), so
    nothing is silently left behind.
    """
    libvirt = _connection.libvirt

    def flags(*names):
        value = 0
        for flag in names:
            value |= getattr(libvirt, 'VIR_DOMAIN_UNDEFINE_' + flag, 0)
        return value

    nv = ('NVRAM',) if nvram else ()
    attempts = [flags('MANAGED_SAVE', 'SNAPSHOTS_METADATA', 'CHECKPOINTS_METADATA', *nv),
                flags('MANAGED_SAVE', 'SNAPSHOTS_METADATA', *nv), flags('MANAGED_SAVE', 'SNAPSHOTS_METADATA'),
                flags(*nv), 0]
    for attempt in attempts:
        try:
            dom.undefineFlags(attempt)
            return
        except libvirt.libvirtError as exc:
            if attempt and _connection.unsupported(exc):
                continue
            raise StrataError("Failed to undefine domain '%s': %s" % (dom.name(), _connection.error_text(exc)))


def delete_metadata(what, obj, flag):
    """Delete snapshot/checkpoint metadata; drivers without METADATA_ONLY leave it to undefine's flags."""
    libvirt = _connection.libvirt
    try:
        obj.delete(flag)
    except libvirt.libvirtError as exc:
        if not _connection.unsupported(exc):
            raise StrataError('Failed to %s: %s' % (what, _connection.error_text(exc)))

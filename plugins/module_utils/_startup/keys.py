# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The startup engine's reading of a ready VM's SSH host keys (option host_keys): through the guest agent, else the
serial console log, as strata.libvirt.domain_info host_keys=true reads them (_domain.hostkeys), in the VM's own
thread once it is ready, while the VMs after it start and boot.

    read(conn, uri, name) -> {'keys': [...], 'source': 'agent' | 'console' | None, 'error': ...}

Private to strata.libvirt; no compatibility promise.
"""

from xml.etree import ElementTree

from ansible_collections.strata.libvirt.plugins.module_utils import _connection

KEYS_WAIT = 60.0   # seconds the run waits at its end for the key reads still under way (each agent call is bounded)


def console_log(xml):
    """The domain's serial console log file, as its settings name it (_domain.settings.console_log), None without
    one. Imported here, as _domain.hostkeys in read()."""
    from ansible_collections.strata.libvirt.plugins.module_utils._domain import settings
    devices = ElementTree.fromstring(xml).find('devices')
    return settings.console_log(devices) if devices is not None else None


def read(conn, uri, name):
    """The host keys of the running domain `name` (hostkeys.host_keys), an error in the same shape when it cannot
    be looked at. _domain.hostkeys is imported here: it needs Ansible's text helpers, and the boot-time service,
    which runs the engine with only Python and libvirt-python, never reads keys."""
    from ansible_collections.strata.libvirt.plugins.module_utils._domain import hostkeys
    try:
        dom = conn.lookupByName(name)
        return hostkeys.host_keys(dom, console_log(dom.XMLDesc(0)), _connection.is_local_qemu(uri))
    except (_connection.libvirt.libvirtError, ElementTree.ParseError) as exc:
        return {'keys': [], 'source': None, 'error': _connection.error_text(exc)}


def found(records):
    """The keys read, in the shape of strata.libvirt.domain_info's `domains` (name, active, host_keys)."""
    return [{'name': name, 'active': True, 'host_keys': record['host_keys']}
            for name, record in sorted(records.items()) if record.get('host_keys') is not None]

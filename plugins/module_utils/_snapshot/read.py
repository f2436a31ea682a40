# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Reading a domain's snapshots from libvirt, and what the planner needs of the domain itself: whether it
exists and runs, whose it is, whether it boots UEFI firmware and which of its disks an internal snapshot
would go into. The normalisation of the XML is pure.

Private to strata.libvirt; no compatibility promise.
"""

import datetime

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils import _xml
from ansible_collections.strata.libvirt.plugins.module_utils._domain.read import lookup_domain, read_domain_state

# A snapshot's <state> (the domain's state when it was taken) in the words the domain modules use.
STATE_WORDS = {'shutoff': 'shut off', 'shutdown': 'in shutdown', 'nostate': 'no state'}
# The states whose snapshots hold the guest's memory when the XML does not say (<memory> is libvirt's since 1.0).
MEMORY_STATES = ('running', 'paused', 'blocked')


# ---------------------------------------------------------------- normalise (pure)

def parse_snapshot(root, current=False):
    """The facts of one snapshot from its XML (virDomainSnapshotGetXMLDesc); the domain XML in it is left out."""
    state = _xml.text_of(root, 'state')
    memory = root.find('memory')
    memory_location = memory.get('snapshot') if memory is not None else None
    disk_locations = [disk.get('snapshot') for disk in root.findall('disks/disk')]
    created = _xml.text_of(root, 'creationTime')
    seconds = int(created) if created and created.isdigit() else None
    return {
        'name': _xml.text_of(root, 'name'),
        'description': _xml.text_of(root, 'description'),
        'state': STATE_WORDS.get(state, state),
        'memory': memory_location in ('internal', 'external') if memory_location else state in MEMORY_STATES,
        'location': 'external' if 'external' in [memory_location] + disk_locations else 'internal',
        'parent': _xml.text_of(root, 'parent/name'),
        'current': bool(current),
        'creation_time': seconds,
        'created': (datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
                    if seconds is not None else None),
    }


def uefi_evidence(root):
    """What in a domain XML says it boots UEFI firmware from pflash (its NVRAM variables beside it), or None:
    <loader type='pflash'> (a loader given, or the one libvirt's autoselection chose for the running domain) or
    <os firmware='efi'> (autoselection)."""
    os_elem = root.find('os') if root is not None else None
    if os_elem is None:
        return None
    loader = os_elem.find('loader')
    if loader is not None and loader.get('type') == 'pflash':
        return "<loader type='pflash'>%s" % ((' ' + loader.text.strip()) if (loader.text or '').strip() else '')
    if os_elem.get('firmware') == 'efi':
        return "<os firmware='efi'>"
    return None


def snapshot_disks(config):
    """The disks an internal snapshot goes into: writable disk devices with a source (libvirt leaves read-only
    disks and CD-ROMs out), with their target and format (None when the XML does not say)."""
    return [{'target': disk['target'], 'format': disk['format']} for disk in config.get('disks') or []
            if disk['device'] == 'disk' and not disk['readonly'] and disk['source']]


# ---------------------------------------------------------------- libvirt side

def read_snapshots(dom, domain):
    """The facts of every snapshot of a domain, oldest first."""
    what = "list the snapshots of domain '%s'" % domain
    facts = []
    for snap in _connection.call(what, dom.listAllSnapshots, 0):
        snap_what = "read snapshot '%s' of domain '%s'" % (snap.getName(), domain)
        root = _xml.parse_xml(_connection.call(snap_what, snap.getXMLDesc, 0), 'snapshot XML from libvirt')
        facts.append(parse_snapshot(root, _connection.call(snap_what, snap.isCurrent, 0)))
    return sorted(facts, key=lambda snap: (snap['creation_time'] or 0, snap['name']))


def read_domain_snapshots(conn, domain):
    """The current state the planner works from: the domain (exists, active, state, owner, uefi, disks) and its
    snapshots."""
    dom = lookup_domain(conn, domain)
    state = read_domain_state(conn, domain, dom)
    if not state['exists']:
        return {'exists': False, 'name': domain, 'snapshots': []}
    # a running domain is snapshotted as it runs (its live definition), a shut off one as it is defined
    config = state['live'] if state['active'] else state['config']
    return {
        'exists': True, 'name': domain, 'active': state['active'], 'state': state['state'], 'owner': state['owner'],
        'uefi': uefi_evidence(state['live_xml']) or uefi_evidence(state['xml']),
        'disks': snapshot_disks(config),
        'snapshots': read_snapshots(dom, domain),
    }


def lookup_snapshot(dom, domain, name):
    """The virDomainSnapshot of that name; StrataError when it is gone."""
    libvirt = _connection.libvirt
    try:
        return dom.snapshotLookupByName(name, 0)
    except libvirt.libvirtError as exc:
        if _connection.is_error(exc, 'VIR_ERR_NO_DOMAIN_SNAPSHOT'):
            raise StrataError("Snapshot '%s' of domain '%s' disappeared while the task ran" % (name, domain))
        raise StrataError("Failed to look up snapshot '%s' of domain '%s': %s" % (name, domain, _connection.error_text(exc)))

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The snapshot planner (pure): the domain and its snapshots as read + desired state -> Plan (actions and diff).

Snapshots are libvirt's internal ones: kept inside the domain's qcow2 disks, with the guest's memory when the
domain runs (libvirt 9.0 takes no internal snapshot of a running domain without it). Everything libvirt would
refuse that can be told from the definition (UEFI firmware, a raw disk, no disk, memory asked of a shut off domain
or refused for a running one) is refused here, before any change.

Private to strata.libvirt; no compatibility promise.
"""

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._common import Plan
from ansible_collections.strata.libvirt.plugins.module_utils._domain.facts import STATE_NAMES
from ansible_collections.strata.libvirt.plugins.module_utils._snapshot.spec import same_description

# The format of the disks internal snapshots live in.
SNAPSHOT_FORMAT = 'qcow2'


def check_owner(domain, owner, cluster, adopt):
    """Refuse, before any change, the snapshots of a domain that is not strata.libvirt's, or that belongs to
    another cluster, unless adopt is set (the domain then stays as it is: this module never changes its mark)."""
    if adopt:
        return
    if not owner.get('owned'):
        raise StrataError(
            "domain '%s' exists but was not created by strata.libvirt (it has no strata ownership mark); refusing "
            "to take, revert or delete its snapshots. Set adopt=true to work on its snapshots all the same." % domain)
    if cluster and owner.get('cluster') != cluster:
        raise StrataError(
            "domain '%s' belongs to cluster '%s', not to cluster '%s' (option cluster); refusing to take, revert or "
            "delete its snapshots. Set adopt=true to work on its snapshots all the same."
            % (domain, owner.get('cluster'), cluster))


def snapshot_names(snapshots):
    return ', '.join("'%s'" % snap['name'] for snap in snapshots) if snapshots else 'none'


def state_name(current):
    return STATE_NAMES.get(current['state'], 'unknown')


def _current_name(snapshots):
    for snap in snapshots:
        if snap['current']:
            return snap['name']
    return None


def check_creatable(current, domain, memory):
    """Refuse what libvirt 9.0 refuses when it takes an internal snapshot, with what to do instead."""
    if current['uefi']:
        raise StrataError(
            "domain '%s' boots UEFI firmware from pflash with NVRAM (%s): libvirt 9.0 takes no internal snapshot of "
            "it ('internal snapshots of a VM with pflash based firmware are not supported'; while it is shut off, "
            "such a snapshot would not hold its NVRAM variables either). This module takes internal snapshots only; "
            "external snapshots are out of its scope." % (domain, current['uefi']))
    disks = current['disks']
    if not disks:
        raise StrataError("domain '%s' has no writable disk: an internal snapshot is kept inside the domain's %s "
                          "disks" % (domain, SNAPSHOT_FORMAT))
    other = ['%s (%s)' % (disk['target'], disk['format']) for disk in disks
             if disk['format'] is not None and disk['format'] != SNAPSHOT_FORMAT]
    if other:
        raise StrataError("domain '%s': an internal snapshot is kept inside the disks, and only %s disks can hold one; "
                          "not %s" % (domain, SNAPSHOT_FORMAT, ', '.join(other)))
    if memory and not current['active']:
        raise StrataError("Option memory: domain '%s' is shut off, there is no memory to save; a snapshot of a shut off "
                          "domain holds its disks only (leave memory unset, or start the domain first)" % domain)
    if memory is False and current['active']:
        raise StrataError(
            "Option memory: libvirt 9.0 takes no internal snapshot of a running domain without its memory "
            "('internal snapshot of a running VM must include the memory state'; domain '%s' is %s). Shut the "
            "domain down first, or set memory=true (or leave it unset)." % (domain, state_name(current)))


def _plan_present(plan, current, desired, snap):
    domain, name = desired['domain'], desired['name']
    if snap is not None:
        if desired['memory'] is not None and desired['memory'] != snap['memory']:
            raise StrataError(
                "Option memory: snapshot '%s' of domain '%s' exists %s its memory, and that cannot change; delete it "
                "(state=absent) and take it again" % (name, domain, 'with' if snap['memory'] else 'without'))
        plan.diff.add('exists', True, True)
        plan.diff.add('memory', snap['memory'], snap['memory'])
        if desired['description'] is not None:
            plan.diff.add('description', snap['description'], desired['description'] or None)
            if not same_description(snap['description'], desired['description']):
                plan.add('describe', "update the description of snapshot '%s' of domain '%s'" % (name, domain),
                         description=desired['description'])
        return
    memory = desired['memory']
    check_creatable(current, domain, memory)
    memory = current['active'] if memory is None else memory
    plan.diff.add('exists', False, True)
    plan.diff.add('memory', None, memory)
    if desired['description'] is not None:
        plan.diff.add('description', None, desired['description'] or None)
    plan.add('create', "create snapshot '%s' of domain '%s' (%s)" % (name, domain, 'with memory' if memory else 'disks only'),
             memory=memory, description=desired['description'] or None)


def _plan_absent(plan, current, desired, snap):
    domain, name = desired['domain'], desired['name']
    plan.diff.add('exists', snap is not None, False)
    if snap is None:
        return
    what = ' (its metadata and the internal snapshot in the disks)' if snap['location'] == 'internal' else ''
    children = [other['name'] for other in current['snapshots'] if other['parent'] == name]
    kept = ("; its child snapshot(s) %s are kept" % ', '.join("'%s'" % child for child in children)) if children else ''
    plan.add('delete', "delete snapshot '%s' of domain '%s'%s%s" % (name, domain, what, kept))


def _plan_revert(plan, current, desired, snap):
    domain, name = desired['domain'], desired['name']
    if snap is None:
        raise StrataError("snapshot '%s' of domain '%s' does not exist; the domain's snapshots: %s"
                          % (name, domain, snapshot_names(current['snapshots'])))
    running = desired['running']
    text = "revert domain '%s' to snapshot '%s'" % (domain, name)
    if snap['memory']:
        recorded = 'paused' if snap['state'] == 'paused' else 'running'
        mode = {None: recorded, True: 'running', False: 'paused'}[running]
        plan.add('revert', "%s (%s, from its saved memory)" % (text, mode), mode=mode)
        after = mode
        if running is False:
            plan.add('destroy', "force off domain '%s' (running=false: the memory the snapshot restored is not kept)"
                     % domain)
            after = 'shut off'
    else:
        plan.add('revert', '%s (disks only: %s)' % (
            text, 'the running domain is powered off' if current['active'] else 'the domain stays shut off'), mode=None)
        after = 'shut off'
        if running:
            plan.add('start', "start domain '%s'" % domain)
            after = 'running'
    plan.diff.add('current', _current_name(current['snapshots']), name)
    plan.diff.add('state', state_name(current), after)


def plan_snapshot(current, desired):
    """Pure: the domain and its snapshots as read + desired state -> Plan."""
    plan = Plan()
    domain = desired['domain']
    if not current.get('exists'):
        if desired['state'] != 'absent':
            raise StrataError("domain '%s' does not exist" % domain)
        plan.diff.add('exists', False, False)  # no domain, no snapshot
        return plan
    check_owner(domain, current['owner'], desired['cluster'], desired['adopt'])
    snap = dict((one['name'], one) for one in current['snapshots']).get(desired['name'])
    {'present': _plan_present, 'absent': _plan_absent, 'reverted': _plan_revert}[desired['state']](
        plan, current, desired, snap)
    return plan

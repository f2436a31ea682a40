# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cluster lock: one provisioning or teardown of a cluster at a time, for a whole run (the per-URI lock of
the modules covers one task only). The strata.libvirt.cluster_lock module.

A lease file per URI and cluster under state_dir/clusters, read and written under the per-URI lock:
{owner (a token of the run), what (provision, unprovision), holder: {controller, boot_id, pid}, since, expires}.
A lease held by another run is waited for (option wait); it counts as released when it expired, or when its
holder ran on this very machine (same host name and boot) and its process is gone, as after a kill -9 of
ansible-playbook: then it is taken over, with a warning.

    acquire(path, request, check_mode, now) -> result;  release(path, owner, check_mode) -> result

Private to strata.libvirt; no compatibility promise.
"""

import contextlib
import json
import os
import socket
import tempfile
import time

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._spec_check import error_messages
from ansible_collections.strata.libvirt.plugins.module_utils import _cluster_scan
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils import _session
from ansible_collections.strata.libvirt.plugins.module_utils import _validate

BOOT_ID = '/proc/sys/kernel/random/boot_id'
CONSTRAINTS = {}
POLL = 2.0


def argument_spec():
    """The strata.libvirt.cluster_lock module's argument spec, a new dict."""
    return dict(
        cluster=dict(type='str', required=True),
        state=dict(type='str', default='held', choices=['held', 'released']),
        owner=dict(type='str', required=True, no_log=False),
        what=dict(type='str', default='provision'),
        holder=dict(type='dict', default={}),
        wait=dict(type='int', default=120),
        max_age=dict(type='int', default=86400),
        uri=dict(type='str'),
        state_dir=dict(type='path'),
        lock_timeout=dict(type='int'),
        adopt=dict(type='bool'),
        objects=dict(type='dict'),
    )


# what objects holds: the names strata.libvirt.cluster_info looks up
OBJECT_OPTIONS = ('pool', 'network', 'networks', 'volumes', 'domains')


def objects_query(request, objects):
    """The cluster_info query of option objects (None: no lookup), validated with that module's spec; StrataError
    names the option."""
    if objects is None:
        return None
    if request['state'] != 'held':
        raise StrataError('objects: only with state=held (the objects are looked up once the lock is held)')
    spec = dict((key, option) for key, option in _cluster_scan.argument_spec().items() if key in OBJECT_OPTIONS)
    result = ArgumentSpecValidator(spec).validate(dict(objects))
    problems = error_messages(result, 'objects: ')
    if problems:
        raise StrataError('; '.join(problems))
    try:
        return _cluster_scan.desired_from_params(dict(result.validated_parameters, cluster=request['cluster']))
    except StrataError as exc:
        raise StrataError('objects: %s' % exc)


def desired_from_params(params):
    """The validated request. Pure; raises StrataError naming the option."""
    owner = params.get('owner') or ''
    if len(owner) < 8:
        raise StrataError('owner: give a token of at least 8 characters that identifies this run')
    for key in ('wait', 'max_age'):
        if (params.get(key) or 0) < 0:
            raise StrataError('%s: must be 0 or more seconds' % key)
    return {'cluster': _validate.name(params.get('cluster'), 'cluster'), 'state': params.get('state') or 'held',
            'owner': owner, 'what': params.get('what') or 'provision', 'holder': dict(params.get('holder') or {}),
            'wait': params.get('wait') or 0, 'max_age': params.get('max_age') or 86400}


def lease_path(state_dir, uri, cluster):
    return os.path.join(state_dir, 'clusters', '%s--%s.lease' % (_connection.uri_slug(uri), cluster))


def this_machine():
    try:
        with open(BOOT_ID) as handle:
            boot_id = handle.read().strip()
    except IOError:
        boot_id = None
    return {'controller': socket.gethostname(), 'boot_id': boot_id}


def _pid_alive(pid):
    try:
        os.kill(int(pid), 0)
    except (OSError, TypeError, ValueError) as exc:
        return getattr(exc, 'errno', None) == 1  # EPERM: it exists
    return True


def stale(lease, now, machine=None):
    """Why a lease of another run no longer holds (a text), or None while it does."""
    if now >= lease.get('expires', 0):
        return 'it expired at %s' % time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(lease.get('expires', 0)))
    holder = lease.get('holder') or {}
    machine = machine or this_machine()
    same = holder.get('boot_id') and holder.get('boot_id') == machine['boot_id'] and \
        holder.get('controller') == machine['controller']
    if same and holder.get('pid') and not _pid_alive(holder['pid']):
        return 'its ansible-playbook (pid %s on %s) is gone' % (holder['pid'], holder.get('controller'))
    return None


def describe(lease):
    holder = lease.get('holder') or {}
    return ("%s run %s since %s (ansible-playbook pid %s on %s)"
            % (lease.get('what'), lease.get('owner'), time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(lease.get('since', 0))),
               holder.get('pid', '?'), holder.get('controller', '?')))


def _read(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except IOError:
        return None
    except ValueError:
        return {'owner': None, 'expires': 0}  # unreadable: counts as expired


def _write(path, lease):
    _connection.ensure_dir(os.path.dirname(path))
    fd, tmp = tempfile.mkstemp(prefix='.lease-', dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, 'w') as handle:
            json.dump(lease, handle, indent=2, sort_keys=True)
        _connection.replace_file(None, tmp, path, 0o600)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def acquire(path, request, check_mode=False, guard=None, clock=time.time, sleep=time.sleep):
    """Take (or keep) the lease for request['owner']; wait up to request['wait'] s for another run's lease.
    guard(): a context manager around each read-modify-write (the per-URI lock)."""
    deadline = clock() + request['wait']
    while True:
        with guard() if guard else contextlib.nullcontext():
            now = clock()
            lease = _read(path)
            mine = bool(lease) and lease.get('owner') == request['owner']
            why = stale(lease, now) if lease and not mine else None
            if not lease or mine or why:
                if not check_mode:
                    _write(path, {'owner': request['owner'], 'what': request['what'], 'holder': request['holder'],
                                  'cluster': request['cluster'], 'since': lease['since'] if mine else now,
                                  'expires': now + request['max_age']})
                return {'changed': not mine, 'path': path,
                        'took_over': ('%s: %s' % (describe(lease), why)) if why else None}
            if now >= deadline:
                raise StrataError("cluster %s is locked by the %s; nothing was changed. Wait for it to finish, or, if "
                                  "that run is gone, remove %s" % (request['cluster'], describe(lease), path))
        sleep(min(POLL, max(0.0, deadline - clock())))


def release(path, owner, check_mode=False, guard=None):
    with guard() if guard else contextlib.nullcontext():
        lease = _read(path)
        if not lease or lease.get('owner') != owner:
            return {'changed': False, 'path': path, 'took_over': None}
        if not check_mode:
            os.unlink(path)
        return {'changed': True, 'path': path, 'took_over': None}


def run(module):
    """The cluster_lock module."""
    try:
        request = desired_from_params(module.params)
        query = objects_query(request, module.params.get('objects'))
        params = module.params
        state_dir = params.get('state_dir') or _connection.DEFAULT_STATE_DIR
        timeout = params.get('lock_timeout')
        timeout = _connection.DEFAULT_LOCK_TIMEOUT if timeout is None else timeout
        uri = _connection.resolve_uri(params.get('uri'))
        path = lease_path(state_dir, uri, request['cluster'])

        def guard():
            return _connection.hypervisor_lock(state_dir, 'cluster:' + uri, timeout)
        if request['state'] == 'held':
            result = acquire(path, request, module.check_mode, guard)
            if query is not None:
                result['info'] = look_up(module, query, path, request, guard, result)
        else:
            result = release(path, request['owner'], module.check_mode, guard)
    except StrataError as exc:
        module.fail_json(msg=str(exc))
    if result['took_over']:
        module.warn('took over the cluster lock of the %s' % result['took_over'])
    module.exit_json(**result)


def look_up(module, query, path, request, guard, taken):
    """The cluster_info result of query, looked up under the lock; a lock this call took is given back when the
    lookup fails (the run ends there)."""
    try:
        with _session.module_session(module) as ctx:
            return _cluster_scan.scan(ctx.conn, ctx.registry, query)
    except StrataError as exc:
        if taken['changed']:
            release(path, request['owner'], module.check_mode, guard)
        raise StrataError('%s (the lock was given back)' % exc if taken['changed'] else str(exc))

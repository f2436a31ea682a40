# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""libvirt storage pools (dir, netfs; others through xml): normalise, plan (pure), apply.

libvirt 9.0 drops <metadata> from pool XML, so ownership lives in the registry (_ownership),
keyed by the pool's UUID.

Private to strata.libvirt; no compatibility promise.
"""

import grp
import pwd
import re

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _common
from ansible_collections.strata.libvirt.plugins.module_utils._common import Plan, Resource, RunState
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils import _ownership
from ansible_collections.strata.libvirt.plugins.module_utils import _xml

POOL_TYPES = ('dir', 'netfs')
CONFIG_KEYS = ('type', 'path', 'mode', 'owner', 'group', 'source_host', 'source_path')
# Keys whose change on an active pool needs the pool restarted (and rebuilt) to take effect.
LIVE_KEYS = ('path', 'mode', 'owner', 'group', 'source_host', 'source_path')
# pool.build() only creates a directory for these; for others (logical, disk, fs) it formats devices,
# so we never call it for them.
BUILD_SAFE_TYPES = ('dir', 'netfs')
GENERATED_TAGS = frozenset(['uuid', 'metadata', 'capacity', 'allocation', 'available'])
MODE_RE = re.compile(r'^[0-7]{3,4}$')
# The structured options: option xml replaces them (type has a default, so it may come with xml).
STRUCTURED = ('type', 'path', 'mode', 'owner', 'group', 'source_host', 'source_path')


def argument_spec():
    """The pool module's argument spec (a new dict)."""
    spec = _common.common_argument_spec()
    spec.update(
        name=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=list(_common.RUN_STATES)),
        type=dict(type='str', default='dir', choices=list(POOL_TYPES)),
        path=dict(type='path'),
        mode=dict(type='str'),
        owner=dict(type='str'),
        group=dict(type='str'),
        source_host=dict(type='str'),
        source_path=dict(type='str'),
        autostart=dict(type='bool'),
        build=dict(type='bool', default=True),
        restart=dict(type='bool', default=False),
        purge=dict(type='bool', default=False),
        xml=dict(type='str'),
    )
    return spec


CONSTRAINTS = dict(mutually_exclusive=[('xml', key) for key in STRUCTURED if key != 'type'])


def parse_pool(root):
    """Normalised settings of a pool XML (capacity and other generated values left out)."""
    def perm(tag):
        value = _xml.text_of(root, 'target/permissions/' + tag)
        return None if value in (None, '', '-1') else int(value)
    mode = _xml.text_of(root, 'target/permissions/mode')
    host = root.find('source/host')
    src = root.find('source/dir')
    return {
        'type': root.get('type'),
        'path': _xml.text_of(root, 'target/path'),
        'mode': '%04o' % int(mode, 8) if mode else None,
        'owner': perm('owner'),
        'group': perm('group'),
        'source_host': host.get('name') if host is not None else None,
        'source_path': src.get('path') if src is not None else None,
    }


def _permissions(root):
    return _xml.child(_xml.child(root, 'target', create=True), 'permissions', create=True)


def render_pool(name, config, base=None):
    if base is not None:
        root = _xml.copy(base)
    else:
        root = _xml.new_element('pool', {'type': config.get('type', 'dir')})
        _xml.sub_element(root, 'name', text=name)
    target = _xml.child(root, 'target', create=True)
    if config.get('path') is not None:
        _xml.child(target, 'path', create=True).text = config['path']
    for key in ('mode', 'owner', 'group'):
        if config.get(key) is not None:
            _xml.child(_permissions(root), key, create=True).text = str(config[key])
    if config.get('source_host') is not None:
        _xml.child(_xml.child(root, 'source', create=True), 'host', create=True).set('name', config['source_host'])
    if config.get('source_path') is not None:
        _xml.child(_xml.child(root, 'source', create=True), 'dir', create=True).set('path', config['source_path'])
    return root


def _uid_gid(value, option, lookup, attr):
    if value is None:
        return None
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    try:
        return getattr(lookup(text), attr)
    except KeyError:
        raise StrataError('Option %s: unknown %s %r on this host' % (option, option, value))


def desired_from_params(params):
    """Validated desired state; raises StrataError naming the option and value. Pure."""
    desired = _common.desired_base(params)
    name = desired['name']
    desired.update(autostart=params.get('autostart'), restart=bool(params.get('restart')),
                   build=params.get('build', True), purge=bool(params.get('purge')), config={}, xml=None)
    if params['state'] == 'absent':
        return desired
    if params.get('xml'):
        root = _common.desired_xml(params['xml'], name, 'pool')
        if not root.get('type'):
            raise StrataError('Option xml: <pool> needs a type attribute')
        desired['xml'] = root
        return desired
    config = desired['config']
    config['type'] = params.get('type') or 'dir'
    if params.get('path') is not None:
        if not params['path'].startswith('/'):
            raise StrataError('Option path: %r is not an absolute path' % params['path'])
        config['path'] = params['path'].rstrip('/') or '/'
    if params.get('mode') is not None:
        mode = str(params['mode']).strip()
        if not MODE_RE.match(mode):
            raise StrataError("Option mode: invalid octal mode %r; quote it in YAML, e.g. '0755'" % params['mode'])
        config['mode'] = '%04o' % int(mode, 8)
    config['owner'] = _uid_gid(params.get('owner'), 'owner', pwd.getpwnam, 'pw_uid')
    config['group'] = _uid_gid(params.get('group'), 'group', grp.getgrnam, 'gr_gid')
    if config['type'] == 'netfs':
        for key in ('source_host', 'source_path'):
            if params.get(key):
                config[key] = params[key]
    else:
        for key in ('source_host', 'source_path'):
            if params.get(key):
                raise StrataError('Option %s: only for type=netfs, not type=%s' % (key, config['type']))
    for key in list(config):
        if config[key] is None:
            del config[key]
    return desired


def _purge_step(name, current, desired):
    """The removal of the directory of an existing pool (option purge), once it is sure that it may go."""
    if _ownership.check_owner('storage pool', name, current['owner'], desired['cluster'], desired['adopt']):
        raise StrataError("Option purge: pool '%s' was not created by strata.libvirt; adopt only "
                          "undefines it, its directory is never removed" % name)
    if current.get('volumes'):
        raise StrataError("Option purge: pool '%s' still holds volumes %s; remove them first "
                          "(strata.libvirt.volume state=absent)" % (name, ', '.join(current['volumes'])))
    return 'delete', "delete the directory %s of pool '%s'" % (current['config'].get('path'), name)


def _build_text(name):
    return "build pool '%s' (create its directory, apply permissions)" % name


def plan_pool(current, desired):
    """Pure: current normalised state + desired state -> Plan."""
    plan = Plan()
    name = desired['name']

    if desired['state'] == 'absent':
        purge = desired['purge'] and current.get('exists', False)
        plan.add_removal('pool', name, current, desired, 'storage pool',
                         [_purge_step(name, current, desired)] if purge else [])
        return plan

    run = RunState('storage pool', name, current, desired)
    exists, active, base, cluster = run.exists, run.active, run.base, run.cluster

    if desired['xml'] is not None:
        new_root = _common.with_uuid(desired['xml'], base)
        pool_type = new_root.get('type')
        if exists and current['config']['type'] != pool_type:
            raise StrataError("Option xml: pool '%s' is of type %s; its type cannot change to %s (remove it first)"
                              % (name, current['config']['type'], pool_type))
        redefine = ['xml'] if base is None or _xml.xml_differences(desired['xml'], base, GENERATED_TAGS) else []
        live = ['xml'] if active and _xml.xml_differences(desired['xml'], current['live_xml'], GENERATED_TAGS) else []
        plan.diff.add('xml', _xml.to_text(_xml.stripped(base, GENERATED_TAGS)) if base is not None else None,
                      _xml.to_text(_xml.stripped(new_root, GENERATED_TAGS)))
    else:
        config = desired['config']
        have = current.get('config') or {}
        pool_type = config['type']
        if exists and have.get('type') != pool_type:
            raise StrataError("Option type: pool '%s' is of type %s; its type cannot change to %s (remove it first)"
                              % (name, have.get('type'), pool_type))
        if not exists and not config.get('path'):
            raise StrataError("Option path: required to create pool '%s'" % name)
        if not exists and pool_type == 'netfs' and not (config.get('source_host') and config.get('source_path')):
            raise StrataError("Options source_host and source_path: required to create netfs pool '%s'" % name)
        for key in CONFIG_KEYS:
            if key in config:
                plan.diff.add(key, have.get(key) if exists else None, config[key])
        redefine = [key for key in plan.diff.changed_keys() if key in config]
        live_have = current.get('live') or {}
        live = [key for key in LIVE_KEYS if active and key in config and live_have.get(key) != config[key]]
        new_root = render_pool(name, config, base)

    build = desired['build'] and pool_type in BUILD_SAFE_TYPES
    # the adoption is an action of its own here: the registry, not the XML, holds the mark
    plan.add_define('pool', name, exists, exists and current.get('persistent'), redefine, None, _xml.to_text(new_root),
                    cluster=cluster)
    if build and not active and 'define' in plan.ops():
        plan.add('build', _build_text(name))
    if run.adopt_text:
        plan.add('adopt', run.adopt_text, cluster=cluster)

    plan.add_restart(run.stays_active and bool(live), desired['restart'],
                     "restart pool '%s' to apply %s" % (name, ', '.join(live)), build=build)
    if run.starting and build and 'build' not in plan.ops():
        plan.add('build', _build_text(name))
    plan.add_run_state('pool', name, run, current, desired['autostart'])
    return plan


def pool_facts(state):
    if not state.get('exists'):
        return {'name': state['name'], 'exists': False}
    facts = dict(state['config'])
    facts.update((key, state[key]) for key in ('name', 'uuid', 'active', 'persistent', 'autostart',
                                               'volumes', 'capacity', 'allocation', 'available'))
    facts['ownership'] = state['owner']
    facts['exists'] = True
    facts['xml'] = _xml.to_text(state['xml'])
    return facts


class PoolResource(Resource):
    kind = 'pool'
    reports_restart = True
    desired_from_params = staticmethod(desired_from_params)
    plan = staticmethod(plan_pool)
    facts = staticmethod(pool_facts)

    def read(self, ctx, desired):
        # before a purge, libvirt looks at the directory again: files removed behind its back (a seed ISO written
        # by path, say) are otherwise still listed as volumes, and a file put there is not
        return read_pool(ctx, desired['name'], refresh=desired['state'] == 'absent' and desired['purge'])

    def _pool(self, ctx):
        return lookup_pool(ctx.conn, self.params['name'])

    def do_define(self, ctx, xml, cluster):
        pool = _connection.call(self.what('define'), ctx.conn.storagePoolDefineXML, xml, 0)
        ctx.registry.record('pools', pool.UUIDString(), cluster, name=self.params['name'])

    def do_adopt(self, ctx, cluster):
        ctx.registry.record('pools', self._pool(ctx).UUIDString(), cluster, name=self.params['name'])

    def do_build(self, ctx):
        _connection.call(self.what('build'), self._pool(ctx).build, 0)

    def do_start(self, ctx):
        _connection.call(self.what('start'), self._pool(ctx).create, 0)

    def do_stop(self, ctx):
        _connection.call(self.what('stop'), self._pool(ctx).destroy)

    def do_restart(self, ctx, build):
        self.do_stop(ctx)
        if build:
            self.do_build(ctx)
        self.do_start(ctx)

    def do_delete(self, ctx):
        _connection.call(self.what('delete the directory of'), self._pool(ctx).delete, 0)

    def do_undefine(self, ctx):
        pool = self._pool(ctx)
        uuid = pool.UUIDString()
        _connection.call(self.what('undefine'), pool.undefine)
        ctx.registry.forget('pools', uuid)

    def do_autostart(self, ctx, value):
        _connection.call(self.what('set autostart of'), self._pool(ctx).setAutostart, 1 if value else 0)


def lookup_pool(conn, name, option=None):
    """virStoragePool or None (or a StrataError naming option when given)."""
    pool = _common.lookup("pool '%s'" % name, conn.storagePoolLookupByName, name, 'VIR_ERR_NO_STORAGE_POOL')
    if pool is None and option:
        raise StrataError("Option %s: storage pool '%s' does not exist" % (option, name))
    return pool


def read_pool(ctx, name, refresh=False):
    pool = lookup_pool(ctx.conn, name)
    if pool is None:
        return {'exists': False, 'name': name}
    what = "read pool '%s'" % name
    if refresh and _connection.call(what, pool.isActive):
        _connection.call("look at the directory of pool '%s' again (refresh)" % name, pool.refresh, 0)
    state = _common.read_definition('pool', name, pool, _connection.libvirt.VIR_STORAGE_XML_INACTIVE)
    active, live_root = state['active'], state['live_xml']
    uuid = _connection.call(what, pool.UUIDString)
    state.update({
        'uuid': uuid,
        'autostart': bool(_connection.call(what, pool.autostart)),
        'owner': ctx.registry.get('pools', uuid),
        'config': parse_pool(state['xml']), 'live': parse_pool(live_root) if active else None,
        'volumes': sorted(_connection.call(what, pool.listVolumes)) if active else [],
        'capacity': int(_xml.text_of(live_root, 'capacity', '0')),
        'allocation': int(_xml.text_of(live_root, 'allocation', '0')),
        'available': int(_xml.text_of(live_root, 'available', '0')),
    })
    return state

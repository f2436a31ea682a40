# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""libvirt storage pools (dir, netfs; others through xml): normalise, plan (pure), apply.

libvirt 9.0 drops <metadata> from pool XML, so ownership lives in the registry (_ownership),
keyed by the pool's UUID.

Private to strata.libvirt; no compatibility promise.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import grp
import pwd
import re

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._common import Plan, Resource, config_and_live_xml
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils import _ownership
from ansible_collections.strata.libvirt.plugins.module_utils import _validate
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
    name = _validate.name(params['name'], 'name')
    if params.get('cluster') is not None:
        _validate.name(params['cluster'], 'cluster')
    desired = {
        'name': name, 'state': params['state'], 'autostart': params.get('autostart'),
        'restart': bool(params.get('restart')), 'build': params.get('build', True),
        'purge': bool(params.get('purge')), 'cluster': params.get('cluster'),
        'adopt': bool(params.get('adopt')), 'config': {}, 'xml': None,
    }
    if params['state'] == 'absent':
        return desired
    if params.get('xml'):
        root = _xml.parse_xml(params['xml'], 'xml', root_tag='pool')
        xml_name = _xml.text_of(root, 'name')
        if xml_name is None:
            root.insert(0, _xml.new_element('name', text=name))
        elif xml_name != name:
            raise StrataError('Option xml: <name> is %r but option name is %r' % (xml_name, name))
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


def _state_word(current):
    if not current.get('exists'):
        return 'absent'
    return 'running' if current.get('active') else 'stopped'


def plan_pool(current, desired):
    """Pure: current normalised state + desired state -> Plan."""
    plan = Plan()
    name = desired['name']
    exists = current.get('exists', False)
    before_state = _state_word(current)

    if desired['state'] == 'absent':
        plan.diff.add('state', before_state, 'absent')
        if not exists:
            return plan
        adopt_text = _ownership.check_owner('storage pool', name, current['owner'], desired['cluster'],
                                            desired['adopt'])
        if desired['purge']:
            if adopt_text:
                raise StrataError("Option purge: pool '%s' was not created by strata.libvirt; adopt only "
                                  "undefines it, its directory is never removed" % name)
            if current.get('volumes'):
                raise StrataError("Option purge: pool '%s' still holds volumes %s; remove them first "
                                  "(strata.libvirt.volume state=absent)" % (name, ', '.join(current['volumes'])))
        if current['active']:
            plan.add('stop', "stop pool '%s'" % name)
        if desired['purge']:
            plan.add('delete', "delete the directory %s of pool '%s'" % (current['config'].get('path'), name))
        if current['persistent']:
            plan.add('undefine', "undefine pool '%s'" % name)
        return plan

    adopt_text = None
    if exists:
        adopt_text = _ownership.check_owner('storage pool', name, current['owner'], desired['cluster'],
                                            desired['adopt'])
    cluster = desired['cluster'] or (current['owner'].get('cluster') if exists else None)
    active = exists and current['active']
    stopping = active and desired['state'] == 'stopped'
    starting = desired['state'] == 'running' and not active
    base = current.get('xml') if exists else None

    if desired['xml'] is not None:
        new_root = _xml.copy(desired['xml'])
        pool_type = new_root.get('type')
        if base is not None and new_root.find('uuid') is None and base.find('uuid') is not None:
            new_root.insert(1, _xml.copy(base.find('uuid')))
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
    persistent = exists and current.get('persistent')
    if not persistent or redefine:
        if not exists:
            text = "define pool '%s'" % name
        elif not persistent:
            text = "define transient pool '%s' persistently" % name
        else:
            text = "redefine pool '%s' (%s)" % (name, ', '.join(redefine))
        plan.add('define', text, xml=_xml.to_text(new_root), cluster=cluster)
        if build and not active:
            plan.add('build', "build pool '%s' (create its directory, apply permissions)" % name)
    if adopt_text:
        plan.add('adopt', adopt_text, cluster=cluster)

    restart = active and not stopping and bool(live)
    if restart and desired['restart']:
        plan.add('restart', "restart pool '%s' to apply %s" % (name, ', '.join(live)), build=build)
    elif restart:
        plan.restart_required = True
    if starting:
        if build and 'build' not in plan.ops():
            plan.add('build', "build pool '%s' (create its directory, apply permissions)" % name)
        plan.add('start', "start pool '%s'" % name)
    if stopping:
        plan.add('stop', "stop pool '%s'" % name)
    plan.diff.add('state', before_state, 'running' if (starting or (active and not stopping)) else 'stopped')
    plan.add_autostart('pool', name, exists, current, desired['autostart'])
    return plan


class PoolResource(Resource):
    kind = 'pool'
    reports_restart = True

    def desired(self):
        return desired_from_params(self.params)

    def read(self, ctx, desired):
        # before a purge, libvirt looks at the directory again: files removed behind its back (a seed ISO written
        # by path, say) are otherwise still listed as volumes, and a file put there is not
        return read_pool(ctx, desired['name'], refresh=desired['state'] == 'absent' and desired['purge'])

    def plan(self, current, desired):
        return plan_pool(current, desired)

    def facts(self, state):
        return pool_facts(state)

    def _pool(self, ctx):
        return lookup_pool(ctx.conn, self.params['name'])

    def _what(self, verb):
        return "%s pool '%s'" % (verb, self.params['name'])

    def do_define(self, ctx, xml, cluster):
        pool = _connection.call(self._what('define'), ctx.conn.storagePoolDefineXML, xml, 0)
        ctx.registry.record('pools', pool.UUIDString(), cluster, name=self.params['name'])

    def do_adopt(self, ctx, cluster):
        ctx.registry.record('pools', self._pool(ctx).UUIDString(), cluster, name=self.params['name'])

    def do_build(self, ctx):
        _connection.call(self._what('build'), self._pool(ctx).build, 0)

    def do_start(self, ctx):
        _connection.call(self._what('start'), self._pool(ctx).create, 0)

    def do_stop(self, ctx):
        _connection.call(self._what('stop'), self._pool(ctx).destroy)

    def do_restart(self, ctx, build):
        self.do_stop(ctx)
        if build:
            self.do_build(ctx)
        self.do_start(ctx)

    def do_delete(self, ctx):
        _connection.call(self._what('delete the directory of'), self._pool(ctx).delete, 0)

    def do_undefine(self, ctx):
        pool = self._pool(ctx)
        uuid = pool.UUIDString()
        _connection.call(self._what('undefine'), pool.undefine)
        ctx.registry.forget('pools', uuid)

    def do_autostart(self, ctx, value):
        _connection.call(self._what('set autostart of'), self._pool(ctx).setAutostart, 1 if value else 0)


def lookup_pool(conn, name, option=None):
    """virStoragePool or None (or a StrataError naming option when given)."""
    libvirt = _connection.libvirt
    try:
        return conn.storagePoolLookupByName(name)
    except libvirt.libvirtError as exc:
        if _connection.is_error(exc, 'VIR_ERR_NO_STORAGE_POOL'):
            if option:
                raise StrataError("Option %s: storage pool '%s' does not exist" % (option, name))
            return None
        raise StrataError("Failed to look up pool '%s': %s" % (name, _connection.error_text(exc)))


def read_pool(ctx, name, refresh=False):
    pool = lookup_pool(ctx.conn, name)
    if pool is None:
        return {'exists': False, 'name': name}
    libvirt = _connection.libvirt
    what = "read pool '%s'" % name
    active = bool(_connection.call(what, pool.isActive))
    if active and refresh:
        _connection.call("look at the directory of pool '%s' again (refresh)" % name, pool.refresh, 0)
    persistent = bool(_connection.call(what, pool.isPersistent))
    root, live_root = config_and_live_xml(what, pool, active, persistent, libvirt.VIR_STORAGE_XML_INACTIVE, 'pool XML from libvirt')
    uuid = _connection.call(what, pool.UUIDString)
    return {
        'exists': True, 'name': name, 'uuid': uuid, 'active': active, 'persistent': persistent,
        'autostart': bool(_connection.call(what, pool.autostart)),
        'owner': ctx.registry.get('pools', uuid),
        'config': parse_pool(root), 'live': parse_pool(live_root) if active else None,
        'volumes': sorted(_connection.call(what, pool.listVolumes)) if active else [],
        'capacity': int(_xml.text_of(live_root, 'capacity', '0')),
        'allocation': int(_xml.text_of(live_root, 'allocation', '0')),
        'available': int(_xml.text_of(live_root, 'available', '0')),
        'xml': root, 'live_xml': live_root,
    }


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

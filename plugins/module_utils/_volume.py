# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""libvirt storage volumes: normalise, plan (pure), apply.

A volume is created empty, as a copy-on-write overlay of a backing volume or file, as a full
clone of another volume, or from a local file (upload). Afterwards only its capacity can change,
and only upwards; format and backing are immutable (recreate=true replaces the volume).
libvirt 9.0 drops <metadata> from volume XML, so ownership lives in the registry (_ownership),
keyed by the volume's key (its path).

Private to strata.libvirt; no compatibility promise.
"""

import errno
import os
import shutil
import struct

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _common
from ansible_collections.strata.libvirt.plugins.module_utils._common import Plan, Resource
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils import _ownership
from ansible_collections.strata.libvirt.plugins.module_utils import _validate
from ansible_collections.strata.libvirt.plugins.module_utils import _xml
from ansible_collections.strata.libvirt.plugins.module_utils._pool import lookup_pool

FORMATS = ('qcow2', 'raw')
QCOW2_MAGIC = b'QFI\xfb'
SECTOR = 512
CHUNK = 1024 * 1024
# Where a volume's content comes from: one of them at the most.
SOURCES = ('backing_volume', 'backing_file', 'clone_from', 'upload')


def argument_spec():
    """The argument spec of one volume (one item of the volume module's items), a new dict."""
    spec = _common.common_argument_spec()
    spec.update(
        name=dict(type='str', required=True),
        pool=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        capacity=dict(type='str'),
        format=dict(type='str', choices=list(FORMATS)),
        backing_volume=dict(type='str'),
        backing_file=dict(type='path'),
        backing_format=dict(type='str', choices=list(FORMATS)),
        clone_from=dict(type='str'),
        upload=dict(type='path'),
        recreate=dict(type='bool', default=False),
        xml=dict(type='str'),
    )
    return spec


CONSTRAINTS = dict(mutually_exclusive=[SOURCES] + [('xml', key) for key in
                                                   ('capacity', 'format', 'backing_volume', 'backing_file')])


def item_label(params):
    """How messages name a volume: pool/name."""
    return '%s/%s' % (params.get('pool'), params.get('name'))


# ---------------------------------------------------------------- normalise

def parse_volume(root):
    backing = root.find('backingStore')
    backing_path = _xml.text_of(backing, 'path') if backing is not None else None
    return {
        'capacity': _size_of(root.find('capacity')),
        'allocation': _size_of(root.find('allocation')),
        'format': (root.find('target/format').get('type') if root.find('target/format') is not None else None),
        'path': _xml.text_of(root, 'target/path'),
        'key': _xml.text_of(root, 'key'),
        'backing': ({'path': backing_path,
                     'format': backing.find('format').get('type') if backing.find('format') is not None else None}
                    if backing_path else None),
    }


def _size_of(elem, option='xml'):
    if elem is None or not (elem.text or '').strip():
        return None
    return _validate.size('%s%s' % (elem.text.strip(), elem.get('unit', '')), option)


def probe_image(path, option):
    """(format, virtual size) of a local image file; qcow2 is recognised by its header, else raw."""
    try:
        with open(path, 'rb') as handle:
            header = handle.read(32)
        size = os.path.getsize(path)
    except (IOError, OSError) as exc:
        raise StrataError('Option %s: cannot read %r: %s' % (option, path, exc))
    if header[:4] == QCOW2_MAGIC and len(header) >= 32:
        return 'qcow2', struct.unpack('>Q', header[24:32])[0]
    return 'raw', size


def render_volume(name, capacity, fmt, backing=None):
    root = _xml.new_element('volume')
    _xml.sub_element(root, 'name', text=name)
    _xml.sub_element(root, 'capacity', {'unit': 'bytes'}, text=capacity)
    target = _xml.sub_element(root, 'target')
    _xml.sub_element(target, 'format', {'type': fmt})
    if fmt == 'qcow2':
        # qcow2 v3: libvirt writes v2 (compat 0.10) unless told, and v2 has no zero clusters, so every block a
        # guest zeroes (ext4 inode tables after growing the file system) would take space in an overlay
        _xml.sub_element(target, 'compat', text='1.1')
    if backing:
        store = _xml.sub_element(root, 'backingStore')
        _xml.sub_element(store, 'path', text=backing['path'])
        _xml.sub_element(store, 'format', {'type': backing['format']})
    return root


# ---------------------------------------------------------------- validation

def reference(value, pool, option):
    """'name' or 'pool/name' -> (pool, name)."""
    parts = value.split('/')
    if len(parts) == 1:
        return pool, _validate.name(parts[0], option)
    if len(parts) == 2:
        return _validate.name(parts[0], option), _validate.name(parts[1], option)
    raise StrataError("Option %s: %r is neither a volume name nor 'pool/volume'" % (option, value))


def desired_from_params(params):
    """Validated desired state; raises StrataError naming the option and value. Pure (it reads a file of option
    upload or backing_file only to tell its format and size)."""
    desired = _common.desired_base(params, 'pool')
    name, pool = desired['name'], desired['pool']
    desired.update(recreate=bool(params.get('recreate')), capacity=None, format=params.get('format'),
                   backing_volume=None, backing_file=None, backing_format=params.get('backing_format'),
                   clone_from=None, upload=None, xml=None)
    if params['state'] == 'absent':
        return desired
    if params.get('xml'):
        root = _common.desired_xml(params['xml'], name, 'volume')
        parsed = parse_volume(root)
        desired.update(xml=root, capacity=parsed['capacity'], format=parsed['format'])
        if parsed['backing']:
            desired['backing_file'] = parsed['backing']['path']
            desired['backing_format'] = parsed['backing']['format']
    if params.get('capacity') is not None:
        capacity = _validate.size(params['capacity'], 'capacity')
        desired['capacity'] = -(-capacity // SECTOR) * SECTOR  # libvirt/qemu round up to whole sectors
    if params.get('backing_volume'):
        desired['backing_volume'] = reference(params['backing_volume'], pool, 'backing_volume')
    if params.get('backing_file'):
        if not params['backing_file'].startswith('/'):
            raise StrataError('Option backing_file: %r is not an absolute path' % params['backing_file'])
        desired['backing_file'] = params['backing_file']
    if params.get('clone_from'):
        desired['clone_from'] = reference(params['clone_from'], pool, 'clone_from')
        if desired['clone_from'] == (pool, name):
            raise StrataError('Option clone_from: a volume cannot be cloned from itself')
    if params.get('upload'):
        if not os.path.isfile(params['upload']):
            raise StrataError('Option upload: %r is not a file on this host' % params['upload'])
        fmt, size = probe_image(params['upload'], 'upload')
        if desired['format'] and desired['format'] != fmt:
            raise StrataError('Option format: %s, but the file %r of option upload is %s'
                              % (desired['format'], params['upload'], fmt))
        desired['upload'] = {'path': params['upload'], 'format': fmt, 'capacity': size,
                             'length': os.path.getsize(params['upload'])}
    if (desired['backing_volume'] or desired['backing_file']) and desired['format'] == 'raw':
        raise StrataError('Option format: a copy-on-write overlay (backing_volume/backing_file) must be qcow2, not raw')
    return desired


# ---------------------------------------------------------------- planner (pure)

def _facts_view(spec):
    return dict((key, spec.get(key)) for key in ('capacity', 'format', 'backing'))


def _create_spec(current, desired):
    """What a new volume would be: capacity, format, backing, source; errors before any change."""
    name = desired['name']
    capacity = desired['capacity']
    source = current.get('source')  # resolved backing/clone source: {'path','format','capacity'}
    upload = desired['upload']
    backing = None
    if desired['backing_volume'] or desired['backing_file']:
        backing = {'path': source['path'], 'format': desired['backing_format'] or source.get('format')}
        if not backing['format']:
            raise StrataError("Option backing_format: cannot tell the format of %s; set backing_format" % source['path'])
        fmt, floor, what = 'qcow2', source.get('capacity'), 'the backing image'
    elif desired['clone_from']:
        fmt, floor, what = source['format'], source['capacity'], "the source volume '%s'" % '/'.join(desired['clone_from'])
        if desired['format'] and desired['format'] != fmt:
            raise StrataError("Option format: %s, but the source volume of option clone_from is %s (a clone keeps "
                              "the format)" % (desired['format'], fmt))
    elif upload:
        fmt, floor, what = upload['format'], upload['capacity'], 'the uploaded image'
    else:
        fmt, floor, what = desired['format'] or 'qcow2', None, None
    if capacity is None:
        capacity = floor
    if capacity is None:
        raise StrataError("Option capacity: required to create volume '%s' in pool '%s'" % (name, desired['pool']))
    if floor is not None and capacity < floor:
        raise StrataError("Option capacity: %s is smaller than %s (%s); volumes never shrink"
                          % (_validate.human_size(capacity), what, _validate.human_size(floor)))
    return {'capacity': capacity, 'format': fmt, 'backing': backing, 'floor': floor}


def plan_volume(current, desired):
    """Pure: current normalised state + desired state -> Plan."""
    plan = Plan()
    name, pool = desired['name'], desired['pool']
    label = "volume '%s' in pool '%s'" % (name, pool)
    exists = current.get('exists', False)
    before = _facts_view(current['config']) if exists else None
    before_state = 'present' if exists else 'absent'

    def check_users():
        if current.get('users'):
            raise StrataError("%s is the backing file of %s; remove those first"
                              % (label[0].upper() + label[1:], ', '.join(current['users'])))

    if desired['state'] == 'absent':
        plan.diff.add('state', before_state, 'absent')
        if exists:
            plan.diff.add('volume', before, None)
            _ownership.check_owner('volume', '%s/%s' % (pool, name), current['owner'], desired['cluster'],
                                   desired['adopt'])
            check_users()
            plan.add('delete', 'delete %s' % label)
        return plan

    adopt_text, cluster = _common.adoption('volume', '%s/%s' % (pool, name), current, desired)
    plan.diff.add('state', before_state, 'present')

    if exists:
        have = current['config']
        immutable = []
        if desired['format'] and desired['format'] != have['format']:
            immutable.append('format is %s, wanted %s' % (have['format'], desired['format']))
        overlay = desired['backing_volume'] or desired['backing_file']
        wanted_backing = current.get('source', {}).get('path') if overlay else None
        have_backing = (have.get('backing') or {}).get('path')
        if wanted_backing and wanted_backing != have_backing:
            immutable.append('backing is %s, wanted %s' % (have_backing, wanted_backing))
        if immutable and not desired['recreate']:
            raise StrataError('%s exists and cannot change in place (%s); set recreate=true to delete and recreate '
                              'it (its data is lost)' % (label[0].upper() + label[1:], '; '.join(immutable)))
        if not immutable:
            after = dict(before)
            if adopt_text:
                plan.add('adopt', adopt_text, cluster=cluster)
            wanted = desired['capacity']
            if wanted is not None and wanted < have['capacity']:
                raise StrataError('Option capacity: %s is smaller than the current capacity %s of %s; volumes '
                                  'never shrink' % (_validate.human_size(wanted), _validate.human_size(have['capacity']),
                                                    label))
            if wanted is not None and wanted > have['capacity']:
                text = 'grow %s from %s to %s' % (label, _validate.human_size(have['capacity']),
                                                  _validate.human_size(wanted))
                plan.add('resize', text, capacity=wanted)
                after['capacity'] = wanted
            plan.diff.add('volume', before, after)
            return plan
        check_users()
        plan.add('delete', 'delete %s to recreate it (%s)' % (label, '; '.join(immutable)))

    spec = _create_spec(current, desired)
    if desired['xml'] is not None:
        xml = _xml.to_text(desired['xml'])
    else:
        xml = _xml.to_text(render_volume(name, spec['floor'] or spec['capacity'] if desired['clone_from'] or
                                         desired['upload'] else spec['capacity'], spec['format'], spec['backing']))
    if desired['clone_from']:
        plan.add('clone', 'clone %s from %s' % (label, '/'.join(desired['clone_from'])), xml=xml,
                 source=desired['clone_from'], cluster=cluster)
    elif desired['upload']:
        plan.add('create', 'create %s (%s)' % (label, spec['format']), xml=xml, cluster=cluster)
        plan.add('upload', 'upload %s into %s' % (desired['upload']['path'], label),
                 path=desired['upload']['path'], length=desired['upload']['length'])
    else:
        how = (' as a copy-on-write overlay of %s' % spec['backing']['path']) if spec['backing'] else ''
        plan.add('create', 'create %s (%s, %s)%s' % (label, spec['format'], _validate.human_size(spec['capacity']), how),
                 xml=xml, cluster=cluster)
    if (desired['clone_from'] or desired['upload']) and spec['capacity'] > spec['floor']:
        text = 'grow %s from %s to %s' % (label, _validate.human_size(spec['floor']), _validate.human_size(spec['capacity']))
        plan.add('resize', text, capacity=spec['capacity'])
    plan.diff.add('volume', before, _facts_view(spec))
    return plan


# ---------------------------------------------------------------- libvirt side

def lookup_volume(pool_obj, name, pool_name, option=None):
    """virStorageVol or None (or a StrataError naming option when given)."""
    vol = _common.lookup("volume '%s' in pool '%s'" % (name, pool_name), pool_obj.storageVolLookupByName, name,
                         'VIR_ERR_NO_STORAGE_VOL')
    if vol is None and option:
        raise StrataError("Option %s: volume '%s' does not exist in pool '%s'" % (option, name, pool_name))
    return vol


def active_pool(conn, name, option):
    pool = lookup_pool(conn, name, option)
    if not _connection.call("read pool '%s'" % name, pool.isActive):
        raise StrataError("Option %s: storage pool '%s' is not active; start it first (strata.libvirt.pool "
                          "state=running)" % (option, name))
    return pool


def volume_state(vol, what):
    root = _xml.parse_xml(_connection.call(what, vol.XMLDesc, 0), 'volume XML from libvirt')
    return parse_volume(root)


def volume_facts(state):
    facts = {'name': state['name'], 'pool': state['pool'], 'exists': state['exists']}
    if state['exists']:
        facts.update(state['config'])
        facts['ownership'] = state['owner']
        facts['backing_users'] = state['users']
    return facts


class VolumeResource(Resource):
    kind = 'volume'
    desired_from_params = staticmethod(desired_from_params)
    plan = staticmethod(plan_volume)
    facts = staticmethod(volume_facts)

    def read(self, ctx, desired):
        return read_volume(ctx, desired)

    def _pool(self, ctx):
        return active_pool(ctx.conn, self.params['pool'], 'pool')

    def _vol(self, ctx):
        return lookup_volume(self._pool(ctx), self.params['name'], self.params['pool'], 'name')

    def what(self, verb):
        return "%s volume '%s' in pool '%s'" % (verb, self.params['name'], self.params['pool'])

    def _record(self, ctx, vol, cluster):
        ctx.registry.record('volumes', vol.key(), cluster, pool=self.params['pool'], name=self.params['name'])
        index_volume(ctx, self.params['pool'], self.params['name'], volume_state(vol, self.what('read')))

    def do_create(self, ctx, xml, cluster):
        vol = _connection.call(self.what('create'), self._pool(ctx).createXML, xml, 0)
        self._record(ctx, vol, cluster)

    def do_clone(self, ctx, xml, source, cluster):
        src = lookup_volume(active_pool(ctx.conn, source[0], 'clone_from'), source[1], source[0], 'clone_from')
        vol = _connection.call(self.what('clone'), self._pool(ctx).createXMLFrom, xml, src, 0)
        self._record(ctx, vol, cluster)

    def do_fill_read_only(self, ctx, path, length):
        """Fill a volume that is never written (a base volume) with the file path: a hard link to it when libvirt's
        file of the volume is on the same file system here, else as do_upload."""
        target = local_file(ctx, self._vol(ctx))
        try:
            if target is not None and link_into(path, target):
                return
        except (IOError, OSError) as exc:
            self.do_delete(ctx)  # never leave a half-filled volume behind
            raise StrataError('Failed to %s: linking %s as %s: %s; the volume created for it was removed again'
                              % (self.what('fill'), path, target, exc))
        self.do_upload(ctx, path, length)

    def do_upload(self, ctx, path, length):
        vol = self._vol(ctx)
        target = local_file(ctx, vol)
        if target is not None:
            try:
                copy_into(path, target, length)
                return
            except (IOError, OSError) as exc:
                self.do_delete(ctx)  # never leave a half-filled volume behind
                raise StrataError('Failed to %s: copying %s to %s: %s; the volume created for it was removed again'
                                  % (self.what('fill'), path, target, exc))
        stream = _connection.call('open a stream', ctx.conn.newStream, 0)
        try:
            _connection.call(self.what('upload into'), vol.upload, stream, 0, length, 0)
            with open(path, 'rb') as handle:
                _connection.call(self.what('upload into'), stream.sendAll,
                                 lambda st, nbytes, fh: fh.read(nbytes), handle)
            _connection.call(self.what('upload into'), stream.finish)
        except StrataError as exc:
            try:
                stream.abort()
            except Exception:  # pragma: no cover - the stream may already be closed
                pass
            # never leave a half-filled volume behind: the next run would take it for the uploaded one
            self.do_delete(ctx)
            raise StrataError('%s; the volume created for it was removed again' % exc)

    def do_resize(self, ctx, capacity):
        _connection.call(self.what('grow'), self._vol(ctx).resize, capacity, 0)

    def do_adopt(self, ctx, cluster):
        self._record(ctx, self._vol(ctx), cluster)

    def do_delete(self, ctx):
        vol = self._vol(ctx)
        key = vol.key()
        _connection.call(self.what('delete'), vol.delete, 0)
        ctx.registry.forget('volumes', key)
        index_volume(ctx, self.params['pool'], self.params['name'], None)


def local_file(ctx, vol):
    """The volume's file when libvirt runs on this host, the volume is a plain file there and we may write it,
    else None. Such a volume is filled by copying the file directly instead of streaming it through libvirtd."""
    if not _connection.is_local(ctx.uri):
        return None
    libvirt = _connection.libvirt
    try:
        if vol.info()[0] != libvirt.VIR_STORAGE_VOL_FILE:
            return None
        path = vol.path()
    except libvirt.libvirtError:
        return None
    if not path or not os.path.isfile(path) or os.path.islink(path) or not os.access(path, os.W_OK):
        return None
    return path


def link_into(src, dst):
    """Put a hard link to the file src in place of the file dst, with dst's owner and mode, when both are on one file
    system and the kernel allows it; False when not (nothing changed then). Only for a file that is never written: a
    base volume, read-only and only ever a backing file, which then shares the cached image's blocks."""
    stat = os.stat(dst)
    tmp = '%s.strata-link-%d' % (dst, os.getpid())
    try:
        os.link(src, tmp)
    except OSError as exc:
        if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP, errno.ENOSYS):
            return False
        raise
    try:
        os.chown(tmp, stat.st_uid, stat.st_gid)
        os.chmod(tmp, stat.st_mode & 0o7777)
        os.rename(tmp, dst)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    return True


def copy_into(src, dst, length):
    """Copy the file src over the file dst (same inode: its owner and mode stay), in the kernel where it can
    (copy_file_range: a file system like XFS or Btrfs then shares the blocks instead of copying them)."""
    with open(src, 'rb') as fin, open(dst, 'r+b') as fout:
        fout.truncate(0)
        done = 0
        copy_range = getattr(os, 'copy_file_range', None)
        while copy_range is not None and done < length:
            try:
                count = copy_range(fin.fileno(), fout.fileno(), length - done)
            except OSError as exc:
                if done or exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.EPERM):
                    raise
                break  # not between these two files: copy through user space
            if not count:
                break
            done += count
        if done < length:
            fin.seek(done)
            fout.seek(done)
            shutil.copyfileobj(fin, fout, CHUNK)
    size = os.path.getsize(dst)
    if size != length:
        raise OSError(errno.EIO, 'copied %d bytes of %d (did %s change meanwhile?)' % (size, length, src))


def read_volume(ctx, desired):
    name, pool_name = desired['name'], desired['pool']
    state = {'exists': False, 'name': name, 'pool': pool_name}
    if desired['state'] == 'absent' and lookup_pool(ctx.conn, pool_name) is None:
        return state  # no pool, no volume
    pool = active_pool(ctx.conn, pool_name, 'pool')
    vol = lookup_volume(pool, name, pool_name)
    what = "read volume '%s' in pool '%s'" % (name, pool_name)
    if vol is not None:
        config = volume_state(vol, what)
        users = [other for other in backing_index(ctx, pool, pool_name).get(config['path'], []) if other != name]
        state.update(exists=True, config=config, users=sorted(users),
                     owner=ctx.registry.get('volumes', config['key']))
    if desired['state'] != 'absent':
        state['source'] = _resolve_source(ctx, desired)
    return state


def backing_index(ctx, pool, pool_name):
    """{backing file path: [names of the pool's volumes on it]}: each volume's XML read once per session (the
    items of one run share it), not once per volume asked about; the session's own changes keep it current
    (index_volume), and the lock it holds keeps others' out."""
    key = ('backing_index', pool_name)
    if key not in ctx.cache:
        index = {}
        for other in _connection.call("list the volumes of pool '%s'" % pool_name, pool.listAllVolumes, 0):
            backing = volume_state(other, "read volume '%s' in pool '%s'" % (other.name(), pool_name)).get('backing')
            if backing and backing.get('path'):
                index.setdefault(backing['path'], []).append(other.name())
        ctx.cache[key] = index
    return ctx.cache[key]


def index_volume(ctx, pool_name, name, config):
    """Note in the session's backing index (when it has one) that volume name was created with config, or
    (config None) deleted; a create on a name that existed replaces it."""
    index = ctx.cache.get(('backing_index', pool_name))
    if index is None:
        return
    for users in index.values():
        if name in users:
            users.remove(name)
    path = ((config or {}).get('backing') or {}).get('path')
    if path:
        index.setdefault(path, []).append(name)


def _resolve_source(ctx, desired):
    """Path, format and capacity of the backing or clone source (errors name the option)."""
    ref, option = desired['backing_volume'] or desired['clone_from'], None
    if desired['backing_volume']:
        option = 'backing_volume'
    elif desired['clone_from']:
        option = 'clone_from'
    if ref:
        vol = lookup_volume(active_pool(ctx.conn, ref[0], option), ref[1], ref[0], option)
        return volume_state(vol, 'read volume %s' % '/'.join(ref))
    if desired['backing_file']:
        libvirt = _connection.libvirt
        try:
            return volume_state(ctx.conn.storageVolLookupByPath(desired['backing_file']), 'read backing file')
        except libvirt.libvirtError:
            pass  # not a volume of any pool: look at the file itself
        if os.path.isfile(desired['backing_file']):
            fmt, size = probe_image(desired['backing_file'], 'backing_file')
            return {'path': desired['backing_file'], 'format': fmt, 'capacity': size}
        raise StrataError('Option backing_file: %r is neither a libvirt volume nor a file on this host'
                          % desired['backing_file'])
    return {}

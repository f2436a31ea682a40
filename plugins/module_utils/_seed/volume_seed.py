# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A seed ISO as a raw volume of a running storage pool (options pool and volume), read and written with
libvirt's stream API and recorded as strata.libvirt's own in the ownership registry, like volumes.

Private to strata.libvirt; no compatibility promise.
"""

import io

from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils import _ownership
from ansible_collections.strata.libvirt.plugins.module_utils import _pool
from ansible_collections.strata.libvirt.plugins.module_utils import _volume
from ansible_collections.strata.libvirt.plugins.module_utils import _xml
from ansible_collections.strata.libvirt.plugins.module_utils._seed.iso import read_iso, sha256
from ansible_collections.strata.libvirt.plugins.module_utils._seed.resource import SeedResource, changed_files, seed_plan


def volume_label(target):
    return "seed volume '%s' in pool '%s'" % (target['volume'], target['pool'])


def stream_transfer(conn, what, start, move):
    """One transfer through a new libvirt stream: start(stream) (the volume's download or upload), move(stream)
    (receive or send everything), finish; the stream is aborted when a step fails."""
    stream = _connection.call('open a stream', conn.newStream, 0)
    try:
        _connection.call(what, start, stream)
        _connection.call(what, move, stream)
        _connection.call(what, stream.finish)
    except Exception:
        try:
            stream.abort()
        except Exception:  # pragma: no cover
            pass
        raise


def download(conn, vol, label):
    """The bytes of the volume."""
    chunks = []
    stream_transfer(conn, 'read the %s' % label, lambda stream: vol.download(stream, 0, 0, 0),
                    lambda stream: stream.recvAll(lambda st, buf, acc: acc.append(buf), chunks))
    return b''.join(chunks)


def upload(conn, vol, data, label):
    """Write the bytes data into the volume."""
    source = io.BytesIO(data)
    stream_transfer(conn, 'write the %s' % label, lambda stream: vol.upload(stream, 0, len(data), 0),
                    lambda stream: stream.sendAll(lambda st, nbytes, fh: fh.read(nbytes), source))


def plan_volume_seed(current, desired):
    """PURE: current (see SeedVolumeResource.read) + desired seed -> Plan."""
    target = desired['target']
    label = volume_label(target)
    plan = seed_plan('%s/%s' % (target['pool'], target['volume']), current, desired)
    if desired['state'] == 'absent':
        if current['exists']:
            plan.add('delete', 'delete %s' % label, key=current['key'])
        return plan
    iso = desired['iso']
    cluster = desired['cluster'] or (current['owner'].get('cluster') if current['exists'] else None)
    if current['exists'] and current['data'] == iso:
        if current['adopt_text']:
            plan.add('record', current['adopt_text'], key=current['key'], cluster=cluster)
    elif current['exists']:
        plan.add('write', 'replace %s (changed: %s)' % (label, changed_files(current['files'], desired['files'])),
                 replace=True, cluster=cluster)
    else:
        plan.add('write', 'create %s (NoCloud seed, %d bytes)' % (label, len(iso)), replace=False, cluster=cluster)
    return plan


class SeedVolumeResource(SeedResource):
    plan = staticmethod(plan_volume_seed)

    def session(self):
        _connection.require_libvirt(self.module)
        _xml.require_lxml(self.module)
        return SeedResource.session(self)

    def read(self, ctx, desired):
        target = desired['target']
        state = {'exists': False, 'files': None, 'data': None, 'key': None, 'owner': None, 'adopt_text': None,
                 'path': None}
        if desired['state'] == 'absent' and _pool.lookup_pool(ctx.conn, target['pool']) is None:
            return state  # no pool, no seed
        vol = _volume.lookup_volume(_volume.active_pool(ctx.conn, target['pool'], 'pool'), target['volume'],
                                    target['pool'])
        if vol is None:
            return state
        label = volume_label(target)
        key = _connection.call('read the %s' % label, vol.key)
        owner = ctx.registry.get('volumes', key)
        # a volume we may not touch is not read either: StrataError unless it is ours (or to be adopted)
        adopt_text = _ownership.check_owner('volume', '%s/%s' % (target['pool'], target['volume']), owner,
                                            desired['cluster'], desired['adopt'])
        data = download(ctx.conn, vol, label)
        state.update(exists=True, key=key, owner=owner, adopt_text=adopt_text, data=data,
                     files=read_iso(data)[0] or {}, path=_connection.call('read the %s' % label, vol.path))
        self.keep_instance_id(desired, state['files'])
        return state

    def facts(self, state):
        facts = self.seed_facts()
        if facts['exists']:
            target = self.wanted['target']
            facts.update(path=state['path'], volume={'pool': target['pool'], 'name': target['volume']})
        return facts

    def record(self, registry, key, cluster):
        target = self.wanted['target']
        registry.record('volumes', key, cluster, pool=target['pool'], name=target['volume'],
                        seed={'sha256': sha256(self.wanted['iso'])})

    def do_delete(self, ctx, key):
        target = self.wanted['target']
        label = volume_label(target)
        vol = _volume.lookup_volume(_volume.active_pool(ctx.conn, target['pool'], 'pool'), target['volume'],
                                    target['pool'], 'volume')
        _connection.call('delete the %s' % label, vol.delete, 0)
        ctx.registry.forget('volumes', key)

    def do_record(self, ctx, key, cluster):
        self.record(ctx.registry, key, cluster)

    def do_write(self, ctx, replace, cluster):
        """Create the seed volume (replacing the old one) and fill it; a seed that cannot be filled is removed."""
        target, iso = self.wanted['target'], self.wanted['iso']
        label = volume_label(target)
        pool = _volume.active_pool(ctx.conn, target['pool'], 'pool')
        if replace:
            old = _volume.lookup_volume(pool, target['volume'], target['pool'], 'volume')
            _connection.call('delete the %s' % label, old.delete, 0)
        root = _volume.render_volume(target['volume'], len(iso), 'raw')
        perms = _xml.sub_element(root.find('target'), 'permissions')
        _xml.sub_element(perms, 'mode', text='%04o' % self.wanted['mode'])
        vol = _connection.call('create the %s' % label, pool.createXML, _xml.to_text(root), 0)
        key = vol.key()
        self.record(ctx.registry, key, cluster)
        try:
            upload(ctx.conn, vol, iso, label)
        except Exception:
            # never leave an empty or partial seed behind
            _connection.call('delete the %s' % label, vol.delete, 0)
            ctx.registry.forget('volumes', key)
            raise

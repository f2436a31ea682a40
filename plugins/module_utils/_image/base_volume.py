# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cached image imported into a storage pool as a read-only base volume.

Private to strata.libvirt; no compatibility promise.
"""

import os

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._image.sums import file_digests


def plan_import(current, image, desired):
    """PURE: the base-volume part of the plan -> (Plan, reason or None).

    current: the volume module's read_volume() state plus 'recorded' (the image record in the registry)
    and 'content_sha256' (the volume's content as far as known); image: the cache facts (sha256 None in
    check mode before a download).
    """
    from ansible_collections.strata.libvirt.plugins.module_utils._common import Plan
    from ansible_collections.strata.libvirt.plugins.module_utils import _ownership
    plan = Plan()
    vol = desired['volume']
    label = "volume '%s' in pool '%s'" % (vol['name'], vol['pool'])
    wanted = {'image': image['sha256'] or 'the new download', 'format': image['format']}
    if not current['exists']:
        plan.diff.add('volume', None, wanted)
        plan.add('create', 'create %s as a read-only base volume from %s' % (label, image['path']))
        return plan
    have = {'image': current.get('content_sha256') or 'unknown', 'format': current['config']['format']}
    adopt_text = _ownership.check_owner('volume', '%s/%s' % (vol['pool'], vol['name']), current['owner'],
                                        desired['cluster'], desired['adopt'])
    if image['sha256'] is not None:
        same = current.get('content_sha256') == image['sha256']
    else:  # check mode before a download: the verified source checksum is all we know yet
        same = bool(image['checksum']) and (current.get('recorded') or {}).get('checksum') == image['checksum']
    if same:
        plan.diff.add('volume', have, have)
        if adopt_text:
            plan.add('record', adopt_text)
        return plan
    plan.diff.add('volume', have, wanted)
    if current.get('users'):
        raise StrataError('%s holds another image (sha256 %s, the cached image is %s) and is the backing file of %s; '
                          'import the new image under another volume name (option volume) or remove those first'
                          % (label[0].upper() + label[1:], have['image'], wanted['image'], ', '.join(current['users'])))
    plan.add('delete', 'delete %s (it holds another image: %s)' % (label, have['image']))
    plan.add('create', 'create %s as a read-only base volume from %s' % (label, image['path']))
    return plan


class _VolumeShim(object):
    """The volume module's resource needs only .params (and .check_mode) of a module."""

    def __init__(self, module, params):
        self.params = params
        self.check_mode = module.check_mode


class ImportTask(object):
    def __init__(self, module, desired, image, diff):
        self.module = module
        self.desired = desired
        self.image = image
        self.diff = diff

    def run(self):
        from ansible_collections.strata.libvirt.plugins.module_utils import _connection, _ownership, _volume
        from ansible_collections.strata.libvirt.plugins.module_utils._common import Context
        module, vol = self.module, self.desired['volume']
        _connection.require_libvirt(module)
        from ansible_collections.strata.libvirt.plugins.module_utils import _xml
        _xml.require_lxml(module)
        params = module.params
        vparams = dict(name=vol['name'], pool=vol['pool'], state='present', capacity=None, format=None,
                       backing_volume=None, backing_file=None, backing_format=None, clone_from=None, upload=None,
                       recreate=False, cluster=self.desired['cluster'], adopt=self.desired['adopt'], xml=None)
        resource = _volume.VolumeResource(_VolumeShim(module, vparams))
        uri = _connection.resolve_uri(params.get('uri'))
        conn = _connection.open_connection(uri)
        try:
            canonical = _connection.call('get the URI of the connection', conn.getURI) or uri
            with _connection.hypervisor_lock(params['state_dir'], canonical, params['lock_timeout']):
                registry = _ownership.OwnerRegistry(params['state_dir'], canonical, module).load()
                ctx = Context(module, conn, canonical, registry)
                desired = _volume.desired_from_params(vparams)
                current = _volume.read_volume(ctx, desired)
                if current['exists']:
                    current['recorded'] = (registry.data['volumes'].get(current['config']['key']) or {}).get('image')
                    current['content_sha256'] = self.content_of(current)
                plan = plan_import(current, self.image, self.desired)
                for key in plan.diff.before():
                    self.diff.add(key, plan.diff.before()[key], plan.diff.after()[key])
                if not module.check_mode:
                    for action in plan.actions:
                        getattr(self, 'do_' + action.op)(ctx, resource, current)
                    if not plan.actions and current['exists'] and current.get('recorded') is None:
                        self.record(ctx, current['config']['key'])  # content verified by hashing: remember it
                final = _volume.read_volume(ctx, desired) if (plan.actions and not module.check_mode) else current
        finally:
            try:
                conn.close()
            except Exception:  # pragma: no cover
                pass
        facts = _volume.volume_facts(final)
        facts['_actions'] = plan.texts()
        return facts

    def content_of(self, current):
        recorded = current.get('recorded') or {}
        if recorded.get('sha256'):
            return recorded['sha256']
        path = current['config'].get('path')
        if self.image['sha256'] and path and os.path.isfile(path):
            return file_digests(path)['sha256']  # no record (adopted or older): look at the content once
        return None

    def record(self, ctx, key):
        image = self.image
        cluster = self.desired['cluster'] or ctx.registry.get('volumes', key).get('cluster')
        ctx.registry.record('volumes', key, cluster, pool=self.desired['volume']['pool'],
                            name=self.desired['volume']['name'],
                            image={'sha256': image['sha256'], 'checksum': image['checksum'], 'source': image['source']})

    def do_record(self, ctx, resource, current):
        self.record(ctx, current['config']['key'])

    def do_delete(self, ctx, resource, current):
        resource.do_delete(ctx)

    def do_create(self, ctx, resource, current):
        from ansible_collections.strata.libvirt.plugins.module_utils import _volume, _xml
        image = self.image
        capacity = image['virtual_size'] if image['format'] == 'qcow2' else image['size']
        root = _volume.render_volume(self.desired['volume']['name'], capacity, image['format'])
        perms = _xml.sub_element(root.find('target'), 'permissions')
        _xml.sub_element(perms, 'mode', text='0444')
        resource.do_create(ctx, _xml.to_text(root), self.desired['cluster'])
        resource.do_upload(ctx, image['path'], image['size'])
        vol = resource._vol(ctx)
        self.record(ctx, vol.key())

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cached image imported into a storage pool as a read-only base volume.

The base volume is a volume of the volume module (the same resource, given the options that module would
get for it) whose content must be the cached image: the ownership registry records which image it holds
(its sha256, checksum and source), so a later run compares records instead of hashing the volume.

Private to strata.libvirt; no compatibility promise.
"""

import os

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._common import Plan
from ansible_collections.strata.libvirt.plugins.module_utils import _ownership
from ansible_collections.strata.libvirt.plugins.module_utils import _volume
from ansible_collections.strata.libvirt.plugins.module_utils import _xml
from ansible_collections.strata.libvirt.plugins.module_utils._image.sums import file_digests


def volume_params(desired):
    """The volume module's options for the base volume of the image module's desired state."""
    vol = desired['volume']
    return dict(name=vol['name'], pool=vol['pool'], state='present', capacity=None, format=None, backing_volume=None,
                backing_file=None, backing_format=None, clone_from=None, upload=None, recreate=False,
                cluster=desired['cluster'], adopt=desired['adopt'], xml=None)


def plan_import(current, image, desired):
    """PURE: the base-volume part of the plan -> Plan.

    current: the volume module's read_volume() state plus 'recorded' (the image record in the registry)
    and 'content_sha256' (the volume's content as far as known); image: the cache facts (sha256 None in
    check mode before a download); desired: the image module's desired state.
    """
    plan = Plan()
    vol = desired['volume']
    label = "volume '%s' in pool '%s'" % (vol['name'], vol['pool'])
    wanted = {'image': image['sha256'] or 'the new download', 'format': image['format']}
    if not current['exists']:
        plan.diff.add('volume', None, wanted)
        plan.add('import', 'create %s as a read-only base volume from %s' % (label, image['path']))
        return plan
    key = current['config']['key']
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
            plan.add('record', adopt_text, key=key)
        return plan
    plan.diff.add('volume', have, wanted)
    if current.get('users'):
        raise StrataError('%s holds another image (sha256 %s, the cached image is %s) and is the backing file of %s; '
                          'import the new image under another volume name (option volume) or remove those first'
                          % (label[0].upper() + label[1:], have['image'], wanted['image'], ', '.join(current['users'])))
    plan.add('delete', 'delete %s (it holds another image: %s)' % (label, have['image']))
    plan.add('import', 'create %s as a read-only base volume from %s' % (label, image['path']))
    return plan


class BaseVolumeResource(_volume.VolumeResource):
    """The base volume of the cached image (image: the cache's facts) for the image module's desired state."""

    def __init__(self, module, desired, image):
        _volume.VolumeResource.__init__(self, module)
        self.target = desired
        self.image = image
        self.params = volume_params(desired)

    def read(self, ctx, desired):
        current = _volume.read_volume(ctx, desired)
        if current['exists']:
            current['recorded'] = (ctx.registry.data['volumes'].get(current['config']['key']) or {}).get('image')
            current['content_sha256'] = self.content_of(current)
        return current

    def plan(self, current, desired):
        return plan_import(current, self.image, self.target)

    def settle(self, ctx, current, plan):
        if not plan.actions and current['exists'] and current.get('recorded') is None:
            self.record(ctx, current['config']['key'])  # content verified by hashing: remember it

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
        vol = self.target['volume']
        cluster = self.target['cluster'] or ctx.registry.get('volumes', key).get('cluster')
        ctx.registry.record('volumes', key, cluster, pool=vol['pool'], name=vol['name'],
                            image={'sha256': image['sha256'], 'checksum': image['checksum'], 'source': image['source']})

    def do_record(self, ctx, key):
        self.record(ctx, key)

    def do_import(self, ctx):
        """Create the volume (mode 0444), fill it with the cached image (a hard link to it where it can be), record the
        image it holds."""
        image, vol = self.image, self.target['volume']
        capacity = image['virtual_size'] if image['format'] == 'qcow2' else image['size']
        root = _volume.render_volume(vol['name'], capacity, image['format'])
        perms = _xml.sub_element(root.find('target'), 'permissions')
        _xml.sub_element(perms, 'mode', text='0444')
        self.do_create(ctx, _xml.to_text(root), self.target['cluster'])
        self.do_fill_read_only(ctx, image['path'], image['size'])
        created = _volume.lookup_volume(_volume.active_pool(ctx.conn, vol['pool'], 'pool'), vol['name'], vol['pool'],
                                        'name')
        self.record(ctx, created.key())

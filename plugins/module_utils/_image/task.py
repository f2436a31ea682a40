# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The image module's run: the cached image under its own lock ('image:' + dest in state_dir), then, with
option pool, its base volume as a resource of the read -> plan -> apply loop (_common), in one result.

Private to strata.libvirt; no compatibility promise.
"""

import functools
import os

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _batch
from ansible_collections.strata.libvirt.plugins.module_utils import _common
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils import _xml
from ansible_collections.strata.libvirt.plugins.module_utils._image.base_volume import BaseVolumeResource
from ansible_collections.strata.libvirt.plugins.module_utils._image.cache import ensure_directory, remove_stale_temps
from ansible_collections.strata.libvirt.plugins.module_utils._image.fetch import CacheTask
from ansible_collections.strata.libvirt.plugins.module_utils._image.source import redact_url, url_secrets
from ansible_collections.strata.libvirt.plugins.module_utils._image.spec import desired_from_params


class ImageTask(object):
    """Ensure the cached image (and optionally its base volume): plan, then apply outside check mode."""

    def __init__(self, module, desired, transfer=None):
        self.module = module
        self.desired = desired
        self.cache = CacheTask(module, desired, transfer)
        self.actions = self.cache.actions
        self.warnings = []

    def run(self):
        d = self.desired
        dest = d['dest']
        if d['checksum'] is None:
            self.warnings.append('checksum is none: the image %s is not verified; anything the server or a '
                                 'man in the middle sends is used as is' % redact_url(d['source']['location']))
        params = self.module.params
        check = self.module.check_mode
        if not check:
            ensure_directory(os.path.dirname(dest))
        with _connection.hypervisor_lock(params['state_dir'], 'image:' + dest, params['lock_timeout']):
            if not check:
                for name in remove_stale_temps(dest):
                    self.warnings.append('removed %s, left behind by an interrupted earlier run' % name)
            result = self.cache.ensure()
            result['volume'] = self.base_volume(result) if d['volume'] else None
        result.update(changed=bool(self.actions), actions=list(self.actions), diff=self.cache.diff.diff())
        return result

    def base_volume(self, image):
        """The base volume's facts; its actions and diff join the cache's."""
        _connection.require_libvirt(self.module)
        _xml.require_lxml(self.module)
        try:
            result = _common.prepare(self.module, functools.partial(BaseVolumeResource, desired=self.desired,
                                                                    image=image))()
        except _batch.ItemFailed as exc:
            raise StrataError(exc.result['msg'])
        self.actions.extend(result['actions'])
        for key, before in result['diff']['before'].items():
            self.cache.diff.add(key, before, result['diff']['after'][key])
        return result['volume']


def prepare(module):
    """One image's run (see _batch): the credentials of its source and SUMS URLs hidden wherever the result holds
    them (the module arguments Ansible reports included; the module's own texts show them redacted, see
    source.redact_url), its desired state built now (StrataError on bad input); the returned callable fetches,
    caches and imports it and returns its result, or raises _batch.ItemFailed with what was planned."""
    for url in (module.params.get('source'), (module.params.get('checksum') or '').partition(':')[2]):
        module.no_log_values.update(url_secrets(url or ''))
    task = ImageTask(module, desired_from_params(module.params))

    def run_image():
        try:
            return task.run()
        except StrataError as exc:
            raise _batch.ItemFailed(dict(msg=str(exc), actions=task.actions))
        finally:
            for warning in task.warnings:
                module.warn(warning)
    return run_image


def run(module):
    """The image module's work after the argument spec: fail (with what was planned) or exit with the result."""
    _batch.run_one(module, prepare)

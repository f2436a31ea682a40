# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The image module's options: its argument spec, the constraints between options, and the validated desired
state (pure: no libvirt, no module; every error names its option).

Private to strata.libvirt; no compatibility promise.
"""

import os

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._common import common_argument_spec
from ansible_collections.strata.libvirt.plugins.module_utils import _validate
from ansible_collections.strata.libvirt.plugins.module_utils._image.cache import DEFAULT_CACHE_DIR
from ansible_collections.strata.libvirt.plugins.module_utils._image.source import (
    METHODS, cached_name, compression_of, source_info)
from ansible_collections.strata.libvirt.plugins.module_utils._image.sums import parse_checksum

CONSTRAINTS = dict(required_by={'volume': 'pool'})


def argument_spec():
    """The image module's complete argument spec (a new dict)."""
    spec = common_argument_spec()
    spec.update(
        source=dict(type='str', required=True),
        checksum=dict(type='str', required=True),
        dest=dict(type='path'),
        cache_dir=dict(type='path', default=DEFAULT_CACHE_DIR),
        decompress=dict(type='str', default='auto', choices=['auto', 'none'] + list(METHODS)),
        format=dict(type='str', choices=['qcow2', 'raw']),
        pool=dict(type='str'),
        volume=dict(type='str'),
        retries=dict(type='int', default=3),
        retry_delay=dict(type='float', default=2.0),
        timeout=dict(type='int', default=30),
        validate_certs=dict(type='bool', default=True),
    )
    return spec


def desired_from_params(params):
    """Validated desired state; every error names its option, before anything is fetched or written."""
    src = source_info(params['source'])
    checksum = parse_checksum(params.get('checksum'))
    if params.get('decompress') not in (None, 'auto', 'none') + METHODS:
        raise StrataError('Option decompress: %r is not one of auto, none, %s' % (params['decompress'], ', '.join(METHODS)))
    method = compression_of(src['name'], params.get('decompress') or 'auto')
    name = cached_name(src['name'], method)
    dest = params.get('dest')
    if dest:
        if not os.path.isabs(dest):
            raise StrataError('Option dest: %r is not an absolute path' % dest)
        if dest.endswith('/') or os.path.isdir(dest):
            dest = os.path.join(dest, name)
    else:
        dest = os.path.join(params.get('cache_dir') or DEFAULT_CACHE_DIR, name)
    dest = os.path.normpath(dest)
    if src['kind'] == 'file' and dest == src['location'] and (method or params.get('format')):
        raise StrataError('Option dest: the cached image would overwrite its own source %s; choose another dest'
                          % dest)
    volume = None
    if params.get('pool'):
        volume = {'pool': _validate.name(params['pool'], 'pool'),
                  'name': _validate.name(params.get('volume') or os.path.basename(dest), 'volume')}
    elif params.get('volume'):
        raise StrataError('Option volume: needs option pool')
    for option in ('retries', 'timeout'):
        if params.get(option) is not None and params[option] < 0:
            raise StrataError('Option %s: must not be negative' % option)
    return {'source': src, 'checksum': checksum, 'decompress': method, 'format': params.get('format'),
            'dest': dest, 'volume': volume, 'cluster': params.get('cluster'), 'adopt': bool(params.get('adopt'))}

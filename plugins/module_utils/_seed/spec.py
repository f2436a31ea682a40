# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cloud_init module's options: the argument spec of one seed (one item of the module's items), the
constraints between options, and the validated desired state with the seed's rendered files (pure: no
libvirt, no module, no ISO yet; every error names its option).

Private to strata.libvirt; no compatibility promise.
"""

import os
import re

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._common import common_argument_spec
from ansible_collections.strata.libvirt.plugins.module_utils import _validate
from ansible_collections.strata.libvirt.plugins.module_utils._seed.render import (
    DEFAULT_SUDO, build_user_data, render_meta_data, render_network_config, render_user_data, seed_files)

# the options that build the #cloud-config (a string user_data cannot be combined with them)
HELPER_OPTIONS = ('hostname', 'fqdn', 'user', 'ssh_authorized_keys', 'packages', 'ca_certs', 'ssh_genkeytypes',
                  'write_files', 'runcmd', 'root_password', 'locale')

CONSTRAINTS = dict(required_one_of=[('path', 'pool')],
                   mutually_exclusive=[('path', 'pool'), ('pool', 'owner'), ('pool', 'group')],
                   required_together=[('pool', 'volume')])


def argument_spec():
    """The argument spec of one seed (a new dict); the module adds items with _batch.module_spec()."""
    spec = common_argument_spec()
    spec.update(
        path=dict(type='path'),
        pool=dict(type='str'),
        volume=dict(type='str'),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        user_data=dict(type='raw'),
        hostname=dict(type='str'),
        fqdn=dict(type='str'),
        user=dict(type='str'),
        ssh_authorized_keys=dict(type='list', elements='str', no_log=False),
        sudo=dict(type='str', default=DEFAULT_SUDO),
        shell=dict(type='str', default='/bin/bash'),
        groups=dict(type='list', elements='str'),
        packages=dict(type='list', elements='str'),
        ca_certs=dict(type='list', elements='str'),
        ssh_genkeytypes=dict(type='list', elements='str', no_log=False),
        write_files=dict(type='list', elements='dict'),
        runcmd=dict(type='list', elements='raw'),
        root_password=dict(type='str', no_log=True),
        locale=dict(type='str'),
        instance_id=dict(type='str'),
        meta_data=dict(type='dict'),
        network_config=dict(type='raw'),
        mode=dict(type='raw', default='0600'),
        owner=dict(type='str'),
        group=dict(type='str'),
    )
    return spec


def seed_label(params):
    """How an item of the module's O(items) is named in messages."""
    return params.get('path') or '%s/%s' % (params.get('pool'), params.get('volume'))


def parse_mode(value, option='mode'):
    """'0640' / '640' / 0o640 -> int; a mode that lets others read is refused (the seed holds secrets)."""
    if isinstance(value, int):
        mode = value
    else:
        text = str(value).strip()
        if not re.match(r'^0?[0-7]{3}$', text):
            raise StrataError("Option %s: %r is not an octal mode such as '0600' or '0640'" % (option, value))
        mode = int(text, 8)
    if mode & 0o007:
        raise StrataError("Option %s: %s would let every user read the seed (it may hold password hashes or keys); "
                          "use 0600, or 0640 with a group qemu belongs to" % (option, oct(mode)))
    return mode


def desired_from_params(params):
    """Validated desired seed: its target, file attributes and rendered files ('iso' is left to the resource);
    errors name the option."""
    target = {'path': None, 'pool': None, 'volume': None}
    if params.get('path'):
        if not os.path.isabs(params['path']):
            raise StrataError('Option path: %r is not an absolute path' % params['path'])
        target['path'] = os.path.normpath(params['path'])
        base = os.path.basename(target['path'])
    else:
        target['pool'] = _validate.name(params['pool'], 'pool')
        target['volume'] = _validate.name(params['volume'], 'volume')
        base = target['volume']
    desired = {'state': params['state'], 'target': target, 'cluster': params.get('cluster'),
               'adopt': bool(params.get('adopt')), 'mode': parse_mode(params.get('mode') or '0600'),
               'owner': params.get('owner'), 'group': params.get('group'), 'files': None, 'iso': None}
    if params['state'] == 'absent':
        return desired
    hostname = params.get('hostname')
    if hostname:
        _validate.hostname(hostname, 'hostname')
    if params.get('fqdn'):
        _validate.hostname(params['fqdn'], 'fqdn')
    text = user_data_text(params)
    default_id = 'iid-%s' % (hostname or base.rsplit('.', 1)[0])
    meta = {'instance-id': params.get('instance_id') or default_id}
    # not set: an existing seed's generation of the default (iid-<hostname>-<suffix>, a reseed's) is kept
    desired['default_instance_id'] = None if params.get('instance_id') else default_id
    if hostname:
        meta['local-hostname'] = hostname
    extra_meta = params.get('meta_data') or {}
    if not isinstance(extra_meta, dict):
        raise StrataError('Option meta_data: must be a dict')
    meta.update(extra_meta)
    network = params.get('network_config')
    if network is not None and not isinstance(network, (dict, str)):
        raise StrataError('Option network_config: must be a dict (network config version 2) or a string')
    desired['meta'] = meta
    desired['files'] = seed_files(text, render_meta_data(meta), render_network_config(network))
    return desired


INSTANCE_ID_RE = re.compile(r'''^instance-id: *['"]?([^'"\s]+)['"]? *$''', re.M)


def kept_instance_id(desired, current_files):
    """The instance-id an existing seed keeps: its own when O(instance_id) is not set and it is a generation of the
    default (V(iid-<hostname>-<suffix>)), else None."""
    default_id = desired.get('default_instance_id')
    match = INSTANCE_ID_RE.search((current_files or {}).get('meta-data') or '')
    if default_id and match and match.group(1).startswith(default_id + '-'):
        return match.group(1)
    return None


def user_data_text(params):
    """The user-data: a string user_data as it is, else the #cloud-config of the helper options with a dict
    user_data merged on top."""
    user_data = params.get('user_data')
    helpers = [name for name in HELPER_OPTIONS if params.get(name)]
    if isinstance(user_data, str):
        if helpers:
            raise StrataError('Option user_data: a string is used verbatim, so it cannot be combined with %s; give '
                              'user_data as a dict to merge it with them' % ', '.join(helpers))
        return render_user_data(user_data)
    if user_data is None or isinstance(user_data, dict):
        return render_user_data(build_user_data(
            hostname=params.get('hostname'), fqdn=params.get('fqdn'), user=params.get('user'),
            ssh_authorized_keys=params.get('ssh_authorized_keys'), sudo=params.get('sudo'),
            shell=params.get('shell') or '/bin/bash', groups=params.get('groups'), packages=params.get('packages'),
            ca_certs=params.get('ca_certs'), ssh_genkeytypes=params.get('ssh_genkeytypes'),
            write_files=params.get('write_files'), runcmd=params.get('runcmd'),
            root_password=params.get('root_password'), locale=params.get('locale'), extra=user_data))
    raise StrataError('Option user_data: must be a dict (rendered as #cloud-config) or a string')

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A snapshot's desired state: the strata.libvirt.snapshot module's argument spec and the validation of its
parameters. Pure (no libvirt).

Private to strata.libvirt; no compatibility promise.
"""

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._common import common_argument_spec
from ansible_collections.strata.libvirt.plugins.module_utils import _validate
from ansible_collections.strata.libvirt.plugins.module_utils import _xml

STATES = ('present', 'absent', 'reverted')
# The options that only one state uses, and that state.
STATE_OPTIONS = (('description', 'present'), ('memory', 'present'), ('running', 'reverted'))


def argument_spec():
    """The snapshot module's argument spec (a new dict)."""
    spec = common_argument_spec()
    spec.update(
        domain=dict(type='str', required=True),
        name=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=list(STATES)),
        description=dict(type='str'),
        memory=dict(type='bool'),
        running=dict(type='bool'),
    )
    return spec


def snapshot_name(value, option='name'):
    """A snapshot name: letters, digits, '.', '_' and '-' (the other modules' names), not starting with '.': libvirt
    keeps a snapshot's metadata in a file of that name and refuses names with '/' or a leading '.'."""
    _validate.name(value, option)
    if value.startswith('.'):
        raise StrataError("Option %s: invalid name %r; a snapshot name cannot start with '.'" % (option, value))
    return value


def desired_from_params(params):
    """Validated desired state; raises StrataError naming the option and value."""
    desired = {
        'domain': _validate.name(params.get('domain'), 'domain'),
        'name': snapshot_name(params.get('name')),
        'state': params['state'],
        'cluster': _validate.name(params['cluster'], 'cluster') if params.get('cluster') is not None else None,
        'adopt': bool(params.get('adopt')),
    }
    for option, state in STATE_OPTIONS:
        if params.get(option) is not None and params['state'] != state:
            raise StrataError('Option %s: only with state=%s (state is %s)' % (option, state, params['state']))
    description = params.get('description')
    if description is not None:
        try:
            _xml.new_element('description', text=description)
        except ValueError as exc:  # control characters: XML 1.0 has no place for them
            raise StrataError('Option description: %s' % exc)
    # '' manages "no description"; None leaves the description alone
    desired.update(description=description, memory=params.get('memory'), running=params.get('running'))
    return desired


def same_description(have, want):
    """Whether a snapshot's description (None: it has none) is the one wanted; leading and trailing white space
    (a YAML block's last newline) does not count."""
    return (have or '').strip() == (want or '').strip()

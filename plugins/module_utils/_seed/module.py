# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cloud_init module's run: each seed (the module's one, or each of its items) is a resource of the
read -> plan -> apply loop (_common), a file or a pool volume by its options; its facts are the result's
top-level keys. The result reports the module arguments with the user-data's secrets redacted.

Private to strata.libvirt; no compatibility promise.
"""

from ansible_collections.strata.libvirt.plugins.module_utils import _batch
from ansible_collections.strata.libvirt.plugins.module_utils import _common
from ansible_collections.strata.libvirt.plugins.module_utils._seed.file_seed import SeedFileResource
from ansible_collections.strata.libvirt.plugins.module_utils._seed.iso import require_pycdlib
from ansible_collections.strata.libvirt.plugins.module_utils._seed.redact import redact, redact_text
from ansible_collections.strata.libvirt.plugins.module_utils._seed.resource import SeedResource
from ansible_collections.strata.libvirt.plugins.module_utils._seed.spec import CONSTRAINTS, argument_spec, seed_label
from ansible_collections.strata.libvirt.plugins.module_utils._seed.volume_seed import SeedVolumeResource


# The options whose values may hold secrets that no option marks (no_log would hide every word of them): the
# module arguments the result reports (invocation) show them redacted like the diff. root_password is no_log.
REDACTED_OPTIONS = ('user_data', 'write_files', 'runcmd', 'network_config', 'meta_data')


def redacted_args(params):
    """The module's arguments (or one item's) as the result reports them: the values of REDACTED_OPTIONS redacted
    (a string with redact_text, a dict or list with redact)."""
    args = dict(params)
    for name in REDACTED_OPTIONS:
        value = args.get(name)
        if isinstance(value, str):
            args[name] = redact_text(value)
        elif value is not None:
            args[name] = redact(value)
    if isinstance(args.get(_batch.ITEMS_KEY), list):
        args[_batch.ITEMS_KEY] = [redacted_args(item) if isinstance(item, dict) else item
                                  for item in args[_batch.ITEMS_KEY]]
    return args


class ReportingModule(object):
    """The module as _batch.run sees it: its results carry the module arguments redacted (by redacted, by default
    redacted_args) instead of Ansible's copy of them as given."""

    def __init__(self, module, redacted=redacted_args):
        self._module = module
        self._redacted = redacted

    def __getattr__(self, name):
        return getattr(self._module, name)

    def exit_json(self, **result):
        self._module.exit_json(invocation={'module_args': self._redacted(self._module.params)}, **result)

    def fail_json(self, **result):
        self._module.fail_json(invocation={'module_args': self._redacted(self._module.params)}, **result)


def seed_resource(module):
    """The resource of one seed's options: a file (option path) or a pool volume."""
    return (SeedFileResource if module.params.get('path') else SeedVolumeResource)(module)


def prepare(module):
    """One seed's run (see _batch.run): its desired state is built now (StrataError on bad input), the seed is
    written when the returned callable runs."""
    runner = _common.prepare(module, seed_resource)

    def run_seed():
        result = runner()
        result.update(result.pop(SeedResource.kind))
        return result
    return run_seed


def run(module):
    """The cloud_init module's work after its argument spec (_batch.module_spec(argument_spec()))."""
    require_pycdlib(module)
    _batch.run(ReportingModule(module), argument_spec(), CONSTRAINTS, seed_label, prepare)

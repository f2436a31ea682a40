# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cloud_init module's run: each seed (the module's one, or each of its items) is a resource of the
read -> plan -> apply loop (_common), a file or a pool volume by its options; its facts are the result's
top-level keys.

Private to strata.libvirt; no compatibility promise.
"""

from ansible_collections.strata.libvirt.plugins.module_utils import _batch
from ansible_collections.strata.libvirt.plugins.module_utils import _common
from ansible_collections.strata.libvirt.plugins.module_utils._seed.file_seed import SeedFileResource
from ansible_collections.strata.libvirt.plugins.module_utils._seed.iso import require_pycdlib
from ansible_collections.strata.libvirt.plugins.module_utils._seed.resource import SeedResource
from ansible_collections.strata.libvirt.plugins.module_utils._seed.spec import CONSTRAINTS, argument_spec, seed_label
from ansible_collections.strata.libvirt.plugins.module_utils._seed.volume_seed import SeedVolumeResource


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
    _batch.run(module, argument_spec(), CONSTRAINTS, seed_label, prepare)

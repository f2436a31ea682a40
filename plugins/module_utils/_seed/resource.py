# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What every seed resource shares (a file in _seed.file_seed, a pool volume in _seed.volume_seed): the desired
state with its ISO, the facts, and a diff that shows the seed's files as text, redacted.

Private to strata.libvirt; no compatibility promise.
"""

from ansible_collections.strata.libvirt.plugins.module_utils._common import Plan, Resource
from ansible_collections.strata.libvirt.plugins.module_utils._seed.iso import SEED_FILES, build_iso, sha256
from ansible_collections.strata.libvirt.plugins.module_utils._seed.redact import redact_text
from ansible_collections.strata.libvirt.plugins.module_utils._seed.render import render_meta_data
from ansible_collections.strata.libvirt.plugins.module_utils._seed.spec import desired_from_params, kept_instance_id


def diff_text(files):
    """One text of the seed's files for diff mode, each redacted (user-data, and network-config: a wifi's password,
    meta-data: keys of option meta_data)."""
    if files is None:
        return ''
    parts = []
    for name in SEED_FILES:
        if name in files:
            parts.append('# --- %s\n%s' % (name, redact_text(files[name])))
    return ''.join(parts)


def changed_files(old, new):
    """What differs between the seed's files old and new, for action texts: the names of the files that
    differ, or 'ISO layout' when the files are the same (the ISO around them is not)."""
    old = old or {}
    return ', '.join(sorted(name for name in set(old) | set(new) if old.get(name) != new.get(name))) or 'ISO layout'


class SeedDiff(object):
    """The diff of a seed (a Plan's diff): its files before and after as text, with the seed in the headers."""

    def __init__(self, label, before, after):
        self.label = label
        self.before = before
        self.after = after

    def diff(self):
        return {'before': diff_text(self.before), 'after': diff_text(self.after),
                'before_header': '%s (before)' % self.label, 'after_header': '%s (after)' % self.label}


def seed_plan(label, current, desired):
    """A Plan whose diff is the seed's files, before (current) and after (desired)."""
    plan = Plan()
    plan.diff = SeedDiff(label, current['files'], desired['files'])
    return plan


class SeedResource(Resource):
    """A NoCloud seed; the module reports its facts as top-level result keys (see _seed.module)."""

    kind = 'seed'
    desired_from_params = staticmethod(desired_from_params)

    def __init__(self, module):
        Resource.__init__(self, module)
        self.wanted = None

    def desired(self):
        """The desired seed with its ISO (the bytes it must have)."""
        desired = Resource.desired(self)
        if desired['files'] is not None:
            desired['iso'] = build_iso(desired['files'])
        if self.params.get('root_password'):
            self.module.warn('root_password is set: the seed lets root log in on the console with a password; '
                             'use it for debugging only')
        self.wanted = desired
        return desired

    def keep_instance_id(self, desired, current_files):
        """Keep an existing seed's generation of the default instance-id (see kept_instance_id): the desired
        meta-data and ISO are built with it, so that the seed is not rewritten and cloud-init does not run again."""
        kept = kept_instance_id(desired, current_files)
        if kept and desired['files'] is not None:
            meta = dict(desired['meta'])
            meta['instance-id'] = kept
            desired['files'] = dict(desired['files'])
            desired['files']['meta-data'] = render_meta_data(meta)
            desired['iso'] = build_iso(desired['files'])

    def seed_facts(self):
        """The facts of the seed as the task leaves it (in check mode, as it would)."""
        desired = self.wanted
        exists = desired['state'] != 'absent'
        iso = desired['iso']
        return {'path': desired['target']['path'], 'exists': exists, 'sha256': sha256(iso) if iso and exists else None,
                'size': len(iso) if iso and exists else None,
                'files': sorted(desired['files']) if desired['files'] and exists else []}

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A seed ISO as a file on the managed node (option path): no libvirt involved. It is written through a
private temporary file and an atomic rename, with its mode, owner and group; a seed with the right bytes
but another mode or owner is repaired in place.

Private to strata.libvirt; no compatibility promise.
"""

import contextlib
import grp
import os
import pwd

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._connection import write_atomic
from ansible_collections.strata.libvirt.plugins.module_utils._seed.iso import read_iso
from ansible_collections.strata.libvirt.plugins.module_utils._seed.resource import SeedResource, changed_files, seed_plan

# more than any seed holds: a larger file is no seed of ours and is replaced
READ_LIMIT = 64 * 1024 * 1024


def owner_ids(owner, group):
    """(uid, gid) of options owner and group (names or numbers), -1 for one not set."""
    uid = gid = -1
    try:
        if owner is not None:
            uid = int(owner) if owner.isdigit() else pwd.getpwnam(owner).pw_uid
        if group is not None:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
    except KeyError as exc:
        raise StrataError('Option owner/group: no such user or group on the managed node: %s' % exc)
    return uid, gid


def plan_file_seed(current, desired):
    """PURE: current (see SeedFileResource.read) + desired seed -> Plan."""
    path = desired['target']['path']
    plan = seed_plan(path, current, desired)
    if desired['state'] == 'absent':
        if current['exists']:
            plan.add('remove', 'remove %s' % path, path=path)
        return plan
    uid, gid = current['wanted_ids']
    iso, mode = desired['iso'], desired['mode']
    write = dict(path=path, data=iso, mode=mode, uid=uid, gid=gid)
    if not current['exists']:
        if not current['directory']:
            raise StrataError("Option path: the directory '%s' does not exist" % os.path.dirname(path))
        plan.add('write', 'create %s (NoCloud seed, %d bytes)' % (path, len(iso)), **write)
    elif current['data'] != iso:
        plan.add('write', 'rewrite %s (changed: %s)' % (path, changed_files(current['files'], desired['files'])),
                 **write)
    else:
        fixes = []
        if current['mode'] != mode:
            fixes.append('mode %04o -> %04o' % (current['mode'], mode))
        have_uid, have_gid = current['ids']
        if (uid != -1 and have_uid != uid) or (gid != -1 and have_gid != gid):
            fixes.append('owner %d:%d -> %d:%d' % (have_uid, have_gid, have_uid if uid == -1 else uid,
                                                   have_gid if gid == -1 else gid))
        if fixes:
            plan.add('fix', 'set %s of %s' % (', '.join(fixes), path), path=path, mode=mode, uid=uid, gid=gid)
    return plan


class SeedFileResource(SeedResource):
    plan = staticmethod(plan_file_seed)

    def session(self):
        return contextlib.nullcontext()  # a file on the managed node: no connection, no lock

    def read(self, ctx, desired):
        path = desired['target']['path']
        try:
            with open(path, 'rb') as handle:
                data = handle.read(READ_LIMIT)
            st = os.stat(path)
        except (IOError, OSError):
            data, st = None, None
        files = None
        if data is not None:
            files = read_iso(data)[0] or {}
            self.keep_instance_id(desired, files)
        current = {'exists': data is not None, 'data': data, 'files': files,
                   'mode': st.st_mode & 0o7777 if st else None, 'ids': (st.st_uid, st.st_gid) if st else None}
        if desired['state'] != 'absent':
            current['wanted_ids'] = owner_ids(desired['owner'], desired['group'])
            current['directory'] = os.path.isdir(os.path.dirname(path))
        return current

    def facts(self, state):
        return self.seed_facts()

    def do_remove(self, ctx, path):
        os.unlink(path)

    def do_write(self, ctx, path, data, mode, uid, gid):
        write_atomic(path, data, mode, uid, gid)

    def do_fix(self, ctx, path, mode, uid, gid):
        os.chown(path, uid, gid)
        os.chmod(path, mode)

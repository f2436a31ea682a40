# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The strata.libvirt.domain resource: read -> plan -> apply -> report through _common, one do_<op> per
action of the plan; run(module) is the module's entry point (one domain or each item of `items`).

Private to strata.libvirt; no compatibility promise.
"""

import errno
import os

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._common import Resource, run_items
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils import _volume
from ansible_collections.strata.libvirt.plugins.module_utils._domain.spec import CONSTRAINTS, argument_spec, desired_from_params
from ansible_collections.strata.libvirt.plugins.module_utils._domain.facts import domain_facts, secret_values
from ansible_collections.strata.libvirt.plugins.module_utils._domain.lifecycle import delete_metadata, stop_domain, undefine_domain
from ansible_collections.strata.libvirt.plugins.module_utils._domain.plan import LOG_DIR_MODE, plan_domain
from ansible_collections.strata.libvirt.plugins.module_utils._domain.read import DISK_USERS, forget_disk_user, lookup_domain, read_domain

# actions that change no domain's disks (the session's record of which domains use which disks stays true)
KEEPS_DISKS = ('log_dir', 'start', 'resume', 'stop', 'restart', 'autostart', 'remove_managed_save', 'remove_snapshots',
               'remove_checkpoints', 'delete_volume', 'remove_console_log')


class DomainResource(Resource):
    kind = 'domain'
    reports_restart = True

    desired_from_params = staticmethod(desired_from_params)
    read = staticmethod(read_domain)
    plan = staticmethod(plan_domain)
    facts = staticmethod(domain_facts)

    def __init__(self, module):
        super(DomainResource, self).__init__(module)
        self.stop_report = None

    def apply(self, ctx, action):
        Resource.apply(self, ctx, action)
        if action.op in ('undefine', 'stop') and lookup_domain(ctx.conn, self.params['name']) is None:
            forget_disk_user(ctx, self.params['name'])   # undefined, or a transient domain stopped: gone
        elif action.op not in KEEPS_DISKS:
            ctx.cache.pop(DISK_USERS, None)   # a definition changed: read them again when next needed

    def desired(self):
        desired = Resource.desired(self)
        if desired.get('xml') is not None:
            self.module.no_log_values.update(secret_values(desired['xml']))
        return desired

    def result_extras(self):
        return {} if self.stop_report is None else {'stop': self.stop_report}

    def _dom(self, ctx):
        dom = lookup_domain(ctx.conn, self.params['name'])
        if dom is None:
            raise StrataError("Domain '%s' disappeared while the task ran" % self.params['name'])
        return dom

    def do_define(self, ctx, xml):
        _connection.call(self.what('define'), ctx.conn.defineXML, xml)

    def do_log_dir(self, ctx, path):
        # 0755 whatever the umask, like libvirt's own /var/log/libvirt/qemu: the directory shows only file names;
        # the console log in it (what the guest prints, secrets included) is made 0600 by libvirt (virtlogd)
        try:
            _connection.make_dirs(path, LOG_DIR_MODE)
        except OSError as exc:
            raise StrataError('Failed to create directory %s for the console log: %s' % (path, exc))

    def do_start(self, ctx):
        _connection.call(self.what('start'), self._dom(ctx).create)

    def do_resume(self, ctx):
        _connection.call(self.what('resume'), self._dom(ctx).resume)

    def do_stop(self, ctx, timeout):
        self.stop_report = stop_domain(self._dom(ctx), timeout)

    def do_restart(self, ctx, timeout):
        self.do_stop(ctx, timeout)
        self.do_start(ctx)

    def do_autostart(self, ctx, value):
        _connection.call(self.what('set autostart of'), self._dom(ctx).setAutostart, 1 if value else 0)

    def do_remove_managed_save(self, ctx):
        _connection.call(self.what('remove the managed save image of'), self._dom(ctx).managedSaveRemove, 0)

    def _remove_metadata(self, ctx, kind, names, find, flag):
        """Delete the metadata of the domain's snapshots or checkpoints (kind) of those names."""
        dom = self._dom(ctx)
        for item_name in names:
            item = _connection.call(self.what('look up %s %s of' % (kind, item_name)), getattr(dom, find), item_name, 0)
            delete_metadata(self.what('remove %s metadata %s of' % (kind, item_name)), item, flag)

    def do_remove_snapshots(self, ctx, names):
        self._remove_metadata(ctx, 'snapshot', names, 'snapshotLookupByName',
                              _connection.libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY)

    def do_remove_checkpoints(self, ctx, names):
        self._remove_metadata(ctx, 'checkpoint', names, 'checkpointLookupByName',
                              _connection.libvirt.VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY)

    def do_undefine(self, ctx, nvram):
        undefine_domain(self._dom(ctx), nvram)

    def do_remove_console_log(self, ctx, path):
        try:
            os.remove(path)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise StrataError('Failed to delete the serial console log %s: %s' % (path, exc))

    def do_delete_volume(self, ctx, pool, volume, key):
        pool_obj = _volume.active_pool(ctx.conn, pool, 'remove_volumes')
        vol = _volume.lookup_volume(pool_obj, volume, pool)
        if vol is not None:
            _connection.call("delete volume '%s' in pool '%s'" % (volume, pool), vol.delete, 0)
        ctx.registry.forget('volumes', key)


def run(module):
    """The domain module: its one domain, or each item of `items`."""
    run_items(module, DomainResource, argument_spec(), CONSTRAINTS, lambda params: params.get('name'))

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The strata.libvirt.snapshot resource: read -> plan -> apply -> report through _common, one do_<op> per action
of the plan.

Private to strata.libvirt; no compatibility promise.
"""

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._common import Resource
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils import _session
from ansible_collections.strata.libvirt.plugins.module_utils import _xml
from ansible_collections.strata.libvirt.plugins.module_utils._domain.facts import STATE_NAMES
from ansible_collections.strata.libvirt.plugins.module_utils._domain.read import lookup_domain
from ansible_collections.strata.libvirt.plugins.module_utils._snapshot.plan import plan_snapshot
from ansible_collections.strata.libvirt.plugins.module_utils._snapshot.read import lookup_snapshot, read_domain_snapshots
from ansible_collections.strata.libvirt.plugins.module_utils._snapshot.spec import desired_from_params


def snapshot_xml(name, memory, description=None):
    """The <domainsnapshot> of a new internal snapshot; libvirt fills in the disks and the domain."""
    root = _xml.new_element('domainsnapshot')
    _xml.sub_element(root, 'name', text=name)
    if description:
        _xml.sub_element(root, 'description', text=description)
    _xml.sub_element(root, 'memory', {'snapshot': 'internal' if memory else 'no'})
    return _xml.to_text(root, pretty=False)


def described(root, description):
    """A snapshot's XML (root) with another description (None: none), to redefine its metadata with."""
    root = _xml.copy(root)
    _xml.remove_children(root, 'description')
    if description:
        root.find('name').addnext(_xml.new_element('description', text=description))
    return _xml.to_text(root, pretty=False)


def snapshot_facts(state, name):
    """The named snapshot's facts in the state read, or {name, exists: false}."""
    for snap in state.get('snapshots') or []:
        if snap['name'] == name:
            return dict(snap, exists=True)
    return {'name': name, 'exists': False}


def domain_facts(state):
    if not state.get('exists'):
        return {'name': state['name'], 'exists': False}
    return {'name': state['name'], 'exists': True, 'state': STATE_NAMES.get(state['state'], 'unknown'),
            'ownership': state['owner']}


class SnapshotResource(Resource):
    kind = 'snapshot'
    desired_from_params = staticmethod(desired_from_params)
    plan = staticmethod(plan_snapshot)

    def __init__(self, module):
        super(SnapshotResource, self).__init__(module)
        self.last = None

    def session(self):
        # the per-URI lock, but no ownership registry: the mark a snapshot needs is its domain's, in the domain XML
        return _session.module_session(self.module, registry=False)

    def read(self, ctx, desired):
        # the last state read is the state after the task (_common reads again after a change), which
        # result_extras reports
        self.last = read_domain_snapshots(ctx.conn, desired['domain'])
        return self.last

    def facts(self, state):
        return snapshot_facts(state, self.params['name'])

    def result_extras(self):
        return {'snapshots': self.last['snapshots'], 'domain': domain_facts(self.last)}

    def what(self, verb):
        return "%s snapshot '%s' of domain '%s'" % (verb, self.params['name'], self.params['domain'])

    def _dom(self, ctx):
        dom = lookup_domain(ctx.conn, self.params['domain'])
        if dom is None:
            raise StrataError("Domain '%s' disappeared while the task ran" % self.params['domain'])
        return dom

    def _snap(self, ctx):
        return lookup_snapshot(self._dom(ctx), self.params['domain'], self.params['name'])

    def do_create(self, ctx, memory, description):
        _connection.call(self.what('create'), self._dom(ctx).snapshotCreateXML,
                         snapshot_xml(self.params['name'], memory, description), 0)

    def do_describe(self, ctx, description):
        libvirt = _connection.libvirt
        dom, snap = self._dom(ctx), self._snap(ctx)
        what = self.what('update the description of')
        # the whole definition (secure: the domain XML in it keeps its passwords), its description replaced
        try:
            text = snap.getXMLDesc(libvirt.VIR_DOMAIN_SNAPSHOT_XML_SECURE)
        except libvirt.libvirtError as exc:
            if not _connection.unsupported(exc):
                raise StrataError('Failed to %s: %s' % (what, _connection.error_text(exc)))
            text = _connection.call(what, snap.getXMLDesc, 0)
        flags = libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE
        if _connection.call(what, snap.isCurrent, 0):
            flags |= libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT  # a redefinition would not keep it current
        root = _xml.parse_xml(text, 'snapshot XML from libvirt')
        _connection.call(what, dom.snapshotCreateXML, described(root, description), flags)

    def do_delete(self, ctx):
        _connection.call(self.what('delete'), self._snap(ctx).delete, 0)

    def do_revert(self, ctx, mode):
        libvirt = _connection.libvirt
        flags = {None: 0, 'running': libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING,
                 'paused': libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED}[mode]
        dom = self._dom(ctx)
        _connection.call("revert domain '%s' to snapshot '%s'" % (self.params['domain'], self.params['name']),
                         dom.revertToSnapshot, self._snap(ctx), flags)

    def do_destroy(self, ctx):
        _connection.call("force off domain '%s'" % self.params['domain'], self._dom(ctx).destroy)

    def do_start(self, ctx):
        _connection.call("start domain '%s'" % self.params['domain'], self._dom(ctx).create)

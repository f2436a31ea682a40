# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The read -> plan -> apply -> report cycle shared by every resource module.

A resource class supplies four pieces:
  desired(params)        validated desired state, pure, called before connecting
  read(ctx, desired)     current normalised state (may raise StrataError, e.g. unknown pool)
  plan(current, desired) PURE: a Plan (ordered actions + before/after diff); unit-tested without libvirt
  do_<op>(ctx, **args)   one method per action kind, used only outside check mode
and facts(state) to report the resource after the task.

Private to strata.libvirt; no compatibility promise.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._diff import DifferenceTracker
from ansible_collections.strata.libvirt.plugins.module_utils import _batch
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils import _session
from ansible_collections.strata.libvirt.plugins.module_utils import _xml


def common_argument_spec():
    """Options every resource module has (documented in the strata.libvirt.connection fragment)."""
    return dict(
        uri=dict(type='str'),
        state_dir=dict(type='path', default=_connection.DEFAULT_STATE_DIR),
        lock_timeout=dict(type='int', default=_connection.DEFAULT_LOCK_TIMEOUT),
        cluster=dict(type='str'),
        adopt=dict(type='bool', default=False),
    )


class Action(object):
    """One step of a plan: op selects the do_<op> method, text is what the user sees."""

    def __init__(self, op, text, **args):
        self.op = op
        self.text = text
        self.args = args

    def __repr__(self):
        return 'Action(%r, %r)' % (self.op, self.text)


class Plan(object):
    def __init__(self):
        self.actions = []
        self.diff = DifferenceTracker()
        self.restart_required = False
        self.warnings = []

    def add(self, op, text, **args):
        self.actions.append(Action(op, text, **args))

    def add_define(self, kind, name, exists, persistent, changed_keys, adopt_text, xml):
        """Plan a (re)definition when the object is new, transient, changed or being adopted."""
        if persistent and not changed_keys and not adopt_text:
            return
        if not exists:
            text = "define %s '%s'" % (kind, name)
        elif not persistent:
            text = "define transient %s '%s' persistently" % (kind, name)
        elif changed_keys:
            text = "redefine %s '%s' (%s)" % (kind, name, ', '.join(changed_keys))
        else:
            text = adopt_text
        if adopt_text and text != adopt_text:
            text += '; ' + adopt_text
        self.add('define', text, xml=xml)

    def add_autostart(self, kind, name, exists, current, wanted):
        """Plan libvirt's autostart flag when the user set it (wanted is True/False/None)."""
        if wanted is None:
            return
        have = bool(current.get('autostart')) if exists else False
        self.diff.add('autostart', have if exists else None, wanted)
        if have != wanted:
            self.add('autostart', "%s autostart of %s '%s'" % ('enable' if wanted else 'disable', kind, name),
                     value=wanted)

    @property
    def changed(self):
        return bool(self.actions)

    def ops(self):
        return [action.op for action in self.actions]

    def texts(self):
        return [action.text for action in self.actions]


def config_and_live_xml(what, obj, active, persistent, inactive_flag, label):
    """Parse an object's persistent and live XML (roots); they differ only while it runs.

    The test:///default driver rejects the INACTIVE flag: then the live XML stands for both.
    """
    live_text = _connection.call(what, obj.XMLDesc, 0)
    config_text = live_text
    if persistent and active:
        try:
            config_text = obj.XMLDesc(inactive_flag)
        except _connection.libvirt.libvirtError as exc:
            if not _connection.unsupported(exc):
                raise StrataError('Failed to %s: %s' % (what, _connection.error_text(exc)))
    return _xml.parse_xml(config_text, label), _xml.parse_xml(live_text, label)


class Resource(object):
    kind = None               # key of the facts in the result, e.g. 'network'
    reports_restart = False   # whether results carry restart_required

    def __init__(self, module):
        self.module = module
        self.params = module.params

    def desired(self):
        raise NotImplementedError

    def read(self, ctx, desired):
        raise NotImplementedError

    def plan(self, current, desired):
        raise NotImplementedError

    def facts(self, state):
        raise NotImplementedError

    def apply(self, ctx, action):
        getattr(self, 'do_' + action.op)(ctx, **action.args)

    def result_extras(self):
        """Extra top-level result keys a resource reports after apply (e.g. how a domain stopped)."""
        return {}


def prepare(module, resource_class):
    """Validate one resource's desired state (StrataError on bad input, before connecting) and return the
    callable that connects, locks, reads, plans, applies (unless check mode) and returns its result dict
    (or raises _batch.ItemFailed with the failure's)."""
    resource = resource_class(module)
    desired = resource.desired()
    return lambda: _execute(module, resource, desired)


def _execute(module, resource, desired):
    plan = None
    done = []
    try:
        with _session.module_session(module) as ctx:
            current = resource.read(ctx, desired)
            plan = resource.plan(current, desired)
            if not module.check_mode:
                for action in plan.actions:
                    resource.apply(ctx, action)
                    done.append(action.text)
            final = resource.read(ctx, desired) if (done and not module.check_mode) else current
    except StrataError as exc:
        failed = dict(msg=str(exc))
        if plan is not None:
            failed.update(actions=plan.texts(), actions_done=done, changed=bool(done))
        raise _batch.ItemFailed(failed)

    for warning in plan.warnings:
        module.warn(warning)
    result = dict(changed=plan.changed, actions=plan.texts(), diff=plan.diff.diff())
    if resource.reports_restart:
        result['restart_required'] = plan.restart_required
    result[resource.kind] = resource.facts(final)
    result.update(resource.result_extras())
    return result


def run(module, resource_class):
    """Run a module that manages one resource: validate, connect, lock, read, plan, apply, report."""
    _connection.require_libvirt(module)
    _xml.require_lxml(module)
    _batch.run_one(module, lambda one: prepare(one, resource_class))


def run_items(module, resource_class, item_spec, constraints, label):
    """Run a module that takes `items` (see _batch): its one resource, or each item's."""
    _connection.require_libvirt(module)
    _xml.require_lxml(module)
    _batch.run(module, item_spec, constraints, label, lambda item_module: prepare(item_module, resource_class))

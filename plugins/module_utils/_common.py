# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The read -> plan -> apply -> report cycle shared by every resource module.

A resource class supplies four pieces:
  desired_from_params(params)  validated desired state, pure, called before connecting (desired() calls it)
  read(ctx, desired)           current normalised state (may raise StrataError, e.g. unknown pool)
  plan(current, desired)       PURE: a Plan (ordered actions + before/after diff); unit-tested without libvirt
  do_<op>(ctx, **args)         one method per action kind, used only outside check mode
and facts(state) to report the resource after the task. The pure ones are the module_utils' functions,
attached with staticmethod(). The helpers below hold what the resources' desired states and plans share.

Private to strata.libvirt; no compatibility promise.
"""

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._diff import DifferenceTracker
from ansible_collections.strata.libvirt.plugins.module_utils import _batch
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils import _ownership
from ansible_collections.strata.libvirt.plugins.module_utils import _session
from ansible_collections.strata.libvirt.plugins.module_utils import _validate
from ansible_collections.strata.libvirt.plugins.module_utils import _xml

# The states of a resource that runs (network, pool, domain).
RUN_STATES = ('present', 'running', 'stopped', 'absent')


def common_argument_spec():
    """Options every resource module has (documented in the strata.libvirt.connection fragment)."""
    return dict(
        uri=dict(type='str'),
        state_dir=dict(type='path', default=_connection.DEFAULT_STATE_DIR),
        lock_timeout=dict(type='int', default=_connection.DEFAULT_LOCK_TIMEOUT),
        cluster=dict(type='str'),
        adopt=dict(type='bool', default=False),
    )


# ---------------------------------------------------------------- desired state (pure)

def desired_base(params, *names):
    """What every desired state holds: the name (and the other names given, e.g. 'pool'), validated in that
    order, state, cluster (validated) and adopt."""
    desired = dict((option, _validate.name(params[option], option)) for option in ('name',) + names)
    if params.get('cluster') is not None:
        _validate.name(params['cluster'], 'cluster')
    desired.update(state=params['state'], cluster=params.get('cluster'), adopt=bool(params.get('adopt')))
    return desired


def desired_xml(text, name, root_tag):
    """The root of the XML of option xml: its <name> added when missing; StrataError when it names another object."""
    root = _xml.parse_xml(text, 'xml', root_tag=root_tag)
    xml_name = _xml.text_of(root, 'name')
    if xml_name is None:
        root.insert(0, _xml.new_element('name', text=name))
    elif xml_name != name:
        raise StrataError('Option xml: <name> is %r but option name is %r' % (xml_name, name))
    return root


# ---------------------------------------------------------------- planning (pure)

def state_word(current):
    """'absent', 'running' or 'stopped': the run state of a network or pool in diffs."""
    if not current.get('exists'):
        return 'absent'
    return 'running' if current.get('active') else 'stopped'


def adoption(kind, name, current, desired):
    """(adopt_text, cluster) for an object the task keeps: the text of the 'adopt' action (None when the object
    is new or already ours; StrataError when it is not ours and adopt is not set) and the cluster to mark it with."""
    if not current.get('exists', False):
        return None, desired['cluster'] or None
    adopt_text = _ownership.check_owner(kind, name, current['owner'], desired['cluster'], desired['adopt'])
    return adopt_text, desired['cluster'] or current['owner'].get('cluster')


def with_uuid(root, base):
    """A copy of the desired XML root with the uuid of the existing definition (base), unless it has its own."""
    new_root = _xml.copy(root)
    if base is not None and new_root.find('uuid') is None and base.find('uuid') is not None:
        new_root.insert(1, _xml.copy(base.find('uuid')))
    return new_root


class RunState(object):
    """Where a network or pool the task keeps is and where the task takes it; whose it is (adopt_text, cluster:
    see adoption(), kind names it there); base, the root of its persistent XML (None when it is new)."""

    def __init__(self, kind, name, current, desired):
        self.adopt_text, self.cluster = adoption(kind, name, current, desired)
        self.exists = current.get('exists', False)
        self.active = self.exists and current['active']
        self.stopping = self.active and desired['state'] == 'stopped'
        self.starting = desired['state'] == 'running' and not self.active
        self.before = state_word(current)
        self.base = current.get('xml') if self.exists else None

    @property
    def stays_active(self):
        return self.active and not self.stopping

    @property
    def after(self):
        return 'running' if (self.starting or self.stays_active) else 'stopped'


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

    def add_define(self, kind, name, exists, persistent, changed_keys, adopt_text, xml, **args):
        """Plan a (re)definition when the object is new, transient, changed or being adopted (the adoption
        then part of it); args go to the define action."""
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
        self.add('define', text, xml=xml, **args)

    def add_removal(self, kind, name, current, desired, owner_kind=None, steps=()):
        """Plan the removal of a network or pool: refuse it when it is not ours (owner_kind names it there,
        default kind), stop it, the extra (op, text) steps, undefine it."""
        self.diff.add('state', state_word(current), 'absent')
        if not current.get('exists', False):
            return
        _ownership.check_owner(owner_kind or kind, name, current['owner'], desired['cluster'], desired['adopt'])
        if current['active']:
            self.add('stop', "stop %s '%s'" % (kind, name))
        for op, text in steps:
            self.add(op, text)
        if current['persistent']:
            self.add('undefine', "undefine %s '%s'" % (kind, name))

    def add_restart(self, needed, wanted, text, **args):
        """A running object whose change only a restart applies (needed): the restart action when the user
        asked for it (wanted), else restart_required."""
        if needed and wanted:
            self.add('restart', text, **args)
        elif needed:
            self.restart_required = True

    def add_run_state(self, kind, name, run_state, current, autostart):
        """The start or stop of a network or pool (run_state: its RunState), its state in the diff, its autostart
        flag."""
        if run_state.starting:
            self.add('start', "start %s '%s'" % (kind, name))
        if run_state.stopping:
            self.add('stop', "stop %s '%s'" % (kind, name))
        self.diff.add('state', run_state.before, run_state.after)
        self.add_autostart(kind, name, run_state.exists, current, autostart)

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


# ---------------------------------------------------------------- libvirt side

def lookup(what, find, key, missing_error):
    """The libvirt object find(key) returns, or None when libvirt answers missing_error (e.g. 'VIR_ERR_NO_NETWORK');
    another error is a StrataError 'Failed to look up <what>: ...'."""
    try:
        return find(key)
    except _connection.libvirt.libvirtError as exc:
        if _connection.is_error(exc, missing_error):
            return None
        raise StrataError('Failed to look up %s: %s' % (what, _connection.error_text(exc)))


def read_definition(kind, name, obj, inactive_flag):
    """The current state a network or pool (obj) has in common: exists, name, active, persistent, and the roots of
    its persistent and live XML (xml, live_xml); they differ only while it runs.

    The test:///default driver rejects the INACTIVE flag: then the live XML stands for both.
    """
    what = "read %s '%s'" % (kind, name)
    label = '%s XML from libvirt' % kind
    active = bool(_connection.call(what, obj.isActive))
    persistent = bool(_connection.call(what, obj.isPersistent))
    live_text = _connection.call(what, obj.XMLDesc, 0)
    config_text = live_text
    if persistent and active:
        try:
            config_text = obj.XMLDesc(inactive_flag)
        except _connection.libvirt.libvirtError as exc:
            if not _connection.unsupported(exc):
                raise StrataError('Failed to %s: %s' % (what, _connection.error_text(exc)))
    root = _xml.parse_xml(config_text, label)
    return {'exists': True, 'name': name, 'active': active, 'persistent': persistent,
            'xml': root, 'live_xml': _xml.parse_xml(live_text, label)}


class Resource(object):
    kind = None               # key of the facts in the result, e.g. 'network'
    reports_restart = False   # whether results carry restart_required

    def __init__(self, module):
        self.module = module
        self.params = module.params

    @staticmethod
    def desired_from_params(params):
        """params -> validated desired state (a subclass sets staticmethod(its module_utils' function))."""
        raise NotImplementedError

    def desired(self):
        return self.desired_from_params(self.params)

    def what(self, verb):
        """The object in messages of failed libvirt calls, e.g. "define pool 'images'"."""
        return "%s %s '%s'" % (verb, self.kind, self.params['name'])

    def session(self):
        """The context the steps run in: by default a libvirt session (connected, locked, registry loaded)."""
        return _session.module_session(self.module)

    def read(self, ctx, desired):
        raise NotImplementedError

    def plan(self, current, desired):
        raise NotImplementedError

    def facts(self, state):
        raise NotImplementedError

    def apply(self, ctx, action):
        getattr(self, 'do_' + action.op)(ctx, **action.args)

    def settle(self, ctx, current, plan):
        """Bookkeeping after the plan's actions ran (outside check mode) that changes nothing the user sees,
        e.g. a registry record of what read() verified; nothing by default."""

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
        with resource.session() as ctx:
            current = resource.read(ctx, desired)
            plan = resource.plan(current, desired)
            if not module.check_mode:
                for action in plan.actions:
                    resource.apply(ctx, action)
                    done.append(action.text)
                resource.settle(ctx, current, plan)
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

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One task, many resources: the `items` option of the volume, cloud_init and domain modules.

A loop over VMs costs one module run per VM (about 0.45 s each through Ansible, most of it Ansible's own
work per item); `items` does them all in one run, in one libvirt session per connection (one connect, one
lock, one registry read; see _session.shared). Each item is a dict of the module's own options; the
options given at the top level are the defaults of every item. Every item is validated against the module's
own argument spec and constraints (the same ones a single run uses) before the first one is touched, so bad
input fails before anything changes. The items then run in order; the first failure stops the run and the
error names the item and what the items before it changed.

Without `items` the module's top-level options are validated the same way, as the one item.

Private to strata.libvirt; no compatibility promise.
"""

import copy

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.strata.libvirt.plugins.module_utils import _session
from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._spec_check import error_messages

ITEMS_KEY = 'items'


class ItemFailed(Exception):
    """An item's run failed; result holds what the module would have reported for it alone."""

    def __init__(self, result):
        Exception.__init__(self, result.get('msg'))
        self.result = result


def module_spec(item_spec):
    """The module's argument spec: the item spec with no top-level option required, plus `items`.
    Required options and the constraints between options are checked per item (see item_params)."""
    spec = {}
    for key, option in item_spec.items():
        option = dict(option)
        option.pop('required', None)
        spec[key] = option
    spec[ITEMS_KEY] = dict(type='list', elements='dict')
    return spec


class ItemModule(object):
    """The module as one item sees it: the item's parameters, everything else (check mode, warnings,
    no_log handling) the module's own."""

    def __init__(self, module, params):
        self._module = module
        self.params = params

    def __getattr__(self, name):
        return getattr(self._module, name)


def item_params(module, item_spec, constraints, label):
    """The validated parameters of every item, or of the top-level options when there is no `items`.
    constraints: keyword arguments of ArgumentSpecValidator (mutually_exclusive, required_one_of, ...).
    label(params) names an item in messages. Fails the module, before any change, on any problem."""
    items = module.params.get(ITEMS_KEY)
    batch = items is not None
    if batch and not items:
        # nothing to do (a role's list of VMs may well be empty): the same result as items that changed nothing
        module.exit_json(changed=False, results=[], actions=[], diff=[])
    out, problems = validate_items(module, _given(item_spec, module.params), items, item_spec, constraints, label)
    if problems:
        module.fail_json(msg='; '.join(problems) if not batch else
                         'Nothing was changed; these items are invalid:\n- ' + '\n- '.join(problems))
    return out, batch


def validate_items(module, top, items, item_spec, constraints, label, where=''):
    """([validated parameters of each item], [problems, one line each]): each item (or, items None, the top-level
    options alone) merged over top and validated with the item spec and constraints; the values to hide are
    added to module.no_log_values. where prefixes every problem."""
    validator = ArgumentSpecValidator(item_spec, **constraints)
    out, problems = [], []
    for index, item in enumerate(items if items is not None else [{}]):
        merged = copy.deepcopy(top)
        merged.update(item)
        result = validator.validate(merged)
        module.no_log_values.update(result._no_log_values)
        problems.extend(error_messages(result, where + (('items[%d] (%s): ' % (index, label(merged)))
                                                        if items is not None else '')))
        out.append(result.validated_parameters)
    return out, problems


def _given(spec, params):
    """params without the None values that validation filled in (also in suboptions, where a None would fail
    choices when validated again); values of options without suboptions (user_data, for example) are kept whole."""
    out = {}
    for key, value in params.items():
        if value is None or key not in spec:
            continue
        sub = spec[key].get('options')
        if sub and isinstance(value, dict):
            value = _given(sub, value)
        elif sub and isinstance(value, list):
            value = [_given(sub, elem) if isinstance(elem, dict) else elem for elem in value]
        out[key] = value
    return out


def run(module, item_spec, constraints, label, prepare):
    """Run the module for its one item or for every item of `items`.

    prepare(item_module) validates one item further (e.g. builds its desired state, raising StrataError)
    and returns a callable that carries it out: it returns the item's result dict or raises ItemFailed.
    Every item is prepared before the first one runs."""
    params_list, batch = item_params(module, item_spec, constraints, label)
    if not batch:
        run_one(ItemModule(module, params_list[0]), prepare)
    runners, problems = prepare_items(module, params_list, label, prepare)
    if problems:
        module.fail_json(msg='Nothing was changed; these items are invalid:\n- ' + '\n- '.join(problems))
    with _session.shared():   # one connection, lock and registry read for all items, not one per item
        outcome = execute(params_list, runners, label)
    if outcome['failed']:
        module.fail_json(msg=outcome['msg'], changed=outcome['changed'], results=outcome['results'])
    module.exit_json(**outcome['result'])


def prepare_items(module, params_list, label, prepare, where=''):
    """(runners, problems): prepare(ItemModule) of every item, before any runs; a StrataError is a problem."""
    runners, problems = [], []
    for index, params in enumerate(params_list):
        try:
            runners.append(prepare(ItemModule(module, params)))
        except StrataError as exc:
            problems.append('%sitems[%d] (%s): %s' % (where, index, label(params), exc))
    return runners, problems


def execute(params_list, runners, label):
    """Run the prepared items in order until one fails: {'failed', 'changed', 'results'} and, failed, the
    message ('msg': which item, what it and the items before it changed, how many did not run), else the
    result a module with items reports ('result')."""
    results, failure = [], None
    for index, (params, runner) in enumerate(zip(params_list, runners)):
        try:
            result = runner()
        except ItemFailed as exc:
            failure = (index, params, exc)
            break
        result['item'] = label(params)
        results.append(result)
    if failure:
        index, params, exc = failure
        before = [r['item'] for r in results if r.get('changed')]
        done = exc.result.get('actions_done') or []
        results.append(dict(exc.result, item=label(params)))
        return dict(failed=True, changed=bool(before or done), results=results, msg='items[%d] (%s): %s.%s %s%s' % (
            index, label(params), (exc.result.get('msg') or '').rstrip('.'),
            (' Before it failed, it did: %s.' % '; '.join(done)) if done else '',
            ('Changed before it: %s.' % ', '.join(before)) if before else 'Nothing was changed before it.',
            (' Not run: %d later item(s).' % (len(runners) - index - 1)) if index + 1 < len(runners) else ''))
    changed = any(r.get('changed') for r in results)
    return dict(failed=False, changed=changed, results=results, result=dict(
        changed=changed, results=results, actions=['%s: %s' % (r['item'], text) for r in results for text in r.get('actions', [])],
        diff=[_headed(r) for r in results if r.get('diff')]))


def run_one(module, prepare):
    """Run the module for its one resource: prepare it (a StrataError fails the module before any change),
    then carry it out and report its result or its failure."""
    try:
        runner = prepare(module)
    except StrataError as exc:
        module.fail_json(msg=str(exc))
    try:
        module.exit_json(**runner())
    except ItemFailed as exc:
        module.fail_json(**exc.result)


def _headed(result):
    diff = dict(result['diff'])
    diff.setdefault('before_header', '%s (before)' % result['item'])
    diff.setdefault('after_header', '%s (after)' % result['item'])
    return diff

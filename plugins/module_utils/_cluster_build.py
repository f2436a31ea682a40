# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cluster_build module's run: a cluster's libvirt objects in one module run, in the order they depend on
each other (STEPS), each step with the options of the module that manages that kind alone and through the same
code (_batch, _common and each kind's resource), in one libvirt session per connection.

Every item of every step is validated and its desired state built before the first step runs, so bad input
fails before anything changes. The first failure stops the run; the error names the step and the item, and the
result holds what the steps before it (and the failed one) did. In check mode the steps that depend on an object
that does not exist yet (the pool, a base image, a network of ours) are not looked at but listed in `deferred`.

Private to strata.libvirt; no compatibility promise.
"""

import os
import time

from ansible_collections.strata.libvirt.plugins.module_utils import _batch
from ansible_collections.strata.libvirt.plugins.module_utils import _common
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils import _network
from ansible_collections.strata.libvirt.plugins.module_utils import _pool
from ansible_collections.strata.libvirt.plugins.module_utils import _session
from ansible_collections.strata.libvirt.plugins.module_utils import _volume
from ansible_collections.strata.libvirt.plugins.module_utils import _xml
from ansible_collections.strata.libvirt.plugins.module_utils._domain import resource as _domain
from ansible_collections.strata.libvirt.plugins.module_utils._domain import spec as _domain_spec
from ansible_collections.strata.libvirt.plugins.module_utils._image import spec as _image_spec
from ansible_collections.strata.libvirt.plugins.module_utils._image import task as _image_task
from ansible_collections.strata.libvirt.plugins.module_utils._seed import module as _seed
from ansible_collections.strata.libvirt.plugins.module_utils._seed import spec as _seed_spec
from ansible_collections.strata.libvirt.plugins.module_utils._seed.iso import require_pycdlib


class Step(object):
    """One kind of object: its option's name, the module that manages it alone, the item spec, constraints, item
    label and prepare(item_module) of that module; single: the option is one resource's options (a dict without
    items); listed: the option is a list of such dicts (the items, no common options)."""

    def __init__(self, name, title, module, spec, constraints, label, prepare, single=False, listed=False, owned=True):
        self.name, self.title, self.module = name, title, module
        self.spec, self.constraints, self.label, self.prepare = spec, constraints, label, prepare
        self.single, self.listed = single, listed
        self.owned = owned   # the module's cluster and adopt apply (not to the networks that are not the cluster's)


def _resource(resource_class):
    return lambda item_module: _common.prepare(item_module, resource_class)


def _image_label(params):
    return os.path.basename(params.get('dest') or '') or params.get('source')


STEPS = (
    Step('pool', 'storage pool', 'pool', _pool.argument_spec, _pool.CONSTRAINTS, lambda params: params.get('name'),
         _resource(_pool.PoolResource), single=True),
    Step('images', 'base images', 'image', _image_spec.argument_spec, _image_spec.CONSTRAINTS, _image_label,
         _image_task.prepare, listed=True),
    Step('networks', 'networks', 'network', _network.argument_spec, _network.CONSTRAINTS, _network.item_label,
         _resource(_network.NetworkResource)),
    Step('external_networks', 'external networks', 'network', _network.argument_spec, _network.CONSTRAINTS,
         _network.item_label, _resource(_network.NetworkResource), listed=True, owned=False),
    Step('volumes', 'disks', 'volume', _volume.argument_spec, _volume.CONSTRAINTS, _volume.item_label,
         _resource(_volume.VolumeResource)),
    Step('seeds', 'cloud-init seeds', 'cloud_init', _seed_spec.argument_spec, _seed_spec.CONSTRAINTS,
         _seed_spec.seed_label, _seed.prepare),
    Step('domains', 'domains', 'domain', _domain_spec.argument_spec, _domain_spec.CONSTRAINTS,
         lambda params: params.get('name'), _resource(_domain.DomainResource)),
)
# what check mode cannot look at while the pool, a base image or a network of ours is still to be made
NEEDS_OBJECTS = ('volumes', 'seeds', 'domains')
OWNER = ('cluster', 'adopt')


def argument_spec():
    """The module's argument spec: one option per step (each a module's options, checked per item), and the
    options every resource module has, which every item gets unless its step or the item sets them."""
    spec = _common.common_argument_spec()
    spec.update((step.name, dict(type='list', elements='dict') if step.listed else dict(type='dict')) for step in STEPS)
    return spec


def _common_options(module, step):
    return dict((key, module.params.get(key)) for key in _common.common_argument_spec()
                if module.params.get(key) is not None and (step.owned or key not in OWNER))


def _top(spec, options, common):
    """A step's options without its items: the values given (None dropped, unknown options kept, so that
    validation names them) over the module's common options."""
    top = dict(common)
    given = _batch._given(spec, options)
    given.update((key, value) for key, value in options.items() if key not in spec and key != _batch.ITEMS_KEY)
    top.update(given)
    return top


def prepared_steps(module):
    """[(step, params of each item, runner of each item)] of the steps given, in order; fails the module with
    every problem (naming the option, the item and the field) before anything runs."""
    steps, problems = [], []
    for step in STEPS:
        options = module.params.get(step.name)
        if options is None:
            continue
        where = '%s: ' % step.name
        common = _common_options(module, step)
        spec = step.spec()
        if step.listed:
            top, items = common, options
        else:
            top, items = _top(spec, options, common), (None if step.single else options.get(_batch.ITEMS_KEY))
            if step.single and _batch.ITEMS_KEY in options:
                problems.append('%sunsupported parameters: %s' % (where, _batch.ITEMS_KEY))
                continue
            if not step.single and items is None:
                items = [{}]   # the step's options are its one item
        params_list, found = _batch.validate_items(module, top, items, spec, step.constraints, step.label, where)
        problems.extend(found)
        if found:
            continue
        runners, found = _batch.prepare_items(module, params_list, step.label, step.prepare, where)
        problems.extend(found)
        steps.append((step, params_list, runners))
    if problems:
        module.fail_json(msg='Nothing was changed; these options are invalid:\n- ' + '\n- '.join(problems))
    return steps


def _deferrals(step, result, check_mode):
    """The steps check mode cannot look at after this step's result: those that need what it would create."""
    if not check_mode:
        return ()
    if step.name == 'pool' and not result['pool'].get('exists'):
        return ('images',) + NEEDS_OBJECTS
    if step.name == 'images' and any(r.get('changed') for r in result['results']):
        return NEEDS_OBJECTS
    if step.name == 'networks' and not all((r.get('network') or {}).get('exists') for r in result['results']):
        return NEEDS_OBJECTS
    return ()


def _single(outcome):
    """A single-resource step's result: its one item's, as that module reports it alone."""
    result = dict(outcome['results'][0])
    result.pop('item', None)
    return result


def _failure(step, outcome):
    """What failed in a step: the item (or, for the one resource of a single step, its message) and what it did."""
    if not step.single:
        return outcome['msg']
    failed = outcome['results'][-1]
    done = failed.get('actions_done')
    return (failed.get('msg') or 'failed').rstrip('.') + '.' + (
        (' Before it failed, it did: %s.' % '; '.join(done)) if done else '')


def run_steps(module, steps):
    """Run the prepared steps in order: (result, failure message or None)."""
    out = dict(changed=False, actions=[], diff=[], deferred=[], steps=[])
    for step, params_list, runners in steps:
        if step.name in out['deferred']:
            continue
        began = time.monotonic()
        # one connection, lock and registry read per step, taken and given back as by the step's module alone: an
        # image's own lock comes before the hypervisor's, as in the image module
        with _session.shared():
            outcome = _batch.execute(params_list, runners, step.label)
        out['steps'].append(dict(step=step.name, seconds=round(time.monotonic() - began, 3),
                                 items=len(runners), changed=outcome['changed']))
        out['changed'] = out['changed'] or outcome['changed']
        if outcome['failed']:
            out[step.name] = _single(outcome) if step.single else dict(changed=outcome['changed'],
                                                                       results=outcome['results'])
            return out, '%s (%s): %s' % (step.title, step.module, _failure(step, outcome))
        result = _single(outcome) if step.single else outcome['result']
        out[step.name] = result
        if step.single:
            out['actions'].extend(result.get('actions') or [])
            if result.get('diff'):
                out['diff'].append(_batch._headed(outcome['results'][0]))
        else:
            out['actions'].extend(result['actions'])
            out['diff'].extend(result['diff'])
        out['deferred'].extend(name for name in _deferrals(step, result, module.check_mode)
                               if name not in out['deferred'])
    out['deferred'] = [step.name for step, _params, _runners in steps if step.name in out['deferred']]
    return out, None


def run(module):
    """The cluster_build module's work after its argument spec."""
    _connection.require_libvirt(module)
    _xml.require_lxml(module)
    if module.params.get('seeds') is not None:
        require_pycdlib(module)
    reporting = _seed.ReportingModule(module, _redacted)
    steps = prepared_steps(reporting)
    result, failure = run_steps(reporting, steps)
    if failure:
        reporting.fail_json(msg=failure, **result)
    reporting.exit_json(**result)


def _redacted(params):
    """The module arguments as the result reports them: the seeds' with their secrets redacted."""
    args = dict(params)
    if isinstance(args.get('seeds'), dict):
        args['seeds'] = _seed.redacted_args(args['seeds'])
    return args

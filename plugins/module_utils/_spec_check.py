# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Check parameters against a module's own argument spec, without running the module.

    problems(_network.argument_spec(), _network.CONSTRAINTS, params, _network.desired_from_params, 'network: ')

gives the one-line messages the module would fail with: first Ansible's validation (unsupported
parameters, types, choices, required options, mutually exclusive options ...), then, when that passed,
the module's own checks of the validated parameters. Code that generates module parameters (the
cluster planner, `items` of a module) uses it to report every problem before anything changes.
Needs neither libvirt nor a module.

Private to strata.libvirt; no compatibility promise.
"""

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError


def error_messages(result, where=''):
    """One line per error of an ArgumentSpecValidator result, each prefixed with where."""
    return [where + ('unsupported parameters: ' if isinstance(error, UnsupportedError) else '') + error.args[0]
            for error in result.errors]


def problems(spec, constraints, params, desired_from_params=None, where=''):
    """The problems of params for a module with this argument spec and constraints (keyword arguments of
    ArgumentSpecValidator: mutually_exclusive, required_if, ...), one line each, prefixed with where;
    [] when there are none. desired_from_params(validated params), when given, runs once Ansible's
    validation passed; the StrataError it raises becomes the message."""
    result = ArgumentSpecValidator(spec, **(constraints or {})).validate(params)
    found = error_messages(result, where)
    if not found and desired_from_params is not None:
        try:
            desired_from_params(result.validated_parameters)
        except StrataError as exc:
            found.append(where + str(exc))
    return found

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""_spec_check.problems: a module's own spec and checks applied to parameters, without libvirt or a module."""

import pytest

from ansible_collections.strata.libvirt.plugins.module_utils import _network
from ansible_collections.strata.libvirt.plugins.module_utils import _spec_check
from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError

SPEC = dict(name=dict(type='str', required=True), size=dict(type='int'), xml=dict(type='str'),
            path=dict(type='path'))
CONSTRAINTS = dict(mutually_exclusive=[('xml', 'path')])


def _no_dots(params):
    if '.' in params['name']:
        raise StrataError('Option name: %r has a dot' % params['name'])
    return params


def test_type_error():
    found = _spec_check.problems(SPEC, CONSTRAINTS, dict(name='a', size='big'))
    assert len(found) == 1 and 'size' in found[0] and 'int' in found[0]


def test_unknown_key():
    assert _spec_check.problems(SPEC, CONSTRAINTS, dict(name='a', colour='red'), where='vm1: ') == [
        'vm1: unsupported parameters: colour. Supported parameters include: name, path, size, xml.']


def test_mutually_exclusive_pair():
    assert _spec_check.problems(SPEC, CONSTRAINTS, dict(name='a', xml='<x/>', path='/p')) == [
        'parameters are mutually exclusive: xml|path']


def test_required_option():
    found = _spec_check.problems(SPEC, {}, dict(size=1))
    assert len(found) == 1 and 'name' in found[0]


def test_desired_from_params_error_only_after_validation_passed():
    assert _spec_check.problems(SPEC, CONSTRAINTS, dict(name='a.b'), _no_dots, 'x: ') == ["x: Option name: 'a.b' has a dot"]
    found = _spec_check.problems(SPEC, CONSTRAINTS, dict(name='a.b', colour='red'), _no_dots)
    assert len(found) == 1 and found[0].startswith('unsupported parameters: colour')


def test_sound_item_returns_nothing_and_params_stay():
    params = dict(name='a', size=3)
    assert _spec_check.problems(SPEC, CONSTRAINTS, params, _no_dots) == []
    assert _spec_check.problems(SPEC, None, params) == []
    assert params == dict(name='a', size=3)


def test_with_a_modules_own_spec():
    spec, constraints = _network.argument_spec(), _network.CONSTRAINTS
    assert _spec_check.problems(spec, constraints, dict(name='n1', address='10.0.0.1/24'), _network.desired_from_params) == []
    assert _spec_check.problems(spec, constraints, dict(name='n1', mtu=10), _network.desired_from_params, 'network: ') == [
        'network: Option mtu: 10 is outside 68..65535']
    assert _spec_check.problems(spec, constraints, dict(name='n1', forward='nat', xml='<network/>'), None, 'network: ') == [
        'network: parameters are mutually exclusive: xml|forward']


@pytest.mark.parametrize('params', [dict(name='a', size='big'), dict(name='a', colour='red')])
def test_error_messages_are_one_line_each(params):
    for message in _spec_check.problems(SPEC, CONSTRAINTS, params):
        assert '\n' not in message

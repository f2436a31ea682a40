# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The pool planner as a pure function: no libvirt involved."""

import pytest

pytest.importorskip('lxml')

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _pool, _ownership
from ansible_collections.strata.libvirt.plugins.module_utils._xml import parse_xml

POOL_XML = '''<pool type='dir'><name>p1</name><uuid>5169ef93-8e20-42fc-bfbc-effbb14c4510</uuid>
  <capacity unit='bytes'>107374182400</capacity><allocation unit='bytes'>0</allocation>
  <available unit='bytes'>107374182400</available><source/>
  <target><path>/srv/p1</path><permissions><mode>0711</mode><owner>0</owner><group>0</group></permissions></target>
</pool>'''


def params(**kwargs):
    base = dict(name='p1', state='present', type='dir', path=None, mode=None, owner=None, group=None,
                source_host=None, source_path=None, autostart=None, build=True, restart=False, purge=False,
                cluster=None, adopt=False, xml=None)
    base.update(kwargs)
    return base


def desired(**kwargs):
    return _pool.desired_from_params(params(**kwargs))


def current(xml=POOL_XML, active=True, persistent=True, autostart=False, owned=True, volumes=(), live_xml=None):
    if xml is None:
        return {'exists': False, 'name': 'p1'}
    root = parse_xml(xml)
    live = parse_xml(live_xml or xml)
    return {'exists': True, 'name': 'p1', 'uuid': 'u', 'active': active, 'persistent': persistent,
            'autostart': autostart, 'owner': _ownership.owner() if owned else dict(_ownership.NOT_OWNED),
            'config': _pool.parse_pool(root), 'live': _pool.parse_pool(live) if active else None,
            'volumes': list(volumes), 'xml': root, 'live_xml': live}


def test_new_pool_defined_built_started():
    want = desired(path='/srv/p1', mode='711', state='running', autostart=True, cluster='lab')
    plan = _pool.plan_pool(current(None), want)
    assert plan.ops() == ['define', 'build', 'start', 'autostart']
    assert plan.actions[0].args['cluster'] == 'lab'
    root = parse_xml(plan.actions[0].args['xml'])
    assert root.get('type') == 'dir' and root.find('target/path').text == '/srv/p1'
    assert root.find('target/permissions/mode').text == '0711'
    assert plan.diff.after()['mode'] == '0711'


def test_present_new_pool_is_built_not_started():
    assert _pool.plan_pool(current(None), desired(path='/srv/p1')).ops() == ['define', 'build']
    assert _pool.plan_pool(current(None), desired(path='/srv/p1', build=False)).ops() == ['define']


def test_same_pool_is_no_change():
    plan = _pool.plan_pool(current(), desired(path='/srv/p1/', mode='0711', owner='0', state='running'))
    assert plan.actions == [] and not plan.restart_required


def test_path_change_inactive_redefines_and_builds():
    plan = _pool.plan_pool(current(active=False), desired(path='/srv/p2'))
    assert plan.ops() == ['define', 'build']
    assert 'path' in plan.actions[0].text and plan.diff.changed_keys() == ['path']


def test_change_on_running_pool_reports_restart_required_or_restarts():
    plan = _pool.plan_pool(current(), desired(mode='0755'))
    assert plan.ops() == ['define'] and plan.restart_required
    plan = _pool.plan_pool(current(), desired(mode='0755', restart=True))
    assert plan.ops() == ['define', 'restart'] and plan.actions[1].args['build'] is True


def test_type_is_immutable():
    with pytest.raises(StrataError, match='Option type: pool .p1. is of type dir; its type cannot change to netfs'):
        _pool.plan_pool(current(), desired(type='netfs', source_host='nfs', source_path='/x'))


def test_path_required_to_create():
    with pytest.raises(StrataError, match="Option path: required to create pool 'p1'"):
        _pool.plan_pool(current(None), desired())


def test_foreign_pool_refused_then_adopted():
    with pytest.raises(StrataError, match="storage pool 'p1' exists but was not created by strata.libvirt"):
        _pool.plan_pool(current(owned=False), desired(path='/srv/p1'))
    with pytest.raises(StrataError, match='adopt=true'):
        _pool.plan_pool(current(owned=False), desired(state='absent'))
    plan = _pool.plan_pool(current(owned=False), desired(path='/srv/p1', adopt=True))
    assert plan.ops() == ['adopt']


def test_absent_and_purge():
    assert _pool.plan_pool(current(), desired(state='absent')).ops() == ['stop', 'undefine']
    assert _pool.plan_pool(current(), desired(state='absent', purge=True)).ops() == ['stop', 'delete', 'undefine']
    assert _pool.plan_pool(current(None), desired(state='absent')).ops() == []
    with pytest.raises(StrataError, match="Option purge: pool 'p1' still holds volumes a.qcow2"):
        _pool.plan_pool(current(volumes=['a.qcow2']), desired(state='absent', purge=True))
    with pytest.raises(StrataError, match='Option purge: .* was not created by strata.libvirt'):
        _pool.plan_pool(current(owned=False), desired(state='absent', purge=True, adopt=True))


@pytest.mark.parametrize('kwargs,match', [
    (dict(name='p/1'), "Option name: invalid name 'p/1'"),
    (dict(path='relative'), "Option path: 'relative' is not an absolute path"),
    (dict(mode='0799'), "Option mode: invalid octal mode '0799'"),
    (dict(owner='no-such-user-strata'), "Option owner: unknown owner 'no-such-user-strata'"),
    (dict(source_host='x'), 'Option source_host: only for type=netfs'),
    (dict(xml='<pool type="dir"><name>p1</name>'), 'Option xml: malformed XML'),
    (dict(xml='<pool><name>p1</name></pool>'), 'Option xml: <pool> needs a type attribute'),
])
def test_bad_input(kwargs, match):
    with pytest.raises(StrataError, match=match):
        desired(**kwargs)


def test_xml_escape_hatch():
    same = "<pool type='dir'><name>p1</name><target><path>/srv/p1</path></target></pool>"
    assert _pool.plan_pool(current(), desired(xml=same)).actions == []
    other = same.replace('/srv/p1', '/srv/p9')
    plan = _pool.plan_pool(current(active=False), desired(xml=other))
    assert plan.ops() == ['define', 'build']
    assert parse_xml(plan.actions[0].args['xml']).find('uuid').text == '5169ef93-8e20-42fc-bfbc-effbb14c4510'
    logical = "<pool type='logical'><name>p1</name><target><path>/dev/vg</path></target></pool>"
    with pytest.raises(StrataError, match='its type cannot change to logical'):
        _pool.plan_pool(current(), desired(xml=logical))
    # a new logical pool is never built (that would format its devices)
    assert _pool.plan_pool(current(None), desired(xml=logical, state='running')).ops() == ['define', 'start']

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The network planner as a pure function: no libvirt involved."""

import pytest

pytest.importorskip('lxml')

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _network, _ownership
from ansible_collections.strata.libvirt.plugins.module_utils._xml import parse_xml

MARK = "<metadata><strata:owner xmlns:strata='%s' cluster='lab'/></metadata>" % _ownership.NAMESPACE

# What libvirt returns for a network we defined: uuid, MAC, stp/delay, a bridge name it chose, netmask form.
CONFIG_XML = '''<network>
  <name>n1</name><uuid>1cfd5f0a-06fb-47ae-8ed8-8d51721a2fbd</uuid>%s
  <forward mode='nat'><nat><port start='1024' end='65535'/></nat></forward>
  <bridge name='virbr7' stp='on' delay='0'/>
  <mac address='52:54:00:12:34:56'/>
  <domain name='lab.internal'/>
  <ip address='10.240.1.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='10.240.1.100' end='10.240.1.200'/>
      <host mac='52:54:00:00:00:01' name='a' ip='10.240.1.10'/>
      <host mac='52:54:00:00:00:02' name='b' ip='10.240.1.11'/>
    </dhcp>
  </ip>
</network>''' % MARK

HOSTS = [{'name': 'a', 'mac': '52:54:00:00:00:01', 'ip': '10.240.1.10'},
         {'name': 'b', 'mac': '52:54:00:00:00:02', 'ip': '10.240.1.11'}]


def params(**kwargs):
    base = dict(name='n1', state='present', autostart=None, restart=False, cluster=None, adopt=False, xml=None,
                forward=None, bridge=None, address=None, dhcp_range=None, hosts=None, dns_hosts=None,
                domain=None, mtu=None)
    base.update(kwargs)
    return base


def desired(**kwargs):
    return _network.desired_from_params(params(**kwargs))


def current(xml=CONFIG_XML, active=True, persistent=True, autostart=False, live_xml=None):
    if xml is None:
        return {'exists': False, 'name': 'n1'}
    root = parse_xml(xml)
    live = parse_xml(live_xml or xml)
    return {'exists': True, 'name': 'n1', 'uuid': '1cfd5f0a-06fb-47ae-8ed8-8d51721a2fbd', 'active': active,
            'persistent': persistent, 'autostart': autostart, 'owner': _ownership.read_mark(root),
            'config': _network.parse_network(root), 'live': _network.parse_network(live) if active else None,
            'xml': root, 'live_xml': live}


FULL = dict(forward='nat', address='10.240.1.1/24', domain='lab.internal',
            dhcp_range={'start': '10.240.1.100', 'end': '10.240.1.200'}, hosts=HOSTS)


def test_new_network_is_defined_started_and_marked():
    plan = _network.plan_network(current(None), desired(state='running', autostart=True, cluster='lab', **FULL))
    assert plan.ops() == ['define', 'start', 'autostart']
    xml = parse_xml(plan.actions[0].args['xml'])
    assert _ownership.read_mark(xml) == {'owned': True, 'cluster': 'lab'}
    assert _network.parse_network(xml)['hosts'] == sorted(HOSTS, key=lambda h: h['mac'])
    assert plan.diff.before()['state'] == 'absent' and plan.diff.after()['state'] == 'running'
    assert plan.diff.after()['address'] == '10.240.1.1/24'


def test_new_network_without_forward_gets_nat():
    plan = _network.plan_network(current(None), desired(address='10.240.1.1/24'))
    assert parse_xml(plan.actions[0].args['xml']).find('forward').get('mode') == 'nat'
    assert plan.diff.after()['state'] == 'stopped'


def test_same_settings_with_generated_values_is_no_change():
    plan = _network.plan_network(current(), desired(state='running', **FULL))
    assert plan.actions == [] and not plan.restart_required
    assert plan.diff.before() == plan.diff.after()


def test_unspecified_settings_are_not_compared():
    plan = _network.plan_network(current(), desired(mtu=None, bridge=None, address='10.240.1.1/24'))
    assert plan.actions == []
    assert set(plan.diff.before()) == {'address', 'state'}


def test_host_add_modify_delete_live_and_config_without_restart():
    hosts = [{'name': 'a', 'mac': '52:54:00:00:00:01', 'ip': '10.240.1.20'},   # modified
             {'name': 'c', 'mac': '52:54:00:00:00:03', 'ip': '10.240.1.12'}]   # added; b deleted
    plan = _network.plan_network(current(), desired(hosts=hosts))
    assert plan.ops() == ['update', 'update', 'update']
    assert [(a.args['verb'], a.args['flags']) for a in plan.actions] == [
        ('delete', 'live+config'), ('modify', 'live+config'), ('add', 'live+config')]
    assert plan.actions[0].args['old']['mac'] == '52:54:00:00:00:02'
    assert plan.actions[1].args['new']['ip'] == '10.240.1.20'
    assert not plan.restart_required and 'define' not in plan.ops()
    assert plan.diff.changed_keys() == ['hosts']


def test_host_change_on_inactive_network_touches_config_only():
    plan = _network.plan_network(current(active=False), desired(hosts=HOSTS[:1]))
    assert [(a.args['verb'], a.args['flags']) for a in plan.actions] == [('delete', 'config')]


def test_live_and_config_hosts_differ_get_separate_updates():
    live = CONFIG_XML.replace("<host mac='52:54:00:00:00:02' name='b' ip='10.240.1.11'/>", '')
    plan = _network.plan_network(current(live_xml=live), desired(hosts=HOSTS + [
        {'name': 'c', 'mac': '52:54:00:00:00:03', 'ip': '10.240.1.12'}]))
    assert [(a.args['verb'], a.args['new']['name'], a.args['flags']) for a in plan.actions] == [
        ('add', 'c', 'config'), ('add', 'b', 'live'), ('add', 'c', 'live')]


def test_empty_host_list_deletes_all():
    plan = _network.plan_network(current(), desired(hosts=[]))
    assert [a.args['verb'] for a in plan.actions] == ['delete', 'delete']


def test_other_change_redefines_and_reports_restart_required():
    plan = _network.plan_network(current(), desired(mtu=9000))
    assert plan.ops() == ['define'] and plan.restart_required
    xml = parse_xml(plan.actions[0].args['xml'])
    assert xml.find('mtu').get('size') == '9000'
    assert xml.find('uuid').text == '1cfd5f0a-06fb-47ae-8ed8-8d51721a2fbd'   # redefinition keeps the UUID
    assert xml.find('forward/nat/port') is not None                       # and what we do not manage
    assert plan.diff.diff() == {'before': {'mtu': None, 'state': 'running'}, 'after': {'mtu': 9000, 'state': 'running'}}


def test_restart_true_restarts_instead_of_live_updates():
    plan = _network.plan_network(current(), desired(mtu=9000, restart=True, hosts=HOSTS[:1]))
    assert plan.ops() == ['define', 'restart'] and not plan.restart_required


def test_redefine_plus_host_change_on_running_network_updates_live_only():
    plan = _network.plan_network(current(), desired(mtu=9000, hosts=HOSTS[:1]))
    assert plan.ops() == ['define', 'update'] and plan.actions[1].args['flags'] == 'live'
    assert _network.parse_network(parse_xml(plan.actions[0].args['xml']))['hosts'] == HOSTS[:1]


def test_pending_persistent_change_still_reports_restart_required():
    config = CONFIG_XML.replace("<domain name='lab.internal'/>", "<domain name='lab.internal'/><mtu size='9000'/>")
    plan = _network.plan_network(current(xml=config, live_xml=CONFIG_XML), desired(mtu=9000))
    assert plan.actions == [] and plan.restart_required
    plan = _network.plan_network(current(xml=config, live_xml=CONFIG_XML), desired(mtu=9000, restart=True))
    assert plan.ops() == ['restart']


def test_stopped_and_running_transitions():
    assert _network.plan_network(current(), desired(state='stopped')).ops() == ['stop']
    assert _network.plan_network(current(active=False), desired(state='running')).ops() == ['start']
    plan = _network.plan_network(current(), desired(state='stopped', mtu=9000, hosts=[]))
    assert plan.ops() == ['define', 'stop'] and not plan.restart_required


def test_autostart():
    assert _network.plan_network(current(autostart=True), desired(autostart=True)).ops() == []
    plan = _network.plan_network(current(autostart=True), desired(autostart=False))
    assert plan.ops() == ['autostart'] and plan.actions[0].args['value'] is False


def test_foreign_network_is_refused_without_adopt():
    foreign = CONFIG_XML.replace(MARK, '')
    with pytest.raises(StrataError, match="network 'n1' exists but was not created by strata.libvirt.*adopt=true"):
        _network.plan_network(current(xml=foreign), desired(mtu=9000))
    with pytest.raises(StrataError, match='adopt=true'):
        _network.plan_network(current(xml=foreign), desired(state='absent'))
    plan = _network.plan_network(current(xml=foreign), desired(adopt=True, cluster='lab2'))
    assert plan.ops() == ['define'] and 'adopt' in plan.actions[0].text
    assert _ownership.read_mark(parse_xml(plan.actions[0].args['xml'])) == {'owned': True, 'cluster': 'lab2'}
    assert not plan.restart_required


def test_other_cluster_is_refused():
    with pytest.raises(StrataError, match="belongs to cluster 'lab', not to cluster 'other'"):
        _network.plan_network(current(), desired(cluster='other'))


def test_absent():
    assert _network.plan_network(current(), desired(state='absent')).ops() == ['stop', 'undefine']
    assert _network.plan_network(current(active=False), desired(state='absent')).ops() == ['undefine']
    assert _network.plan_network(current(persistent=False), desired(state='absent')).ops() == ['stop']
    assert _network.plan_network(current(None), desired(state='absent')).ops() == []


@pytest.mark.parametrize('kwargs,match', [
    (dict(dhcp_range={'start': '10.240.2.1', 'end': '10.240.1.200'}), 'Option dhcp_range.start: 10.240.2.1 is outside'),
    (dict(dhcp_range={'start': '10.240.1.100', 'end': '10.240.1.255'}), 'Option dhcp_range.end: 10.240.1.255 is outside'),
    (dict(dhcp_range={'start': '10.240.1.200', 'end': '10.240.1.100'}), 'Option dhcp_range: start 10.240.1.200 is after'),
    (dict(hosts=[{'mac': '52:54:00:00:00:09', 'ip': '10.9.9.9'}]), r'Option hosts\[0\].ip: 10.9.9.9 is outside'),
    (dict(hosts=[{'mac': '52:54:00:00:00:09', 'ip': '10.240.1.1'}]), "network's own address"),
])
def test_subnet_checks_against_the_existing_address(kwargs, match):
    with pytest.raises(StrataError, match=match):
        _network.plan_network(current(), desired(**kwargs))


def test_dhcp_without_any_address():
    with pytest.raises(StrataError, match='Option dhcp_range: needs option address'):
        _network.plan_network(current(None), desired(dhcp_range={'start': '10.0.0.2', 'end': '10.0.0.3'}))


@pytest.mark.parametrize('kwargs,match', [
    (dict(name='bad name'), "Option name: invalid name 'bad name'"),
    (dict(address='10.240.1.0/33'), "Option address: invalid IPv4 CIDR '10.240.1.0/33'"),
    (dict(hosts=[{'mac': '52:54:00:00:00:01', 'ip': '10.240.1.10', 'name': None},
                 {'mac': '52:54:00:00:00:01', 'ip': '10.240.1.11', 'name': None}]),
     r'Option hosts \(mac\): duplicate value 52:54:00:00:00:01'),
    (dict(hosts=[{'mac': '52:54:00:00:00:01', 'ip': '10.240.1.10', 'name': None},
                 {'mac': '52:54:00:00:00:02', 'ip': '10.240.1.10', 'name': None}]),
     r'Option hosts \(ip\): duplicate value 10.240.1.10'),
    (dict(hosts=[{'mac': 'zz', 'ip': '10.240.1.10', 'name': None}]), r"Option hosts\[0\].mac: invalid MAC address 'zz'"),
    (dict(hosts=[{'mac': None, 'ip': '10.240.1.10', 'name': None}]), r'Option hosts\[0\]: give a mac, a name or both'),
    (dict(forward='bridge'), 'Option bridge: forward=bridge needs'),
    (dict(forward='bridge', bridge='br0', address='10.0.0.1/24'), 'Option address: not possible with forward=bridge'),
    (dict(mtu=10), 'Option mtu: 10 is outside'),
    (dict(xml='<network><name>n1</name>'), 'Option xml: malformed XML'),
    (dict(xml='<network><name>other</name></network>'), "Option xml: <name> is 'other' but option name is 'n1'"),
    (dict(dns_hosts=[{'ip': '10.240.1.5', 'hostnames': []}]), r'Option dns_hosts\[0\].hostnames'),
])
def test_bad_input_names_option_and_value(kwargs, match):
    with pytest.raises(StrataError, match=match):
        desired(**kwargs)


def test_xml_escape_hatch_is_compared_semantically():
    same = '''<network><name>n1</name><forward mode='nat'/><domain name='lab.internal'/>
      <ip address='10.240.1.1' netmask='255.255.255.0'><dhcp>
      <host mac='52:54:00:00:00:02' name='b' ip='10.240.1.11'/><host mac='52:54:00:00:00:01' name='a' ip='10.240.1.10'/>
      <range start='10.240.1.100' end='10.240.1.200'/></dhcp></ip></network>'''
    plan = _network.plan_network(current(), desired(xml=same))
    assert plan.actions == [] and not plan.restart_required
    fewer = same.replace("<host mac='52:54:00:00:00:02' name='b' ip='10.240.1.11'/>", '')
    plan = _network.plan_network(current(), desired(xml=fewer))
    assert plan.ops() == ['define'] and plan.restart_required
    xml = parse_xml(plan.actions[0].args['xml'])
    assert xml.find('uuid') is not None and _ownership.read_mark(xml)['owned']
    assert '52:54:00:00:00:02' in plan.diff.before()['xml'] and '52:54:00:00:00:02' not in plan.diff.after()['xml']


def test_dns_hosts_are_live_updates():
    plan = _network.plan_network(current(), desired(dns_hosts=[{'ip': '10.240.1.50', 'hostnames': ['y', 'x']}]))
    assert plan.ops() == ['update']
    assert plan.actions[0].args['key'] == 'dns_hosts' and plan.actions[0].args['new']['hostnames'] == ['x', 'y']

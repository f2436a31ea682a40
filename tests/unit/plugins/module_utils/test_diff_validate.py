# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

import ipaddress

import pytest

from ansible_collections.strata.libvirt.plugins.module_utils._diff import DifferenceTracker
from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _validate


def test_tracker_reports_only_real_changes():
    tracker = DifferenceTracker()
    tracker.add('mtu', 1500, 9000)
    tracker.add('forward', 'nat', 'nat')
    assert tracker.changed_keys() == ['mtu']
    assert tracker.diff() == {'before': {'mtu': 1500, 'forward': 'nat'}, 'after': {'mtu': 9000, 'forward': 'nat'}}
    tracker.add('mtu', 1500, 1500)
    assert not tracker.has_differences()


def test_tracker_copies_values():
    value = [1]
    tracker = DifferenceTracker()
    tracker.add('x', value, value)
    value.append(2)
    assert tracker.before() == {'x': [1]}


@pytest.mark.parametrize('text,expected', [
    ('35G', 35 * 1024 ** 3), ('512M', 512 * 1024 ** 2), ('512MiB', 512 * 1024 ** 2), ('1GB', 10 ** 9),
    ('1048576', 1048576), (4096, 4096), ('2 T', 2 * 1024 ** 4), ('10k', 10240),
])
def test_sizes(text, expected):
    assert _validate.size(text, 'capacity') == expected


@pytest.mark.parametrize('text', ['35X', '-1G', '1.5G', '', '0', 'G'])
def test_bad_sizes_name_the_option(text):
    with pytest.raises(StrataError, match='Option capacity'):
        _validate.size(text, 'capacity')


@pytest.mark.parametrize('value', ['a b', 'x/y', '', '..', 'caf\u00e9', 'a;rm'])
def test_bad_names(value):
    with pytest.raises(StrataError, match='Option name: invalid name'):
        _validate.name(value)


def test_good_names():
    assert _validate.name('web-1_a.qcow2') == 'web-1_a.qcow2'


@pytest.mark.parametrize('value,match', [
    ('10.240.1.1', 'no prefix'), ('10.240.1.300/24', 'invalid IPv4 CIDR'), ('10.240.1.0/24', 'network or broadcast'),
    ('10.240.1.255/24', 'network or broadcast'), ('10.240.1.1/31', 'too long'), ('fd00::1/64', 'invalid IPv4 CIDR'),
])
def test_bad_cidr(value, match):
    with pytest.raises(StrataError, match='Option address: .*' + match):
        _validate.ipv4_interface(value, 'address')


def test_in_subnet():
    iface = ipaddress.IPv4Interface(u'10.240.1.1/24')
    _validate.in_subnet(ipaddress.IPv4Address(u'10.240.1.5'), iface, 'x')
    with pytest.raises(StrataError, match='Option x: 10.240.2.5 is outside'):
        _validate.in_subnet(ipaddress.IPv4Address(u'10.240.2.5'), iface, 'x')


def test_mac():
    assert _validate.mac('52:54:00:AA:bb:01', 'm') == '52:54:00:aa:bb:01'
    with pytest.raises(StrataError, match="Option m: invalid MAC address '52:54:00:aa:bb'"):
        _validate.mac('52:54:00:aa:bb', 'm')


def test_duplicates():
    with pytest.raises(StrataError, match='Option hosts \\(ip\\): duplicate value 10.0.0.1'):
        _validate.no_duplicates(['10.0.0.1', '10.0.0.2', '10.0.0.1'], 'hosts (ip)')

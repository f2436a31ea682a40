# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

import json
import os

import pytest

pytest.importorskip('lxml')

from ansible_collections.strata.libvirt.plugins.module_utils import _connection, _ownership
from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._xml import parse_xml, to_text


def test_uri_resolution():
    assert _connection.resolve_uri('qemu+ssh://h/system', {'LIBVIRT_DEFAULT_URI': 'test:///default'}) == 'qemu+ssh://h/system'
    assert _connection.resolve_uri(None, {'LIBVIRT_DEFAULT_URI': 'test:///default'}) == 'test:///default'
    assert _connection.resolve_uri(None, {}) == 'qemu:///system'


def test_is_local():
    assert _connection.is_local('qemu:///system') and _connection.is_local('qemu:///session')
    assert _connection.is_local('test:///default') and _connection.is_local('qemu+unix:///system')
    assert not _connection.is_local('qemu+ssh://root@hv1/system')
    assert _connection.is_local_qemu('qemu:///system') and _connection.is_local_qemu('qemu+unix:///session')
    assert not _connection.is_local_qemu('test:///default') and not _connection.is_local_qemu('qemu+ssh://hv1/system')


def test_lock_excludes_a_second_holder(tmp_path):
    with _connection.hypervisor_lock(str(tmp_path), 'qemu:///system') as path:
        assert os.path.exists(path)
        with pytest.raises(StrataError, match="Timed out after 0.3s waiting for the lock .* of uri 'qemu:///system'"):
            with _connection.hypervisor_lock(str(tmp_path), 'qemu:///system', timeout=0.3, poll=0.05):
                pass
        # another URI has its own lock
        with _connection.hypervisor_lock(str(tmp_path), 'qemu:///session', timeout=0.3):
            pass
    with _connection.hypervisor_lock(str(tmp_path), 'qemu:///system', timeout=0.3):
        pass


def test_slugs_differ_per_uri():
    assert _connection.uri_slug('qemu:///system') != _connection.uri_slug('qemu:///system/')


def test_mark_round_trip_keeps_other_metadata():
    root = parse_xml('<network><name>n</name><metadata><other xmlns="urn:x">1</other></metadata></network>')
    assert _ownership.read_mark(root) == {'owned': False, 'cluster': None}
    _ownership.set_mark(root, 'lab')
    _ownership.set_mark(root, 'lab2')
    again = parse_xml(to_text(root))
    assert _ownership.read_mark(again) == {'owned': True, 'cluster': 'lab2'}
    assert len(again.find('metadata')) == 2
    assert 'xmlns:strata="%s"' % _ownership.NAMESPACE in to_text(root)


def test_check_owner():
    with pytest.raises(StrataError, match="network 'n' exists but was not created by strata.libvirt.*adopt=true"):
        _ownership.check_owner('network', 'n', _ownership.NOT_OWNED, None, False)
    assert 'adopt' in _ownership.check_owner('network', 'n', _ownership.NOT_OWNED, None, True)
    assert _ownership.check_owner('network', 'n', _ownership.owner('a'), None, False) is None
    assert _ownership.check_owner('network', 'n', _ownership.owner('a'), 'a', False) is None
    with pytest.raises(StrataError, match="belongs to cluster 'a', not to cluster 'b'"):
        _ownership.check_owner('network', 'n', _ownership.owner('a'), 'b', False)
    assert "from cluster 'a' to cluster 'b'" in _ownership.check_owner('network', 'n', _ownership.owner('a'), 'b', True)


def test_registry_is_written_atomically_and_reloaded(tmp_path):
    reg = _ownership.OwnerRegistry(str(tmp_path), 'qemu:///system').load()
    assert reg.get('pools', 'u1') == {'owned': False, 'cluster': None}
    reg.record('pools', 'u1', 'lab', name='p')
    reg.record('volumes', '/v/a', None, pool='p', name='a')
    again = _ownership.OwnerRegistry(str(tmp_path), 'qemu:///system').load()
    assert again.get('pools', 'u1') == {'owned': True, 'cluster': 'lab'}
    assert again.get('volumes', '/v/a') == {'owned': True, 'cluster': None}
    again.forget('volumes', '/v/a')
    data = json.loads(open(reg.path).read())
    assert data['volumes'] == {} and data['uri'] == 'qemu:///system'
    assert [n for n in os.listdir(os.path.dirname(reg.path)) if n.startswith('.owners-')] == []
    assert _ownership.OwnerRegistry(str(tmp_path), 'qemu:///session').load().get('pools', 'u1')['owned'] is False


def test_corrupt_registry_is_an_error(tmp_path):
    reg = _ownership.OwnerRegistry(str(tmp_path), 'qemu:///system')
    os.makedirs(os.path.dirname(reg.path))
    with open(reg.path, 'w') as handle:
        handle.write('{nope')
    with pytest.raises(StrataError, match='not valid JSON'):
        reg.load()

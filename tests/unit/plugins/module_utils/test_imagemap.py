# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The image map: labels, aliases, sizes, errors."""


import pytest

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _imagemap

G = 1024 ** 3

MAP = {
    'default_label': 'stable',
    'aliases': {'stable': 'debian', 'debian': 'debian-12', 'lab': {'source': '/srv/lab.qcow2', 'checksum': 'none'}},
    'sizes': {'tiny': {'vcpus': 1, 'memory': '512M', 'disk': '4G'}, 'small': {'disk': '8G'}},
    'images': {
        'debian-12': {'source': 'https://h/debian-12-generic-amd64.qcow2.xz', 'checksum': 'sha512:https://h/SHA512SUMS',
                      'login_user': 'debian', 'size': 'medium', 'resources': {'disk': '30G'}},
        'lab': {'source': 'http://127.0.0.1:8088/strata-debian-12.qcow2.zst',
                'checksum': 'sha256:http://127.0.0.1:8088/SHA256SUMS', 'nocloud': True, 'login_user': 'strata'},
    },
}


def test_default_label_through_aliases():
    image = _imagemap.resolve_image(MAP)
    assert image['label'] == 'debian-12' and image['requested'] == 'stable' and image['aliases'] == ['debian', 'debian-12']
    assert image['file_name'] == 'debian-12-generic-amd64.qcow2'
    assert image['python_interpreter'] == '/usr/bin/python3' and image['nocloud'] is True
    assert image['resources'] == {'vcpus': 2, 'memory_mib': 2048, 'disk_bytes': 30 * G, 'size': 'medium'}


def test_images_win_over_aliases_of_the_same_name():
    assert _imagemap.resolve_image(MAP, 'lab')['source'].startswith('http://127.0.0.1')


def test_inline_alias_entry():
    image = _imagemap.resolve_image(dict(MAP, images={}), 'lab')
    assert image['source'] == '/srv/lab.qcow2' and image['checksum'] == 'none'


def test_unknown_label_and_loop():
    with pytest.raises(StrataError, match=r"unknown image label 'ubuntu'; images: debian-12, lab; aliases: debian"):
        _imagemap.resolve_image(MAP, 'ubuntu')
    with pytest.raises(StrataError, match=r"unknown image label 'gone' \(reached through x -> gone\)"):
        _imagemap.resolve_image(dict(MAP, aliases={'x': 'gone'}), 'x')
    with pytest.raises(StrataError, match='alias loop a -> b -> c -> a'):
        _imagemap.resolve_image(dict(MAP, aliases={'a': 'b', 'b': 'c', 'c': 'a'}), 'a')
    with pytest.raises(StrataError, match='no default_label'):
        _imagemap.resolve_image({'images': {}})


def test_bad_entries():
    for entry, message in (({'checksum': 'none'}, 'has no source'),
                           ({'source': '/x'}, 'has no checksum'),
                           ({'source': '/x', 'checksum': 'md5:1'}, 'sha256 or sha512'),
                           ({'source': '/x', 'checksum': 'none', 'colour': 'red'}, 'unknown keys colour'),
                           ({'source': '/x', 'checksum': 'none', 'size': 'huge'}, "unknown size 'huge'")):
        with pytest.raises(StrataError, match=message):
            _imagemap.resolve_image({'images': {'x': entry}}, 'x')


def test_size_presets():
    assert _imagemap.resolve_resources({}, 'small') == {'vcpus': 1, 'memory_mib': 1024, 'disk_bytes': 10 * G,
                                                        'size': 'small'}
    assert _imagemap.resolve_resources({}, 'large')['vcpus'] == 4
    assert _imagemap.resolve_resources(MAP, 'small')['disk_bytes'] == 8 * G      # map overrides a built-in key
    assert _imagemap.resolve_resources(MAP, 'tiny')['memory_mib'] == 512
    assert _imagemap.resolve_resources(MAP, 'tiny', {'memory': 768})['memory_mib'] == 768  # bare number: MiB
    with pytest.raises(StrataError, match='vcpus 0 is not a positive integer'):
        _imagemap.resolve_resources({}, None, {'vcpus': 0})


def test_resolve_vm_precedence():
    # VM values > VM size preset > image default resources > small
    vm = _imagemap.resolve_vm(MAP, {'name': 'web1', 'image': 'lab'})
    assert vm['image']['label'] == 'lab' and vm['resources']['vcpus'] == 1 and vm['resources']['disk_bytes'] == 8 * G
    vm = _imagemap.resolve_vm(MAP, {'name': 'db', 'size': 'large', 'memory': '6G'})
    assert vm['image']['label'] == 'debian-12'
    assert vm['resources'] == {'vcpus': 4, 'memory_mib': 6144, 'disk_bytes': 40 * G, 'size': 'large'}
    vm = _imagemap.resolve_vm(MAP, {'name': 'x'})
    assert vm['resources']['disk_bytes'] == 30 * G and vm['resources']['vcpus'] == 2
    with pytest.raises(StrataError, match="VM 'x': unknown size 'xl'"):
        _imagemap.resolve_vm(MAP, {'name': 'x', 'size': 'xl'})

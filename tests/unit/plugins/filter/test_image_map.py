# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The image map filters, as the roles call them (controller side)."""


import os

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.strata.libvirt.plugins.filter.image_map import FilterModule

MAP = {
    'default_label': 'stable',
    'aliases': {'stable': 'debian', 'debian': 'debian-12'},
    'images': {'debian-12': {'source': 'https://example.org/debian-12.qcow2', 'checksum': 'sha512:https://example.org/SHA512SUMS'}},
}


def test_filter_plugin():
    filters = FilterModule().filters()
    assert filters['resolve_image'](MAP, 'debian')['label'] == 'debian-12'
    with pytest.raises(AnsibleFilterError, match='unknown image label'):
        filters['resolve_image'](MAP, 'nope')


def test_the_shown_source_carries_no_credentials():
    filters = FilterModule().filters()
    secret = {'default_label': 'x', 'images': {'x': {'source': 'https://user:s3cret@h/x.qcow2', 'checksum': 'none'}}}
    entry = filters['resolve_image'](secret, 'x')
    assert entry['source'] == 'https://user:s3cret@h/x.qcow2' and 's3cret' not in entry['source_shown']
    label = open(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'roles', 'image', 'tasks', 'main.yml')).read()
    shown = label.split('loop_control:')[1]
    assert '.source_shown }}' in shown and '.source }}' not in shown

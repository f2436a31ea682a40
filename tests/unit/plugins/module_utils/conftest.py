# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The startup engine tests' libvirt: test:///default, and domains defined there by name. A test module that uses
`hv` sets PREFIX: the domains whose names start with it are removed after each test."""

import pytest

URI = 'test:///default'
DOM = "<domain type='test'><name>%s</name><memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>"


@pytest.fixture
def hv(request):
    libvirt = pytest.importorskip('libvirt')
    from ansible_collections.strata.libvirt.plugins.module_utils import _connection
    prefix = request.module.PREFIX
    _connection.open_connection(URI).close()  # silences libvirt's stderr printer
    conn = libvirt.open(URI)
    yield conn
    for dom in conn.listAllDomains():
        if dom.name().startswith(prefix):
            if dom.isActive():
                dom.destroy()
            dom.undefine()
    conn.close()


@pytest.fixture
def define(hv):
    def make(*names):
        for name in names:
            hv.defineXML(DOM % name)
    return make

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The startup engine's option host_keys against libvirt's test driver: each ready VM's keys are read in its own
thread, after the VMs that wait for it were let go, and the run returns them in domain_info's shape."""

import threading
import time

import pytest

from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils._startup import keys as _keys
from ansible_collections.strata.libvirt.plugins.module_utils._startup.engine import Engine
from ansible_collections.strata.libvirt.plugins.module_utils._startup.spec import normalize

pytest.importorskip('libvirt')

URI = 'test:///default'
PREFIX = 'sk-'   # the domains of these tests (removed after each by the conftest's hv)
VMS = [{'name': 'sk-gw', 'probes': [{'type': 'running'}]}, {'name': 'sk-app', 'after': ['sk-gw']}]


def engine(hv, tmp_path, **params):
    state_dir = str(tmp_path / 'state')
    return Engine(normalize(dict(params, uri=URI)), hv, lock=lambda: _connection.hypervisor_lock(state_dir, URI, 10))


def event_t(result, name, prefix):
    return [e['t'] for e in result['vms'][name]['timeline'] if e['event'].startswith(prefix)][0]


def test_the_console_log_of_a_domain_definition():
    xml = ("<domain><devices><serial type='pty'><target port='0'/></serial>"
           "<serial type='pty'><log file='/var/log/strata/gw.log' append='off'/></serial></devices></domain>")
    assert _keys.console_log(xml) == '/var/log/strata/gw.log'
    assert _keys.console_log('<domain><devices/></domain>') is None


def test_keys_are_read_once_each_vm_is_ready_while_the_next_ones_start(hv, define, tmp_path, monkeypatch):
    define('sk-gw', 'sk-app')
    read = _keys.read
    ended = {}

    def slow_read(conn, uri, name):
        time.sleep(0.5)
        ended[name] = (eng.clock.since(), threading.current_thread().name)
        return read(conn, uri, name)
    monkeypatch.setattr(_keys, 'read', slow_read)
    eng = engine(hv, tmp_path, vms=VMS, host_keys=True)
    up = eng.run()
    assert not up.get('failed'), up.get('msg')
    # sk-app was started before sk-gw's keys were read, and the run waited for both reads
    assert event_t(up, 'sk-app', 'start issued') < ended['sk-gw'][0]
    assert ended['sk-gw'][1] == 'strata-startup-sk-gw' and up['elapsed'] >= ended['sk-app'][0]
    assert [d['name'] for d in up['host_keys']] == ['sk-app', 'sk-gw'] and all(d['active'] for d in up['host_keys'])
    # the test driver has neither a guest agent nor a console log: the reason, in domain_info's words
    found = up['vms']['sk-gw']['host_keys']
    assert found == up['host_keys'][1]['host_keys']
    assert found['keys'] == [] and found['source'] is None
    assert found['error'].startswith('guest agent: ') and 'serial console: the domain has no serial console log' in found['error']


def test_without_the_option_no_key_is_read(hv, define, tmp_path, monkeypatch):
    define('sk-gw', 'sk-app')
    monkeypatch.setattr(_keys, 'read', lambda *args: pytest.fail('a key read without host_keys'))
    up = engine(hv, tmp_path, vms=VMS).run()
    assert not up.get('failed') and 'host_keys' not in up and 'host_keys' not in up['vms']['sk-gw']
    # in check mode nothing is started, nothing read
    hv.lookupByName('sk-gw').destroy()
    hv.lookupByName('sk-app').destroy()
    planned = Engine(normalize({'vms': VMS, 'uri': URI, 'host_keys': True}), hv, check_mode=True).run()
    assert planned['host_keys'] == [] and planned['started'] == []

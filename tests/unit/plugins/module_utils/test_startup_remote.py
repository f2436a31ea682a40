# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""VMs on another hypervisor (remote) in a startup definition: a VM here that depends on one starts only once the
remote VM's probes pass through the network; a stop or an autostart setting leaves them out. Against libvirt's
test:///default driver, with a real port on 127.0.0.1 standing for the remote VM's service."""

import socket
import threading
import time

import pytest

libvirt = pytest.importorskip('libvirt')

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._startup.engine import Engine
from ansible_collections.strata.libvirt.plugins.module_utils._startup.spec import boot_config, local_vms, normalize
from ansible_collections.strata.libvirt.tests.unit.plugins.module_utils.test_startup_engine import closed_port, engine

PREFIX = 'su-'   # the domains of these tests (removed after each by the conftest's hv)


def vms(port):
    return [{'name': 'su-gw', 'tier': 0, 'remote': 'hv-a', 'address': '127.0.0.1',
             'probes': [{'type': 'tcp', 'port': port, 'interval': 0.1}], 'timeout': 20},
            {'name': 'su-web', 'after': ['su-gw']},
            {'name': 'su-db', 'tier': 0}]


def test_a_vm_here_starts_only_once_its_remote_dependency_answers(hv, define, tmp_path):
    define('su-web', 'su-db')
    port = closed_port()
    opened = {}

    def open_later():
        time.sleep(1.0)
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(('127.0.0.1', port))
        srv.listen(5)
        opened['at'] = time.monotonic()
        opened['srv'] = srv

    check = engine(hv, tmp_path, check=True, vms=vms(port)).run()
    actions = dict((v['name'], v['action']) for t in check['plan']['tiers'] for v in t['vms'])
    assert actions == {'su-gw': 'wait', 'su-db': 'start', 'su-web': 'start'}
    assert [v.get('host') for t in check['plan']['tiers'] for v in t['vms'] if v['name'] == 'su-gw'] == ['hv-a']
    assert "start VM 'su-gw' (tier 0)" not in check['actions']

    thread = threading.Thread(target=open_later)
    began = time.monotonic()
    thread.start()
    try:
        up = engine(hv, tmp_path, vms=vms(port)).run()
    finally:
        thread.join()
    try:
        assert not up.get('failed'), up.get('msg')
        assert up['started'] == ['su-db', 'su-web']            # never the remote one
        web_start = [e for e in up['vms']['su-web']['timeline'] if e['event'].startswith('start issued')][0]
        gw_events = [e['event'] for e in up['vms']['su-gw']['timeline']]
        assert gw_events[0] == 'on host hv-a: waiting for its probes (it is started there)'
        assert gw_events[-1] == 'ready'
        assert web_start['t'] >= opened['at'] - began - 0.05    # web waited for the port of the remote VM
        db_start = [e for e in up['vms']['su-db']['timeline'] if e['event'].startswith('start issued')][0]
        assert db_start['t'] < 0.9                              # what does not depend on it did not wait
        assert up['vms']['su-gw']['state_before'] == 'remote'
        again = engine(hv, tmp_path, vms=vms(port)).run()
        assert again['changed'] is False and not again.get('failed')
    finally:
        opened['srv'].close()


def test_a_remote_vm_that_never_answers_fails_its_dependents_with_its_name(hv, define, tmp_path):
    define('su-web', 'su-db')
    params = vms(closed_port())
    params[0]['timeout'] = 1
    up = engine(hv, tmp_path, vms=params).run()
    assert up['failed'] is True
    assert "VM 'su-gw' (tier 0) not ready: probe tcp 127.0.0.1:" in up['msg']
    assert 'su-web' not in up['started']


def test_a_stop_leaves_the_remote_vms_out_and_keeps_the_order_through_them(hv, define, tmp_path):
    define('su-a', 'su-b')
    hv.lookupByName('su-a').create()
    hv.lookupByName('su-b').create()
    chain = [{'name': 'su-a', 'tier': 0},
             {'name': 'su-x', 'after': ['su-a'], 'remote': 'hv-a', 'address': '127.0.0.1',
              'probes': [{'type': 'tcp', 'port': 1}]},
             {'name': 'su-b', 'after': ['su-x']}]
    config = normalize({'state': 'stopped', 'vms': chain})
    local = local_vms(config['vms'])
    assert [vm['name'] for vm in local] == ['su-a', 'su-b']
    assert local[1]['after'] == ['su-a']                        # su-b after su-x after su-a: still after su-a
    # the boot service's config (validated with state present) keeps the remote VM: its start waits for it
    assert [vm['name'] for vm in boot_config(normalize({'state': 'present', 'vms': chain}))['vms']] == ['su-a', 'su-x', 'su-b']
    down = engine(hv, tmp_path, state='stopped', vms=chain, grace=5).run()
    assert not down.get('failed'), down.get('msg')
    assert down['stopped'] == ['su-b', 'su-a']


@pytest.mark.parametrize('probes, word', [(None, 'running'), ([{'type': 'agent'}], 'agent'),
                                          ([{'type': 'running'}, {'type': 'tcp', 'port': 22}], 'running'),
                                          ([{'type': 'ssh', 'via': 'agent'}], 'via agent')])
def test_a_remote_vm_needs_probes_that_go_through_the_network(probes, word):
    vm = {'name': 'gw', 'remote': 'hv-a', 'address': '10.0.0.1'}
    if probes is not None:
        vm['probes'] = probes
    with pytest.raises(StrataError) as err:
        normalize({'vms': [vm, {'name': 'web', 'after': ['gw']}]})
    assert str(err.value) == ("vms[0] (gw): it runs on host hv-a, so it is waited for through the network: its "
                              "probes must be of the types tcp, ssh, http, command (not %s)" % word)


def test_a_run_says_where_its_probes_ran():
    config = normalize({'vms': [{'name': 'su-a'}], 'uri': 'qemu+ssh://root@hv2/system'})
    eng = Engine(config, None)
    where = eng.probes_from()
    assert where['hypervisor'] is False and where['uri'] == 'qemu+ssh://root@hv2/system'
    assert eng.warnings == ["the probes ran from %s, where this runs, not from the hypervisor behind "
                            "qemu+ssh://root@hv2/system: they reach the VMs' addresses as this machine does"
                            % socket.gethostname()]
    here = Engine(normalize({'vms': [{'name': 'su-a'}], 'uri': 'qemu:///system'}), None)
    assert here.probes_from()['hypervisor'] is True and here.warnings == []

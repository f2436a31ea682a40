# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run the modules in-process against libvirt's own test:///default driver.

test:///default keeps its state while at least one connection of the process is open: the
`hv` fixture holds one for the whole test, so successive module runs (each opening and closing
its own connection) see one hypervisor, and the next test starts from libvirt's pristine default
state (one 'default' network, one 'default-pool' pool, one 'test' domain).
"""


import json

import pytest

from ansible.module_utils.testing import patch_module_args

libvirt = pytest.importorskip('libvirt')
pytest.importorskip('lxml')

TEST_URI = 'test:///default'


def _remove_test_objects(conn):
    """Remove what a test made (names strata-ut-*), in case another test in this process keeps
    a test:///default connection open and so keeps the driver's state alive across tests."""
    for pool in conn.listAllStoragePools(0):
        if pool.name().startswith('strata-ut-'):
            if pool.isActive():
                for vol in pool.listAllVolumes(0):
                    vol.delete(0)
                pool.destroy()
            if pool.isPersistent():
                pool.undefine()
    for net in conn.listAllNetworks(0):
        if net.name().startswith('strata-ut-'):
            if net.isActive():
                net.destroy()
            if net.isPersistent():
                net.undefine()


@pytest.fixture
def hv():
    conn = libvirt.open(TEST_URI)
    _remove_test_objects(conn)
    yield conn
    _remove_test_objects(conn)
    conn.close()


@pytest.fixture
def run_module(hv, tmp_path, capsys):
    """run_module(module, check=False, diff=False, **params) -> the module's result dict."""
    state_dir = str(tmp_path / 'state')

    def run(module, check=False, diff=False, **params):
        params.setdefault('uri', TEST_URI)
        params.setdefault('state_dir', state_dir)
        params['_ansible_check_mode'] = check
        params['_ansible_diff'] = diff
        capsys.readouterr()
        with patch_module_args(params):
            with pytest.raises(SystemExit):
                module.main()
        return json.loads(capsys.readouterr().out)

    run.state_dir = state_dir
    return run


@pytest.fixture
def main_calls(monkeypatch):
    """main_calls(module, runner) -> (AnsibleModule's keyword arguments, the runner's arguments): what the module's
    main() builds and hands over to module_utils, neither of them run."""
    def call(module, runner):
        calls = {}
        monkeypatch.setattr(module, 'AnsibleModule', lambda **kwargs: calls.setdefault('module', kwargs))
        monkeypatch.setattr(module, runner, lambda *args: calls.setdefault('run', args))
        module.main()
        return calls['module'], calls['run']
    return call


@pytest.fixture
def four_steps(run_module):
    """check (changed) -> apply (changed) -> check (not changed) -> apply (not changed); returns the results."""
    def steps(module, **params):
        results = [run_module(module, check=True, diff=True, **params),
                   run_module(module, **params),
                   run_module(module, check=True, diff=True, **params),
                   run_module(module, **params)]
        for result in results:
            assert not result.get('failed'), result.get('msg')
        assert [r['changed'] for r in results] == [True, True, False, False], [r['actions'] for r in results]
        assert results[0]['actions'] == results[1]['actions']
        assert results[2]['actions'] == results[3]['actions'] == []
        return results
    return steps

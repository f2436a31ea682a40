# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""strata.libvirt.startup as a module, in-process against libvirt's test:///default driver."""


import pytest
import yaml

libvirt = pytest.importorskip('libvirt')

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._startup import spec
from ansible_collections.strata.libvirt.plugins.modules import startup

DOM = "<domain type='test'><name>%s</name><memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>"
VMS = [{'name': 'su-m-gw', 'tier': 0}, {'name': 'su-m-app', 'after': ['su-m-gw'], 'grace': 0}]


@pytest.fixture
def doms(hv):
    for name in ('su-m-gw', 'su-m-app'):
        hv.defineXML(DOM % name).setAutostart(1)
    yield
    for name in ('su-m-gw', 'su-m-app'):
        dom = hv.lookupByName(name)
        if dom.isActive():
            dom.destroy()
        dom.undefine()


def test_four_steps_start(run_module, hv, doms, tmp_path):
    log = tmp_path / 'startup.log'
    results = [run_module(startup, check=True, vms=VMS),
               run_module(startup, vms=VMS, log_file=str(log)),
               run_module(startup, check=True, vms=VMS),
               run_module(startup, vms=VMS)]
    assert [r.get('failed', False) for r in results] == [False] * 4, [r.get('msg') for r in results]
    assert [r['changed'] for r in results] == [True, True, False, False]
    assert results[0]['actions'] == results[1]['actions'] == ["start VM 'su-m-gw' (tier 0)", "start VM 'su-m-app' (tier 1)"]
    assert results[1]['started'] == ['su-m-gw', 'su-m-app']
    text = log.read_text()
    assert 'su-m-gw: ready' in text and text.index('su-m-gw: ready') < text.index('su-m-app: start issued')
    # the validated definition for the boot-time service
    config = results[1]['config']
    assert config['uri'] == 'test:///default' and [vm['name'] for vm in config['vms']] == ['su-m-gw', 'su-m-app']
    assert config['vms'][1]['after'] == ['su-m-gw'] and config['vms'][1]['grace'] == 0


def test_four_steps_stop_and_forced(run_module, hv, doms):
    run_module(startup, vms=VMS)
    results = [run_module(startup, check=True, vms=VMS, state='stopped'),
               run_module(startup, vms=VMS, state='stopped'),
               run_module(startup, check=True, vms=VMS, state='stopped'),
               run_module(startup, vms=VMS, state='stopped')]
    assert [r['changed'] for r in results] == [True, True, False, False]
    assert results[1]['stopped'] == ['su-m-app', 'su-m-gw'] and results[1]['forced'] == ['su-m-app']


def test_present_turns_autostart_off(run_module, hv, doms):
    result = run_module(startup, vms=VMS, state='present', autostart=False)
    assert result['changed'] and hv.lookupByName('su-m-gw').autostart() == 0
    assert not hv.lookupByName('su-m-gw').isActive()
    assert [t['tier'] for t in result['plan']['tiers']] == [0, 1]
    assert run_module(startup, vms=VMS, state='present', autostart=False)['changed'] is False


def test_invalid_definition_fails_before_anything(run_module, hv, doms):
    result = run_module(startup, vms=[{'name': 'su-m-gw', 'after': ['su-m-app']}, {'name': 'su-m-app', 'after': ['su-m-gw']}])
    assert result['failed'] and result['msg'].startswith('Invalid startup definition: dependency cycle: ')
    assert result['msg'].endswith('Nothing was started or stopped.')
    assert not hv.lookupByName('su-m-gw').isActive()


def test_tier_and_after_together_are_refused_by_the_argument_spec(run_module, hv, doms):
    result = run_module(startup, vms=[{'name': 'su-m-gw', 'tier': 1, 'after': ['x']}])
    assert result['failed'] and 'mutually exclusive' in result['msg']


def test_not_ready_fails_with_vm_probe_and_time(run_module, hv, doms):
    vms = [{'name': 'su-m-gw', 'timeout': 1, 'probes': [{'type': 'command', 'command': 'false', 'interval': 0.2}]}]
    result = run_module(startup, vms=vms, on_failure='stop_started')
    assert result['failed']
    assert result['msg'].startswith("VM 'su-m-gw' (tier 0) not ready: probe command false did not pass within the timeout 1 s")
    assert 'waited 1.' in result['msg'] and result['stopped'] == ['su-m-gw'] and result['running'] == []
    assert result['vms']['su-m-gw']['timeline'][0]['event'] == 'start issued (started)'


def test_module_uses_the_module_utils_spec(main_calls):
    module_args, run_args = main_calls(startup, 'run_module')
    assert module_args == dict(argument_spec=spec.argument_spec(), supports_check_mode=True, **spec.CONSTRAINTS)
    assert run_args[0] is module_args
    assert spec.argument_spec() is not spec.argument_spec()


def test_defaults_are_the_one_table_in_spec_and_documentation():
    options = yaml.safe_load(startup.DOCUMENTATION)['options']
    arguments = spec.argument_spec()
    for key, value in spec.DEFAULTS.items():
        assert arguments[key].get('default') == value and options[key].get('default') == value, key
    normalized = spec.normalize({'vms': [{'name': 'a'}]})
    assert dict((key, normalized[key]) for key in spec.DEFAULTS) == spec.DEFAULTS
    assert normalized['vms'][0]['timeout'] == spec.DEFAULTS['timeout'] and normalized['vms'][0]['grace'] == spec.DEFAULTS['grace']


def test_desired_from_params_names_the_option():
    assert spec.desired_from_params is spec.normalize
    with pytest.raises(StrataError, match=r'^grace: -1 is less than 0'):
        spec.desired_from_params({'vms': [{'name': 'a'}], 'grace': -1})

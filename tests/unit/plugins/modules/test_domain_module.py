# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""strata.libvirt.domain and domain_info end to end against libvirt's test:///default driver."""


import pytest

libvirt = pytest.importorskip('libvirt')

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.strata.libvirt.plugins.module_utils._batch import module_spec
from ansible_collections.strata.libvirt.plugins.module_utils._domain import info, resource, spec
from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.modules import domain, domain_info, volume

# test:///default has a 'default' network, a 'default-pool' pool and a running domain 'test'.
DOM = dict(name='strata-ut-dom', state='running', type='qemu', memory='512M', vcpus=1, tcg_tb_cache=128,
           disks=[{'file': '/guest/diskimage1', 'format': 'qcow2'}], interfaces=[{'network': 'default'}],
           console_log='/var/log/strata-ut-dom.log', autostart=True, cluster='ut')


def _lookup(hv, name='strata-ut-dom'):
    try:
        return hv.lookupByName(name)
    except libvirt.libvirtError:
        return None


def test_four_steps_and_truthful_check_mode(four_steps, hv):
    results = four_steps(domain, **DOM)
    check, apply_ = results[0], results[1]
    assert check['actions'] == ["define domain 'strata-ut-dom'", "start domain 'strata-ut-dom'",
                                "enable autostart of domain 'strata-ut-dom'"]
    assert check['domain'] == {'name': 'strata-ut-dom', 'exists': False}
    assert check['diff']['before']['state'] == 'absent' and check['diff']['after']['state'] == 'running'
    assert check['diff']['after']['memory'] == '512 MiB' and check['diff']['after']['tcg_tb_cache'] == 128
    dom = hv.lookupByName('strata-ut-dom')
    assert dom.isActive() and dom.autostart()
    facts = apply_['domain']
    assert facts['ownership'] == {'owned': True, 'cluster': 'ut'} and facts['state'] == 'running'
    assert facts['memory_mib'] == 512 and facts['tcg_tb_cache'] == 128 and facts['graphics'] == 'none'
    assert facts['interfaces'][0]['mac'].startswith('52:54:00')
    xml = dom.XMLDesc(0)
    assert '<graphics' not in xml and 'strata:owner' in xml and 'org.qemu.guest_agent.0' in xml
    assert results[3]['restart_required'] is False


def test_check_mode_changes_nothing(run_module, hv):
    result = run_module(domain, check=True, **DOM)
    assert result['changed'] and _lookup(hv) is None
    run_module(domain, **DOM)
    uuid = hv.lookupByName('strata-ut-dom').UUIDString()
    for params in (dict(DOM, memory='1G'), dict(DOM, state='stopped'), dict(name=DOM['name'], state='absent')):
        result = run_module(domain, check=True, **params)
        assert result['changed'] and 'stop' not in result
        dom = hv.lookupByName('strata-ut-dom')
        assert dom.isActive() and dom.UUIDString() == uuid and dom.maxMemory() == 512 * 1024


def test_modify_running_domain_then_restart(run_module, hv):
    run_module(domain, **DOM)
    mac = hv.lookupByName('strata-ut-dom').XMLDesc(0).split("mac address='")[1][:17]
    result = run_module(domain, diff=True, **dict(DOM, memory='1G', vcpus=2))
    assert result['changed'] and result['restart_required']
    assert result['actions'] == ["redefine domain 'strata-ut-dom' (memory, vcpus)"]
    assert result['diff']['before']['memory'] == '512 MiB' and result['diff']['after']['memory'] == '1 GiB'
    assert result['diff']['before']['vcpus'] == 1 and result['diff']['after']['vcpus'] == 2
    persistent = hv.lookupByName('strata-ut-dom').XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    assert "<memory unit='KiB'>1048576</memory>" in persistent and mac in persistent  # MAC kept
    again = run_module(domain, **dict(DOM, memory='1G', vcpus=2))
    assert not again['changed'] and again['restart_required']   # still pending, reported again
    restarted = run_module(domain, **dict(DOM, memory='1G', vcpus=2, restart=True))
    assert restarted['changed'] and restarted['actions'][0].startswith("restart domain 'strata-ut-dom'")
    assert restarted['stop']['method'] == 'acpi' and not restarted['restart_required']
    assert hv.lookupByName('strata-ut-dom').isActive()
    assert not run_module(domain, **dict(DOM, memory='1G', vcpus=2))['restart_required']


def test_stopped_reports_method_and_time(run_module, hv):
    run_module(domain, **DOM)
    result = run_module(domain, name=DOM['name'], state='stopped', shutdown_timeout=30)
    assert result['changed'] and result['stop']['method'] == 'acpi' and result['stop']['seconds'] >= 0
    assert result['domain']['state'] == 'shut off'
    again = run_module(domain, name=DOM['name'], state='stopped')
    assert not again['changed'] and 'stop' not in again


def test_forced_when_timeout_zero(run_module, hv):
    run_module(domain, **DOM)
    result = run_module(domain, name=DOM['name'], state='stopped', shutdown_timeout=0)
    assert result['stop']['method'] == 'forced' and 'shutdown_timeout' in result['stop']['reason']


def test_paused_domain_resumed(run_module, hv):
    run_module(domain, **DOM)
    hv.lookupByName('strata-ut-dom').suspend()
    result = run_module(domain, **DOM)
    assert result['actions'] == ["resume paused domain 'strata-ut-dom'"]
    assert hv.lookupByName('strata-ut-dom').state()[0] == libvirt.VIR_DOMAIN_RUNNING


@pytest.mark.parametrize('override, fragment', [
    (dict(memory=0), 'Option memory'),
    (dict(memory='-1G'), 'Option memory'),
    (dict(vcpus=0), 'Option vcpus'),
    (dict(vcpus=-1), 'Option vcpus'),
    (dict(name='bad/name'), 'Option name'),
    (dict(interfaces=[{'network': 'no-such-net'}]), "network 'no-such-net' does not exist"),
    (dict(disks=[{'volume': 'default-pool/missing.img'}]), 'disks[0].volume'),
    (dict(disks=[{'volume': 'nopool/x.img'}]), "storage pool 'nopool' does not exist"),
    (dict(type='kvm'), 'tcg_tb_cache'),
])
def test_bad_input_fails_before_any_change(run_module, hv, override, fragment):
    run_module(domain, **dict(DOM, state='stopped'))
    before = hv.lookupByName('strata-ut-dom').XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    result = run_module(domain, **dict(DOM, **override))
    assert result.get('failed') and fragment in result['msg'], result
    assert not result.get('changed')
    dom = hv.lookupByName('strata-ut-dom')
    assert dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) == before and not dom.isActive()


def test_foreign_domain_refused_without_adopt(run_module, hv):
    # 'test' is test:///default's own domain: no strata mark
    xml = hv.lookupByName('test').XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    for params in (dict(name='test', vcpus=1), dict(name='test', state='absent')):
        result = run_module(domain, **params)
        assert result['failed'] and 'not created by strata.libvirt' in result['msg'] and 'adopt=true' in result['msg']
    assert hv.lookupByName('test').XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) == xml
    adopted = run_module(domain, name='test', adopt=True, cluster='ut')
    assert adopted['changed'] and adopted['actions'][0].startswith("adopt domain 'test'")
    assert adopted['domain']['ownership'] == {'owned': True, 'cluster': 'ut'}
    assert not run_module(domain, name='test', cluster='ut')['changed']


def test_absent_twice_with_managed_save_and_snapshots(run_module, hv):
    run_module(domain, **DOM)
    dom = hv.lookupByName('strata-ut-dom')
    dom.snapshotCreateXML('<domainsnapshot><name>s1</name></domainsnapshot>', 0)
    dom.managedSave(0)
    result = run_module(domain, name=DOM['name'], state='absent')
    assert result['changed'] and not result.get('failed'), result.get('msg')
    assert result['actions'] == ["remove the managed save image of domain 'strata-ut-dom'",
                                 "remove the metadata of 1 snapshot(s) of domain 'strata-ut-dom' (s1)",
                                 "undefine domain 'strata-ut-dom'"]
    assert _lookup(hv) is None and result['domain'] == {'name': 'strata-ut-dom', 'exists': False}
    again = run_module(domain, name=DOM['name'], state='absent')
    assert not again['changed'] and again['actions'] == []


def test_absent_removes_only_owned_volumes(run_module, hv, monkeypatch):
    warned = []
    # record warnings where the module emits them (how they reach the result depends on what else the
    # test process imported: controller-side code routes them to its display)
    monkeypatch.setattr(AnsibleModule, 'warn', lambda self, msg: warned.append(msg))
    run_module(volume, name='strata-ut-owned.qcow2', pool='default-pool', capacity='1G')
    pool = hv.storagePoolLookupByName('default-pool')
    pool.createXML("<volume><name>strata-ut-foreign.img</name><capacity unit='M'>1</capacity></volume>", 0)
    params = dict(DOM, disks=[{'volume': 'default-pool/strata-ut-owned.qcow2'},
                              {'volume': 'strata-ut-foreign.img', 'pool': 'default-pool', 'format': 'raw'}])
    created = run_module(domain, **params)
    assert not created.get('failed'), created.get('msg')
    assert [d['format'] for d in created['domain']['disks']] == ['qcow2', 'raw']   # format read from the volume
    result = run_module(domain, name=DOM['name'], state='absent', remove_volumes=True)
    assert result['actions'][0] == "stop domain 'strata-ut-dom' (ACPI shutdown, forced off after 120s)"
    assert result['actions'][-1] == "delete volume 'strata-ut-owned.qcow2' in pool 'default-pool' (owned by strata.libvirt)"
    assert result['stop']['method'] == 'acpi'
    assert any('strata-ut-foreign.img' in w and 'does not own' in w for w in warned), warned
    names = pool.listVolumes()
    assert 'strata-ut-owned.qcow2' not in names and 'strata-ut-foreign.img' in names


def test_xml_escape_hatch(run_module, hv):
    xml = ("<domain type='qemu'><name>strata-ut-dom</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>"
           "<os><type>hvm</type></os><devices><interface type='network'><source network='default'/></interface>"
           "</devices></domain>")
    first = run_module(domain, name='strata-ut-dom', xml=xml)
    assert first['changed'] and first['domain']['ownership']['owned']
    assert not run_module(domain, name='strata-ut-dom', xml=xml)['changed']
    changed = run_module(domain, diff=True, name='strata-ut-dom', xml=xml.replace('256', '384'))
    assert changed['changed'] and changed['domain']['memory_mib'] == 384
    assert '<uuid>' not in changed['diff']['after']['xml'] and 'MiB' in changed['diff']['after']['xml']


def test_domain_info(run_module, hv):
    run_module(domain, **DOM)
    run_module(domain, **dict(DOM, name='strata-ut-other', cluster='other', state='present', autostart=None))
    everything = run_module(domain_info)
    assert sorted(d['name'] for d in everything['domains']) == ['strata-ut-dom', 'strata-ut-other', 'test']
    assert not everything['changed']
    ours = run_module(domain_info, owned_only=True)
    assert [d['name'] for d in ours['domains']] == ['strata-ut-dom', 'strata-ut-other']
    one = run_module(domain_info, check=True, cluster='ut', name=['strata-ut-dom', 'nope'])
    assert [d['name'] for d in one['domains']] == ['strata-ut-dom'] and one['missing'] == ['nope']
    facts = one['domains'][0]
    assert facts['state'] == 'running' and facts['memory_mib'] == 512 and facts['ownership']['cluster'] == 'ut'
    assert facts['interfaces'][0]['mac'] and facts['ip_source'] == 'lease'
    assert facts['uptime_seconds'] is None       # not a local qemu:// URI
    off = run_module(domain_info, name=['strata-ut-other'], guest_agent=True)['domains'][0]
    assert off['state'] == 'shut off' and off['addresses'] == [] and off['agent'] is None


def test_items_in_one_run(four_steps, run_module, hv):
    shared = dict((k, v) for k, v in DOM.items() if k not in ('name', 'console_log'))
    items = [{'name': 'strata-ut-dom'}, {'name': 'strata-ut-dom2', 'memory': '256M', 'tcg_tb_cache': 64}]
    try:
        results = four_steps(domain, items=items, **shared)
        assert results[0]['actions'][:2] == ["strata-ut-dom: define domain 'strata-ut-dom'",
                                             "strata-ut-dom: start domain 'strata-ut-dom'"]
        assert [r['item'] for r in results[1]['results']] == ['strata-ut-dom', 'strata-ut-dom2']
        assert [r['domain']['memory_mib'] for r in results[1]['results']] == [512, 256]
        assert [r['restart_required'] for r in results[3]['results']] == [False, False]
        assert [d['after']['state'] for d in results[0]['diff']] == ['running', 'running']
        assert hv.lookupByName('strata-ut-dom2').isActive() and hv.lookupByName('strata-ut-dom2').autostart()
        # a change to one item: only that one reports it, and the running domain waits for a restart
        changed = run_module(domain, items=[items[0], dict(items[1], memory='384M')], **shared)
        assert [r['changed'] for r in changed['results']] == [False, True]
        assert [r['restart_required'] for r in changed['results']] == [False, True]
        # an item that fails at run time stops the run; the error names it and what changed before it
        failed = run_module(domain, items=[dict(items[0], state='stopped'),
                                           dict(items[1], interfaces=[{'network': 'no-such-net'}])], **shared)
        assert failed['failed'] and failed['changed']
        assert failed['msg'].startswith("items[1] (strata-ut-dom2): ") and "network 'no-such-net' does not exist" in failed['msg']
        assert failed['msg'].endswith('Changed before it: strata-ut-dom.'), failed['msg']
        assert not hv.lookupByName('strata-ut-dom').isActive() and hv.lookupByName('strata-ut-dom2').isActive()
    finally:
        run_module(domain, items=[{'name': 'strata-ut-dom', 'state': 'absent'}, {'name': 'strata-ut-dom2', 'state': 'absent'}])
    assert _lookup(hv) is None and _lookup(hv, 'strata-ut-dom2') is None


def test_domain_module_uses_the_module_utils_spec(main_calls, monkeypatch):
    module_args, run_args = main_calls(domain, 'run')
    # the module takes items: its spec is the item spec made optional plus items; constraints hold per item
    assert module_args == dict(argument_spec=module_spec(spec.argument_spec()), supports_check_mode=True)
    assert run_args[0] is module_args
    calls = {}
    monkeypatch.setattr(resource, 'run_items', lambda *args: calls.setdefault('items', args))
    resource.run('the module')
    assert calls['items'][:4] == ('the module', resource.DomainResource, spec.argument_spec(), spec.CONSTRAINTS)
    assert calls['items'][4](dict(name='vm1')) == 'vm1'
    assert spec.argument_spec() is not spec.argument_spec()


def test_domain_desired_from_params_names_the_option():
    params = dict(name='strata-ut-dom', state='present', memory='lots')
    with pytest.raises(StrataError, match=r"^Option memory: "):
        spec.desired_from_params(params)
    with pytest.raises(StrataError, match=r'^Option shutdown_timeout: -1 must be 0 or more seconds'):
        spec.desired_from_params(dict(name='strata-ut-dom', state='stopped', shutdown_timeout=-1))


def test_domain_info_module_uses_the_module_utils_spec(main_calls):
    module_args, run_args = main_calls(domain_info, 'run_info')
    assert module_args == dict(argument_spec=info.argument_spec(), supports_check_mode=True, **info.CONSTRAINTS)
    assert run_args[0] is module_args


def test_domain_info_desired_from_params_names_the_option():
    with pytest.raises(StrataError, match=r"^Option name\[1\]: "):
        info.desired_from_params(dict(name=['vm1', 'bad name']))
    with pytest.raises(StrataError, match=r'^Option cluster: '):
        info.desired_from_params(dict(cluster='a/b'))
    assert info.desired_from_params(dict(name=['vm1'], ip_source='agent'))['names'] == ['vm1']


def test_removing_many_domains_reads_the_others_once_and_keeps_shared_disks_exact(run_module, hv, monkeypatch):
    """Removing the domains of a cluster in one run: every domain's definition is read once for the run (not once per
    domain removed), and which disks are still in use follows the run's own removals: a volume two of them use is
    kept when the first goes and deleted with the second."""
    warned = []
    monkeypatch.setattr(AnsibleModule, 'warn', lambda self, msg: warned.append(msg))
    names = ['strata-ut-d%d' % i for i in range(4)]
    run_module(volume, pool='default-pool', capacity='1M', cluster='ut',
               items=[{'name': n + '.qcow2'} for n in names + ['strata-ut-shared']])
    for index, name in enumerate(names):
        shared = [{'volume': 'default-pool/strata-ut-shared.qcow2'}] if index < 2 else []
        disks = [{'volume': 'default-pool/%s.qcow2' % name}] + shared
        created = run_module(domain, **dict(DOM, name=name, state='present', disks=disks, console_log=None))
        assert not created.get('failed'), created.get('msg')
    calls = []
    real = libvirt.virConnect.listAllDomains
    monkeypatch.setattr(libvirt.virConnect, 'listAllDomains', lambda self, flags=0: calls.append(1) or real(self, flags))
    result = run_module(domain, state='absent', remove_volumes=True, cluster='ut', items=[{'name': n} for n in names])
    assert result['changed'] and not result.get('failed'), result.get('msg')
    assert len(calls) == 1, calls
    assert any('strata-ut-shared.qcow2' in w and 'also used by domain(s) strata-ut-d1' in w for w in warned), warned
    assert "delete volume 'strata-ut-shared.qcow2' in pool 'default-pool' (owned by strata.libvirt)" in result['results'][1]['actions']
    left = hv.storagePoolLookupByName('default-pool').listVolumes()
    assert not [v for v in left if v.startswith('strata-ut-')], left


def test_absent_removes_the_console_log_of_this_hosts_qemu_only(run_module, hv, monkeypatch, tmp_path):
    log = tmp_path / 'strata-ut-dom.log'
    log.write_text('boot\n')
    assert not run_module(domain, **dict(DOM, console_log=str(log))).get('failed')
    kept = run_module(domain, check=True, name=DOM['name'], state='absent', remove_console_log=True)
    assert not [a for a in kept['actions'] if 'console log' in a]   # test:///default is no QEMU of this host
    from ansible_collections.strata.libvirt.plugins.module_utils import _connection
    monkeypatch.setattr(_connection, 'is_local_qemu', lambda uri: True)
    planned = run_module(domain, check=True, diff=True, name=DOM['name'], state='absent', remove_console_log=True)
    assert "delete the serial console log %s of domain 'strata-ut-dom'" % log in planned['actions']
    assert planned['diff']['before']['console_log'] == str(log) and planned['diff']['after']['console_log'] is None
    assert log.exists()
    removed = run_module(domain, name=DOM['name'], state='absent', remove_console_log=True)
    assert removed['changed'] and not log.exists() and _lookup(hv) is None
    assert not run_module(domain, name=DOM['name'], state='absent', remove_console_log=True)['changed']

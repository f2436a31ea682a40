# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""domain_info's pure parts: the selection filters and the uptime from a pid file and /proc."""


import os

from ansible_collections.strata.libvirt.plugins.module_utils._domain import info as _domain_info

OWNERS = [('b', {'owned': True, 'cluster': 'lab'}), ('a', {'owned': True, 'cluster': 'prod'}),
          ('c', {'owned': False, 'cluster': None})]


def test_select():
    assert _domain_info.select(OWNERS) == ['a', 'b', 'c']
    assert _domain_info.select(OWNERS, owned_only=True) == ['a', 'b']
    assert _domain_info.select(OWNERS, cluster='lab') == ['b']
    assert _domain_info.select(OWNERS, names=['c', 'x']) == ['c']
    assert _domain_info.select(OWNERS, names=['c'], owned_only=True) == []


def test_uptime_from_pid_file_and_proc(tmp_path):
    piddir, proc = tmp_path / 'run', tmp_path / 'proc'
    (proc / '4242').mkdir(parents=True)
    piddir.mkdir()
    (piddir / 'vm1.pid').write_text(u'4242\n')
    ticks = os.sysconf('SC_CLK_TCK')
    # comm with a space and a ')' inside: the parser splits at the last ')'
    fields = ['S'] + ['0'] * 18 + [str(100 * ticks)] + ['0'] * 10
    (proc / '4242' / 'stat').write_text(u'4242 (qemu-system (x)) %s\n' % ' '.join(fields))
    (proc / 'stat').write_text(u'cpu 1 2 3\nbtime 1000000\n')
    uptime = _domain_info.qemu_uptime('vm1', 'qemu:///system', now=1000000 + 100 + 42, proc=str(proc),
                                      pid_dirs=[str(piddir)])
    assert uptime == 42
    assert _domain_info.qemu_uptime('vm2', 'qemu:///system', proc=str(proc), pid_dirs=[str(piddir)]) is None
    assert _domain_info.qemu_uptime('vm1', 'qemu+ssh://hv1/system', proc=str(proc), pid_dirs=[str(piddir)]) is None


def test_domains_whose_agents_are_asked_are_looked_at_side_by_side(monkeypatch):
    import threading

    import libvirt

    conn = libvirt.open('test:///default')
    doms = [conn.lookupByName('test')] * 3
    both = threading.Barrier(2, timeout=10)  # two calls must be under way at once, or it breaks

    def looked(_conn, _uri, dom, ip_source, guest_agent, host_keys, snapshots):
        if host_keys:
            both.wait()
        return {'name': dom.name(), 'host_keys': host_keys}

    monkeypatch.setattr(_domain_info, 'domain_info', looked)
    ctx = type('Ctx', (), {'conn': conn, 'uri': 'test:///default'})()
    query = {'ip_source': 'none', 'guest_agent': False, 'host_keys': True, 'snapshots': False}
    assert _domain_info.all_info(ctx, doms[:2], query) == [{'name': 'test', 'host_keys': True}] * 2
    # nothing asked of the agents: one after the other (no threads for a look at libvirt alone)
    seen = []
    monkeypatch.setattr(_domain_info, 'domain_info', lambda *args: seen.append(threading.current_thread()) or {})
    _domain_info.all_info(ctx, doms, dict(query, host_keys=False))
    assert seen == [threading.main_thread()] * 3

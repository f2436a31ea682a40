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

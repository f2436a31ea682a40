# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The ownership registry of a qemu+ssh:// hypervisor is its machine's file. The "ssh" here is the URI's command=:
a script that drops the ssh options and host and runs the remote command with a real shell on this machine, so the
same argv, shell script and atomic write run as against a real host."""

import json
import os
import stat

import pytest

pytest.importorskip('lxml')

from ansible_collections.strata.libvirt.plugins.module_utils import _ownership, _remote_files
from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError

FAKE_SSH = """#!/bin/sh
printf '%s\\n' "$@" > "$(dirname "$0")/argv"
while [ "$1" != "--" ]; do shift; done
shift 2
exec /bin/sh -c "$1"
"""


@pytest.fixture
def ssh(tmp_path):
    path = tmp_path / 'ssh'
    path.write_text(FAKE_SSH)
    path.chmod(0o755)
    return str(path)


def test_ssh_target_follows_libvirts_ssh_transport():
    target = _remote_files.ssh_target('qemu+ssh://admin@hv1:2222/system?keyfile=/k/id&no_verify=1&command=/opt/ssh')
    assert target['argv'] == ['/opt/ssh', '-p', '2222', '-l', 'admin', '-i', '/k/id', '-T', '-e', 'none',
                              '-o', 'StrictHostKeyChecking=no', '-o', 'BatchMode=yes', '--', 'hv1']
    assert target['local_uri'] == 'qemu:///system' and target['host'] == 'hv1'
    assert _remote_files.ssh_target('qemu+ssh://hv1/session')['argv'][0] == 'ssh'
    assert _remote_files.ssh_target('qemu+ssh://hv1/session')['local_uri'] == 'qemu:///session'
    for uri in ('qemu:///system', 'test:///default', 'qemu+tls://hv1/system', 'qemu+libssh2://hv1/system',
                'qemu+unix:///system', ''):
        assert _remote_files.ssh_target(uri) is None, uri


def test_registry_through_ssh_is_the_hosts_own_file(tmp_path, ssh):
    state = str(tmp_path / 'state')
    remote_uri = 'qemu+ssh://root@hv1/system?keyfile=/k/id&command=%s' % ssh
    # written through qemu+ssh, read by a module on the host against qemu:///system
    _ownership.OwnerRegistry(state, remote_uri).load().record('pools', 'uuid-1', 'c1', name='c1')
    local = _ownership.OwnerRegistry(state, 'qemu:///system').load()
    assert local.get('pools', 'uuid-1') == {'owned': True, 'cluster': 'c1'}
    path = local.path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    with open(path) as handle:
        assert json.load(handle)['uri'] == 'qemu:///system'
    # and the other way round: recorded on the host, seen and forgotten through qemu+ssh
    local.record('volumes', '/pool/c1-a.qcow2', 'c1')
    remote = _ownership.OwnerRegistry(state, remote_uri).load()
    assert remote.get('volumes', '/pool/c1-a.qcow2')['owned'] and remote.get('pools', 'uuid-1')['cluster'] == 'c1'
    remote.forget('volumes', '/pool/c1-a.qcow2')
    assert not _ownership.OwnerRegistry(state, 'qemu:///system').load().get('volumes', '/pool/c1-a.qcow2')['owned']
    assert os.listdir(os.path.dirname(path)) == [os.path.basename(path)]  # no temporary file left
    with open(str(tmp_path / 'argv')) as handle:
        assert handle.read().split('\n')[:6] == ['-l', 'root', '-i', '/k/id', '-T', '-e']


def test_a_missing_remote_registry_is_empty_and_a_failing_ssh_names_the_host(tmp_path, ssh):
    state = str(tmp_path / 'nothing-here')
    registry = _ownership.OwnerRegistry(state, 'qemu+ssh://hv1/system?command=%s' % ssh).load()
    assert registry.get('pools', 'x') == {'owned': False, 'cluster': None}
    failing = tmp_path / 'ssh-down'
    failing.write_text('#!/bin/sh\necho "ssh: connect to host hv1 port 22: Connection refused" >&2\nexit 255\n')
    failing.chmod(0o755)
    with pytest.raises(StrataError, match=r"Cannot read .* on hv1 over SSH \(rc 255\): ssh: connect to host hv1"):
        _ownership.OwnerRegistry(state, 'qemu+ssh://hv1/system?command=%s' % failing).load()
    with pytest.raises(StrataError, match=r"Cannot read .* on hv1 over SSH \(/nonexistent/ssh\)"):
        _ownership.OwnerRegistry(state, 'qemu+ssh://hv1/system?command=/nonexistent/ssh').load()


def test_records_an_earlier_release_kept_on_the_controller_are_still_ours(tmp_path, ssh):
    """Earlier releases kept a qemu+ssh URI's records in this machine's file keyed by that URI: they are read too,
    and the next save moves them into the host's file."""
    state = str(tmp_path / 'state')
    remote_uri = 'qemu+ssh://root@hv1/system?command=%s' % ssh
    legacy = os.path.join(state, 'owners', '%s.json' % _ownership.uri_slug(remote_uri))
    os.makedirs(os.path.dirname(legacy))
    with open(legacy, 'w') as handle:
        json.dump({'version': 1, 'uri': remote_uri, 'pools': {'uuid-old': {'cluster': 'c1', 'name': 'c1'}}}, handle)
    registry = _ownership.OwnerRegistry(state, remote_uri).load()
    assert registry.get('pools', 'uuid-old') == {'owned': True, 'cluster': 'c1'}
    assert not _ownership.OwnerRegistry(state, 'qemu:///system').load().get('pools', 'uuid-old')['owned']
    registry.record('volumes', '/pool/c1-a.qcow2', 'c1')
    on_host = _ownership.OwnerRegistry(state, 'qemu:///system').load()
    assert on_host.get('pools', 'uuid-old')['owned'] and on_host.get('volumes', '/pool/c1-a.qcow2')['owned']
    assert not os.path.exists(legacy)
    registry.forget('pools', 'uuid-old')  # forgotten for good: the old file does not bring it back
    assert not _ownership.OwnerRegistry(state, remote_uri).load().get('pools', 'uuid-old')['owned']

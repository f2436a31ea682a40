# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""_domain/hostkeys: the keys of cloud-init's console block, and the guest agent's replies of guest-file-open,
guest-file-read and guest-file-close (recorded JSON) decoded into keys."""


import base64
import json

import pytest

from ansible_collections.strata.libvirt.plugins.module_utils._domain import hostkeys
from ansible_collections.strata.libvirt.plugins.module_utils._domain import info as _domain_info

ED25519 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKvsupau1lmQ56Apej98wl7wNvZuiMzHsG+Nqcqf8Trv'
ED25519_OTHER = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJQov53N7ejYfFw4m3MhqksarXnH9XSQhcOcnU68CGCT'
ECDSA = ('ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBI0AG6P0Ba0mF8ImcZX7i7cLl7hWX7GWTkGjq6'
         '9+e5n0oVPasjCq5Sw5SRMs3E7nDJnugLAgq9Ew6oFwy/hQrMk=')
RSA = ('ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQCiTGyU+IQK7Jl/8S1ZS/FLZzs4R3EPUjHrnlaIPO1dtghlE0Sl6tZTLmht+m2bs/nP6hRHBk8z'
       'yZjHfMHOMctlHast+fCXxdQXFz3e6lv/cT9AYq5+eXt2QYkEIEt67zJmmo38rI2xbWUh/DBQcS0z0qRC0g0+RYFxrgCmHQFOlYRWUE1kVBduiGdS'
       'qOpek74Ddw+PxeLtz0H9xe3YgzQeDW3ODOAFcFVlfjNNd/yQZNJE6FcVPKaJD1gvgsw599+w8uIVW2uS46jgu5/HJtvn+iYi7cnOLHPQkI49hCnGK'
       'yIxlX0yrCmMq7RkTcZtvUUo0aXl5NmFaom4Ms1Q5sHLDoBZgugsaWXbIxytE0hmI9rAJRtjlwwTUNXEkDqNTHl9Bg/kGBOR1jf6vcxTX3pFFr7SbL9'
       'GqfaM8FiseBkTUt1mqK2rwOwkJ+GZiGM+0cK8xY8tfDcV48m3EL44D1Yr0q1g2CyqcZxUnlV7lK9lzXz4RBABQHplxVOtp+5VXr0=')

# a serial console log as an Ubuntu cloud image writes it (kernel lines, cloud-init's prefix and timestamps)
CONSOLE = [
    b'[    0.000000] Linux version 6.1.0-18-cloud-amd64\r\n',
    b'[   11.402113] cloud-init[512]: Cloud-init v. 23.4 running \'modules:final\'\r\n',
    b'<14>Feb  1 10:00:02 cloud-init: #############################################################\r\n',
    b'<14>Feb  1 10:00:02 cloud-init: -----BEGIN SSH HOST KEY FINGERPRINTS-----\r\n',
    b'<14>Feb  1 10:00:02 cloud-init: 256 SHA256:1xEUAPMtx6Qmb2m08U7uzOwS+yN+n3gN0nTjYy78W9w root@web1 (ED25519)\r\n',
    b'<14>Feb  1 10:00:02 cloud-init: -----END SSH HOST KEY FINGERPRINTS-----\r\n',
    b'-----BEGIN SSH HOST KEY KEYS-----\r\n',
    ('%s root@web1\r\n' % ECDSA).encode(),
    ('%s root@web1\r\n' % ED25519).encode(),
    b'-----END SSH HOST KEY KEYS-----\r\n',
    b'[   12.000001] cloud-init[512]: Cloud-init v. 23.4 finished\r\n',
    b'\xff\xfe binary noise \x1b[0m\r\n',
]


def test_parse_key_checks_the_blob():
    assert hostkeys.parse_key(ED25519 + ' root@web1\n') == ED25519
    assert hostkeys.parse_key('ec2: ' + RSA) == RSA
    assert hostkeys.parse_key('[   25.1] cloud-init[9]: %s root@x' % ECDSA) == ECDSA
    # the algorithm named outside does not match the blob's
    assert hostkeys.parse_key('ssh-rsa ' + ED25519.split()[1]) is None
    assert hostkeys.parse_key('ecdsa-sha2-nistp384 ' + ECDSA.split()[1]) is None
    # cut short, not base64, unknown or ancient algorithms, part of a word
    assert hostkeys.parse_key(ED25519[:-8]) is None
    assert hostkeys.parse_key('ssh-ed25519 AAAA!!!!') is None
    assert hostkeys.parse_key('ssh-dss AAAAB3NzaC1kc3MAAACBAP') is None
    assert hostkeys.parse_key('xssh-ed25519 ' + ED25519.split()[1]) is None
    assert hostkeys.parse_key('') is None


def test_console_block_with_prefixes_and_noise():
    assert hostkeys.console_keys(CONSOLE) == [ED25519, ECDSA]
    prefixed = ['ec2: -----BEGIN SSH HOST KEY KEYS-----', 'ec2: %s root@web1' % RSA,
                '[   30.5] cloud-init[700]: %s' % ED25519, 'ec2: -----END SSH HOST KEY KEYS-----']
    assert hostkeys.console_keys(prefixed) == [ED25519, RSA]


def test_console_the_last_complete_block_counts():
    later = ['-----BEGIN SSH HOST KEY KEYS-----', ED25519_OTHER, '-----END SSH HOST KEY KEYS-----']
    assert hostkeys.console_keys(CONSOLE + later) == [ED25519_OTHER]
    # a block still being written does not count: the one before does
    assert hostkeys.console_keys(CONSOLE + later[:2]) == [ED25519, ECDSA]
    assert hostkeys.console_keys(later[:2]) is None
    assert hostkeys.console_keys(CONSOLE[:3]) is None
    assert hostkeys.console_keys([later[0], 'garbage', later[2]]) == []


def test_console_a_boot_after_the_block_is_told():
    assert hostkeys.console_scan(CONSOLE) == ([ED25519, ECDSA], 'current')
    # the guest booted again (a reboot, or a new domain with the same log): the block is from an earlier boot
    again = CONSOLE + [b'[    0.000000] Linux version 6.1.0-18-cloud-amd64 (debian-kernel@lists.debian.org)\r\n']
    assert hostkeys.console_scan(again) == ([ED25519, ECDSA], 'earlier')
    assert hostkeys.console_scan(again + CONSOLE[6:10]) == ([ED25519, ECDSA], 'current')
    assert hostkeys.console_scan(['Linux version 6.1']) == (None, None)


def test_read_console(tmp_path):
    log = tmp_path / 'web1-console.log'
    log.write_bytes(b''.join(CONSOLE))
    assert hostkeys.read_console(str(log)) == ([ED25519, ECDSA], None, 'current')
    keys, error, _boot = hostkeys.read_console(str(tmp_path / 'none.log'))
    assert keys is None and 'cannot read' in error and 'No such file' in error
    log.write_bytes(b''.join(CONSOLE[:3]))
    assert hostkeys.read_console(str(log))[1].startswith('no complete -----BEGIN SSH HOST KEY KEYS----- block')
    assert hostkeys.read_console(None)[1] == 'the domain has no serial console log file'
    assert 'on the libvirt host' in hostkeys.read_console(str(log), local=False)[1]


def _b64(text):
    return base64.b64encode(text.encode()).decode()


def test_agent_replies_decoded():
    assert hostkeys.agent_reply('{"return": 1000}', 'open') == 1000
    assert hostkeys.open_handle(1000) == 1000
    for bad in (True, '1000', None, {'handle': 1}):
        with pytest.raises(hostkeys.AgentError, match='not a file handle'):
            hostkeys.open_handle(bad)
    reply = json.dumps({'return': {'count': 9, 'buf-b64': _b64('ssh-ed255'), 'eof': False}})
    assert hostkeys.read_chunk(hostkeys.agent_reply(reply, 'read')) == (b'ssh-ed255', False)
    assert hostkeys.read_chunk({'count': 0, 'buf-b64': '', 'eof': True}) == (b'', True)
    assert hostkeys.agent_reply('{"return": {}}', 'close') == {}
    with pytest.raises(hostkeys.AgentError, match='count 5, but 9 bytes'):
        hostkeys.read_chunk({'count': 5, 'buf-b64': _b64('ssh-ed255'), 'eof': True})
    with pytest.raises(hostkeys.AgentError, match='not base64'):
        hostkeys.read_chunk({'count': 3, 'buf-b64': '!!!!', 'eof': True})
    with pytest.raises(hostkeys.AgentError, match='has no buf-b64'):
        hostkeys.read_chunk({'count': 3})
    error = '{"error": {"class": "GenericError", "desc": "Command guest-file-open has been disabled"}}'
    with pytest.raises(hostkeys.AgentError, match='^open: Command guest-file-open has been disabled$'):
        hostkeys.agent_reply(error, 'open')
    for bad in ('not json', '[1]', '{"id": 1}', None):
        with pytest.raises(hostkeys.AgentError):
            hostkeys.agent_reply(bad, 'open')


class Recorded(object):
    """Replies recorded from a guest agent, by command and path, in the order they came."""

    def __init__(self, files, fail_open=None):
        self.files, self.fail_open, self.sent, self.handles = files, fail_open, [], {}

    def __call__(self, cmd):
        self.sent.append(cmd)
        args = cmd.get('arguments', {})
        if cmd['execute'] == 'guest-file-open':
            if self.fail_open:
                return json.dumps({'error': {'class': 'GenericError', 'desc': self.fail_open}})
            if args['path'] not in self.files:
                return json.dumps({'error': {'class': 'GenericError', 'desc': "failed to open file '%s' (mode: 'r'): "
                                             'No such file or directory' % args['path']}})
            handle = 1000 + len(self.handles)
            self.handles[handle] = list(self.files[args['path']])
            return json.dumps({'return': handle})
        if cmd['execute'] == 'guest-file-read':
            chunks = self.handles[args['handle']]
            data = chunks.pop(0) if chunks else ''
            return json.dumps({'return': {'count': len(data), 'buf-b64': _b64(data), 'eof': not chunks}})
        if cmd['execute'] == 'guest-file-close':
            del self.handles[args['handle']]
            return '{"return": {}}'
        raise AssertionError(cmd)


def test_agent_file_reads_in_chunks_and_closes():
    run = Recorded({'/etc/ssh/ssh_host_rsa_key.pub': [RSA[:300], RSA[300:] + ' root@web1\n']})
    assert hostkeys.agent_file(run, '/etc/ssh/ssh_host_rsa_key.pub') == (RSA + ' root@web1\n').encode()
    assert [c['execute'] for c in run.sent] == ['guest-file-open', 'guest-file-read', 'guest-file-read', 'guest-file-close']
    assert run.sent[0]['arguments'] == {'path': '/etc/ssh/ssh_host_rsa_key.pub', 'mode': 'r'}
    assert run.handles == {}
    # a file larger than a key file is refused, and closed all the same
    run = Recorded({'/big': ['x' * 40000] * 3})
    with pytest.raises(hostkeys.AgentError, match='more than 65536 bytes'):
        hostkeys.agent_file(run, '/big')
    assert run.handles == {} and run.sent[-1]['execute'] == 'guest-file-close'


def test_agent_keys():
    run = Recorded({'/etc/ssh/ssh_host_ed25519_key.pub': [ED25519 + ' root@web1\n'],
                    '/etc/ssh/ssh_host_rsa_key.pub': [RSA + ' root@web1\n']})
    assert hostkeys.agent_keys(run) == ([ED25519, RSA], None)  # ecdsa is not there: skipped
    assert hostkeys.agent_keys(Recorded({})) == (None, 'none of /etc/ssh/ssh_host_ed25519_key.pub, '
                                                       '/etc/ssh/ssh_host_ecdsa_key.pub, /etc/ssh/ssh_host_rsa_key.pub exists')
    keys, error = hostkeys.agent_keys(Recorded({}, fail_open='Command guest-file-open has been disabled'))
    assert keys is None and error.endswith('Command guest-file-open has been disabled')
    keys, error = hostkeys.agent_keys(Recorded({'/etc/ssh/ssh_host_ed25519_key.pub': ['not a key\n']}))
    assert keys is None and error == '/etc/ssh/ssh_host_ed25519_key.pub does not hold an SSH host public key'

    def not_connected(cmd):
        raise hostkeys.AgentError('%s: Guest agent is not responding: QEMU guest agent is not connected' % cmd['execute'])
    assert hostkeys.agent_keys(not_connected) == (None, 'guest-file-open: Guest agent is not responding: '
                                                        'QEMU guest agent is not connected')


def test_domain_info_takes_the_option():
    assert _domain_info.argument_spec()['host_keys'] == {'type': 'bool', 'default': False}
    assert _domain_info.desired_from_params({'host_keys': True})['host_keys'] is True
    assert _domain_info.desired_from_params({})['host_keys'] is False
    assert hostkeys.not_running() == {'keys': [], 'source': None, 'error': 'the domain is not running'}

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The SSH host public keys of a running domain, read over channels that do not go through the network.

1. The QEMU guest agent: guest-file-open, guest-file-read (base64 in buf-b64) and guest-file-close of
   /etc/ssh/ssh_host_<type>_key.pub for the types ed25519, ecdsa and rsa (the files that exist).
2. When the agent gives none (not installed, not started yet, or its file commands disabled, as some
   distributions do): the serial console log, the last complete block cloud-init writes between
   `-----BEGIN SSH HOST KEY KEYS-----` and `-----END SSH HOST KEY KEYS-----` (lines may carry a prefix such as
   `ec2: ` or a timestamp). The log is appended to at every boot, so the last block is the newest one; whether the
   guest booted again after it (a kernel banner `Linux version ...` follows) is reported, because the log of a
   domain created anew may still end with the block of the domain it replaces until the new guest writes its own.

    host_keys(dom, console_log, local=True) -> {'keys': ['ssh-ed25519 AAAA...', ...] (type and base64 only),
                                                'source': 'agent' | 'console' | None,
                                                'error': why neither channel gave keys, or None,
                                                'agent_error': why the agent gave none (with source console),
                                                'console_boot': 'current' (no boot after the block, or no kernel
                                                                banner in the log) | 'earlier' (with source console)}

Every key is checked: a known host key algorithm and a base64 blob that holds that algorithm's fields.
The parsing and decoding are pure functions (parse_key, console_scan, agent_reply, open_handle, read_chunk,
agent_file, agent_keys with a callable that sends one command and returns the reply text).

Private to strata.libvirt; no compatibility promise.
"""

import base64
import binascii
import json
import re
import struct

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.strata.libvirt.plugins.module_utils import _connection

try:
    import libvirt_qemu
    HAS_LIBVIRT_QEMU = True
except ImportError:
    libvirt_qemu = None
    HAS_LIBVIRT_QEMU = False

KEY_TYPES = ('ed25519', 'ecdsa', 'rsa')          # the files read through the agent, in this order
KEY_PATH = '/etc/ssh/ssh_host_%s_key.pub'
# host key algorithm -> number of SSH strings in its blob (the name included); the order keys are reported in
ALGORITHMS = (('ssh-ed25519', 2), ('ecdsa-sha2-nistp256', 3), ('ecdsa-sha2-nistp384', 3),
              ('ecdsa-sha2-nistp521', 3), ('ssh-rsa', 3))
FIELDS = dict(ALGORITHMS)
ORDER = dict((name, index) for index, (name, _count) in enumerate(ALGORITHMS))
BEGIN = '-----BEGIN SSH HOST KEY KEYS-----'
END = '-----END SSH HOST KEY KEYS-----'
BOOT_RE = re.compile(r'(?:^|[\s\]])Linux version \d')     # the kernel's first line on the console
KEY_RE = re.compile(r'(?:^|(?<=[\s:\]>]))(%s)\s+([A-Za-z0-9+/]+={0,2})(?=\s|$)'
                    % '|'.join(re.escape(name) for name, _count in ALGORITHMS))
AGENT_TIMEOUT = 5                # seconds per guest agent command
READ_CHUNK = 16384               # bytes asked for per guest-file-read
READ_LIMIT = 65536               # bytes of a public key file at most
MISSING_TEXTS = ('No such file or directory',)  # what the agent says of a file that is not there


class AgentError(Exception):
    """A guest agent command failed or answered something unexpected."""


def _blob_fields(blob):
    """The SSH strings of a key blob (uint32 length + bytes each), or None when they do not fill it exactly."""
    fields, offset = [], 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            return None
        (length,) = struct.unpack('>I', blob[offset:offset + 4])
        offset += 4
        if offset + length > len(blob):
            return None
        fields.append(blob[offset:offset + length])
        offset += length
    return fields


def parse_key(text):
    """'type base64' of the first host public key in a line of text (a .pub file, a known_hosts or console
    line), or None. The blob must decode and hold the fields of its algorithm."""
    match = KEY_RE.search(to_text(text, errors='surrogate_or_replace'))
    if not match:
        return None
    name, data = match.group(1), match.group(2)
    try:
        blob = base64.b64decode(data.encode('ascii'), validate=True)
    except (binascii.Error, ValueError):
        return None
    fields = _blob_fields(blob)
    if not fields or len(fields) != FIELDS[name] or fields[0] != name.encode('ascii'):
        return None
    if name == 'ssh-ed25519' and len(fields[1]) != 32:
        return None
    if name.startswith('ecdsa-') and fields[1] != name.rsplit('-', 1)[1].encode('ascii'):
        return None
    return '%s %s' % (name, data)


def sorted_keys(keys):
    """The keys without duplicates, in the order of ALGORITHMS (then by text)."""
    return sorted(set(keys), key=lambda key: (ORDER.get(key.split(' ', 1)[0], len(ORDER)), key))


def console_scan(lines):
    """(keys, boot) of the last complete block cloud-init wrote to the console, from the log's lines (text or
    bytes): keys None when there is no complete block; boot 'earlier' when a kernel banner follows the block (the
    guest booted again since), else 'current'."""
    last = current = None
    booted = False
    for raw in lines:
        line = to_text(raw, errors='surrogate_or_replace')
        if BEGIN in line:
            current = []
        elif current is not None and END in line:
            last, current, booted = current, None, False
        elif current is not None:
            key = parse_key(line)
            if key:
                current.append(key)
        elif BOOT_RE.search(line):
            booted = True
    if last is None:
        return None, None
    return sorted_keys(last), 'earlier' if booted else 'current'


def console_keys(lines):
    """The keys of the last complete block (console_scan), None when there is none."""
    return console_scan(lines)[0]


def read_console(path, local=True):
    """(keys, None, boot) from the console log at path (see console_scan), or (None, why not, None)."""
    if not path:
        return None, 'the domain has no serial console log file', None
    if not local:
        return None, 'its log %s is on the libvirt host, which this connection does not reach as files' % path, None
    try:
        with open(path, 'rb') as handle:
            keys, boot = console_scan(handle)
    except (IOError, OSError) as exc:
        return None, 'cannot read %s: %s' % (path, to_text(exc.strerror or exc)), None
    if not keys:
        return None, 'no complete %s block in %s (yet)' % (BEGIN, path), None
    return keys, None, boot


def command(execute, **arguments):
    """A guest agent command as a dict (sent as JSON)."""
    out = {'execute': execute}
    if arguments:
        out['arguments'] = arguments
    return out


def agent_reply(reply, what):
    """The `return` value of a guest agent reply (JSON text); AgentError with the agent's own words otherwise."""
    try:
        data = json.loads(reply)
    except (TypeError, ValueError):
        raise AgentError('%s: unreadable reply %r' % (what, to_text(reply)[:200]))
    if not isinstance(data, dict):
        raise AgentError('%s: unexpected reply %r' % (what, to_text(reply)[:200]))
    if 'error' in data:
        error = data['error'] if isinstance(data['error'], dict) else {'desc': data['error']}
        raise AgentError('%s: %s' % (what, error.get('desc') or error.get('class') or 'failed'))
    if 'return' not in data:
        raise AgentError('%s: reply without a return value %r' % (what, to_text(reply)[:200]))
    return data['return']


def open_handle(value):
    """The file handle guest-file-open returned."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise AgentError('guest-file-open: %r is not a file handle' % (value,))
    return value


def read_chunk(value):
    """(bytes, eof) of what guest-file-read returned: {count, buf-b64, eof}."""
    if not isinstance(value, dict) or not isinstance(value.get('buf-b64'), str):
        raise AgentError('guest-file-read: %r has no buf-b64' % (value,))
    try:
        data = base64.b64decode(value['buf-b64'].encode('ascii'), validate=True)
    except (binascii.Error, ValueError):
        raise AgentError('guest-file-read: buf-b64 is not base64')
    if value.get('count') is not None and value['count'] != len(data):
        raise AgentError('guest-file-read: count %r, but %d bytes in buf-b64' % (value['count'], len(data)))
    return data, bool(value.get('eof'))


def agent_file(run, path, limit=READ_LIMIT):
    """The content of a guest file through the agent; run(command dict) returns the reply text."""
    handle = open_handle(agent_reply(run(command('guest-file-open', path=path, mode='r')), 'guest-file-open %s' % path))
    chunks, size = [], 0
    try:
        while True:
            data, eof = read_chunk(agent_reply(run(command('guest-file-read', handle=handle, count=READ_CHUNK)),
                                               'guest-file-read %s' % path))
            chunks.append(data)
            size += len(data)
            if size > limit:
                raise AgentError('%s: more than %d bytes, not a public key file' % (path, limit))
            if eof or not data:
                break
    finally:
        try:
            agent_reply(run(command('guest-file-close', handle=handle)), 'guest-file-close %s' % path)
        except AgentError:
            pass  # what was read stands; the agent drops the handle with its process at the latest
    return b''.join(chunks)


def is_missing(error):
    return any(text in to_text(error) for text in MISSING_TEXTS)


def agent_keys(run):
    """(keys, None) of the host key files the agent reads, or (None, why not). A file that is not there is
    skipped; any other failure stops (the console is asked instead)."""
    keys, missing = [], []
    for kind in KEY_TYPES:
        path = KEY_PATH % kind
        try:
            content = agent_file(run, path)
        except AgentError as exc:
            if is_missing(exc):
                missing.append(path)
                continue
            return None, to_text(exc)
        key = parse_key(content)
        if key is None:
            return None, '%s does not hold an SSH host public key' % path
        keys.append(key)
    if not keys:
        return None, 'none of %s exists' % ', '.join(missing)
    return sorted_keys(keys), None


def agent_run(dom, timeout=AGENT_TIMEOUT):
    """A run(command) for agent_keys: one qemuAgentCommand per command, libvirt's errors as AgentError."""
    def run(cmd):
        if not HAS_LIBVIRT_QEMU:
            raise AgentError('the libvirt_qemu binding (part of libvirt-python) is not importable')
        try:
            return libvirt_qemu.qemuAgentCommand(dom, json.dumps(cmd), int(timeout), 0)
        except _connection.libvirt.libvirtError as exc:
            raise AgentError('%s: %s' % (cmd['execute'], _connection.error_text(exc)))
    return run


def host_keys(dom, console_log, local=True, timeout=AGENT_TIMEOUT):
    """The host keys of a running domain (see the module's docstring)."""
    keys, agent_error = agent_keys(agent_run(dom, timeout))
    if keys:
        return {'keys': keys, 'source': 'agent', 'error': None}
    keys, console_error, boot = read_console(console_log, local)
    if keys:
        return {'keys': keys, 'source': 'console', 'error': None, 'agent_error': agent_error, 'console_boot': boot}
    return {'keys': [], 'source': None, 'error': 'guest agent: %s; serial console: %s' % (agent_error, console_error)}


def not_running():
    return {'keys': [], 'source': None, 'error': 'the domain is not running'}

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cluster's SSH key pair on the controller (ssh_private_key_file), looked at where the filters run, before
any change: a pair that is there must be usable as it is, a pair that is missing must be one the cluster role can
make (mkdir -p of its directory, then ssh-keygen).

    inspect(value) -> {'path': the path with ~ expanded (None when unset),
                       'state': 'unset' | 'present' | 'missing' (and can be made) | 'invalid',
                       'problem': one line naming ssh_private_key_file and the path, or None}

Private to strata.libvirt; no compatibility promise.
"""

import os
import re
import stat
import tempfile

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.strata.libvirt.plugins.module_utils._cluster.definition import SSH_KEY_RE

FIELD = 'ssh_private_key_file'
# OpenSSH's own format and the PEM ones (PKCS#1 RSA, DSA, SEC1 EC, PKCS#8 plain or encrypted)
PRIVATE_KEY_RE = re.compile(r'^-----BEGIN ((OPENSSH|RSA|DSA|EC|ENCRYPTED) )?PRIVATE KEY-----\s*$', re.M)
READ_LIMIT = 64 * 1024          # bytes read of a key file: far more than any key holds
PROBE_PREFIX = '.strata-probe-'


def inspect(value):
    """What the cluster role finds at ssh_private_key_file (see the module's docstring)."""
    if value is None or value == '':
        return {'path': None, 'state': 'unset', 'problem': None}
    if not isinstance(value, str):
        return {'path': None, 'state': 'invalid', 'problem': '%s: %r is not a path' % (FIELD, value)}
    path = os.path.expanduser(value)
    if os.path.lexists(path):
        problem = _present_problem(path)
        state = 'present'
    else:
        problem = _creatable_problem(path)
        state = 'missing'
    return {'path': path, 'state': 'invalid' if problem else state, 'problem': problem}


def _reason(exc):
    return to_text(exc.strerror or exc)


def _read(path, shown):
    """(the start of a regular file as text, None) or (None, why it cannot be used); shown: the file in messages."""
    try:
        info = os.stat(path)
    except OSError as exc:
        if os.path.islink(path):
            return None, '%s: %s is a symbolic link to %s, which does not exist' % (FIELD, shown, os.readlink(path))
        return None, '%s: %s cannot be read: %s' % (FIELD, shown, _reason(exc))
    if stat.S_ISDIR(info.st_mode):
        return None, '%s: %s is a directory, not a key file' % (FIELD, shown)
    if not stat.S_ISREG(info.st_mode):
        return None, '%s: %s is not a regular file' % (FIELD, shown)
    try:
        with open(path, 'rb') as handle:
            return to_text(handle.read(READ_LIMIT), errors='surrogate_or_replace'), None
    except (IOError, OSError) as exc:
        return None, '%s: %s cannot be read: %s' % (FIELD, shown, _reason(exc))


def _present_problem(path):
    """Why the key pair at path cannot be used, or None."""
    text, problem = _read(path, path)
    if problem:
        return problem
    if not PRIVATE_KEY_RE.search(text):
        return ('%s: %s holds no private key (no -----BEGIN OPENSSH PRIVATE KEY----- or other PEM private key '
                'armour)' % (FIELD, path))
    pub = path + '.pub'
    if not os.path.lexists(pub):
        return ('%s: %s has no public key next to it: %s is missing (ssh-keygen -y -f %s > %s writes it)'
                % (FIELD, path, pub, path, pub))
    text, problem = _read(pub, '%s (its public key)' % pub)
    if problem:
        return problem
    lines = text.strip().splitlines()
    if not lines or not SSH_KEY_RE.match(lines[0].strip()):
        return '%s: %s is not an OpenSSH public key (such as ssh-ed25519 AAAA... comment)' % (FIELD, pub)
    return None


def _creatable_problem(path):
    """Why the key pair cannot be made at path (missing), or None. The nearest existing ancestor must be a directory
    in which the first missing directory (or, when that is the key's own directory, the key file) can really be made:
    a probe is made there and removed at once."""
    if path.endswith('/'):
        return '%s: %s ends with /; give the path of the key file' % (FIELD, path)
    directory = os.path.dirname(os.path.abspath(path))
    ancestor = directory
    while not os.path.lexists(ancestor):
        ancestor = os.path.dirname(ancestor)
    what = '%s: %s cannot be created' % (FIELD, path)
    if not os.path.isdir(ancestor):
        return '%s: %s is not a directory' % (what, ancestor)
    try:
        if ancestor == directory:
            handle, probe = tempfile.mkstemp(prefix=PROBE_PREFIX, dir=ancestor)
            os.close(handle)
            os.unlink(probe)
        else:
            os.rmdir(tempfile.mkdtemp(prefix=PROBE_PREFIX, dir=ancestor))
    except (IOError, OSError) as exc:
        return '%s: no %s can be made in %s (%s)' % (what, 'file' if ancestor == directory else 'directory', ancestor,
                                                     _reason(exc))
    return None

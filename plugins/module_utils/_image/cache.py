# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The image cache: the cached file, its verification record (the sidecar) and the temporary files beside it.

The cache is one file (``dest``) plus a small sidecar record beside it
(``.<name>.strata-image.json``) that holds the digests of the verified *source* (what was
downloaded, possibly compressed), how it was transformed, and the identity (size, mtime, inode)
and sha256 of the resulting file. A later run with the same checksum compares digests with the
sidecar instead of re-hashing (or re-downloading) anything.

Every intermediate file is a dot-named temporary file beside ``dest``; only the final, verified
image is renamed onto ``dest``.

Private to strata.libvirt; no compatibility promise.
"""

import json
import os
import tempfile

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._connection import make_dirs, replace_file

DEFAULT_CACHE_DIR = '/var/lib/strata-libvirt/images'
SIDECAR_VERSION = 1
TEMP_MARK = '.strata-tmp-'
# The cached image, its sidecar and the cache directory are readable by all (QEMU may read a cached image as a
# backing file) and writable by their owner only. Neither holds a secret: a password in the source URL is redacted
# before it is recorded (source.redact_url).
FILE_MODE = 0o644
DIR_MODE = 0o755


def sidecar_path(dest):
    head, tail = os.path.split(dest)
    return os.path.join(head, '.%s.strata-image.json' % tail)


def identity(stat):
    return {'size': stat.st_size, 'mtime_ns': stat.st_mtime_ns, 'inode': stat.st_ino}


def cache_status(record, ident, want):
    """PURE: is the cached file still what is wanted? -> (True, None) or (False, reason).

    record: the sidecar (or None); ident: identity() of dest (or None when it does not exist);
    want: {'source', 'algorithm', 'digest' (None with checksum none), 'decompress', 'format'}.
    """
    if ident is None:
        return False, 'the cached image does not exist'
    if not record:
        return False, 'the cached image has no verification record'
    if record.get('version') != SIDECAR_VERSION or record.get('file') != ident:
        return False, 'the cached image was modified after it was verified'
    if record.get('decompress') != want['decompress']:
        return False, 'the decompression differs (%s, wanted %s)' % (record.get('decompress'), want['decompress'])
    if want['format'] and record.get('format') != want['format']:
        return False, 'the cached image is %s, wanted %s' % (record.get('format'), want['format'])
    if want['digest'] is None:
        if record.get('source') != want['source']:
            return False, 'the source differs and checksum is none'
        return True, None
    have = (record.get('source_digests') or {}).get(want['algorithm'])
    if have != want['digest']:
        return False, 'the checksum differs (cached %s:%s, wanted %s:%s)' % (
            want['algorithm'], have or 'unknown', want['algorithm'], want['digest'])
    return True, None


def read_sidecar(dest):
    try:
        with open(sidecar_path(dest), 'r') as handle:
            data = json.load(handle)
        return data if isinstance(data, dict) else None
    except (IOError, OSError, ValueError):
        return None


def write_sidecar(module, dest, record):
    path = sidecar_path(dest)
    fd, tmp = tempfile.mkstemp(prefix='.%s%s' % (os.path.basename(path), TEMP_MARK), dir=os.path.dirname(dest))
    try:
        with os.fdopen(fd, 'w') as handle:
            json.dump(record, handle, indent=2, sort_keys=True)
            handle.write('\n')
            handle.flush()
            os.fsync(handle.fileno())
        replace_file(module, tmp, path, FILE_MODE)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def temp_prefix(dest):
    return '.%s%s' % (os.path.basename(dest), TEMP_MARK)


def new_temp(dest, what):
    fd, path = tempfile.mkstemp(prefix=temp_prefix(dest), suffix='.' + what, dir=os.path.dirname(dest))
    os.close(fd)
    return path


def remove_stale_temps(dest):
    """Temporary files an interrupted earlier run left beside dest (we hold dest's lock)."""
    directory = os.path.dirname(dest)
    prefix = temp_prefix(dest)
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        if name.startswith(prefix):
            try:
                os.unlink(os.path.join(directory, name))
                removed.append(name)
            except OSError:
                pass
    return removed


def ensure_directory(path):
    try:
        make_dirs(path, DIR_MODE)
    except OSError as exc:
        raise StrataError("Cannot create the directory '%s' of option dest: %s" % (path, exc))
    if not os.path.isdir(path):
        raise StrataError("Option dest: '%s' is not a directory" % path)

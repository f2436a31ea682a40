# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Checksums of images: the checksum option, SUMS files, and the digests of a byte stream.

Private to strata.libvirt; no compatibility promise.
"""

import hashlib
import re

from concurrent.futures import ThreadPoolExecutor

from urllib.parse import urlsplit

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._image.source import redact_url

ALGORITHMS = {'sha256': 64, 'sha512': 128}
CHUNK = 1024 * 1024
HEX_RE = re.compile(r'^[0-9a-fA-F]+$')
# GNU coreutils: "<hex>  name" or "<hex> *name"; BSD/openssl: "SHA256 (name) = <hex>"
GNU_LINE_RE = re.compile(r'^\\?([0-9a-fA-F]+) [ *]?(.+)$')
BSD_LINE_RE = re.compile(r'^(SHA256|SHA512|SHA2-256|SHA2-512) ?\((.+)\) ?= ?([0-9a-fA-F]+)$', re.IGNORECASE)


def parse_checksum(value, option='checksum'):
    """'sha256:<hex>', 'sha512:<url>' or 'none' -> None or {'algorithm', 'digest', 'url'}.

    Returns None only for an explicit 'none' (verification skipped on purpose).
    """
    if value is None or not str(value).strip():
        raise StrataError('Option %s is required: sha256:<hex>, sha512:<hex>, sha256:<URL of a SUMS file>, '
                          'sha512:<URL>; set it to none to skip verification explicitly' % option)
    text = str(value).strip()
    if text.lower() == 'none':
        return None
    algorithm, sep, rest = text.partition(':')
    algorithm = algorithm.lower()
    if not sep or algorithm not in ALGORITHMS or not rest:
        raise StrataError("Option %s: %r is not <algorithm>:<hex digest or URL> with algorithm sha256 or sha512 "
                          "(or none)" % (option, value))
    if re.match(r'^[A-Za-z][A-Za-z0-9+.-]*://', rest):
        if urlsplit(rest).scheme not in ('http', 'https', 'file'):
            raise StrataError('Option %s: the SUMS file URL %r must be http, https or file' % (option, redact_url(rest)))
        return {'algorithm': algorithm, 'digest': None, 'url': rest}
    if not HEX_RE.match(rest) or len(rest) != ALGORITHMS[algorithm]:
        raise StrataError('Option %s: %r is not a %s digest (%d hexadecimal digits) nor a URL'
                          % (option, rest, algorithm, ALGORITHMS[algorithm]))
    return {'algorithm': algorithm, 'digest': rest.lower(), 'url': None}


def find_in_sums(text, filename, algorithm, url='the SUMS file'):
    """The digest of filename in a SUMS file (GNU or BSD layout); StrataError when absent or ambiguous."""
    want = ALGORITHMS[algorithm]
    found = set()
    names = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        match = BSD_LINE_RE.match(line)
        if match:
            digest, name = match.group(3), match.group(2)
        else:
            match = GNU_LINE_RE.match(line)
            if not match:
                continue
            digest, name = match.group(1), match.group(2)
        name = name.strip()
        if name.startswith('./'):
            name = name[2:]
        names.append(name)
        if len(digest) != want:
            continue
        if name == filename or name.rsplit('/', 1)[-1] == filename:
            found.add(digest.lower())
    if not found:
        listed = ', '.join(names[:8]) + (', ...' if len(names) > 8 else '')
        raise StrataError("Option checksum: no %s line for '%s' in %s (it lists: %s)"
                          % (algorithm, filename, url, listed or 'nothing'))
    if len(found) > 1:
        raise StrataError("Option checksum: %s lists '%s' with different %s digests" % (url, filename, algorithm))
    return found.pop()


def checksum_text(algorithm, digest):
    return '%s:%s' % (algorithm, digest) if digest else None


class Digests(object):
    """sha256 and sha512 of one byte stream, fed once (both: switching algorithm stays idempotent).

    hashlib lets go of the GIL while it hashes a large chunk, so sha512 (the slower one, about 1 s for a 430 MiB
    image) runs on a worker thread one chunk behind, overlapping sha256 and the download's or copy's I/O.
    """

    def __init__(self):
        self._pool = None
        self._pending = None
        self.reset()

    def reset(self):
        self._settle()
        self._hashes = dict((name, hashlib.new(name)) for name in ALGORITHMS)

    def _settle(self):
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def update(self, chunk):
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1)
        self._settle()  # sha512 of the previous chunk: each hash sees the chunks in order
        self._pending = self._pool.submit(self._hashes['sha512'].update, chunk)
        self._hashes['sha256'].update(chunk)

    def hexdigests(self):
        try:
            self._settle()
        finally:
            self.close()
        return dict((name, hasher.hexdigest()) for name, hasher in self._hashes.items())

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def file_digests(path):
    digests = Digests()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b''):
            digests.update(chunk)
    return digests.hexdigests()

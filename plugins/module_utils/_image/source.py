# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The source of an image: where it comes from, how it is compressed, and the name of its cached file.

Private to strata.libvirt; no compatibility promise.
"""

import os

from urllib.parse import unquote, urlsplit

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError

COMPRESSIONS = (('.zst', 'zstd'), ('.zstd', 'zstd'), ('.xz', 'xz'), ('.gz', 'gz'), ('.bz2', 'bz2'))
METHODS = ('zstd', 'xz', 'gz', 'bz2')


def source_info(source, option='source'):
    """http(s)/file URL or absolute local path -> {'kind': 'url'|'file', 'location', 'name'}."""
    text = (source or '').strip()
    if not text:
        raise StrataError('Option %s: empty' % option)
    parts = urlsplit(text)
    if parts.scheme in ('http', 'https'):
        name = unquote(parts.path.rsplit('/', 1)[-1])
        if not name:
            raise StrataError('Option %s: the URL %r does not end with a file name' % (option, text))
        return {'kind': 'url', 'location': text, 'name': name}
    if parts.scheme == 'file':
        path = unquote(parts.path)
    elif parts.scheme and len(parts.scheme) > 1:
        raise StrataError('Option %s: unsupported URL scheme %r; use http, https, file or a local path'
                          % (option, parts.scheme))
    else:
        path = text
    if not os.path.isabs(path):
        raise StrataError('Option %s: %r is not an absolute path on the managed node' % (option, path))
    return {'kind': 'file', 'location': os.path.normpath(path), 'name': os.path.basename(path)}


def compression_of(name, decompress):
    """The decompression method for a source file name: explicit, 'auto' (by extension) or none."""
    if decompress in METHODS:
        return decompress
    if decompress in (None, 'none', False):
        return None
    lower = name.lower()
    for suffix, method in COMPRESSIONS:
        if lower.endswith(suffix):
            return method
    return None


def cached_name(name, method):
    """File name of the cached image: the source's name without its compression suffix."""
    if method:
        lower = name.lower()
        for suffix, m in COMPRESSIONS:
            if m == method and lower.endswith(suffix) and len(name) > len(suffix):
                return name[:-len(suffix)]
    return name

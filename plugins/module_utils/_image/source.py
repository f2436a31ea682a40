# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The source of an image: where it comes from, how it is compressed, and the name of its cached file.

Private to strata.libvirt; no compatibility promise.
"""

import os
import re

from urllib.parse import unquote, urlsplit, urlunsplit

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError

COMPRESSIONS = (('.zst', 'zstd'), ('.zstd', 'zstd'), ('.xz', 'xz'), ('.gz', 'gz'), ('.bz2', 'bz2'))
METHODS = ('zstd', 'xz', 'gz', 'bz2')
REDACTED = '<redacted>'
# query parameters that carry credentials (?token=, S3's X-Amz-Signature / X-Amz-Credential, Azure's sig=, ...)
_SECRET_QUERY_RE = re.compile(r'passw|secret|token|signature|credential|auth|key$|^sig$', re.IGNORECASE)


def redact_url(url):
    """url as it may be shown and recorded: the password of user:password@ (a user name without a password, often a
    token, as a whole) and the values of query parameters that carry credentials replaced by <redacted>; the user
    name and the host stay, to tell sources apart. Any other text is returned as it is."""
    text = str(url)
    parts = urlsplit(text)
    if not parts.scheme or not parts.netloc:
        return text
    netloc = parts.netloc
    if '@' in netloc:
        userinfo, host = netloc.rsplit('@', 1)
        user, colon, dummy = userinfo.partition(':')
        netloc = ('%s:%s@%s' % (user, REDACTED, host)) if colon else ('%s@%s' % (REDACTED, host))
    query = '&'.join(_redacted_pair(pair) for pair in parts.query.split('&')) if parts.query else ''
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _redacted_pair(pair):
    name, sep, value = pair.partition('=')
    return (name + '=' + REDACTED) if sep and value and _SECRET_QUERY_RE.search(unquote(name)) else pair


def url_secrets(url):
    """The credentials in url that must never be shown (as redact_url hides them, raw and decoded), for the
    module's no_log values: the module arguments Ansible reports (invocation) hold the URL as given."""
    parts = urlsplit(str(url))
    secrets = set()
    if '@' in parts.netloc:
        user, colon, password = parts.netloc.rsplit('@', 1)[0].partition(':')
        secret = password if colon else user
        if secret:
            secrets.update((secret, unquote(secret)))
    for pair in parts.query.split('&') if parts.query else ():
        name, sep, value = pair.partition('=')
        if sep and value and _SECRET_QUERY_RE.search(unquote(name)):
            secrets.update((value, unquote(value)))
    return secrets


def source_info(source, option='source'):
    """http(s)/file URL or absolute local path -> {'kind': 'url'|'file', 'location', 'name'}."""
    text = (source or '').strip()
    if not text:
        raise StrataError('Option %s: empty' % option)
    parts = urlsplit(text)
    if parts.scheme in ('http', 'https'):
        name = unquote(parts.path.rsplit('/', 1)[-1])
        if not name:
            raise StrataError('Option %s: the URL %r does not end with a file name' % (option, redact_url(text)))
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

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Getting an image's bytes: HTTP(S) with retries, backoff and resume, or a copy of a local file.

Private to strata.libvirt; no compatibility promise.
"""

import re
import socket
import time

from http.client import HTTPException
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlsplit

from ansible.module_utils.urls import open_url

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._image.source import redact_url
from ansible_collections.strata.libvirt.plugins.module_utils._image.sums import CHUNK

RETRY_HTTP_CODES = (408, 425, 429, 500, 502, 503, 504)


def backoff(attempt, base, cap=30.0):
    """Seconds to wait before retry number attempt (1, 2, ...): base, 2*base, 4*base, ... capped."""
    return min(cap, base * (2 ** (attempt - 1)))


def content_range_start(value):
    match = re.match(r'^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$', value or '')
    if not match:
        return None, None
    total = int(match.group(3)) if match.group(3) != '*' else None
    return int(match.group(1)), total


class Transfer(object):
    """HTTP(S) with retries, exponential backoff and resume (Range) when the server answers 206."""

    def __init__(self, timeout=30, retries=3, retry_delay=2.0, validate_certs=True, sleep=time.sleep):
        self.timeout = timeout
        self.retries = retries
        self.retry_delay = retry_delay
        self.validate_certs = validate_certs
        self.sleep = sleep

    def _open(self, url, headers=None):
        return open_url(url, headers=headers or {}, timeout=self.timeout, validate_certs=self.validate_certs,
                        follow_redirects='all', decompress=False, http_agent='strata.libvirt')

    def _retried(self, url, read, failed, headers=None):
        """read(response) of url, retried as the download is; an HTTP 416 gives None. failed: the message's start."""
        attempt = 0
        while True:
            attempt += 1
            try:
                resp = self._open(url, headers)
                try:
                    return read(resp)
                finally:
                    resp.close()
            except HTTPError as exc:
                if exc.code == 416:
                    return None
                if exc.code not in RETRY_HTTP_CODES or attempt > self.retries:
                    raise StrataError('%s: HTTP %s %s' % (failed, exc.code, exc.reason))
            except (URLError, HTTPException, socket.timeout, OSError) as exc:
                if attempt > self.retries:
                    raise StrataError('%s after %d attempts: %s' % (failed, attempt, getattr(exc, 'reason', None) or exc))
            self.sleep(backoff(attempt, self.retry_delay))

    def fetch_text(self, url, limit=16 * 1024 * 1024):
        """A small text file (a SUMS file), with the same retries."""
        parts = urlsplit(url)
        if parts.scheme == 'file':
            try:
                with open(unquote(parts.path), 'rb') as handle:
                    return handle.read(limit).decode('utf-8', 'replace')
            except (IOError, OSError) as exc:
                raise StrataError('Cannot read the SUMS file %s: %s' % (redact_url(url), exc))
        text = self._retried(url, lambda resp: resp.read(limit).decode('utf-8', 'replace'),
                             'Cannot fetch the SUMS file %s' % redact_url(url))
        return text or ''

    def reachable(self, url):
        """Whether url answers with the image (a request for its first byte, nothing stored): what check mode asks
        instead of downloading. Raises StrataError with the reason, as the download would fail; an empty file (HTTP
        416) counts as there (the download's own checks say more)."""
        self._retried(url, lambda resp: resp.read(1), 'Download of %s failed' % redact_url(url), {'Range': 'bytes=0-0'})
        return True

    def download(self, url, out, digests):
        """Stream url into the open binary file out, feeding digests; resume or restart after a cut.

        Returns {'bytes', 'attempts', 'resumed', 'restarted'}; raises StrataError after the retries.
        """
        stats = {'bytes': 0, 'attempts': 0, 'resumed': 0, 'restarted': 0}
        offset = 0
        total = None
        last_error = None
        while True:
            stats['attempts'] += 1
            headers = {'Range': 'bytes=%d-' % offset} if offset else {}
            try:
                resp = self._open(url, headers)
            except HTTPError as exc:
                if exc.code == 416 and offset and total is not None and offset >= total:
                    break  # we already have everything
                if exc.code == 416 and offset:
                    offset = self._restart(out, digests, stats)
                    last_error = 'HTTP 416 for a resume at byte %d' % offset
                elif exc.code not in RETRY_HTTP_CODES:
                    raise StrataError('Download of %s failed: HTTP %s %s' % (redact_url(url), exc.code, exc.reason))
                else:
                    last_error = 'HTTP %s %s' % (exc.code, exc.reason)
                self._wait_or_fail(url, stats, last_error, offset, total)
                continue
            except (URLError, HTTPException, socket.timeout, OSError) as exc:
                last_error = str(getattr(exc, 'reason', None) or exc)
                self._wait_or_fail(url, stats, last_error, offset, total)
                continue
            try:
                status = resp.getcode()
                length = resp.headers.get('Content-Length')
                length = int(length) if length and length.isdigit() else None
                if offset:
                    start, whole = content_range_start(resp.headers.get('Content-Range'))
                    if status == 206 and start == offset:
                        stats['resumed'] += 1
                        total = whole if whole is not None else total
                    else:
                        # the server ignored the Range (200) or answered another range: start again
                        offset = self._restart(out, digests, stats)
                        total = length
                else:
                    if status != 200:
                        raise StrataError('Download of %s failed: unexpected HTTP status %s' % (redact_url(url), status))
                    total = length
                try:
                    while True:
                        chunk = resp.read(CHUNK)
                        if not chunk:
                            break
                        self._write(out, chunk)
                        digests.update(chunk)
                        offset += len(chunk)
                        stats['bytes'] += len(chunk)
                except (HTTPException, socket.timeout, OSError) as exc:
                    if isinstance(exc, _WriteError):
                        raise StrataError(str(exc))
                    last_error = 'connection lost after %d bytes: %s' % (offset, exc)
                    self._wait_or_fail(url, stats, last_error, offset, total)
                    continue
            finally:
                resp.close()
            if total is not None and offset < total:
                last_error = 'connection closed after %d of %d bytes' % (offset, total)
                self._wait_or_fail(url, stats, last_error, offset, total)
                continue
            break
        out.flush()
        return stats

    @staticmethod
    def _write(out, chunk):
        try:
            out.write(chunk)
        except (IOError, OSError) as exc:
            raise _WriteError('Cannot write the download to %s: %s' % (out.name, exc))

    @staticmethod
    def _restart(out, digests, stats):
        out.seek(0)
        out.truncate()
        digests.reset()
        stats['restarted'] += 1
        return 0

    def _wait_or_fail(self, url, stats, error, offset, total):
        if stats['attempts'] > self.retries:
            raise StrataError('Download of %s failed after %d attempts (retries=%d): %s; %d%s bytes were received '
                              'and discarded' % (redact_url(url), stats['attempts'], self.retries, error, offset,
                                                 (' of %d' % total) if total else ''))
        self.sleep(backoff(stats['attempts'], self.retry_delay))


class _WriteError(OSError):
    pass


def copy_local(path, out, digests):
    try:
        with open(path, 'rb') as handle:
            count = 0
            for chunk in iter(lambda: handle.read(CHUNK), b''):
                out.write(chunk)
                digests.update(chunk)
                count += len(chunk)
    except (IOError, OSError) as exc:
        raise StrataError('Cannot copy %s: %s' % (path, exc))
    out.flush()
    return {'bytes': count, 'attempts': 1, 'resumed': 0, 'restarted': 0}

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Cloud images: fetch, verify, decompress, convert and cache them on the hypervisor.

The cache is one file (``dest``) plus a small sidecar record beside it
(``.<name>.strata-image.json``) that holds the digests of the verified *source* (what was
downloaded, possibly compressed), how it was transformed, and the identity (size, mtime, inode)
and sha256 of the resulting file. A later run with the same checksum compares digests with the
sidecar instead of re-hashing (or re-downloading) anything; only a SUMS file may be fetched.

Every intermediate file is a dot-named temporary file beside ``dest``; only the final, verified
image is renamed onto ``dest``, so an interrupted or failed run never leaves a file there that
looks valid, and an earlier cached image stays intact until its replacement is verified.

Private to strata.libvirt; no compatibility promise.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import bz2
import errno
import gzip
import hashlib
import json
import lzma
import os
import re
import shutil
import socket
import tempfile
import time
import traceback

from concurrent.futures import ThreadPoolExecutor

from http.client import HTTPException
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlsplit

from ansible.module_utils.urls import open_url

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError

ZSTANDARD_IMPORT_ERROR = None
try:
    import zstandard
    HAS_ZSTANDARD = True
except ImportError:
    zstandard = None
    HAS_ZSTANDARD = False
    ZSTANDARD_IMPORT_ERROR = traceback.format_exc()

ALGORITHMS = {'sha256': 64, 'sha512': 128}
COMPRESSIONS = (('.zst', 'zstd'), ('.zstd', 'zstd'), ('.xz', 'xz'), ('.gz', 'gz'), ('.bz2', 'bz2'))
METHODS = ('zstd', 'xz', 'gz', 'bz2')
DEFAULT_CACHE_DIR = '/var/lib/strata-libvirt/images'
CHUNK = 1024 * 1024
SIDECAR_VERSION = 1
TEMP_MARK = '.strata-tmp-'
RETRY_HTTP_CODES = (408, 425, 429, 500, 502, 503, 504)
HEX_RE = re.compile(r'^[0-9a-fA-F]+$')
# GNU coreutils: "<hex>  name" or "<hex> *name"; BSD/openssl: "SHA256 (name) = <hex>"
GNU_LINE_RE = re.compile(r'^\\?([0-9a-fA-F]+) [ *]?(.+)$')
BSD_LINE_RE = re.compile(r'^(SHA256|SHA512|SHA2-256|SHA2-512) ?\((.+)\) ?= ?([0-9a-fA-F]+)$', re.IGNORECASE)


# ---------------------------------------------------------------- pure helpers

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
            raise StrataError('Option %s: the SUMS file URL %r must be http, https or file' % (option, rest))
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


def backoff(attempt, base, cap=30.0):
    """Seconds to wait before retry number attempt (1, 2, ...): base, 2*base, 4*base, ... capped."""
    return min(cap, base * (2 ** (attempt - 1)))


def content_range_start(value):
    match = re.match(r'^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$', value or '')
    if not match:
        return None, None
    total = int(match.group(3)) if match.group(3) != '*' else None
    return int(match.group(1)), total


# ---------------------------------------------------------------- digests

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


# ---------------------------------------------------------------- transfer

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

    def fetch_text(self, url, limit=16 * 1024 * 1024):
        """A small text file (a SUMS file), with the same retries."""
        parts = urlsplit(url)
        if parts.scheme == 'file':
            try:
                with open(unquote(parts.path), 'rb') as handle:
                    return handle.read(limit).decode('utf-8', 'replace')
            except (IOError, OSError) as exc:
                raise StrataError('Cannot read the SUMS file %s: %s' % (url, exc))
        attempt = 0
        while True:
            attempt += 1
            try:
                resp = self._open(url)
                try:
                    return resp.read(limit).decode('utf-8', 'replace')
                finally:
                    resp.close()
            except HTTPError as exc:
                if exc.code not in RETRY_HTTP_CODES or attempt > self.retries:
                    raise StrataError('Cannot fetch the SUMS file %s: HTTP %s %s' % (url, exc.code, exc.reason))
            except (URLError, HTTPException, socket.timeout, OSError) as exc:
                if attempt > self.retries:
                    raise StrataError('Cannot fetch the SUMS file %s after %d attempts: %s'
                                      % (url, attempt, getattr(exc, 'reason', None) or exc))
            self.sleep(backoff(attempt, self.retry_delay))

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
                    raise StrataError('Download of %s failed: HTTP %s %s' % (url, exc.code, exc.reason))
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
                        raise StrataError('Download of %s failed: unexpected HTTP status %s' % (url, status))
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
                              'and discarded' % (url, stats['attempts'], self.retries, error, offset,
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


# ---------------------------------------------------------------- decompression / qemu-img

def zstd_tool(module):
    """How zstd would be decompressed here: ('cli', path) or ('zstandard', None); error when neither."""
    path = module.get_bin_path('zstd')
    if path:
        return 'cli', path
    if HAS_ZSTANDARD:
        return 'zstandard', None
    raise StrataError('Decompressing zstd needs the zstd command (package zstd) or the Python package zstandard '
                      'on the managed node; neither was found')


def decompressor_text(module, method):
    if method == 'zstd':
        kind, path = zstd_tool(module)
        return 'zstd command %s' % path if kind == 'cli' else 'python zstandard %s' % zstandard.__version__
    return {'xz': 'python lzma', 'gz': 'python gzip', 'bz2': 'python bz2'}[method]


def decompress(module, method, src, dst):
    """Decompress src into dst (an existing temporary file, overwritten)."""
    try:
        if method == 'zstd':
            kind, path = zstd_tool(module)
            if kind == 'cli':
                rc, out, err = module.run_command([path, '-d', '-q', '-f', '--no-progress', src, '-o', dst])
                if rc != 0:
                    raise StrataError('zstd could not decompress the download: %s' % (err or out).strip())
                return
            with open(src, 'rb') as fin, open(dst, 'wb') as fout:
                zstandard.ZstdDecompressor().copy_stream(fin, fout, read_size=CHUNK, write_size=CHUNK)
            return
        opener = {'xz': lzma.open, 'gz': gzip.open, 'bz2': bz2.open}[method]
        with opener(src, 'rb') as fin, open(dst, 'wb') as fout:
            shutil.copyfileobj(fin, fout, CHUNK)
    except StrataError:
        raise
    except (IOError, OSError, EOFError, lzma.LZMAError, ValueError) as exc:
        raise StrataError('Cannot decompress the download as %s: %s (is option decompress right?)' % (method, exc))
    except Exception as exc:  # zstandard.ZstdError and friends
        raise StrataError('Cannot decompress the download as %s: %s' % (method, exc))


def image_info(module, path):
    """{'format', 'virtual_size', 'actual_size'} from qemu-img info (or the file's header without qemu-img)."""
    qemu_img = module.get_bin_path('qemu-img')
    if not qemu_img:
        # without qemu-img: the qcow2 header or raw (the volume module's probe)
        from ansible_collections.strata.libvirt.plugins.module_utils._volume import probe_image
        fmt, size = probe_image(path, 'dest')
        return {'format': fmt, 'virtual_size': size, 'actual_size': os.path.getsize(path), 'tool': None}
    rc, out, err = module.run_command([qemu_img, 'info', '--output=json', path])
    if rc != 0:
        raise StrataError('qemu-img info %s failed: %s' % (path, (err or out).strip()))
    try:
        info = json.loads(out)
    except ValueError:
        raise StrataError('qemu-img info %s printed no JSON: %s' % (path, out[:200]))
    if info.get('backing-filename'):
        raise StrataError("The image %s names a backing file (%s); a downloaded base image must be self-contained"
                          % (path, info['backing-filename']))
    return {'format': info.get('format'), 'virtual_size': info.get('virtual-size'),
            'actual_size': info.get('actual-size'), 'tool': qemu_img}


def convert(module, src, dst, fmt):
    qemu_img = module.get_bin_path('qemu-img')
    if not qemu_img:
        raise StrataError('Option format: converting to %s needs qemu-img on the managed node (package qemu-utils)' % fmt)
    rc, out, err = module.run_command([qemu_img, 'convert', '-q', '-O', fmt, src, dst])
    if rc != 0:
        raise StrataError('qemu-img convert to %s failed: %s' % (fmt, (err or out).strip()))


# ---------------------------------------------------------------- sidecar and temporary files

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
        os.chmod(tmp, 0o644)
        module.atomic_move(tmp, path, keep_dest_attrs=False)
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
        os.makedirs(path, 0o755)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise StrataError("Cannot create the directory '%s' of option dest: %s" % (path, exc))
    if not os.path.isdir(path):
        raise StrataError("Option dest: '%s' is not a directory" % path)


# ---------------------------------------------------------------- the image task (module logic)

def desired_from_params(params):
    """Validated desired state; every error names its option, before anything is fetched or written."""
    src = source_info(params['source'])
    checksum = parse_checksum(params.get('checksum'))
    if params.get('decompress') not in (None, 'auto', 'none') + METHODS:
        raise StrataError('Option decompress: %r is not one of auto, none, %s' % (params['decompress'], ', '.join(METHODS)))
    method = compression_of(src['name'], params.get('decompress') or 'auto')
    name = cached_name(src['name'], method)
    dest = params.get('dest')
    if dest:
        if not os.path.isabs(dest):
            raise StrataError('Option dest: %r is not an absolute path' % dest)
        if dest.endswith('/') or os.path.isdir(dest):
            dest = os.path.join(dest, name)
    else:
        dest = os.path.join(params.get('cache_dir') or DEFAULT_CACHE_DIR, name)
    dest = os.path.normpath(dest)
    if src['kind'] == 'file' and dest == src['location'] and (method or params.get('format')):
        raise StrataError('Option dest: the cached image would overwrite its own source %s; choose another dest'
                          % dest)
    volume = None
    if params.get('pool'):
        from ansible_collections.strata.libvirt.plugins.module_utils import _validate
        volume = {'pool': _validate.name(params['pool'], 'pool'),
                  'name': _validate.name(params.get('volume') or os.path.basename(dest), 'volume')}
    elif params.get('volume'):
        raise StrataError('Option volume: needs option pool')
    for option in ('retries', 'timeout'):
        if params.get(option) is not None and params[option] < 0:
            raise StrataError('Option %s: must not be negative' % option)
    return {'source': src, 'checksum': checksum, 'decompress': method, 'format': params.get('format'),
            'dest': dest, 'volume': volume, 'cluster': params.get('cluster'), 'adopt': bool(params.get('adopt'))}


def checksum_text(algorithm, digest):
    return '%s:%s' % (algorithm, digest) if digest else None


class ImageTask(object):
    """Ensure the cached image (and optionally its base volume): plan, then apply outside check mode."""

    def __init__(self, module, desired, transfer=None):
        self.module = module
        self.desired = desired
        self.check = module.check_mode
        params = module.params
        self.transfer = transfer or Transfer(timeout=params.get('timeout') or 30, retries=params.get('retries', 3),
                                             retry_delay=params.get('retry_delay', 2.0),
                                             validate_certs=params.get('validate_certs', True))
        self.actions = []
        self.warnings = []
        from ansible_collections.strata.libvirt.plugins.module_utils._diff import DifferenceTracker
        self.diff = DifferenceTracker()

    # -- expected digest
    def expected(self):
        checksum = self.desired['checksum']
        if checksum is None:
            return None
        if checksum['digest']:
            return dict(checksum, origin='option checksum')
        text = self.transfer.fetch_text(checksum['url'])
        digest = find_in_sums(text, self.desired['source']['name'], checksum['algorithm'], checksum['url'])
        return dict(checksum, digest=digest, origin=checksum['url'])

    def run(self):
        d = self.desired
        dest = d['dest']
        if d['checksum'] is None:
            self.warnings.append('checksum is none: the image %s is not verified; anything the server or a '
                                 'man in the middle sends is used as is' % d['source']['location'])
        from ansible_collections.strata.libvirt.plugins.module_utils import _connection
        params = self.module.params
        if not self.check:
            ensure_directory(os.path.dirname(dest))
        with _connection.hypervisor_lock(params['state_dir'], 'image:' + dest, params['lock_timeout']):
            if not self.check:
                for name in remove_stale_temps(dest):
                    self.warnings.append('removed %s, left behind by an interrupted earlier run' % name)
            image = self.ensure_cache()
            result = {'changed': bool(self.actions)}
            volume = None
            if d['volume']:
                volume = ImportTask(self.module, d, image, self.diff).run()
                self.actions.extend(volume.pop('_actions'))
            result.update(image)
            result['volume'] = volume
            result['changed'] = bool(self.actions)
            result['actions'] = list(self.actions)
            result['diff'] = self.diff.diff()
            return result

    def ensure_cache(self):
        d = self.desired
        dest = d['dest']
        expected = self.expected()
        want = {'source': d['source']['location'], 'algorithm': expected and expected['algorithm'],
                'digest': expected and expected['digest'], 'decompress': d['decompress'], 'format': d['format']}
        try:
            ident = identity(os.stat(dest))
        except OSError:
            ident = None
        record = read_sidecar(dest) if ident else None
        ok, reason = cache_status(record, ident, want)
        if not ok and ident and record is None and expected and not d['decompress']:
            record = self.verify_in_place(expected, ident)
            ok = record is not None and (not d['format'] or record['format'] == d['format'])
        before = self.cache_view(record if ident else None, ident)
        if ok:
            self.diff.add('image', before, before)
            return self.facts(record, downloaded=False)
        self.plan_fetch(expected, reason, ident)
        after = {'path': dest, 'exists': True,
                 'checksum': checksum_text(want['algorithm'], want['digest']) or 'not verified',
                 'decompress': d['decompress'], 'format': d['format'] or (before or {}).get('format')}
        self.diff.add('image', before, after)
        if self.check:
            facts = self.facts(None, downloaded=True)
            facts.update(checksum=after['checksum'] if expected else None, format=after['format'])
            return facts
        record = self.fetch(expected)
        return self.facts(record, downloaded=True)

    def cache_view(self, record, ident):
        if not ident:
            return {'path': self.desired['dest'], 'exists': False}
        return {'path': self.desired['dest'], 'exists': True,
                'checksum': (record or {}).get('checksum') or ('not verified' if record else 'unknown'),
                'decompress': (record or {}).get('decompress'), 'format': (record or {}).get('format')}

    def verify_in_place(self, expected, ident):
        """dest exists without our record (placed there by hand or by an older tool): hash it once."""
        dest = self.desired['dest']
        digests = file_digests(dest)
        if digests[expected['algorithm']] != expected['digest']:
            return None
        info = image_info(self.module, dest)
        record = self.new_record(expected, digests, info, digests['sha256'], ident)
        if not self.check:
            write_sidecar(self.module, dest, record)
        return record

    def new_record(self, expected, source_digests, info, sha256, ident):
        d = self.desired
        return {'version': SIDECAR_VERSION, 'source': d['source']['location'],
                'checksum': checksum_text(expected['algorithm'], expected['digest']) if expected else None,
                'source_digests': source_digests, 'decompress': d['decompress'], 'format': info['format'],
                'virtual_size': info['virtual_size'], 'sha256': sha256, 'file': ident,
                'verified_at': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}

    def plan_fetch(self, expected, reason, ident):
        d = self.desired
        src = d['source']
        if src['kind'] == 'url':
            self.actions.append('download %s' % src['location'])
        else:
            self.actions.append('copy %s' % src['location'])
        if expected:
            self.actions.append('verify its %s against %s' % (expected['algorithm'], expected['origin']))
        if d['decompress']:
            self.actions.append('decompress it (%s, with %s)' % (d['decompress'],
                                                                 decompressor_text(self.module, d['decompress'])))
        if d['format']:
            self.actions.append('convert it to %s unless it is already %s' % (d['format'], d['format']))
        self.actions.append('%s %s (%s)' % ('replace' if ident else 'create', d['dest'], reason))

    def fetch(self, expected):
        d = self.desired
        dest = d['dest']
        temps = []
        try:
            download = new_temp(dest, 'download')
            temps.append(download)
            digests = Digests()
            try:
                with open(download, 'wb') as out:
                    if d['source']['kind'] == 'url':
                        self.stats = self.transfer.download(d['source']['location'], out, digests)
                    else:
                        self.stats = copy_local(d['source']['location'], out, digests)
                got = digests.hexdigests()
            finally:
                digests.close()
            if expected and got[expected['algorithm']] != expected['digest']:
                kept = (' The cached image %s is unchanged.' % dest) if os.path.exists(dest) else ''
                raise StrataError('Checksum mismatch for %s: expected %s:%s (from %s), got %s:%s. The download was '
                                  'removed.%s' % (d['source']['location'], expected['algorithm'], expected['digest'],
                                                  expected['origin'], expected['algorithm'],
                                                  got[expected['algorithm']], kept))
            current = download
            if d['decompress']:
                raw = new_temp(dest, 'raw')
                temps.append(raw)
                decompress(self.module, d['decompress'], current, raw)
                os.unlink(current)
                current = raw
            info = image_info(self.module, current)
            self.converted = False
            if d['format'] and info['format'] != d['format']:
                converted = new_temp(dest, d['format'])
                temps.append(converted)
                convert(self.module, current, converted, d['format'])
                os.unlink(current)
                current = converted
                info = image_info(self.module, current)
                self.converted = True
            sha256 = file_digests(current)['sha256'] if current != download else got['sha256']
            os.chmod(current, 0o644)
            self.module.atomic_move(current, dest, keep_dest_attrs=False)
            record = self.new_record(expected, got, info, sha256, identity(os.stat(dest)))
            write_sidecar(self.module, dest, record)
            return record
        finally:
            for path in temps:
                if os.path.exists(path):
                    os.unlink(path)

    def facts(self, record, downloaded):
        d = self.desired
        dest = d['dest']
        facts = {'path': dest, 'source': d['source']['location'], 'downloaded': downloaded,
                 'decompressed': bool(downloaded and d['decompress']), 'decompression': d['decompress'],
                 'converted': bool(getattr(self, 'converted', False)), 'format': None, 'virtual_size': None,
                 'size': None, 'checksum': None, 'sha256': None, 'sidecar': sidecar_path(dest),
                 'transfer': getattr(self, 'stats', None)}
        if record:
            info = image_info(self.module, dest)
            facts.update(format=info['format'], virtual_size=info['virtual_size'], size=os.path.getsize(dest),
                         checksum=record.get('checksum'), sha256=record.get('sha256'))
            if downloaded and d['decompress']:
                facts['decompressor'] = decompressor_text(self.module, d['decompress'])
        return facts


# ---------------------------------------------------------------- import as a base volume

def plan_import(current, image, desired):
    """PURE: the base-volume part of the plan -> (Plan, reason or None).

    current: the volume module's read_volume() state plus 'recorded' (the image record in the registry)
    and 'content_sha256' (the volume's content as far as known); image: the cache facts (sha256 None in
    check mode before a download).
    """
    from ansible_collections.strata.libvirt.plugins.module_utils._common import Plan
    from ansible_collections.strata.libvirt.plugins.module_utils import _ownership
    plan = Plan()
    vol = desired['volume']
    label = "volume '%s' in pool '%s'" % (vol['name'], vol['pool'])
    wanted = {'image': image['sha256'] or 'the new download', 'format': image['format']}
    if not current['exists']:
        plan.diff.add('volume', None, wanted)
        plan.add('create', 'create %s as a read-only base volume from %s' % (label, image['path']))
        return plan
    have = {'image': current.get('content_sha256') or 'unknown', 'format': current['config']['format']}
    adopt_text = _ownership.check_owner('volume', '%s/%s' % (vol['pool'], vol['name']), current['owner'],
                                        desired['cluster'], desired['adopt'])
    if image['sha256'] is not None:
        same = current.get('content_sha256') == image['sha256']
    else:  # check mode before a download: the verified source checksum is all we know yet
        same = bool(image['checksum']) and (current.get('recorded') or {}).get('checksum') == image['checksum']
    if same:
        plan.diff.add('volume', have, have)
        if adopt_text:
            plan.add('record', adopt_text)
        return plan
    plan.diff.add('volume', have, wanted)
    if current.get('users'):
        raise StrataError('%s holds another image (sha256 %s, the cached image is %s) and is the backing file of %s; '
                          'import the new image under another volume name (option volume) or remove those first'
                          % (label[0].upper() + label[1:], have['image'], wanted['image'], ', '.join(current['users'])))
    plan.add('delete', 'delete %s (it holds another image: %s)' % (label, have['image']))
    plan.add('create', 'create %s as a read-only base volume from %s' % (label, image['path']))
    return plan


class _VolumeShim(object):
    """The volume module's resource needs only .params (and .check_mode) of a module."""

    def __init__(self, module, params):
        self.params = params
        self.check_mode = module.check_mode


class ImportTask(object):
    def __init__(self, module, desired, image, diff):
        self.module = module
        self.desired = desired
        self.image = image
        self.diff = diff

    def run(self):
        from ansible_collections.strata.libvirt.plugins.module_utils import _connection, _ownership, _volume
        from ansible_collections.strata.libvirt.plugins.module_utils._common import Context
        module, vol = self.module, self.desired['volume']
        _connection.require_libvirt(module)
        from ansible_collections.strata.libvirt.plugins.module_utils import _xml
        _xml.require_lxml(module)
        params = module.params
        vparams = dict(name=vol['name'], pool=vol['pool'], state='present', capacity=None, format=None,
                       backing_volume=None, backing_file=None, backing_format=None, clone_from=None, upload=None,
                       recreate=False, cluster=self.desired['cluster'], adopt=self.desired['adopt'], xml=None)
        resource = _volume.VolumeResource(_VolumeShim(module, vparams))
        uri = _connection.resolve_uri(params.get('uri'))
        conn = _connection.open_connection(uri)
        try:
            canonical = _connection.call('get the URI of the connection', conn.getURI) or uri
            with _connection.hypervisor_lock(params['state_dir'], canonical, params['lock_timeout']):
                registry = _ownership.OwnerRegistry(params['state_dir'], canonical, module).load()
                ctx = Context(module, conn, canonical, registry)
                desired = _volume.desired_from_params(vparams)
                current = _volume.read_volume(ctx, desired)
                if current['exists']:
                    current['recorded'] = (registry.data['volumes'].get(current['config']['key']) or {}).get('image')
                    current['content_sha256'] = self.content_of(current)
                plan = plan_import(current, self.image, self.desired)
                for key in plan.diff.before():
                    self.diff.add(key, plan.diff.before()[key], plan.diff.after()[key])
                if not module.check_mode:
                    for action in plan.actions:
                        getattr(self, 'do_' + action.op)(ctx, resource, current)
                    if not plan.actions and current['exists'] and current.get('recorded') is None:
                        self.record(ctx, current['config']['key'])  # content verified by hashing: remember it
                final = _volume.read_volume(ctx, desired) if (plan.actions and not module.check_mode) else current
        finally:
            try:
                conn.close()
            except Exception:  # pragma: no cover
                pass
        facts = _volume.volume_facts(final)
        facts['_actions'] = plan.texts()
        return facts

    def content_of(self, current):
        recorded = current.get('recorded') or {}
        if recorded.get('sha256'):
            return recorded['sha256']
        path = current['config'].get('path')
        if self.image['sha256'] and path and os.path.isfile(path):
            return file_digests(path)['sha256']  # no record (adopted or older): look at the content once
        return None

    def record(self, ctx, key):
        image = self.image
        cluster = self.desired['cluster'] or ctx.registry.get('volumes', key).get('cluster')
        ctx.registry.record('volumes', key, cluster, pool=self.desired['volume']['pool'],
                            name=self.desired['volume']['name'],
                            image={'sha256': image['sha256'], 'checksum': image['checksum'], 'source': image['source']})

    def do_record(self, ctx, resource, current):
        self.record(ctx, current['config']['key'])

    def do_delete(self, ctx, resource, current):
        resource.do_delete(ctx)

    def do_create(self, ctx, resource, current):
        from ansible_collections.strata.libvirt.plugins.module_utils import _volume, _xml
        image = self.image
        capacity = image['virtual_size'] if image['format'] == 'qcow2' else image['size']
        root = _volume.render_volume(self.desired['volume']['name'], capacity, image['format'])
        perms = _xml.sub_element(root.find('target'), 'permissions')
        _xml.sub_element(perms, 'mode', text='0444')
        resource.do_create(ctx, _xml.to_text(root), self.desired['cluster'])
        resource.do_upload(ctx, image['path'], image['size'])
        vol = resource._vol(ctx)
        self.record(ctx, vol.key())

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pure pieces of the image cache: checksums, SUMS files, names, the cache decision, the transfer loop."""

import hashlib
import io
import threading

import pytest

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._image import base_volume, cache, source, sums, transfer

H256 = hashlib.sha256(b'x').hexdigest()
H512 = hashlib.sha512(b'x').hexdigest()


def test_parse_checksum_forms():
    assert sums.parse_checksum('sha256:' + H256.upper()) == {'algorithm': 'sha256', 'digest': H256, 'url': None}
    assert sums.parse_checksum('SHA512:' + H512)['digest'] == H512
    assert sums.parse_checksum('sha512:https://example.org/SHA512SUMS') == {
        'algorithm': 'sha512', 'digest': None, 'url': 'https://example.org/SHA512SUMS'}
    assert sums.parse_checksum('none') is None
    assert sums.parse_checksum('None') is None


@pytest.mark.parametrize('value, message', [
    (None, 'is required'),
    ('', 'is required'),
    ('md5:abc', 'algorithm sha256 or sha512'),
    ('sha256', 'algorithm sha256 or sha512'),
    ('sha256:' + H512, 'not a sha256 digest'),
    ('sha512:zz', 'not a sha512 digest'),
    ('sha256:ftp://example.org/SUMS', 'must be http, https or file'),
])
def test_parse_checksum_errors(value, message):
    with pytest.raises(StrataError, match=message):
        sums.parse_checksum(value)


DEBIAN_SHA512SUMS = """%s  debian-12-generic-amd64.json
%s  debian-12-generic-amd64.qcow2
%s  debian-12-generic-amd64.raw
""" % ('a' * 128, 'b' * 128, 'c' * 128)

UBUNTU_SHA256SUMS = """%s *jammy-server-cloudimg-amd64.img
%s *jammy-server-cloudimg-amd64.tar.gz
""" % ('d' * 64, 'e' * 64)


def test_find_in_sums_debian_and_ubuntu_layouts():
    assert sums.find_in_sums(DEBIAN_SHA512SUMS, 'debian-12-generic-amd64.qcow2', 'sha512') == 'b' * 128
    assert sums.find_in_sums(UBUNTU_SHA256SUMS, 'jammy-server-cloudimg-amd64.img', 'sha256') == 'd' * 64


def test_find_in_sums_bsd_layout_and_subdirectories():
    text = 'SHA256 (images/x.qcow2) = %s\n# comment\n%s  ./y.qcow2\n' % ('1' * 64, '2' * 64)
    assert sums.find_in_sums(text, 'x.qcow2', 'sha256') == '1' * 64
    assert sums.find_in_sums(text, 'y.qcow2', 'sha256') == '2' * 64


def test_find_in_sums_missing_lists_what_is_there():
    with pytest.raises(StrataError, match=r"no sha512 line for 'nope.qcow2' in U \(it lists: debian-12"):
        sums.find_in_sums(DEBIAN_SHA512SUMS, 'nope.qcow2', 'sha512', 'U')


def test_find_in_sums_ignores_digests_of_another_length():
    # a SHA256SUMS given with algorithm sha512: the line exists but does not fit
    with pytest.raises(StrataError, match='no sha512 line'):
        sums.find_in_sums(UBUNTU_SHA256SUMS, 'jammy-server-cloudimg-amd64.img', 'sha512')


def test_find_in_sums_conflict():
    with pytest.raises(StrataError, match='different sha256 digests'):
        sums.find_in_sums('%s  a\n%s  a\n' % ('1' * 64, '2' * 64), 'a', 'sha256')


def test_source_info():
    assert source.source_info('https://h/p/img.qcow2.zst?x=1') == {
        'kind': 'url', 'location': 'https://h/p/img.qcow2.zst?x=1', 'name': 'img.qcow2.zst'}
    assert source.source_info('file:///srv/a%20b.img')['location'] == '/srv/a b.img'
    assert source.source_info('/srv/x.img')['kind'] == 'file'
    for bad, message in (('ftp://h/x', 'unsupported URL scheme'), ('x.img', 'not an absolute path'),
                         ('https://h/dir/', 'does not end with a file name')):
        with pytest.raises(StrataError, match=message):
            source.source_info(bad)


def test_compression_and_cached_name():
    assert source.compression_of('a.qcow2.zst', 'auto') == 'zstd'
    assert source.compression_of('a.raw.XZ', 'auto') == 'xz'
    assert source.compression_of('a.qcow2', 'auto') is None
    assert source.compression_of('a.qcow2.zst', 'none') is None
    assert source.compression_of('a.img', 'gz') == 'gz'
    assert source.cached_name('a.qcow2.zst', 'zstd') == 'a.qcow2'
    assert source.cached_name('a.img', 'gz') == 'a.img'
    assert cache.sidecar_path('/c/a.qcow2') == '/c/.a.qcow2.strata-image.json'


WANT = {'source': 'http://h/a', 'algorithm': 'sha256', 'digest': H256, 'decompress': None, 'format': None}
IDENT = {'size': 1, 'mtime_ns': 2, 'inode': 3}


def record(**kwargs):
    rec = {'version': 1, 'source': 'http://h/a', 'source_digests': {'sha256': H256, 'sha512': H512},
           'decompress': None, 'format': 'qcow2', 'file': dict(IDENT)}
    rec.update(kwargs)
    return rec


def test_cache_status():
    assert cache.cache_status(record(), IDENT, WANT) == (True, None)
    # another source URL with the same verified content is still the same image
    assert cache.cache_status(record(source='http://mirror/a'), IDENT, WANT)[0]
    # switching the algorithm needs no download: both digests are recorded
    assert cache.cache_status(record(), IDENT, dict(WANT, algorithm='sha512', digest=H512))[0]
    for rec, ident, want, reason in (
            (None, None, WANT, 'does not exist'),
            (None, IDENT, WANT, 'no verification record'),
            (record(), dict(IDENT, mtime_ns=9), WANT, 'modified after it was verified'),
            (record(), IDENT, dict(WANT, decompress='zstd'), 'decompression differs'),
            (record(), IDENT, dict(WANT, format='raw'), 'is qcow2, wanted raw'),
            (record(), IDENT, dict(WANT, digest='f' * 64), 'checksum differs'),
            (record(source='http://other'), IDENT, dict(WANT, digest=None), 'source differs')):
        ok, text = cache.cache_status(rec, ident, want)
        assert not ok and reason in text


def test_backoff_and_content_range():
    assert [transfer.backoff(n, 2.0) for n in (1, 2, 3, 6)] == [2.0, 4.0, 8.0, 30.0]
    assert transfer.content_range_start('bytes 100-199/200') == (100, 200)
    assert transfer.content_range_start('bytes 100-199/*') == (100, None)
    assert transfer.content_range_start(None) == (None, None)


# ---------------------------------------------------------------- the transfer loop, with a fake server

class FakeResponse(object):
    def __init__(self, status, body, headers, cut_after=None):
        self.status = status
        self.headers = headers
        self._body = io.BytesIO(body[:cut_after] if cut_after is not None else body)

    def getcode(self):
        return self.status

    def read(self, n):
        return self._body.read(n)

    def close(self):
        pass


def fake_server(payload, cuts, ranges=True):
    """open_url stand-in: the i-th request is cut after cuts[i] bytes (None: whole)."""
    requests = []

    def opener(url, headers=None):
        requests.append(dict(headers or {}))
        cut = cuts[len(requests) - 1] if len(requests) <= len(cuts) else None
        rng = (headers or {}).get('Range')
        if rng and ranges:
            start = int(rng.split('=')[1].rstrip('-'))
            body = payload[start:]
            return FakeResponse(206, body, {'Content-Length': str(len(body)),
                                            'Content-Range': 'bytes %d-%d/%d' % (start, len(payload) - 1,
                                                                                 len(payload))}, cut)
        return FakeResponse(200, payload, {'Content-Length': str(len(payload))}, cut)
    return opener, requests


def new_transfer(opener, retries=3):
    t = transfer.Transfer(retries=retries, retry_delay=0.01, sleep=lambda s: None)
    t._open = opener
    return t


PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


def test_digests_keep_the_order_of_the_chunks_and_end_their_thread():
    chunks = [bytes([n]) * (4096 + n) for n in range(64)]  # large enough for hashlib to hash without the GIL
    before = threading.active_count()
    digests = sums.Digests()
    digests.update(b'dropped by the reset')
    digests.reset()
    for chunk in chunks:
        digests.update(chunk)
    got = digests.hexdigests()
    whole = b''.join(chunks)
    assert got == {'sha256': hashlib.sha256(whole).hexdigest(), 'sha512': hashlib.sha512(whole).hexdigest()}
    assert threading.active_count() == before


def test_download_resumes_with_range():
    opener, requests = fake_server(PAYLOAD, [300000])
    out, digests = io.BytesIO(), sums.Digests()
    out.name = 'x'
    stats = new_transfer(opener).download('http://h/a', out, digests)
    assert out.getvalue() == PAYLOAD
    assert digests.hexdigests()['sha256'] == hashlib.sha256(PAYLOAD).hexdigest()
    assert requests == [{}, {'Range': 'bytes=300000-'}]
    assert stats == {'bytes': len(PAYLOAD), 'attempts': 2, 'resumed': 1, 'restarted': 0}


def test_download_restarts_when_range_is_ignored():
    opener, requests = fake_server(PAYLOAD, [300000], ranges=False)
    out, digests = io.BytesIO(), sums.Digests()
    out.name = 'x'
    stats = new_transfer(opener).download('http://h/a', out, digests)
    assert out.getvalue() == PAYLOAD
    assert digests.hexdigests()['sha512'] == hashlib.sha512(PAYLOAD).hexdigest()
    assert stats['restarted'] == 1 and stats['resumed'] == 0


def test_download_gives_up_with_a_clear_error():
    opener, requests = fake_server(PAYLOAD, [1000] * 10)
    out = io.BytesIO()
    out.name = 'x'
    with pytest.raises(StrataError, match=r'failed after 3 attempts \(retries=2\): connection closed after 3000 of '
                                          r'1048576 bytes'):
        new_transfer(opener, retries=2).download('http://h/a', out, sums.Digests())


# ---------------------------------------------------------------- the base volume's plan

IMAGE = {'path': '/c/a.qcow2', 'sha256': H256, 'checksum': 'sha256:' + H256, 'format': 'qcow2'}
DESIRED = {'volume': {'pool': 'p', 'name': 'a.qcow2'}, 'cluster': None, 'adopt': False}


def existing(**kwargs):
    current = {'exists': True, 'config': {'key': '/p/a.qcow2', 'format': 'qcow2'}, 'owner': {'owned': True, 'cluster': None},
               'users': [], 'recorded': {'sha256': H256}, 'content_sha256': H256}
    current.update(kwargs)
    return current


def test_plan_import():
    plan = base_volume.plan_import({'exists': False}, IMAGE, DESIRED)
    assert plan.ops() == ['import'] and plan.texts() == [
        "create volume 'a.qcow2' in pool 'p' as a read-only base volume from /c/a.qcow2"]
    assert base_volume.plan_import(existing(), IMAGE, DESIRED).actions == []
    plan = base_volume.plan_import(existing(content_sha256='0' * 64), IMAGE, DESIRED)
    assert plan.ops() == ['delete', 'import'] and 'it holds another image: %s' % ('0' * 64) in plan.texts()[0]
    plan = base_volume.plan_import(existing(owner={'owned': False, 'cluster': None}), IMAGE, dict(DESIRED, adopt=True))
    assert plan.ops() == ['record'] and plan.actions[0].args == {'key': '/p/a.qcow2'}
    with pytest.raises(StrataError, match='not created by strata.libvirt'):
        base_volume.plan_import(existing(owner={'owned': False, 'cluster': None}), IMAGE, DESIRED)
    with pytest.raises(StrataError, match='is the backing file of web1.qcow2'):
        base_volume.plan_import(existing(content_sha256=None, users=['web1.qcow2']), IMAGE, DESIRED)
    # check mode before a download: the recorded checksum decides
    unknown = dict(IMAGE, sha256=None)
    assert base_volume.plan_import(existing(recorded={'checksum': IMAGE['checksum']}), unknown, DESIRED).actions == []
    assert base_volume.plan_import(existing(recorded=None), unknown, DESIRED).ops() == ['delete', 'import']

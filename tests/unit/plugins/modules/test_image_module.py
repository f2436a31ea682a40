# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""strata.libvirt.image in-process with local sources (HTTP is covered by the lab's integration target)."""

import gzip
import hashlib
import os

from ansible_collections.strata.libvirt.plugins.modules import image

RAW = b'\x00' * 65536 + b'strata' * 1000


def source(tmp_path):
    src = str(tmp_path / 'disk.raw.gz')
    with gzip.open(src, 'wb') as handle:
        handle.write(RAW)
    return src, hashlib.sha256(open(src, 'rb').read()).hexdigest()


def test_local_gz_four_steps(four_steps, run_module, tmp_path):
    src, digest = source(tmp_path)
    cache = str(tmp_path / 'cache')
    results = four_steps(image, source=src, checksum='sha256:' + digest, cache_dir=cache)
    dest = os.path.join(cache, 'disk.raw')
    assert results[1]['path'] == dest and open(dest, 'rb').read() == RAW
    assert results[1]['decompressed'] and results[1]['downloaded'] and results[1]['checksum'] == 'sha256:' + digest
    assert results[1]['sha256'] == hashlib.sha256(RAW).hexdigest()
    assert results[3]['downloaded'] is False and results[3]['decompressed'] is False
    assert results[3]['sha256'] == results[1]['sha256'] and results[3]['format'] == 'raw'
    assert results[0]['diff']['before'] == {'image': {'path': dest, 'exists': False}}
    assert sorted(os.listdir(cache)) == ['.disk.raw.strata-image.json', 'disk.raw']


def test_mismatch_keeps_the_cache(run_module, tmp_path):
    src, digest = source(tmp_path)
    cache = str(tmp_path / 'cache')
    assert run_module(image, source=src, checksum='sha256:' + digest, cache_dir=cache)['changed']
    before = os.listdir(cache)
    result = run_module(image, source=src, checksum='sha256:' + 'f' * 64, cache_dir=cache)
    assert result['failed']
    assert 'Checksum mismatch for %s: expected sha256:%s (from option checksum), got sha256:%s' % (
        src, 'f' * 64, digest) in result['msg']
    assert 'The cached image %s is unchanged' % os.path.join(cache, 'disk.raw') in result['msg']
    assert os.listdir(cache) == before and open(os.path.join(cache, 'disk.raw'), 'rb').read() == RAW
    # and into a new destination: nothing at all is left
    result = run_module(image, source=src, checksum='sha256:' + 'f' * 64, dest=str(tmp_path / 'new.raw'))
    assert result['failed'] and not os.path.exists(str(tmp_path / 'new.raw'))
    assert sorted(os.listdir(str(tmp_path))) == ['cache', 'disk.raw.gz', 'state']


def test_sums_file_and_unverified(run_module, tmp_path):
    src, digest = source(tmp_path)
    sums = tmp_path / 'SHA256SUMS'
    sums.write_text('%s *disk.raw.gz\n%s  other\n' % (digest, '0' * 64))
    cache = str(tmp_path / 'cache')
    result = run_module(image, source='file://' + src, checksum='sha256:file://%s' % sums, cache_dir=cache)
    assert result['changed'] and result['checksum'] == 'sha256:' + digest
    assert not run_module(image, source=src, checksum='sha256:file://%s' % sums, cache_dir=cache)['changed']
    result = run_module(image, source=src, checksum='none', dest=str(tmp_path / 'plain.raw'), decompress='gz')
    assert result['changed'] and result['checksum'] is None
    assert not run_module(image, source=src, checksum='none', dest=str(tmp_path / 'plain.raw'), decompress='gz')['changed']


def test_existing_file_is_verified_in_place(run_module, tmp_path):
    dest = tmp_path / 'img.raw'
    dest.write_bytes(RAW)
    digest = hashlib.sha512(RAW).hexdigest()
    result = run_module(image, source=str(dest), dest=str(dest), checksum='sha512:' + digest)
    assert not result['changed'] and result['checksum'] == 'sha512:' + digest
    assert result['path'] == str(dest)


def test_option_errors(run_module, tmp_path):
    result = run_module(image, source='http://h/x.img', checksum='sha1:abc')
    assert result['failed'] and 'algorithm sha256 or sha512' in result['msg']
    result = run_module(image, source='relative.img', checksum='none')
    assert result['failed'] and 'not an absolute path' in result['msg']

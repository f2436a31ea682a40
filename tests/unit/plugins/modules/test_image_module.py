# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""strata.libvirt.image in-process with local sources (HTTP is covered by the lab's integration target)."""

import gzip
import hashlib
import json
import os

import pytest

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._image import spec
from ansible_collections.strata.libvirt.plugins.modules import image, pool, volume

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


def test_module_uses_the_module_utils_spec(main_calls):
    module_args, run_args = main_calls(image, 'run')
    assert module_args == dict(argument_spec=spec.argument_spec(), supports_check_mode=True, **spec.CONSTRAINTS)
    assert run_args[0] is module_args
    assert spec.argument_spec() is not spec.argument_spec()


def test_desired_from_params_names_the_option():
    params = dict(source='/srv/x.img', checksum='none', decompress='auto', retries=-1)
    with pytest.raises(StrataError, match='^Option retries: must not be negative'):
        spec.desired_from_params(params)
    with pytest.raises(StrataError, match='^Option volume: needs option pool'):
        spec.desired_from_params(dict(params, retries=3, volume='v'))


# ---------------------------------------------------------------- the base volume (test:///default)

@pytest.fixture
def image_pool(run_module, hv, tmp_path):
    """A pool whose directory exists: a volume file made beforehand there is filled by a direct copy (the test
    driver has no upload)."""
    directory = tmp_path / 'pool'
    directory.mkdir()
    assert run_module(pool, name='strata-ut-img', path=str(directory), state='running')['changed']
    return directory


def registry(run_module):
    directory = os.path.join(run_module.state_dir, 'owners')
    with open(os.path.join(directory, os.listdir(directory)[0])) as handle:
        return json.load(handle)['volumes']


def test_base_volume_four_steps(four_steps, run_module, image_pool, tmp_path):
    src, digest = source(tmp_path)
    (image_pool / 'base.raw').write_bytes(b'')
    args = dict(source=src, checksum='sha256:' + digest, cache_dir=str(tmp_path / 'cache'), pool='strata-ut-img',
                volume='base.raw', cluster='ut')
    results = four_steps(image, **args)
    dest = os.path.join(str(tmp_path / 'cache'), 'disk.raw')
    assert results[0]['actions'][-1] == ("create volume 'base.raw' in pool 'strata-ut-img' as a read-only base volume "
                                         "from %s" % dest)
    assert results[0]['diff']['after']['volume'] == {'image': 'the new download', 'format': None}
    assert results[1]['volume']['exists'] and results[1]['volume']['ownership'] == {'owned': True, 'cluster': 'ut'}
    assert (image_pool / 'base.raw').read_bytes() == RAW
    sha = hashlib.sha256(RAW).hexdigest()
    assert results[2]['diff']['before']['volume'] == {'image': sha, 'format': 'raw'}
    assert registry(run_module)[str(image_pool / 'base.raw')]['image'] == {
        'sha256': sha, 'checksum': 'sha256:' + digest, 'source': src}


def test_base_volume_replaced_refused_and_remembered(run_module, image_pool, tmp_path):
    src, digest = source(tmp_path)
    path = str(image_pool / 'base.raw')
    args = dict(source=src, checksum='sha256:' + digest, cache_dir=str(tmp_path / 'cache'), pool='strata-ut-img',
                volume='base.raw')
    (image_pool / 'base.raw').write_bytes(b'')
    assert run_module(image, **args)['changed']
    # another image for the same volume: delete and create
    other = tmp_path / 'other.raw'
    other.write_bytes(RAW + b'x')
    new = dict(args, source=str(other), checksum='sha256:' + hashlib.sha256(RAW + b'x').hexdigest())
    result = run_module(image, **new)
    assert result['actions'][-2:] == [
        "delete volume 'base.raw' in pool 'strata-ut-img' (it holds another image: %s)" % hashlib.sha256(RAW).hexdigest(),
        "create volume 'base.raw' in pool 'strata-ut-img' as a read-only base volume from %s" % str(tmp_path / 'cache' / 'other.raw')]
    # a volume that is the backing file of another is not replaced
    assert run_module(volume, name='ov.qcow2', pool='strata-ut-img', backing_volume='base.raw')['changed']
    refused = run_module(image, **args)
    assert refused['failed'] and 'is the backing file of ov.qcow2' in refused['msg']
    assert refused['actions'] == []  # the cached image was current; the refusal comes before any change
    assert run_module(volume, name='ov.qcow2', pool='strata-ut-img', state='absent')['changed']
    # a volume whose record lost its image: hashed once, then remembered without a change
    owners = os.path.join(run_module.state_dir, 'owners')
    name = os.listdir(owners)[0]
    with open(os.path.join(owners, name)) as handle:
        data = json.load(handle)
    del data['volumes'][path]['image']
    with open(os.path.join(owners, name), 'w') as handle:
        json.dump(data, handle)
    assert not run_module(image, check=True, **new)['changed']
    assert 'image' not in registry(run_module)[path]  # check mode records nothing
    assert not run_module(image, **new)['changed']
    assert registry(run_module)[path]['image']['sha256'] == hashlib.sha256(RAW + b'x').hexdigest()


class _Http(object):
    """A loopback HTTP server with one file, disk.raw.gz; anything else answers 404."""

    def __init__(self, body):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path != '/disk.raw.gz':
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass
        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%d' % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_check_mode_predicts_a_source_that_is_not_there(run_module, tmp_path):
    src, digest = source(tmp_path)
    http = _Http(open(src, 'rb').read())
    try:
        cache = str(tmp_path / 'cache')
        good = run_module(image, check=True, source=http.url + '/disk.raw.gz', checksum='sha256:' + digest, cache_dir=cache)
        assert good['changed'] and not good.get('failed')
        bad = run_module(image, check=True, source=http.url + '/gone.raw.gz', checksum='sha256:' + digest, cache_dir=cache)
        assert bad['failed'] and bad['msg'] == 'Download of %s/gone.raw.gz failed: HTTP 404 Not Found' % http.url
        missing = run_module(image, check=True, source=str(tmp_path / 'nope.raw'), checksum='none', cache_dir=cache)
        assert missing['failed'] and 'nope.raw (option source): it does not exist' in missing['msg']
        assert not os.path.exists(cache)
    finally:
        http.server.shutdown()

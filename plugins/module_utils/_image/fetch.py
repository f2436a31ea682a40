# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cached image of one desired state: whether it is current, the actions and diff that make it so, and,
outside check mode, the fetch (download or copy, verify, decompress, convert, rename onto dest, record).

A run with the same checksum compares digests with the sidecar record instead of re-hashing (or
re-downloading) anything; only a SUMS file may be fetched. Every intermediate file is a temporary file
beside dest, so an interrupted or failed run never leaves a file at dest that looks valid, and an
earlier cached image stays intact until its replacement is verified. The caller holds the image's lock.
A source or SUMS URL is shown, reported and recorded with its credentials redacted (source.redact_url); only the
transfer sees it whole.

Private to strata.libvirt; no compatibility promise.
"""

import os
import time

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._diff import DifferenceTracker
from ansible_collections.strata.libvirt.plugins.module_utils._connection import replace_file
from ansible_collections.strata.libvirt.plugins.module_utils._image.cache import (
    FILE_MODE, SIDECAR_VERSION, cache_status, identity, new_temp, read_sidecar, sidecar_path, write_sidecar)
from ansible_collections.strata.libvirt.plugins.module_utils._image.sums import (
    Digests, checksum_text, file_digests, find_in_sums)
from ansible_collections.strata.libvirt.plugins.module_utils._image.source import redact_url
from ansible_collections.strata.libvirt.plugins.module_utils._image.transfer import Transfer, copy_local
from ansible_collections.strata.libvirt.plugins.module_utils._image.transform import (
    convert, decompress, decompressor_text, image_info)


class CacheTask(object):
    """Ensure the cached image: plan (actions, diff), then fetch outside check mode."""

    def __init__(self, module, desired, transfer=None):
        self.module = module
        self.desired = desired
        self.check = module.check_mode
        params = module.params
        self.transfer = transfer or Transfer(timeout=params.get('timeout') or 30, retries=params.get('retries', 3),
                                             retry_delay=params.get('retry_delay', 2.0),
                                             validate_certs=params.get('validate_certs', True))
        self.actions = []
        self.diff = DifferenceTracker()
        self.stats = None        # the transfer's statistics, once something was transferred
        self.converted = False   # whether the fetch converted the image

    def expected(self):
        """The digest the download must have: {'algorithm', 'digest', 'origin', ...}, None with checksum none."""
        checksum = self.desired['checksum']
        if checksum is None:
            return None
        if checksum['digest']:
            return dict(checksum, origin='option checksum')
        text = self.transfer.fetch_text(checksum['url'])
        origin = redact_url(checksum['url'])
        digest = find_in_sums(text, self.desired['source']['name'], checksum['algorithm'], origin)
        return dict(checksum, digest=digest, origin=origin)

    def ensure(self):
        """The cached image's facts after the task (in check mode, as it would be); plans, and fetches outside
        check mode."""
        d = self.desired
        dest = d['dest']
        expected = self.expected()
        want = {'source': redact_url(d['source']['location']), 'algorithm': expected and expected['algorithm'],
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
            self.check_source()
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
        return {'version': SIDECAR_VERSION, 'source': redact_url(d['source']['location']),
                'checksum': checksum_text(expected['algorithm'], expected['digest']) if expected else None,
                'source_digests': source_digests, 'decompress': d['decompress'], 'format': info['format'],
                'virtual_size': info['virtual_size'], 'sha256': sha256, 'file': ident,
                'verified_at': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}

    def plan_fetch(self, expected, reason, ident):
        d = self.desired
        src = d['source']
        if src['kind'] == 'url':
            self.actions.append('download %s' % redact_url(src['location']))
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

    def check_source(self):
        """Check mode: the source must be there as the download or copy would need it (a URL that answers, a
        readable file), so that --check predicts a bad source."""
        src = self.desired['source']
        if src['kind'] == 'url':
            self.transfer.reachable(src['location'])
        elif not os.access(src['location'], os.R_OK):
            raise StrataError('Cannot read the source %s (option source): %s'
                              % (src['location'], 'it does not exist' if not os.path.exists(src['location'])
                                 else 'permission denied'))

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
                                  'removed.%s' % (redact_url(d['source']['location']), expected['algorithm'], expected['digest'],
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
            if d['format'] and info['format'] != d['format']:
                converted = new_temp(dest, d['format'])
                temps.append(converted)
                convert(self.module, current, converted, d['format'])
                os.unlink(current)
                current = converted
                info = image_info(self.module, current)
                self.converted = True
            sha256 = file_digests(current)['sha256'] if current != download else got['sha256']
            replace_file(self.module, current, dest, FILE_MODE)
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
        facts = {'path': dest, 'source': redact_url(d['source']['location']), 'downloaded': downloaded,
                 'decompressed': bool(downloaded and d['decompress']), 'decompression': d['decompress'],
                 'converted': self.converted, 'format': None, 'virtual_size': None,
                 'size': None, 'checksum': None, 'sha256': None, 'sidecar': sidecar_path(dest),
                 'transfer': self.stats}
        if record:
            info = image_info(self.module, dest)
            facts.update(format=info['format'], virtual_size=info['virtual_size'], size=os.path.getsize(dest),
                         checksum=record.get('checksum'), sha256=record.get('sha256'))
            if downloaded and d['decompress']:
                facts['decompressor'] = decompressor_text(self.module, d['decompress'])
        return facts

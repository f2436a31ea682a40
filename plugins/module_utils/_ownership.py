# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Ownership marks: which libvirt objects strata.libvirt created (or was told to adopt).

Two mechanisms, chosen per object kind by what libvirt 9.0 can store (measured, see the pool,
network and volume module docs):

- domains and networks keep ``<metadata><strata:owner xmlns:strata=NAMESPACE cluster=.../></metadata>``
  in their own XML: the mark travels with the object and is visible to every client;
- storage pools and volumes have no ``<metadata>`` in libvirt 9.0 (their parsers drop it), so a
  registry file per URI under ``state_dir`` records them, keyed by what libvirt cannot reuse by
  accident: the pool's UUID, the volume's key (its path). It is written atomically under the
  per-URI lock. The registry belongs to the hypervisor: for a ``driver+ssh://`` URI it is the file on that
  machine (the one a module there uses for ``qemu:///system``), read and written over SSH (_remote_files).

Private to strata.libvirt; no compatibility promise.
"""

import json
import os
import tempfile

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._connection import ensure_dir, replace_file, uri_slug
from ansible_collections.strata.libvirt.plugins.module_utils import _remote_files, _xml

NAMESPACE = 'https://github.com/strata-libvirt/strata.libvirt/xmlns/owner/1'
PREFIX = 'strata'
OWNER_TAG = '{%s}owner' % NAMESPACE

NOT_OWNED = {'owned': False, 'cluster': None}

# The registry decides which pools and volumes strata.libvirt may change or delete: only its owner may write it.
# It holds no secret (an image's source is recorded with its password redacted), but no one else needs it either.
REGISTRY_MODE = 0o600


def owner(cluster=None):
    return {'owned': True, 'cluster': cluster or None}


def read_mark(root):
    """The ownership found in an object's XML (domains, networks)."""
    metadata = root.find('metadata')
    if metadata is None:
        return dict(NOT_OWNED)
    mark = metadata.find(OWNER_TAG)
    if mark is None:
        return dict(NOT_OWNED)
    return owner(mark.get('cluster'))


def set_mark(root, cluster=None):
    """Put our mark into an object's XML, replacing an older one; other metadata stays."""
    metadata = root.find('metadata')
    if metadata is None:
        metadata = _xml.etree.Element('metadata')
        # libvirt accepts <metadata> anywhere, but keep it after <name>/<uuid> for readability
        anchor = root.find('uuid')
        if anchor is None:
            anchor = root.find('name')
        if anchor is not None:
            anchor.addnext(metadata)
        else:
            root.insert(0, metadata)
    for old in metadata.findall(OWNER_TAG):
        metadata.remove(old)
    mark = _xml.etree.SubElement(metadata, OWNER_TAG, nsmap={PREFIX: NAMESPACE})
    if cluster:
        mark.set('cluster', cluster)
    return root


def check_owner(kind, name, current_owner, cluster, adopt):
    """Decide, before any change, whether we may touch an existing object.

    Returns the text of an 'adopt' action when the mark must be added or changed, None when the
    object is already ours; raises StrataError when it is not ours and adopt is not set.
    """
    if not current_owner.get('owned'):
        if not adopt:
            raise StrataError(
                "%s '%s' exists but was not created by strata.libvirt (it has no strata ownership mark); "
                "refusing to modify or remove it. Set adopt=true to take it over." % (kind, name))
        return "adopt %s '%s' (add the strata ownership mark%s)" % (
            kind, name, (", cluster '%s'" % cluster) if cluster else '')
    have = current_owner.get('cluster')
    if cluster and have != cluster:
        if not adopt:
            raise StrataError(
                "%s '%s' belongs to cluster '%s', not to cluster '%s' (option cluster); refusing to modify "
                "or remove it. Set adopt=true to move it to cluster '%s'." % (kind, name, have, cluster, cluster))
        return "adopt %s '%s' (move it from cluster '%s' to cluster '%s')" % (kind, name, have, cluster)
    return None


class OwnerRegistry(object):
    """Ownership of pools and volumes of one URI, in one JSON file written atomically.

    Must be used under the per-URI lock (see _connection.hypervisor_lock).
    """

    SECTIONS = ('pools', 'volumes')

    def __init__(self, state_dir, uri, module=None):
        self.uri = uri
        self.module = module
        target = _remote_files.ssh_target(uri)
        # on the hypervisor's machine: the file its own modules use (keyed by its local URI); here: keyed by uri
        self.remote = _remote_files.RemoteFiles(target) if target else None
        self.key = target['local_uri'] if target else uri
        self.path = os.path.join(state_dir, 'owners', '%s.json' % uri_slug(self.key))
        # where earlier releases kept the records of a remote URI (on this machine); read too, moved on the next save
        self.legacy_path = os.path.join(state_dir, 'owners', '%s.json' % uri_slug(uri)) if target else None
        self.data = None

    @staticmethod
    def _read_local(path):
        try:
            with open(path, 'r') as handle:
                return handle.read()
        except IOError:
            return None

    def _read(self):
        if self.remote is not None:
            return self.remote.read(self.path)
        return self._read_local(self.path)

    def _parse(self, text, path, where=''):
        try:
            return json.loads(text) if text else {}
        except ValueError as exc:
            raise StrataError("The ownership registry '%s'%s is not valid JSON (%s); fix or remove it" % (path, where, exc))

    def load(self):
        data = {'version': 1, 'uri': self.key, 'pools': {}, 'volumes': {}}
        where = (' on %s' % self.remote.target['host']) if self.remote is not None else ''
        loaded = self._parse(self._read(), self.path, where)
        legacy = self._parse(self._read_local(self.legacy_path), self.legacy_path) if self.legacy_path else {}
        for section in self.SECTIONS:
            data[section].update(legacy.get(section) or {})
            data[section].update(loaded.get(section) or {})
        self.data = data
        return self

    def get(self, section, key):
        if self.data is None:
            self.load()
        entry = self.data[section].get(key)
        if entry is None:
            return dict(NOT_OWNED)
        return owner(entry.get('cluster'))

    def record(self, section, key, cluster=None, **info):
        if self.data is None:
            self.load()
        entry = dict(info)
        entry['cluster'] = cluster or None
        self.data[section][key] = entry
        self.save()

    def forget(self, section, key):
        if self.data is None:
            self.load()
        if self.data[section].pop(key, None) is not None:
            self.save()

    def save(self):
        text = json.dumps(self.data, indent=2, sort_keys=True) + '\n'
        if self.remote is not None:
            self.remote.write(self.path, text, REGISTRY_MODE)
            if self.legacy_path and os.path.exists(self.legacy_path):
                os.unlink(self.legacy_path)  # its records are in the host's file now; a forgotten one must not return
            return
        directory = os.path.dirname(self.path)
        ensure_dir(directory)
        fd, tmp = tempfile.mkstemp(prefix='.owners-', dir=directory)
        try:
            with os.fdopen(fd, 'w') as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            replace_file(self.module, tmp, self.path, REGISTRY_MODE)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

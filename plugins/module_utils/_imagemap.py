# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The image map: labels, aliases and size presets, resolved in this one place.

    image_map:
      default_label: debian-12
      aliases: {debian: debian-12, stable: debian}        # label -> label (or an inline image entry)
      sizes: {small: {vcpus: 1, memory: 1G, disk: 10G}}   # merged over the built-in presets
      images:
        debian-12:
          source: https://.../debian-12-generic-amd64.qcow2
          checksum: sha512:https://.../SHA512SUMS
          decompress: auto          # auto | none | zstd | xz | gz | bz2
          format: qcow2             # convert to (optional)
          nocloud: true             # reads a NoCloud seed (cidata ISO)
          size: small               # default resources: a preset name ...
          resources: {disk: 20G}    # ... and/or explicit values over it
          login_user: debian
          python_interpreter: /usr/bin/python3

Pure functions (used by the filter plugin on the controller and by tests); errors are StrataError.

Private to strata.libvirt; no compatibility promise.
"""

import copy

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _validate
from ansible_collections.strata.libvirt.plugins.module_utils._image import source as _source
from ansible_collections.strata.libvirt.plugins.module_utils._image import sums as _sums

MIB = 1024 ** 2
DEFAULT_SIZES = {
    'small': {'vcpus': 1, 'memory': '1G', 'disk': '10G'},
    'medium': {'vcpus': 2, 'memory': '2G', 'disk': '20G'},
    'large': {'vcpus': 4, 'memory': '4G', 'disk': '40G'},
}
DEFAULT_SIZE = 'small'
IMAGE_KEYS = ('source', 'checksum', 'decompress', 'format', 'nocloud', 'size', 'resources', 'login_user',
              'python_interpreter', 'file_name', 'description')
RESOURCE_KEYS = ('vcpus', 'memory', 'disk')


def _mapping(value, what):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise StrataError('image map: %s must be a dict, not %s' % (what, type(value).__name__))
    return value


def sizes_of(image_map):
    sizes = copy.deepcopy(DEFAULT_SIZES)
    for name, preset in _mapping(_mapping(image_map, 'the image map').get('sizes'), 'sizes').items():
        preset = _mapping(preset, 'sizes.%s' % name)
        unknown = sorted(set(preset) - set(RESOURCE_KEYS))
        if unknown:
            raise StrataError('image map: sizes.%s has unknown keys %s (known: %s)'
                              % (name, ', '.join(unknown), ', '.join(RESOURCE_KEYS)))
        sizes[name] = dict(sizes.get(name, {}), **preset)
    return sizes


def normalise_resources(values, what):
    """{vcpus, memory, disk} -> {vcpus, memory_mib, disk_bytes} (None when unset).

    memory and disk take libvirt's units (1G, 512M, 10GB); a bare number is MiB for memory, bytes for disk.
    """
    result = {'vcpus': None, 'memory_mib': None, 'disk_bytes': None}
    if values.get('vcpus') is not None:
        try:
            vcpus = int(values['vcpus'])
        except (TypeError, ValueError):
            vcpus = 0
        if vcpus < 1 or isinstance(values['vcpus'], bool):
            raise StrataError('%s: vcpus %r is not a positive integer' % (what, values['vcpus']))
        result['vcpus'] = vcpus
    if values.get('memory') is not None:
        memory = values['memory']
        # a bare number is MiB (as libvirt's <memory unit='MiB'>); with a unit, libvirt's units
        nbytes = _validate.memory_bytes(memory, subject='%s: memory' % what)
        if nbytes % MIB:
            raise StrataError('%s: memory: %r is not a whole number of MiB' % (what, memory))
        result['memory_mib'] = nbytes // MIB
    if values.get('disk') is not None:
        disk = values['disk']
        result['disk_bytes'] = _validate.size(disk, 'disk', subject='%s: disk' % what)  # a bare number is bytes, as for volumes
    return result


def resolve_label(image_map, label=None):
    """(canonical label, image entry, alias chain) for a label or alias; None means default_label."""
    image_map = _mapping(image_map, 'the image map')
    images = _mapping(image_map.get('images'), 'images')
    aliases = _mapping(image_map.get('aliases'), 'aliases')
    if label is None or label == '':
        label = image_map.get('default_label')
        if not label:
            raise StrataError('image map: no label given and no default_label set')
    chain = [label]
    current = label
    while True:
        if current in images:
            entry = images[current]
            break
        if current not in aliases:
            known = sorted(images)
            raise StrataError("image map: unknown image label '%s'%s; images: %s; aliases: %s" % (
                current, (" (reached through %s)" % ' -> '.join(chain)) if len(chain) > 1 else '',
                ', '.join(known) or 'none', ', '.join(sorted(aliases)) or 'none'))
        target = aliases[current]
        if isinstance(target, dict):
            entry = target
            break
        if target in chain:
            raise StrataError('image map: alias loop %s' % ' -> '.join(chain + [target]))
        chain.append(target)
        current = target
    return current, _mapping(entry, "image '%s'" % current), chain


def resolve_image(image_map, label=None):
    """The image entry for a label or alias with every default filled in (what the roles use)."""
    canonical, entry, chain = resolve_label(image_map, label)
    what = "image map: image '%s'" % canonical
    unknown = sorted(set(entry) - set(IMAGE_KEYS))
    if unknown:
        raise StrataError('%s has unknown keys %s (known: %s)' % (what, ', '.join(unknown), ', '.join(IMAGE_KEYS)))
    if not entry.get('source'):
        raise StrataError('%s has no source' % what)
    if not entry.get('checksum'):
        raise StrataError('%s has no checksum (use none to skip verification explicitly)' % what)
    try:
        _sums.parse_checksum(entry['checksum'])
        src = _source.source_info(entry['source'])
    except StrataError as exc:
        raise StrataError('%s: %s' % (what, exc))
    decompress = entry.get('decompress', 'auto')
    if decompress not in ('auto', 'none') + _source.METHODS:
        raise StrataError('%s: decompress %r is not one of auto, none, %s' % (what, decompress, ', '.join(_source.METHODS)))
    method = _source.compression_of(src['name'], decompress)
    resources = resolve_resources(image_map, size=entry.get('size'), overrides=entry.get('resources'), what=what)
    return {
        'label': canonical,
        'requested': chain[0],
        'aliases': chain[1:] if len(chain) > 1 else [],
        'source': entry['source'],
        # what output may show: the source without the password or token a URL may carry
        'source_shown': _source.redact_url(entry['source']),
        'checksum': entry['checksum'],
        'decompress': decompress,
        'format': entry.get('format'),
        'nocloud': bool(entry.get('nocloud', True)),
        'login_user': entry.get('login_user'),
        'python_interpreter': entry.get('python_interpreter', '/usr/bin/python3'),
        'file_name': entry.get('file_name') or _source.cached_name(src['name'], method),
        'resources': resources,
    }


def _update(result, resolved):
    """result's vcpus / memory_mib / disk_bytes from resolved where it sets them."""
    for key in ('vcpus', 'memory_mib', 'disk_bytes'):
        if (resolved or {}).get(key) is not None:
            result[key] = int(resolved[key])


def resolve_resources(image_map, size=None, overrides=None, image_default=None, what='image map'):
    """vcpus / memory / disk from, in order of precedence: overrides, the named size preset, the image's
    default resources (already resolved: vcpus, memory_mib, disk_bytes), the default preset (small)."""
    sizes = sizes_of(image_map)
    result = normalise_resources(sizes[DEFAULT_SIZE], what)
    _update(result, image_default)
    if size is not None:
        if size not in sizes:
            raise StrataError("%s: unknown size '%s'; known sizes: %s" % (what, size, ', '.join(sorted(sizes))))
        _update(result, normalise_resources(sizes[size], what))
    overrides = _mapping(overrides, '%s: resources' % what)
    unknown = sorted(set(overrides) - set(RESOURCE_KEYS) - set(['memory_mib', 'disk_bytes']))
    if unknown:
        raise StrataError('%s: unknown resource keys %s (known: %s)' % (what, ', '.join(unknown), ', '.join(RESOURCE_KEYS)))
    _update(result, normalise_resources(dict((k, v) for k, v in overrides.items() if k in RESOURCE_KEYS), what))
    _update(result, overrides)
    result['size'] = size
    return result


def resolve_vm(image_map, vm):
    """A VM's image and resources: its image label (or the default), its size or its own values over the
    image's default resources."""
    vm = _mapping(vm, 'the VM')
    image = resolve_image(image_map, vm.get('image'))
    what = "VM '%s'" % vm.get('name', '?')
    overrides = dict((k, vm[k]) for k in RESOURCE_KEYS if vm.get(k) is not None)
    resources = resolve_resources(image_map, size=vm.get('size'), overrides=overrides, image_default=image['resources'],
                                  what=what)
    return {'image': image, 'resources': resources}

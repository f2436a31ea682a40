# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Turning the download into the cached image: decompression, qemu-img info and convert.

Private to strata.libvirt; no compatibility promise.
"""

import bz2
import gzip
import json
import lzma
import os
import shutil

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._image.sums import CHUNK

try:
    import zstandard
except ImportError:  # optional: zstd is decompressed by the zstd command when there is one
    zstandard = None


def zstd_tool(module):
    """How zstd would be decompressed here: ('cli', path) or ('zstandard', None); error when neither."""
    path = module.get_bin_path('zstd')
    if path:
        return 'cli', path
    if zstandard is not None:
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

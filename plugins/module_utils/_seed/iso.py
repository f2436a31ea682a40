# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The NoCloud seed ISO (volume label ``cidata``), built in memory with pycdlib under a fixed clock, so the
same content always gives the same bytes: whether a seed must be rewritten is decided by comparing bytes
with what is there, nothing else.

Private to strata.libvirt; no compatibility promise.
"""

import contextlib
import hashlib
import io
import re
import time
import traceback

try:
    import pycdlib
    import pycdlib.dates
    import pycdlib.headervd
    import pycdlib.pycdlib
    import pycdlib.utils
except ImportError:
    pycdlib = None
    PYCDLIB_IMPORT_ERROR = traceback.format_exc()
else:
    PYCDLIB_IMPORT_ERROR = None

VOLUME_LABEL = 'cidata'
# Every date in the ISO: 2000-01-01T00:00:00Z (identical content -> identical bytes).
FIXED_TIME = 946684800.0
SEED_FILES = ('meta-data', 'network-config', 'user-data')


def require_pycdlib(module):
    if pycdlib is None:
        from ansible.module_utils.basic import missing_required_lib
        module.fail_json(msg=missing_required_lib('pycdlib'), exception=PYCDLIB_IMPORT_ERROR)


def _fixed_time():
    return FIXED_TIME


def _utc_localtime(seconds=None):
    return time.gmtime(FIXED_TIME if seconds is None else seconds)


class _FixedClock(object):
    """Stands in for the time module inside pycdlib: one fixed instant, in UTC."""

    gmtime = staticmethod(time.gmtime)
    strftime = staticmethod(time.strftime)
    mktime = staticmethod(time.mktime)
    localtime = staticmethod(_utc_localtime)
    time = staticmethod(_fixed_time)


@contextlib.contextmanager
def _fixed_clock():
    modules = [pycdlib.pycdlib, pycdlib.headervd, pycdlib.dates, pycdlib.utils]
    saved = [(mod, mod.time) for mod in modules if hasattr(mod, 'time')]
    try:
        for mod, dummy in saved:
            mod.time = _FixedClock
        yield
    finally:
        for mod, original in saved:
            mod.time = original


def _iso9660_name(name):
    return '/' + re.sub(r'[^A-Z0-9_]', '_', name.upper()) + '.;1'


def build_iso(files):
    """NoCloud seed ISO bytes (ISO 9660 + Rock Ridge + Joliet, label cidata) of {name: text}: deterministic."""
    with _fixed_clock():
        iso = pycdlib.PyCdlib()
        iso.new(interchange_level=3, joliet=3, rock_ridge='1.09', vol_ident=VOLUME_LABEL,
                app_ident_str='strata.libvirt')
        for name in sorted(files):
            data = files[name].encode('utf-8')
            iso.add_fp(io.BytesIO(data), len(data), _iso9660_name(name), rr_name=name, joliet_path='/' + name)
        out = io.BytesIO()
        iso.write_fp(out)
        iso.close()
    return out.getvalue()


def read_iso(data):
    """{name: text} of the seed files in ISO bytes, and the volume label; (None, None) when unreadable."""
    try:
        iso = pycdlib.PyCdlib()
        iso.open_fp(io.BytesIO(data))
    except Exception:  # pycdlib raises several types for a file that is not an ISO
        return None, None
    try:
        label = iso.pvd.volume_identifier.decode('utf-8', 'replace').strip()
        files = {}
        for name in SEED_FILES:
            out = io.BytesIO()
            try:
                iso.get_file_from_iso_fp(out, rr_path='/' + name)
            except Exception:
                continue
            files[name] = out.getvalue().decode('utf-8', 'replace')
        return files, label
    finally:
        iso.close()


def sha256(data):
    return hashlib.sha256(data).hexdigest()

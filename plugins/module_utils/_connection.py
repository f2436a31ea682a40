# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Connection to libvirt, error mapping, the per-URI hypervisor lock, and the files strata.libvirt keeps
(directories and atomic replacement, each with an exact mode whatever the umask).

Private to strata.libvirt; no compatibility promise.
"""


import contextlib
import errno
import hashlib
import os
import re
import stat
import tempfile
import time
import traceback

try:
    import fcntl
    HAS_FCNTL = True
except ImportError:  # pragma: no cover - not POSIX
    HAS_FCNTL = False

LIBVIRT_IMPORT_ERROR = None
try:
    import libvirt
    HAS_LIBVIRT = True
except ImportError:
    libvirt = None
    HAS_LIBVIRT = False
    LIBVIRT_IMPORT_ERROR = traceback.format_exc()

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError

DEFAULT_URI = 'qemu:///system'
DEFAULT_STATE_DIR = '/var/lib/strata-libvirt'
DEFAULT_LOCK_TIMEOUT = 300


def resolve_uri(uri, environ=None):
    """The URI to use: the user's, else LIBVIRT_DEFAULT_URI, else qemu:///system."""
    if uri:
        return uri
    environ = os.environ if environ is None else environ
    return environ.get('LIBVIRT_DEFAULT_URI') or DEFAULT_URI


def is_local(uri):
    """True for URIs whose hypervisor is this host (no host name part)."""
    rest = uri.split('://', 1)[1] if '://' in uri else ''
    return not rest.split('/', 1)[0]


def is_local_qemu(uri):
    """True when the hypervisor is QEMU on this host: its files (pid files, logs) are this host's files."""
    return uri.startswith('qemu') and is_local(uri)


def error_text(exc):
    """A one-line description of a libvirt error (or any exception)."""
    if HAS_LIBVIRT and isinstance(exc, libvirt.libvirtError):
        msg = exc.get_error_message() or str(exc)
        code = exc.get_error_code()
        return '%s (libvirt error code %s)' % (msg, code)
    return str(exc)


def is_error(exc, *names):
    """True when exc is a libvirtError whose code is one of the VIR_ERR_* names."""
    if not (HAS_LIBVIRT and isinstance(exc, libvirt.libvirtError)):
        return False
    code = exc.get_error_code()
    return any(getattr(libvirt, name, None) == code for name in names)


def unsupported(exc):
    """True when libvirt says the driver does not support a call or a flag."""
    if is_error(exc, 'VIR_ERR_NO_SUPPORT'):
        return True
    return is_error(exc, 'VIR_ERR_INVALID_ARG') and 'unsupported flags' in (exc.get_error_message() or '')


def call(what, func, *args):
    """Call a libvirt function; turn a libvirt error into a StrataError that says what failed."""
    try:
        return func(*args)
    except Exception as exc:  # libvirt.libvirtError, or TypeError from the binding
        if HAS_LIBVIRT and isinstance(exc, libvirt.libvirtError):
            hint = ''
            if unsupported(exc):
                hint = ' The libvirt driver behind this URI does not support this operation.'
            raise StrataError('Failed to %s: %s.%s' % (what, error_text(exc), hint))
        raise


def require_libvirt(module):
    if not HAS_LIBVIRT:
        from ansible.module_utils.basic import missing_required_lib
        module.fail_json(msg=missing_required_lib('libvirt-python (import libvirt)'),
                         exception=LIBVIRT_IMPORT_ERROR)


def _silence_libvirt_stderr():
    # libvirt prints every error to stderr by default; we report them ourselves.
    try:
        libvirt.registerErrorHandler(lambda ctx, err: None, None)
    except Exception:  # pragma: no cover
        pass


def open_connection(uri):
    """Open a read-write connection; a clear message when it cannot be opened."""
    _silence_libvirt_stderr()
    try:
        return libvirt.open(uri)
    except libvirt.libvirtError as exc:
        raise StrataError(
            "Cannot connect to libvirt at uri '%s': %s. Is libvirtd (or virtqemud) running, and may this "
            "user talk to it (root, or a member of the libvirt group)?" % (uri, error_text(exc)))


def lock_path(state_dir, uri):
    """Lock file of one hypervisor URI inside state_dir."""
    return os.path.join(state_dir, 'locks', '%s.lock' % uri_slug(uri))


def uri_slug(uri):
    """A file-name-safe, collision-free key for a URI."""
    readable = re.sub(r'[^A-Za-z0-9._-]+', '_', uri).strip('_')[:48]
    return '%s-%s' % (readable, hashlib.sha256(uri.encode('utf-8')).hexdigest()[:12])


def make_dirs(path, mode):
    """Create the directory path and its missing parents, each with exactly mode whatever the umask (os.makedirs
    gives the parents 0777 less the umask, and the umask narrows mode too); directories that exist are left as
    they are. Raises OSError."""
    path = os.path.abspath(path)
    missing = []
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, mode)
        except OSError as exc:
            if exc.errno != errno.EEXIST or not os.path.isdir(directory):
                raise
            continue  # made by a task running in parallel: its mode is its maker's
        os.chmod(directory, mode)


def write_atomic(path, data, mode, uid=-1, gid=-1):
    """Write bytes to path through a private temporary file beside it: never visible half-written or wider."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix='.%s.strata-tmp-' % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            if uid != -1 or gid != -1:
                os.fchown(handle.fileno(), uid, gid)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def replace_file(module, tmp, path, mode):
    """Move the temporary file tmp (beside path) onto path with exactly mode. module.atomic_move gives a file it
    creates 0666 less the umask (world-writable under umask 0): the umask is 077 while it runs, so the file is never
    wider than 0600 on its way, then it gets mode. Without a module, os.replace."""
    os.chmod(tmp, mode)
    if module is None:
        os.replace(tmp, path)
        return
    umask = os.umask(0o077)
    try:
        module.atomic_move(tmp, path, keep_dest_attrs=False)
    finally:
        os.umask(umask)
    os.chmod(path, mode)


# A lock file: opened for writing by its owner (root) only; it holds nothing.
LOCK_MODE = 0o600


def ensure_dir(path, mode=0o700):
    """A directory of state_dir; 0700: the lock files and the ownership registry are for strata.libvirt (root) only."""
    try:
        make_dirs(path, mode)
    except OSError as exc:
        raise StrataError("Cannot create state directory '%s' (option state_dir): %s" % (path, exc))


@contextlib.contextmanager
def hypervisor_lock(state_dir, uri, timeout=DEFAULT_LOCK_TIMEOUT, poll=0.2):
    """Exclusive fcntl lock for one URI, held around read-plan-apply.

    Tasks that run in parallel against the same hypervisor (forks, async, several plays) queue here,
    so none of them plans against a state another one is changing.
    """
    path = lock_path(state_dir, uri)
    ensure_dir(os.path.dirname(path))
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, LOCK_MODE)
    except OSError as exc:
        raise StrataError("Cannot open the lock file '%s' (option state_dir): %s" % (path, exc))
    if stat.S_IMODE(os.fstat(fd).st_mode) != LOCK_MODE:
        try:
            os.fchmod(fd, LOCK_MODE)  # the umask narrowed it: it must stay writable for its owner
        except OSError:
            pass  # another user's lock file: it is open, that is all the lock needs
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if HAS_FCNTL:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise StrataError("Timed out after %ss waiting for the lock '%s' of uri '%s' "
                                      "(another task is changing this hypervisor)" % (timeout, path, uri))
                time.sleep(poll)
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the lock

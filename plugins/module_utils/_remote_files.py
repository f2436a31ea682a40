# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The state files of a hypervisor behind a ``driver+ssh://`` URI, read and written on that machine.

A module that runs on the controller and reaches a hypervisor through ``qemu+ssh://user@host/system`` must see
the same ownership registry as a module that runs on that host against ``qemu:///system``: the registry belongs
to the hypervisor, not to whichever machine talks to it. The files are reached over the same SSH that libvirt's
ssh transport opens for the URI (its user, port, ``keyfile``, ``command``, ``no_verify`` and ``no_tty``), and
the remote side needs only a POSIX shell, as libvirt's transport does.

Private to strata.libvirt; no compatibility promise.
"""

import shlex
import subprocess
from urllib.parse import parse_qs, unquote, urlsplit

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError

TIMEOUT = 60
MISSING_RC = 3  # the remote shell's answer for "no such file"


def ssh_target(uri):
    """What reaches the machine of a ``driver+ssh://`` URI: {'argv': ssh command up to the host, 'host', 'local_uri':
    the URI a module on that machine would use (qemu:///system)}; None for any other URI (local, tls, tcp, libssh)."""
    parts = urlsplit(uri or '')
    driver, _plus, transport = parts.scheme.partition('+')
    if transport != 'ssh' or not parts.hostname:
        return None
    query = dict((key, values[-1]) for key, values in parse_qs(parts.query, keep_blank_values=True).items())
    argv = [query.get('command') or 'ssh']
    if parts.port:
        argv += ['-p', str(parts.port)]
    if parts.username:
        argv += ['-l', unquote(parts.username)]
    if query.get('keyfile'):
        argv += ['-i', query['keyfile']]
    argv += ['-T', '-e', 'none']
    if query.get('no_verify') == '1':
        argv += ['-o', 'StrictHostKeyChecking=no']
    # the modules run without a terminal: a password prompt would hang the task (libvirt's no_tty=1)
    argv += ['-o', 'BatchMode=yes']
    argv += ['--', parts.hostname]
    return {'argv': argv, 'host': parts.hostname, 'local_uri': '%s://%s' % (driver, parts.path or '/system')}


class RemoteFiles(object):
    """Whole-file reads and atomic writes of files on the machine of a ``driver+ssh://`` URI."""

    def __init__(self, target, timeout=TIMEOUT):
        self.target = target
        self.timeout = timeout

    def _run(self, script, what, data=None):
        argv = self.target['argv'] + ['sh -c %s' % shlex.quote(script)]
        try:
            proc = subprocess.run(argv, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  timeout=self.timeout, check=False, universal_newlines=True)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise StrataError('Cannot %s on %s over SSH (%s): %s' % (what, self.target['host'], argv[0], exc))
        return proc

    def read(self, path):
        """The file's text, or None when it does not exist."""
        quoted = shlex.quote(path)
        proc = self._run('test -e %s || exit %d; exec cat -- %s' % (quoted, MISSING_RC, quoted), "read '%s'" % path)
        if proc.returncode == MISSING_RC:
            return None
        if proc.returncode != 0:
            raise StrataError("Cannot read '%s' on %s over SSH (rc %d): %s"
                              % (path, self.target['host'], proc.returncode, proc.stderr.strip()[-400:]))
        return proc.stdout

    def write(self, path, text, mode):
        """Replace the file with text, atomically (a temporary file beside it, then mv), with mode; its directory is
        created 0700 when missing."""
        directory, tmp = path.rsplit('/', 1)[0] or '/', path + '.tmp-strata'
        script = 'umask 077 && mkdir -p %s && cat > %s && chmod %o %s && mv -f %s %s' % (
            shlex.quote(directory), shlex.quote(tmp), mode, shlex.quote(tmp), shlex.quote(tmp), shlex.quote(path))
        proc = self._run(script, "write '%s'" % path, data=text)
        if proc.returncode != 0:
            raise StrataError("Cannot write '%s' on %s over SSH (rc %d): %s"
                              % (path, self.target['host'], proc.returncode, proc.stderr.strip()[-400:]))

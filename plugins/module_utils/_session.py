# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One connection context for every module and the boot-time CLI.

    with session(uri, state_dir, lock_timeout, module) as ctx:      # connect, lock, load the registry
        ctx.conn, ctx.uri (canonical), ctx.registry, ctx.module
    with session(..., hold_lock=False) as ctx:                      # connect only; take the lock per step
        with ctx.lock():
            ...
    with shared():                                                  # the items of one module run
        with module_session(item_module) as ctx: ...                # one connection, lock and registry for all

It resolves the URI (the user's, else LIBVIRT_DEFAULT_URI, else qemu:///system), opens the connection,
asks libvirt for the canonical URI (the key of the lock and of the ownership registry), takes the per-URI
hypervisor lock and loads the ownership registry, and closes the connection on the way out, whatever
happened inside. Errors are StrataError with a message that says what failed.

Private to strata.libvirt; no compatibility promise.
"""

import contextlib

from ansible_collections.strata.libvirt.plugins.module_utils import _connection


class Session(object):
    """What a step that talks to libvirt needs: the connection, its canonical URI, the ownership registry
    (loaded under the lock), the module (None for the boot-time CLI), and the lock itself."""

    def __init__(self, module, conn, uri, state_dir, lock_timeout, registry=True):
        self.module = module
        self.with_registry = registry
        self.conn = conn
        self.uri = uri
        self.state_dir = state_dir
        self.lock_timeout = lock_timeout
        self.registry = None
        self.cache = {}   # what a step read and may reuse within this session (a step that changes it drops it)

    @contextlib.contextmanager
    def lock(self):
        """The per-URI hypervisor lock; the ownership registry (unless registry=False) is (re)loaded under it."""
        with _connection.hypervisor_lock(self.state_dir, self.uri, self.lock_timeout):
            if self.with_registry:
                # imported here: the boot-time CLI uses sessions without a registry and ships without lxml
                from ansible_collections.strata.libvirt.plugins.module_utils import _ownership
                self.registry = _ownership.OwnerRegistry(self.state_dir, self.uri, self.module).load()
            yield self


def close_quietly(conn):
    try:
        conn.close()
    except Exception:  # pragma: no cover - closing a broken connection
        pass


@contextlib.contextmanager
def session(uri=None, state_dir=_connection.DEFAULT_STATE_DIR, lock_timeout=_connection.DEFAULT_LOCK_TIMEOUT,
            module=None, hold_lock=True, registry=True):
    """Connect to libvirt (and, with hold_lock, take the lock and load the registry) for the block; close after.
    registry=False: no ownership registry (the startup engine and the boot-time CLI need none)."""
    wanted = _connection.resolve_uri(uri)
    conn = _connection.open_connection(wanted)
    try:
        canonical = _connection.call('get the URI of the connection', conn.getURI) or wanted
        ctx = Session(module, conn, canonical, state_dir, lock_timeout, registry)
        if hold_lock:
            with ctx.lock():
                yield ctx
        else:
            yield ctx
    finally:
        close_quietly(conn)


class SharedSessions(object):
    """The locked sessions of one module run's items, one per connection: the first item that asks for one
    connects, takes the lock and loads the registry; the later items of the same URI get the same session
    (no new connection, lock or registry read per item); all are closed, and their locks released, when the
    run's items are done."""

    def __init__(self):
        self._stack = contextlib.ExitStack()
        self._sessions = {}

    def get(self, key, open_session):
        @contextlib.contextmanager
        def reuse():
            if key not in self._sessions:
                self._sessions[key] = self._stack.enter_context(open_session())
            yield self._sessions[key]
        return reuse()

    def close(self):
        self._sessions = {}
        self._stack.close()


_SHARED = []   # the SharedSessions of the module run in progress (see shared())


@contextlib.contextmanager
def shared():
    """For the block (the items of one module run), module_session() with hold_lock and registry hands out
    one session per connection instead of a new one per call."""
    sessions = SharedSessions()
    _SHARED.append(sessions)
    try:
        yield sessions
    finally:
        _SHARED.remove(sessions)
        sessions.close()


def module_session(module, params=None, hold_lock=True, registry=True):
    """session() with a module's connection options (uri, state_dir, lock_timeout); within shared(), the
    block's session of the same options when it holds the lock and the registry."""
    params = module.params if params is None else params
    timeout = params.get('lock_timeout')
    args = (params.get('uri'), params.get('state_dir') or _connection.DEFAULT_STATE_DIR,
            _connection.DEFAULT_LOCK_TIMEOUT if timeout is None else timeout)
    if _SHARED and hold_lock and registry:
        return _SHARED[-1].get(args, lambda: session(*args, module=module))
    return session(*args, module=module, hold_lock=hold_lock, registry=registry)

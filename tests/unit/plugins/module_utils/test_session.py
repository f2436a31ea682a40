# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The connection context against libvirt's test:///default driver."""

import time

import pytest

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _session


class Params(object):
    """What module_session reads of a module: its connection options."""

    def __init__(self, **params):
        self.params = params


def test_a_session_connects_locks_loads_the_registry_and_closes(tmp_path):
    with _session.session('test:///default', str(tmp_path)) as ctx:
        conn = ctx.conn
        assert ctx.uri == 'test:///default' and ctx.registry is not None and ctx.registry.data['pools'] == {}
        assert conn.isAlive()
    with pytest.raises(Exception):
        conn.getURI()  # closed on the way out


def test_without_the_lock_held_and_without_a_registry(tmp_path):
    with _session.session('test:///default', str(tmp_path), hold_lock=False, registry=False) as ctx:
        assert ctx.registry is None
        with ctx.lock():
            assert ctx.registry is None


def test_a_lock_timeout_of_zero_is_honoured(tmp_path):
    options = Params(uri='test:///default', state_dir=str(tmp_path), lock_timeout=0)
    with _session.module_session(options):
        began = time.monotonic()
        with pytest.raises(StrataError, match='Timed out after 0s waiting for the lock'):
            with _session.module_session(options):
                pass
        assert time.monotonic() - began < 5


def test_the_default_lock_timeout_when_none_is_given(tmp_path, monkeypatch):
    seen = {}

    def fake_session(uri, state_dir, lock_timeout, module, hold_lock, registry):
        seen['timeout'] = lock_timeout
    monkeypatch.setattr(_session, 'session', fake_session)
    _session.module_session(Params(uri='test:///default', state_dir=str(tmp_path), lock_timeout=None))
    assert seen['timeout'] == 300

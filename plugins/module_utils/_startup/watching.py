# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The boot service's watch (config `watch: true`): after the ordered start, it looks at the cluster's VMs every
WATCH_INTERVAL seconds. A VM that is off although nobody asked the service to stop it (destroyed, crashed, shut down
from inside the guest, failed) is started again with the same engine: its dependencies are probed first and it
starts once they are ready, then it is waited for with its own probes. Each restart is logged, with the reason
libvirt gives. A VM that stops again soon after a restart waits longer before the next one (RESTART_BACKOFF,
doubled up to RESTART_BACKOFF_MAX, reset once it has run for STABLE seconds).

The watch ends when the service is told to stop: SIGTERM (systemctl stop), or `strata-libvirt-boot stop`, which
leaves a stop marker first so that the watch does not start again what the stop shuts down.

Private to strata.libvirt; no compatibility promise.
"""

import os
import time

from ansible_collections.strata.libvirt.plugins.module_utils._startup.domains import end_of, look, state_text

WATCH_INTERVAL = 2.0
RESTART_BACKOFF = 5.0
RESTART_BACKOFF_MAX = 300.0
STABLE = 600.0


def marker_path(state_dir, config_path):
    """The stop marker of a config: `stop` writes it, `start` removes it, the watch ends when it appears."""
    name = os.path.basename(config_path)
    return os.path.join(state_dir, 'boot', '%s.stopping' % (name[:-5] if name.endswith('.json') else name))


class Watch(object):
    """run(restart) blocks until should_stop() is true; restart(name) runs the engine for the VM and returns
    its result. say(line) logs."""

    def __init__(self, conn, names, say, should_stop, clock=time.monotonic, sleep=time.sleep):
        self.conn = conn
        self.names = list(names)
        self.say = say
        self.should_stop = should_stop
        self.clock = clock
        self.sleep = sleep
        self.backoff = dict((n, 0.0) for n in self.names)
        self.not_before = dict((n, 0.0) for n in self.names)
        self.started_at = {}
        self.restarts = []

    def down(self):
        """{name: (what, why)} of the VMs that are off now."""
        found = {}
        for name in self.names:
            try:
                state = look(self.conn, name)
            except Exception as exc:  # libvirt away for a moment: look again next round
                self.say('watch: cannot read the state of %s: %s' % (name, exc))
                continue
            ended = end_of(state)
            if ended is not None:
                found[name] = (state_text(state), ended)
        return found

    def run(self, restart):
        self.say('watch: watching %d VM(s) every %.0f s: %s' % (len(self.names), WATCH_INTERVAL, ', '.join(self.names)))
        while not self.should_stop():
            now = self.clock()
            for name, started in list(self.started_at.items()):
                if now - started >= STABLE:
                    self.backoff[name] = 0.0
                    del self.started_at[name]
            for name, (text, ended) in sorted(self.down().items()):
                if self.should_stop():
                    break
                if ended[0] == 'no longer defined':
                    continue    # undefined on purpose (unprovision): nothing to start
                if now < self.not_before[name]:
                    continue
                self.say('watch: %s is %s without a stop by this service: starting it again once its dependencies '
                         'are ready' % (name, text))
                result = restart(name)
                self.restarts.append({'vm': name, 'was': text, 'ok': not result.get('failed')})
                if result.get('failed'):
                    self.say('watch: %s did not come back: %s' % (name, result.get('msg')))
                else:
                    self.say('watch: %s runs again and is ready' % name)
                self.backoff[name] = min(RESTART_BACKOFF_MAX, max(RESTART_BACKOFF, self.backoff[name] * 2))
                self.not_before[name] = self.clock() + self.backoff[name]
                self.started_at[name] = self.clock()
            self._pause(WATCH_INTERVAL)
        self.say('watch: ends (%d restart(s))' % len(self.restarts))

    def _pause(self, seconds):
        end = self.clock() + seconds
        while not self.should_stop() and self.clock() < end:
            self.sleep(min(0.2, max(0.0, end - self.clock())))

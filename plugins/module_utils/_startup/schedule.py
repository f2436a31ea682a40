# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which VM may start when: the start scheduler on the dependency graph's edges, and the reverse order of a
shutdown. Pure: the caller says what time it is and what happened; nothing here starts, sleeps or probes.

  Schedule(names, deps, labels, max_parallel, limits, delay, policy)
      due(now)          the VMs that may start now, in priority order (marked booting)
      probing(name)     a VM that already runs: waited for, not started, not counted against the limits
      ready(name, now) / failed(name) / abandoned(name) / retry(name, at) / halt()
      wake(now)         when due() may next return something without any other event (a delay or a retry ends)
      finished()        nothing boots and nothing more can start

A VM may start when each VM it depends on is ready (and `delay` seconds have passed since the last of them was),
when fewer than max_parallel started VMs are booting (started, not yet ready or failed), and when, for each of its
labels with a limit, fewer than that many VMs with the label are booting. Among the VMs that may start, the order
of `names` decides (the caller gives tier, then definition order). A VM that waits only for a slot does not hold back
a later VM whose labels have room.

When a VM fails under on_failure=abort or stop_started, the schedule halts: nothing more starts. Under continue, its
dependents (and theirs) can never start: they are skipped; the VMs that do not depend on the failed one go on.

Private to strata.libvirt; no compatibility promise.
"""

WAITING, BOOTING, PROBING, READY, FAILED, SKIPPED = 'waiting', 'booting', 'probing', 'ready', 'failed', 'skipped'


class Schedule(object):

    def __init__(self, names, deps, labels=None, max_parallel=None, limits=None, delay=0.0, policy='abort'):
        self.names = list(names)
        self.position = dict((n, i) for i, n in enumerate(self.names))
        member = set(self.names)
        # a dependency outside this run is running already (the engine checked it): only the run's own VMs gate
        self.deps = dict((n, [d for d in deps.get(n, []) if d in member]) for n in self.names)
        self.dependents = dict((n, [m for m in self.names if n in self.deps[m]]) for n in self.names)
        self.labels = dict((n, list((labels or {}).get(n) or [])) for n in self.names)
        self.max_parallel = max_parallel
        self.limits = dict(limits or {})
        self.delay = float(delay or 0)
        self.policy = policy
        self.state = dict((n, WAITING) for n in self.names)
        self.not_before = {}      # name -> time before which it may not start (a start retry's backoff)
        self.ready_at = {}
        self.halted = False
        self.peak = 0             # the most VMs booting at once (started by this run)
        self.peak_label = dict((label, 0) for label in self.limits)

    # -- what may start --------------------------------------------------------------------------
    def booting(self, label=None):
        return [n for n in self.names if self.state[n] == BOOTING and (label is None or label in self.labels[n])]

    def _deps_ready_at(self, name):
        """The time the last dependency became ready, or None while one is not ready."""
        times = []
        for dep in self.deps[name]:
            if self.state[dep] != READY:
                return None
            times.append(self.ready_at[dep])
        return max(times) if times else None

    def earliest(self, name):
        """The earliest time the VM may start as far as its dependencies and its retries go; None while a
        dependency is not ready."""
        ready = self._deps_ready_at(name)
        if ready is None and self.deps[name]:
            return None
        at = (ready + self.delay) if ready is not None else 0.0
        return max(at, self.not_before.get(name, 0.0))

    def _room(self, name, counts):
        if self.max_parallel is not None and counts[None] >= self.max_parallel:
            return False
        return all(counts[label] < self.limits[label] for label in self.labels[name] if label in self.limits)

    def due(self, now):
        """The VMs that may start now, in priority order; they are booting from here on."""
        if self.halted:
            return []
        counts = dict((label, len(self.booting(label))) for label in self.limits)
        counts[None] = len(self.booting())
        chosen = []
        for name in self.names:
            if self.state[name] != WAITING:
                continue
            at = self.earliest(name)
            if at is None or at > now or not self._room(name, counts):
                continue
            chosen.append(name)
            self.state[name] = BOOTING
            counts[None] += 1
            for label in self.labels[name]:
                if label in counts:
                    counts[label] += 1
        self.peak = max(self.peak, counts[None])
        for label in self.limits:
            self.peak_label[label] = max(self.peak_label[label], counts[label])
        return chosen

    def waiting_for_room(self, now):
        """The VMs that could start now but for the start limits."""
        if self.halted:
            return []
        return [n for n in self.names if self.state[n] == WAITING and self.earliest(n) is not None
                and self.earliest(n) <= now]

    def wake(self, now):
        """The next time a waiting VM's delay or retry backoff ends, when that is later than now; else None."""
        times = [self.earliest(n) for n in self.names if self.state[n] == WAITING]
        times = [t for t in times if t is not None and t > now]
        return min(times) if times else None

    # -- what happened ---------------------------------------------------------------------------
    def probing(self, name):
        self.state[name] = PROBING

    def ready(self, name, now):
        self.state[name] = READY
        self.ready_at[name] = now

    def retry(self, name, at):
        """A start call failed and will be tried again at `at`; its slot is free meanwhile."""
        self.state[name] = WAITING
        self.not_before[name] = at

    def failed(self, name):
        """The VM failed; returns its dependents that can now never start (skipped), in priority order. Under abort
        or stop_started nothing more starts at all (none is called skipped)."""
        self.state[name] = FAILED
        if self.policy != 'continue':
            self.halted = True
            return []
        skipped = []
        todo = list(self.dependents[name])
        while todo:
            other = todo.pop(0)
            if self.state[other] == WAITING:
                self.state[other] = SKIPPED
                skipped.append(other)
                todo.extend(self.dependents[other])
        return sorted(skipped, key=self.position.get)

    def abandoned(self, name):
        """The VM's wait was abandoned (another VM failed, or the run was cancelled): it did not fail itself, so
        nothing is skipped for it; nothing more starts."""
        self.state[name] = FAILED
        self.halted = True

    def halt(self):
        self.halted = True

    def finished(self):
        if any(self.state[n] in (BOOTING, PROBING) for n in self.names):
            return False
        if self.halted:
            return True
        return not any(self.state[n] == WAITING and self.earliest(n) is not None for n in self.names)

    def not_started(self):
        return [n for n in self.names if self.state[n] == WAITING]


def start_order(names, deps):
    """The order in which the VMs would start if each became ready in turn: dependencies first, else the order of
    `names` (tier, then definition order). Pure."""
    member = set(names)
    left = dict((n, set(d for d in deps.get(n, []) if d in member)) for n in names)
    order = []
    while left:
        name = next(n for n in names if n in left and not left[n])
        order.append(name)
        del left[name]
        for other in left.values():
            other.discard(name)
    return order


def stop_waves(names, dependents):
    """The reverse order of a shutdown, by edges: a VM is stopped once every VM of `names` that depends on it is off.
    Returns the waves the engine would stop side by side if each stop took as long. Pure."""
    member = set(names)
    left = dict((n, set(d for d in dependents.get(n, []) if d in member)) for n in names)
    waves = []
    while left:
        wave = [n for n in names if n in left and not left[n]]
        waves.append(wave)
        for name in wave:
            del left[name]
        for other in left.values():
            other.difference_update(wave)
    return waves


def simulate(schedule, boot_seconds, fails=(), start_seconds=0.0):
    """Run a schedule on a fake clock: each VM takes boot_seconds[name] from its start to ready (or to failed when
    it is in `fails`). Returns {name: {'start': t, 'ready': t} or {'start': t, 'failed': t}} and the VMs skipped or
    not started. For tests and for planning; no VM is touched."""
    now = 0.0
    timeline = {}
    pending = {}    # name -> time it becomes ready or fails
    skipped = []
    while True:
        for name in schedule.due(now):
            timeline[name] = {'start': now}
            pending[name] = now + start_seconds + boot_seconds.get(name, 0.0)
        if schedule.finished():
            break
        candidates = list(pending.values())
        wake = schedule.wake(now)
        if wake is not None:
            candidates.append(wake)
        if not candidates:
            break
        now = min(candidates)
        for name in sorted([n for n, t in pending.items() if t <= now], key=schedule.position.get):
            del pending[name]
            if name in fails:
                timeline[name]['failed'] = now
                skipped.extend(schedule.failed(name))
            else:
                timeline[name]['ready'] = now
                schedule.ready(name, now)
    return {'timeline': timeline, 'skipped': skipped, 'not_started': schedule.not_started(), 'peak': schedule.peak}

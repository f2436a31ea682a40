# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The ordered startup / shutdown engine: read states -> plan -> (unless check mode) start tier by tier or
stop in reverse -> result.

ONE engine, two callers: the strata.libvirt.startup module (_startup.module.run_module) and the boot-time
service of the strata.libvirt.boot_order role (_startup.cli). Nothing here imports Ansible, so the boot
service runs it with only Python and libvirt-python.

  Engine(config, conn, progress, lock, check_mode).run()
      config: _startup.spec.normalize(params); lock(): a context manager, the per-URI lock
      (taken while states are read and start calls are issued, not while probes wait)

The engine's jobs are one file each: planning and the result here, scheduling the starts (starting),
the readiness waits (probing), the shutdown (stopping).

Private to strata.libvirt; no compatibility promise.
"""

import contextlib
import threading

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _probes
from ansible_collections.strata.libvirt.plugins.module_utils._startup.domains import read_state
from ansible_collections.strata.libvirt.plugins.module_utils._startup.graph import build_graph
from ansible_collections.strata.libvirt.plugins.module_utils._startup.probing import ProbeMixin
from ansible_collections.strata.libvirt.plugins.module_utils._startup.starting import StartMixin
from ansible_collections.strata.libvirt.plugins.module_utils._startup.stopping import StopMixin
from ansible_collections.strata.libvirt.plugins.module_utils._startup.timing import Clock, iso, seconds_text


@contextlib.contextmanager
def _no_lock():
    yield


class Engine(StartMixin, ProbeMixin, StopMixin):
    """Runs one config against one connection. progress(line) gets one line per event."""

    def __init__(self, config, conn, progress=None, lock=None, check_mode=False):
        self.config = config
        self.conn = conn
        self.progress_cb = progress
        self.lock = lock or _no_lock
        self.check_mode = check_mode
        self.graph = build_graph(config['vms'])
        self.vms = dict((vm['name'], vm) for vm in config['vms'])
        self.clock = Clock()
        self.resolver = _probes.AddressResolver()
        self._mutex = threading.Lock()
        self.records = dict((vm['name'], {'tier': self.graph['level'][vm['name']], 'state_before': None,
                                          'action': 'none', 'status': 'not started', 'forced': False,
                                          'address': vm['address'], 'address_source': 'given' if vm['address'] else None,
                                          'timeline': []})
                            for vm in config['vms'])
        self.tier_records = []
        self.actions = []
        self.warnings = []
        self.started = []      # names this run started, in order
        self.stopped = []
        self.forced = []
        self.failures = []     # messages naming VM, probe and time waited
        self.errors = []
        self.changed = False

    # -- reporting -----------------------------------------------------------------------------
    def progress(self, text):
        line = '[+%7.1fs] %s' % (self.clock.since(), text)
        if self.progress_cb:
            with self._mutex:
                self.progress_cb(line)

    def event(self, name, text, **extra):
        entry = dict(self.clock.now(), event=text)
        entry.update(extra)
        with self._mutex:
            self.records[name]['timeline'].append(entry)
        self.progress('%s: %s' % (name, text))
        return entry

    def selected_tiers(self):
        tiers = list(range(len(self.graph['tiers'])))
        if self.config['tiers'] is not None:
            tiers = [t for t in tiers if t in self.config['tiers']]
        return tiers

    # -- plan ------------------------------------------------------------------------------------
    def read(self):
        states = {}
        for name in self.vms:
            states[name] = read_state(self.conn, name)
            self.records[name]['state_before'] = states[name]['state'] if states[name] else 'undefined'
        return states

    def plan(self, states):
        """The ordered plan: per tier, what each VM would get. Pure given the states."""
        state = self.config['state']
        order = self.selected_tiers()
        if state == 'stopped':
            order = list(reversed(order))
        tiers = []
        missing = [n for t in order for n in self.graph['tiers'][t] if states[n] is None]
        if missing and state == 'started' and not self.check_mode:
            raise StrataError('VM(s) not defined at this uri: %s; nothing was started'
                              % ', '.join("'%s'" % n for n in missing))
        if missing and state == 'present' and self.config['autostart'] is not None and not self.check_mode:
            raise StrataError('VM(s) not defined at this uri: %s' % ', '.join("'%s'" % n for n in missing))
        if missing and self.check_mode and state != 'stopped':
            self.warnings.append('VM(s) not defined (yet): %s; the plan assumes an earlier task defines them'
                                 % ', '.join(missing))
        self._check_selection(states)
        for index in order:
            entries = []
            for name in self.graph['tiers'][index]:
                current = states[name]
                cur = current['state'] if current else 'undefined'
                action = 'none'
                if state == 'started' and cur not in ('running', 'blocked'):
                    action = 'start'
                elif state == 'stopped' and current and cur not in ('shutoff', 'crashed'):
                    action = 'stop'
                entries.append({'name': name, 'current': cur, 'action': action,
                                'after': self.graph['deps'][name],
                                'probes': [_probes.build(p).describe() for p in self.vms[name]['probes']]
                                if state != 'stopped' else [],
                                'timeout': self.vms[name]['timeout'], 'grace': self.vms[name]['grace']})
                self.records[name]['action'] = action
                if action == 'start':
                    self.actions.append("start VM '%s' (tier %d)" % (name, index))
                elif action == 'stop':
                    self.actions.append("stop VM '%s' (tier %d): %s shutdown, grace %s s, then force"
                                        % (name, index, self.config['shutdown_mode'], seconds_text(self.vms[name]['grace'])))
            tiers.append({'tier': index, 'vms': entries})
        if self.config['autostart'] is not None:
            for name in self.vms:
                current = states[name]
                if current and current['persistent'] and current['autostart'] != self.config['autostart']:
                    self.actions.append("%s libvirt autostart of VM '%s'"
                                        % ('enable' if self.config['autostart'] else 'disable', name))
        return {'state': state, 'order': order, 'tiers': tiers}

    def _check_selection(self, states):
        """With `tiers`, refuse to break the order: dependencies outside the selection must run
        (start), dependents outside it must be off (stop)."""
        if self.config['tiers'] is None or self.config['state'] == 'present':
            return
        chosen = set(n for t in self.selected_tiers() for n in self.graph['tiers'][t])
        problems = []
        for name in sorted(chosen, key=lambda n: self.graph['level'][n]):
            if self.config['state'] == 'started':
                for dep in self.graph['deps'][name]:
                    st = states[dep]['state'] if states[dep] else 'undefined'
                    if dep not in chosen and st not in ('running', 'blocked'):
                        problems.append("'%s' (tier %d) needs '%s' (tier %d), which is %s"
                                        % (name, self.graph['level'][name], dep, self.graph['level'][dep], st))
            else:
                for dep in self.graph['dependents'][name]:
                    st = states[dep]['state'] if states[dep] else 'undefined'
                    if dep not in chosen and st not in ('shutoff', 'crashed', 'undefined'):
                        problems.append("'%s' (tier %d) is needed by '%s' (tier %d), which is still %s"
                                        % (name, self.graph['level'][name], dep, self.graph['level'][dep], st))
        if problems:
            raise StrataError('tiers %s cannot be %s in order: %s. Run the other tiers first; nothing was changed.'
                              % (self.config['tiers'], self.config['state'], '; '.join(sorted(set(problems)))))

    # -- run -------------------------------------------------------------------------------------
    def run(self):
        """Read, plan and (unless check mode) apply. Returns the result dict; never raises for a VM
        that does not become ready (the result has failed=True and msg), raises StrataError for
        errors found before anything was changed."""
        self.run_started = iso(self.clock.wall0)
        with self.lock():
            states = self.read()
            plan = self.plan(states)
        if not self.check_mode:
            if self.config['autostart'] is not None:
                self._apply_autostart(states)
            if self.config['state'] == 'started':
                self._run_start(plan)
            elif self.config['state'] == 'stopped':
                self._run_stop(plan['order'], stop_all=True)
        return self.result(plan)

    # -- result ----------------------------------------------------------------------------------
    def result(self, plan):
        changed = self.changed if not self.check_mode else bool(self.actions)
        result = {
            'changed': changed,
            'state': self.config['state'],
            'actions': list(self.actions),
            'plan': plan,
            'tiers': self.tier_records,
            'vms': self.records,
            'started': list(self.started),
            'stopped': list(self.stopped),
            'forced': list(self.forced),
            'run_started_at': self.run_started,
            'elapsed': self.clock.since(),
            'warnings': list(self.warnings),
        }
        if self.failures or self.errors:
            result['failed'] = True
            lines = self.failures + self.errors
            policy = self.config['on_failure']
            if self.config['state'] == 'started':
                running = sorted(n for n in self.vms if self._is_running(n))
                tail = {'abort': 'on_failure=abort: later tiers were not started',
                        'stop_started': 'on_failure=stop_started: stopped what this run started (%s)'
                                        % (', '.join(self.stopped) or 'nothing'),
                        'continue': 'on_failure=continue: the other tiers were still started'}[policy]
                lines.append('%s; running now: %s' % (tail, ', '.join(running) or 'none'))
                result['running'] = running
            result['msg'] = '. '.join(lines)
        return result

    def _is_running(self, name):
        try:
            return self.conn.lookupByName(name).isActive() == 1
        except Exception:
            return False

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The ordered startup / shutdown engine: read states -> plan -> (unless check mode) start on the dependency graph
or stop in reverse -> result.

ONE engine, two callers: the strata.libvirt.startup module (_startup.module.run_module) and the boot-time
service of the strata.libvirt.boot_order role (_startup.cli). Nothing here imports Ansible, so the boot
service runs it with only Python and libvirt-python.

  Engine(config, conn, progress, lock, check_mode).run()
      config: _startup.spec.normalize(params); lock(): a context manager, the per-URI lock
      (taken while states are read and start calls are issued, not while probes wait)

The engine's jobs are one file each: planning and the result here, which VM may start when (schedule, pure),
the start loop (starting), the readiness waits (probing), the shutdown (stopping).

Events go to progress(line) (one text line each) and to events(record) (a dict: t, vm, kind, text, notable) as they
happen; `notable` marks the lines a person follows (a VM started, ready, failed, retried, restarted, skipped, stopped).
cancel(reason) (the boot service's SIGTERM) stops the scheduling, abandons the waits and stops what the run started.

Private to strata.libvirt; no compatibility promise.
"""

import contextlib
import socket
import threading

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils import _probes
from ansible_collections.strata.libvirt.plugins.module_utils._startup.domains import read_state
from ansible_collections.strata.libvirt.plugins.module_utils._startup.graph import build_graph
from ansible_collections.strata.libvirt.plugins.module_utils._startup.schedule import start_order, stop_waves
from ansible_collections.strata.libvirt.plugins.module_utils._startup.spec import AUTO, local_vms
from ansible_collections.strata.libvirt.plugins.module_utils._startup.probing import ProbeMixin
from ansible_collections.strata.libvirt.plugins.module_utils._startup.starting import StartMixin
from ansible_collections.strata.libvirt.plugins.module_utils._startup import keys
from ansible_collections.strata.libvirt.plugins.module_utils._startup.stopping import StopMixin
from ansible_collections.strata.libvirt.plugins.module_utils._startup.timing import Clock, iso, seconds_text


# the kinds of events a person follows in Ansible's output (the others go to the log and the timeline only)
NOTABLE = ('start', 'ready', 'failed', 'retry', 'restart', 'skipped', 'waiting', 'stopped', 'forced', 'cancel')
ORDER_SHOWN = 12         # parts of the order shown in the line that opens a start or a stop
# auto start limit per host CPU: an emulated (TCG) guest's boot keeps a core busy (on 2 cores, 2 guests at once reach
# SSH in ~42 s, 4 at once in ~110 s: 2 at a time gets more guests up per minute); a KVM guest's boot mostly waits
AUTO_PER_CPU = {'qemu': 1, 'kvm': 4}


class Engine(StartMixin, ProbeMixin, StopMixin):
    """Runs one config against one connection. progress(line) gets one line per event."""

    def __init__(self, config, conn, progress=None, lock=None, check_mode=False, events=None):
        if config['state'] != 'started':  # a stop or an autostart setting leaves the VMs of other hosts alone
            config = dict(config, vms=local_vms(config['vms']))
        self.config = config
        self.conn = conn
        self.progress_cb = progress
        self.events_cb = events
        self.lock = lock or contextlib.nullcontext
        self.check_mode = check_mode
        self.graph = build_graph(config['vms'])
        self.vms = dict((vm['name'], vm) for vm in config['vms'])
        self.index = dict((vm['name'], i) for i, vm in enumerate(config['vms']))
        self.clock = Clock()
        self.resolver = _probes.AddressResolver()
        self._mutex = threading.Lock()
        self.records = dict((vm['name'], {'tier': self.graph['level'][vm['name']], 'state_before': None,
                                          'action': 'none', 'status': 'not started', 'forced': False,
                                          'address': vm['address'], 'address_source': 'given' if vm['address'] else None,
                                          'timeline': []})
                            for vm in config['vms'])
        self.tier_records = []
        self.waits = []        # the threads that wait for a VM to be ready (and then read its host keys)
        self.limits = {'max_parallel': None, 'labels': {}, 'text': 'no start limit', 'short': 'no start limit'}
        self.schedule = None
        self.verify_only = False
        self.start_attempts = {}
        self.skipped = []
        self.restarted = []
        self.tier_times = {}
        self.abandoned = threading.Event()
        self.abandon_why = None
        self.cancel_requested = threading.Event()
        self.cancel_reason = None
        self.actions = []
        self.warnings = []
        self.started = []      # names this run started, in order
        self.stopped = []
        self.forced = []
        self.failures = []     # messages naming VM, probe and time waited
        self.errors = []
        self.changed = False

    # -- reporting -----------------------------------------------------------------------------
    def progress(self, text, vm=None, kind=None, notable=False):
        t = self.clock.since()
        line = '[+%7.1fs] %s' % (t, text)
        with self._mutex:
            if self.progress_cb:
                self.progress_cb(line)
            if self.events_cb:
                self.events_cb({'t': t, 'vm': vm, 'kind': kind, 'text': text, 'notable': bool(notable)})

    def event(self, name, text, kind=None, **extra):
        entry = dict(self.clock.now(), event=text)
        entry.update(extra)
        with self._mutex:
            self.records[name]['timeline'].append(entry)
        notable = kind in NOTABLE and not (self.verify_only and kind == 'ready')
        self.progress('%s: %s' % (name, text), vm=name, kind=kind, notable=notable)
        return entry

    def order_text(self, names, waits, word):
        """'first: a, b; c after a; d after b, c' (at most ORDER_SHOWN parts; the rest counted)."""
        first = [n for n in names if not waits[n]]
        parts = (['first: %s' % ', '.join(first)] if first else []) + [
            '%s %s %s' % (n, word, ', '.join(waits[n])) for n in names if waits[n]]
        if len(parts) > ORDER_SHOWN:
            parts = parts[:ORDER_SHOWN] + ['%d more (see the plan)' % (len(parts) - ORDER_SHOWN)]
        return '; '.join(parts)

    # -- shared by the start loop, the waits and the stop ------------------------------------------
    def priority(self, names):
        """Tier, then the order of the definition."""
        return sorted(names, key=lambda n: (self.graph['level'][n], self.index[n]))

    def thread(self, target, name):
        thread = threading.Thread(target=target, name=name)
        thread.daemon = True
        thread.start()
        return thread

    def abandon(self, why):
        """Stop the waits under way (a failure under abort or stop_started, or a cancel)."""
        with self._mutex:
            if self.abandon_why is None:
                self.abandon_why = why
        self.abandoned.set()

    def cancel(self, reason):
        """Stop starting (the boot service's SIGTERM); safe from a signal handler: it only sets flags."""
        self.cancel_reason = reason
        self.cancel_requested.set()

    def tier_began(self, index):
        with self._mutex:
            if index not in self.tier_times:
                self.tier_times[index] = (self.clock.now(), self.clock.since())

    def tier_deadline(self, index):
        """The monotonic deadline of a tier (tier_timeout from its first start), or None."""
        if not self.config['tier_timeout']:
            return None
        began = self.tier_times[index][1]
        return self.clock.mono0 + began + self.config['tier_timeout']

    def selected_tiers(self):
        tiers = list(range(len(self.graph['tiers'])))
        if self.config['tiers'] is not None:
            tiers = [t for t in tiers if t in self.config['tiers']]
        return tiers

    # -- plan ------------------------------------------------------------------------------------
    def read(self):
        states = {}
        for name in self.vms:
            if self.vms[name].get('remote'):  # on another hypervisor: waited for by its probes, never read here
                states[name] = {'state': 'remote', 'autostart': None, 'persistent': False}
            else:
                states[name] = read_state(self.conn, name, with_type=self.config['max_parallel'] == AUTO)
            self.records[name]['state_before'] = states[name]['state'] if states[name] else 'undefined'
        self.limits = self.resolve_limits(states)
        return states

    def resolve_limits(self, states):
        """The start limits of this run; max_parallel auto from the host's CPUs and the domains' type."""
        value, source = self.config['max_parallel'], None
        if value == AUTO:
            cpus = _connection.call('read the node info', self.conn.getInfo)[2]
            types = set(states[n]['type'] for n in self.vms if states[n] and states[n].get('type'))
            virt = 'qemu' if 'qemu' in types or not types else 'kvm'
            value = max(1, AUTO_PER_CPU[virt] * cpus)
            source = 'auto: %d x %d host CPU(s), %s guests%s' % (
                AUTO_PER_CPU[virt], cpus, 'emulated (TCG)' if virt == 'qemu' else 'KVM', '' if types else ' assumed')
        parts = []
        if value is not None:
            parts.append('max_parallel %d%s' % (value, (' (%s)' % source) if source else ''))
        parts.extend('%s at most %d' % (label, limit) for label, limit in sorted(self.config['limits'].items()))
        short = (['max_parallel %d' % value] if value is not None else []) + [
            '%s at most %d' % (label, limit) for label, limit in sorted(self.config['limits'].items())]
        return {'max_parallel': value, 'max_parallel_source': source, 'labels': dict(self.config['limits']),
                'text': ', '.join(parts) or 'no start limit', 'short': ', '.join(short) or 'no start limit'}

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
                if cur == 'remote':
                    action = 'wait'
                elif state == 'started' and cur not in ('running', 'blocked'):
                    action = 'start'
                elif state == 'stopped' and current and cur not in ('shutoff', 'crashed'):
                    action = 'stop'
                entries.append({'name': name, 'current': cur, 'action': action,
                                'after': self.graph['deps'][name],
                                'probes': [_probes.build(p).describe() for p in self.vms[name]['probes']]
                                if state != 'stopped' else [],
                                'timeout': self.vms[name]['timeout'], 'grace': self.vms[name]['grace']})
                if current and cur == 'remote':
                    entries[-1]['host'] = self.vms[name]['remote']
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
        return {'state': state, 'order': order, 'tiers': tiers, 'schedule': self.schedule_plan(tiers)}

    def schedule_plan(self, tiers):
        """What the scheduler works on: the edges, the order in which the VMs can start (or stop), the limits."""
        names = [e['name'] for t in tiers for e in t['vms']]
        chosen = set(names)
        edges = [{'from': dep, 'to': name} for name in self.priority(names) for dep in self.graph['deps'][name]
                 if dep in chosen]
        out = {'edges': edges, 'max_parallel': self.limits['max_parallel'],
               'max_parallel_source': self.limits['max_parallel_source'], 'limits': self.limits['labels'],
               'limits_text': self.limits['text'], 'start_retries': self.config['start_retries'],
               'start_backoff': self.config['start_backoff'], 'tier_delay': self.config['tier_delay'],
               'restart_on_timeout': sorted(n for n in names if self.vms[n]['restart_on_timeout'])}
        if self.config['state'] == 'stopped':
            out['stop_waves'] = stop_waves(self.priority(names)[::-1], self.graph['dependents'])
        else:
            out['start_order'] = start_order(self.priority(names), self.graph['deps'])
            out['waits_for'] = dict((n, [d for d in self.graph['deps'][n] if d in chosen]) for n in names)
        return out

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
                self._run_stop([e['name'] for t in plan['tiers'] for e in t['vms']])
        self.tier_records = self._tier_records(plan)
        return self.result(plan)

    def _tier_records(self, plan):
        """Per tier of the plan: its VMs, a status from theirs, when its first VM began and its last was ready
        (or stopped)."""
        records = []
        stopping = self.config['state'] == 'stopped' or bool(self.stopped)
        for tier in plan['tiers']:
            names = [v['name'] for v in tier['vms']]
            statuses = [self.records[n]['status'] for n in names]
            record = {'tier': tier['tier'], 'vms': names, 'began': None, 'ready': None}
            if tier['tier'] in self.tier_times:
                record['began'] = self.tier_times[tier['tier']][0]
            for word in ('failed', 'stop failed', 'abandoned', 'skipped'):
                if word in statuses:
                    record['status'] = word
                    break
            else:
                if all(s == 'ready' for s in statuses):
                    record['status'] = 'ready'
                elif all(s == 'stopped' for s in statuses):
                    record['status'] = 'stopped'
                else:
                    record['status'] = 'not started' if all(s == 'not started' for s in statuses) else 'partly started'
            marks = [e for n in names for e in self.records[n]['timeline']
                     if e['event'] == 'ready' or (stopping and e['event'].startswith(('stopped', 'forced off')))]
            if record['status'] == 'ready':
                last = max((e for n in names for e in self.records[n]['timeline'] if e['event'] == 'ready'),
                           key=lambda e: e['t'], default=None)
                if last:
                    record['ready'] = {'at': last['at'], 't': last['t']}
            elif record['status'] == 'stopped' and marks:
                last = max(marks, key=lambda e: e['t'])
                record['stopped'] = {'at': last['at'], 't': last['t']}
            records.append(record)
        return records

    # -- result ----------------------------------------------------------------------------------
    def result(self, plan):
        changed = self.changed if not self.check_mode else bool(self.actions)
        schedule = dict(plan['schedule'])
        if self.schedule is not None:
            schedule['peak_booting'] = self.schedule.peak
        probes_from = self.probes_from()
        result = {
            'changed': changed,
            'state': self.config['state'],
            'actions': list(self.actions),
            'plan': plan,
            'schedule': schedule,
            'tiers': self.tier_records,
            'vms': self.records,
            'started': list(self.started),
            'stopped': list(self.stopped),
            'forced': list(self.forced),
            'skipped': list(self.skipped),
            'restarted': list(self.restarted),
            'run_started_at': self.run_started,
            'elapsed': self.clock.since(),
            'probes_from': probes_from,
            'warnings': list(self.warnings),
        }
        if self.config.get('host_keys'):
            result['host_keys'] = keys.found(self.records)
        cancelled = self.cancel_requested.is_set() and self.config['state'] == 'started' and not self.check_mode
        if self.failures or self.errors or cancelled:
            result['failed'] = True
            lines = self.failures + self.errors
            if cancelled:
                lines.insert(0, 'the start was cancelled (%s)' % self.cancel_reason)
            policy = self.config['on_failure']
            if self.config['state'] == 'started':
                running = sorted(n for n in self.vms if self._is_running(n))
                waiting = [n for n in self.priority(self.vms) if self.records[n]['status'] == 'not started'
                           and self.records[n]['action'] == 'start']
                skipped = ', '.join(self.skipped) or 'none'
                if cancelled:
                    tail = 'stopped what this run started (%s)' % (', '.join(self.stopped) or 'nothing')
                else:
                    tail = {'abort': 'on_failure=abort: nothing more was started (not started: %s)'
                                     % (', '.join(waiting) or 'none'),
                            'stop_started': 'on_failure=stop_started: stopped what this run started (%s)'
                                            % (', '.join(self.stopped) or 'nothing'),
                            'continue': 'on_failure=continue: the VMs that do not depend on it were still started '
                                        '(skipped, as they depend on it: %s)' % skipped}[policy]
                lines.append('%s; running now: %s' % (tail, ', '.join(running) or 'none'))
                result['running'] = running
            result['msg'] = '. '.join(lines)
        return result

    def probes_from(self):
        """Where the probes run: here, which is the hypervisor unless the URI names another machine (qemu+ssh://):
        then they reach the VMs' addresses as this machine does, and a start says so."""
        uri = self.config.get('uri') or ''
        remote = bool(uri) and not _connection.is_local(uri)
        if remote and self.config['state'] == 'started' and not any('probes ran from' in w for w in self.warnings):
            self.warnings.append("the probes ran from %s, where this runs, not from the hypervisor behind %s: they reach "
                                 "the VMs' addresses as this machine does" % (socket.gethostname(), uri))
        return {'host': socket.gethostname(), 'hypervisor': not remote, 'uri': uri or None}

    def _is_running(self, name):
        try:
            return self.conn.lookupByName(name).isActive() == 1
        except Exception:
            return False

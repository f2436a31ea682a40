# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The ordered startup / shutdown engine: dependency graph, plan, tier runner, reverse shutdown.

ONE engine, two callers: the strata.libvirt.startup module (run_module) and the boot-time
service of the strata.libvirt.boot_order role (_startup_cli). Nothing here imports Ansible at
module level, so the boot service runs it with only Python and libvirt-python.

  normalize(params)        pure: validated config (names, probes, graph); every error before any change
  build_graph(vms)         pure: dependencies and topological tiers; unknown names and cycles rejected
  Engine(config).run(...)  read states -> plan -> (unless check mode) start tier by tier / stop in reverse

Private to strata.libvirt; no compatibility promise.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import concurrent.futures
import contextlib
import re
import threading
import time

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils import _probes

libvirt = _connection.libvirt

STATES = ('started', 'stopped', 'present')
ON_FAILURE = ('abort', 'stop_started', 'continue')
SHUTDOWN_MODES = ('acpi', 'agent', 'default')
DEFAULT_TIMEOUT = 300.0
DEFAULT_GRACE = 120.0
ACPI_RESEND = 15.0       # seconds between repeated shutdown requests within the grace period
STOP_POLL = 0.5
HEARTBEAT = 30.0         # seconds between 'still waiting' progress lines
PARALLEL_STARTS = 8      # start calls of one tier issued at once (each is a QEMU launch, ~0.5-1.5 s)
NAME_RE = re.compile(r'^[A-Za-z0-9._+-]+$')

VM_KEYS = ('name', 'tier', 'after', 'probes', 'timeout', 'grace', 'address')


# --------------------------------------------------------------------------------------------------
# validation and the graph (pure)

def _number(value, where, minimum=0.0, allow_none=True):
    if value is None:
        if allow_none:
            return None
        raise StrataError('%s is required' % where)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise StrataError('%s: not a number: %r' % (where, value))
    if number < minimum:
        raise StrataError('%s: %s is less than %s' % (where, value, minimum))
    return number


def normalize(params):
    """Validate the task's (or the boot config's) parameters into the engine's config. Pure.

    Every mistake is reported here, before anything is started or stopped: unknown keys, duplicate
    or invalid names, tier and after on one VM, unknown names in after, dependency cycles, probe
    options, tier indexes out of range.
    """
    state = params.get('state') or 'started'
    if state not in STATES:
        raise StrataError('state: %r; use one of %s' % (state, ', '.join(STATES)))
    on_failure = params.get('on_failure') or 'abort'
    if on_failure not in ON_FAILURE:
        raise StrataError('on_failure: %r; use one of %s' % (on_failure, ', '.join(ON_FAILURE)))
    shutdown_mode = params.get('shutdown_mode') or 'acpi'
    if shutdown_mode not in SHUTDOWN_MODES:
        raise StrataError('shutdown_mode: %r; use one of %s' % (shutdown_mode, ', '.join(SHUTDOWN_MODES)))
    timeout = _number(params.get('timeout'), 'timeout', 1) or DEFAULT_TIMEOUT
    grace = _number(params.get('grace'), 'grace')
    grace = DEFAULT_GRACE if grace is None else grace
    raw_vms = params.get('vms')
    if not raw_vms or not isinstance(raw_vms, list):
        raise StrataError('vms: give at least one VM (a list of dicts with a name)')
    vms = []
    seen = set()
    for index, raw in enumerate(raw_vms):
        where = 'vms[%d]' % index
        if not isinstance(raw, dict):
            raise StrataError('%s: must be a dict, got %r' % (where, raw))
        unknown = sorted(set(k for k, v in raw.items() if v is not None) - set(VM_KEYS))
        if unknown:
            raise StrataError('%s: unknown key(s) %s; known: %s' % (where, ', '.join(unknown), ', '.join(VM_KEYS)))
        name = raw.get('name')
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise StrataError("%s.name: invalid domain name %r" % (where, name))
        where = 'vms[%d] (%s)' % (index, name)
        if name in seen:
            raise StrataError("vms: the name '%s' is given twice" % name)
        seen.add(name)
        tier = raw.get('tier')
        after = raw.get('after')
        if tier is not None and after:
            raise StrataError('%s: give either tier or after, not both' % where)
        if tier is not None:
            try:
                tier = int(tier)
            except (TypeError, ValueError):
                raise StrataError('%s.tier: not a whole number: %r' % (where, tier))
            if tier < 0:
                raise StrataError('%s.tier: must be 0 or more, got %s' % (where, tier))
        if after is not None:
            if isinstance(after, str):
                after = [after]
            if not isinstance(after, list) or not all(isinstance(a, str) for a in after):
                raise StrataError('%s.after: must be a list of VM names, got %r' % (where, after))
            after = list(dict.fromkeys(after))
        probes = raw.get('probes')
        if probes is None:
            probes = [{'type': 'running'}]
        if not isinstance(probes, list):
            raise StrataError('%s.probes: must be a list of probes, got %r' % (where, probes))
        vm_timeout = _number(raw.get('timeout'), '%s.timeout' % where, 1)
        vm_grace = _number(raw.get('grace'), '%s.grace' % where)
        vms.append({
            'name': name,
            'tier': tier if (tier is not None or after) else 0,
            'after': after or [],
            'probes': [_probes.validate(p, '%s.probes[%d]' % (where, i)) for i, p in enumerate(probes)],
            'timeout': vm_timeout if vm_timeout is not None else timeout,
            'grace': vm_grace if vm_grace is not None else grace,
            'address': raw.get('address') or None,
        })
    graph = build_graph(vms)
    selected = params.get('tiers')
    if selected is not None:
        if not isinstance(selected, list):
            selected = [selected]
        try:
            selected = sorted(set(int(t) for t in selected))
        except (TypeError, ValueError):
            raise StrataError('tiers: must be a list of tier indexes, got %r' % (params.get('tiers'),))
        bad = [t for t in selected if not 0 <= t < len(graph['tiers'])]
        if bad:
            raise StrataError('tiers: %s out of range; this definition has tiers 0 to %d: %s'
                              % (', '.join(str(t) for t in bad), len(graph['tiers']) - 1, describe_tiers(graph)))
    return {
        'state': state,
        'uri': params.get('uri'),
        'on_failure': on_failure,
        'shutdown_mode': shutdown_mode,
        'timeout': timeout,
        'grace': grace,
        'tier_timeout': _number(params.get('tier_timeout'), 'tier_timeout', 1),
        'tier_delay': _number(params.get('tier_delay'), 'tier_delay') or 0.0,
        'tiers': selected,
        'autostart': params.get('autostart'),
        'vms': vms,
    }


def build_graph(vms):
    """Dependencies and tiers of the VMs. Pure.

    A VM with `after` depends on the VMs it names. A VM with `tier: N` depends on every VM that
    has an explicit tier lower than N. Tiers are the topological levels: a VM's tier index is
    one more than the highest tier index among its dependencies (0 without any). A tier starts
    when the whole tier before it is ready; shutdown walks the tiers in reverse.
    """
    names = [vm['name'] for vm in vms]
    known = set(names)
    deps = {}
    for vm in vms:
        if vm['after']:
            unknown = [a for a in vm['after'] if a not in known]
            if unknown:
                raise StrataError("VM '%s': after names unknown VM(s) %s; known VMs: %s"
                                  % (vm['name'], ', '.join("'%s'" % u for u in unknown), ', '.join(names)))
            if vm['name'] in vm['after']:
                raise StrataError("VM '%s': after names the VM itself" % vm['name'])
            deps[vm['name']] = list(vm['after'])
        else:
            deps[vm['name']] = [o['name'] for o in vms
                                if not o['after'] and o['tier'] < vm['tier']]
    cycle = find_cycle(names, deps)
    if cycle:
        raise StrataError('dependency cycle: %s; no start order exists' % ' -> '.join(cycle))
    level = {}

    def depth(name):
        if name not in level:
            level[name] = 1 + max([depth(d) for d in deps[name]] or [-1])
        return level[name]

    for name in names:
        depth(name)
    tiers = [[] for dummy in range((max(level.values()) + 1) if level else 0)]
    for name in names:  # keep the user's order inside a tier
        tiers[level[name]].append(name)
    dependents = dict((n, [m for m in names if n in deps[m]]) for n in names)
    return {'tiers': tiers, 'deps': deps, 'dependents': dependents, 'level': level}


def find_cycle(names, deps):
    """A dependency cycle as a list of names (first repeated at the end), or None. Pure."""
    white, grey, black = 0, 1, 2
    color = dict((n, white) for n in names)
    stack = []

    def visit(node):
        color[node] = grey
        stack.append(node)
        for dep in deps.get(node, []):
            if color.get(dep) == grey:
                return stack[stack.index(dep):] + [dep]
            if color.get(dep) == white:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        color[node] = black
        return None

    for name in names:
        if color[name] == white:
            found = visit(name)
            if found:
                # report it in start order: a -> b means b waits for a
                return list(reversed(found))
    return None


def describe_tiers(graph):
    return '; '.join('tier %d: %s' % (i, ', '.join(t)) for i, t in enumerate(graph['tiers']))


# --------------------------------------------------------------------------------------------------
# time keeping

def iso(ts):
    return time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(ts)) + ('.%03dZ' % int((ts % 1) * 1000))


class Clock(object):
    """Wall-clock and monotonic time of the run; every event carries both."""

    def __init__(self):
        self.wall0 = time.time()
        self.mono0 = time.monotonic()

    def now(self):
        mono = time.monotonic()
        return {'at': iso(self.wall0 + (mono - self.mono0)), 't': round(mono - self.mono0, 2)}

    def since(self):
        return round(time.monotonic() - self.mono0, 2)


# --------------------------------------------------------------------------------------------------
# libvirt primitives (small on purpose; the domain module has the full lifecycle)

def state_name(state):
    return _probes.STATE_NAMES.get(state, str(state))


def read_state(conn, name):
    """(state name, autostart, persistent) of a domain, or None when it is not defined."""
    try:
        dom = conn.lookupByName(name)
    except Exception as exc:
        if _connection.is_error(exc, 'VIR_ERR_NO_DOMAIN'):
            return None
        raise StrataError("Failed to look up domain '%s': %s" % (name, _connection.error_text(exc)))
    state = _connection.call("read the state of domain '%s'" % name, dom.state)[0]
    persistent = bool(_connection.call("read domain '%s'" % name, dom.isPersistent))
    autostart = bool(_connection.call("read the autostart flag of '%s'" % name, dom.autostart)) if persistent else None
    return {'state': state_name(state), 'autostart': autostart, 'persistent': persistent}


def start_domain(conn, name):
    """Start (or resume) a domain; returns what was done."""
    dom = _connection.call("look up domain '%s'" % name, conn.lookupByName, name)
    state = dom.state()[0]
    if state == libvirt.VIR_DOMAIN_PAUSED:
        _connection.call("resume domain '%s'" % name, dom.resume)
        return 'resumed'
    if state == libvirt.VIR_DOMAIN_PMSUSPENDED:
        _connection.call("wake up domain '%s'" % name, dom.pMWakeup, 0)
        return 'woken up'
    if state in (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_BLOCKED):
        return 'already running'
    _connection.call("start domain '%s'" % name, dom.create)
    return 'started'


def request_shutdown(dom, mode):
    """One shutdown request (ACPI power button by default); falls back to libvirt's default method
    when the driver does not support the flag (the test driver)."""
    flags = {'acpi': getattr(libvirt, 'VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN', 1),
             'agent': getattr(libvirt, 'VIR_DOMAIN_SHUTDOWN_GUEST_AGENT', 2),
             'default': 0}[mode]
    try:
        dom.shutdownFlags(flags)
    except Exception as exc:
        if flags and _connection.unsupported(exc):
            dom.shutdownFlags(0)
        elif _connection.is_error(exc, 'VIR_ERR_OPERATION_INVALID') and not dom.isActive():
            return  # it went off meanwhile
        else:
            raise


def is_off(dom):
    try:
        return dom.state()[0] in (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_CRASHED) or not dom.isActive()
    except Exception as exc:
        if _connection.is_error(exc, 'VIR_ERR_NO_DOMAIN'):
            return True  # a transient domain is gone once it is off
        raise


# --------------------------------------------------------------------------------------------------
# the engine

class Engine(object):
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
                                        % (name, index, self.config['shutdown_mode'], _n(self.vms[name]['grace'])))
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

    def _apply_autostart(self, states):
        want = self.config['autostart']
        with self.lock():
            for name in self.vms:
                current = states[name]
                if current and current['persistent'] and current['autostart'] != want:
                    dom = _connection.call("look up domain '%s'" % name, self.conn.lookupByName, name)
                    _connection.call("set the autostart flag of '%s'" % name, dom.setAutostart, 1 if want else 0)
                    self.changed = True
                    self.progress("%s: libvirt autostart %s" % (name, 'enabled' if want else 'disabled'))

    def _run_start(self, plan):
        policy = self.config['on_failure']
        self.progress('startup of %d tier(s) begins (on_failure=%s): %s'
                      % (len(plan['tiers']), policy, '; '.join(
                          'tier %d: %s' % (t['tier'], ', '.join(v['name'] for v in t['vms'])) for t in plan['tiers'])))
        if plan['tiers'] and not any(v['action'] == 'start' for t in plan['tiers'] for v in t['vms']):
            self._verify_running(plan)
            return
        stop_here = False
        for position, tier in enumerate(plan['tiers']):
            index = tier['tier']
            record = {'tier': index, 'vms': [v['name'] for v in tier['vms']], 'status': 'not started',
                      'began': None, 'ready': None}
            self.tier_records.append(record)
            if stop_here:
                continue
            record['began'] = self.clock.now()
            self.progress('tier %d: begins (%s)' % (index, ', '.join(record['vms'])))
            ok = self._start_tier(index, tier['vms'])
            if ok:
                record['status'] = 'ready'
                record['ready'] = self.clock.now()
                self.progress('tier %d: ready after %.1f s' % (index, record['ready']['t'] - record['began']['t']))
                delay = self.config['tier_delay']
                if delay and position < len(plan['tiers']) - 1:
                    self.progress('tier %d: waiting tier_delay %s s before the next tier' % (index, _n(delay)))
                    time.sleep(delay)
                continue
            record['status'] = 'failed'
            record['failed'] = self.clock.now()
            if policy == 'continue':
                self.progress('tier %d: failed; on_failure=continue: going on with the next tier' % index)
                continue
            stop_here = True
            if policy == 'stop_started':
                self.progress('tier %d: failed; on_failure=stop_started: stopping what this run started, '
                              'in reverse order' % index)
                self._stop_started()
            else:
                self.progress('tier %d: failed; on_failure=abort: later tiers are not started' % index)

    def _start_tier(self, index, entries):
        deadline_tier = None
        if self.config['tier_timeout']:
            deadline_tier = time.monotonic() + self.config['tier_timeout']
        to_start = [e['name'] for e in entries if e['action'] == 'start']
        with self.lock():
            # each start launches a QEMU process; issue them side by side, then wait for all at once
            if len(to_start) > 1:
                with concurrent.futures.ThreadPoolExecutor(max_workers=min(len(to_start), PARALLEL_STARTS)) as pool:
                    errors = list(pool.map(self._issue_start, to_start))
            else:
                errors = [self._issue_start(name) for name in to_start]
        for name, exc in zip(to_start, errors):
            if exc is not None:
                self.records[name]['status'] = 'failed'
                self.failures.append("VM '%s' (tier %d) could not be started: %s" % (name, index, exc))
                continue
            self.changed = True
            self.started.append(name)
        for entry in entries:
            if entry['action'] != 'start':
                self.event(entry['name'], 'already %s: not started, probing' % entry['current'])
                dep_states = [d for d in self.graph['deps'][entry['name']] if d in self.started]
                if dep_states:
                    self.warnings.append("VM '%s' was already running before its dependencies %s were started"
                                         % (entry['name'], ', '.join(dep_states)))
        self._wait_all([(index, entry['name']) for entry in entries], deadline_tier)
        return all(self.records[e['name']]['status'] == 'ready' for e in entries)

    def _issue_start(self, name):
        """Start one VM and note it in its timeline; returns the StrataError when it could not be started."""
        try:
            did = start_domain(self.conn, name)
        except StrataError as exc:
            self.event(name, 'start failed: %s' % exc)
            return exc
        self.event(name, 'start issued (%s)' % did)
        return None

    def _wait_all(self, pairs, deadline_tier):
        """Run the probes of every (tier, VM name) pair at once; returns when each is ready, failed
        or abandoned (a failure abandons the others unless on_failure=continue)."""
        abandon = threading.Event()
        threads = []
        for index, name in pairs:
            if self.records[name]['status'] == 'failed':
                continue
            thread = threading.Thread(target=self._wait_ready, args=(name, index, deadline_tier, abandon),
                                      name='strata-startup-%s' % name)
            thread.daemon = True
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()

    def _verify_running(self, plan):
        """Every selected VM already runs, so no start waits on another tier's readiness: the probes of
        all tiers run at once (a re-run of a ready cluster costs one probe round, not one per tier).
        A tier is ready when all its VMs are."""
        tiers = '; '.join('tier %d: %s' % (t['tier'], ', '.join(v['name'] for v in t['vms'])) for t in plan['tiers'])
        self.progress('every VM already runs: probing the readiness of %d tier(s) at once: %s' % (len(plan['tiers']), tiers))
        deadline_tier = None
        if self.config['tier_timeout']:
            deadline_tier = time.monotonic() + self.config['tier_timeout']
        began = self.clock.now()
        pairs = []
        for tier in plan['tiers']:
            self.tier_records.append({'tier': tier['tier'], 'vms': [v['name'] for v in tier['vms']],
                                      'status': 'probing', 'began': began, 'ready': None})
            for entry in tier['vms']:
                self.event(entry['name'], 'already %s: not started, probing' % entry['current'])
                pairs.append((tier['tier'], entry['name']))
        self._wait_all(pairs, deadline_tier)
        for record in self.tier_records:
            statuses = [self.records[name]['status'] for name in record['vms']]
            if all(status == 'ready' for status in statuses):
                record['status'] = 'ready'
                last = max((e for name in record['vms'] for e in self.records[name]['timeline'] if e['event'] == 'ready'),
                           key=lambda e: e['t'])
                record['ready'] = {'at': last['at'], 't': last['t']}
                self.progress('tier %d: ready after %.1f s' % (record['tier'], record['ready']['t'] - began['t']))
            else:
                record['status'] = 'failed' if 'failed' in statuses else 'abandoned'
                record['failed'] = self.clock.now()
                self.progress('tier %d: %s' % (record['tier'], record['status']))

    def _wait_ready(self, name, index, deadline_tier, abandon):
        vm = self.vms[name]
        record = self.records[name]
        record['status'] = 'waiting'
        began = time.monotonic()
        deadline = began + vm['timeout']
        limit = 'timeout %s s' % _n(vm['timeout'])
        if deadline_tier is not None and deadline_tier < deadline:
            deadline, limit = deadline_tier, 'tier_timeout %s s' % _n(self.config['tier_timeout'])
        ctx = _probes.ProbeContext(vm, self.conn, self.resolver, deadline)
        policy = self.config['on_failure']
        try:
            for probe in [_probes.build(p) for p in vm['probes']]:
                probe_began = noted = time.monotonic()
                last = None
                attempts = 0
                while True:
                    if abandon.is_set():
                        record['status'] = 'abandoned'
                        self.event(name, 'abandoned while waiting for probe %s: another VM of tier %d failed'
                                   % (probe.describe(self._known_address(name)), index))
                        return
                    attempts += 1
                    wait = probe.interval
                    try:
                        detail = probe.check(ctx)
                    except _probes.ProbeFailed as exc:
                        last = str(exc)
                        wait = min(wait, exc.retry_after or wait)
                    except _probes.ProbeFatal as exc:
                        self._fail(name, index, probe, probe_began, began, 'cannot pass: %s' % exc, abandon, policy)
                        return
                    except Exception as exc:  # pragma: no cover - an unexpected error is a failure, not a crash
                        self._fail(name, index, probe, probe_began, began,
                                   'raised %s' % _connection.error_text(exc), abandon, policy)
                        return
                    else:
                        self._note_address(name)
                        self.event(name, 'probe %s passed' % probe.describe(self._known_address(name)),
                                   probe=probe.type, detail=detail,
                                   attempts=attempts, waited=round(time.monotonic() - probe_began, 2))
                        break
                    now = time.monotonic()
                    if now - noted >= HEARTBEAT:
                        noted = now
                        self.progress('%s: still waiting for probe %s (%.0f s so far, %.0f s left; last result: %s)'
                                      % (name, probe.describe(self._known_address(name)), now - probe_began,
                                         max(0, deadline - now), last))
                    if now >= deadline:
                        self._fail(name, index, probe, probe_began, began,
                                   'did not pass within the %s (last result: %s)' % (limit, last), abandon, policy)
                        return
                    time.sleep(max(0.0, min(wait, deadline - now)))
            record['status'] = 'ready'
            self.event(name, 'ready', waited=round(time.monotonic() - began, 2))
        except StrataError as exc:  # pragma: no cover - e.g. the domain vanished
            self._fail(name, index, None, began, began, str(exc), abandon, policy)

    def _known_address(self, name):
        return self.vms[name]['address'] or self.resolver.found.get(name, (None, None))[0]

    def _note_address(self, name):
        found = self.resolver.found.get(name)
        if found and not self.records[name]['address']:
            self.records[name]['address'], self.records[name]['address_source'] = found

    def _fail(self, name, index, probe, probe_began, began, why, abandon, policy):
        now = time.monotonic()
        what = ('probe %s' % probe.describe(self._known_address(name))) if probe else 'the readiness wait'
        msg = ("VM '%s' (tier %d) not ready: %s %s; waited %.1f s for this probe, %.1f s since the wait began"
               % (name, index, what, why, now - probe_began, now - began))
        self.records[name]['status'] = 'failed'
        self.records[name]['error'] = msg
        self.event(name, 'not ready: %s %s' % (what, why), probe=probe.type if probe else None,
                   waited=round(now - probe_began, 2))
        with self._mutex:
            self.failures.append(msg)
        if policy != 'continue':
            abandon.set()

    # -- stop ------------------------------------------------------------------------------------
    def _stop_started(self):
        names = set(self.started)
        order = [t for t in reversed(range(len(self.graph['tiers'])))
                 if any(n in names for n in self.graph['tiers'][t])]
        self._run_stop(order, only=names)

    def _run_stop(self, order, stop_all=False, only=None):
        for index in order:
            names = [n for n in self.graph['tiers'][index] if only is None or n in only]
            record = {'tier': index, 'vms': names, 'status': 'stopping', 'began': self.clock.now(), 'stopped': None}
            if stop_all:
                self.tier_records.append(record)
            else:
                record['status'] = 'stopping (on_failure=stop_started)'
                self.tier_records.append(record)
            self.progress('tier %d: stopping %s' % (index, ', '.join(names)))
            threads = []
            for name in names:
                thread = threading.Thread(target=self._stop_one, args=(name,), name='strata-stop-%s' % name)
                thread.daemon = True
                thread.start()
                threads.append(thread)
            for thread in threads:
                thread.join()
            record['stopped'] = self.clock.now()
            failed = [n for n in names if self.records[n].get('stop_error')]
            record['status'] = 'failed' if failed else 'stopped'
            self.progress('tier %d: %s after %.1f s' % (index, record['status'], record['stopped']['t'] - record['began']['t']))
            if failed:
                self.progress('tier %d: not stopping the earlier tiers: %s failed to stop' % (index, ', '.join(failed)))
                break

    def _stop_one(self, name):
        vm = self.vms[name]
        record = self.records[name]
        mode = self.config['shutdown_mode']
        try:
            try:
                dom = self.conn.lookupByName(name)
            except Exception as exc:
                if _connection.is_error(exc, 'VIR_ERR_NO_DOMAIN'):
                    return
                raise
            if is_off(dom):
                return
            if dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED:
                dom.resume()  # a paused guest cannot see the power button
                self.event(name, 'resumed (paused guests ignore ACPI)')
            self.changed = True
            began = time.monotonic()
            grace = vm['grace']
            if grace > 0:
                request_shutdown(dom, mode)
                self.event(name, 'shutdown requested (%s, grace %s s)' % (mode, _n(grace)))
                last_request = noted = began
                while not is_off(dom) and time.monotonic() - began < grace:
                    time.sleep(min(STOP_POLL, max(0.0, grace - (time.monotonic() - began))))
                    if time.monotonic() - noted >= HEARTBEAT:
                        noted = time.monotonic()
                        self.progress('%s: still shutting down (%.0f s of %s s grace)'
                                      % (name, noted - began, _n(grace)))
                    if time.monotonic() - last_request >= ACPI_RESEND and not is_off(dom):
                        try:
                            request_shutdown(dom, mode)
                        except Exception:  # pragma: no cover - it may be going down right now
                            pass
                        last_request = time.monotonic()
            if is_off(dom):
                self.event(name, 'stopped (shut down by the guest after %.1f s)' % (time.monotonic() - began),
                           forced=False, waited=round(time.monotonic() - began, 2))
            else:
                try:
                    dom.destroy()
                except Exception as exc:
                    if not is_off(dom):
                        raise
                record['forced'] = True
                with self._mutex:
                    self.forced.append(name)
                self.event(name, 'forced off (destroy) after a grace period of %s s' % _n(grace),
                           forced=True, waited=round(time.monotonic() - began, 2))
            if self.config['state'] == 'stopped':
                record['status'] = 'stopped'
            else:  # on_failure=stop_started: keep the readiness status, say that it was stopped
                record['stopped_after_failure'] = True
            with self._mutex:
                self.stopped.append(name)
        except Exception as exc:
            record['stop_error'] = 'failed to stop: %s' % _connection.error_text(exc)
            record['status'] = 'stop failed'
            self.event(name, record['stop_error'])
            with self._mutex:
                self.errors.append("VM '%s': %s" % (name, record['stop_error']))

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


@contextlib.contextmanager
def _no_lock():
    yield


def _n(number):
    """12.0 -> '12', 2.5 -> '2.5'."""
    return ('%d' % number) if float(number).is_integer() else ('%s' % number)


def worst_case(config):
    """Upper bounds in seconds of a full start and a full stop (for the service's systemd timeouts)."""
    graph = build_graph(config['vms'])
    vms = dict((vm['name'], vm) for vm in config['vms'])
    start = stop = 0.0
    for tier in graph['tiers']:
        longest = max(vms[n]['timeout'] for n in tier)
        if config.get('tier_timeout'):
            longest = min(longest, config['tier_timeout'])
        start += longest + 10  # + start calls
        stop += max(vms[n]['grace'] for n in tier) + 10  # + destroy
    start += (config.get('tier_delay') or 0) * max(0, len(graph['tiers']) - 1)
    # on_failure=stop_started may run a full stop after a failed start
    if config.get('on_failure') == 'stop_started':
        start += stop
    return {'start': int(start) + 1, 'stop': int(stop) + 1}


def boot_config(config):
    """The part of a normalised config the boot-time service needs (JSON-serialisable)."""
    keep = ('uri', 'on_failure', 'shutdown_mode', 'timeout', 'grace', 'tier_timeout', 'tier_delay', 'vms')
    return dict((k, config[k]) for k in keep)


# --------------------------------------------------------------------------------------------------
# the module's side (Ansible objects are passed in, never imported here)

def file_progress(path):
    """A progress sink that appends lines to a log file (tail -f it while the task waits)."""
    def write(line):
        with open(path, 'a') as handle:
            handle.write('%s %s\n' % (iso(time.time()), line))
    return write


def run_module(module):
    _connection.require_libvirt(module)
    params = module.params
    try:
        config = normalize(params)
    except StrataError as exc:
        module.fail_json(msg='Invalid startup definition: %s. Nothing was started or stopped.' % exc)
    progress = None
    if params.get('log_file'):
        progress = file_progress(params['log_file'])
        try:
            progress('strata.libvirt.startup: state=%s, check_mode=%s' % (config['state'], module.check_mode))
        except (IOError, OSError) as exc:
            module.fail_json(msg="Cannot write the log_file '%s': %s" % (params['log_file'], exc))
    uri = _connection.resolve_uri(config['uri'])
    try:
        conn = _connection.open_connection(uri)
    except StrataError as exc:
        module.fail_json(msg=str(exc))
    try:
        canonical = _connection.call('get the URI of the connection', conn.getURI) or uri
        config['uri'] = canonical

        def lock():
            return _connection.hypervisor_lock(params['state_dir'], canonical, params['lock_timeout'])

        engine = Engine(config, conn, progress=progress, lock=lock, check_mode=module.check_mode)
        result = engine.run()
    except StrataError as exc:
        module.fail_json(msg=str(exc))
    finally:
        try:
            conn.close()
        except Exception:  # pragma: no cover
            pass
    for warning in result.pop('warnings'):
        module.warn(warning)
    result['config'] = boot_config(config)
    result['worst_case'] = worst_case(config)
    if result.get('failed'):
        result.pop('failed')
        module.fail_json(**result)
    module.exit_json(**result)

# -*- coding: utf-8 -*-
# Copyright: strata.libvirt developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benchmark: the fixtures every phase shares (keys, the floor's base image, the quiet wait, one
ansible-playbook run) and the driver that runs the chosen phases, each cleaning up after itself. The phases
themselves are mixins: floor.py (floor, scale), ours.py (ours, noop, disk, unprov), seed.py (seed, pairs),
growth.py (growth), peers.py (peers)."""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import time

import libvirt

from .events import read_events, recap_changed, task_durations
from .floor import FloorPhases
from .growth import GrowthPhases
from .ours import OursPhases
from .peers import PeersPhases
from .peertools import PEERS_PREFIX
from .plain import remove_prefixed
from .seed import SeedPhases
from .util import ANSIBLE_PLAYBOOK, BENCH, PREFIX, ROOT, URI, WORK, BenchError, cpu_seconds, log, machine_info, rnd, run, wait_quiet


class Bench(FloorPhases, GrowthPhases, OursPhases, PeersPhases, SeedPhases):

    def __init__(self, args):
        self.args = args
        self.conn = libvirt.open(URI)
        self.key = os.path.join(WORK, 'keys', 'id_ed25519')
        self.pub = ''
        self.counter = 0
        self.stamp = datetime.datetime.now().strftime('%Y-%m-%dT%H%M')
        self.results = {'date': datetime.datetime.now().isoformat(timespec='seconds'), 'machine': machine_info(),
                        'options': vars(args), 'quiet': [], 'phases': {}, 'errors': [], 'notes': []}
        self.logdir = os.path.join(WORK, 'logs')
        self.prefixes = []
        self.created_modules_dir = False

    # ---- shared fixtures
    def prepare(self):
        os.makedirs(os.path.join(WORK, 'keys'), mode=0o700, exist_ok=True)
        os.makedirs(self.logdir, exist_ok=True)
        os.makedirs(os.path.join(WORK, 'console'), exist_ok=True)
        if not os.path.exists(self.key):
            run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'strata-bench', '-f', self.key], 30)
        with open(self.key + '.pub', encoding='ascii') as handle:
            self.pub = handle.read().strip()

    def floor_base(self):
        """A private copy of the lab image, the backing file of the plain-libvirt overlays."""
        base = os.path.join(WORK, 'floor-base.qcow2')
        src = os.environ['STRATA_LAB_IMAGE']
        if not os.path.exists(base) or os.path.getsize(base) != os.path.getsize(src):
            shutil.copyfile(src, base + '.tmp')
            os.rename(base + '.tmp', base)
        return base

    def quiet(self, phase):
        state = wait_quiet(self.conn, phase, self.args.quiet_wait)
        self.results['quiet'].append(state)
        return state

    def ansible(self, label, argv, inventory, timeout, extra_env=None):
        """Run ansible-playbook, return wall time, rc, changed count, per-task timings."""
        self.counter += 1
        events = os.path.join(self.logdir, '%02d-%s.events.jsonl' % (self.counter, label))
        output = os.path.join(self.logdir, '%02d-%s.log' % (self.counter, label))
        for path in (events,):
            if os.path.exists(path):
                os.remove(path)
        env = dict(os.environ)
        env.update({
            'ANSIBLE_COLLECTIONS_PATH': os.path.join(ROOT, '.collections'),
            'ANSIBLE_COLLECTIONS_SCAN_SYS_PATH': 'false',
            'ANSIBLE_CALLBACK_PLUGINS': os.path.join(BENCH, 'callback_plugins'),
            'ANSIBLE_CALLBACKS_ENABLED': 'strata_bench_events',
            'ANSIBLE_HOST_KEY_CHECKING': 'False',
            'ANSIBLE_RETRY_FILES_ENABLED': 'False',
            'ANSIBLE_NOCOLOR': '1',
            'STRATA_BENCH_EVENTS': events,
            'PATH': os.path.join(ROOT, '.venv', 'bin') + os.pathsep + env.get('PATH', ''),
        })
        env.update(extra_env or {})
        cmd = [ANSIBLE_PLAYBOOK, '-i', inventory] + argv
        log('%s: %s' % (label, ' '.join(cmd[1:])))
        started = time.time()
        t0 = time.monotonic()
        cpu0 = cpu_seconds(children_only=True)
        with open(output, 'w', encoding='utf-8') as out:
            try:
                proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, env=env, cwd=ROOT,
                                      check=False)
                rc = proc.returncode
            except subprocess.TimeoutExpired:
                rc = 'timeout after %d s' % timeout
        wall = time.monotonic() - t0
        # the playbook's whole process tree (workers, module runs, the startup's ssh probes), the guests not included
        cpu = cpu_seconds(children_only=True) - cpu0
        evs = read_events(events)
        changed, failures = recap_changed(evs)
        tasks = task_durations(evs, started)
        res = {'wall_s': rnd(wall, 2), 'cpu_s': rnd(cpu, 2), 'rc': rc, 'changed': changed, 'failures': failures, 'log': output,
               'events': events, 'tasks': tasks, 'started': started, 'finished': started + wall}
        log('%s: %.1f s, rc %s, changed %s' % (label, wall, rc, changed))
        if rc != 0:
            with open(output, encoding='utf-8', errors='replace') as handle:
                tail = handle.read()[-2500:]
            raise BenchError('%s failed (rc %s, log %s):\n%s' % (label, rc, output, tail))
        return res

    # ---- driver
    def run_phases(self):
        want = set(self.args.only)
        steps = []
        if 'floor' in want:
            steps.append(('floor', self.phase_floor, PREFIX + 'floor'))
        if want & {'ours', 'noop', 'disk', 'unprov'}:
            steps.append(('ours', lambda: self.phase_ours(want), PREFIX + 'c'))
        if 'built' in want:
            steps.append(('built', self.phase_built, PREFIX + 'b'))
        if 'seed' in want:
            steps.append(('seed', self.phase_seed, PREFIX + 'seed'))
        if 'seed' in want and 'ours' in want and self.args.pairs > 1:
            steps.append(('pairs', self.phase_pairs, PREFIX + 'c'))
        if 'growth' in want and self.args.growth:
            steps.append(('growth', self.phase_growth, PREFIX + 'g'))
        if 'peers' in want:
            steps.append(('peers', self.phase_peers, PEERS_PREFIX))
        if 'scale' in want and self.args.scale:
            steps.append(('scale', self.phase_scale, PREFIX + 'scale'))
        self.prefixes = [step[2] for step in steps]
        for name, step, prefix in steps:
            log('=== phase %s' % name)
            began = time.monotonic()
            try:
                step()
            except (BenchError, libvirt.libvirtError, OSError, subprocess.SubprocessError, KeyError, ValueError) as exc:
                log('phase %s failed: %s' % (name, exc))
                self.results['errors'].append({'phase': name, 'error': str(exc)[-3000:]})
            finally:
                remove_prefixed(self.conn, prefix)
            log('=== phase %s: %.0f s' % (name, time.monotonic() - began))

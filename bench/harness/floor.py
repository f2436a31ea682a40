# -*- coding: utf-8 -*-
# Copyright: strata.libvirt developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plain-libvirt phases: floor (1 VM, N at once, N in two tiers, ACPI shutdown) and scale (ours and the
floor at several sizes)."""

from __future__ import annotations

import os
import shutil

from .plain import PlainCluster, remove_prefixed, two_tiers
from .util import USER, WORK, BenchError, log, median, rnd


class FloorPhases:
    """Bench's floor and scale phases."""

    def floor_tiers_once(self, n, label):
        """One run of plain libvirt's n VMs in the 2 tiers (VM 0, then the others once it answers SSH)."""
        self.quiet(label)
        cluster = PlainCluster(self, 'floor', n, 1, 512, 128)
        try:
            cluster.setup()
            out = two_tiers(self.conn, [(vm['domain'], USER, vm['ip']) for vm in cluster.vms], self.args.boot_timeout,
                            self.key)
        finally:
            cluster.teardown()
        log('floor %d VMs in 2 tiers: %.1f s (tier 0 %.1f, tier 1 %.1f)' % (n, out['all_ready_s'], out['tier0_s'], out['tier1_s']))
        return out

    def phase_floor(self):
        out = {'runs_1': [], 'note': 'plain libvirt-python, the seed ISO on a read-only virtio disk, SSH login as the probe'}
        n = self.args.vms
        for index in range(self.args.runs):
            self.quiet('floor-1 run %d' % (index + 1))
            cluster = PlainCluster(self, 'floor', 1, 1, 512, 128)
            try:
                cluster.setup()
                t0 = cluster.start(cluster.vms)
                times = cluster.wait(cluster.vms, t0, self.args.boot_timeout)
                out['runs_1'].append(rnd(times['vm0'], 2))
                log('floor 1 VM run %d: %s s' % (index + 1, rnd(times['vm0'], 1)))
                if index == 0:
                    out['acpi_shutdown_1_s'] = cluster.shutdown()['vm0']
            finally:
                cluster.teardown()
        out['floor_1_s'] = rnd(median(out['runs_1']), 2)
        runs_n, runs_gated, shut = [], [], []
        for index in range(self.args.long_runs):
            self.quiet('floor-%d at once run %d' % (n, index + 1))
            cluster = PlainCluster(self, 'floor', n, 1, 512, 128)
            try:
                cluster.setup()
                t0 = cluster.start(cluster.vms)
                times = cluster.wait(cluster.vms, t0, self.args.boot_timeout)
                if None in times.values():
                    raise BenchError('floor: not every VM answered SSH within %d s: %s' % (self.args.boot_timeout, times))
                runs_n.append({'all_ready_s': rnd(max(times.values()), 2), 'per_vm_s': dict((k, rnd(v, 1)) for k, v in times.items())})
                log('floor %d VMs at once: %.1f s' % (n, max(times.values())))
                shut.append(cluster.shutdown())
            finally:
                cluster.teardown()
            if n > 1:
                runs_gated.append(self.floor_tiers_once(n, 'floor-%d in 2 tiers run %d' % (n, index + 1)))
        out['runs_n'] = runs_n
        out['floor_n_s'] = rnd(median([r['all_ready_s'] for r in runs_n]), 2)
        out['runs_n_tiers'] = runs_gated
        out['floor_n_tiers_s'] = rnd(median([r['all_ready_s'] for r in runs_gated]), 2) if runs_gated else out['floor_n_s']
        out['tier_gating_s'] = rnd(out['floor_n_tiers_s'] - out['floor_n_s'], 2)
        out['acpi_shutdown_n'] = shut
        out['acpi_shutdown_slowest_s'] = rnd(median([max(v for v in s.values() if v is not None) for s in shut
                                                     if any(v is not None for v in s.values())]), 2)
        out['n'] = n
        self.results['phases']['floor'] = out

    def phase_scale(self):
        limit = None if self.args.max_parallel in ('', 'none') else self.args.max_parallel
        out = {'memory_mib': 256, 'tb_cache_mib': 64, 'points': [], 'max_parallel': limit}
        self.results['phases']['scale'] = out
        for n in self.args.scale:
            point = {'n': n}
            out['points'].append(point)
            self.quiet('scale floor %d' % n)
            cluster = PlainCluster(self, 'scale-floor', n, 2, 256, 64)
            try:
                cluster.setup()
                t0 = cluster.start(cluster.vms)
                times = cluster.wait(cluster.vms, t0, self.args.boot_timeout)
                done = [v for v in times.values() if v is not None]
                point['floor_s'] = rnd(max(done), 2) if len(done) == n else None
                point['floor_ready'] = len(done)
                log('scale floor %d VMs: %s s' % (n, point['floor_s']))
            finally:
                cluster.teardown()
            inv = self.inventory('scale-%d' % n, 20, n, 256, tiers=False, max_parallel=limit)
            remove_prefixed(self.conn, inv['name'])
            try:
                self.quiet('scale ours %d' % n)
                point['image_cached_before'] = os.path.exists(os.path.join(WORK, 'cache', 'strata-debian-12.qcow2'))
                res = self.provision('provision-scale-%d' % n, inv)
                point['ours_s'] = res['wall_s']
                point['ours_startup_s'] = res['startup_s']
                point['ours_outside_startup_s'] = res['outside_startup_s']
                point['ours_ready'] = res.get('ready_vms')
                point['ours_failed'] = bool(res.get('failed'))
                point['max_parallel'] = res.get('max_parallel')
                point['peak_booting'] = res.get('peak_booting')
                point['ratio'] = rnd(point['ours_s'] / point['floor_s'], 3) if point.get('floor_s') else None
            finally:
                self.unprovision('unprovision-scale-%d' % n, inv, must=False)
                remove_prefixed(self.conn, inv['name'])
                shutil.rmtree(inv['inventory'], ignore_errors=True)

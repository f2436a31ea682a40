# -*- coding: utf-8 -*-
# Copyright: strata.libvirt developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The growth phase: how the host side of provision grows with the cluster, with the guests' boot taken out.

The VMs' image is a blank qcow2 (no partition table, no boot loader): every domain is defined, started and
reaches 'running', which is its only probe, but the firmware finds nothing to boot and idles, so no guest
competes with the host side for the CPUs. Everything else is what a user's run does: the image fetched and
verified (a file:// source with its sha256), the pool, the network with a static DHCP host per VM, an overlay
and a NoCloud seed per VM, the domains, the startup; not the known_hosts file (cluster_verify_host_keys=false:
no guest boots to print its host keys). Then a no-op re-run at the same size
(changed must be 0) and unprovision."""

from __future__ import annotations

import hashlib
import os
import shutil

from .plain import remove_prefixed
from .util import WORK, BenchError, log, rnd, run

GROWTH_MEMORY_MIB = 64


class GrowthPhases:
    """bench's growth phase (a mixin of Bench, beside OursPhases)."""

    def blank_image(self):
        """A blank 256 MiB qcow2 and its sha256 (the image the growth clusters' VMs get)."""
        path = os.path.join(WORK, 'growth-blank.qcow2')
        if not os.path.exists(path):
            run(['qemu-img', 'create', '-q', '-f', 'qcow2', path + '.tmp', '256M'], 60)
            os.rename(path + '.tmp', path)
        digest = hashlib.sha256()
        with open(path, 'rb') as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b''):
                digest.update(chunk)
        return path, digest.hexdigest()

    def growth_inventory(self, n):
        path, sha = self.blank_image()
        image = {'source': 'file://' + path, 'checksum': 'sha256:' + sha, 'size': 'bench', 'login_user': 'strata'}
        inv = self.inventory('g%d' % n, 40, n, GROWTH_MEMORY_MIB, tiers=False, image=image, disk='1G',
                             probes=[{'type': 'running'}], tcg_tb_cache=16,
                             # no guest boots, so none prints its SSH host keys: nothing to wait for
                             extra_vars={'cluster_verify_host_keys': False},
                             # nothing in the guests answers ACPI: unprovision forces them off after 1 s
                             grace=1)
        return inv

    def phase_growth(self):
        out = {'memory_mib': GROWTH_MEMORY_MIB, 'points': [],
               'method': 'blank qcow2 image (the firmware finds nothing to boot), probe running only'}
        self.results['phases']['growth'] = out
        for n in self.args.growth:
            inv = self.growth_inventory(n)
            remove_prefixed(self.conn, inv['name'])
            point = {'n': n}
            out['points'].append(point)
            try:
                self.quiet('growth %d VMs' % n)
                cold = self.provision('growth-%d' % n, inv)
                if cold.get('ready_vms') != n:
                    raise BenchError('growth %d: %s of %d VMs ready' % (n, cold.get('ready_vms'), n))
                point['provision'] = cold
                point['provision_s'] = cold['wall_s']
                point['per_vm_s'] = rnd(cold['wall_s'] / n, 3)
                noop = self.provision('growth-noop-%d' % n, inv)
                point['noop'] = noop
                point['noop_s'] = noop['wall_s']
                point['noop_changed'] = noop['changed']
                unprov = self.unprovision('growth-unprovision-%d' % n, inv)
                point['unprovision_s'] = unprov['wall_s']
                log('growth %d VMs: provision %.1f s, no-op %.1f s (changed %s), unprovision %.1f s'
                    % (n, cold['wall_s'], noop['wall_s'], noop['changed'], unprov['wall_s']))
            finally:
                self.unprovision('growth-cleanup', inv, must=False)
                remove_prefixed(self.conn, inv['name'])
                shutil.rmtree(inv['inventory'], ignore_errors=True)

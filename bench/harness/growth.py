# -*- coding: utf-8 -*-
# Copyright: strata.libvirt developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The growth phase: how the host side of provision grows with the cluster, with the guests' boot taken out.

At each size, four runs of the same cluster:
  1. build: provision with the start skipped (-e strata_start=false): the image fetched and verified (a file://
     source with its sha256), the pool, the network with a static DHCP host per VM, an overlay and a NoCloud seed
     per VM, the domains; no VM starts. This is the host side the growth target is measured on: the collection's
     own work, without libvirt's and QEMU's launch of each domain (plain libvirt's start calls alone take about
     0.3 s per domain on this host, see the floor).
  2. start: provision again, which finds everything built and starts every VM with the 'running' probe only.
  3. no-op: provision once more (changed must be 0).
  4. unprovision.
The VMs' image holds nothing but a boot sector that halts the CPU with its interrupts off (cli; hlt): every domain
started reaches 'running', the firmware boots that sector and the vCPU sleeps from then on, so the guests take as
little from the host side's CPUs as a running QEMU can (0.23 % of a core per domain here, against 0.71 % for a blank
disk, on which the firmware keeps waking up to look for something to boot: 100 such guests took a third of this
machine from the no-op re-run). No known_hosts file (cluster_verify_host_keys=false: no guest boots to print its
host keys). The floor: plain libvirt-python starting and destroying as many such domains."""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import time

from .plain import PlainCluster, remove_prefixed
from .util import WORK, BenchError, log, make_seed, rnd, run, sha256_file

# the start calls the startup engine issues at once: the floor issues as many (util puts the tree on sys.path)
from ansible_collections.strata.libvirt.plugins.module_utils._startup.starting import PARALLEL_CALLS as START_CALLS

GROWTH_MEMORY_MIB = 64
GROWTH_TB_CACHE_MIB = 16
# a master boot record whose code is cli; hlt; jmp $-3 (the 0x55AA signature makes the firmware boot it)
HALT_SECTOR = b'\xfa\xf4\xeb\xfd'.ljust(510, b'\0') + b'\x55\xaa'


class HaltPlain(PlainCluster):
    """The growth phase's floor: N domains like the growth cluster's (64 MiB, overlays on the halting image, one
    seed disk), defined, started and destroyed with plain libvirt-python, START_CALLS calls at once: what
    libvirt and QEMU themselves take to launch and stop that many, with no collection code."""

    def __init__(self, bench, count, image):
        PlainCluster.__init__(self, bench, 'growth-floor', count, 41, GROWTH_MEMORY_MIB, GROWTH_TB_CACHE_MIB)
        self.image = image

    def setup(self):
        remove_prefixed(self.conn, self.name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        net = self.conn.networkDefineXML(self.network_xml())
        net.create()
        seed = os.path.join(self.dir, 'seed.iso')
        make_seed(seed, {'user-data': '#cloud-config\n', 'meta-data': 'instance-id: growth-floor\n'})
        for vm in self.vms:
            overlay = os.path.join(self.dir, vm['domain'] + '.qcow2')
            run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', self.image, overlay, '1G'], 60)
            self.conn.defineXML(self.domain_xml(vm, overlay, seed))

    def _all(self, call):
        t0 = time.monotonic()
        doms = [self.conn.lookupByName(vm['domain']) for vm in self.vms]
        with concurrent.futures.ThreadPoolExecutor(max_workers=START_CALLS) as pool:
            list(pool.map(call, doms))
        return rnd(time.monotonic() - t0, 2)

    def start_all(self):
        return self._all(lambda dom: dom.create())

    def destroy_all(self):
        return self._all(lambda dom: dom.destroy())


class GrowthPhases:
    """bench's growth phase (a mixin of Bench, beside OursPhases)."""

    def halt_image(self):
        """The image of the growth clusters' VMs (a 256 MiB qcow2 whose only content is a boot sector that halts the
        CPU: cli; hlt; jmp back) and its sha256."""
        path = os.path.join(WORK, 'growth-halt.qcow2')
        if not os.path.exists(path):
            raw = path + '.raw'
            with open(raw, 'wb') as handle:
                handle.write(HALT_SECTOR)
            run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, path + '.tmp'], 60)
            run(['qemu-img', 'resize', '-q', path + '.tmp', '256M'], 60)
            os.remove(raw)
            os.rename(path + '.tmp', path)
        return path, sha256_file(path)

    def growth_inventory(self, n):
        path, sha = self.halt_image()
        image = {'source': 'file://' + path, 'checksum': 'sha256:' + sha, 'size': 'bench', 'login_user': 'strata'}
        inv = self.inventory('g%d' % n, 40, n, GROWTH_MEMORY_MIB, tiers=False, image=image, disk='1G',
                             probes=[{'type': 'running'}], tcg_tb_cache=GROWTH_TB_CACHE_MIB,
                             # no guest boots, so none prints its SSH host keys: nothing to wait for
                             extra_vars={'cluster_verify_host_keys': False},
                             # nothing in the guests answers ACPI: unprovision forces them off after 1 s
                             grace=1)
        return inv

    def phase_growth(self):
        out = {'memory_mib': GROWTH_MEMORY_MIB, 'points': [],
               'method': 'provision with the start skipped (strata_start=false): everything built, no VM started',
               'start_method': 'an image whose boot sector halts the CPU (no guest boots), probe running only'}
        self.results['phases']['growth'] = out
        for n in self.args.growth:
            inv = self.growth_inventory(n)
            remove_prefixed(self.conn, inv['name'])
            point = {'n': n}
            out['points'].append(point)
            try:
                self.quiet('growth %d VMs' % n)
                build = self.provision('growth-build-%d' % n, inv, start=False)
                point['build'] = build
                point['build_s'] = build['wall_s']
                point['per_vm_s'] = rnd(build['wall_s'] / n, 3)
                started = self.provision('growth-start-%d' % n, inv)
                if started.get('ready_vms') != n:
                    raise BenchError('growth %d: %s of %d VMs ready' % (n, started.get('ready_vms'), n))
                point['start'] = started
                point['start_s'] = started['wall_s']
                noop = self.provision('growth-noop-%d' % n, inv)
                point['noop'] = noop
                point['noop_s'] = noop['wall_s']
                point['noop_changed'] = noop['changed']
                unprov = self.unprovision('growth-unprovision-%d' % n, inv)
                point['unprovision_s'] = unprov['wall_s']
                log('growth %d VMs: build (no start) %.1f s, start %.1f s, no-op %.1f s (changed %s), unprovision %.1f s'
                    % (n, build['wall_s'], started['wall_s'], noop['wall_s'], noop['changed'], unprov['wall_s']))
            finally:
                self.unprovision('growth-cleanup', inv, must=False)
                remove_prefixed(self.conn, inv['name'])
                shutil.rmtree(inv['inventory'], ignore_errors=True)
            point['floor'] = self.growth_floor(n)

    def growth_floor(self, n):
        """Plain libvirt's start and stop of n such domains (see HaltPlain)."""
        floor = HaltPlain(self, n, self.halt_image()[0])
        try:
            floor.setup()
            self.quiet('growth floor %d VMs' % n)
            out = {'start_s': floor.start_all(), 'destroy_s': floor.destroy_all(), 'parallel_calls': START_CALLS}
            log('growth floor %d VMs (plain libvirt, %d calls at once): start %.1f s, destroy %.1f s'
                % (n, START_CALLS, out['start_s'], out['destroy_s']))
            return out
        finally:
            floor.teardown()

# -*- coding: utf-8 -*-
# Copyright: strata.libvirt developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The seed playbook's method (bench/seed-method/): libguestfs prepared for virt-customize, one run from
nothing to every VM's SSH login, the seed phase, and the --pairs of (seed method, ours cold)."""

from __future__ import annotations

import json
import os
import shutil
import time

from .events import classify
from .plain import remove_prefixed, seed_files
from .util import BENCH, PREFIX, URI, USER, VENV_PY, WORK, BenchError, du, make_seed, rnd, run, wait_logins


class SeedPhases:
    """Bench's seed phase and its pairs with ours."""

    def prepare_guestfs(self):
        """virt-customize here: libguestfs-tools, and supermin pointed at the image's own kernel (LAB-NOTES)."""
        if not shutil.which('virt-customize'):
            # bench/run installs it (outside the lab's namespace, which has no way out) when the seed phase is chosen
            raise BenchError('virt-customize is not installed (apt-get install --no-install-recommends libguestfs-tools)')
        kdir = os.path.join(WORK, 'supermin')
        image = self.floor_base()
        info_file = os.path.join(kdir, 'kernel.json')
        if not os.path.exists(info_file):
            shutil.rmtree(kdir, ignore_errors=True)
            os.makedirs(kdir)
            raw = os.path.join(kdir, 'image.raw')
            mnt = os.path.join(kdir, 'mnt')
            os.makedirs(mnt)
            run(['qemu-img', 'convert', '-O', 'raw', image, raw], 300)
            table = json.loads(run(['sfdisk', '-J', raw], 30).stdout)['partitiontable']
            part = table['partitions'][0]
            sector = table.get('sectorsize', 512)
            loop = run(['losetup', '--find', '--show', '--read-only', '--offset', str(part['start'] * sector),
                        '--sizelimit', str(part['size'] * sector), raw], 30).stdout.strip()
            try:
                run(['mount', '-o', 'ro,noload', loop, mnt], 30)
                try:
                    kernels = sorted(f for f in os.listdir(os.path.join(mnt, 'boot')) if f.startswith('vmlinuz-'))
                    if not kernels:
                        raise BenchError('no kernel in the image\'s /boot')
                    version = kernels[-1][len('vmlinuz-'):]
                    shutil.copyfile(os.path.join(mnt, 'boot', kernels[-1]), os.path.join(kdir, 'vmlinuz'))
                    run(['cp', '-a', os.path.join(mnt, 'usr', 'lib', 'modules', version), os.path.join(kdir, 'modules')], 120)
                finally:
                    run(['umount', mnt], 30, check=False)
            finally:
                run(['losetup', '-d', loop], 30, check=False)
                os.remove(raw)
            with open(info_file, 'w', encoding='utf-8') as handle:
                json.dump({'version': version}, handle)
        with open(info_file, encoding='utf-8') as handle:
            version = json.load(handle)['version']
        if not os.path.isdir('/usr/lib/modules'):
            os.makedirs('/usr/lib/modules')
            self.created_modules_dir = True
        env = {'SUPERMIN_KERNEL': os.path.join(kdir, 'vmlinuz'), 'SUPERMIN_MODULES': os.path.join(kdir, 'modules'),
               'SUPERMIN_KERNEL_VERSION': version, 'LIBGUESTFS_BACKEND': 'direct',
               'LIBGUESTFS_BACKEND_SETTINGS': 'force_tcg', 'LIBGUESTFS_CACHEDIR': os.path.join(WORK, 'guestfs-cache')}
        os.makedirs(env['LIBGUESTFS_CACHEDIR'], exist_ok=True)
        # one throwaway run builds the supermin appliance (cached), so the timed runs do what they did for users
        probe = os.path.join(kdir, 'probe.qcow2')
        run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', image, probe], 60)
        t0 = time.monotonic()
        try:
            run(['virt-customize', '--quiet', '--no-network', '-a', probe, '--hostname', 'probe'], 600,
                env=dict(os.environ, **env))
        finally:
            os.remove(probe)
        return env, time.monotonic() - t0

    def phase_seed(self):
        out = {'n': self.args.vms}
        self.results['phases']['seed'] = out
        self.seed_customize = None
        if not self.args.no_customize:
            try:
                env, warm = self.prepare_guestfs()
                self.seed_customize = env
                out['customize'] = 'virt-customize (libguestfs, supermin on the image\'s kernel, TCG)'
                out['guestfs_prepare_s'] = rnd(warm, 1)
            except BenchError as exc:
                out['customize'] = 'libguestfs does not work here (%s); the same NoCloud seed as ours instead' % str(exc)[:300]
        else:
            out['customize'] = 'skipped (--no-customize): the same NoCloud seed as ours instead'
        out.update(self.seed_once('seed method'))

    def seed_once(self, label):
        """One run of the seed playbook's method, from nothing to every VM's SSH login."""
        n = self.args.vms
        name = PREFIX + 'seed'
        seed_dir = os.path.join(WORK, 'seed')
        pool_dir = os.path.join(WORK, 'seed', 'pool')
        out = {}
        remove_prefixed(self.conn, name)
        shutil.rmtree(seed_dir, ignore_errors=True)
        customize = self.seed_customize is not None
        customize_env = self.seed_customize or {}
        vms = [{'name': 'gw' if i == 0 else 'n%d' % i, 'domain': '%s-%s' % (name, 'gw' if i == 0 else 'n%d' % i),
                'ip': '10.245.3.%d' % (10 + i), 'mac': '52:54:00:f5:03:%02x' % (10 + i)} for i in range(n)]
        os.makedirs(seed_dir)
        seeds_s = 0.0
        if not customize:
            t0 = time.monotonic()
            for vm in vms:
                vm['seed_iso'] = os.path.join(seed_dir, vm['domain'] + '-seed.iso')
                make_seed(vm['seed_iso'], seed_files(vm['name'], self.pub))
            seeds_s = time.monotonic() - t0
        variables = {
            'seed_name': name, 'seed_dir': seed_dir, 'seed_pool_dir': pool_dir, 'seed_uri': URI,
            'seed_image_url': os.environ.get('STRATA_LAB_IMAGE_URL'), 'seed_checksum_url': os.environ.get('STRATA_LAB_SHA512SUMS_URL'),
            'seed_net': {'gateway': '10.245.3.1', 'dhcp_start': '10.245.3.100', 'dhcp_end': '10.245.3.199'},
            'seed_vms': vms, 'seed_customize': customize, 'seed_customize_env': customize_env,
            'seed_root_pubkey': self.key + '.pub', 'seed_memory_mib': 512, 'seed_tb_cache': 128, 'seed_disk_size': '4G',
            'seed_virt_type': 'qemu', 'seed_ssh_timeout': self.args.boot_timeout,
        }
        varfile = os.path.join(WORK, 'seed-vars.json')
        with open(varfile, 'w', encoding='utf-8') as handle:
            json.dump(variables, handle)
        hosts = os.path.join(WORK, 'seed-hosts.yml')
        with open(hosts, 'w', encoding='utf-8') as handle:
            handle.write('---\n' + json.dumps({'hypervisor': {'hosts': {'localhost': {
                'ansible_connection': 'local', 'ansible_python_interpreter': VENV_PY}}}}) + '\n')
        try:
            self.quiet(label)
            t0 = time.monotonic()
            res = self.ansible('seed-method', [os.path.join(BENCH, 'seed-method', 'seed.yml'), '-e', '@' + varfile], hosts,
                               self.args.playbook_timeout)
            user = 'root' if customize else USER
            logins = wait_logins([(v['name'], user, v['ip']) for v in vms], t0, self.args.boot_timeout, self.key)
            if None in logins.values():
                raise BenchError('seed method: no SSH login to %s' % [k for k, v in logins.items() if v is None])
            total = max(logins.values())
            out['all_ready_s'] = rnd(total + seeds_s, 2)
            out['playbook_s'] = res['wall_s']
            out['login_after_playbook_s'] = rnd(total - res['wall_s'], 2)
            phases = classify(res['tasks'], [
                ('download (get_url + SHA512SUMS)', lambda t: t['action'] == 'ansible.builtin.get_url'),
                ('pool + network (virt_pool, virt_net)',
                 lambda t: t['action'] in ('community.libvirt.virt_pool', 'community.libvirt.virt_net')),
                ('full copy per VM (qemu-img convert)', lambda t: 'Copy the base image' in t['task']),
                ('resize per VM', lambda t: 'Resize' in t['task']),
                ('virt-customize per VM', lambda t: 'Customise' in t['task']),
                ('define + start one after another (virt)',
                 lambda t: t['action'] in ('community.libvirt.virt', 'ansible.builtin.include_tasks')),
                ('fixed pause', lambda t: t['action'] == 'ansible.builtin.pause'),
                ('wait for SSH (port 22, one VM after another)', lambda t: t['action'] == 'ansible.builtin.wait_for'),
            ], res['started'], res['finished'])
            if seeds_s:
                phases.insert(0, ('NoCloud seeds (pycdlib, outside the playbook)', rnd(seeds_s, 2)))
            phases.append(('SSH login after the playbook', out['login_after_playbook_s']))
            out['phases'] = phases
            out['disk_bytes'] = du(seed_dir)
            out['log'] = res['log']
        finally:
            remove_prefixed(self.conn, name)
            shutil.rmtree(seed_dir, ignore_errors=True)
            for path in (varfile, hosts):
                if os.path.exists(path):
                    os.remove(path)
        return out

    def phase_pairs(self):
        """--pairs N: N-1 more pairs of (seed method, ours cold), each right after the other, after the pair the
        ours and seed phases measured. The seed target is then the median of the N ratios, each taken within its
        own pair, so a machine that gets slower or faster over the hour shifts both sides of a ratio alike."""
        n = self.args.vms
        inv = self.inventory('c%d' % n, 10, n, 512, tiers=n > 1)
        pairs = self.results['phases'].setdefault('pairs', [])
        try:
            for index in range(1, self.args.pairs):
                # the order alternates: pair 1 was ours first, pair 2 has the seed method first, ...
                order = ('seed', 'ours') if index % 2 else ('ours', 'seed')
                pair = {'order': list(order)}
                for side in order:
                    if side == 'ours':
                        remove_prefixed(self.conn, inv['name'])
                        pair['ours_cold'] = self.ours_cold(inv, 'pair %d: ours cold' % (index + 1))
                        self.unprovision('unprovision', inv)
                    else:
                        pair['seed'] = self.seed_once('pair %d: seed method' % (index + 1))
                pairs.append(pair)
        finally:
            self.unprovision('unprovision-cleanup', inv, must=False)
            remove_prefixed(self.conn, inv['name'])
            shutil.rmtree(inv['inventory'], ignore_errors=True)

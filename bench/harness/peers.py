# -*- coding: utf-8 -*-
# Copyright: strata.libvirt developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The peers phase: ours against two peer tools from PyPI, kcli and virt-lightning (peertools.py), with the same N
VMs each (1 vCPU, 512 MiB, a 4 GiB disk, the bench's SSH key, one image) in each tool's best equivalent of our
two tiers, the three taking turns in each of --runs rounds (medians). The image is the lab image's recipe built with
Debian's standard kernel (bench/run builds it; see peers_image), as in the Debian generic image kcli defaults to.

A peer gets the image staged before its timed commands (a copy of the image in a pool of its own), its own HOME
under WORK/peers/<tool>/home (~/.kcli, ~/.config/virt-lightning) and its own NAT network on 10.245.5x.0/24; it is
never asked to download anything. While its commands run, the bench watches libvirt and probes every VM with the
same SSH login (peerwatch.py), as the user the tool gives the key to. Per run: the host side (the tool's own work
until every domain runs, the wait for tier 0's guests taken out), every domain running, every VM logged into, the
disk the VMs' files take (one base image included), the tool's own teardown and what it left. A tool that cannot run
a guest here is measured as far as it gets, with the reason (the domain's state, QEMU's log); nothing in the peers is
patched."""

from __future__ import annotations

import concurrent.futures
import json
import os
import pwd
import shutil
import time

import libvirt

from . import peertools as pt
from .peerwatch import Flag, Watch, disk_files, drop_pools, give_up, host_side, leftovers, qemu_log_errors, run_tool, \
    summarise
from .plain import remove_prefixed
from .util import PREFIX, URI, USER, WORK, BenchError, allocated, log, rnd, sha256_file, ssh_login, tcp_open

MEMORY_MIB = 512
DISK_GIB = 4
PEERS_WORK = os.path.join(WORK, 'peers')
ORDER = ('ours',) + pt.TOOLS


class PeersPhases:
    """Bench's peers phase (a mixin of Bench, beside OursPhases, whose inventory and provision it uses)."""

    def phase_peers(self):
        n = self.args.vms
        image = peers_image()
        out = {'n': n, 'vcpus': 1, 'memory_mib': MEMORY_MIB, 'disk_gib': DISK_GIB, 'image': image,
               'base_image_bytes': allocated(image), 'rounds': [], 'tools': {},
               'method': 'host side: the tool\'s own work until every domain runs, the wait for tier 0\'s guests '
                         'taken out; SSH: the bench\'s login to every VM, the same probe for every tool'}
        self.results['phases']['peers'] = out
        for tool in ORDER:
            out['tools'][tool] = self.peer_entry(tool, n)
        self.peer_cleanup()
        made_dirs = []
        try:
            if not out['tools']['virt-lightning'].get('unavailable'):
                made_dirs = make_dirs(pt.VL_REQUIRED_DIR)
                if made_dirs:
                    self.results['notes'].append('peers: made %s for virt-lightning (removed again at the end)'
                                                 % pt.VL_REQUIRED_DIR)
            for index in range(self.args.runs):
                order = ORDER[index % len(ORDER):] + ORDER[:index % len(ORDER)]
                out['rounds'].append(list(order))
                for tool in order:
                    entry = out['tools'][tool]
                    if not entry.get('unavailable'):
                        entry['runs'].append(self.peer_run(tool, index))
        finally:
            self.peer_cleanup()
            for path in reversed(made_dirs):
                try:
                    os.rmdir(path)
                except OSError:
                    pass
            for entry in out['tools'].values():
                summarise(entry)

    def peer_cleanup(self):
        """Everything of the phase gone: the peers' pools first without their volumes (the bench staged them, their
        files go with WORK/peers), then every strata-bench-p* object, then WORK/peers."""
        for tool in pt.TOOLS:
            drop_pools(self.conn, PREFIX + pt.TAG[tool])
        remove_prefixed(self.conn, pt.PEERS_PREFIX)
        shutil.rmtree(PEERS_WORK, ignore_errors=True)

    def peer_entry(self, tool, n):
        last = {'last': n - 1}
        entry = {'tool': tool, 'user': self.peer_user(tool), 'tcg': pt.TCG[tool], 'runs': [],
                 'ordering': pt.ORDERING[tool] % last if n > 1 else 'one VM',
                 'cannot_express': [text % last for text in pt.CANNOT_EXPRESS[tool]] if n > 1 else []}
        if tool == 'ours':
            entry['versions'] = {'strata.libvirt': 'this tree'}
        elif not pt.venv_ready(tool):
            entry['unavailable'] = ('not installed in %s (bench/run installs %s there, outside the lab: '
                                    'bench/strata_bench.py --install-peers)'
                                    % (pt.venv_dir(tool), ' '.join(pt.requirements(tool))))
        else:
            entry['versions'] = pt.versions(tool)
        return entry

    @staticmethod
    def peer_user(tool):
        """The user each tool gives the key to: ours its cluster's user; kcli the image's cloud-init default user
        (top-level ssh_authorized_keys; kcli itself logs in as debian for an image named *debian*); virt-lightning
        the user running it (configure_domain: username = getpass.getuser(), its only user entry)."""
        return {'ours': USER, 'kcli': 'debian', 'virt-lightning': pwd.getpwuid(os.getuid()).pw_name}[tool]

    # ---- one run of one tool
    def peer_run(self, tool, index):
        label = 'peers %s run %d' % (tool, index + 1)
        self.quiet(label)
        res = {'run': index + 1}
        spec = None
        try:
            spec = getattr(self, 'peer_spec_' + tool.replace('-', '_'))()
            res['stage_s'] = spec['stage_s']
            res.update(self.peer_measure(spec))
            res['disk'] = self.peer_disk(spec['names'])
        except (BenchError, libvirt.libvirtError, OSError, ValueError) as exc:
            res['error'] = str(exc)[-1500:]
        finally:
            if spec:
                try:
                    res['teardown'] = spec['teardown']()
                    res['leftovers'] = leftovers(self.conn, spec['prefix'], spec.get('keep_pool'),
                                                 spec.get('keep_volumes', ()))
                except (BenchError, libvirt.libvirtError, OSError) as exc:
                    res['error'] = ((res.get('error') or '') + '\nteardown: %s' % exc).strip()
                finally:
                    spec['finish']()
            if tool in pt.TOOLS:
                drop_pools(self.conn, PREFIX + pt.TAG[tool])
            remove_prefixed(self.conn, PREFIX + pt.TAG[tool])
        log('%s: host side %s s, all running %s s, all SSH %s s, teardown %s s%s'
            % (label, res.get('host_side_s'), res.get('all_running_s'), res.get('all_ssh_s'),
               (res.get('teardown') or {}).get('wall_s'),
               ', ' + res['error'].splitlines()[0][:200] if res.get('error') else ''))
        return res

    def peer_measure(self, spec):
        """Run the tool's commands in order while the bench watches and logs into every VM. A command making a
        later tier starts once the tier before answered the bench's login, or gave up (then it runs ungated, to
        measure the tool's host side still)."""
        names, steps = spec['names'], spec['steps']
        made = [None] * len(steps)
        failed = [Flag() for _step in steps]
        step_of = dict((name, index) for index, step in enumerate(steps) for name in step['makes'])
        bound = self.args.boot_timeout * len(set(spec['tiers'].values())) + 300
        watch = Watch(names)
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(names))
        futures = {}
        for name in names:
            index = step_of[name]
            futures[name] = pool.submit(self.peer_login, watch, name, spec['user'], lambda i=index: made[i],
                                        failed[index] if name in steps[index].get('abort_on', ()) else None, bound)
        ran = []
        try:
            for index, step in enumerate(steps):
                gated = None
                if index:
                    before = [futures[name] for name in steps[index - 1]['makes']]
                    concurrent.futures.wait(before)
                    gated = all(f.result() is not None for f in before)
                launched = watch.now()
                if 'run' in step:
                    res = step['run']()
                else:
                    res = run_tool(step['argv'], self.peer_log(step['label']), step['timeout'], spec['env'],
                                   spec['cwd'], failed[index])
                res.update({'launched_s': rnd(launched, 2), 'gated': gated})
                ran.append(res)
                made[index] = watch.now()
            concurrent.futures.wait(list(futures.values()))
        finally:
            watch.stopped.set()  # a login wait still going ends
            pool.shutdown(wait=True)
            watch.stop()
        vms = {}
        for name in names:
            info = watch.get(name)
            vms[name] = {'tier': spec['tiers'][name], 'step': step_of[name], 'running_s': rnd(info.get('running_s'), 2),
                         'ssh_s': rnd(info.get('ssh_s'), 2), 'ip': info.get('ip'), 'state': info.get('state'),
                         'reason': info.get('reason'), 'domain_type': info.get('domain_type'),
                         'machine': info.get('machine'), 'cpu_mode': info.get('cpu_mode'),
                         'gave_up': info.get('gave_up')}
        running = [v['running_s'] for v in vms.values()]
        logins = [v['ssh_s'] for v in vms.values()]
        return {'steps': ran, 'vms': vms, 'watch_error': watch.error,
                'all_running_s': max(running) if None not in running else None,
                'all_ssh_s': max(logins) if None not in logins else None,
                'ready': len([x for x in logins if x is not None]),
                'host_side_s': host_side(vms, [s['launched_s'] for s in ran])}

    def peer_login(self, watch, name, user, made_at, failed, bound):
        """Seconds from the start until `user` logs into VM `name` with the bench's key (util's ssh_login, the same
        probe for every tool), or None when its wait gives up (the reason goes to the Watch, and to `failed`)."""
        while True:
            now = watch.now()
            info = watch.get(name)
            why = give_up(info, now, made_at(), self.args.boot_timeout, bound) or \
                ('the bench stopped waiting' if watch.stopped.is_set() else None)
            if why:
                why += qemu_log_errors(name)
                watch.put(name, gave_up=why)
                if failed is not None:
                    failed.set('%s: %s' % (name, why))
                return None
            ip = info.get('ip')
            if ip and info.get('state') == 'running' and tcp_open(ip, 22) and ssh_login(self.key, user, ip):
                ready = watch.now()
                watch.put(name, ssh_s=ready)
                return ready
            time.sleep(0.5)

    def peer_disk(self, names):
        """Allocated bytes of every file the VMs' disks use, each once: overlays, seeds, the base image."""
        files = set()
        for name in names:
            try:
                files.update(disk_files(self.conn.lookupByName(name).XMLDesc(0)))
            except libvirt.libvirtError:
                continue
        sizes = dict((path, allocated(path)) for path in files if os.path.exists(path))
        total = sum(sizes.values())
        base = allocated(peers_image())
        return {'files': [{'path': p, 'allocated_bytes': b} for p, b in sorted(sizes.items())], 'total_bytes': total,
                'base_image_bytes': base, 'ratio': rnd(float(total) / base, 3) if base else None}

    # ---- the tools: what is staged (untimed), the timed commands, the teardown
    def peer_log(self, label):
        """A log of its own for each command, numbered like the playbook runs' logs."""
        self.counter += 1
        return os.path.join(self.logdir, '%02d-peers-%s.log' % (self.counter, label))

    def peer_dirs(self, tool):
        base = os.path.join(PEERS_WORK, tool)
        shutil.rmtree(base, ignore_errors=True)
        paths = (base, os.path.join(base, 'home'), os.path.join(base, 'pool'))
        for path in (PEERS_WORK,) + paths:
            os.makedirs(path, exist_ok=True)
            os.chmod(path, 0o755)  # qemu runs as its own user and must reach the pool
        return paths

    def peer_env(self, tool, home):
        user = pwd.getpwuid(os.getuid()).pw_name
        env = dict(os.environ, HOME=home, USER=user, LOGNAME=user,
                   PATH=os.path.join(pt.venv_dir(tool), 'bin') + os.pathsep + os.environ.get('PATH', ''))
        env.pop('KCLI_CONFIG', None)
        return env

    def peer_names(self, tool):
        tag = PREFIX + pt.TAG[tool]
        names = ['%s-vm%d' % (tag, i) for i in range(self.args.vms)]
        return tag, names, dict((name, 0 if i == 0 else 1) for i, name in enumerate(names))

    @staticmethod
    def stage(dest):
        """The phase's image, copied where the tool looks for images (untimed: a peer would have it already)."""
        began = time.monotonic()
        shutil.copyfile(peers_image(), dest + '.tmp')
        os.chmod(dest + '.tmp', 0o644)
        os.rename(dest + '.tmp', dest)
        return rnd(time.monotonic() - began, 2)

    def peer_spec_ours(self):
        tag = PREFIX + pt.TAG['ours']
        n = self.args.vms
        cache = os.path.join(PEERS_WORK, 'ours-cache')
        image = peers_image()
        entry = None
        if image != os.environ['STRATA_LAB_IMAGE']:  # not served by the lab: the file, with its digest
            entry = {'source': image, 'checksum': 'sha256:' + sha256_file(image), 'size': 'bench', 'login_user': USER}
        inv = self.inventory(pt.TAG['ours'], pt.OCTET['ours'], n, MEMORY_MIB, tiers=n > 1, disk='%dG' % DISK_GIB,
                             image=entry, extra_vars={'image_cache_dir': cache, 'unprovision_cache_dir': cache})
        names = ['%s-%s' % (inv['name'], vm['name']) for vm in inv['vms']]
        argv = ['ansible-playbook', '-i', inv['inventory'], 'strata.libvirt.provision']

        def provision():
            began = time.monotonic()
            cached = os.path.isdir(cache) and bool(os.listdir(cache))
            try:
                res = self.provision('peers-provision', inv)
            except BenchError as exc:
                return {'argv': argv, 'rc': 'failed', 'wall_s': rnd(time.monotonic() - began, 2),
                        'ended': str(exc)[-1500:], 'image_cached_before': cached}
            return {'argv': argv, 'rc': res['rc'], 'wall_s': res['wall_s'], 'log': res['log'],
                    'image_cached_before': cached, 'startup_s': res['startup_s'],
                    'outside_startup_s': res['outside_startup_s'], 'phases': res['phases']}

        def unprovision():
            began = time.monotonic()
            res = self.unprovision('peers-unprovision', inv, must=False)
            return {'argv': ['ansible-playbook', '-i', inv['inventory'], 'strata.libvirt.unprovision'],
                    'rc': res['rc'] if res else 'failed', 'wall_s': rnd(time.monotonic() - began, 2)}

        def finish():
            shutil.rmtree(inv['inventory'], ignore_errors=True)
            if os.path.exists(inv['guests']):
                os.remove(inv['guests'])
        tiers = dict((name, 0 if i == 0 else 1) for i, name in enumerate(names))
        return {'prefix': tag, 'names': names, 'tiers': tiers, 'user': USER, 'stage_s': None, 'teardown': unprovision,
                'finish': finish, 'steps': [{'label': 'ours', 'run': provision, 'makes': names}]}

    def peer_spec_kcli(self):
        tag, names, tiers = self.peer_names('kcli')
        base, home, pool_dir = self.peer_dirs('kcli')
        env = self.peer_env('kcli', home)
        kdir = os.path.join(home, '.kcli')
        os.makedirs(kdir, mode=0o700)
        with open(os.path.join(kdir, 'config.yml'), 'w', encoding='utf-8') as handle:
            handle.write(json.dumps(pt.kcli_config(URI, tag), indent=2) + '\n')
        # kcli's key: the first of ~/.kcli/id_ed25519.pub, ... it finds is put into the guests and used for its wait
        for suffix, mode in (('', 0o600), ('.pub', 0o644)):
            shutil.copyfile(self.key + suffix, os.path.join(kdir, 'id_ed25519' + suffix))
            os.chmod(os.path.join(kdir, 'id_ed25519' + suffix), mode)
        plan = os.path.join(base, 'plan.yml')
        with open(plan, 'w', encoding='utf-8') as handle:
            handle.write(json.dumps(pt.kcli_plan(tag, '10.245.%d.0/24' % pt.OCTET['kcli'], pt.KCLI_IMAGE, tag, names,
                                                 MEMORY_MIB, DISK_GIB, self.args.boot_timeout), indent=2) + '\n')
        stage_s = self.stage(os.path.join(pool_dir, pt.KCLI_IMAGE))
        exe = pt.executable('kcli')

        def command(label, argv, timeout):
            return run_tool(argv, self.peer_log('kcli-' + label), timeout, env, base)
        made = command('pool', [exe, 'create', 'pool', '-p', pool_dir, tag], 300)
        if made['rc'] != 0 or tag not in [p.name() for p in self.conn.listAllStoragePools()]:
            raise BenchError('kcli create pool failed (rc %s): %s' % (made['rc'], made['tail']))
        return {'prefix': tag, 'names': names, 'tiers': tiers, 'user': self.peer_user('kcli'), 'env': env, 'cwd': base,
                'stage_s': stage_s, 'keep_pool': tag, 'keep_volumes': (pt.KCLI_IMAGE,),
                'teardown': lambda: command('delete', [exe, 'delete', 'plan', '-y', tag], 300),
                'finish': lambda: command('pool-delete', [exe, 'delete', 'pool', '-y', tag], 300),
                'steps': [{'label': 'kcli-plan', 'argv': [exe, 'create', 'plan', '-f', plan, tag], 'makes': names,
                           'abort_on': names[:1], 'timeout': 2 * self.args.boot_timeout + 300}]}

    def peer_spec_virt_lightning(self):
        tag, names, tiers = self.peer_names('virt-lightning')
        base, home, pool_dir = self.peer_dirs('virt-lightning')
        env = self.peer_env('virt-lightning', home)
        config = os.path.join(home, '.config', 'virt-lightning')
        os.makedirs(config)
        with open(os.path.join(config, 'config.ini'), 'w', encoding='utf-8') as handle:
            handle.write(pt.vl_config(URI, tag, tag, '10.245.%d.0/24' % pt.OCTET['virt-lightning'], self.key + '.pub'))
        upstream = os.path.join(pool_dir, 'upstream')
        os.makedirs(upstream)
        os.chmod(upstream, 0o755)
        stage_s = self.stage(os.path.join(upstream, pt.VL_DISTRO + '.qcow2'))
        # virt-lightning has no command that makes a pool (without one it defines its own under /var/lib/virt-lightning)
        pool = self.conn.storagePoolDefineXML(pt.pool_xml(tag, pool_dir), 0)
        pool.create(0)
        tiers_argv = []
        for tier in sorted(set(tiers.values())):
            path = os.path.join(base, 'tier%d.yaml' % tier)
            with open(path, 'w', encoding='utf-8') as handle:
                handle.write(json.dumps(pt.vl_hosts([x for x in names if tiers[x] == tier], pt.VL_DISTRO, MEMORY_MIB,
                                                    DISK_GIB), indent=2) + '\n')
            tiers_argv.append(([x for x in names if tiers[x] == tier], path))
        exe = pt.executable('virt-lightning')
        steps = [{'label': 'vl-up-tier%d' % index, 'argv': [exe, 'up', '--virt-lightning-yaml', path, '--context', tag],
                  'makes': made, 'abort_on': made, 'timeout': self.args.boot_timeout + 300}
                 for index, (made, path) in enumerate(tiers_argv)]

        def finish():
            drop_pools(self.conn, tag)
        return {'prefix': tag, 'names': names, 'tiers': tiers, 'user': self.peer_user('virt-lightning'), 'env': env,
                'cwd': base, 'stage_s': stage_s, 'keep_pool': tag, 'keep_volumes': ('upstream',), 'finish': finish,
                'teardown': lambda: run_tool([exe, 'down', '--context', tag], self.peer_log('vl-down'), 300, env,
                                             base),
                'steps': steps}


def peers_image():
    """The image every tool gets: bench/run's build of the lab recipe with Debian's standard kernel
    (STRATA_BENCH_PEERS_IMAGE), else the lab image."""
    return os.environ.get('STRATA_BENCH_PEERS_IMAGE') or os.environ['STRATA_LAB_IMAGE']


def make_dirs(path):
    """os.makedirs that returns the directories it made, top first (to remove them again, bottom first)."""
    made = []
    head = path
    while head and not os.path.isdir(head):
        made.insert(0, head)
        head = os.path.dirname(head)
    for directory in made:
        os.mkdir(directory)
    return made

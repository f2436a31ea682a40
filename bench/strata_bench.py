# -*- coding: utf-8 -*-
# Copyright: strata.libvirt developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The strata.libvirt benchmark (issue 7). Run it through ``bench/run``, which brings the lab up and
starts this file inside the lab's network namespace (``tests/lab/lab exec``).

Phases (``--only`` takes these names):
  floor   plain libvirt-python: 1 VM start -> SSH login (median of --runs), N VMs at once, N VMs in the
          cluster's two tiers, the slowest guest's ACPI shutdown
  ours    strata.libvirt.provision of N VMs in 2 tiers: cold (image not cached) and warm; with it
          noop    a re-run (changed must be 0) against a plain ansible.builtin.ping play
          disk    bytes of the cluster's volumes against one base image
          unprov  strata.libvirt.unprovision against the slowest ACPI shutdown
  seed    the seed playbook's method (full copies, virt-customize, community.libvirt, 10 s pause)
  scale   ours and the plain-libvirt floor at 4, 8 and 12 VMs (one tier, 256 MiB each)

Every object is named strata-bench-*, every subnet is 10.245.x.0/24, every file lives under
/var/tmp/strata-bench (WORK); each phase removes what it made, also when it fails.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

import libvirt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lab'))
from selftest import make_seed, tcp_open  # noqa: E402  the lab self-test's NoCloud seed and TCP check, one copy of each

BENCH = os.path.join(ROOT, 'bench')
WORK = os.environ.get('STRATA_BENCH_WORK', '/var/tmp/strata-bench')
RESULTS = os.path.join(BENCH, 'results')
URI = os.environ.get('STRATA_LAB_URI', 'qemu:///system')
PREFIX = 'strata-bench-'
VENV_PY = os.path.join(ROOT, '.venv', 'bin', 'python')
ANSIBLE_PLAYBOOK = os.path.join(ROOT, '.venv', 'bin', 'ansible-playbook')
USER = 'strata'
PHASES = ('floor', 'ours', 'noop', 'disk', 'unprov', 'seed', 'scale')
KVM_BOOT_S = 12.0  # a Debian 12 cloud image on KVM, start -> SSH login: the assumption behind the KVM projection

libvirt.registerErrorHandler(lambda ctx, err: None, None)


class BenchError(Exception):
    """A phase could not be measured."""


def log(msg):
    print('[bench %s] %s' % (time.strftime('%H:%M:%S'), msg), flush=True)


def rnd(value, digits=1):
    return None if value is None else round(float(value), digits)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def run(argv, timeout, check=True, env=None, capture=True):
    """subprocess.run with a bound: every external command of the benchmark goes through here."""
    try:
        proc = subprocess.run(argv, capture_output=capture, text=True, timeout=timeout, check=False, env=env)
    except subprocess.TimeoutExpired as exc:
        raise BenchError('%s did not finish within %d s' % (' '.join(argv[:3]), timeout)) from exc
    if check and proc.returncode != 0:
        tail = ((proc.stderr or '') + (proc.stdout or ''))[-1500:]
        raise BenchError('%s failed (rc %d): %s' % (' '.join(argv[:4]), proc.returncode, tail))
    return proc


# --------------------------------------------------------------------------------------------------
# the machine


def loadavg():
    with open('/proc/loadavg', encoding='ascii') as handle:
        return [float(x) for x in handle.read().split()[:3]]


def cpu_busy(interval=3.0):
    """Fraction of all CPU time that was busy over the next `interval` seconds (0..1)."""
    def sample():
        with open('/proc/stat', encoding='ascii') as handle:
            fields = [int(x) for x in handle.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return idle, sum(fields)
    idle0, total0 = sample()
    time.sleep(interval)
    idle1, total1 = sample()
    total = max(total1 - total0, 1)
    return 1.0 - float(idle1 - idle0) / total


def machine_info():
    model = ''
    with open('/proc/cpuinfo', encoding='utf-8', errors='replace') as handle:
        for line in handle:
            if line.startswith('model name'):
                model = line.split(':', 1)[1].strip()
                break
    mem_kib = 0
    with open('/proc/meminfo', encoding='ascii') as handle:
        for line in handle:
            if line.startswith('MemTotal:'):
                mem_kib = int(line.split()[1])
    with open('/proc/cpuinfo', encoding='utf-8', errors='replace') as handle:
        flags = handle.read()
    hw_virt = ' vmx' in flags or ' svm' in flags
    kvm_pvm = os.path.exists('/sys/module/kvm_pvm')
    return {
        'hostname': socket.gethostname(),
        'cores': os.cpu_count(),
        'cpu_model': model,
        'memory_gib': round(mem_kib / 1048576.0, 1),
        'kernel': platform.release(),
        'virtualisation': 'TCG (type=qemu)',
        'kvm_note': ('/dev/kvm comes from kvm_pvm: it cannot run Linux guests, so every guest runs under TCG'
                     if kvm_pvm else ('VT-x/AMD-V present; the lab still runs guests under TCG' if hw_virt
                                      else 'no VT-x/AMD-V: TCG')),
        'loadavg_at_start': loadavg(),
        'python': platform.python_version(),
    }


def foreign_domains(conn):
    return sorted(d.name() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
                  if not d.name().startswith(PREFIX))


def wait_quiet(conn, phase, max_wait, busy_max=0.25):
    """Wait (bounded) until no other engineer's guest runs and the CPUs are mostly idle."""
    began = time.monotonic()
    announced = False
    while True:
        foreign = foreign_domains(conn)
        busy = cpu_busy()
        quiet = not foreign and busy <= busy_max
        waited = time.monotonic() - began
        if quiet or waited >= max_wait:
            state = {'phase': phase, 'quiet': quiet, 'waited_s': rnd(waited), 'cpu_busy': rnd(busy, 2),
                     'loadavg': loadavg(), 'foreign_domains': foreign}
            if not quiet:
                log('%s: the machine is still busy after %d s (cpu %.0f%%, other guests: %s); measuring anyway, '
                    'marked busy' % (phase, waited, busy * 100, ', '.join(foreign) or 'none'))
            else:
                log('%s: machine quiet (cpu %.0f%%, load %s)' % (phase, busy * 100, state['loadavg']))
            return state
        if not announced:
            log('%s: waiting up to %d s for a quiet machine (cpu %.0f%%, other guests: %s)'
                % (phase, max_wait, busy * 100, ', '.join(foreign) or 'none'))
            announced = True
        time.sleep(10)


# --------------------------------------------------------------------------------------------------
# guests


def ssh_login(key, user, host):
    try:
        proc = subprocess.run(
            ['ssh', '-i', key, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
             '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=5', '%s@%s' % (user, host), 'true'],
            capture_output=True, text=True, timeout=20, check=False)
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0


def wait_logins(targets, t0, timeout, key):
    """targets: [(name, user, ip)]; seconds from t0 (monotonic) to a successful SSH login, None on timeout."""
    def one(target):
        _name, user, ip = target
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if tcp_open(ip, 22) and ssh_login(key, user, ip):
                return time.monotonic() - t0
            time.sleep(0.5)
        return None
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(len(targets), 1)) as pool:
        return dict(zip([t[0] for t in targets], pool.map(one, targets)))


def seed_files(hostname, pub):
    user_data = '\n'.join([
        '#cloud-config', 'hostname: %s' % hostname, 'fqdn: %s.bench.strata.test' % hostname, 'locale: C.UTF-8',
        'ssh_genkeytypes: [ed25519]', 'users:', '  - name: %s' % USER, '    sudo: ALL=(ALL) NOPASSWD:ALL',
        '    shell: /bin/bash', '    ssh_authorized_keys: [%s]' % json.dumps(pub), ''])
    return {'user-data': user_data,
            'meta-data': 'instance-id: %s-%d\nlocal-hostname: %s\n' % (hostname, time.time() * 1000, hostname)}


def remove_prefixed(conn, prefix):
    """Destroy and undefine domains, networks and pools whose names start with prefix (ours only)."""
    if not prefix.startswith(PREFIX):
        raise BenchError('refusing to remove objects outside %s*' % PREFIX)
    for dom in conn.listAllDomains():
        if dom.name().startswith(prefix):
            try:
                if dom.isActive():
                    dom.destroy()
                dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
            except libvirt.libvirtError as exc:
                log('cleanup: domain %s: %s' % (dom.name(), exc))
    for net in conn.listAllNetworks():
        if net.name().startswith(prefix):
            try:
                if net.isActive():
                    net.destroy()
                net.undefine()
            except libvirt.libvirtError as exc:
                log('cleanup: network %s: %s' % (net.name(), exc))
    for pool in conn.listAllStoragePools():
        if pool.name().startswith(prefix):
            try:
                if pool.isActive():
                    pool.refresh()
                    for vol in pool.listAllVolumes():
                        vol.delete()
                    pool.destroy()
                pool.undefine()
            except libvirt.libvirtError as exc:
                log('cleanup: pool %s: %s' % (pool.name(), exc))


class PlainCluster:
    """VMs made with plain libvirt-python (no collection code): the physical limit."""

    def __init__(self, bench, tag, count, octet, memory_mib, tb_cache):
        self.bench = bench
        self.conn = bench.conn
        self.name = PREFIX + tag
        self.dir = os.path.join(WORK, tag)
        self.octet = octet
        self.memory_mib = memory_mib
        self.tb_cache = tb_cache
        self.vms = [{'name': 'vm%d' % i, 'domain': '%s-vm%d' % (self.name, i), 'ip': '10.245.%d.%d' % (octet, 10 + i),
                     'mac': '52:54:00:f5:%02x:%02x' % (octet, 10 + i)} for i in range(count)]

    def network_xml(self):
        hosts = ''.join("      <host mac='%s' name='%s' ip='%s'/>\n" % (v['mac'], v['name'], v['ip']) for v in self.vms)
        return ("<network><name>%s</name><forward mode='nat'/>\n"
                "  <ip address='10.245.%d.1' netmask='255.255.255.0'>\n    <dhcp>\n"
                "      <range start='10.245.%d.100' end='10.245.%d.199'/>\n%s    </dhcp>\n  </ip>\n</network>"
                % (self.name, self.octet, self.octet, self.octet, hosts))

    def domain_xml(self, vm, overlay, seed):
        # the devices of a cluster VM of strata.libvirt.domain (virtio disk and NIC, the seed as a read-only virtio
        # disk, serial log, agent channel, rng) and its disk settings (discard and detect_zeroes unmap)
        return """<domain type='qemu'>
  <name>{d}</name>
  <memory unit='MiB'>{mem}</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type><boot dev='hd'/></os>
  <features><acpi/><apic/><tcg><tb-cache unit='MiB'>{tb}</tb-cache></tcg></features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2' discard='unmap' detect_zeroes='unmap'/>
      <source file='{o}'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{s}'/><target dev='vdb' bus='virtio'/><readonly/></disk>
    <interface type='network'><source network='{n}'/><mac address='{mac}'/><model type='virtio'/></interface>
    <serial type='pty'><log file='{log}' append='off'/><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
  </devices>
</domain>""".format(d=vm['domain'], mem=self.memory_mib, tb=self.tb_cache, o=overlay, s=seed, n=self.name,
                    mac=vm['mac'], log=os.path.join(self.dir, vm['domain'] + '-console.log'))

    def setup(self):
        remove_prefixed(self.conn, self.name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        base = self.bench.floor_base()
        net = self.conn.networkDefineXML(self.network_xml())
        net.create()
        for vm in self.vms:
            overlay = os.path.join(self.dir, vm['domain'] + '.qcow2')
            run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', base, overlay, '4G'], 60)
            seed = os.path.join(self.dir, vm['domain'] + '-seed.iso')
            make_seed(seed, seed_files(vm['name'], self.bench.pub))
            self.conn.defineXML(self.domain_xml(vm, overlay, seed))

    def start(self, vms):
        t0 = time.monotonic()
        for vm in vms:
            self.conn.lookupByName(vm['domain']).create()
        return t0

    def wait(self, vms, t0, timeout):
        return wait_logins([(v['name'], USER, v['ip']) for v in vms], t0, timeout, self.bench.key)

    def shutdown(self, timeout=120):
        """ACPI shutdown of every VM at once; seconds until each is off (None: still running, then destroyed)."""
        doms = dict((vm['name'], self.conn.lookupByName(vm['domain'])) for vm in self.vms)
        t0 = time.monotonic()
        for dom in doms.values():
            if dom.isActive():
                dom.shutdown()
        done = {}
        while len(done) < len(doms) and time.monotonic() - t0 < timeout:
            for name, dom in doms.items():
                if name not in done and not dom.isActive():
                    done[name] = time.monotonic() - t0
            time.sleep(0.2)
        return dict((name, rnd(done.get(name), 2)) for name in doms)

    def teardown(self):
        remove_prefixed(self.conn, self.name)
        shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# Ansible runs


def read_events(path):
    events = []
    if os.path.exists(path):
        with open(path, encoding='utf-8') as handle:
            for line in handle:
                try:
                    events.append(json.loads(line))
                except ValueError:
                    pass
    return events


def task_durations(events, started):
    """[(task name, action, seconds, [results])] in order, each task lasting until the next one starts."""
    starts = [e for e in events if e['event'] == 'task_start']
    end_time = max([e['time'] for e in events] or [started])
    tasks = []
    for index, event in enumerate(starts):
        until = starts[index + 1]['time'] if index + 1 < len(starts) else end_time
        results = [e for e in events if e['event'] == 'result' and e['uuid'] == event['uuid']]
        tasks.append({'task': event['task'], 'action': event['action'], 'began': event['time'],
                      'seconds': until - event['time'], 'results': results})
    return tasks


def startup_tiers(startup):
    """The tiers the startup tasks report: number, status, VMs and seconds from begin to ready."""
    tiers = []
    for task in startup:
        for result in task['results']:
            for item in result['result'].get('results', []) or [result['result']]:
                for tier in item.get('tiers') or []:
                    began, ready = tier.get('began') or {}, tier.get('ready') or {}
                    tiers.append({'tier': tier.get('tier'), 'status': tier.get('status'),
                                  'vms': [v.get('name') if isinstance(v, dict) else v for v in tier.get('vms', [])],
                                  'seconds': rnd(ready['t'] - began['t'], 2)
                                  if isinstance(ready.get('t'), (int, float)) and isinstance(began.get('t'), (int, float))
                                  else None})
    return tiers


def fill_tier_seconds(results):
    """--report on a run saved before tiers had their seconds: take them from its events files, if still there."""
    p = results['phases']
    runs = [(p.get('ours') or {}).get('cold')] + [pair.get('ours_cold') for pair in p.get('pairs') or []]
    for res in [r for r in runs if r and r.get('tiers') and any('seconds' not in t for t in r['tiers'])]:
        if res.get('events') and os.path.exists(res['events']):
            startup = [t for t in task_durations(read_events(res['events']), 0) if t['action'] == 'strata.libvirt.startup']
            # the log names are reused by the next run: only the events of this very run (same startup time)
            if startup and rnd(startup[-1]['began'] + startup[-1]['seconds'] - startup[0]['began'], 2) == res.get('startup_s'):
                res['tiers'] = startup_tiers(startup)


def classify(tasks, rules, started, finished):
    """Sum task seconds into phases: rules is [(phase, predicate(task))]; the rest is 'other tasks'.
    'ansible start-up' is the time before the first task began."""
    phases = {}
    order = ['ansible start-up']
    first = tasks[0]['began'] if tasks else finished
    phases['ansible start-up'] = first - started
    for task in tasks:
        phase = 'other tasks (set_fact, checks, summary)'
        for name, predicate in rules:
            if predicate(task):
                phase = name
                break
        if phase not in phases:
            phases[phase] = 0.0
            order.append(phase)
        phases[phase] += task['seconds']
    return [(name, rnd(phases[name], 2)) for name in order]


def recap_changed(events):
    stats = [e for e in events if e['event'] == 'stats']
    if not stats:
        return None, None
    recap = stats[-1]['recap']
    changed = sum(h.get('changed', 0) for h in recap.values())
    failures = sum(h.get('failures', 0) + h.get('unreachable', 0) for h in recap.values())
    return changed, failures


# --------------------------------------------------------------------------------------------------
# the benchmark


class Bench:

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
        with open(output, 'w', encoding='utf-8') as out:
            try:
                proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, env=env, cwd=ROOT,
                                      check=False)
                rc = proc.returncode
            except subprocess.TimeoutExpired:
                rc = 'timeout after %d s' % timeout
        wall = time.monotonic() - t0
        evs = read_events(events)
        changed, failures = recap_changed(evs)
        tasks = task_durations(evs, started)
        res = {'wall_s': rnd(wall, 2), 'rc': rc, 'changed': changed, 'failures': failures, 'log': output,
               'events': events, 'tasks': tasks, 'started': started, 'finished': started + wall}
        log('%s: %.1f s, rc %s, changed %s' % (label, wall, rc, changed))
        if rc != 0:
            with open(output, encoding='utf-8', errors='replace') as handle:
                tail = handle.read()[-2500:]
            raise BenchError('%s failed (rc %s, log %s):\n%s' % (label, rc, output, tail))
        return res

    # ---- ours: generated inventory (shaped like inventory/group_vars of the collection)
    def inventory(self, name, octet, vms, memory_mib, tiers, max_parallel=None):
        """vms: count. tiers: True = 'gw' in tier 0, the rest in tier 1; False = one tier. max_parallel: the
        startup's start limit (None: none)."""
        inv = os.path.join(WORK, 'inv-' + name)
        gv = os.path.join(inv, 'group_vars', 'hypervisor')
        os.makedirs(gv, exist_ok=True)
        net = '10.245.%d' % octet
        vm_list = []
        for index in range(vms):
            vm_name = 'gw' if (tiers and index == 0) else 'n%d' % index
            vm_list.append({'name': vm_name, 'ip': '%s.%d' % (net, 10 + index),
                            'tier': (0 if index == 0 else 1) if tiers else 0})
        cluster = {
            'name': PREFIX + name, 'uri': URI, 'virt_type': 'qemu', 'image': 'bench', 'size': 'bench',
            'network': {'cidr': net + '.0/24', 'mode': 'nat', 'domain': 'bench.strata.test',
                        'dhcp_range': {'start': net + '.100', 'end': net + '.199'}},
            'user': USER, 'ssh_private_key_file': self.key, 'ssh_public_keys': [],
            'console_log_dir': os.path.join(WORK, 'console'),
            'startup': dict({'on_failure': 'abort', 'timeout': self.args.boot_timeout, 'grace': 60},
                            **({'max_parallel': max_parallel} if max_parallel else {})),
            'vms': vm_list,
        }
        lab = os.environ.get('STRATA_LAB_HTTP', 'http://127.0.0.1:8088')
        image_map = {
            'default_label': 'bench',
            'sizes': {'bench': {'vcpus': 1, 'memory': '%dM' % memory_mib, 'disk': '4G'}},
            'images': {'bench': {'source': lab + '/strata-debian-12.qcow2', 'checksum': 'sha256:' + lab + '/SHA256SUMS',
                                 'size': 'bench', 'login_user': USER}},
        }
        group_vars = {
            'strata_cluster': cluster, 'strata_image_map': image_map,
            'strata_host_checks_enabled': True, 'strata_host_setup_enabled': False, 'strata_boot_order_enabled': False,
            # a cache of its own, so that the cold runs never touch the image other clusters use
            'image_cache_dir': os.path.join(WORK, 'cache'), 'unprovision_cache_dir': os.path.join(WORK, 'cache'),
            'unprovision_remove_logs': True,
            'cluster_startup_log': os.path.join(self.logdir, PREFIX + name + '-startup.log'),
        }
        with open(os.path.join(gv, 'bench.yml'), 'w', encoding='utf-8') as handle:
            handle.write('---\n# generated by bench/run\n' + json.dumps(group_vars, indent=2) + '\n')
        hosts = {'hypervisor': {'hosts': {'localhost': {'ansible_connection': 'local',
                                                        'ansible_python_interpreter': VENV_PY}}}}
        with open(os.path.join(inv, 'hosts.yml'), 'w', encoding='utf-8') as handle:
            handle.write('---\n' + json.dumps(hosts, indent=2) + '\n')
        vm_hosts = dict((v['name'], {'ansible_host': v['ip']}) for v in vm_list)
        guests = {'bench_vms': {'hosts': vm_hosts, 'vars': {
            'ansible_user': USER, 'ansible_ssh_private_key_file': self.key, 'ansible_python_interpreter': '/usr/bin/python3',
            'ansible_ssh_common_args': '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR'}}}
        guests_file = os.path.join(WORK, 'guests-%s.yml' % name)
        with open(guests_file, 'w', encoding='utf-8') as handle:
            handle.write('---\n' + json.dumps(guests, indent=2) + '\n')
        return {'inventory': inv, 'guests': guests_file, 'name': PREFIX + name, 'vms': vm_list,
                'pool_path': '/var/lib/libvirt/strata/' + PREFIX + name}

    def provision(self, label, inv):
        res = self.ansible(label, ['strata.libvirt.provision'], inv['inventory'], self.args.playbook_timeout)
        return self.summarise_provision(res)

    def unprovision(self, label, inv, must=True):
        try:
            res = self.ansible(label, ['strata.libvirt.unprovision'], inv['inventory'], 900)
        except BenchError:
            if must:
                raise
            return None
        stop = [t for t in res['tasks'] if t['action'] == 'strata.libvirt.startup']
        res['stop_s'] = rnd(sum(t['seconds'] for t in stop), 2)
        res['phases'] = classify(res['tasks'], [
            ('ordered ACPI shutdown (startup module)', lambda t: t['action'] == 'strata.libvirt.startup'),
            ('domains absent', lambda t: t['action'] == 'strata.libvirt.domain'),
            ('volumes, network, pool absent',
             lambda t: t['action'] in ('strata.libvirt.volume', 'strata.libvirt.network', 'strata.libvirt.pool')),
            ('domain_info', lambda t: t['action'] == 'strata.libvirt.domain_info'),
        ], res['started'], res['finished'])
        return self.slim(res)

    @staticmethod
    def slim(res):
        out = dict((k, v) for k, v in res.items() if k not in ('tasks', 'started', 'finished'))
        return out

    def summarise_provision(self, res):
        tasks = res['tasks']
        startup = [t for t in tasks if t['action'] == 'strata.libvirt.startup']
        tiers = startup_tiers(startup)
        first_start = startup[0]['began'] if startup else None
        last_end = (startup[-1]['began'] + startup[-1]['seconds']) if startup else None
        res['startup_s'] = rnd(last_end - first_start, 2) if startup else None
        res['startup_tier_s'] = [rnd(t['seconds'], 2) for t in startup]
        res['tiers'] = tiers
        res['outside_startup_s'] = rnd(res['wall_s'] - (res['startup_s'] or 0), 2)
        for task in startup:
            for result in task['results']:
                data = result['result']
                schedule = data.get('schedule') or {}
                res['max_parallel'] = schedule.get('max_parallel')
                res['max_parallel_source'] = schedule.get('max_parallel_source')
                res['peak_booting'] = schedule.get('peak_booting')
                res['ready_vms'] = len([v for v in (data.get('vms') or {}).values() if v.get('status') == 'ready'])
        res['phases'] = classify(tasks, [
            ('host checks (role host_checks)', lambda t: 'host_checks' in t['task']),
            ('validate + plan (filters, ssh key)', lambda t: t['action'] in ('ansible.builtin.set_fact', 'ansible.builtin.fail',
                                                                             'ansible.builtin.command')
             and 'cluster' in t['task'] and 'Summary' not in t['task']),
            ('pool', lambda t: t['action'] == 'strata.libvirt.pool'),
            ('image: fetch/verify/cache/import', lambda t: t['action'] == 'strata.libvirt.image'),
            ('network', lambda t: t['action'] == 'strata.libvirt.network'),
            ('disks (overlays)', lambda t: t['action'] == 'strata.libvirt.volume'),
            ('cloud-init seeds', lambda t: t['action'] == 'strata.libvirt.cloud_init'),
            ('domains', lambda t: t['action'] == 'strata.libvirt.domain'),
            ('startup: boot + probes (all tiers)', lambda t: t['action'] == 'strata.libvirt.startup'),
        ], res['started'], res['finished'])
        return self.slim(res)

    def ping(self, inv):
        return self.ansible('ping', [os.path.join(BENCH, 'playbooks', 'ping.yml')], inv['guests'], 300)

    def disk_usage(self, inv):
        vols = []
        try:
            pool = self.conn.storagePoolLookupByName(inv['name'])
            pool.refresh()
            for vol in pool.listAllVolumes():
                vols.append({'name': vol.name(), 'allocated_bytes': allocated(vol.path())})
        except libvirt.libvirtError as exc:
            raise BenchError('pool %s: %s' % (inv['name'], exc)) from exc
        cache = os.path.join(WORK, 'cache', 'strata-debian-12.qcow2')
        base = allocated(cache) if os.path.exists(cache) else allocated(os.environ['STRATA_LAB_IMAGE'])
        total = sum(v['allocated_bytes'] for v in vols)
        return {'volumes': vols, 'cluster_volumes_bytes': total, 'base_image_bytes': base,
                'ratio': rnd(float(total) / base, 3), 'pool_du_bytes': du(inv['pool_path']),
                'image_cache_bytes': allocated(cache) if os.path.exists(cache) else None}

    # ---- phases
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
                self.quiet('floor-%d in 2 tiers run %d' % (n, index + 1))
                cluster = PlainCluster(self, 'floor', n, 1, 512, 128)
                try:
                    cluster.setup()
                    t0 = cluster.start(cluster.vms[:1])
                    tier0 = cluster.wait(cluster.vms[:1], t0, self.args.boot_timeout)
                    t1 = cluster.start(cluster.vms[1:])
                    tier1 = cluster.wait(cluster.vms[1:], t1, self.args.boot_timeout)
                    if None in tier0.values() or None in tier1.values():
                        raise BenchError('floor (tiers): a VM did not answer SSH in time')
                    total = (t1 - t0) + max(tier1.values())
                    runs_gated.append({'all_ready_s': rnd(total, 2), 'tier0_s': rnd(max(tier0.values()), 2),
                                       'tier1_s': rnd(max(tier1.values()), 2)})
                    log('floor %d VMs in 2 tiers: %.1f s (tier 0 %.1f, tier 1 %.1f)'
                        % (n, total, max(tier0.values()), max(tier1.values())))
                finally:
                    cluster.teardown()
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

    def phase_ours(self, want):
        n = self.args.vms
        inv = self.inventory('c%d' % n, 10, n, 512, tiers=n > 1)
        out = {'n': n, 'cluster': inv['name'], 'tiers': '1 VM in tier 0, %d in tier 1, SSH-login probe (the default)' % (n - 1)}
        self.results['phases']['ours'] = out
        remove_prefixed(self.conn, inv['name'])
        try:
            out['cold'] = self.ours_cold(inv)
            if 'noop' in want:
                self.phase_noop(inv)
            if 'disk' in want:
                self.results['phases']['disk'] = self.disk_usage(inv)
            out['unprovision'] = [self.unprovision('unprovision', inv)]
            warm = []
            for index in range(self.args.long_runs):
                self.quiet('ours warm run %d' % (index + 1))
                warm.append(self.provision('provision-warm', inv))
                out['unprovision'].append(self.unprovision('unprovision', inv))
            out['warm_runs'] = warm
            out['warm'] = min(warm, key=lambda r: abs(r['wall_s'] - median([w['wall_s'] for w in warm])))
            out['warm_s'] = rnd(median([w['wall_s'] for w in warm]), 2)
            out['unprovision_s'] = rnd(median([u['wall_s'] for u in out['unprovision']]), 2)
            out['unprovision_stop_s'] = rnd(median([u['stop_s'] for u in out['unprovision']]), 2)
        finally:
            self.unprovision('unprovision-cleanup', inv, must=False)
            remove_prefixed(self.conn, inv['name'])
            shutil.rmtree(inv['inventory'], ignore_errors=True)

    def ours_cold(self, inv, label='ours cold'):
        """provision from nothing: neither the cached image nor the base volume exists."""
        shutil.rmtree(os.path.join(WORK, 'cache'), ignore_errors=True)
        self.quiet(label)
        res = self.provision('provision-cold', inv)
        res['image_cached_before'] = False
        return res

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

    def phase_noop(self, inv):
        out = {'runs': [], 'ping_runs': []}
        self.results['phases']['noop'] = out
        self.quiet('noop')
        # the first ping opens the SSH connections (ControlPersist), as the provision's own probes did
        self.ping(inv)
        for _run in range(self.args.runs):
            res = self.provision('provision-noop', inv)
            out['runs'].append({'wall_s': res['wall_s'], 'changed': res['changed'], 'phases': res['phases'],
                                'startup_s': res['startup_s']})
            out['ping_runs'].append(self.ping(inv)['wall_s'])
        out['noop_s'] = rnd(median([r['wall_s'] for r in out['runs']]), 2)
        out['changed'] = max(r['changed'] or 0 for r in out['runs'])
        out['ping_s'] = rnd(median(out['ping_runs']), 2)
        out['profile'] = out['runs'][len(out['runs']) // 2]['phases']

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

    # ---- driver
    def run_phases(self):
        want = set(self.args.only)
        steps = []
        if 'floor' in want:
            steps.append(('floor', self.phase_floor, PREFIX + 'floor'))
        if want & {'ours', 'noop', 'disk', 'unprov'}:
            steps.append(('ours', lambda: self.phase_ours(want), PREFIX + 'c'))
        if 'seed' in want:
            steps.append(('seed', self.phase_seed, PREFIX + 'seed'))
        if 'seed' in want and 'ours' in want and self.args.pairs > 1:
            steps.append(('pairs', self.phase_pairs, PREFIX + 'c'))
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


def allocated(path):
    """Bytes a file takes on disk (its allocated blocks), as du counts them."""
    return os.stat(path).st_blocks * 512


def du(path):
    if not os.path.exists(path):
        return None
    total = 0
    for base, _dirs, files in os.walk(path):
        for name in files:
            total += allocated(os.path.join(base, name))
    return total


# --------------------------------------------------------------------------------------------------
# targets, report


def target(name, value, bound, met, detail):
    return {'target': name, 'value': value, 'bound': bound, 'met': met, 'detail': detail}


def seed_pairs(results):
    """The (ours cold, seed method) pairs of a run: the ours and seed phases' own pair, then the --pairs ones."""
    p = results['phases']
    ours, seed = p.get('ours') or {}, p.get('seed') or {}
    pairs = []
    if (ours.get('cold') or {}).get('wall_s') and seed.get('all_ready_s'):
        pairs.append({'ours_cold': ours['cold'], 'seed': seed, 'order': ['ours', 'seed']})
    pairs += [pair for pair in p.get('pairs') or []
              if (pair.get('ours_cold') or {}).get('wall_s') and (pair.get('seed') or {}).get('all_ready_s')]
    return pairs


def project_pair(results, cold, seed):
    """The seed comparison on KVM hardware, estimated from one pair's own breakdown (issue 7: here guests run
    under TCG, so their boot dominates both). Every guest-bound phase (boots and probes, and virt-customize,
    which boots a libguestfs appliance) is scaled by k = kvm_boot / the measured TCG floor of one VM; the
    host-side phases (download, copies, libvirt calls, module runs) and the seed's fixed 10 s pause stay."""
    floor = results['phases'].get('floor') or {}
    phases = dict(seed.get('phases') or [])
    if not (floor.get('floor_1_s') and cold.get('startup_s') is not None and seed.get('all_ready_s') and phases):
        return None
    kvm_boot = results['options'].get('kvm_boot') or KVM_BOOT_S
    k = kvm_boot / floor['floor_1_s']
    customize = phases.get('virt-customize per VM', 0.0)
    pause = phases.get('fixed pause', 0.0)
    boot = pause + phases.get('wait for SSH (port 22, one VM after another)', 0.0) + phases.get('SSH login after the playbook', 0.0)
    seed_host = seed['all_ready_s'] - customize - boot
    seed_kvm = seed_host + k * customize + max(pause, k * boot)
    ours_host, ours_guest = cold['wall_s'] - cold['startup_s'], cold['startup_s']
    ours_kvm = ours_host + k * ours_guest
    out = {'assumed_kvm_boot_s': kvm_boot, 'k': rnd(k, 3),
           'seed': {'host_side_s': rnd(seed_host, 1), 'customize_s': rnd(customize, 1), 'boot_s': rnd(boot, 1),
                    'kvm_s': rnd(seed_kvm, 1)},
           'ours_cold': {'host_side_s': rnd(ours_host, 1), 'startup_s': rnd(ours_guest, 1), 'kvm_s': rnd(ours_kvm, 1)},
           'ratio_tcg': rnd(seed['all_ready_s'] / cold['wall_s'], 2), 'ratio_kvm': rnd(seed_kvm / ours_kvm, 2)}
    # The scaling above keeps this host's contention: 3 or 4 guests sharing 2 cores boot 2-3x slower than one
    # alone, and that factor is scaled down with everything else. A KVM host usually has a core for each vCPU,
    # and there VMs started together boot in about the time one does. So, second estimate: each group of VMs
    # started together (ours: a tier; the seed method: all of them) takes one KVM boot times how much slower it
    # was here than plain libvirt's group of the same size, measured in this run.
    gated = [r for r in floor.get('runs_n_tiers') or [] if r.get('tier0_s') and r.get('tier1_s')]
    tiers = [t.get('seconds') for t in cold.get('tiers') or []]
    if floor.get('floor_n_s') and len(gated) and len(tiers) == 2 and None not in tiers:
        floor_tiers = (median([r['tier0_s'] for r in gated]), median([r['tier1_s'] for r in gated]))
        ours_groups = [kvm_boot * t / f for t, f in zip(tiers, floor_tiers)]
        ours_kvm2 = ours_host + (ours_guest - sum(tiers)) * k + sum(ours_groups)
        seed_group = kvm_boot * boot / floor['floor_n_s']
        seed_kvm2 = seed_host + k * customize + max(pause, seed_group)
        out['core_per_vcpu'] = {
            'ours_tiers_s': [rnd(t, 1) for t in tiers], 'floor_tiers_s': [rnd(f, 1) for f in floor_tiers],
            'ours_kvm_s': rnd(ours_kvm2, 1), 'seed_boot_vs_floor_n': rnd(boot / floor['floor_n_s'], 2),
            'seed_kvm_s': rnd(seed_kvm2, 1), 'ratio_kvm': rnd(seed_kvm2 / ours_kvm2, 2)}
    return out


def median_pair(pairs):
    """The pair whose ratio is the median one (the lower middle one for an even count)."""
    ranked = sorted(pairs, key=lambda pair: pair['seed']['all_ready_s'] / pair['ours_cold']['wall_s'])
    return ranked[(len(ranked) - 1) // 2]


def evaluate(results):
    p = results['phases']
    floor, ours, noop, disk, seed, scale = (p.get(k) or {} for k in ('floor', 'ours', 'noop', 'disk', 'seed', 'scale'))
    targets = []
    if ours.get('warm_s') and floor.get('floor_n_s'):
        bound = 1.25 * floor['floor_n_s'] + max(floor.get('tier_gating_s') or 0, 0)
        targets.append(target(
            'warm provision of %d VMs <= 1.25x floor-for-%d + tier gating' % (ours['n'], ours['n']), ours['warm_s'],
            rnd(bound), ours['warm_s'] <= bound,
            'warm %.1f s; floor for %d at once %.1f s, tier gating %.1f s (plain libvirt in the same 2 tiers: %.1f s); '
            'ratio to the gated floor %.2fx' % (ours['warm_s'], ours['n'], floor['floor_n_s'], floor.get('tier_gating_s') or 0,
                                                floor.get('floor_n_tiers_s') or 0,
                                                ours['warm_s'] / (floor.get('floor_n_tiers_s') or floor['floor_n_s']))))
    pairs = seed_pairs(results)
    if pairs:
        for pair in pairs:
            pair['ratio'] = rnd(pair['seed']['all_ready_s'] / pair['ours_cold']['wall_s'], 3)
            pair['kvm_projection'] = project_pair(results, pair['ours_cold'], pair['seed'])
        ratio = median([pair['ratio'] for pair in pairs])
        mid = median_pair(pairs)
        proj = results['kvm_projection'] = mid['kvm_projection']
        kvm = [pair['kvm_projection']['ratio_kvm'] for pair in pairs if pair['kvm_projection']]
        kvm2 = [pair['kvm_projection']['core_per_vcpu']['ratio_kvm'] for pair in pairs
                if (pair['kvm_projection'] or {}).get('core_per_vcpu')]
        warm_ratio = (mid['seed']['all_ready_s'] - dict(mid['seed'].get('phases', [])).get('download (get_url + SHA512SUMS)', 0)) \
            / ours['warm_s'] if ours.get('warm_s') else None
        targets.append(target(
            '>= 1.8x faster than the seed method (%d VMs, from nothing)' % seed['n'], rnd(ratio, 2), 1.8, ratio >= 1.8,
            '%sseed method %.1f s vs ours cold %.1f s (both download the image); without the download vs ours warm: %sx%s'
            % ('median of %d pairs, each run one right after the other (%s); the median pair: '
               % (len(pairs), ', '.join('%.2fx' % pair['ratio'] for pair in pairs)) if len(pairs) > 1 else '',
               mid['seed']['all_ready_s'], mid['ours_cold']['wall_s'], rnd(warm_ratio, 2),
               '' if not proj else
               '; projected to KVM (one VM boots in %s s there, assumed; guest-bound phases x%s): seed %s s '
               '(host side %s, customize %s, boot %s) vs ours %s s (host side %s, startup %s): %sx%s'
               % (proj['assumed_kvm_boot_s'], proj['k'], proj['seed']['kvm_s'], proj['seed']['host_side_s'],
                  proj['seed']['customize_s'], proj['seed']['boot_s'], proj['ours_cold']['kvm_s'],
                  proj['ours_cold']['host_side_s'], proj['ours_cold']['startup_s'], proj['ratio_kvm'],
                  ' (the pairs: %s; median %sx)' % (', '.join('%.2fx' % r for r in kvm), rnd(median(kvm), 2))
                  if len(kvm) > 1 else '')
               + ('' if not (proj or {}).get('core_per_vcpu') else
                  '; with a core per vCPU (VMs started together boot in one KVM boot, times their slowdown against '
                  'plain libvirt here): seed %s s vs ours %s s: %sx%s'
                  % (proj['core_per_vcpu']['seed_kvm_s'], proj['core_per_vcpu']['ours_kvm_s'], proj['core_per_vcpu']['ratio_kvm'],
                     ' (the pairs: %s; median %sx)' % (', '.join('%.2fx' % r for r in kvm2), rnd(median(kvm2), 2))
                     if len(kvm2) > 1 else '')))))
    if noop.get('noop_s') is not None and noop.get('ping_s') is not None:
        bound = 1.5 * noop['ping_s'] + 10
        met = noop['changed'] == 0 and noop['noop_s'] <= bound
        targets.append(target('no-op re-run: changed=0 and <= 1.5x ping floor + 10 s', noop['noop_s'], rnd(bound), met,
                              'changed=%s, no-op %.1f s, ping play over the same VMs %.1f s'
                              % (noop['changed'], noop['noop_s'], noop['ping_s'])))
    if disk.get('ratio') is not None:
        targets.append(target('disk of %d VMs <= 1.2x one base image' % (ours.get('n') or 0), disk['ratio'], 1.2,
                              disk['ratio'] <= 1.2,
                              'cluster volumes %s vs base image %s' % (human(disk['cluster_volumes_bytes']),
                                                                       human(disk['base_image_bytes']))))
    points = dict((pt['n'], pt) for pt in scale.get('points', []))
    if points.get(12, {}).get('ours_s') is not None:
        pt = points[12]
        all_ready = pt.get('ours_ready') == 12 and not pt.get('ours_failed')
        targets.append(target('12 VMs on %d cores all ready with the start limit' % results['machine']['cores'],
                              pt.get('ours_ready'), 12, all_ready,
                              'max_parallel %s (%s booting at most), %s s; plain libvirt starting all 12 at once: %s of 12 '
                              'ready within %s s' % (pt.get('max_parallel'), pt.get('peak_booting'), pt['ours_s'],
                                                     pt.get('floor_ready'), results['options'].get('boot_timeout'))))
    if points.get(4, {}).get('ours_s') and points.get(12, {}).get('ours_s'):
        ratio = points[12]['ours_s'] / points[4]['ours_s']
        floor_ratio = (points[12]['floor_s'] / points[4]['floor_s']) if points[12].get('floor_s') and points[4].get('floor_s') else None
        targets.append(target('12 VMs <= 2.5x the time of 4', rnd(ratio, 2), 2.5, ratio <= 2.5,
                              'ours 12: %.1f s, 4: %.1f s; the plain-libvirt floor itself scales %sx'
                              % (points[12]['ours_s'], points[4]['ours_s'], rnd(floor_ratio, 2))))
    results['targets'] = targets
    return targets


def human(num):
    if num is None:
        return '-'
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if abs(num) < 1024 or unit == 'GiB':
            return '%.1f %s' % (num, unit) if unit != 'B' else '%d B' % num
        num /= 1024.0
    return str(num)


def markdown(results):
    m = results['machine']
    lines = ['# strata.libvirt benchmark, %s' % results['date'], '',
             'Machine: %s, %d cores (%s), %.1f GiB, kernel %s; guests: %s (%s). Load average at start: %s.'
             % (m['hostname'], m['cores'], m['cpu_model'], m['memory_gib'], m['kernel'], m['virtualisation'], m['kvm_note'],
                ' '.join('%.2f' % x for x in m['loadavg_at_start'])), '']
    busy = [q for q in results['quiet'] if not q['quiet']]
    busy_text = ', '.join('%s (cpu %.0f%%, other guests: %s)' % (q['phase'], q['cpu_busy'] * 100, ', '.join(q['foreign_domains']) or 'none')
                          for q in busy)
    lines.append('Quiet machine before every phase: %s.' % ('yes' if not busy else 'NO, busy before ' + busy_text))
    lines += ['', '## Targets', '', '| target | value | bound | result | detail |', '|---|---|---|---|---|']
    for t in results.get('targets', []):
        lines.append('| %s | %s | %s | **%s** | %s |' % (t['target'], t['value'], t['bound'], 'met' if t['met'] else 'MISSED',
                                                         t['detail']))
    if not results.get('targets'):
        lines.append('| (no target measured in this run) | | | | |')
    p = results['phases']
    lines += ['', '## Measurements (seconds, wall clock, same run)', '', '| measurement | value |', '|---|---|']

    def row(label, value):
        if value is not None:
            lines.append('| %s | %s |' % (label, ' '.join(str(value).split()).replace('|', '/')))
    floor = p.get('floor', {})
    row('floor: 1 VM start -> SSH login (median of %d: %s)' % (len(floor.get('runs_1', [])), floor.get('runs_1')),
        floor.get('floor_1_s'))
    row('floor: %s VMs at once -> all SSH logins' % floor.get('n'), floor.get('floor_n_s'))
    row('floor: %s VMs in the 2 tiers (1, then %s)' % (floor.get('n'), (floor.get('n') or 1) - 1), floor.get('floor_n_tiers_s'))
    row('floor: slowest guest ACPI shutdown (all at once)', floor.get('acpi_shutdown_slowest_s'))
    ours = p.get('ours', {})
    if ours.get('cold'):
        row('ours cold: provision %d VMs (download included) -> all ready' % ours['n'], ours['cold']['wall_s'])
    row('ours warm: provision %s VMs -> all ready (median of %d)' % (ours.get('n'), len(ours.get('warm_runs', []))),
        ours.get('warm_s'))
    if ours.get('warm'):
        row('ours warm: startup tasks (boot + probes) / everything else', '%s / %s' % (ours['warm']['startup_s'],
                                                                                       ours['warm']['outside_startup_s']))
    noop = p.get('noop', {})
    row('no-op re-run of provision (changed=%s)' % noop.get('changed'), noop.get('noop_s'))
    row('ping play over the same VMs', noop.get('ping_s'))
    disk = p.get('disk', {})
    if disk:
        row('disk: cluster volumes / one base image',
            '%s / %s = %sx' % (human(disk['cluster_volumes_bytes']), human(disk['base_image_bytes']), disk['ratio']))
        row('disk: the image cache (outside the pool, shared by clusters)', human(disk.get('image_cache_bytes')))
    row('unprovision (median) / its ordered-shutdown task', '%s / %s' % (ours.get('unprovision_s'), ours.get('unprovision_stop_s'))
        if ours.get('unprovision_s') else None)
    if ours.get('unprovision_s') and floor.get('acpi_shutdown_slowest_s'):
        row('unprovision / slowest ACPI shutdown', '%.2fx' % (ours['unprovision_s'] / floor['acpi_shutdown_slowest_s']))
    seed = p.get('seed', {})
    row('seed method: %s VMs -> all SSH logins' % seed.get('n'), seed.get('all_ready_s'))
    if seed.get('disk_bytes'):
        row('seed method: disk (download + full copies)', human(seed['disk_bytes']))
    if seed.get('customize'):
        row('seed method: customisation', seed['customize'])
    pairs = seed_pairs(results)
    if len(pairs) > 1:
        for index, pair in enumerate(pairs):
            row('pair %d (%s first): seed method / ours cold' % (index + 1, pair['order'][0]),
                '%s / %s = %.2fx' % (pair['seed']['all_ready_s'], pair['ours_cold']['wall_s'],
                                     pair['seed']['all_ready_s'] / pair['ours_cold']['wall_s']))
    proj = results.get('kvm_projection')
    if proj:
        row('seed vs ours cold, projected to KVM (one VM boots to SSH in %s s there, assumed; guest-bound phases x%s)'
            % (proj['assumed_kvm_boot_s'], proj['k']),
            'seed %s s (host side %s + customize %s + boot %s, scaled) / ours %s s (host side %s + startup %s, scaled) = %sx'
            % (proj['seed']['kvm_s'], proj['seed']['host_side_s'], proj['seed']['customize_s'], proj['seed']['boot_s'],
               proj['ours_cold']['kvm_s'], proj['ours_cold']['host_side_s'], proj['ours_cold']['startup_s'], proj['ratio_kvm']))
        cpv = proj.get('core_per_vcpu')
        if cpv:
            row('the same with a core per vCPU (a group of VMs started together boots in one KVM boot, times its '
                'slowdown against plain libvirt\'s group of that size here)',
                'seed %s s (its 4 at once %sx the floor) / ours %s s (tiers %s s against the floor\'s %s s) = %sx'
                % (cpv['seed_kvm_s'], cpv['seed_boot_vs_floor_n'], cpv['ours_kvm_s'],
                   ' + '.join(str(t) for t in cpv['ours_tiers_s']), ' + '.join(str(t) for t in cpv['floor_tiers_s']),
                   cpv['ratio_kvm']))
    for pt in [pt for pt in p.get('scale', {}).get('points', []) if pt.get('ours_s') or pt.get('floor_s')]:
        row('scale %d VMs (256 MiB, one tier): ours (max_parallel %s, at most %s booting; %s of %d ready) / plain libvirt, '
            'all started at once (%s of %d ready within %s s)'
            % (pt['n'], pt.get('max_parallel') or 'none', pt.get('peak_booting') or '-', pt.get('ours_ready', '-'), pt['n'],
               pt.get('floor_ready', '-'), pt['n'], results['options'].get('boot_timeout')),
            '%s / %s (%sx)' % (pt.get('ours_s'), pt.get('floor_s') if pt.get('floor_s') else 'not all ready', pt.get('ratio')))
    for title, phases in (('ours cold', ours.get('cold', {}).get('phases')), ('ours warm', ours.get('warm', {}).get('phases')),
                          ('ours no-op re-run', noop.get('profile')), ('seed method', seed.get('phases')),
                          ('unprovision', (ours.get('unprovision') or [{}])[0].get('phases') if ours.get('unprovision') else None)):
        if phases:
            lines += ['', '### Per phase: %s' % title, '', '| phase | s |', '|---|---|']
            lines += ['| %s | %s |' % (name, secs) for name, secs in phases]
    if results['errors']:
        lines += ['', '## Errors', '']
        lines += ['- %s: %s' % (e['phase'], e['error'].splitlines()[0][:400]) for e in results['errors']]
    if results['notes']:
        lines += ['', '## Notes', ''] + ['- %s' % n for n in results['notes']]
    return '\n'.join(lines) + '\n'


def plot(results, path):
    try:
        import matplotlib  # pylint: disable=import-outside-toplevel
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
    except ImportError:
        return 'matplotlib is missing (bench/run installs it into .venv)'
    p = results['phases']
    bars = []
    floor, ours, seed, noop = p.get('floor', {}), p.get('ours', {}), p.get('seed', {}), p.get('noop', {})
    for label, value in (('floor 1 VM', floor.get('floor_1_s')), ('floor %s at once' % floor.get('n'), floor.get('floor_n_s')),
                         ('floor %s in tiers' % floor.get('n'), floor.get('floor_n_tiers_s')),
                         ('ours warm', ours.get('warm_s')), ('ours cold', (ours.get('cold') or {}).get('wall_s')),
                         ('seed method', seed.get('all_ready_s')), ('no-op re-run', noop.get('noop_s')),
                         ('ping floor', noop.get('ping_s')), ('unprovision', ours.get('unprovision_s'))):
        if value is not None:
            bars.append((label, value))
    points = [pt for pt in p.get('scale', {}).get('points', []) if pt.get('ours_s') or pt.get('floor_s')]
    fig, axes = plt.subplots(1, 2 if points else 1, figsize=(13 if points else 8, 5), squeeze=False)
    ax = axes[0][0]
    if bars:
        ax.barh([b[0] for b in bars][::-1], [b[1] for b in bars][::-1], color='#4c72b0')
        for index, (_label, value) in enumerate(bars[::-1]):
            ax.text(value, index, ' %.1f s' % value, va='center', fontsize=8)
    ax.set_xlabel('seconds (wall clock)')
    ax.set_title('%s VMs, %s, %d cores' % (ours.get('n') or floor.get('n') or '-', results['machine']['virtualisation'],
                                           results['machine']['cores']))
    if points:
        ax2 = axes[0][1]
        ax2.plot([pt['n'] for pt in points], [pt.get('ours_s') for pt in points], 'o-', label='ours (provision)')
        ax2.plot([pt['n'] for pt in points], [pt.get('floor_s') for pt in points], 's--', label='plain libvirt floor')
        ax2.set_xlabel('VMs (256 MiB, one tier)')
        ax2.set_ylabel('seconds to all ready')
        ax2.set_title('scale')
        ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def summary_text(results, md_path, json_path, png_path):
    lines = ['', '==== strata.libvirt benchmark summary (%s) ====' % results['date']]
    m = results['machine']
    lines.append('machine: %d cores, %s; load average at start %s; quiet: %s'
                 % (m['cores'], m['virtualisation'], ' '.join('%.2f' % x for x in m['loadavg_at_start']),
                    'yes' if all(q['quiet'] for q in results['quiet']) else 'NO (see the report)'))
    for t in results.get('targets', []):
        lines.append('[%s] %s: %s (bound %s) -- %s' % ('met' if t['met'] else 'MISSED', t['target'], t['value'], t['bound'],
                                                       t['detail']))
    for err in results['errors']:
        lines.append('[error] %s: %s' % (err['phase'], err['error'].splitlines()[0][:300]))
    lines.append('results: %s, %s%s' % (json_path, md_path, ', ' + png_path if png_path else ''))
    return '\n'.join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog='bench/run', description='strata.libvirt benchmark (issue 7); runs in the lab.')
    parser.add_argument('--quick', action='store_true', help='one run of each measurement, no scale phase')
    parser.add_argument('--only', default=','.join(PHASES),
                        help='comma-separated phases: %s (default: all)' % ','.join(PHASES))
    parser.add_argument('--skip', default='', help='comma-separated phases to leave out')
    parser.add_argument('--vms', type=int, default=4, help='VMs of the cluster (floor, ours, seed); default 4')
    parser.add_argument('--runs', type=int, default=3, help='repeats of the short measurements (median); default 3')
    parser.add_argument('--long-runs', type=int, default=1, help='repeats of the long ones (several VMs); default 1')
    parser.add_argument('--pairs', type=int, default=1,
                        help='pairs of (ours cold, seed method) for the seed target, its value the median of the '
                             'pairs\' ratios; default 1')
    parser.add_argument('--scale', default='4,8,12', help='VM counts of the scale phase; default 4,8,12')
    parser.add_argument('--max-parallel', default='auto',
                        help='startup.max_parallel of the scale phase\'s clusters (a number, auto or none); default auto')
    parser.add_argument('--boot-timeout', type=int, default=900, help='seconds a VM may take to answer SSH; default 900')
    parser.add_argument('--playbook-timeout', type=int, default=2400, help='bound of one ansible-playbook run; default 2400')
    parser.add_argument('--quiet-wait', type=int, default=600,
                        help='seconds to wait for a quiet machine before each heavy phase; default 600 (0: do not wait)')
    parser.add_argument('--no-customize', action='store_true', help='seed method: NoCloud seeds instead of virt-customize')
    parser.add_argument('--kvm-boot', type=float, default=KVM_BOOT_S,
                        help='for the projection to KVM hardware: seconds one VM of a cloud image takes there from '
                             'start to SSH login (an assumption, not measured here); default %(default)s')
    parser.add_argument('--no-plot', action='store_true', help='no PNG')
    parser.add_argument('--out', default=RESULTS, help='results directory; default bench/results')
    parser.add_argument('--keep-work', action='store_true',
                        help='keep %s (image cache, supermin kernel, keys) for the next run; the logs are always kept' % WORK)
    parser.add_argument('--report', metavar='FILE.json',
                        help='measure nothing: evaluate the targets of a saved run again and rewrite its .md and .png')
    parser.add_argument('--print-phases', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    only = [x.strip() for x in args.only.split(',') if x.strip()]
    skip = [x.strip() for x in args.skip.split(',') if x.strip()]
    unknown = [x for x in only + skip if x not in PHASES]
    if unknown:
        parser.error('unknown phase(s) %s; known: %s' % (', '.join(unknown), ', '.join(PHASES)))
    if args.quick:
        args.runs = 1
        args.long_runs = 1
        skip.append('scale')
    args.only = [x for x in only if x not in skip]
    args.scale = [int(x) for x in args.scale.split(',') if x.strip()]
    if args.vms < 1 or args.runs < 1 or args.long_runs < 1 or args.pairs < 1:
        parser.error('--vms, --runs, --long-runs and --pairs must be at least 1')
    return args


def write_results(results, base, no_plot):
    """Evaluate the targets, write BASE.json, .md and .png, print the report and the summary."""
    evaluate(results)
    os.makedirs(os.path.dirname(base), exist_ok=True)
    json_path, md_path, png_path = base + '.json', base + '.md', base + '.png'
    with open(json_path, 'w', encoding='utf-8') as handle:
        json.dump(results, handle, indent=2, default=str)
        handle.write('\n')
    with open(md_path, 'w', encoding='utf-8') as handle:
        handle.write(markdown(results))
    if no_plot:
        png_path = None
    else:
        problem = plot(results, png_path)
        if problem:
            log('no plot: %s' % problem)
            png_path = None
    print(markdown(results))
    print(summary_text(results, md_path, json_path, png_path))


def report(args):
    """--report FILE.json: the targets, the Markdown table and the plot again from a run's saved results
    (after a change of the report itself; nothing is measured)."""
    with open(args.report, encoding='utf-8') as handle:
        results = json.load(handle)
    results.setdefault('options', {})['kvm_boot'] = args.kvm_boot
    fill_tier_seconds(results)
    write_results(results, os.path.splitext(args.report)[0], args.no_plot)
    return 1 if results.get('errors') else 0


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.print_phases:
        # for bench/run: the phases chosen, and whether the seed phase wants virt-customize
        print(' '.join(args.only + (['customize'] if 'seed' in args.only and not args.no_customize else [])))
        return 0
    if args.report:
        return report(args)
    if 'STRATA_LAB_DIR' not in os.environ:
        print('not inside the lab: run bench/run (it uses tests/lab/lab exec)', file=sys.stderr)
        return 2

    def interrupted(signum, _frame):
        raise KeyboardInterrupt('signal %d' % signum)

    # a TERM (bench/run forwards it) unwinds like Ctrl-C: every phase's cleanup runs
    signal.signal(signal.SIGTERM, interrupted)
    bench = Bench(args)
    log('machine: %s' % json.dumps(bench.results['machine']))
    log('phases: %s' % ', '.join(args.only))
    bench.prepare()
    try:
        bench.run_phases()
    except KeyboardInterrupt:
        bench.results['errors'].append({'phase': '-', 'error': 'interrupted'})
    finally:
        for prefix in bench.prefixes:
            remove_prefixed(bench.conn, prefix)
    if bench.created_modules_dir and not os.listdir('/usr/lib/modules'):
        os.rmdir('/usr/lib/modules')  # made for supermin (prepare_guestfs)
    write_results(bench.results, os.path.join(args.out, bench.stamp), args.no_plot)
    if not args.keep_work:
        # what the phases share (the logs stay, the report names them)
        for name in ('cache', 'console', 'supermin', 'guestfs-cache', 'keys', 'floor-base.qcow2'):
            path = os.path.join(WORK, name)
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            elif os.path.exists(path):
                os.remove(path)
    bench.conn.close()
    return 1 if bench.results['errors'] else 0


if __name__ == '__main__':
    sys.exit(main())

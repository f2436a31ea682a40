# -*- coding: utf-8 -*-
# Copyright: strata.libvirt developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every part of the benchmark shares: its paths and names, commands with a bound, the log, the
machine (its facts, a quiet wait), SSH logins, disk usage."""

from __future__ import annotations

import concurrent.futures
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import time

import libvirt


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'lab'))
from selftest import make_seed, tcp_open  # noqa: E402  the lab self-test's NoCloud seed and TCP check, one copy of each
sys.path.insert(0, os.path.join(ROOT, '.collections'))  # the tree as strata.libvirt, for what the bench shares with it
from ansible_collections.strata.libvirt.plugins.module_utils._image.sums import file_digests  # noqa: E402

__all__ = ['make_seed', 'tcp_open', 'sha256_file', 'ROOT', 'BENCH', 'WORK', 'RESULTS', 'URI', 'PREFIX', 'VENV_PY', 'ANSIBLE_PLAYBOOK', 'USER',
           'PHASES', 'KVM_BOOT_S', 'BenchError', 'log', 'rnd', 'median', 'run', 'loadavg', 'cpu_busy', 'machine_info',
           'foreign_domains', 'wait_quiet', 'ssh_login', 'wait_logins', 'allocated', 'du', 'human']  # make_seed: for plain, seed

BENCH = os.path.join(ROOT, 'bench')
WORK = os.environ.get('STRATA_BENCH_WORK', '/var/tmp/strata-bench')
RESULTS = os.path.join(BENCH, 'results')
URI = os.environ.get('STRATA_LAB_URI', 'qemu:///system')
PREFIX = 'strata-bench-'
VENV_PY = os.path.join(ROOT, '.venv', 'bin', 'python')
ANSIBLE_PLAYBOOK = os.path.join(ROOT, '.venv', 'bin', 'ansible-playbook')
USER = 'strata'
PHASES = ('floor', 'ours', 'noop', 'disk', 'unprov', 'built', 'seed', 'growth', 'peers', 'scale')
KVM_BOOT_S = 12.0  # a Debian 12 cloud image on KVM, start -> SSH login: the assumption behind the KVM projection

libvirt.registerErrorHandler(lambda ctx, err: None, None)


class BenchError(Exception):
    """A phase could not be measured."""


def log(msg):
    print('[bench %s] %s' % (time.strftime('%H:%M:%S'), msg), flush=True)


def cpu_seconds(children_only=False):
    """CPU seconds (user + system) this process's finished children took, and with children_only=False its own
    too (the bench's own probes run in threads, their ssh clients as children)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = used.ru_utime + used.ru_stime
    if not children_only:
        own = resource.getrusage(resource.RUSAGE_SELF)
        total += own.ru_utime + own.ru_stime
    return total


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


def human(num):
    if num is None:
        return '-'
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if abs(num) < 1024 or unit == 'GiB':
            return '%.1f %s' % (num, unit) if unit != 'B' else '%d B' % num
        num /= 1024.0
    return str(num)


def sha256_file(path):
    """The file's sha256 as the image module computes it (a checksum for an image map entry)."""
    return file_digests(path)['sha256']

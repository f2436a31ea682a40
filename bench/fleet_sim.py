# -*- coding: utf-8 -*-
# Copyright: strata.libvirt developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet simulation: 100 hypervisors and 2,000 VMs, without a guest. Fake hosts, a fake clock, the
collection's own pure code. Not part of the test suite; needs no lab and no libvirtd.

    PYTHONPATH=.collections .venv/bin/python bench/fleet_sim.py            every size (10/1 .. 2000/100)
    ... bench/fleet_sim.py --quick                                         three small sizes, one run each
    ... bench/fleet_sim.py --sizes 100x10,2000x100 --repeat 5              chosen sizes (VMs x hypervisors)

For each size it builds a synthetic cluster (seeded): tier 0 "infrastructure" (5 % of the VMs), then three
tiers whose VMs come `after` one or two VMs of the tier before; 512-4096 MiB and 1-4 vCPUs per VM; hypervisors
with 16-64 CPUs and half again the memory the VMs ask for; anti-affinity groups of infrastructure and tier-1 VMs;
the first VM pinned to the first hypervisor. It measures (time.perf_counter, the best of --repeat runs, as timeit):

  place     _cluster/placement validate() + place() (spread) of the whole cluster
  graph     _startup/graph build_graph() of the whole cluster
  startup   a simulated startup: each hypervisor runs _startup/schedule's Schedule over its own VMs (max_parallel:
            its CPUs), all at once; a VM's dependency on another hypervisor's VM is a probed member of the
            schedule, ready --probe-interval seconds after that VM is; boots take 30-90 s (seeded); the clock
            jumps from event to event. It reports the simulated makespan, the lower bound (the longest dependency
            path of boots, or the busiest hypervisor's boots over its start slots), the CPU time spent inside the
            schedulers (in all, and on the busiest hypervisor), and the cross-host dependency edges.
  plan      _cluster/plan build() of the whole definition (once per VM count: it does not see the hypervisors),
            with a one-image map; sizes whose first run passes --plan-budget seconds end the plan column.

Writes bench/results/fleet-sim.md and fleet-sim.json (with the machine: CPUs, Python, date).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import heapq
import io
import ipaddress
import json
import math
import os
import platform
import pstats
import random
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, 'bench', 'results')
try:
    from ansible_collections.strata.libvirt.plugins.module_utils._cluster import definition
    from ansible_collections.strata.libvirt.plugins.module_utils._cluster import placement
    from ansible_collections.strata.libvirt.plugins.module_utils._cluster import plan as planner
    from ansible_collections.strata.libvirt.plugins.module_utils._startup.graph import build_graph
    from ansible_collections.strata.libvirt.plugins.module_utils._startup.schedule import Schedule
except ImportError as exc:
    sys.exit('fleet_sim: %s; run it as PYTHONPATH=%s/.collections .venv/bin/python bench/fleet_sim.py '
             '(after scripts/setup)' % (exc, ROOT))

SIZES = [(10, 1), (10, 10), (100, 1), (100, 10), (100, 100), (1000, 1), (1000, 10), (1000, 100),
         (2000, 1), (2000, 10), (2000, 100)]
QUICK_SIZES = [(10, 1), (100, 10), (1000, 100)]
TIER_SHARES = (0.05, 0.15, 0.30, 0.50)      # tier 0 "infrastructure", then three tiers of `after`
KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKpc8QXeQS+7Sa9RPnbtTb86sZDiDouKCQQOJn2NJVXS fleet-sim'
IMAGE_MAP = {'default_label': 'lab', 'images': {'lab': {'source': 'http://images.invalid/lab.qcow2', 'checksum': 'none'}}}
PLACEMENT_KEYS = ('placement', 'anti_affinity')
PLAN_KNOWS_PLACEMENT = all(k in definition.CLUSTER_KEYS for k in PLACEMENT_KEYS) and 'host' in definition.VM_KEYS
HOST_CPUS = (32, 16, 64)                     # hypervisor i has HOST_CPUS[i % 3] CPUs: one hypervisor has 32


def log(msg):
    print('[fleet-sim %s] %s' % (time.strftime('%H:%M:%S'), msg), file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------
# the synthetic cluster

def tier_counts(vms):
    counts = [max(1, int(round(vms * share))) for share in TIER_SHARES[:-1]]
    counts.append(vms - sum(counts))
    while counts[-1] < 1 and len(counts) > 1:  # a very small cluster: fewer tiers
        counts.pop()
        counts[-1] += vms - sum(counts)
    return counts


def synthetic(vms, hosts, seed):
    """The raw definition (strata_cluster, with the placement keys) and the hypervisors of one size."""
    rng = random.Random('vms/%d/%d' % (seed, vms))       # the VMs depend on their count only
    net = ipaddress.ip_network('10.64.0.0/18')
    first = net.network_address + 10
    tiers, raw, index = [], [], 0
    for tier, count in enumerate(tier_counts(vms)):
        names = []
        for dummy in range(count):
            name = 'vm%04d' % index
            entry = {'name': name, 'ip': str(first + index), 'memory': rng.randrange(512, 4097, 256),
                     'vcpus': rng.choice((1, 1, 2, 2, 4)), 'disk': '4G'}
            if tier == 0:
                entry['tier'] = 0
                entry['groups'] = ['infra']
            else:
                entry['after'] = sorted(rng.sample(tiers[-1], min(len(tiers[-1]), rng.choice((1, 2)))))
            raw.append(entry)
            names.append(name)
            index += 1
        tiers.append(names)
    asked = sum(v['memory'] for v in raw)
    per_host = max(int(math.ceil(asked * 1.5 / hosts / 1024.0)) * 1024, 8192)
    hvs = [{'name': 'hv%03d' % i, 'memory_mib': per_host, 'cpus': HOST_CPUS[i % len(HOST_CPUS)]} for i in range(hosts)]
    cluster = {'name': 'fleet', 'virt_type': 'kvm', 'ssh_public_keys': [KEY], 'placement': 'spread',
               'network': {'cidr': str(net), 'dhcp_range': {'start': '10.64.63.1', 'end': '10.64.63.250'}},
               'vms': raw}
    if hosts >= 2:
        groups = {}
        for name, members in (('infra', tiers[0]), ('db', tiers[1] if len(tiers) > 1 else [])):
            members = members[:min(hosts, 4)]
            if len(members) >= 2:
                groups[name] = members
        if groups:
            cluster['anti_affinity'] = groups
        raw[0]['host'] = hvs[0]['name']
    return cluster, hvs


def plan_definition(cluster):
    """The definition for plan build(): as it is when the definition's vocabulary knows the placement keys
    (placement, anti_affinity, vms[].host), else without them."""
    if PLAN_KNOWS_PLACEMENT:
        return cluster
    out = dict((k, v) for k, v in cluster.items() if k not in PLACEMENT_KEYS)
    out['vms'] = [dict((k, v) for k, v in vm.items() if k != 'host') for vm in cluster['vms']]
    return out


# --------------------------------------------------------------------------------------------------
# the measurements

def timed(func, repeat):
    """(the fewest seconds of `repeat` runs: the least disturbed by the rest of the machine, the last result)."""
    times, result = [], None
    for dummy in range(repeat):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return min(times), result


def run_placement(cluster, hvs):
    names = [vm['name'] for vm in cluster['vms']]
    problems = placement.validate(cluster, names, [h['name'] for h in hvs])
    vms = [{'name': vm['name'], 'memory_mib': vm['memory'], 'vcpus': vm['vcpus'], 'host': vm.get('host')}
           for vm in cluster['vms']]
    result = placement.place(vms, hvs, cluster.get('placement') or 'spread',
                             placement.anti_affinity_groups(cluster.get('anti_affinity')))
    result['problems'] = problems + result['problems']
    return result


def run_graph(cluster):
    return build_graph([{'name': vm['name'], 'after': vm.get('after') or [],
                         'tier': vm.get('tier') if vm.get('tier') is not None or vm.get('after') else 0}
                        for vm in cluster['vms']])


class Clocked(object):
    """A host's Schedule, with the CPU time spent in its calls."""

    def __init__(self, *args, **kwargs):
        start = time.process_time()
        self.sched = Schedule(*args, **kwargs)
        self.cpu = time.process_time() - start

    def call(self, method, *args):
        start = time.process_time()
        try:
            return getattr(self.sched, method)(*args)
        finally:
            self.cpu += time.process_time() - start


def simulate(cluster, hvs, host_of, graph, seed, probe_interval):
    """Every hypervisor's startup at once on a fake clock. Returns the figures of the run."""
    rng = random.Random('boot/%d/%d' % (seed, len(cluster['vms'])))
    names = [vm['name'] for vm in cluster['vms']]
    boot = dict((n, rng.uniform(30.0, 90.0)) for n in names)
    deps = graph['deps']
    order = dict((n, i) for i, n in enumerate(names))
    local = dict((h['name'], []) for h in hvs)
    for name in sorted(names, key=lambda n: (graph['level'][n], order[n])):   # tier, then definition order
        local[host_of[name]].append(name)
    cross = sum(1 for n in names for d in deps[n] if host_of[d] != host_of[n])
    watchers = dict((n, []) for n in names)
    scheds = {}
    wall = time.perf_counter()
    for h in hvs:
        mine = set(local[h['name']])
        remote = sorted(set(d for n in local[h['name']] for d in deps[n] if d not in mine), key=order.get)
        scheds[h['name']] = Clocked(local[h['name']] + remote, deps, max_parallel=h['cpus'])
        for name in remote:
            scheds[h['name']].call('probing', name)
            watchers[name].append(h['name'])
    events, seq, now, ready_at, peak = [], 0, 0.0, {}, 0
    dirty = set(scheds)
    while True:
        for host in sorted(dirty):
            clocked = scheds[host]
            for name in clocked.call('due', now):
                seq += 1
                heapq.heappush(events, (now + boot[name], seq, 'ready', host, name))
            wake = clocked.call('wake', now)
            if wake is not None:
                seq += 1
                heapq.heappush(events, (wake, seq, 'wake', host, None))
        dirty = set()
        if not events:
            break
        now = events[0][0]
        while events and events[0][0] <= now:
            dummy, dummy, kind, host, name = heapq.heappop(events)
            dirty.add(host)
            if kind == 'ready':
                scheds[host].call('ready', name, now)
                ready_at[name] = now
                for other in watchers[name]:
                    seq += 1
                    heapq.heappush(events, (now + probe_interval, seq, 'seen', other, name))
            elif kind == 'seen':
                scheds[host].call('ready', name, now)
    wall = time.perf_counter() - wall
    unfinished = [h for h, c in scheds.items() if not c.call('finished')]
    if unfinished or len(ready_at) != len(names):
        raise RuntimeError('the simulated startup did not finish: %d of %d VMs ready; hosts not finished: %s'
                           % (len(ready_at), len(names), ', '.join(unfinished[:5])))
    for c in scheds.values():
        peak = max(peak, c.sched.peak)
    path = {}
    for name in sorted(names, key=lambda n: graph['level'][n]):
        path[name] = boot[name] + max([path[d] for d in deps[name]] or [0.0])
    cpus = dict((h['name'], h['cpus']) for h in hvs)
    slots = max(sum(boot[n] for n in local[h]) / cpus[h] for h in local if local[h])
    cpu = [c.cpu for c in scheds.values()]
    critical = max(path.values())
    return {'makespan_s': max(ready_at.values()), 'critical_path_s': critical, 'slots_bound_s': slots,
            'lower_bound_s': max(critical, slots), 'sched_cpu_s': sum(cpu), 'sched_cpu_max_host_s': max(cpu),
            'sim_wall_s': wall, 'cross_edges': cross, 'edges': sum(len(deps[n]) for n in names), 'peak_booting': peak,
            'vms_per_host_max': max(len(v) for v in local.values())}


def run_plan(cluster, hvs):
    options = {'hosts': [h['name'] for h in hvs]} if PLAN_KNOWS_PLACEMENT else {}
    result = planner.build(plan_definition(cluster), IMAGE_MAP, options)
    if result['problems']:
        raise RuntimeError('plan build found problems: %s' % '; '.join(result['problems'][:3]))
    return result


def _short(path):
    """plugins/module_utils/..., ansible/module_utils/..., copy.py: a profiled function's file, short."""
    real = os.path.realpath(path) if os.path.isabs(path) else path
    if 'site-packages' + os.sep in real:
        return real.split('site-packages' + os.sep, 1)[1]
    if real.startswith(ROOT + os.sep):
        return os.path.relpath(real, ROOT)
    return os.path.basename(real)


def _own_times(cluster, hvs):
    prof = cProfile.Profile()
    prof.runcall(run_plan, cluster, hvs)
    stats = pstats.Stats(prof, stream=io.StringIO())
    own = {}
    for (path, line, func), row in stats.stats.items():
        where = '%s:%d(%s)' % (_short(path), line, func)
        own[where] = own.get(where, 0.0) + row[2]
    return own, stats.total_tt


def profile_plan(small, large, seed, top=12):
    """The functions plan build() spends most of its own time in at `large` VMs (cProfile), with their own time
    at `small` VMs and how it grew: an exponent well above 1 is a part that grows faster than the VMs."""
    before, dummy = _own_times(*synthetic(small, 1, seed))
    after, total = _own_times(*synthetic(large, 1, seed))
    rows = []
    for where, own in sorted(after.items(), key=lambda item: -item[1])[:top]:
        was = before.get(where, 0.0)
        exponent = math.log(own / was) / math.log(float(large) / small) if was > 0 and own > 0 else None
        rows.append({'function': where, 'own_small_s': was, 'own_large_s': own, 'exponent': exponent})
    return {'small': small, 'large': large, 'total_s': total, 'functions': rows}


def profile_rows(prof):
    out = ['| function | own s at %d VMs | own s at %d VMs | exponent |' % (prof['small'], prof['large']), '|---|---|---|---|']
    for r in prof['functions']:
        exponent = '' if r['exponent'] is None else '%.2f' % r['exponent']
        out.append('| `%s` | %.3f | %.3f | %s |' % (r['function'], r['own_small_s'], r['own_large_s'], exponent))
    out.append('| (all, under the profiler) | | %.3f | |' % prof['total_s'])
    return out


def measure(sizes, repeat, seed, probe_interval, plan_budget, plan_max):
    rows, plans, plan_stopped = [], {}, None
    for vms, hosts in sizes:
        cluster, hvs = synthetic(vms, hosts, seed)
        log('%d VMs over %d hypervisors' % (vms, hosts))
        place_s, placed = timed(lambda: run_placement(cluster, hvs), repeat)
        if placed['problems'] or placed['unplaced']:
            raise RuntimeError('placement of %dx%d: %s' % (vms, hosts, '; '.join(placed['problems'][:3])))
        graph_s, graph = timed(lambda: run_graph(cluster), repeat)
        # the same simulated startup each time: the run that spent the least CPU in the schedulers
        sim = min((simulate(cluster, hvs, placed['placement'], graph, seed, probe_interval) for dummy in range(repeat)),
                  key=lambda run: run['sched_cpu_s'])
        loads = [len(h['vms']) for h in placed['hosts']]
        rows.append(dict({'vms': vms, 'hosts': hosts, 'host_cpus': sum(h['cpus'] for h in hvs), 'place_s': place_s,
                          'graph_s': graph_s, 'tiers': len(graph['tiers']), 'vms_per_host': [min(loads), max(loads)],
                          'anti_affinity': cluster.get('anti_affinity') or {}}, **sim))
        if vms not in plans and plan_stopped is None and vms <= plan_max:
            first, dummy = timed(lambda: run_plan(cluster, hvs), 1)
            plan_s = first if repeat == 1 or first > plan_budget / 4.0 else \
                min([first] + [timed(lambda: run_plan(cluster, hvs), 1)[0] for dummy in range(repeat - 1)])
            plans[vms] = {'vms': vms, 'hosts': hosts, 'plan_s': plan_s, 'per_vm_ms': plan_s * 1000.0 / vms}
            log('  plan build of %d VMs: %.2f s' % (vms, plan_s))
            if first > plan_budget:
                plan_stopped = vms
    return rows, [plans[v] for v in sorted(plans)], plan_stopped


# --------------------------------------------------------------------------------------------------
# growth, the report

def growth(rows, plans):
    """Per measurement and hypervisor count: time per VM and the ratio to the size before (and its exponent:
    1 is linear, 2 quadratic)."""
    out = []
    metrics = (('place_s', 'placement'), ('graph_s', 'graph build'), ('sched_cpu_s', 'scheduler CPU (all hosts)'),
               ('sched_cpu_max_host_s', 'scheduler CPU (busiest host)'))
    by_hosts = [('%d hypervisor%s' % (hosts, '' if hosts == 1 else 's'), [r for r in rows if r['hosts'] == hosts])
                for hosts in sorted(set(r['hosts'] for r in rows))]
    if all(len(series) < 2 for dummy, series in by_hosts):     # one size per hypervisor count: the sizes as run
        by_hosts = [('the sizes run', rows)]
    for key, label in metrics:
        for over, series in by_hosts:
            out.extend(_steps(label, over, series, key))
    out.extend(_steps('plan build', 'any', plans, 'plan_s'))
    return out


def _steps(label, over, series, key):
    out, before = [], None
    for row in sorted(series, key=lambda r: r['vms']):
        step = {'measure': label, 'over': over, 'vms': row['vms'], 'seconds': row[key],
                'per_vm_us': row[key] * 1e6 / row['vms'], 'ratio': None, 'vm_ratio': None, 'exponent': None}
        if before is not None and before[key] > 0 and row['vms'] > before['vms']:
            step['ratio'] = row[key] / before[key]
            step['vm_ratio'] = float(row['vms']) / before['vms']
            step['exponent'] = math.log(step['ratio']) / math.log(step['vm_ratio']) if step['ratio'] > 0 else None
        out.append(step)
        before = row
    return out


def git(args):
    try:
        return subprocess.run(['git', '-C', ROOT] + args, capture_output=True, text=True, timeout=10,
                              check=False).stdout.rstrip('\n')
    except (OSError, subprocess.SubprocessError):
        return None


def machine():
    model = ''
    try:
        with open('/proc/cpuinfo', encoding='utf-8', errors='replace') as handle:
            model = next((line.split(':', 1)[1].strip() for line in handle if line.startswith('model name')), '')
    except OSError:
        pass
    commit, dirty = (git(['rev-parse', '--short', 'HEAD']) or '').strip() or None, []
    for line in (git(['status', '--porcelain', '--untracked-files=no', '--', 'plugins']) or '').splitlines():
        dirty.append(line[3:])
    return {'dirty': dirty, 'cpus': os.cpu_count(), 'cpu_model': model, 'python': platform.python_version(),
            'implementation': platform.python_implementation(), 'system': '%s %s' % (platform.system(), platform.release()),
            'date': datetime.datetime.now().strftime('%Y-%m-%d %H:%M'), 'commit': commit}


def ms(seconds):
    return '%.1f' % (seconds * 1000.0)


TABLE_HEAD = ('| VMs | hosts (CPUs) | VMs/host | place ms | graph ms | sched CPU ms (all / busiest host) | makespan s '
              '(bound) | cross-host edges | sim wall ms |')


def table_rows(rows):
    out = [TABLE_HEAD, '|' + '---|' * 9]
    for r in rows:
        out.append('| %d | %d (%d) | %d-%d | %s | %s | %s / %s | %.0f (%.0f) | %d of %d | %s |'
                   % (r['vms'], r['hosts'], r['host_cpus'], r['vms_per_host'][0], r['vms_per_host'][1], ms(r['place_s']), ms(r['graph_s']),
                      ms(r['sched_cpu_s']), ms(r['sched_cpu_max_host_s']), r['makespan_s'], r['lower_bound_s'],
                      r['cross_edges'], r['edges'], ms(r['sim_wall_s'])))
    return out


def growth_rows(steps):
    out = ['| measure | over | VMs | ms | us per VM | x time | x VMs | exponent |', '|' + '---|' * 8]
    for s in steps:
        out.append('| %s | %s | %d | %s | %.1f | %s | %s | %s |'
                   % (s['measure'], s['over'], s['vms'], ms(s['seconds']), s['per_vm_us'],
                      '' if s['ratio'] is None else '%.2f' % s['ratio'], '' if s['vm_ratio'] is None else '%.0f' % s['vm_ratio'],
                      '' if s['exponent'] is None else '%.2f' % s['exponent']))
    return out


def plan_rows(plans, stopped, budget):
    out = ['| VMs | plan build s | ms per VM |', '|---|---|---|']
    out += ['| %d | %.3f | %.2f |' % (p['vms'], p['plan_s'], p['per_vm_ms']) for p in plans]
    if stopped is not None:
        out.append('| (larger sizes not built: %d VMs took more than %d s) | | |' % (stopped, budget))
    return out


def markdown(results):
    m, o = results['machine'], results['options']
    lines = ['# Fleet simulation, %s' % m['date'], '',
             'Machine: %d CPUs (%s), %s %s, %s; commit %s%s. Command: `%s`.'
             % (m['cpus'], m['cpu_model'] or 'unknown model', m['implementation'], m['python'], m['system'], m['commit'],
                ' with uncommitted changes to %s' % ', '.join(m['dirty']) if m['dirty'] else '', o['command']), '',
             'No guest, no libvirtd: synthetic clusters (seed %d) on fake hypervisors, the collection\'s pure code on a '
             'fake clock. Times are the best of %d run(s) (time.perf_counter); the scheduler\'s is CPU time '
             '(time.process_time) inside the Schedule calls of every hypervisor (all; the busiest one). Makespan: '
             'simulated seconds until the last VM is ready, boots of 30-90 s, max_parallel = the hypervisor\'s CPUs, '
             'a remote dependency seen %.1f s after it is ready; bound: the longest dependency path of boots or the '
             'busiest hypervisor\'s boots over its slots, whichever is longer.' % (o['seed'], o['repeat'], o['probe_interval']),
             '', '## Per size', '']
    lines += table_rows(results['rows'])
    lines += ['', '## Plan build (`_cluster/plan.py` build(), the whole definition, once per VM count, %s)'
              % ('with the placement keys and options.hosts' if o['plan_with_placement'] else
                 'without the placement keys, which the definition does not know in this tree'), '']
    lines += plan_rows(results['plans'], results['plan_stopped'], o['plan_budget'])
    lines += ['', '## Growth (time per VM; ratio to the size before; exponent 1 = linear, 2 = quadratic)', '']
    lines += growth_rows(results['growth'])
    if results.get('plan_profile'):
        lines += ['', '## Where plan build spends its time (cProfile, own time; exponent as above)', '']
        lines += profile_rows(results['plan_profile'])
    return '\n'.join(lines) + '\n'


def parse_sizes(text):
    sizes = []
    for item in text.split(','):
        try:
            vms, hosts = [int(x) for x in item.lower().split('x')]
        except ValueError:
            raise argparse.ArgumentTypeError('%r: give VMSxHOSTS, e.g. 2000x100' % item)
        if vms < 1 or hosts < 1 or hosts > vms:
            raise argparse.ArgumentTypeError('%r: at least 1 VM and 1 hypervisor, no more hypervisors than VMs' % item)
        sizes.append((vms, hosts))
    return sizes


def main(argv=None):
    parser = argparse.ArgumentParser(prog='bench/fleet_sim.py', description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--sizes', type=parse_sizes, help='VMSxHOSTS,... (default: %s)'
                        % ','.join('%dx%d' % s for s in SIZES))
    parser.add_argument('--quick', action='store_true', help='sizes %s, one run each, plan build up to 1000 VMs'
                        % ','.join('%dx%d' % s for s in QUICK_SIZES))
    parser.add_argument('--repeat', type=int, help='runs of each timed step (the best counts); default 3, 1 with --quick')
    parser.add_argument('--seed', type=int, default=7, help='the synthetic clusters\' seed; default 7')
    parser.add_argument('--probe-interval', type=float, default=2.0,
                        help='seconds after which a hypervisor sees a remote dependency ready; default 2')
    parser.add_argument('--plan-budget', type=float, default=120.0,
                        help='seconds one plan build may take before larger sizes are left out; default 120')
    parser.add_argument('--plan-max', type=int, help='largest VM count whose plan is built (default: every size)')
    parser.add_argument('--profile-plan', action='store_true',
                        help='profile plan build at the two largest VM counts it ran: which parts grow how')
    parser.add_argument('--out', default=RESULTS, help='results directory; default bench/results')
    args = parser.parse_args(argv)
    sizes = args.sizes or (QUICK_SIZES if args.quick else SIZES)
    repeat = args.repeat or (1 if args.quick else 3)
    plan_max = args.plan_max if args.plan_max is not None else (1000 if args.quick else max(v for v, h in sizes))
    rows, plans, stopped = measure(sizes, repeat, args.seed, args.probe_interval, args.plan_budget, plan_max)
    results = {'machine': machine(), 'rows': rows, 'plans': plans, 'plan_stopped': stopped,
               'growth': growth(rows, plans),
               'options': {'plan_with_placement': PLAN_KNOWS_PLACEMENT, 'seed': args.seed, 'repeat': repeat, 'probe_interval': args.probe_interval,
                           'plan_budget': args.plan_budget, 'plan_max': plan_max,
                           'command': ' '.join(['bench/fleet_sim.py'] + list(argv if argv is not None else sys.argv[1:]))}}
    if args.profile_plan and len(plans) >= 2:
        log('profiling plan build at %d and %d VMs' % (plans[-2]['vms'], plans[-1]['vms']))
        results['plan_profile'] = profile_plan(plans[-2]['vms'], plans[-1]['vms'], args.seed)
    print('\n'.join(table_rows(rows) + [''] + plan_rows(plans, stopped, args.plan_budget) + [''] +
                    growth_rows(results['growth']) + ([''] + profile_rows(results['plan_profile'])
                                                      if results.get('plan_profile') else [])))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, 'fleet-sim.json'), 'w', encoding='utf-8') as handle:
        json.dump(results, handle, indent=1, sort_keys=True)
        handle.write('\n')
    with open(os.path.join(args.out, 'fleet-sim.md'), 'w', encoding='utf-8') as handle:
        handle.write(markdown(results))
    log('wrote %s/fleet-sim.md and fleet-sim.json' % args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())

# -*- coding: utf-8 -*-
# Copyright: strata.libvirt developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A run's results written out: the Markdown report, the plot, the summary, and --report (a saved run
evaluated again, nothing measured)."""

from __future__ import annotations

import json
import os

from .evaluate import evaluate, seed_pairs
from .events import fill_tier_seconds
from .util import human, log, median


def verdict(t):
    """met, MISSED, or n/a for a target nothing could be compared with (met None)."""
    return 'n/a' if t['met'] is None else ('met' if t['met'] else 'MISSED')


def peers_lines(peers):
    """The peers phase's tables: per tool its medians, then how it ordered the VMs and what went wrong, then each
    run."""
    tools = [(name, peers['tools'][name]) for name in ('ours', 'kcli', 'virt-lightning')
             if name in peers.get('tools', {})]
    if not tools:
        return []
    rounds = peers.get('rounds', [])
    method = peers.get('method', '')
    lines = ['', '## Peers: ours, kcli and virt-lightning', '',
             '%s VMs of %s vCPU, %s MiB and a %s GiB disk from the image `%s`, in each tool\'s best equivalent of our '
             'two tiers; medians of %d rounds, the tools taking turns (%s). %s.'
             % (peers.get('n'), peers.get('vcpus'), peers.get('memory_mib'), peers.get('disk_gib'), peers.get('image'),
                len(rounds),
                '; '.join(', '.join(r) for r in rounds), method[:1].upper() + method[1:]), '',
             'Host side, every domain running and every SSH login are medians of the runs in which every VM was '
             'logged into; the host side of the other runs is in brackets. Teardown and disk: every run.', '',
             '| tool | releases | domain type | login as | host side s | every domain running s | '
             'every SSH login s | teardown s | disk (x one base image) | runs with every VM logged into |',
             '|---|---|---|---|---|---|---|---|---|---|']
    for name, entry in tools:
        if entry.get('unavailable'):
            lines.append('| %s | %s | | | | | | | | |' % (name, entry['unavailable']))
            continue
        releases = ', '.join('%s %s' % kv for kv in sorted((entry.get('versions') or {}).items()))
        host = '%s%s' % (entry.get('host_side_s') if entry.get('host_side_s') is not None else '-',
                         ' (%s)' % entry['host_side_incomplete_s'] if entry.get('host_side_incomplete_s') is not None
                         else '')
        lines.append('| %s | %s | %s | %s | %s | %s | %s | %s | %s (%sx) | %s of %d |' % (
            name, releases, ', '.join(entry.get('domain_types') or []) or '-', entry.get('user'),
            host, entry.get('all_running_s'), entry.get('all_ssh_s'), entry.get('teardown_s'),
            human(entry.get('disk_bytes')), entry.get('disk_ratio'), entry.get('runs_all_ready'),
            len(entry.get('runs', []))))
    lines += ['', '| tool | order of the VMs | what it cannot express | guests under TCG here | problems |',
              '|---|---|---|---|---|']
    for name, entry in tools:
        cells = (name, entry.get('ordering'), '; '.join(entry.get('cannot_express') or []) or '-', entry.get('tcg'),
                 '<br>'.join(entry.get('problems') or []) or '-')
        lines.append('| %s | %s | %s | %s | %s |' % tuple(' '.join(str(x).split()).replace('|', '/') for x in cells))
    lines += ['', '| tool | run | host side s | every domain running s | every SSH login s | teardown s | '
              'image staged s | VMs logged into | disk |', '|---|---|---|---|---|---|---|---|---|']
    for name, entry in tools:
        for r in entry.get('runs', []):
            lines.append('| %s | %s | %s | %s | %s | %s | %s | %s of %d | %s |' % (
                name, r['run'], r.get('host_side_s'), r.get('all_running_s'), r.get('all_ssh_s'),
                (r.get('teardown') or {}).get('wall_s'), r.get('stage_s'), r.get('ready'), len(r.get('vms') or {}),
                human((r.get('disk') or {}).get('total_bytes'))))
    return lines


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
        lines.append('| %s | %s | %s | **%s** | %s |' % (t['target'], t['value'], t['bound'], verdict(t), t['detail']))
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
        if ours['warm'].get('tiers') and floor.get('runs_n_tiers'):
            gated = floor['runs_n_tiers'][len(floor['runs_n_tiers']) // 2]
            row('ours warm: tier 0 / tier 1 ready after (each from its tier\'s begin) against plain libvirt\'s '
                '(each from its first start call)', '%s / %s against %s / %s'
                % (ours['warm']['tiers'][0].get('seconds'), ours['warm']['tiers'][-1].get('seconds'),
                   gated.get('tier0_s'), gated.get('tier1_s')))
        if ours['warm'].get('cpu_s') is not None:
            cpus = [r['cpu_s'] for r in floor.get('runs_n_tiers') or [] if r.get('cpu_s') is not None]
            row('CPU seconds of the host side in the run (ours: the playbook\'s process tree; plain libvirt: its start '
                'calls and login probes), the guests not included',
                '%s against %s' % (ours['warm']['cpu_s'], median(cpus) if cpus else '-'))
    noop = p.get('noop', {})
    row('no-op re-run of provision (changed=%s)' % noop.get('changed'), noop.get('noop_s'))
    row('ping play over the same VMs', noop.get('ping_s'))
    disk = p.get('disk', {})
    if disk:
        row('disk: cluster volumes / one base image',
            '%s / %s = %sx' % (human(disk['cluster_volumes_bytes']), human(disk['base_image_bytes']), disk['ratio']))
        row('disk: the image cache (outside the pool, shared by clusters)', human(disk.get('image_cache_bytes')))
    for index, pair in enumerate(ours.get('warm_pairs') or []):
        plain = pair['plain']
        row('warm pair %d: plain libvirt in the 2 tiers (tier 0 / tier 1), then ours warm right after: ratio' % (index + 1),
            '%s s (%s / %s) then %s s: %.2fx' % (plain['all_ready_s'], plain['tier0_s'], plain['tier1_s'], pair['ours_s'],
                                                 pair['ratio']))
    built = p.get('built') or {}
    if built.get('runs'):
        mid = sorted(built['runs'], key=lambda r: r['all_ready_s'])[len(built['runs']) // 2]
        row('ours\' VMs (built with the start skipped) started as plain libvirt starts its own, in the same 2 tiers: '
            'all ready (median of %d) / tier 0 / tier 1 / CPU seconds of the start calls and probes' % len(built['runs']),
            '%s / %s / %s / %s' % (built['all_ready_s'], mid['tier0_s'], mid['tier1_s'], mid['cpu_s']))
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
            '%s / %s' % (pt.get('ours_s'), ('%s (%sx)' % (pt['floor_s'], pt.get('ratio'))) if pt.get('floor_s') else 'not all ready'))
    for pt in [pt for pt in p.get('growth', {}).get('points', []) if pt.get('build_s') is not None]:
        row('growth %d VMs (%s MiB): build with the start skipped / per VM / the run that starts them (no guest boots) / '
            'no-op re-run (changed) / unprovision' % (pt['n'], p['growth'].get('memory_mib')),
            '%s s / %s s / %s s / %s s (%s) / %s s' % (pt['build_s'], pt['per_vm_s'], pt.get('start_s'), pt.get('noop_s'),
                                                       pt.get('noop_changed'), pt.get('unprovision_s')))
        if pt.get('floor'):
            row('growth %d VMs: plain libvirt, %s calls at once: start all / destroy all' % (pt['n'], pt['floor']['parallel_calls']),
                '%s s / %s s' % (pt['floor']['start_s'], pt['floor']['destroy_s']))
    for pt in [pt for pt in p.get('growth', {}).get('points', []) if pt.get('build')]:
        lines += ['', '### Per phase: growth, %d VMs (the build with the start skipped, the run that starts them, the no-op '
                  're-run)' % pt['n'], '', '| phase | build s | start s | no-op s |', '|---|---|---|---|']
        start_phases = dict((pt.get('start') or {}).get('phases') or [])
        noop_phases = dict((pt.get('noop') or {}).get('phases') or [])
        build_phases = dict(pt['build']['phases'])
        names = list(build_phases)
        names += [name for name in start_phases if name not in build_phases]
        lines += ['| %s | %s | %s | %s |' % (name, build_phases.get(name, ''), start_phases.get(name, ''), noop_phases.get(name, ''))
                  for name in names]
    for title, phases in (('ours cold', ours.get('cold', {}).get('phases')), ('ours warm', ours.get('warm', {}).get('phases')),
                          ('ours no-op re-run', noop.get('profile')), ('seed method', seed.get('phases')),
                          ('unprovision', (ours.get('unprovision') or [{}])[0].get('phases') if ours.get('unprovision') else None)):
        if phases:
            lines += ['', '### Per phase: %s' % title, '', '| phase | s |', '|---|---|']
            lines += ['| %s | %s |' % (name, secs) for name, secs in phases]
    lines += peers_lines(p.get('peers') or {})
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
    growth = [pt for pt in p.get('growth', {}).get('points', []) if pt.get('build_s') is not None]
    with_bars = bool(bars) or not (points or growth)
    panels = with_bars + bool(points) + bool(growth)
    fig, axes = plt.subplots(1, panels, figsize=(5 + 4 * panels, 5), squeeze=False)
    if with_bars:
        ax = axes[0][0]
        ax.barh([b[0] for b in bars][::-1], [b[1] for b in bars][::-1], color='#4c72b0')
        for index, (_label, value) in enumerate(bars[::-1]):
            ax.text(value, index, ' %.1f s' % value, va='center', fontsize=8)
        ax.set_xlabel('seconds (wall clock)')
        ax.set_title('%s VMs, %s, %d cores' % (ours.get('n') or floor.get('n') or '-', results['machine']['virtualisation'],
                                               results['machine']['cores']))
    if points:
        ax2 = axes[0][int(with_bars)]
        ax2.plot([pt['n'] for pt in points], [pt.get('ours_s') for pt in points], 'o-', label='ours (provision)')
        ax2.plot([pt['n'] for pt in points], [pt.get('floor_s') for pt in points], 's--', label='plain libvirt floor')
        ax2.set_xlabel('VMs (256 MiB, one tier)')
        ax2.set_ylabel('seconds to all ready')
        ax2.set_title('scale')
        ax2.legend()
    if growth:
        ax3 = axes[0][panels - 1]
        sizes = [pt['n'] for pt in growth]
        ax3.plot(sizes, [pt['build_s'] for pt in growth], 'o-', label='provision, start skipped')
        ax3.plot(sizes, [pt.get('start_s') for pt in growth], 'D-', label='the run that starts them')
        ax3.plot(sizes, [pt.get('noop_s') for pt in growth], 's--', label='no-op re-run')
        ax3.plot(sizes, [pt.get('unprovision_s') for pt in growth], '^:', label='unprovision')
        if all(pt.get('floor') for pt in growth):
            ax3.plot(sizes, [pt['floor']['start_s'] for pt in growth], 'x-.', label='plain libvirt: start the domains')
        ax3.set_xlabel('VMs (%s MiB; started: no guest boots)' % p['growth'].get('memory_mib'))
        ax3.set_ylabel('seconds (host side)')
        ax3.set_title('growth of the host side, %s' % results['machine']['virtualisation'])
        ax3.legend()
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
        lines.append('[%s] %s: %s (bound %s) -- %s' % (verdict(t), t['target'], t['value'], t['bound'], t['detail']))
    for err in results['errors']:
        lines.append('[error] %s: %s' % (err['phase'], err['error'].splitlines()[0][:300]))
    lines.append('results: %s, %s%s' % (json_path, md_path, ', ' + png_path if png_path else ''))
    return '\n'.join(lines)


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

# -*- coding: utf-8 -*-
# Copyright: strata.libvirt developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The command line: the options, and main (the phases in the lab, or --report, --print-phases)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys

from .bench import Bench
from .peertools import IMAGE_DIR, install_peers
from .plain import remove_prefixed
from .report import report, write_results
from .util import KVM_BOOT_S, PHASES, RESULTS, WORK, log


def parse_args(argv):
    parser = argparse.ArgumentParser(prog='bench/run', description='strata.libvirt benchmark (issue 7); runs in the lab.')
    parser.add_argument('--quick', action='store_true', help='one run of each measurement, no scale phase')
    parser.add_argument('--only', default=','.join(PHASES),
                        help='comma-separated phases: %s (default: all)' % ','.join(PHASES))
    parser.add_argument('--skip', default='', help='comma-separated phases to leave out')
    parser.add_argument('--vms', type=int, default=4, help='VMs of the cluster (floor, ours, seed, peers); default 4')
    parser.add_argument('--runs', type=int, default=3,
                        help='repeats of the short measurements and rounds of the peers phase (median); default 3')
    parser.add_argument('--long-runs', type=int, default=1, help='repeats of the long ones (several VMs); default 1')
    parser.add_argument('--pairs', type=int, default=1,
                        help='pairs of (ours cold, seed method) for the seed target, its value the median of the '
                             'pairs\' ratios; default 1')
    parser.add_argument('--scale', default='4,8,12', help='VM counts of the scale phase; default 4,8,12')
    parser.add_argument('--growth', default='4,25,100',
                        help='VM counts of the growth phase (the host side, no guest boots); default 4,25,100')
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
    # for bench/run, outside the lab (pip needs the registry): kcli and virt-lightning, each in a venv of its own
    parser.add_argument('--install-peers', action='store_true', help=argparse.SUPPRESS)
    # for bench/run: where it builds the peers phase's image
    parser.add_argument('--print-peers-image-dir', action='store_true', help=argparse.SUPPRESS)
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
    args.growth = [int(x) for x in args.growth.split(',') if x.strip()]
    if args.vms < 1 or args.runs < 1 or args.long_runs < 1 or args.pairs < 1:
        parser.error('--vms, --runs, --long-runs and --pairs must be at least 1')
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.install_peers:
        return install_peers()
    if args.print_peers_image_dir:
        print(IMAGE_DIR)
        return 0
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

# -*- coding: utf-8 -*-
# Copyright: strata.libvirt developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The strata.libvirt benchmark (issue 7). Run it through ``bench/run``, which brings the lab up and
starts its entry point, ``bench/strata_bench.py``, inside the lab's network namespace
(``tests/lab/lab exec``).

Phases (``--only`` takes these names):
  floor   plain libvirt-python: 1 VM start -> SSH login (median of --runs), N VMs at once, N VMs in the
          cluster's two tiers, the slowest guest's ACPI shutdown
  ours    strata.libvirt.provision of N VMs in 2 tiers: cold (image not cached) and warm; with it
          noop    a re-run (changed must be 0) against a plain ansible.builtin.ping play
          disk    bytes of the cluster's volumes against one base image
          unprov  strata.libvirt.unprovision against the slowest ACPI shutdown
  built   ours' VMs (provision with the start skipped) started and waited for as the floor does it, in 2 tiers
  seed    the seed playbook's method (full copies, virt-customize, community.libvirt, 10 s pause)
  growth  the host side of provision at 4, 25 and 100 VMs, the guests' boot taken out
  peers   ours against kcli and virt-lightning (from PyPI, each in its own venv): the same N VMs in each tool's
          best equivalent of the two tiers, host side, SSH logins, teardown, disk
  scale   ours and the plain-libvirt floor at 4, 8 and 12 VMs (one tier, 256 MiB each)

Every object is named strata-bench-*, every subnet is 10.245.x.0/24, every file lives under
/var/tmp/strata-bench (WORK); each phase removes what it made, also when it fails.

Modules, by job:
  util      paths and names, commands with a bound, the log, the machine, the quiet wait, SSH logins, disk usage
  plain     plain-libvirt VMs (PlainCluster), their NoCloud seeds, the removal of strata-bench-* objects
  events    the callback plugin's JSON lines: tasks, startup tiers, phases, the recap
  bench     the Bench class: shared fixtures, one ansible-playbook run, the driver of the phases; its phases
            are the mixins of
    floor   the floor and scale phases
    ours    the generated inventory, provision/unprovision/ping/disk, the ours and noop phases
    built   ours' VMs (provision with the start skipped) started and waited for as the floor does it, in 2 tiers
  seed    the seed playbook's method, the seed phase and the --pairs
    growth  the growth phase
    peers   the peers phase: each tool's staging, commands and teardown, the runs in rounds
  peertools the peer tools' pinned releases, their venvs (--install-peers), their configs and plans (pure functions)
  peerwatch what the peers phase measures with: bounded commands, the libvirt watch, the login wait's end, medians
  evaluate  the targets and the projection to KVM hardware
  report    the Markdown report, the plot, the summary, --report
  cli       the options and main
"""

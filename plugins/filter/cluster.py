# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cluster filters, used by the roles on the controller (each documented in plugins/filter/<name>.yml).

The logic lives in module_utils/_cluster/; plugin_utils/_filters turns its errors into AnsibleFilterError.

The collection's playbooks use strata.libvirt.hypervisors in their `hosts:`, which ansible-playbook itself
templates before the first task: so this file and, through the imports below, the collection's other filter
files are loaded into ansible-playbook once. Every task's worker process is forked from it and finds them
loaded; otherwise each task that uses one of the filters loads them again (about 0.1 s per task).
"""

from ansible_collections.strata.libvirt.plugins.module_utils._cluster import definition
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import host
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import inventory
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import keyfile
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import known_hosts
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import placed
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import plan
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import rebuild
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import summary
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import teardown
from ansible_collections.strata.libvirt.plugins.plugin_utils._filters import filter_function
# the collection's other filter files (see above)
from ansible_collections.strata.libvirt.plugins.filter import cluster_snapshot, image_map  # noqa: F401  pylint: disable=unused-import


def cluster_plan(strata_cluster, image_map, options=None):
    return plan.build(strata_cluster, image_map, options or {})


def cluster_problems(strata_cluster, image_map, options=None):
    return plan.problems(strata_cluster, image_map, options or {})


def cluster_summary(cluster_plan_, startup_results=None, check_mode=False, orphaned=None, pruned=False, built=None):
    return summary.summary(cluster_plan_, startup_results, bool(check_mode), orphaned, bool(pruned), built)


def cluster_host_findings(cluster_plan_, probe_lines, options=None):
    return host.findings(cluster_plan_, probe_lines, options or {})


def cluster_leftover_volumes(teardown_, removed=None):
    """removed: pool/name strings, or the domain module's `results` (the volumes it removed with their domains)."""
    if removed and isinstance(removed[0], dict):
        removed = teardown.removed_volumes(removed)
    return teardown.leftover_volumes(teardown_, removed)


def cluster_inventory_hosts(vms, cluster_plan_, here, hostvars, options):
    return inventory.entries(vms, cluster_plan_, here, hostvars, options)


class FilterModule(object):
    def filters(self):
        return dict((name, filter_function(func)) for name, func in {
            'cluster_plan': cluster_plan,
            'cluster_problems': cluster_problems,
            'cluster_set_virt_type': plan.set_virt_type,
            'cluster_host_findings': cluster_host_findings,
            'cluster_probe_needs': host.probe_needs,
            'cluster_key_file': keyfile.inspect,
            'cluster_known_hosts_file': known_hosts.inspect,
            'cluster_known_hosts': known_hosts.merge,
            'cluster_small_disks': host.small_disks,
            'cluster_teardown': teardown.teardown,
            'cluster_orphans': teardown.orphans,
            'cluster_place': placed.place,
            'cluster_rebuild': rebuild.rebuild,
            'cluster_leftover_volumes': cluster_leftover_volumes,
            'cluster_summary': cluster_summary,
            'cluster_inventory_hosts': cluster_inventory_hosts,
            'cluster_mac': definition.derive_mac,
            'hypervisors': inventory.hypervisor_pattern,
            'resolve_images': plan.resolve_images,
            'image_options': plan.image_options,
        }.items())

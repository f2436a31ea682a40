# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Cluster definition filters, used by the roles on the controller before any change.

  {{ strata_cluster | strata.libvirt.cluster_problems(strata_image_map, options) }}   list of problems ([] when sound)
  {{ strata_cluster | strata.libvirt.cluster_plan(strata_image_map, options) }}       the resolved cluster (fails listing
                                                                                       every problem)
  {{ plan | strata.libvirt.cluster_summary(startup_results, check_mode) }}            the summary table, a list of lines
  {{ plan | strata.libvirt.cluster_stop_vms(domain_names) }}                        the reverse shutdown's VM list
  {{ 'strata-demo' | strata.libvirt.cluster_mac('gateway') }}                         the derived MAC of a VM
  {{ strata_image_map | strata.libvirt.resolve_images(['debian', 'lab']) }}           resolved image entries

The logic lives in module_utils/_cluster.py; errors become AnsibleFilterError.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _cluster


def _plain(value):
    """Templated containers (lazy lists and dicts of ansible-core 2.19) as plain Python ones."""
    if isinstance(value, dict):
        return dict((k, _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def cluster_problems(cluster, image_map, options=None):
    try:
        return _cluster.problems(_plain(cluster), _plain(image_map), _plain(options) or {})
    except StrataError as exc:
        raise AnsibleFilterError(str(exc))


def cluster_plan(cluster, image_map, options=None):
    try:
        return _cluster.plan(_plain(cluster), _plain(image_map), _plain(options) or {})
    except StrataError as exc:
        raise AnsibleFilterError(str(exc))


def cluster_summary(plan, startup_results=None, check_mode=False):
    return _cluster.summary(_plain(plan), _plain(startup_results), bool(check_mode))


def resolve_images(image_map, labels=None):
    """Several labels at once (empty: the default label); every unknown label is named in one error."""
    try:
        return _cluster.resolve_images(_plain(image_map), _plain(labels))
    except StrataError as exc:
        raise AnsibleFilterError(str(exc))


def cluster_stop_vms(plan, present=None):
    return _cluster.stop_vms(_plain(plan), _plain(present))


def cluster_vm_items(plan, kind):
    try:
        return _cluster.vm_items(_plain(plan), kind)
    except StrataError as exc:
        raise AnsibleFilterError(str(exc))


def cluster_mac(cluster_name, vm_name):
    return _cluster.derive_mac(cluster_name, vm_name)


class FilterModule(object):
    def filters(self):
        return {
            'cluster_problems': cluster_problems,
            'cluster_plan': cluster_plan,
            'cluster_summary': cluster_summary,
            'cluster_mac': cluster_mac,
            'cluster_stop_vms': cluster_stop_vms,
            'cluster_vm_items': cluster_vm_items,
            'resolve_images': resolve_images,
        }

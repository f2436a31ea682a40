# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The filters of the cluster role's snapshot entry point (each documented in plugins/filter/<name>.yml):

  {{ cluster_plan | strata.libvirt.cluster_snapshot_request(name, action, live) }}   the checked request
  {{ request | strata.libvirt.cluster_snapshot_decide(info, checks) }}               what the run does
  {{ decision | strata.libvirt.cluster_snapshot_summary(done, stopped, started, check_mode, info) }}   its summary

The logic lives in module_utils/_cluster/snapshot.py; plugin_utils/_filters turns its errors into AnsibleFilterError.
"""

from ansible_collections.strata.libvirt.plugins.module_utils._cluster import snapshot
from ansible_collections.strata.libvirt.plugins.plugin_utils._filters import filter_function


def cluster_snapshot_request(cluster_plan_, name, action, live=False):
    return snapshot.request(cluster_plan_, name, action, live)


def cluster_snapshot_decide(request, info, checks=None):
    return snapshot.decide(request, info, checks or None)


def cluster_snapshot_summary(decision, done=None, stopped=None, started=None, check_mode=False, info=None):
    return snapshot.summary(decision, done or None, stopped or None, started or None, bool(check_mode), info or None)


class FilterModule(object):
    def filters(self):
        return dict((name, filter_function(func)) for name, func in {
            'cluster_snapshot_request': cluster_snapshot_request,
            'cluster_snapshot_decide': cluster_snapshot_decide,
            'cluster_snapshot_summary': cluster_snapshot_summary,
        }.items())

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: known_hosts
short_description: Write a cluster's known_hosts file on the controller
version_added: 0.1.0
description:
  - Writes the content of a cluster's SSH known_hosts file (from the filter
    P(strata.libvirt.cluster_known_hosts#filter)) to O(path) on the Ansible controller, with mode C(0600), in one
    step (a temporary file beside it, renamed over it). A missing directory is made with mode C(0700).
  - It runs on the controller, in the action plugin itself, whatever host the task runs for, so no module is sent
    anywhere. The role C(strata.libvirt.cluster) writes the file with it after the VMs' host keys were read.
  - A file at O(path) that this cluster did not write (its first line is not the cluster's header) is never
    changed; O(content) must begin with that header too.
author:
  - strata.libvirt contributors (@strata-libvirt)
extends_documentation_fragment:
  - strata.libvirt.attributes
attributes:
  action:
    support: full
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
  check_mode:
    support: full
    details: Check mode reports whether the file would change, and writes nothing.
  diff_mode:
    support: full
    details: The diff is the file's content before and after.
  idempotent:
    support: full
    details: The file is written only when its content or its mode differs.
options:
  path:
    description: The known_hosts file on the controller (C(~) is expanded).
    type: path
    required: true
  content:
    description: The whole content of the file; it must begin with the cluster's header line.
    type: str
    required: true
  cluster:
    description: The cluster's name, whose header the file and O(content) must carry.
    type: str
    required: true
seealso:
  - plugin: strata.libvirt.cluster_known_hosts
    plugin_type: filter
  - plugin: strata.libvirt.cluster_known_hosts_file
    plugin_type: filter
'''

EXAMPLES = r'''
- name: Write the cluster's known_hosts file on the controller
  strata.libvirt.known_hosts:
    path: "{{ merged.path }}"
    content: "{{ merged.content }}"
    cluster: demo
  vars:
    merged: >-
      {{ cluster_plan | strata.libvirt.cluster_known_hosts(host_keys.domains,
                                                           cluster_plan | strata.libvirt.cluster_known_hosts_file) }}
'''

RETURN = r'''
path:
  description: The file, absolute.
  returned: always
  type: str
  sample: /root/.ssh/strata-demo_known_hosts
'''

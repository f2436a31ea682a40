# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Image map filters: the roles resolve labels, aliases and sizes on the controller, before any change.

  {{ image_map | strata.libvirt.resolve_image('debian') }}        the image entry, defaults filled in
  {{ image_map | strata.libvirt.resolve_image }}                  the default_label's entry
  {{ image_map | strata.libvirt.resolve_vm(vm) }}                 {image, resources} of one VM
  {{ image_map | strata.libvirt.resolve_resources('medium') }}    {vcpus, memory_mib, disk_bytes, size}

The logic lives in module_utils/_imagemap.py (one place); errors become AnsibleFilterError.
"""


from ansible_collections.strata.libvirt.plugins.module_utils import _imagemap
from ansible_collections.strata.libvirt.plugins.plugin_utils._filters import filter_function


def resolve_resources(image_map, size=None, overrides=None):
    return _imagemap.resolve_resources(image_map, size=size, overrides=overrides)


class FilterModule(object):
    def filters(self):
        return {
            'resolve_image': filter_function(_imagemap.resolve_image),
            'resolve_vm': filter_function(_imagemap.resolve_vm),
            'resolve_resources': filter_function(resolve_resources),
        }

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Options of the connection to libvirt: the URI alone, or with the lock, the registry and the ownership mark."""


class ModuleDocFragment:

    # Only the connection URI: for modules that neither lock nor mark objects (domain_info) or
    # document their own lock options (startup). Literal strings: ansible-test reads fragments
    # as string constants.
    URI = r'''
options:
  uri:
    description:
      - libvirt connection URI.
      - When not set, the E(LIBVIRT_DEFAULT_URI) environment variable of the managed node is used, and
        when that is not set either, V(qemu:///system).
    type: str
'''

    # Options every strata.libvirt resource module has (see module_utils/_common.py).
    DOCUMENTATION = r'''
options:
  uri:
    description:
      - libvirt connection URI.
      - When not set, the E(LIBVIRT_DEFAULT_URI) environment variable of the managed node is used, and
        when that is not set either, V(qemu:///system).
    type: str
  state_dir:
    description:
      - Directory on the managed node for the per-URI lock files and for the ownership registry of
        storage pools and volumes (libvirt cannot store a mark in their XML).
      - All tasks against one hypervisor must use the same O(state_dir), normally the default.
      - Created mode C(0700) (with the parents it needs), its lock files and registry C(0600), whatever the umask.
    type: path
    default: /var/lib/strata-libvirt
  lock_timeout:
    description:
      - Seconds to wait for the per-URI lock that serialises read, plan and apply between parallel tasks
        against the same hypervisor.
    type: int
    default: 300
  cluster:
    description:
      - Name of the cluster the object belongs to, recorded in its ownership mark.
      - An object marked for another cluster is not touched unless O(adopt=true).
      - When not set, the mark of an existing object is kept as it is.
    type: str
  adopt:
    description:
      - Take over an existing object that strata.libvirt did not create (it carries no ownership mark),
        or that is marked for another O(cluster).
      - Without it, such an object is never modified or removed and the task fails before any change.
    type: bool
    default: false
requirements:
  - libvirt-python (the C(libvirt) Python binding) on the managed node
  - lxml on the managed node
notes:
  - Ownership marks. Objects this collection creates are marked as its own. Networks (and domains)
    carry C(<metadata><strata:owner xmlns:strata="https://github.com/strata-libvirt/strata.libvirt/xmlns/owner/1"
    cluster="..."/></metadata>) in their XML. libvirt 9.0 drops C(<metadata>) from storage pool and volume XML,
    so those are recorded in a JSON registry under O(state_dir), keyed by the pool's UUID and the volume's key
    (its path), written atomically under the per-URI lock.
  - The per-URI lock and the registry live on the managed node. With a remote O(uri), run all tasks for one
    hypervisor from the same managed node (normally the hypervisor itself).
'''

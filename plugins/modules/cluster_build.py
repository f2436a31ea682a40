#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
module: cluster_build
short_description: A cluster's pool, base images, networks, disks, seeds and domains in one run, in order
version_added: 0.1.0
description:
  - Ensures the libvirt objects of a cluster in the order they depend on each other, in one module run, which is
    several times faster than one task per kind; it is the step of the role C(strata.libvirt.cluster) between
    its checks and the ordered start.
  - The order is O(pool), O(images) (the cached images imported into the pool as base volumes), O(networks),
    O(external_networks), O(volumes), O(seeds), O(domains). Each of these options takes the options of the module
    that manages that kind alone (M(strata.libvirt.pool), M(strata.libvirt.image), M(strata.libvirt.network),
    M(strata.libvirt.volume), M(strata.libvirt.cloud_init), M(strata.libvirt.domain)), with the same meaning,
    defaults and checks; O(networks), O(volumes), O(seeds) and O(domains) may hold C(items), as those modules do.
    A kind not given is left alone.
  - O(uri), O(state_dir), O(lock_timeout), O(cluster) and O(adopt) are every item's unless its kind or the item sets
    them (O(cluster) and O(adopt) not the external networks'). Each kind takes the per-URI lock once, for all of its
    items.
  - Every item of every kind is validated before the first change, so bad input fails with every problem, naming
    the option, the item and the field, and nothing changed.
  - The first failure stops the run. Its message names the kind and the item, and the result holds what the kinds
    before it did (and what the failed one did before it failed), under each kind's option name.
author:
  - strata.libvirt contributors (@strata-libvirt)
extends_documentation_fragment:
  - strata.libvirt.connection
  - strata.libvirt.attributes
  - strata.libvirt.attributes.planner
  - strata.libvirt.attributes.actiongroup_libvirt
attributes:
  check_mode:
    support: full
    details:
      - Each kind is planned as its module plans it in check mode. The kinds that need an object that does not exist
        yet are not looked at, and RV(deferred) lists them. These are the disks, seeds and domains when the pool, a base
        image or a network of O(networks) is still to be made, and the base images when the pool is.
options:
  pool:
    description:
      - The storage pool, the options of M(strata.libvirt.pool).
    type: dict
  images:
    description:
      - Images to import into the pool as read-only base volumes, each with the options of M(strata.libvirt.image).
      - An image that is cached and verified is not fetched again.
    type: list
    elements: dict
  networks:
    description:
      - Networks, the options of M(strata.libvirt.network), with C(items) for several.
    type: dict
  external_networks:
    description:
      - Existing networks that are not the cluster's, each with the options of M(strata.libvirt.network) and
        C(external=true). They are only started or set to autostart.
      - O(cluster) and O(adopt) do not apply to them.
    type: list
    elements: dict
  volumes:
    description:
      - Disks, the options of M(strata.libvirt.volume), with C(items) for several.
    type: dict
  seeds:
    description:
      - Cloud-init seeds, the options of M(strata.libvirt.cloud_init), with C(items) for several.
      - The result reports their module arguments with the secrets of the user data redacted, as M(strata.libvirt.cloud_init) does.
    type: dict
  domains:
    description:
      - Domains, the options of M(strata.libvirt.domain), with C(items) for several.
    type: dict
requirements:
  - pycdlib (with O(seeds))
seealso:
  - module: strata.libvirt.cluster_info
  - module: strata.libvirt.startup
'''

EXAMPLES = r'''
- name: A pool, a network and two VMs' disks and domains, in one run
  strata.libvirt.cluster_build:
    cluster: lab
    pool:
      name: lab
      path: /var/lib/libvirt/strata/lab
      state: running
      autostart: true
    networks:
      state: running
      items:
        - {name: lab-net, forward: nat, address: 10.240.1.1/24}
    volumes:
      pool: lab
      items:
        - {name: web1.qcow2, capacity: 10G}
        - {name: web2.qcow2, capacity: 10G}
    domains:
      memory: 1G
      interfaces: [{network: lab-net}]
      items:
        - {name: web1, disks: [{volume: lab/web1.qcow2}]}
        - {name: web2, disks: [{volume: lab/web2.qcow2}]}
  register: built

- name: How long each kind took
  ansible.builtin.debug:
    msg: "{{ built.steps | map(attribute='step') | zip(built.steps | map(attribute='seconds')) }}"
'''

RETURN = r'''
changed:
  description: Whether anything was (or, in check mode, would be) changed.
  returned: always
  type: bool
actions:
  description: What was done, or in check mode would be done, in order, each naming its item.
  returned: always
  type: list
  elements: str
diff:
  description: The compared settings of each item before and after, one entry per item that has them.
  returned: always
  type: list
  elements: dict
pool:
  description: The result M(strata.libvirt.pool) reports for O(pool).
  returned: when O(pool) is given and ran
  type: dict
images:
  description: The result of O(images), with one entry in C(results) per image as M(strata.libvirt.image) reports it.
  returned: when O(images) is given and ran
  type: dict
networks:
  description: The result M(strata.libvirt.network) reports for O(networks) with items (C(results), one per item).
  returned: when O(networks) is given and ran
  type: dict
external_networks:
  description: The same for O(external_networks).
  returned: when O(external_networks) is given and ran
  type: dict
volumes:
  description: The result M(strata.libvirt.volume) reports for O(volumes) with items.
  returned: when O(volumes) is given and ran
  type: dict
seeds:
  description: The result M(strata.libvirt.cloud_init) reports for O(seeds) with items.
  returned: when O(seeds) is given and ran
  type: dict
domains:
  description: The result M(strata.libvirt.domain) reports for O(domains) with items.
  returned: when O(domains) is given and ran
  type: dict
deferred:
  description: The kinds check mode did not look at because what they need does not exist yet.
  returned: always
  type: list
  elements: str
  sample: [volumes, seeds, domains]
steps:
  description: Each kind that ran, in order, with its seconds, number of items and whether it changed anything.
  returned: always
  type: list
  elements: dict
  sample: [{step: pool, seconds: 0.08, items: 1, changed: false}, {step: domains, seconds: 0.41, items: 4, changed: true}]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.strata.libvirt.plugins.module_utils._cluster_build import argument_spec, run


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run(module)


if __name__ == '__main__':
    main()

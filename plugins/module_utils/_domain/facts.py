# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""How a domain is reported: its state names, its definition without secrets, its facts. Pure.

Private to strata.libvirt; no compatibility promise.
"""

from ansible_collections.strata.libvirt.plugins.module_utils import _xml

STATE_NAMES = {0: 'no state', 1: 'running', 2: 'idle', 3: 'paused', 4: 'in shutdown', 5: 'shut off',
               6: 'crashed', 7: 'pmsuspended'}


def state_word(current):
    if not current.get('exists'):
        return 'absent'
    return STATE_NAMES.get(current.get('state'), 'unknown')


# what the password attributes show instead (as Ansible masks no_log values)
REDACTED = '********'
# the attributes of a domain definition that hold a password (<graphics passwd=...>)
SECRET_ATTRIBUTES = ('passwd',)


def without_secrets(root):
    """The definition without passwords (graphics passwd=...): read with VIR_DOMAIN_XML_SECURE so that a
    redefine keeps them, but never reported (diffs, facts)."""
    root = _xml.copy(root)
    for elem in root.iter():
        for name in SECRET_ATTRIBUTES:
            if isinstance(elem.tag, str) and name in elem.attrib:
                elem.set(name, REDACTED)
    return root


def secret_values(root):
    """The passwords in a definition (option xml), for the module's no_log values: Ansible then hides them in the
    module arguments it reports (invocation) and wherever else the result might hold them."""
    return set(elem.get(name) for elem in root.iter() for name in SECRET_ATTRIBUTES
               if isinstance(elem.tag, str) and elem.get(name))


def domain_facts(state):
    if not state.get('exists'):
        return {'name': state['name'], 'exists': False}
    config = state['config']
    facts = {
        'name': state['name'], 'exists': True, 'uuid': state['uuid'], 'id': state['id'],
        'state': STATE_NAMES.get(state['state'], 'unknown'), 'active': state['active'],
        'persistent': state['persistent'], 'autostart': state['autostart'], 'ownership': state['owner'],
        'memory_mib': config['memory'] // 1024 ** 2 if config['memory'] else None,
        'current_memory_mib': config['current_memory'] // 1024 ** 2 if config['current_memory'] else None,
        'xml': _xml.to_text(without_secrets(state['xml'])),
    }
    for key in ('type', 'vcpus', 'cpu', 'machine', 'arch', 'firmware', 'nvram', 'tcg_tb_cache', 'disks',
                'interfaces', 'serial_console', 'console_log', 'guest_agent', 'rng', 'graphics', 'hostdevs'):
        facts[key] = config[key]
    return facts

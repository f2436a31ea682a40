# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The in-memory inventory entries of a cluster's VMs: for each VM its name, groups and the host variables
that reach it (SSH to its address, through a jump over its hypervisor where needed, or the guest agent over
its hypervisor's libvirt), computed once for the whole cluster (the cluster role's add_host task only
hands them over, one item per VM).

Private to strata.libvirt; no compatibility promise.
"""

import os
import re

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError

AGENT_CONNECTION = 'community.libvirt.libvirt_qemu'
_SCHEME = re.compile(r'^[a-z0-9+]+://')
_REMOTE_URI = re.compile(r'^[a-z0-9+]+://[^/]')


def hypervisor_pattern(value):
    """The host pattern of the hypervisors the collection's playbooks run on, from strata_hypervisors: a pattern
    (a group, host names, 'a:b', 'web*:!web3'), or a list of names and patterns, joined with ':'."""
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, str) and item.strip() for item in items):
        raise StrataError('strata_hypervisors: %r is not a host pattern (a group or host name, a pattern such as '
                          "'kvm:!kvm3', or a list of them)" % (value,))
    return ':'.join(item.strip() for item in items)


def hypervisor_connection(name, hostvars):
    """How Ansible reaches hypervisor name, from its host variables (the defaults Ansible itself uses)."""
    hvars = hostvars[name]
    plan = hvars.get('cluster_plan') or {}
    return {'connection': hvars.get('ansible_connection', 'ssh'), 'user': hvars.get('ansible_user', 'root'),
            'host': hvars.get('ansible_host', name), 'port': hvars.get('ansible_port'),
            'uri': plan.get('uri') or ''}


def libvirt_uri(conn):
    """The URI a connection on the controller uses for the hypervisor's libvirt: the cluster's URI when it names
    a host (or when the controller is the hypervisor), else the hypervisor's system libvirt over SSH."""
    uri, local = conn['uri'], conn['connection'] == 'local'
    if _REMOTE_URI.match(uri) or (local and uri):
        return uri
    if local:
        return 'qemu:///system'
    port = (':%s' % conn['port']) if conn['port'] not in (None, '') else ''
    return 'qemu+ssh://%s@%s%s%s' % (conn['user'], conn['host'], port, _SCHEME.sub('', uri) if uri else '/system')


def proxy_jump(conn, jump):
    """The ProxyJump option to add to the VMs' SSH arguments ('' for none): jump 'auto' goes over the hypervisor
    unless the controller is the hypervisor."""
    if not jump or (jump == 'auto' and conn['connection'] == 'local'):
        return ''
    return ' -o ProxyJump=' + ('%s@%s' % (conn['user'], conn['host']) if jump == 'auto' else jump)


def entries(vms, plan, here, hostvars, options):
    """[{name, groups, vars, label}], one per VM of vms.

    plan: this hypervisor's cluster plan (user, key, inventory group); here: how Ansible reaches this hypervisor
    (the keys of hypervisor_connection, plus name); hostvars: the play's host variables, for the VMs of other
    hypervisors; options: ssh_common_args, proxy_jump, verify_host_keys (the cluster role's variables)."""
    conns = {here['name']: here}
    out = []
    key = plan.get('ssh_private_key_file')
    for vm in vms:
        hv = vm.get('hypervisor') or here['name']
        if hv not in conns:
            conns[hv] = hypervisor_connection(hv, hostvars)
        conn = conns[hv]
        agent = (vm.get('connection') or 'ssh') == 'libvirt_qemu'
        hvars = {'ansible_host': vm['domain'] if agent else vm['ip'],
                 'ansible_python_interpreter': vm.get('python_interpreter'),
                 'strata_hypervisor': hv, 'strata_domain': vm['domain'], 'strata_tier': vm['tier'],
                 'strata_address': vm.get('ip')}
        if agent:
            hvars.update(ansible_connection=AGENT_CONNECTION, ansible_libvirt_uri=libvirt_uri(conn))
        else:
            hvars.update(ansible_user=plan['user'],
                         ansible_ssh_common_args=options['ssh_common_args'] + proxy_jump(conn, options['proxy_jump']))
            if key:
                hvars['ansible_ssh_private_key_file'] = os.path.expanduser(key)
            if options['verify_host_keys']:
                # a host_key_checking=false of ansible.cfg would put StrictHostKeyChecking=no before the common args
                hvars['ansible_host_key_checking'] = True
        group = plan['inventory_group']
        out.append({'name': vm['name'], 'groups': [group, '%s_tier_%s' % (group, vm['tier'])] + list(vm.get('groups') or []),
                    'vars': hvars,
                    'label': '%s (%s)' % (vm['name'], ('%s over the guest agent' % vm['domain']) if agent else vm.get('ip'))})
    return out

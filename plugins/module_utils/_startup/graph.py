# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The dependency graph of a startup definition: dependencies, topological tiers, cycles. Pure.

Private to strata.libvirt; no compatibility promise.
"""

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError


def build_graph(vms):
    """Dependencies and tiers of the VMs. Pure.

    A VM with `after` depends on the VMs it names. A VM with `tier: N` depends on every VM that
    has an explicit tier lower than N. Tiers are the topological levels: a VM's tier index is
    one more than the highest tier index among its dependencies (0 without any). The scheduler
    (_startup.schedule) works on the dependencies themselves; the tiers are what results show.
    """
    names = [vm['name'] for vm in vms]
    known = set(names)
    deps = {}
    for vm in vms:
        if vm['after']:
            unknown = [a for a in vm['after'] if a not in known]
            if unknown:
                raise StrataError("VM '%s': after names unknown VM(s) %s; known VMs: %s"
                                  % (vm['name'], ', '.join("'%s'" % u for u in unknown), ', '.join(names)))
            if vm['name'] in vm['after']:
                raise StrataError("VM '%s': after names the VM itself" % vm['name'])
            deps[vm['name']] = list(vm['after'])
        else:
            deps[vm['name']] = [o['name'] for o in vms
                                if not o['after'] and o['tier'] < vm['tier']]
    cycle = find_cycle(names, deps)
    if cycle:
        raise StrataError('dependency cycle: %s; no start order exists' % ' -> '.join(cycle))
    level = {}

    def depth(name):
        if name not in level:
            level[name] = 1 + max([depth(d) for d in deps[name]] or [-1])
        return level[name]

    for name in names:
        depth(name)
    tiers = [[] for dummy in range((max(level.values()) + 1) if level else 0)]
    for name in names:  # keep the user's order inside a tier
        tiers[level[name]].append(name)
    dependents = dict((n, []) for n in names)
    for name in names:  # in the definition's order, each once (a linear pass, not one scan per VM)
        for dep in dict.fromkeys(deps[name]):
            dependents[dep].append(name)
    return {'tiers': tiers, 'deps': deps, 'dependents': dependents, 'level': level}


def find_cycle(names, deps):
    """A dependency cycle as a list of names (first repeated at the end), or None. Pure."""
    white, grey, black = 0, 1, 2
    color = dict((n, white) for n in names)
    stack = []

    def visit(node):
        color[node] = grey
        stack.append(node)
        for dep in deps.get(node, []):
            if color.get(dep) == grey:
                return stack[stack.index(dep):] + [dep]
            if color.get(dep) == white:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        color[node] = black
        return None

    for name in names:
        if color[name] == white:
            found = visit(name)
            if found:
                # report it in start order: a -> b means b waits for a
                return list(reversed(found))
    return None


def describe_tiers(graph):
    return '; '.join('tier %d: %s' % (i, ', '.join(t)) for i, t in enumerate(graph['tiers']))

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A startup definition: the defaults, the startup module's argument spec, validation (normalize), and
what the boot-time service keeps of it.

  DEFAULTS                 the one table of startup defaults (the module, the cluster plan and the boot
                           service read it)
  argument_spec()          the strata.libvirt.startup module's argument spec; CONSTRAINTS its constraints
  normalize(params)        pure: validated config (names, probes, graph); every error before any change
                           (desired_from_params is the same function)

Nothing here imports Ansible: the boot-time service runs it with only Python and libvirt-python.

Private to strata.libvirt; no compatibility promise.
"""

import re

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils import _probes
from ansible_collections.strata.libvirt.plugins.module_utils._startup.graph import build_graph, describe_tiers

STATES = ('started', 'stopped', 'present')
ON_FAILURE = ('abort', 'stop_started', 'continue')
SHUTDOWN_MODES = ('acpi', 'agent', 'default')
# The defaults of a startup definition: seconds a VM may take to become ready (timeout), to wait between
# tiers (tier_delay) and to shut down before it is forced off (grace).
# How many VMs may boot at once (max_parallel, None: no limit; 'auto' picks one from the host), how often a start call
# that libvirt refused is tried again (start_retries, after start_backoff seconds, doubled each time), whether a VM
# that is not ready in time is powered off and started once more (restart_on_timeout), and the boot service's
# seconds before its first start (start_delay) and its watch of the VMs after the start (watch).
DEFAULTS = {'on_failure': 'abort', 'timeout': 600, 'tier_delay': 0, 'grace': 60, 'shutdown_mode': 'acpi',
            'max_parallel': None, 'start_retries': 2, 'start_backoff': 2, 'restart_on_timeout': False,
            'start_delay': 0, 'watch': False}
AUTO = 'auto'
NAME_RE = re.compile(r'^[A-Za-z0-9._+-]+$')

VM_KEYS = ('name', 'tier', 'after', 'probes', 'timeout', 'grace', 'address', 'labels', 'restart_on_timeout', 'remote')
# the probes a VM on another hypervisor (remote) can be waited for with: from here, through the network
REMOTE_PROBES = ('tcp', 'ssh', 'http', 'command')

CONSTRAINTS = {}


def argument_spec():
    """The strata.libvirt.startup module's argument spec (a new dict)."""
    probe_options = dict(
        type=dict(type='str', required=True, choices=list(_probes.PROBE_TYPES)),
        interval=dict(type='float'),
        host=dict(type='str'),
        port=dict(type='int'),
        url=dict(type='str'),
        status=dict(type='list', elements='int'),
        body=dict(type='str'),
        validate_certs=dict(type='bool'),
        user=dict(type='str'),
        key_file=dict(type='path'),
        via=dict(type='str', choices=['agent', 'ssh']),
        command=dict(type='raw'),
        attempt_timeout=dict(type='float'),
    )
    vm_options = dict(
        name=dict(type='str', required=True),
        tier=dict(type='int'),
        after=dict(type='list', elements='str'),
        address=dict(type='str'),
        timeout=dict(type='float'),
        grace=dict(type='float'),
        probes=dict(type='list', elements='dict', options=probe_options),
        labels=dict(type='list', elements='str'),
        restart_on_timeout=dict(type='bool'),
        remote=dict(type='str'),
    )
    return dict(
        uri=dict(type='str'),
        state_dir=dict(type='path', default=_connection.DEFAULT_STATE_DIR),
        lock_timeout=dict(type='int', default=_connection.DEFAULT_LOCK_TIMEOUT),
        state=dict(type='str', choices=list(STATES), default='started'),
        vms=dict(type='list', elements='dict', required=True, options=vm_options,
                 mutually_exclusive=[('tier', 'after')]),
        timeout=dict(type='float', default=DEFAULTS['timeout']),
        tier_timeout=dict(type='float'),
        tier_delay=dict(type='float', default=DEFAULTS['tier_delay']),
        grace=dict(type='float', default=DEFAULTS['grace']),
        shutdown_mode=dict(type='str', choices=list(SHUTDOWN_MODES), default=DEFAULTS['shutdown_mode']),
        on_failure=dict(type='str', choices=list(ON_FAILURE), default=DEFAULTS['on_failure']),
        tiers=dict(type='list', elements='int'),
        autostart=dict(type='bool'),
        log_file=dict(type='path'),
        progress_file=dict(type='path'),
        max_parallel=dict(type='raw'),
        limits=dict(type='dict'),
        start_retries=dict(type='int', default=DEFAULTS['start_retries']),
        start_backoff=dict(type='float', default=DEFAULTS['start_backoff']),
        restart_on_timeout=dict(type='bool', default=DEFAULTS['restart_on_timeout']),
        start_delay=dict(type='float', default=DEFAULTS['start_delay']),
        watch=dict(type='bool', default=DEFAULTS['watch']),
        host_keys=dict(type='bool', default=False),
    )


def _number(value, where, minimum=0.0, allow_none=True):
    if value is None:
        if allow_none:
            return None
        raise StrataError('%s is required' % where)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise StrataError('%s: not a number: %r' % (where, value))
    if number < minimum:
        raise StrataError('%s: %s is less than %s' % (where, value, minimum))
    return number


def _choice(params, key, choices):
    value = params.get(key) or DEFAULTS.get(key)
    if value not in choices:
        raise StrataError('%s: %r; use one of %s' % (key, value, ', '.join(choices)))
    return value


def _labels(value, where):
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise StrataError('%s: must be a list of label names, got %r' % (where, value))
    return list(dict.fromkeys(value))


def _flag(value, where, default):
    if value is None:
        return default
    if not isinstance(value, bool):
        raise StrataError('%s: must be true or false, got %r' % (where, value))
    return value


def max_parallel(value, where='max_parallel'):
    """None (no limit), 'auto' or a whole number of 1 or more."""
    if value is None or value == AUTO:
        return value
    if isinstance(value, bool):
        raise StrataError('%s: %r; give a whole number of 1 or more, or auto' % (where, value))
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise StrataError('%s: %r; give a whole number of 1 or more, or auto' % (where, value))
    if number != value and str(number) != str(value).strip():
        raise StrataError('%s: %r; give a whole number of 1 or more, or auto' % (where, value))
    if number < 1:
        raise StrataError('%s: %r is less than 1; leave it out for no limit' % (where, value))
    return number


def _limits(value, vms):
    """{label: limit}; every label must be one of some VM's labels."""
    if not value:
        return {}
    if not isinstance(value, dict):
        raise StrataError('limits: must be a dict of label: number of VMs, got %r' % (value,))
    known = set(label for vm in vms for label in vm['labels'])
    out = {}
    for label in sorted(value):
        limit = max_parallel(value[label], 'limits.%s' % label)
        if limit is None or limit == AUTO:
            raise StrataError('limits.%s: give a whole number of 1 or more' % label)
        if label not in known:
            raise StrataError("limits.%s: no VM has the label '%s'; labels: %s"
                              % (label, label, ', '.join(sorted(known)) or 'none'))
        out[label] = limit
    return out


def _vm(raw, index, seen, timeout, grace):
    """One VM of the definition, validated; seen: the names so far."""
    where = 'vms[%d]' % index
    if not isinstance(raw, dict):
        raise StrataError('%s: must be a dict, got %r' % (where, raw))
    unknown = sorted(set(k for k, v in raw.items() if v is not None) - set(VM_KEYS))
    if unknown:
        raise StrataError('%s: unknown key(s) %s; known: %s' % (where, ', '.join(unknown), ', '.join(VM_KEYS)))
    name = raw.get('name')
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise StrataError("%s.name: invalid domain name %r" % (where, name))
    where = 'vms[%d] (%s)' % (index, name)
    if name in seen:
        raise StrataError("vms: the name '%s' is given twice" % name)
    seen.add(name)
    tier = raw.get('tier')
    after = raw.get('after')
    if tier is not None and after:
        raise StrataError('%s: give either tier or after, not both' % where)
    if tier is not None:
        try:
            tier = int(tier)
        except (TypeError, ValueError):
            raise StrataError('%s.tier: not a whole number: %r' % (where, tier))
        if tier < 0:
            raise StrataError('%s.tier: must be 0 or more, got %s' % (where, tier))
    if after is not None:
        if isinstance(after, str):
            after = [after]
        if not isinstance(after, list) or not all(isinstance(a, str) for a in after):
            raise StrataError('%s.after: must be a list of VM names, got %r' % (where, after))
        after = list(dict.fromkeys(after))
    probes = raw.get('probes')
    if probes is None:
        probes = [{'type': 'running'}]
    if not isinstance(probes, list):
        raise StrataError('%s.probes: must be a list of probes, got %r' % (where, probes))
    vm_timeout = _number(raw.get('timeout'), '%s.timeout' % where, 1)
    vm_grace = _number(raw.get('grace'), '%s.grace' % where)
    remote = raw.get('remote') or None
    if remote is not None:
        if not isinstance(remote, str):
            raise StrataError('%s.remote: the name of the hypervisor the VM is on, got %r' % (where, remote))
        local = [p.get('type') for p in probes if isinstance(p, dict) and p.get('type') not in REMOTE_PROBES]
        via_agent = [p for p in probes if isinstance(p, dict) and p.get('type') == 'ssh' and p.get('via') == 'agent']
        if local or via_agent or raw.get('probes') is None:
            raise StrataError("%s: it runs on host %s, so it is waited for through the network: its probes must be of "
                              "the types %s (not %s)" % (where, remote, ', '.join(REMOTE_PROBES),
                                                         ', '.join(local or ['running']) if not via_agent else 'via agent'))
    return {
        'name': name,
        'tier': tier if (tier is not None or after) else 0,
        'after': after or [],
        'probes': [_probes.validate(p, '%s.probes[%d]' % (where, i)) for i, p in enumerate(probes)],
        'timeout': vm_timeout if vm_timeout is not None else timeout,
        'grace': vm_grace if vm_grace is not None else grace,
        'address': raw.get('address') or None,
        'labels': _labels(raw.get('labels'), '%s.labels' % where),
        'restart_on_timeout': _flag(raw.get('restart_on_timeout'), '%s.restart_on_timeout' % where, None),
        'remote': remote,
    }


def local_vms(vms):
    """The VMs of this hypervisor: a stop, or an autostart setting, leaves the VMs of other hosts (remote) alone, and
    the order among the VMs here stays."""
    by_name = dict((vm['name'], vm) for vm in vms)
    if not any(vm['remote'] for vm in vms):
        return vms

    def local_deps(names, seen):
        """The local VMs among names, and through each remote one its own dependencies, transitively."""
        out = []
        for name in names:
            if name in seen or name not in by_name:
                continue
            seen.add(name)
            out.extend(local_deps(by_name[name]['after'], seen) if by_name[name]['remote'] else [name])
        return out

    out = []
    for vm in vms:
        if vm['remote']:
            continue
        if vm['after']:
            vm = dict(vm, after=list(dict.fromkeys(local_deps(vm['after'], set()))))
            if not vm['after']:
                vm['tier'] = 0
        out.append(vm)
    if not out:
        raise StrataError('vms: every VM is on another host (remote); none is on this one')
    return out


def _selected_tiers(params, graph):
    selected = params.get('tiers')
    if selected is None:
        return None
    if not isinstance(selected, list):
        selected = [selected]
    try:
        selected = sorted(set(int(t) for t in selected))
    except (TypeError, ValueError):
        raise StrataError('tiers: must be a list of tier indexes, got %r' % (params.get('tiers'),))
    bad = [t for t in selected if not 0 <= t < len(graph['tiers'])]
    if bad:
        raise StrataError('tiers: %s out of range; this definition has tiers 0 to %d: %s'
                          % (', '.join(str(t) for t in bad), len(graph['tiers']) - 1, describe_tiers(graph)))
    return selected


def normalize(params):
    """Validate the task's (or the boot config's) parameters into the engine's config. Pure.

    Every mistake is reported here, before anything is started or stopped: unknown keys, duplicate
    or invalid names, tier and after on one VM, unknown names in after, dependency cycles, probe
    options, tier indexes out of range. What is not given comes from DEFAULTS.
    """
    state = params.get('state') or 'started'
    if state not in STATES:
        raise StrataError('state: %r; use one of %s' % (state, ', '.join(STATES)))
    on_failure = _choice(params, 'on_failure', ON_FAILURE)
    shutdown_mode = _choice(params, 'shutdown_mode', SHUTDOWN_MODES)
    timeout = _number(params.get('timeout'), 'timeout', 1) or float(DEFAULTS['timeout'])
    grace = _number(params.get('grace'), 'grace')
    grace = float(DEFAULTS['grace']) if grace is None else grace
    raw_vms = params.get('vms')
    if not raw_vms or not isinstance(raw_vms, list):
        raise StrataError('vms: give at least one VM (a list of dicts with a name)')
    seen = set()
    vms = [_vm(raw, index, seen, timeout, grace) for index, raw in enumerate(raw_vms)]
    graph = build_graph(local_vms(vms) if state != 'started' else vms)
    selected = _selected_tiers(params, graph)
    retries = params.get('start_retries')
    retries = DEFAULTS['start_retries'] if retries is None else retries
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise StrataError('start_retries: %r; give a whole number of 0 or more' % (retries,))
    backoff = _number(params.get('start_backoff'), 'start_backoff')
    restart = _flag(params.get('restart_on_timeout'), 'restart_on_timeout', DEFAULTS['restart_on_timeout'])
    for vm in vms:
        if vm['restart_on_timeout'] is None:
            vm['restart_on_timeout'] = restart
    return {
        'state': state,
        'uri': params.get('uri'),
        'on_failure': on_failure,
        'shutdown_mode': shutdown_mode,
        'timeout': timeout,
        'grace': grace,
        'tier_timeout': _number(params.get('tier_timeout'), 'tier_timeout', 1),
        'tier_delay': _number(params.get('tier_delay'), 'tier_delay') or float(DEFAULTS['tier_delay']),
        'tiers': selected,
        'autostart': params.get('autostart'),
        'max_parallel': max_parallel(params.get('max_parallel')),
        'limits': _limits(params.get('limits'), vms),
        'start_retries': retries,
        'start_backoff': float(DEFAULTS['start_backoff']) if backoff is None else backoff,
        'restart_on_timeout': restart,
        'start_delay': _number(params.get('start_delay'), 'start_delay') or float(DEFAULTS['start_delay']),
        'watch': _flag(params.get('watch'), 'watch', DEFAULTS['watch']),
        'host_keys': _flag(params.get('host_keys'), 'host_keys', False),
        'vms': vms,
    }


# The argument-spec convention's name for the validation of a module's parameters.
desired_from_params = normalize


def worst_case(config):
    """Upper bounds in seconds of a full start and a full stop (for the service's systemd timeouts).

    A VM's start costs its timeout (twice with restart_on_timeout), its start retries' backoff and 10 s of start calls;
    the start is bounded by the longest dependency chain of these costs, plus (with a start limit) all costs divided by
    the smallest limit (list scheduling's bound; 'auto' counts as 1), plus start_delay."""
    graph = build_graph(config['vms'])
    vms = dict((vm['name'], vm) for vm in config['vms'])
    backoff = (config.get('start_backoff') or 0) * (2 ** (config.get('start_retries') or 0) - 1)
    cost = {}
    for name, vm in vms.items():
        timeout = vm['timeout'] * (2 if vm.get('restart_on_timeout') else 1)
        if config.get('tier_timeout'):
            timeout = min(timeout, config['tier_timeout'] * (2 if vm.get('restart_on_timeout') else 1))
        cost[name] = timeout + backoff + 10 + (config.get('tier_delay') or 0)
    chain = {}
    for tier in graph['tiers']:
        for name in tier:
            chain[name] = cost[name] + max([chain[d] for d in graph['deps'][name]] or [0])
    start = max(chain.values()) if chain else 0
    limits = [v for v in list((config.get('limits') or {}).values()) + [config.get('max_parallel')] if v is not None]
    if limits:
        start += sum(cost.values()) / min(1 if v == AUTO else v for v in limits)
    start += config.get('start_delay') or 0
    stop = 0.0
    for tier in graph['tiers']:
        stop += max(vms[n]['grace'] for n in tier) + 10  # + destroy
    # on_failure=stop_started may run a full stop after a failed start
    if config.get('on_failure') == 'stop_started':
        start += stop
    return {'start': int(start) + 1, 'stop': int(stop) + 1}


def boot_config(config):
    """The part of a normalised config the boot-time service needs (JSON-serialisable)."""
    keep = ('uri', 'on_failure', 'shutdown_mode', 'timeout', 'grace', 'tier_timeout', 'tier_delay', 'max_parallel',
            'limits', 'start_retries', 'start_backoff', 'restart_on_timeout', 'start_delay', 'watch', 'vms')
    return dict((k, config[k]) for k in keep)

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The smoke tests of a cluster: checks run once the whole cluster is ready, each either a command in a guest (over
the VM's inventory connection, SSH or the guest agent) or a probe from the hypervisor (the startup engine's own
probes, run by strata.libvirt.startup on the running VM).

    resolve(problems, cluster, raw_vms, vms, options) -> the plan's `smoke` list, one check per VM; every problem of
                                                         strata_cluster.smoke and vms[].smoke added, one line each
    outcomes(smoke_results)                           -> per check run: vm, kind, check, ok (None: not run), detail
    table(smoke_results)                              -> the summary's lines of the smoke tests

smoke_results are the registered loop results of the role's smoke tasks (roles/cluster/tasks/smoke.yml), each with
the plan's check as its `item`. A check passed when Ansible says so: a command that exits 0, a probe that passes
within the check's timeout.

Private to strata.libvirt; no compatibility promise.
"""

import copy

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.strata.libvirt.plugins.module_utils import _probes
from ansible_collections.strata.libvirt.plugins.module_utils import _spec_check
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import definition as d
from ansible_collections.strata.libvirt.plugins.module_utils._startup import spec as _startup

VM_ITEM_KEYS = ('command', 'probe', 'name', 'timeout')       # an item of vms[].smoke
CLUSTER_ITEM_KEYS = VM_ITEM_KEYS + ('vm', 'vms')            # an item of strata_cluster.smoke (default: every VM)
KILL_AFTER = 5          # seconds between the guest's timeout TERM of a command and its KILL
TAIL_LINES = 3          # the last lines of a failed command's stdout and stderr in the summary
TAIL_CHARS = 300        # and at most this many of their last characters
TIMED_OUT = 124         # the exit status of timeout(1) when the command ran out of time
SHOWN_CHARS = 80        # of a check's command or probe in the summary


def resolve(problems, cluster, raw_vms, vms, options=None):
    """The flat list of checks, in the order of the definition: strata_cluster.smoke (each item on its VMs, in the
    order of vms), then every VM's own smoke. vms are the resolved VMs (name, domain, ip), raw_vms the definition's."""
    options = options or {}
    by_name = dict((vm['name'], vm) for vm in vms)
    names = [vm['name'] for vm in vms]
    out = []
    for index, raw in enumerate(_items(problems, cluster.get('smoke'), 'smoke')):
        where = 'smoke[%d]' % index
        check = _item(problems, raw, where, CLUSTER_ITEM_KEYS, options)
        targets = _targets(problems, raw, where, names) if isinstance(raw, dict) else []
        if check is not None:
            out.extend(_on(check, by_name[name]) for name in targets)
    for vm_index, raw_vm in enumerate(raw_vms or []):
        if not isinstance(raw_vm, dict):
            continue
        name = to_text(raw_vm.get('name') or '')
        vm_where = "vms[%d] '%s'" % (vm_index, name) if name else 'vms[%d]' % vm_index
        for index, raw in enumerate(_items(problems, raw_vm.get('smoke'), '%s: smoke' % vm_where)):
            check = _item(problems, raw, '%s: smoke[%d]' % (vm_where, index), VM_ITEM_KEYS, options)
            if check is not None and name in by_name:
                out.append(_on(check, by_name[name]))
    for index, check in enumerate(out):
        check['index'] = index
    return out


def _items(problems, value, where):
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add('%s: must be a list of checks, each a dict with command or probe' % where)
        return []
    return value


def _item(problems, raw, where, known, options):
    """One item, checked: its kind, command or probe, label and timeout (None when it has a problem)."""
    if not isinstance(raw, dict):
        problems.add('%s: must be a dict with command or probe, got %r' % (where, raw))
        return None
    before = len(problems.items)
    d.unknown_keys(problems, raw, known, where)
    label = raw.get('name')
    if label is not None and (not isinstance(label, str) or not label.strip()):
        problems.add('%s.name: must be a non-empty string' % where)
    timeout = d.number(problems, d.DEFAULTS['smoke_timeout'] if raw.get('timeout') is None else raw['timeout'],
                       '%s.timeout' % where, 1)
    check = {'label': label, 'timeout': timeout, 'where': where}
    if raw.get('command') is not None and raw.get('probe') is not None:
        problems.add('%s: give either command or probe, not both' % where)
    elif raw.get('command') is not None:
        if not isinstance(raw['command'], str) or not raw['command'].strip():
            problems.add('%s.command: must be a non-empty string' % where)
        check.update(kind='command', command=raw['command'])
    elif raw.get('probe') is not None:
        probe = problems.guard(_probes.validate, raw['probe'], '%s.probe' % where)
        if probe is not None and probe['type'] in ('ssh', 'cloud_init') and probe.get('user') \
                and not probe.get('key_file') and options.get('probe_key_file'):
            probe['key_file'] = options['probe_key_file']      # as the VMs' own probes get it
        check.update(kind='probe', probe=probe)
    else:
        problems.add('%s: give command (run in the guest) or probe (from the hypervisor)' % where)
    return check if len(problems.items) == before else None


def _targets(problems, raw, where, names):
    """The VMs an item of strata_cluster.smoke runs on: vm (one name) or vms (a list), default every VM."""
    if raw.get('vm') is not None and raw.get('vms') is not None:
        problems.add('%s: give vm or vms, not both' % where)
        return []
    if raw.get('vm') is not None:
        wanted = [(raw['vm'], '%s.vm' % where)]
    elif raw.get('vms') is not None:
        if not isinstance(raw['vms'], list) or not raw['vms']:
            problems.add('%s.vms: must be a list of VM names' % where)
            return []
        wanted = [(name, '%s.vms[%d]' % (where, i)) for i, name in enumerate(raw['vms'])]
    else:
        return list(names)
    out = []
    for name, here in wanted:
        if not isinstance(name, str) or name not in names:
            problems.add('%s: no VM named %s (VMs: %s)' % (here, name, ', '.join(names) or 'none'))
        elif name not in out:
            out.append(name)
    return out


def _on(check, vm):
    """The check on one VM: its inventory host (the VM's name, as hosts.yml adds it) and what the role's task runs."""
    out = copy.deepcopy(check)
    out.update(vm=vm['name'], host=vm['name'], domain=vm['domain'])
    timeout = '%g' % out['timeout']
    if out['kind'] == 'command':
        # run by the guest's timeout(1), so a command that hangs ends there too (exit status 124)
        out['argv'] = ['timeout', '-k', str(KILL_AFTER), timeout, 'sh', '-c', out['command']]
        text = 'command: %s' % _shown(out['command'])
    else:
        entry = {'name': vm['domain'], 'timeout': out['timeout'], 'probes': [out['probe']]}
        if vm.get('ip'):
            entry['address'] = vm['ip']
        out['startup'] = {'vms': [entry]}
        text = 'probe: %s' % _shown(_describe(out['probe'], vm.get('ip')))
    out['check'] = '%s (%s)' % (out['label'].strip(), text) if out['label'] else text
    return out


def _describe(probe, address):
    """The startup engine's own text of the probe (its type alone where the options do not make one)."""
    try:
        return _probes.build(probe).describe(address)
    except (TypeError, ValueError, KeyError):
        return probe['type']


def _shown(text):
    """A command or probe on one line of the summary (at most SHOWN_CHARS characters)."""
    text = ' '.join(to_text(text).split())
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS - 3] + '...'


def module_problems(smoke, uri=None):
    """What strata.libvirt.startup, with its own spec and checks, would say about the probe checks' options."""
    found = []
    for check in smoke:
        if check['kind'] != 'probe':
            continue
        options = dict(copy.deepcopy(check['startup']), state='started', log_file='/var/log/strata-libvirt-startup.log')
        if uri:
            options['uri'] = uri
        for text in _spec_check.problems(_startup.argument_spec(), _startup.CONSTRAINTS, options,
                                         _startup.desired_from_params, 'module startup, %s: ' % check['where']):
            if text not in found:       # an item of strata_cluster.smoke is the same on each of its VMs
                found.append(text)
    return found


# -- the results ----------------------------------------------------------------------------------------------------

def _tail(text):
    lines = [line.rstrip() for line in to_text(text or '').splitlines() if line.strip()][-TAIL_LINES:]
    joined = ' / '.join(lines)
    return joined if len(joined) <= TAIL_CHARS else '...' + joined[-TAIL_CHARS:]


def _command_failure(check, result):
    rc = result.get('rc')
    parts = []
    if rc is not None:
        parts.append('rc %s' % rc + (' (timed out after %s s)' % check['argv'][3] if rc == TIMED_OUT else ''))
    for key in ('stderr', 'stdout'):
        if _tail(result.get(key)):
            parts.append('%s: %s' % (key, _tail(result.get(key))))
    if rc is None:
        parts.append(_tail(result.get('msg')) or 'failed')
    elif len(parts) == 1:
        parts.append('no output')
    return '; '.join(parts)


def _probe_failure(check, result):
    info = (result.get('vms') or {}).get(check['domain']) or {}
    return to_text(info.get('error') or result.get('msg') or 'failed')


def outcomes(smoke_results):
    """Per check of the registered results, in the plan's order: vm, kind, check (its text), ok (True, False, or None
    when it was not run) and detail (ok, not run, or what failed: rc and output, or the probe's error)."""
    rows = []
    for result in d.as_list(smoke_results):
        check = result.get('item') if isinstance(result, dict) else None
        if not isinstance(check, dict) or check.get('kind') not in ('command', 'probe'):
            continue
        if result.get('skipped'):
            ok, detail = None, 'not run'
        elif result.get('unreachable'):
            ok, detail = False, 'unreachable: %s' % (_tail(result.get('msg')) or 'no connection')
        elif result.get('failed'):
            ok = False
            detail = _command_failure(check, result) if check['kind'] == 'command' else _probe_failure(check, result)
        else:
            ok, detail = True, 'ok'
        rows.append({'index': check.get('index', len(rows)), 'vm': check.get('vm'), 'kind': check['kind'],
                     'check': check.get('check'), 'ok': ok, 'detail': detail})
    rows.sort(key=lambda row: row['index'])
    for row in rows:
        row.pop('index')
    return rows


def table(smoke_results):
    """The smoke tests' lines of the summary: a header, a rule, one line per check (VM, check, result)."""
    rows = [('VM', 'SMOKE TEST', 'RESULT')]
    for row in outcomes(smoke_results):
        result = row['detail'] if row['ok'] is not False else 'FAILED: %s' % row['detail']
        rows.append((to_text(row['vm']), to_text(row['check']), result))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = ['  '.join([row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2]]).rstrip() for row in rows]
    lines.insert(1, '  '.join(['-' * widths[0], '-' * widths[1], '-' * len(rows[0][2])]))
    return lines

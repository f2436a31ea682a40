# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cluster's known_hosts file on the controller: the host keys of its VMs, read over a channel that does not
go through the network (strata.libvirt.domain_info host_keys=true: the guest agent or the serial console log), one
line per key, `<ip>,<vm name> <type> <base64>`, under a first line that names the cluster.

    file_path(cluster_plan, path='') -> the file's absolute path: path, or next to ssh_private_key_file, or ~/.ssh
    inspect(cluster_plan, path='')   -> {'path', 'exists', 'ours', 'content', 'problem', 'mode', 'dir_mode'}, looked
                                        at where the filters run (the controller)
    merge(cluster_plan, domains, known_file, rebuilt, check_mode, final) -> what the file should hold (see merge)
    rebuilt_domains(results)         -> the domains strata.libvirt.domain defined anew (their keys are new)
    write(path, content, cluster_name, check_mode) -> the file written where this runs (the controller, by the
                                        action plugin strata.libvirt.known_hosts): {'changed', 'diff', 'path'}

A key that differs from the file's for the same address is an error unless the VM's domain was (re)created in
this run; then its entries are replaced.

Private to strata.libvirt; no compatibility promise.
"""

import base64
import hashlib
import os
import stat

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils._domain import hostkeys

FIELD = 'cluster_known_hosts_file'
FILE_NAME = 'strata-%s_known_hosts'           # % the cluster name
HOME_DIR = '~/.ssh'                           # where the file is when the cluster has no ssh_private_key_file
FILE_MODE = 0o600
DIR_MODE = 0o700                              # of a directory the role creates for it
HEADER = '# strata.libvirt: SSH host keys of cluster %s'
HEADER_NOTE = ' (read from the VMs, not over the network; rewritten by each provisioning)'
READ_LIMIT = 1024 * 1024


def _name(cluster_plan):
    """The cluster's name (the plan's, or the definition's when the plan is not built yet)."""
    return to_text(cluster_plan.get('name') or 'cluster')


def header(cluster_name):
    return HEADER % cluster_name + HEADER_NOTE


def file_path(cluster_plan, path=''):
    """The known_hosts file of the cluster on the controller, absolute, ~ expanded: path when given, else
    strata-<cluster>_known_hosts in the directory of ssh_private_key_file, else in ~/.ssh."""
    if path is None or path == '':
        key_file = cluster_plan.get('ssh_private_key_file')
        directory = os.path.dirname(os.path.expanduser(key_file)) if isinstance(key_file, str) and key_file else HOME_DIR
        path = os.path.join(directory or '.', FILE_NAME % _name(cluster_plan))
    if not isinstance(path, str):
        raise StrataError('%s: %r is not a path' % (FIELD, path))
    return os.path.abspath(os.path.expanduser(path))


def is_ours(content, cluster_name):
    """Whether content is a file this cluster's role wrote (or an empty one)."""
    first = (content.splitlines() or [''])[0]
    mark = HEADER % cluster_name
    return content.strip() == '' or first == mark or first.startswith(mark + ' ')


def inspect(cluster_plan, path=''):
    """What is at the cluster's known_hosts path (see the module's docstring); cluster_plan may also be the
    definition (strata_cluster) before the plan is built. A file the cluster's role did not
    write (its first line is not the cluster's header) is a problem: it is neither rewritten nor removed."""
    where = file_path(cluster_plan, path)
    out = {'path': where, 'exists': False, 'ours': True, 'content': '', 'problem': None,
           'mode': '%04o' % FILE_MODE, 'dir_mode': '%04o' % DIR_MODE}
    if not os.path.lexists(where):
        return out
    out['exists'] = True
    try:
        if not os.path.isfile(where):
            raise IOError(None, 'not a regular file')
        out['file_mode'] = '%04o' % stat.S_IMODE(os.stat(where).st_mode)
        with open(where, 'rb') as handle:
            data = handle.read(READ_LIMIT + 1)
        if len(data) > READ_LIMIT:
            raise IOError(None, 'larger than %d bytes, not a cluster known_hosts file' % READ_LIMIT)
        out['content'] = data.decode('utf-8')
    except (IOError, OSError) as exc:
        out.update(ours=False, problem='%s: %s cannot be used: %s' % (FIELD, where, to_text(exc.strerror or exc)))
        return out
    except UnicodeDecodeError:
        out.update(ours=False, problem='%s: %s is not a text file' % (FIELD, where))
        return out
    name = _name(cluster_plan)
    if not is_ours(out['content'], name):
        out.update(ours=False, problem="%s: %s exists and was not written for cluster %s (its first line is not '%s'); "
                                       'give another path or remove the file' % (FIELD, where, name, HEADER % name))
    return out


def parse(content):
    """{host: [key, ...]} of a known_hosts text (plain host names and addresses; comments, markers such as
    @revoked and hashed hosts are skipped)."""
    found = {}
    for line in (content or '').splitlines():
        line = line.strip()
        if not line or line.startswith('#') or line.startswith('@') or line.startswith('|'):
            continue
        fields = line.split(None, 1)
        key = hostkeys.parse_key(fields[1]) if len(fields) == 2 else None
        if key is None:
            continue
        for host in fields[0].split(','):
            if host and key not in found.setdefault(host, []):
                found[host].append(key)
    return found


def fingerprint(key):
    """OpenSSH's SHA256 fingerprint of a 'type base64' key."""
    blob = base64.b64decode(key.split()[1])
    return 'SHA256:' + base64.b64encode(hashlib.sha256(blob).digest()).decode('ascii').rstrip('=')


def _shown(keys):
    return ', '.join('%s %s' % (key.split()[0], fingerprint(key)) for key in keys)


def rebuilt_domains(results):
    """Names of the domains defined anew, from strata.libvirt.domain's `results` (or a list of names as they are)."""
    names = []
    for result in results or []:
        if isinstance(result, str):
            names.append(result)
            continue
        if not isinstance(result, dict) or not result.get('changed'):
            continue
        name = result.get('item') or (result.get('domain') or {}).get('name')
        if name and any(to_text(text).startswith("define domain '") for text in result.get('actions') or []):
            names.append(name)
    return names


def conflict(was, now):
    """Whether the keys a VM reports (now) contradict the file's (was): a type both have with another key, or no
    key in common at all."""
    if not was:
        return False
    by_type = dict((key.split()[0], key) for key in was)
    if any(key.split()[0] in by_type and by_type[key.split()[0]] != key for key in now):
        return True
    return not set(was) & set(now)


def _vm_entry(vm, domain, was, rebuilt, check_mode, final, path_):
    """(entry, problem, warning, waiting) of one VM."""
    where = '%s (%s)' % (vm['name'], vm['ip'])
    found = (domain or {}).get('host_keys') or {}
    now = hostkeys.sorted_keys(k for k in (hostkeys.parse_key(text) for text in found.get('keys') or []) if k)
    active = bool((domain or {}).get('active'))
    source = found.get('source') if now else None
    stale = None
    if rebuilt and source == 'console' and found.get('console_boot') == 'earlier':
        # the log of a domain created anew ends with the block of the one before until the new guest writes its own
        now, source, stale = [], None, 'its console log holds only keys written before the guest last booted'
    entry = {'vm': vm['name'], 'address': vm['ip'], 'keys': now, 'source': source, 'status': None}
    if now:
        if rebuilt:
            # the same for a log without kernel banners: a block that repeats the entry of the domain before
            if not final and source == 'console' and was and set(now) == set(was):
                return entry, None, None, True
            entry['status'] = 'unchanged' if set(now) == set(was) else ('replaced' if was else 'added')
        elif conflict(was, now):
            entry.update(keys=was, status='conflict')
            return entry, (
                'VM %s: its SSH host key changed and its domain was not (re)created in this run: %s has %s, the VM '
                'reports %s (read through the %s). If the VM was rebuilt outside this role, remove its entry '
                '(ssh-keygen -R %s -f %s) and run again; otherwise find out why its host key changed'
                % (where, path_, _shown(was), _shown(now), 'guest agent' if source == 'agent' else 'serial console log',
                   vm['ip'], path_)), None, False
        else:
            entry['status'] = 'added' if not was else ('unchanged' if set(now) == set(was) else 'updated')
        return entry, None, None, False
    if active and not final:
        return entry, None, None, True
    why = stale or found.get('error') or ('the domain does not exist' if domain is None else 'not read')
    if was and not rebuilt:
        entry.update(keys=was, source='file', status='kept')
        return entry, None, 'VM %s: host keys not read (%s); its entry from before is kept' % (where, why), False
    entry['status'] = 'missing'
    if active and not check_mode:
        return entry, ('VM %s: no SSH host key could be read (%s). Install and start qemu-guest-agent in the guest '
                       '(with its guest-file-* commands allowed), or let cloud-init write the keys to the serial '
                       'console; or set cluster_verify_host_keys: false' % (where, why)), None, False
    return entry, None, 'VM %s: host keys not verified (%s); SSH to it fails its host key check until they are' \
        % (where, why), False


def merge(cluster_plan, domains, known_file, rebuilt=None, check_mode=False, final=True):
    """What the cluster's known_hosts file should hold, from strata.libvirt.domain_info's `domains` (host_keys=true)
    and inspect()'s known_file; rebuilt: rebuilt_domains() input.

    Returns {'path', 'mode' and 'dir_mode' (of the file and of a directory made for it, octal text),
             'content' (None when there are problems), 'changed' (content differs from the file's),
             'entries': [{vm, address, keys, source, status, fingerprints}] (status: added, unchanged, updated,
             replaced, kept (not read, the file's entry stays), missing, conflict), 'report' (a line per VM),
             'problems': [one line each], 'warnings': [one line each], 'waiting': [VMs that run without keys yet]}
    With final=false a run of a VM without keys is "waiting", not a problem (the role retries while any is).
    Check mode turns a running VM without keys into a warning.
    """
    out = {'path': known_file.get('path'), 'mode': '%04o' % FILE_MODE, 'dir_mode': '%04o' % DIR_MODE,
           'content': None, 'changed': False, 'entries': [], 'report': [], 'problems': [], 'warnings': [], 'waiting': []}
    if known_file.get('problem'):
        out['problems'].append(known_file['problem'])
        return out
    old = parse(known_file.get('content') or '')
    by_domain = dict((d.get('name'), d) for d in domains or [] if isinstance(d, dict))
    again = set(rebuilt_domains(rebuilt))
    lines = [header(_name(cluster_plan))]
    for vm in cluster_plan.get('vms') or []:
        if not vm.get('ip'):
            continue
        entry, problem, warning, waiting = _vm_entry(vm, by_domain.get(vm['domain']), old.get(vm['ip'], []),
                                                     vm['domain'] in again, check_mode, final, out['path'])
        entry['fingerprints'] = [fingerprint(key) for key in entry['keys']]
        out['entries'].append(entry)
        out['report'].append('%s %s: %s%s' % (vm['name'], vm['ip'], entry['status'] or 'waiting',
                                              (' (%s) %s' % (entry['source'], _shown(entry['keys']))) if entry['keys'] else ''))
        for key, value in (('problems', problem), ('warnings', warning), ('waiting', vm['name'] if waiting else None)):
            if value:
                out[key].append(value)
        lines.extend('%s,%s %s' % (vm['ip'], vm['name'], key) for key in entry['keys'])
    if not out['problems']:
        out['content'] = '\n'.join(lines) + '\n'
        out['changed'] = out['content'] != (known_file.get('content') if known_file.get('exists') else None)
    return out


def write(path, content, cluster_name, check_mode=False):
    """Write content to the cluster's known_hosts file at path (mode FILE_MODE; a missing directory is made with
    DIR_MODE), atomically: a temporary file in the same directory renamed over it. Nothing is written when the
    content and the mode are already so, or in check mode. A file this cluster's role did not write is never
    touched, and content must start with the cluster's header (StrataError otherwise).
    Returns {'path', 'changed', 'diff': {'before', 'after', 'before_header', 'after_header'}}."""
    path = os.path.abspath(os.path.expanduser(path))
    if not to_text(content).startswith(HEADER % cluster_name):
        raise StrataError("%s: the content for %s does not begin with '%s'" % (FIELD, path, HEADER % cluster_name))
    found = inspect({'name': cluster_name}, path)
    if found['problem']:
        raise StrataError(found['problem'])
    before = found['content'] if found['exists'] else ''
    changed = not found['exists'] or before != content or found.get('file_mode') != '%04o' % FILE_MODE
    out = {'path': path, 'changed': changed,
           'diff': {'before': before, 'after': content, 'before_header': path if found['exists'] else '(absent)',
                    'after_header': path}}
    if not changed or check_mode:
        return out
    try:
        _connection.make_dirs(os.path.dirname(path), DIR_MODE)
        _connection.write_atomic(path, to_text(content).encode('utf-8'), FILE_MODE)
    except (IOError, OSError) as exc:
        raise StrataError('%s: %s cannot be written: %s' % (FIELD, path, to_text(exc.strerror or exc)))
    return out

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Facts about domains: state, persistent settings, IP addresses (DHCP leases or guest agent), uptime, SSH host
keys (guest agent or serial console, see _domain/hostkeys), snapshots (as strata.libvirt.snapshot reports them);
the strata.libvirt.domain_info module's argument spec, the validation of its parameters, and its run.

Read-only: no lock, nothing changed. Private to strata.libvirt; no compatibility promise.
"""

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils import _session
from ansible_collections.strata.libvirt.plugins.module_utils import _validate
from ansible_collections.strata.libvirt.plugins.module_utils import _xml
from ansible_collections.strata.libvirt.plugins.module_utils._domain import hostkeys
from ansible_collections.strata.libvirt.plugins.module_utils._domain.facts import domain_facts
from ansible_collections.strata.libvirt.plugins.module_utils._domain.read import read_domain_state
from ansible_collections.strata.libvirt.plugins.module_utils._snapshot.read import read_snapshots

try:
    import libvirt_qemu
    HAS_LIBVIRT_QEMU = True
except ImportError:
    libvirt_qemu = None
    HAS_LIBVIRT_QEMU = False

IP_SOURCES = ('lease', 'agent', 'none')
# Where a system / session libvirtd keeps the QEMU pid files.
PID_DIRS = ('/run/libvirt/qemu', '/var/run/libvirt/qemu')

CONSTRAINTS = {}
# domains looked at side by side when their guest agents are asked (host_keys, guest_agent): each agent command waits
# for its guest, which on a busy host under emulation takes a good part of a second
AGENT_CALLS = 8


def argument_spec():
    """The strata.libvirt.domain_info module's argument spec, a new dict. state_dir, lock_timeout and adopt are
    accepted (module_defaults of the group give them) and not used: nothing is locked or changed."""
    return dict(
        uri=dict(type='str'),
        name=dict(type='list', elements='str', aliases=['names']),
        owned_only=dict(type='bool', default=False),
        cluster=dict(type='str'),
        ip_source=dict(type='str', default='lease', choices=list(IP_SOURCES)),
        guest_agent=dict(type='bool', default=False),
        host_keys=dict(type='bool', default=False),
        snapshots=dict(type='bool', default=False),
        state_dir=dict(type='path'),
        lock_timeout=dict(type='int'),
        adopt=dict(type='bool'),
    )


def desired_from_params(params):
    """The validated query: which domains (names, owned_only, cluster) and what to ask them. Pure; raises
    StrataError naming the option."""
    names = params.get('name')
    if names is not None:
        names = [_validate.name(value, 'name[%d]' % index) for index, value in enumerate(names)]
    if params.get('cluster') is not None:
        _validate.name(params['cluster'], 'cluster')
    return {'names': names, 'owned_only': bool(params.get('owned_only')), 'cluster': params.get('cluster'),
            'ip_source': params.get('ip_source') or 'lease', 'guest_agent': bool(params.get('guest_agent')),
            'host_keys': bool(params.get('host_keys')), 'snapshots': bool(params.get('snapshots'))}


def select(domains, names=None, owned_only=False, cluster=None):
    """Pure: which of [(name, owner), ...] to report, given the filters."""
    chosen = []
    for name, owner in domains:
        if names is not None and name not in names:
            continue
        if (owned_only or cluster) and not owner.get('owned'):
            continue
        if cluster and owner.get('cluster') != cluster:
            continue
        chosen.append(name)
    return sorted(chosen)


def _addresses(dom, source):
    """{mac: [ip, ...]} from libvirt's interfaceAddresses (IPv4 first), or an error text."""
    libvirt = _connection.libvirt
    flag = {'lease': libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE,
            'agent': libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT}[source]
    try:
        found = dom.interfaceAddresses(flag, 0) or {}
    except libvirt.libvirtError as exc:
        return None, _connection.error_text(exc)
    by_mac = {}
    for ifname, info in found.items():
        mac = (info.get('hwaddr') or '').lower()
        if not mac or ifname == 'lo':
            continue
        addrs = sorted(info.get('addrs') or [], key=lambda a: a.get('type', 0))
        by_mac.setdefault(mac, []).extend(a['addr'] for a in addrs if a.get('addr'))
    return by_mac, None


def agent_ping(dom, timeout=5):
    """(responding, error) from the guest agent's guest-ping."""
    if not HAS_LIBVIRT_QEMU:
        return False, 'the libvirt_qemu binding (part of libvirt-python) is not importable'
    libvirt = _connection.libvirt
    try:
        reply = libvirt_qemu.qemuAgentCommand(dom, json.dumps({'execute': 'guest-ping'}), timeout, 0)
        return 'return' in json.loads(reply), None
    except libvirt.libvirtError as exc:
        return False, _connection.error_text(exc)
    except ValueError as exc:
        return False, str(exc)


def qemu_uptime(name, uri, now=None, proc='/proc', pid_dirs=PID_DIRS):
    """Seconds since the domain's QEMU process started, from libvirt's pid file and /proc, or None.

    Only for a local qemu:// URI: libvirt writes <pid dir>/<name>.pid; /proc/<pid>/stat field 22 is the
    start time in clock ticks since boot, /proc/stat's btime the boot time.
    """
    if not _connection.is_local_qemu(uri):
        return None
    dirs = list(pid_dirs)
    if uri.endswith('/session'):
        dirs.insert(0, os.path.join(os.environ.get('XDG_RUNTIME_DIR', '/run/user/%d' % os.getuid()),
                                    'libvirt', 'qemu', 'run'))
    for directory in dirs:
        try:
            with open(os.path.join(directory, '%s.pid' % name)) as handle:
                pid = int(handle.read().strip())
            with open(os.path.join(proc, str(pid), 'stat')) as handle:
                fields = handle.read().rsplit(')', 1)[1].split()
            start_ticks = int(fields[19])  # field 22 overall; fields[0] is field 3 (state)
            with open(os.path.join(proc, 'stat')) as handle:
                btime = [int(line.split()[1]) for line in handle if line.startswith('btime ')][0]
        except (IOError, OSError, ValueError, IndexError):
            continue
        started = btime + start_ticks / float(os.sysconf('SC_CLK_TCK'))
        return max(0, int((now if now is not None else time.time()) - started))
    return None


def domain_info(conn, uri, dom, ip_source='lease', guest_agent=False, host_keys=False, snapshots=False):
    """Facts of one domain, as strata.libvirt.domain reports them, plus run-time facts."""
    name = dom.name()
    facts = domain_facts(read_domain_state(conn, name, dom))
    facts.update(addresses=[], ip_source=None, uptime_seconds=None, agent=None)
    if snapshots:
        facts['snapshots'] = read_snapshots(dom, name)
    for iface in facts['interfaces']:
        iface['addresses'] = []
    if host_keys:
        facts['host_keys'] = hostkeys.not_running()
    if not facts['active']:
        return facts
    facts['uptime_seconds'] = qemu_uptime(name, uri)
    if ip_source != 'none':
        by_mac, error = _addresses(dom, ip_source)
        facts['ip_source'] = ip_source
        if error:
            facts['ip_error'] = error
        for iface in facts['interfaces']:
            iface['addresses'] = (by_mac or {}).get(iface['mac'] or '', [])
            facts['addresses'].extend(iface['addresses'])
    if guest_agent:
        responding, error = agent_ping(dom)
        facts['agent'] = {'responding': responding}
        if error:
            facts['agent']['error'] = error
    if host_keys:
        facts['host_keys'] = hostkeys.host_keys(dom, facts.get('console_log'), _connection.is_local_qemu(uri))
    return facts


def all_info(ctx, doms, query):
    """domain_info of every domain, in their order; side by side when their guest agents are asked."""
    def one(dom):
        return domain_info(ctx.conn, ctx.uri, dom, query['ip_source'], query['guest_agent'], query['host_keys'],
                           query['snapshots'])
    if len(doms) < 2 or not (query['host_keys'] or query['guest_agent']):
        return [one(dom) for dom in doms]
    with ThreadPoolExecutor(max_workers=min(len(doms), AGENT_CALLS)) as pool:
        return list(pool.map(one, doms))


def run_info(module):
    """The domain_info module: connect, select, report. Nothing is changed (check mode is the same)."""
    _connection.require_libvirt(module)
    _xml.require_lxml(module)
    try:
        query = desired_from_params(module.params)
        with _session.module_session(module, hold_lock=False, registry=False) as ctx:
            doms = dict((dom.name(), dom) for dom in _connection.call('list the domains', ctx.conn.listAllDomains, 0))
            owners = []
            for dom_name, dom in doms.items():
                try:
                    owners.append((dom_name, read_domain_state(ctx.conn, dom_name, dom)['owner']))
                except StrataError:
                    continue  # undefined while we looked
            chosen = select(owners, query['names'], query['owned_only'], query['cluster'])
            domains = all_info(ctx, [doms[dom_name] for dom_name in chosen], query)
            missing = sorted(set(query['names'] or []) - set(doms))
    except StrataError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, domains=domains, missing=missing)

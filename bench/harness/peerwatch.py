# -*- coding: utf-8 -*-
# Copyright: strata.libvirt developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the peers phase (peers.py) measures a peer tool with: its commands run bounded and in a session of their
own (run_tool), libvirt watched on a thread while they run (Watch: when each domain first runs, its state, its
address from its network's DHCP leases or static hosts), and the pure parts: a domain's facts from its XML, when a
VM's login wait gives up, the host side of a run, a tool's medians; and what a teardown left."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import xml.etree.ElementTree as ET

import libvirt

from .util import URI, log, median, rnd

POLL_S = 0.25
PAUSED_GIVE_UP_S = 30  # a domain paused this long after it ran does not come back (KVM on kvm_pvm pauses in seconds)
IDLE_GIVE_UP_S = 15    # a domain not running this long after the command that makes it ended never will
STATE_NAMES = (('NOSTATE', 'no state'), ('RUNNING', 'running'), ('BLOCKED', 'blocked'), ('PAUSED', 'paused'),
               ('SHUTDOWN', 'shutting down'), ('SHUTOFF', 'shut off'), ('CRASHED', 'crashed'),
               ('PMSUSPENDED', 'suspended'))
STATES = dict((getattr(libvirt, 'VIR_DOMAIN_' + key), (key, text)) for key, text in STATE_NAMES)


# ---- pure parts


def reason_text(state, reason):
    """libvirt's reason code of a state as a word (VIR_DOMAIN_PAUSED_UNKNOWN -> unknown)."""
    prefix = 'VIR_DOMAIN_%s_' % STATES.get(state, ('?', ''))[0]
    for attr in dir(libvirt):
        if attr.startswith(prefix) and getattr(libvirt, attr) == reason:
            return attr[len(prefix):].lower()
    return str(reason)


def domain_facts(xml):
    """What a domain's XML says that the report wants: its type, machine, CPU mode and NICs [(mac, network)]."""
    root = ET.fromstring(xml)
    ostype = root.find('./os/type')
    cpu = root.find('./cpu')
    nics = []
    for iface in root.findall('./devices/interface'):
        mac, source = iface.find('mac'), iface.find('source')
        if mac is not None:
            nics.append((mac.get('address').lower(), source.get('network') if source is not None else None))
    return {'domain_type': root.get('type'), 'machine': ostype.get('machine') if ostype is not None else None,
            'cpu_mode': cpu.get('mode') if cpu is not None else None, 'nics': nics}


def network_hosts(xml):
    """A network's static DHCP hosts: {mac: ip}."""
    root = ET.fromstring(xml)
    return dict((host.get('mac').lower(), host.get('ip')) for host in root.findall('./ip/dhcp/host')
                if host.get('mac') and host.get('ip'))


def disk_files(xml):
    """Every file a domain's disks use, their backing files included (the live XML lists the backing chain)."""
    root = ET.fromstring(xml)
    return sorted(set(src.get('file') for disk in root.findall('./devices/disk') for src in disk.iter('source')
                      if src.get('file')))


def give_up(info, now, made_at, boot_timeout, bound):
    """Why the login wait of one VM ends without a login, or None to go on. info: the Watch's view of its domain;
    made_at: when the command that makes it ended (None: still running)."""
    running = info.get('running_s')
    if now > bound:
        return 'no SSH login within %d s of the start' % bound
    if running is not None and now - running > boot_timeout:
        return 'no SSH login within %d s of its start (domain %s)' % (boot_timeout, info.get('state'))
    paused = info.get('paused_since')
    if paused is not None and now - paused > PAUSED_GIVE_UP_S:
        return 'its domain is paused (%s) since %.0f s after the start' % (info.get('reason'), paused)
    if running is not None and info.get('state') in ('shut off', 'crashed', 'gone'):
        return 'its domain is %s (%s)' % (info['state'], info.get('reason'))
    if running is None and made_at is not None and now - made_at > IDLE_GIVE_UP_S:
        return 'its domain never ran (%s) after the command that makes it ended' % (
            '%s, %s' % (info['state'], info.get('reason')) if info.get('state') else 'not defined')
    return None


def host_side(vms, launches):
    """The tool's own seconds until every domain ran: from the launch of the command making tier 0 until its
    domains run, then from the gate until the next tier's domains run. The gate is the launch of the command
    making that tier when it has one of its own, else (one command makes both) the bench's SSH login to the last
    VM of the tier before, so the wait for that tier's guests to boot is not counted. None if a domain never ran."""
    total, previous = 0.0, None
    for tier in sorted(set(v['tier'] for v in vms.values())):
        members = [v for v in vms.values() if v['tier'] == tier]
        running = [v.get('running_s') for v in members]
        if None in running:
            return None
        step = members[0]['step']
        if previous is None or previous[0]['step'] != step:
            gate = launches[step]
        else:
            logins = [v.get('ssh_s') for v in previous]
            if None in logins:
                return None
            gate = max(logins)
        total += max(running) - gate
        previous = members
    return rnd(total, 2)


def summarise(entry):
    """A tool's medians, and what went wrong in its runs, one line each. The times are those of its complete runs
    (every VM logged into); the host side of the others, whose guests never got ready, is kept apart (not the
    same job: a KVM guest that pauses at once here, say), teardown and disk are of every run."""
    runs = entry['runs']
    complete = [r for r in runs if r.get('all_ssh_s') is not None]
    incomplete = [r for r in runs if r.get('all_ssh_s') is None]

    def med(key, among, sub=None, digits=2):
        return rnd(median([(r.get(sub) or {}).get(key) if sub else r.get(key) for r in among]), digits)
    entry['all_ssh_s'] = med('all_ssh_s', complete)
    entry['all_running_s'] = med('all_running_s', complete)
    entry['host_side_s'] = med('host_side_s', complete)
    entry['host_side_incomplete_s'] = med('host_side_s', incomplete)
    entry['teardown_s'] = med('wall_s', runs, 'teardown')
    entry['disk_bytes'] = med('total_bytes', runs, 'disk')
    entry['disk_ratio'] = med('ratio', runs, 'disk', 3)
    entry['runs_all_ready'] = len(complete)
    entry['domain_types'] = sorted(set(v.get('domain_type') for r in runs for v in (r.get('vms') or {}).values()
                                       if v.get('domain_type')))
    problems = []
    for r in runs:
        lines = [r['error']] if r.get('error') else []
        lines += ['%s: %s' % (name, v['gave_up']) for name, v in sorted((r.get('vms') or {}).items())
                  if v.get('gave_up')]
        lines += ['%s: %s' % (' '.join(os.path.basename(a) for a in s['argv'][:3]), s.get('ended') or 'rc %s' % s['rc'])
                  for s in r.get('steps', []) + [r.get('teardown') or {}]
                  if s.get('argv') and (s.get('ended') or s.get('rc'))]
        lines += ['left after the teardown: %s' % ', '.join(r['leftovers'])] if r.get('leftovers') else []
        problems += ['run %d: %s' % (r['run'], line) for line in lines]
    entry['problems'] = problems
    return entry


# ---- commands and watching


class Flag:
    """An event with the reason it was set: a VM whose wait gave up ends the command still making its tier."""

    def __init__(self):
        self.event = threading.Event()
        self.reason = None

    def set(self, reason):
        if not self.event.is_set():
            self.reason = reason
            self.event.set()

    def is_set(self):
        return self.event.is_set()


def run_tool(argv, log_path, timeout, env, cwd, abort=None):
    """One command of a peer, its output in log_path, bounded; abort (a Flag) ends it early. It runs in a session
    of its own, so that ending it (TERM, KILL 10 s later) reaches what it started (kcli's ssh, for one)."""
    began = time.monotonic()
    ended = None
    with open(log_path, 'w', encoding='utf-8') as out:
        out.write('$ %s\n' % ' '.join(argv))
        out.flush()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                start_new_session=True)
        try:
            while proc.poll() is None:
                if time.monotonic() - began > timeout:
                    ended = 'ended by the bench after %d s, its bound' % timeout
                    break
                if abort is not None and abort.is_set():
                    ended = 'ended by the bench: %s' % abort.reason
                    break
                time.sleep(0.2)
        finally:
            if proc.poll() is None:
                for sig in (signal.SIGTERM, signal.SIGKILL):
                    try:
                        os.killpg(proc.pid, sig)
                        proc.wait(timeout=10)
                        break
                    except ProcessLookupError:
                        break
                    except subprocess.TimeoutExpired:
                        continue
    with open(log_path, encoding='utf-8', errors='replace') as handle:
        tail = handle.read()[-1500:]
    return {'argv': argv, 'rc': None if ended else proc.returncode, 'ended': ended,
            'wall_s': rnd(time.monotonic() - began, 2), 'log': log_path,
            'tail': tail if ended or proc.returncode else ''}


class Watch:
    """libvirt, polled every POLL_S on a connection of its own while a tool runs: for each expected domain, when it
    was first seen running (or paused after it ran), its state and reason (and since when it is paused), what its
    XML says (domain_facts), and its IPv4 address: the DHCP lease of its MAC on its network, else that network's
    static host for the MAC."""

    def __init__(self, names):
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.info = dict((name, {}) for name in names)
        self.stopped = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self._loop, name='peers-watch', daemon=True)
        self.thread.start()

    def now(self):
        return time.monotonic() - self.t0

    def get(self, name):
        with self.lock:
            return dict(self.info[name])

    def put(self, name, **values):
        with self.lock:
            self.info[name].update(values)

    def stop(self):
        self.stopped.set()
        self.thread.join(timeout=30)

    def _loop(self):
        try:
            conn = libvirt.open(URI)
        except libvirt.libvirtError as exc:
            self.error = str(exc)
            return
        try:
            tick = 0
            while not self.stopped.is_set():
                try:
                    self._sample(conn, tick % 4 == 0)
                except (libvirt.libvirtError, ET.ParseError) as exc:
                    self.error = str(exc)
                tick += 1
                self.stopped.wait(POLL_S)
        finally:
            conn.close()

    def _sample(self, conn, addresses):
        for name in list(self.info):
            now = self.now()
            try:
                dom = conn.lookupByName(name)
                state, reason = dom.state()
                # until its NICs show (virt-lightning attaches them after it defined the domain)
                facts = {} if self.get(name).get('nics') else domain_facts(dom.XMLDesc(0))
            except libvirt.libvirtError:
                with self.lock:
                    if self.info[name].get('defined'):
                        self.info[name]['state'] = 'gone'
                continue
            with self.lock:
                info = self.info[name]
                info.update(facts, defined=True, state=STATES.get(state, ('', str(state)))[1],
                            reason=reason_text(state, reason))
                # paused for another reason than QEMU's start-up, it had run (a KVM guest here pauses within
                # seconds, "paused (unknown)"): it counts as having run from then, if the watch missed it running
                if state == libvirt.VIR_DOMAIN_RUNNING or (state == libvirt.VIR_DOMAIN_PAUSED and
                                                           reason != libvirt.VIR_DOMAIN_PAUSED_STARTING_UP):
                    info.setdefault('running_s', now)
                if state == libvirt.VIR_DOMAIN_PAUSED:
                    info.setdefault('paused_since', now)
                else:
                    info.pop('paused_since', None)
        if addresses:
            self._addresses(conn)

    def _addresses(self, conn):
        with self.lock:
            wanted = dict((mac, name) for name, info in self.info.items() for mac, _net in info.get('nics', []))
            networks = sorted(set(net for info in self.info.values() for _mac, net in info.get('nics', []) if net))
        leased, static = {}, {}
        for net_name in networks:
            try:
                net = conn.networkLookupByName(net_name)
                static.update(network_hosts(net.XMLDesc(0)))
                leases = net.DHCPLeases()
            except libvirt.libvirtError:
                continue
            for lease in sorted(leases, key=lambda x: x.get('expirytime') or 0):
                if lease.get('type') == libvirt.VIR_IP_ADDR_TYPE_IPV4 and lease.get('mac'):
                    leased[lease['mac'].lower()] = lease['ipaddr']
        with self.lock:
            for mac, name in wanted.items():
                ip = leased.get(mac) or static.get(mac)
                if ip:
                    self.info[name]['ip'] = ip


def qemu_log_errors(name, lines=2):
    """The last error lines of a domain's QEMU log (libvirt's default place), for a guest that never answered."""
    path = '/var/log/libvirt/qemu/%s.log' % name
    try:
        with open(path, encoding='utf-8', errors='replace') as handle:
            found = [line.strip() for line in handle if 'error' in line.lower()]
    except OSError:
        return ''
    return ('; QEMU log: ' + ' | '.join(found[-lines:])) if found else ''


def leftovers(conn, prefix, keep_pool=None, keep_volumes=()):
    """What a tool's teardown left of its own: domains, networks, pools (but the one the bench staged its image
    in) and that pool's volumes but the image."""
    found = ['domain ' + d.name() for d in conn.listAllDomains() if d.name().startswith(prefix)]
    found += ['network ' + n.name() for n in conn.listAllNetworks() if n.name().startswith(prefix)]
    for pool in conn.listAllStoragePools():
        if not pool.name().startswith(prefix):
            continue
        if pool.name() != keep_pool:
            found.append('pool ' + pool.name())
        elif pool.isActive():
            pool.refresh(0)
            found += ['volume %s/%s' % (pool.name(), v.name()) for v in pool.listAllVolumes()
                      if v.name() not in keep_volumes]
    return found


def drop_pools(conn, prefix):
    """Stop and undefine the pools the bench defined for the peers, keeping their files (rmtree removes them):
    remove_prefixed would delete the volumes first, and a non-empty upstream/ directory stops it."""
    for pool in conn.listAllStoragePools():
        if pool.name().startswith(prefix):
            try:
                if pool.isActive():
                    pool.destroy()
                pool.undefine()
            except libvirt.libvirtError as exc:
                log('cleanup: pool %s: %s' % (pool.name(), exc))

# -*- coding: utf-8 -*-
# Copyright: strata.libvirt developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The physical limit: VMs made with plain libvirt-python (no collection code), their NoCloud seeds, and the
removal of what the benchmark made (strata-bench-* only)."""

from __future__ import annotations

import json
import os
import shutil
import time

import libvirt

from .util import PREFIX, USER, WORK, BenchError, cpu_seconds, log, make_seed, rnd, run, wait_logins


def seed_files(hostname, pub):
    user_data = '\n'.join([
        '#cloud-config', 'hostname: %s' % hostname, 'fqdn: %s.bench.strata.test' % hostname, 'locale: C.UTF-8',
        'ssh_genkeytypes: [ed25519]', 'users:', '  - name: %s' % USER, '    sudo: ALL=(ALL) NOPASSWD:ALL',
        '    shell: /bin/bash', '    ssh_authorized_keys: [%s]' % json.dumps(pub), ''])
    return {'user-data': user_data,
            'meta-data': 'instance-id: %s-%d\nlocal-hostname: %s\n' % (hostname, time.time() * 1000, hostname)}


def remove_prefixed(conn, prefix):
    """Destroy and undefine domains, networks and pools whose names start with prefix (ours only)."""
    if not prefix.startswith(PREFIX):
        raise BenchError('refusing to remove objects outside %s*' % PREFIX)
    for dom in conn.listAllDomains():
        if dom.name().startswith(prefix):
            try:
                if dom.isActive():
                    dom.destroy()
                dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
            except libvirt.libvirtError as exc:
                log('cleanup: domain %s: %s' % (dom.name(), exc))
    for net in conn.listAllNetworks():
        if net.name().startswith(prefix):
            try:
                if net.isActive():
                    net.destroy()
                net.undefine()
            except libvirt.libvirtError as exc:
                log('cleanup: network %s: %s' % (net.name(), exc))
    for pool in conn.listAllStoragePools():
        if pool.name().startswith(prefix):
            try:
                if pool.isActive():
                    pool.refresh()
                    for vol in pool.listAllVolumes():
                        vol.delete()
                    pool.destroy()
                pool.undefine()
            except libvirt.libvirtError as exc:
                log('cleanup: pool %s: %s' % (pool.name(), exc))


def two_tiers(conn, targets, timeout, key):
    """targets: [(domain, user, ip)], the first one alone in tier 0. Start it with libvirt-python, wait for its SSH
    login, then start the others one after the other and wait for theirs: {'all_ready_s' (from the first start),
    'tier0_s', 'tier1_s' (each from its tier's first start), 'cpu_s' (the bench's start calls and login probes, its
    ssh clients included)}. BenchError when a VM did not answer within timeout."""
    cpu0 = cpu_seconds()
    t0 = time.monotonic()
    conn.lookupByName(targets[0][0]).create()
    tier0 = wait_logins(targets[:1], t0, timeout, key)
    t1 = time.monotonic()
    for target in targets[1:]:
        conn.lookupByName(target[0]).create()
    tier1 = wait_logins(targets[1:], t1, timeout, key) if targets[1:] else {}
    if None in tier0.values() or None in tier1.values():
        raise BenchError('a VM did not answer SSH within %d s: %s %s' % (timeout, tier0, tier1))
    last = max(list(tier1.values()) or [0])
    return {'all_ready_s': rnd((t1 - t0) + last, 2), 'tier0_s': rnd(max(tier0.values()), 2), 'tier1_s': rnd(last, 2),
            'cpu_s': rnd(cpu_seconds() - cpu0, 2)}


class PlainCluster:
    """VMs made with plain libvirt-python (no collection code): the physical limit."""

    def __init__(self, bench, tag, count, octet, memory_mib, tb_cache):
        self.bench = bench
        self.conn = bench.conn
        self.name = PREFIX + tag
        self.dir = os.path.join(WORK, tag)
        self.octet = octet
        self.memory_mib = memory_mib
        self.tb_cache = tb_cache
        self.vms = [{'name': 'vm%d' % i, 'domain': '%s-vm%d' % (self.name, i), 'ip': '10.245.%d.%d' % (octet, 10 + i),
                     'mac': '52:54:00:f5:%02x:%02x' % (octet, 10 + i)} for i in range(count)]

    def network_xml(self):
        hosts = ''.join("      <host mac='%s' name='%s' ip='%s'/>\n" % (v['mac'], v['name'], v['ip']) for v in self.vms)
        return ("<network><name>%s</name><forward mode='nat'/>\n"
                "  <ip address='10.245.%d.1' netmask='255.255.255.0'>\n    <dhcp>\n"
                "      <range start='10.245.%d.100' end='10.245.%d.199'/>\n%s    </dhcp>\n  </ip>\n</network>"
                % (self.name, self.octet, self.octet, self.octet, hosts))

    def domain_xml(self, vm, overlay, seed):
        # the devices of a cluster VM of strata.libvirt.domain (virtio disk and NIC, the seed as a read-only virtio
        # disk, serial log, agent channel, rng) and its disk settings (discard and detect_zeroes unmap)
        return """<domain type='qemu'>
  <name>{d}</name>
  <memory unit='MiB'>{mem}</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type><boot dev='hd'/></os>
  <features><acpi/><apic/><tcg><tb-cache unit='MiB'>{tb}</tb-cache></tcg></features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2' discard='unmap' detect_zeroes='unmap'/>
      <source file='{o}'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{s}'/><target dev='vdb' bus='virtio'/><readonly/></disk>
    <interface type='network'><source network='{n}'/><mac address='{mac}'/><model type='virtio'/></interface>
    <serial type='pty'><log file='{log}' append='off'/><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
  </devices>
</domain>""".format(d=vm['domain'], mem=self.memory_mib, tb=self.tb_cache, o=overlay, s=seed, n=self.name,
                    mac=vm['mac'], log=os.path.join(self.dir, vm['domain'] + '-console.log'))

    def setup(self):
        remove_prefixed(self.conn, self.name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        base = self.bench.floor_base()
        net = self.conn.networkDefineXML(self.network_xml())
        net.create()
        for vm in self.vms:
            overlay = os.path.join(self.dir, vm['domain'] + '.qcow2')
            run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', base, overlay, '4G'], 60)
            seed = os.path.join(self.dir, vm['domain'] + '-seed.iso')
            make_seed(seed, seed_files(vm['name'], self.bench.pub))
            self.conn.defineXML(self.domain_xml(vm, overlay, seed))

    def start(self, vms):
        t0 = time.monotonic()
        for vm in vms:
            self.conn.lookupByName(vm['domain']).create()
        return t0

    def wait(self, vms, t0, timeout):
        return wait_logins([(v['name'], USER, v['ip']) for v in vms], t0, timeout, self.bench.key)

    def shutdown(self, timeout=120):
        """ACPI shutdown of every VM at once; seconds until each is off (None: still running, then destroyed)."""
        doms = dict((vm['name'], self.conn.lookupByName(vm['domain'])) for vm in self.vms)
        t0 = time.monotonic()
        for dom in doms.values():
            if dom.isActive():
                dom.shutdown()
        done = {}
        while len(done) < len(doms) and time.monotonic() - t0 < timeout:
            for name, dom in doms.items():
                if name not in done and not dom.isActive():
                    done[name] = time.monotonic() - t0
            time.sleep(0.2)
        return dict((name, rnd(done.get(name), 2)) for name in doms)

    def teardown(self):
        remove_prefixed(self.conn, self.name)
        shutil.rmtree(self.dir, ignore_errors=True)

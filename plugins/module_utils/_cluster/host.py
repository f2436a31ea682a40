# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The plan against the hypervisor: host_checks' findings (KVM or not, libvirt, memory, disk, tools, Python
libraries, the networks, PCI devices and firmware the VMs use) and the disks smaller than their image.

    probe_needs(plan)                    -> what the probe checks for this plan, its 5th argument
                                            ('network=default,bridge=br-lan,direct=eno1,hostdev=0000:03:00.0,uefi=1')
    findings(plan, probe_lines, options) -> {problems, warnings, virt_type, kvm_usable, memory_total_mib,
                                             memory_available_mib, running, systemd, virt (the probe's facts)}
    small_disks(plan, image_results)     -> one message per VM whose disk is smaller than its image

The probe answers each need with one line, its key the need's kind and its value as given (encoded, see _code):
need_network_<name>=active|inactive[ autostart]|missing, need_bridge_<dev>=bridge|not-a-bridge|missing,
need_direct_<dev>=present|missing, need_hostdev_<address>=free|missing|used:<domain>,..., need_uefi_<kvm|qemu>=yes|no|unknown;
any of them may be error:<reason> instead (the check could not be made).

Private to strata.libvirt; no compatibility promise.
"""

import re

from urllib.parse import unquote

from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.common.text.formatters import bytes_to_human

from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils._cluster.definition import Problems

MIB = 1024 ** 2
# what travels as itself in the probe's argument and keys; any other character is %XX (UTF-8), ',' and '=' included
SAFE_RE = re.compile(r'[A-Za-z0-9._:@+-]')
FIRMWARE_HINT = 'install OVMF (Debian: ovmf, Fedora: edk2-ovmf)'


def memory_problems(problems, vms, host):
    """Memory beyond what the host has, or has available for the VMs that do not run yet."""
    host = host or {}
    total = sum(vm['memory_mib'] or 0 for vm in vms)
    if not host.get('memory_total_mib'):
        return
    if total > int(host['memory_total_mib']):
        problems.add('memory: the VMs ask for %d MiB in all, more than the host has (%d MiB)'
                     % (total, int(host['memory_total_mib'])))
    elif host.get('memory_available_mib') is not None:
        running = set(host.get('running') or [])
        needed = sum(vm['memory_mib'] or 0 for vm in vms if vm['domain'] not in running)
        if needed > int(host['memory_available_mib']):
            problems.add('memory: the VMs not yet running need %d MiB, the host has %d MiB available'
                         % (needed, int(host['memory_available_mib'])))


def vcpu_problems(problems, plan, facts, virt_type):
    """vCPUs beyond what libvirt allows a domain of the cluster's machine type (its domain capabilities) are
    problems; beyond the host's CPUs, a warning (it runs, each vCPU gets a share of a CPU). Returns the warnings."""
    limit = _int(facts.get('max_vcpus_%s' % virt_type))
    cpus = _int(facts.get('host_cpus'))
    warnings = []
    for index, vm in enumerate(plan.get('vms') or []):
        vcpus = _int(vm.get('vcpus'))
        if limit and vcpus > limit:
            problems.add('vms[%d] (%s): vcpus %d is more than libvirt allows a %s domain of machine type %s here (%d)'
                         % (index, vm['name'], vcpus, virt_type, plan.get('machine') or 'default', limit))
        elif cpus and vcpus > cpus:
            warnings.append('vms[%d] (%s): vcpus %d is more than the host has CPUs (%d); the vCPUs share them'
                            % (index, vm['name'], vcpus, cpus))
    return warnings


def parse_probe(lines):
    """The probe script's key=value lines as a dict (other lines are ignored)."""
    facts = {}
    for line in lines or []:
        line = to_text(line)
        if '=' in line:
            key, value = line.split('=', 1)
            facts[key] = value
    return facts


def _kvm(facts):
    """(usable, why not) of KVM on the host."""
    why = []
    if facts.get('cpu_virt') == 'none':
        why.append('no vmx/svm flag in /proc/cpuinfo (no VT-x/AMD-V, or it is disabled in the firmware)')
    if facts.get('kvm_dev') == 'no':
        why.append('/dev/kvm does not exist (kvm module not loaded)')
    if facts.get('kvm_dev') == 'yes' and facts.get('kvm_rw') == 'no':
        why.append('/dev/kvm is not readable and writable')
    if facts.get('kvm_pvm') == 'yes':
        why.append('/dev/kvm comes from the kvm_pvm module (/sys/module/kvm_pvm), which cannot run a stock Linux guest')
    usable = (facts.get('kvm_dev') == 'yes' and facts.get('kvm_rw') == 'yes' and facts.get('kvm_pvm') == 'no'
              and facts.get('cpu_virt') != 'none')
    return usable, '; '.join(why)


def is_remote(uri):
    """Whether a libvirt URI names another machine (qemu+ssh://host/system): the modules and this probe run here and
    reach the hypervisor through libvirt."""
    return bool(uri) and not _connection.is_local(uri)


def _kvm_remote(facts):
    """(usable, why not) of KVM on a hypervisor behind a remote URI, from its libvirt's capabilities."""
    if facts.get('node_kvm') == 'yes':
        return True, ''
    if facts.get('node_kvm') == 'no':
        return False, "its libvirt offers no <domain type='kvm'> (capabilities)"
    return False, 'its libvirt could not be asked'


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _code(text):
    """text as it travels in the probe's argument and in its keys: what SAFE_RE does not match as %XX (UTF-8)."""
    return ''.join(c if SAFE_RE.match(c) else ''.join('%%%02X' % b for b in c.encode('utf-8')) for c in to_text(text))


def _hostdevs(vm):
    """The VM's PCI addresses as the probe is asked about them (lower case: libvirt's node device names are)."""
    return [to_text(address).strip().lower() for address in vm.get('hostdevs') or [] if address]


def probe_needs(plan):
    """What the probe checks for this plan (its 5th argument): kind=value items joined by ',', each once, in the
    plan's order. Networks of ours need nothing (the cluster makes them); a plan without networks, hostdevs or
    firmware (an older one) needs nothing."""
    needs = []
    for net in plan.get('networks') or []:
        if net.get('kind') in ('network', 'bridge', 'direct') and net.get('source'):
            needs.append('%s=%s' % (net['kind'], _code(net['source'])))
    for vm in plan.get('vms') or []:
        needs.extend('hostdev=' + _code(address) for address in _hostdevs(vm))
    if any(vm.get('firmware') == 'uefi' for vm in plan.get('vms') or []):
        needs.append('uefi=1')
    return ','.join(sorted(set(needs), key=needs.index))


def _need(facts, kind, value):
    """The probe's answer to one need (None when it did not answer), error:<reason> split off."""
    answer = facts.get('need_%s_%s' % (kind, _code(value)))
    if answer is not None and answer.startswith('error:'):
        return 'error', answer[len('error:'):].strip()
    return answer, None


def network_problems(problems, plan, facts):
    """The external networks against the host: the libvirt network, the bridge or the interface. Returns the warnings."""
    uri = facts.get('libvirt_uri') or plan.get('uri') or 'the default URI'
    warnings = []
    for net in plan.get('networks') or []:
        kind, source = net.get('kind'), to_text(net.get('source') or '')
        if kind not in ('network', 'bridge', 'direct') or not source:
            continue
        answer, reason = _need(facts, kind, source)
        label = "network '%s'" % net.get('name')
        if kind != 'network':
            label += ' (%s %s)' % (kind, source)
        elif source != net.get('name'):
            label += ' (libvirt network %s)' % source
        if answer == 'error':
            warnings.append('%s: not checked: %s' % (label, reason))
        elif kind != 'network' and is_remote(facts.get('libvirt_uri') or plan.get('uri')):
            # the probe looked at this machine's devices; the hypervisor's are behind its URI
            warnings.append('%s: not checked: the %s is on the host behind %s, which libvirt does not describe'
                            % (label, 'bridge' if kind == 'bridge' else 'interface', uri))
        elif kind == 'network' and answer == 'missing':
            problems.add('%s: there is no libvirt network %s at %s (an external network must exist)' % (label, source, uri))
        elif kind == 'network' and answer is not None and 'inactive' in answer.split():
            if net.get('ensure_active'):
                warnings.append('%s: the libvirt network %s is not active; provision starts it and sets autostart'
                                ' (ensure_active: true)' % (label, source))
            else:
                problems.add('%s: the libvirt network %s is not active; start it or set ensure_active: true' % (label, source))
        elif kind == 'bridge' and answer == 'missing':
            problems.add('%s: there is no device %s on this host' % (label, source))
        elif kind == 'bridge' and answer == 'not-a-bridge':
            problems.add('%s: %s is not a bridge on this host (direct: %s puts a macvtap on it)' % (label, source, source))
        elif kind == 'direct' and answer == 'missing':
            problems.add('%s: there is no interface %s on this host' % (label, source))
    return warnings


def device_problems(problems, plan, facts, virt_type):
    """The VMs' PCI devices (they exist, no other domain holds them) and their EFI firmware. Returns the warnings."""
    vms = plan.get('vms') or []
    ours = set(vm.get('domain') for vm in vms)
    warnings = []
    for index, vm in enumerate(vms):
        where = 'vms[%d] (%s)' % (index, vm.get('name'))
        for address in _hostdevs(vm):
            answer, reason = _need(facts, 'hostdev', address)
            if answer == 'error':
                warnings.append('%s: hostdev %s not checked: %s' % (where, address, reason))
            elif answer == 'missing':
                problems.add('%s: hostdev %s does not exist on this host' % (where, address))
            elif answer is not None and answer.startswith('used:'):
                others = [unquote(name) for name in answer[len('used:'):].split(',') if name and unquote(name) not in ours]
                if others:
                    problems.add('%s: hostdev %s is used by domain%s %s'
                                 % (where, address, 's' if len(others) > 1 else '', ', '.join(others)))
    uefi = ', '.join('vms[%d] (%s)' % (index, vm.get('name')) for index, vm in enumerate(vms) if vm.get('firmware') == 'uefi')
    answer, reason = _need(facts, 'uefi', virt_type)
    if uefi and answer in ('no', 'unknown', 'error'):
        what = ('libvirt at %s %%s EFI firmware for a %s domain of machine type %s'
                % (facts.get('libvirt_uri') or plan.get('uri') or 'the default URI', virt_type, plan.get('machine') or 'default'))
        if answer == 'no':
            problems.add('firmware uefi: %s: %s; %s' % (uefi, what % 'offers no', FIRMWARE_HINT))
        else:
            warnings.append('firmware uefi: %s: not checked whether %s: %s'
                            % (uefi, what % 'offers', reason or 'no domain capabilities'))
    return warnings


def findings(plan, probe_lines, options=None):
    """What host_checks reports: the plan's problems and the host's, warnings, and the virtualisation type to use."""
    options = options or {}
    facts = parse_probe(probe_lines)
    wanted = plan.get('virt_type') or 'kvm'
    remote = is_remote(facts.get('libvirt_uri') or plan.get('uri'))
    kvm_usable, kvm_why = _kvm_remote(facts) if remote else _kvm(facts)
    running = [name for name in (facts.get('running') or '').split(',') if name]
    host = {'memory_total_mib': _int(facts.get('mem_total_kb')) // 1024,
            'memory_available_mib': _int(facts.get('mem_available_kb')) // 1024, 'running': running}
    if remote:  # the probe ran on the controller: the hypervisor's own figures come from its libvirt
        host.update(memory_total_mib=_int(facts.get('node_memory_kb')) // 1024,
                    memory_available_mib=_int(facts.get('node_free_kb')) // 1024)
    problems = Problems()
    for text in plan.get('problems') or []:
        problems.add(text)
    if wanted == 'kvm' and not kvm_usable:
        problems.add('virt_type kvm: this host cannot run KVM guests: %s. Set virt_type: qemu (emulation) or auto.' % kvm_why)
    libvirt_error = facts.get('libvirt_error', 'no answer')
    if libvirt_error:
        problems.add('libvirt: cannot connect to %s: %s'
                     % (facts.get('libvirt_uri') or plan.get('uri') or 'the default URI', libvirt_error))
    if plan.get('vms') and (plan.get('placed') or not plan.get('multi_host')):  # else the placement weighs memory
        memory_problems(problems, plan['vms'], host)
    virt_type = wanted if wanted in ('kvm', 'qemu') else ('kvm' if kvm_usable else 'qemu')
    warnings = vcpu_problems(problems, plan, facts, virt_type)
    if not libvirt_error:  # else the libvirt problem says why nothing could be checked
        warnings += network_problems(problems, plan, facts)
        warnings += device_problems(problems, plan, facts, virt_type)
    pool_path = (plan.get('pool') or {}).get('path')
    disk_avail = _int(facts.get('disk_avail_mb'))
    minimum = _int(options.get('min_free_disk_mb'))
    if remote:
        warnings.append('libvirt URI %s names another machine: its CPUs, memory and KVM were read through its libvirt '
                        '(host %s); the free disk of its pool is not checked'
                        % (facts.get('libvirt_uri') or plan.get('uri'), facts.get('node_hostname') or 'unknown'))
    elif disk_avail < minimum:
        problems.add('disk: %s has %s MiB free, less than host_checks_min_free_disk_mb=%s MiB (for the pool %s)'
                     % (facts.get('disk_path'), facts.get('disk_avail_mb'), minimum, pool_path))
    if not facts.get('qemu_img'):
        problems.add('tools: qemu-img is not installed on the hypervisor (Debian: qemu-utils, Fedora: qemu-img)')
    if not facts.get('ssh'):
        problems.add('tools: the ssh client is not installed on the hypervisor (the ssh readiness probes use it)')
    if facts.get('python_missing'):
        problems.add('python: %s on the hypervisor cannot import %s (Debian: python3-libvirt python3-lxml python3-pycdlib;'
                     ' or pip install libvirt-python lxml pycdlib)' % (options.get('python') or 'python3', facts['python_missing']))
    if wanted == 'auto' and not kvm_usable:
        warnings.append('virt_type auto: KVM is not usable here (%s); the VMs run under QEMU emulation (TCG), much slower.'
                        % kvm_why)
    if wanted == 'qemu':
        warnings.append('virt_type qemu: the VMs run under emulation (TCG); KVM %s'
                        % ('would work here' if kvm_usable else 'is not usable here: ' + kvm_why))
    disk_needed = (plan.get('disk_bytes') or 0) // MIB if not plan.get('problems') else 0
    if disk_needed > disk_avail and not remote:
        warnings.append('disk: %s has %s MiB free; the VM disks (thin overlays) may grow to %d MiB in all'
                        % (facts.get('disk_path'), facts.get('disk_avail_mb'), disk_needed))
    return {
        'problems': problems.items,
        'warnings': warnings,
        'virt_type': virt_type,
        'kvm_usable': kvm_usable,
        'memory_total_mib': host['memory_total_mib'],
        'memory_available_mib': host['memory_available_mib'],
        'running': running,
        'systemd': facts.get('systemd') == 'yes',
        'virt': facts,
    }


def small_disks(plan, image_results):
    """One message per VM whose disk is smaller than its image's virtual size (image_results: label -> the
    strata.libvirt.image result)."""
    out = []
    for vm in plan.get('vms') or []:
        size = _int(((image_results or {}).get(vm['image']) or {}).get('virtual_size'))
        if size and _int(vm.get('disk_bytes')) < size:
            disk = bytes_to_human(_int(vm.get('disk_bytes')))
            out.append('%s (%s < %s of %s)' % (vm['name'], disk, bytes_to_human(size), vm['image']))
    return out

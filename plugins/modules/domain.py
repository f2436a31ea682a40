#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


DOCUMENTATION = r'''
module: domain
short_description: Manage libvirt domains (virtual machines) declaratively
version_added: 0.1.0
description:
  - Defines, updates, starts, stops and removes a libvirt domain.
  - Only the settings you give are compared with the domain's persistent definition. What libvirt generates
    (UUID, MAC addresses it assigned, PCI addresses, controllers, aliases, the versioned machine name of an
    alias such as V(q35), memory units) never counts as a difference, so a second run reports no change.
  - A changed definition is written by redefining the domain with its existing UUID, editing the current
    definition, so settings you do not manage (and devices you did not list) are kept.
  - A running domain whose definition changed keeps running and the module returns RV(restart_required=true),
    or restarts it (graceful stop, then start) when O(restart=true).
  - V(stopped) asks the guest for an ACPI shutdown, waits O(shutdown_timeout) seconds, then forces it off, and
    returns which of the two happened in RV(stop).
  - V(absent) stops the domain the same way, removes its managed save image, the metadata of its snapshots and
    checkpoints, its NVRAM file, undefines it and, with O(remove_volumes=true), deletes the storage volumes
    of its disks that strata.libvirt owns.
  - The domain is marked as created by strata.libvirt (C(<metadata>) in its XML). A domain of the same name
    without that mark is neither modified nor removed unless O(adopt=true).
author:
  - strata.libvirt contributors (@strata-libvirt)
extends_documentation_fragment:
  - strata.libvirt.connection
  - strata.libvirt.attributes
  - strata.libvirt.attributes.planner
  - strata.libvirt.attributes.actiongroup_libvirt
  - strata.libvirt.items
options:
  name:
    description:
      - Name of the domain (letters, digits, V(.), V(_) and V(-)).
      - Required, here or in each item of O(items).
    type: str
  state:
    description:
      - V(present) defines or updates the domain and leaves it running or shut off as it is (a new domain is
        defined shut off).
      - V(running) also starts it (or resumes it when paused).
      - V(stopped) also stops it, gracefully first (see O(shutdown_timeout)).
      - V(absent) stops and removes it (see the description); nothing to do when it does not exist.
    type: str
    choices: [present, running, stopped, absent]
    default: present
  autostart:
    description: Start the domain when libvirtd starts. Not set leaves it as it is (a new domain gets off).
    type: bool
  type:
    description:
      - Virtualisation type. V(kvm) needs hardware virtualisation; V(qemu) is pure emulation (TCG).
      - libvirt advertises V(kvm) even on hosts whose C(/dev/kvm) cannot run guests (for example a
        C(kvm_pvm) host), so choose explicitly there.
      - Not set, a new domain gets V(kvm) and an existing one keeps its type.
    type: str
    choices: [kvm, qemu]
  memory:
    description:
      - Memory of the guest. A plain number is MiB; a string may carry a unit, for example V(512M), V(2G),
        V(1536MiB) (K/M/G/T are powers of 1024, KB/MB/GB/TB of 1000).
      - Sets both the maximum and the current memory. Must be more than 0.
      - Required to create a domain.
    type: raw
  vcpus:
    description:
      - Number of virtual CPUs, more than 0.
      - Not set, the product of the CPU topology when O(cpu) gives one, else a new domain gets 1.
    type: int
  cpu:
    description:
      - CPU model and topology the guest sees. Not set leaves it to libvirt (a new domain has no C(<cpu>) element).
      - The topology is O(cpu.sockets), O(cpu.cores) and O(cpu.threads). Given one of them, the others default to 1,
        and libvirt gets C(<topology sockets=S dies=1 cores=C threads=T/>). Their product is the number of vCPUs, so
        it must equal O(vcpus), and is the vCPU count when O(vcpus) is not given.
      - None of the three given leaves the topology as it is (also when O(cpu.mode) changes).
      - A change of the topology changes the definition; a running domain reports RV(restart_required).
    type: dict
    suboptions:
      mode:
        description:
          - V(host-passthrough), V(host-model), V(maximum), or V(custom) with O(cpu.model).
          - Not set means V(custom) when O(cpu.model) is given, else V(host-model).
        type: str
        choices: [host-passthrough, host-model, custom, maximum]
      model:
        description: CPU model name for O(cpu.mode=custom), for example V(Skylake-Server).
        type: str
      sockets:
        description: Number of CPU sockets, 1 or more. Not set, 1 when O(cpu.cores) or O(cpu.threads) is given.
        type: int
      cores:
        description: Cores per socket, 1 or more. Not set, 1 when O(cpu.sockets) or O(cpu.threads) is given.
        type: int
      threads:
        description: Threads per core, 1 or more. Not set, 1 when O(cpu.sockets) or O(cpu.cores) is given.
        type: int
  machine:
    description:
      - Machine type, for example V(q35) or V(pc). libvirt stores the versioned name of an alias
        (C(pc-q35-7.2)); that counts as the same machine.
      - Not set, libvirt chooses for a new domain.
    type: str
  firmware:
    description:
      - V(bios) (SeaBIOS) or V(uefi).
      - V(uefi) without O(uefi_loader) uses libvirt's firmware autoselection (C(<os firmware='efi'>)), which
        picks an OVMF build and its NVRAM template from the QEMU firmware descriptors.
      - Not set leaves the firmware as it is (a new domain gets BIOS).
    type: str
    choices: [bios, uefi]
  secure_boot:
    description:
      - With O(firmware=uefi) and libvirt's autoselection, V(true) asks for an OVMF build with Secure Boot and
        enrolled keys, V(false) for one without Secure Boot (boots unsigned boot loaders).
      - Not set, libvirt picks the first descriptor that fits, which on Debian is the Secure Boot build with
        Microsoft's keys enrolled.
      - libvirt resolves the selection when it defines the domain; the choice is compared with the loader it chose.
    type: bool
  uefi_loader:
    description:
      - Path of the UEFI code on the hypervisor, for example V(/usr/share/OVMF/OVMF_CODE_4M.fd) (Debian's
        C(ovmf) package). Only with O(firmware=uefi).
    type: path
  uefi_nvram_template:
    description:
      - Path of the NVRAM template, for example V(/usr/share/OVMF/OVMF_VARS_4M.fd). libvirt copies it to the
        domain's own NVRAM file. Only with O(uefi_loader).
    type: path
  tcg_tb_cache:
    description:
      - Size in MiB of QEMU's TCG translation block cache (C(<features><tcg><tb-cache>)); only for O(type=qemu).
      - QEMU's default of 1 GiB makes every emulated guest about 0.9 GB bigger in host memory; V(128) is
        enough for a small Linux guest.
    type: int
  disks:
    description:
      - The disks of the domain. When given, the list is authoritative (disks not listed are detached from the
        definition, their volumes kept); V([]) removes all; not set leaves them alone.
      - A disk is identified by its target; a disk that did not change keeps its element (address, cache
        settings and so on).
      - A volume (or file) that does not exist is an error before any change.
    type: list
    elements: dict
    suboptions:
      volume:
        description: Storage volume, V(name) with O(disks[].pool), or V(pool/name).
        type: str
      pool:
        description: Storage pool of O(disks[].volume).
        type: str
      file:
        description: Absolute path of an image file on the hypervisor (instead of a volume).
        type: path
      device:
        description: V(disk) or V(cdrom) (read-only, may have no source).
        type: str
        choices: [disk, cdrom]
        default: disk
      bus:
        description: Bus of the disk. Default V(virtio) for disks, V(sata) for cdroms.
        type: str
        choices: [virtio, sata, scsi, ide]
      target:
        description:
          - Device name in the guest's definition, for example V(vda). Not set, the next free name of the
            bus in list order (V(vda), V(vdb), ...; V(sda), ...; V(hda), ...).
        type: str
      format:
        description:
          - Image format. Not set, the volume's format (or the file's, recognised by its header).
          - A cdrom defaults to V(raw).
        type: str
        choices: [qcow2, raw]
      readonly:
        description: Attach read-only (a cdrom always is).
        type: bool
        default: false
      discard:
        description:
          - What happens to blocks the guest frees or writes as zeros, for a writable disk.
          - Not set, V(unmap) for a writable disk. It sets libvirt's C(discard=unmap) and C(detect_zeroes=unmap),
            so the guest's discard (TRIM) requests and zeroed blocks leave the image instead of taking space and a
            copy-on-write overlay stays thin (a freshly booted cloud image that grows its file system writes
            tens of MiB of zeroed inode tables otherwise).
          - V(ignore) leaves both attributes out (libvirt's default); every written block is stored.
          - Read-only disks and cdroms have no such setting.
        type: str
        choices: [unmap, ignore]
  interfaces:
    description:
      - Network interfaces, in guest order. When given, the list is authoritative; not set leaves them alone.
      - Interfaces are compared by position. A MAC address libvirt assigned is kept, also when the
        interface at that position is changed; O(interfaces[].mac) sets it.
      - An unknown libvirt network is an error before any change.
    type: list
    elements: dict
    suboptions:
      network:
        description: Name of a libvirt network.
        type: str
      bridge:
        description: Name of a host bridge.
        type: str
      direct:
        description: Name of a host interface for a macvtap (C(type='direct')) interface.
        type: str
      mode:
        description: macvtap mode of a O(interfaces[].direct) interface.
        type: str
        choices: [bridge, vepa, private, passthrough]
      mac:
        description: MAC address. Not set, libvirt assigns one (and it is not a difference later).
        type: str
      model:
        description: Device model, for example V(virtio) or V(e1000e).
        type: str
        default: virtio
  serial_console:
    description:
      - A serial port on a pseudo terminal, the guest's console (C(virsh console)).
      - Not set, a new domain gets one, an existing one is left as it is.
    type: bool
  console_log:
    description:
      - Absolute path of a file on the hypervisor that receives everything the guest writes to its serial
        console (virtlogd appends to it). Implies the serial console. V('') removes the log.
      - virtlogd creates the file but not its directory, so when the hypervisor is this host (a V(qemu) URI
        without a host name) a missing directory is created (mode 0755) before the domain starts, and the
        task reports it as a change. On a remote hypervisor the directory must exist there.
    type: path
  guest_agent:
    description:
      - The virtio channel of the QEMU guest agent (C(org.qemu.guest_agent.0)).
      - Not set, a new domain gets it, an existing one is left as it is.
    type: bool
  rng:
    description:
      - A virtio random number generator fed by the host's C(/dev/urandom).
      - Not set, a new domain gets it, an existing one is left as it is.
    type: bool
  graphics:
    description:
      - V(none) means no graphics device at all (there is no valid C(<graphics type='none'>) in libvirt).
        V(vnc) and V(spice) listen on 127.0.0.1 with an automatic port.
      - Not set, a new domain gets V(none), an existing one is left as it is.
    type: str
    choices: [none, vnc, spice]
  hostdevs:
    description:
      - PCI devices of the host passed to the guest, by address (V(0000:03:00.0)); libvirt detaches them
        from the host while the guest runs (C(managed='yes')). Authoritative when given.
    type: list
    elements: str
  xml:
    description:
      - Escape hatch, a complete C(<domain>) definition instead of the structured options.
      - Compared semantically with the persistent definition, as a subset. Every attribute and element you
        give must match, repeated elements in any order; memory units are converted, a machine alias matches
        its versioned name, and controllers or input devices libvirt adds by itself do not count.
      - When it differs, the domain is redefined from it (existing UUID and ownership mark added).
      - Parsed with entity resolution off; a DOCTYPE is refused.
    type: str
  restart:
    description:
      - Restart a running domain when its definition changed (also by an earlier run), instead of
        returning RV(restart_required=true). The restart is a graceful stop as for V(stopped), then a start.
    type: bool
    default: false
  shutdown_timeout:
    description:
      - Seconds to wait for the guest to power off after the ACPI shutdown request before forcing it off.
      - V(0) forces it off at once.
    type: int
    default: 120
  remove_volumes:
    description:
      - With O(state=absent), also delete the storage volumes of the domain's disks that strata.libvirt owns
        (created by M(strata.libvirt.volume) or adopted, see the ownership registry).
      - Volumes that are not owned, belong to another O(cluster), or are used by another domain are kept,
        with a warning. Plain files that are no volume are never deleted.
    type: bool
    default: false
  remove_console_log:
    description:
      - With O(state=absent), also delete the file of the domain's serial console log (the C(<log file>) of its
        definition, see O(console_log)), when it is a file on the host the module runs on and the URI is that
        host's QEMU; a remote hypervisor's log is left alone.
    type: bool
    default: false
notes:
  - The definition compared and changed is the persistent one (C(VIR_DOMAIN_XML_INACTIVE)). Whether a restart
    is required is judged by comparing the wanted settings with the running domain's live definition.
  - A stop is reported in RV(stop). The guest must handle ACPI (a new domain has C(<acpi/>)); a paused or
    crashed guest is forced off at once.
seealso:
  - module: strata.libvirt.domain_info
  - module: strata.libvirt.volume
  - module: strata.libvirt.network
'''

EXAMPLES = r'''
- name: A guest booting from a copy-on-write overlay, running
  strata.libvirt.domain:
    name: web1
    state: running
    type: kvm
    memory: 2G
    vcpus: 2
    cpu:
      mode: host-passthrough
      sockets: 1
      cores: 2
      threads: 1
    disks:
      - volume: vms/web1.qcow2
      - volume: vms/web1-seed.iso
        device: cdrom
    interfaces:
      - network: strata-lab
        mac: "52:54:00:f0:01:01"
    console_log: /var/log/libvirt/qemu/web1-console.log
    autostart: true
    cluster: lab

- name: An emulated (TCG) guest on a host without usable KVM, with a small translation cache
  strata.libvirt.domain:
    name: ci1
    state: running
    type: qemu
    memory: 512
    tcg_tb_cache: 128
    disks:
      - file: /var/lib/libvirt/images/ci1.qcow2
    interfaces:
      - network: default

- name: UEFI with an explicit OVMF build and NVRAM template
  strata.libvirt.domain:
    name: efi1
    memory: 1G
    firmware: uefi
    uefi_loader: /usr/share/OVMF/OVMF_CODE_4M.fd
    uefi_nvram_template: /usr/share/OVMF/OVMF_VARS_4M.fd
    disks:
      - volume: vms/efi1.qcow2

- name: More memory; applied at the next restart, which happens now
  strata.libvirt.domain:
    name: web1
    memory: 4G
    restart: true
    shutdown_timeout: 60

- name: Stop gracefully and show how
  strata.libvirt.domain:
    name: web1
    state: stopped
  register: stopped

- name: Report
  ansible.builtin.debug:
    msg: "{{ stopped.stop.method | default('already off') }} in {{ stopped.stop.seconds | default(0) }} s"

- name: Three guests in one run (faster than a loop); the options beside items are every item's defaults
  strata.libvirt.domain:
    state: running
    memory: 2G
    vcpus: 2
    interfaces:
      - network: strata-lab
    guest_agent: true
    items:
      - name: web1
        disks: [{volume: strata-lab/web1.qcow2}]
      - name: web2
        disks: [{volume: strata-lab/web2.qcow2}]
      - name: db1
        memory: 8G
        disks: [{volume: strata-lab/db1.qcow2}]

- name: Remove the guest, its NVRAM and the volumes we created for it
  strata.libvirt.domain:
    name: web1
    state: absent
    remove_volumes: true
'''

RETURN = r'''
changed:
  description: Whether anything was (or, in check mode, would be) changed.
  returned: always
  type: bool
actions:
  description: What was done, or in check mode would be done, in order.
  returned: always
  type: list
  elements: str
  sample:
    - "redefine domain 'web1' (memory, vcpus)"
    - "stop domain 'web1' (ACPI shutdown, forced off after 120s)"
diff:
  description:
    - The compared settings before and after (also returned without diff mode).
    - With O(items), a list of these, one per item.
  returned: always
  type: raw
  sample: {before: {memory: 2 GiB, state: running}, after: {memory: 4 GiB, state: running}}
results:
  description: With O(items), one entry per item, in order, with the keys of a single run and C(item).
  returned: when O(items) is given
  type: list
  elements: dict
restart_required:
  description: The running domain differs from its persistent definition in what was asked; a restart applies it.
  returned: unless O(items) is given
  type: bool
stop:
  description: How the domain was stopped (by O(state=stopped), O(state=absent) or O(restart=true)).
  returned: when the domain was stopped, outside check mode
  type: dict
  contains:
    method:
      description: V(acpi) (the guest powered off), V(forced) (forced off), or V(none) (it was already off).
      type: str
    seconds:
      description: Seconds from the request until the domain was off.
      type: float
    reason:
      description: Why it was forced off.
      type: str
      returned: when RV(stop.method=forced)
  sample: {method: acpi, seconds: 4.6}
domain:
  description: The domain after the task (in check mode, as it is now).
  returned: unless O(items) is given
  type: dict
  contains:
    name:
      description: Name.
      type: str
    exists:
      description: Whether the domain exists.
      type: bool
    uuid:
      description: UUID.
      type: str
    id:
      description: ID of the running domain.
      type: int
    state:
      description: V(running), V(idle), V(paused), V(in shutdown), V(shut off), V(crashed) or V(pmsuspended).
      type: str
    active:
      description: Whether it is running (or paused).
      type: bool
    persistent:
      description: Whether it has a persistent definition.
      type: bool
    autostart:
      description: Whether it starts with libvirtd.
      type: bool
    ownership:
      description: The strata ownership mark, V(owned) and V(cluster).
      type: dict
    type:
      description: Virtualisation type.
      type: str
    memory_mib:
      description: Memory in MiB.
      type: int
    current_memory_mib:
      description: Current (balloon) memory in MiB.
      type: int
    vcpus:
      description: Number of vCPUs.
      type: int
    cpu:
      description:
        - CPU V(mode) and V(model), and the topology V(sockets), V(dies), V(cores) and V(threads) (all null when the
          definition has no C(<topology>)). Null when the definition has no C(<cpu>).
      type: dict
    machine:
      description: Machine type as stored by libvirt.
      type: str
    arch:
      description: Guest architecture.
      type: str
    firmware:
      description: V(bios) or V(uefi).
      type: str
    nvram:
      description: Path of the NVRAM file (UEFI).
      type: str
    tcg_tb_cache:
      description: TCG translation cache in MiB.
      type: int
    disks:
      description: Disks (target, bus, device, source, format, readonly).
      type: list
      elements: dict
    interfaces:
      description: Interfaces (type, source, mac, model).
      type: list
      elements: dict
    serial_console:
      description: Whether it has a serial console.
      type: bool
    console_log:
      description: Log file of the serial console.
      type: str
    guest_agent:
      description: Whether it has the guest agent channel.
      type: bool
    rng:
      description: Whether it has a random number generator.
      type: bool
    graphics:
      description: Graphics type, V(none) when there is none.
      type: str
    hostdevs:
      description: PCI host devices.
      type: list
      elements: str
    xml:
      description: The persistent XML definition.
      type: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.strata.libvirt.plugins.module_utils._batch import module_spec
from ansible_collections.strata.libvirt.plugins.module_utils._domain.spec import argument_spec
from ansible_collections.strata.libvirt.plugins.module_utils._domain.resource import run


def main():
    module = AnsibleModule(argument_spec=module_spec(argument_spec()), supports_check_mode=True)
    run(module)


if __name__ == '__main__':
    main()

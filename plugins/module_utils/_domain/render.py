# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Settings -> domain XML: the current definition edited so that nothing the user did not mention is lost,
or a new domain. Pure (no libvirt).

Private to strata.libvirt; no compatibility promise.
"""

from ansible_collections.strata.libvirt.plugins.module_utils import _xml
from ansible_collections.strata.libvirt.plugins.module_utils._domain.compare import iface_same
from ansible_collections.strata.libvirt.plugins.module_utils._domain.settings import (
    CONFIG_KEYS, GUEST_AGENT_CHANNEL, TOPOLOGY_KEYS, disk_settings, hostdev_address, interface_settings)


def _devices(root):
    return _xml.child(root, 'devices', create=True)


def _os(root):
    os_elem = root.find('os')
    if os_elem is None:
        os_elem = _xml.new_element('os')
        _xml.sub_element(os_elem, 'type', text='hvm')
        anchor = root.find('vcpu')
        if anchor is not None:
            anchor.addnext(os_elem)
        else:
            root.append(os_elem)
    if os_elem.find('type') is None:
        os_elem.insert(0, _xml.new_element('type', text='hvm'))
    return os_elem


def _set_memory(root, value):
    for tag in ('memory', 'currentMemory'):
        elem = root.find(tag)
        if elem is None:
            elem = _xml.new_element(tag)
            anchor = root.find('memory') if tag == 'currentMemory' else None
            for candidate in ('metadata', 'uuid', 'name'):
                if anchor is None:
                    anchor = root.find(candidate)
            anchor.addnext(elem)
        elem.attrib.clear()
        elem.set('unit', 'KiB')
        elem.text = str(value // 1024)


def _set_vcpus(root, value):
    vcpu = root.find('vcpu')
    if vcpu is None:
        vcpu = _xml.new_element('vcpu')
        (root.find('currentMemory') if root.find('currentMemory') is not None else root.find('name')).addnext(vcpu)
    if 'current' in vcpu.attrib:
        del vcpu.attrib['current']
    vcpu.set('placement', vcpu.get('placement', 'static'))
    vcpu.text = str(value)


def _set_cpu(root, value):
    cpu = root.find('cpu')
    topology = None
    if cpu is None or cpu.get('mode', 'custom') != value['mode']:
        if cpu is not None:
            topology = cpu.find('topology')  # another mode keeps the topology unless a new one is given
            root.remove(cpu)
        cpu = _xml.new_element('cpu', {'mode': value['mode']})
        _os(root).addnext(cpu)
    if value.get('model'):
        model = _xml.child(cpu, 'model', create=True)
        model.text = value['model']
        if cpu.get('mode') == 'custom':
            cpu.set('match', cpu.get('match', 'exact'))
            model.set('fallback', model.get('fallback', 'forbid'))
    if value.get('sockets') is not None:
        topology = _xml.new_element('topology', dict((key, value[key]) for key in TOPOLOGY_KEYS))
    if topology is not None:
        _set_topology(cpu, topology)


def _set_topology(cpu, topology):
    """Put <topology> where libvirt writes it: after <model> and <vendor>, before the cache, features and NUMA."""
    _xml.remove_children(cpu, 'topology')
    anchors = [elem for elem in cpu if elem.tag in ('model', 'vendor')]
    if anchors:
        anchors[-1].addnext(topology)
    else:
        cpu.insert(0, topology)


def _set_firmware(root, value):
    os_elem = _os(root)
    _xml.remove_children(os_elem, 'loader')
    _xml.remove_children(os_elem, 'nvram')
    _xml.remove_children(os_elem, 'firmware')
    if 'firmware' in os_elem.attrib:
        del os_elem.attrib['firmware']
    if value['firmware'] != 'uefi':
        return
    if not value.get('loader'):
        os_elem.set('firmware', 'efi')  # libvirt's firmware autoselection (qemu firmware descriptors)
        if value.get('secure_boot') is not None:
            wanted = 'yes' if value['secure_boot'] else 'no'
            firmware = _xml.sub_element(os_elem, 'firmware')
            _xml.sub_element(firmware, 'feature', {'enabled': wanted, 'name': 'secure-boot'})
            _xml.sub_element(firmware, 'feature', {'enabled': wanted, 'name': 'enrolled-keys'})
        return
    anchor = os_elem.find('type')
    loader = _xml.new_element('loader', {'readonly': 'yes', 'type': 'pflash'}, text=value['loader'])
    anchor.addnext(loader)
    if value.get('nvram_template'):
        loader.addnext(_xml.new_element('nvram', {'template': value['nvram_template']}))


def _set_tb_cache(root, value):
    features = root.find('features')
    if features is None:
        features = _xml.new_element('features')
        _xml.sub_element(features, 'acpi')
        _xml.sub_element(features, 'apic')
        anchor = root.find('cpu') if root.find('cpu') is not None else _os(root)
        anchor.addnext(features)
    tcg = _xml.child(features, 'tcg', create=True)
    _xml.remove_children(tcg, 'tb-cache')
    _xml.sub_element(tcg, 'tb-cache', {'unit': 'MiB'}, text=value)


def disk_element(disk):
    dtype = 'volume' if disk['source'] and 'volume' in disk['source'] else 'file'
    elem = _xml.new_element('disk', {'type': dtype, 'device': disk['device']})
    driver = {'name': 'qemu', 'type': disk['format']}
    if disk.get('discard') == 'unmap':
        driver.update(discard='unmap', detect_zeroes='unmap')
    _xml.sub_element(elem, 'driver', driver)
    if disk['source']:
        _xml.sub_element(elem, 'source', disk['source'])
    _xml.sub_element(elem, 'target', {'dev': disk['target'], 'bus': disk['bus']})
    if disk['readonly']:
        _xml.sub_element(elem, 'readonly')
    return elem


def interface_element(iface, keep_mac=None):
    elem = _xml.new_element('interface', {'type': iface['type']})
    mac = iface.get('mac') or keep_mac
    if mac:
        _xml.sub_element(elem, 'mac', {'address': mac})
    if iface['type'] == 'network':
        _xml.sub_element(elem, 'source', {'network': iface['source']})
    elif iface['type'] == 'bridge':
        _xml.sub_element(elem, 'source', {'bridge': iface['source']})
    else:
        _xml.sub_element(elem, 'source', {'dev': iface['source'], 'mode': iface.get('mode') or 'bridge'})
    if iface.get('model'):
        _xml.sub_element(elem, 'model', {'type': iface['model']})
    return elem


def hostdev_element(address):
    dom, rest = address.split(':', 1)
    bus, rest = rest.split(':', 1)
    slot, function = rest.split('.')
    elem = _xml.new_element('hostdev', {'mode': 'subsystem', 'type': 'pci', 'managed': 'yes'})
    source = _xml.sub_element(elem, 'source')
    _xml.sub_element(source, 'address', {'domain': '0x' + dom, 'bus': '0x' + bus, 'slot': '0x' + slot,
                                         'function': '0x' + function})
    return elem


def _set_disks(root, disks):
    devices = _devices(root)
    existing = dict((disk_settings(elem)['target'], elem) for elem in devices.findall('disk'))
    _xml.remove_children(devices, 'disk')
    for disk in disks:
        elem = existing.get(disk['target'])
        if elem is None or disk_settings(elem) != disk:
            elem = disk_element(disk)  # changed or new; an unchanged disk keeps its element (address, cache...)
        devices.append(elem)
    if any(disk['bus'] == 'scsi' for disk in disks) and not any(
            c.get('type') == 'scsi' for c in devices.findall('controller')):
        devices.append(_xml.new_element('controller', {'type': 'scsi', 'model': 'virtio-scsi'}))


def _set_interfaces(root, interfaces):
    devices = _devices(root)
    existing = devices.findall('interface')
    _xml.remove_children(devices, 'interface')
    for index, iface in enumerate(interfaces):
        old = existing[index] if index < len(existing) else None
        if old is not None and iface_same(iface, interface_settings(old)):
            devices.append(old)
            continue
        # a replaced interface keeps the MAC libvirt gave the one at its position (the guest's identity)
        keep_mac = interface_settings(old)['mac'] if old is not None else None
        devices.append(interface_element(iface, keep_mac))


def _remove_serial_consoles(devices):
    """Remove the <console> elements that are copies of a serial port (libvirt makes them from <serial>)."""
    for console in devices.findall('console'):
        target = console.find('target')
        if target is None or target.get('type') in (None, 'serial'):
            devices.remove(console)


def _set_serial(root, value):
    devices = _devices(root)
    if not value:
        _xml.remove_children(devices, 'serial')
        _remove_serial_consoles(devices)
    elif devices.find('serial') is None:
        serial = _xml.sub_element(devices, 'serial', {'type': 'pty'})
        _xml.sub_element(serial, 'target', {'port': '0'})


def _set_console_log(root, path):
    devices = _devices(root)
    _set_serial(root, True)
    serial = devices.find('serial')
    _xml.remove_children(serial, 'log')
    if path:
        log = _xml.new_element('log', {'file': path, 'append': 'on'})
        source = serial.find('source')
        if source is not None:
            source.addnext(log)
        else:
            serial.insert(0, log)
    # libvirt derives the serial <console> from the first <serial>; drop its copy so it is regenerated
    _remove_serial_consoles(devices)


def _set_guest_agent(root, value):
    devices = _devices(root)
    for channel in devices.findall('channel'):
        target = channel.find('target')
        if target is not None and target.get('name') == GUEST_AGENT_CHANNEL:
            if value:
                return
            devices.remove(channel)
    if value:
        channel = _xml.sub_element(devices, 'channel', {'type': 'unix'})
        _xml.sub_element(channel, 'target', {'type': 'virtio', 'name': GUEST_AGENT_CHANNEL})


def _set_rng(root, value):
    devices = _devices(root)
    if not value:
        _xml.remove_children(devices, 'rng')
    elif devices.find('rng') is None:
        rng = _xml.sub_element(devices, 'rng', {'model': 'virtio'})
        _xml.sub_element(rng, 'backend', {'model': 'random'}, text='/dev/urandom')


def _set_graphics(root, value):
    devices = _devices(root)
    have = devices.find('graphics')
    if have is not None and have.get('type') == value:
        return
    _xml.remove_children(devices, 'graphics')
    if value != 'none':
        _xml.sub_element(devices, 'graphics', {'type': value, 'autoport': 'yes', 'listen': '127.0.0.1'})
        if devices.find('video') is None:
            video = _xml.sub_element(devices, 'video')
            _xml.sub_element(video, 'model', {'type': 'virtio' if value == 'vnc' else 'qxl'})


def _set_hostdevs(root, hostdevs):
    devices = _devices(root)
    keep = {}
    for elem in devices.findall('hostdev'):
        address = hostdev_address(elem)
        if address:
            keep[address] = elem
            devices.remove(elem)
    for address in hostdevs:
        devices.append(keep.get(address) if address in keep else hostdev_element(address))


def _set_type(root, value):
    root.set('type', value)


def _set_machine(root, value):
    _os(root).find('type').set('machine', value)


_SETTERS = {
    'type': _set_type,
    'memory': _set_memory,
    'vcpus': _set_vcpus,
    'cpu': _set_cpu,
    'machine': _set_machine,
    'firmware': _set_firmware,
    'tcg_tb_cache': _set_tb_cache,
    'disks': _set_disks,
    'interfaces': _set_interfaces,
    'serial_console': _set_serial,
    'console_log': _set_console_log,
    'guest_agent': _set_guest_agent,
    'rng': _set_rng,
    'graphics': _set_graphics,
    'hostdevs': _set_hostdevs,
}


def new_domain(name):
    """The skeleton of a new domain: ACPI/APIC on (ACPI shutdown needs them), no graphics."""
    root = _xml.new_element('domain', {'type': 'kvm'})
    _xml.sub_element(root, 'name', text=name)
    os_elem = _xml.sub_element(root, 'os')
    _xml.sub_element(os_elem, 'type', text='hvm')
    features = _xml.sub_element(root, 'features')
    _xml.sub_element(features, 'acpi')
    _xml.sub_element(features, 'apic')
    _xml.sub_element(root, 'on_poweroff', text='destroy')
    _xml.sub_element(root, 'on_reboot', text='restart')
    _xml.sub_element(root, 'on_crash', text='destroy')
    _xml.sub_element(root, 'devices')
    return root


def render_domain(name, config, keys, base=None):
    """XML with the given settings applied: base (the current persistent XML) edited, or a new domain.

    keys: the settings to write (those that differ, or all for a new domain); console_log after
    serial_console so that a log implies the console.
    """
    root = _xml.copy(base) if base is not None else new_domain(name)
    for key in CONFIG_KEYS:
        if key in keys and key in config:
            _SETTERS[key](root, config[key])
    return root

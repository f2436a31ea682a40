# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Domain XML: normalise (XML -> settings), compare (settings, only what was asked) and render
(settings -> XML, editing the current definition so that nothing the user did not mention is lost).

All functions here are pure (no libvirt); the planner and the unit tests use them directly.

Private to strata.libvirt; no compatibility promise.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import re

from ansible_collections.strata.libvirt.plugins.module_utils import _xml

# The structured settings, in the order they appear in diffs.
CONFIG_KEYS = ('type', 'memory', 'vcpus', 'cpu', 'machine', 'firmware', 'tcg_tb_cache', 'disks', 'interfaces',
               'serial_console', 'console_log', 'guest_agent', 'rng', 'graphics', 'hostdevs')
GUEST_AGENT_CHANNEL = 'org.qemu.guest_agent.0'
DISK_PREFIX = {'virtio': 'vd', 'sata': 'sd', 'scsi': 'sd', 'ide': 'hd'}
PCI_RE = re.compile(r'^(?:([0-9a-fA-F]{1,4}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])$')
# Short machine names libvirt expands into a versioned one when it stores the definition.
MACHINE_ALIASES = {'pc': 'pc-i440fx-', 'q35': 'pc-q35-'}

_UNIT_FACTORS = {'b': 1, 'bytes': 1, 'k': 1024, 'kib': 1024, 'kb': 1000, 'm': 1024 ** 2, 'mib': 1024 ** 2,
                 'mb': 1000 ** 2, 'g': 1024 ** 3, 'gib': 1024 ** 3, 'gb': 1000 ** 3, 't': 1024 ** 4,
                 'tib': 1024 ** 4, 'tb': 1000 ** 4}


# ---------------------------------------------------------------- small helpers

def scaled(elem, default_unit='KiB'):
    """Bytes of a libvirt scaled integer element (<memory unit='KiB'>524288</memory>), or None."""
    if elem is None or not (elem.text or '').strip():
        return None
    unit = (elem.get('unit') or default_unit).lower()
    return int(elem.text.strip()) * _UNIT_FACTORS.get(unit, 1024)


def pci_address(value):
    """'0000:03:00.0' / '03:00.0' -> canonical 'dddd:bb:ss.f', or None when it is not a PCI address."""
    match = PCI_RE.match((value or '').strip())
    if not match:
        return None
    domain, bus, slot, function = match.groups()
    return '%04x:%02x:%02x.%x' % (int(domain or '0', 16), int(bus, 16), int(slot, 16), int(function))


def _hex(elem, attr):
    value = elem.get(attr) or '0'
    return int(value, 16) if value.lower().startswith('0x') else int(value)


def same_machine(want, have):
    """q35 matches pc-q35-7.2 (libvirt stores the versioned name of an alias); otherwise exact."""
    if want == have:
        return True
    prefix = MACHINE_ALIASES.get(want)
    return bool(prefix and have and have.startswith(prefix))


# ---------------------------------------------------------------- normalise (XML -> settings)

def _disk(elem):
    source = elem.find('source')
    target = elem.find('target')
    driver = elem.find('driver')
    dtype = elem.get('type', 'file')
    src = None
    if source is not None:
        if dtype == 'volume' and source.get('volume'):
            src = {'pool': source.get('pool'), 'volume': source.get('volume')}
        elif source.get('file'):
            src = {'file': source.get('file')}
        elif source.get('dev'):
            src = {'file': source.get('dev')}
    device = elem.get('device', 'disk')
    readonly = elem.find('readonly') is not None or device == 'cdrom'
    return {
        'target': target.get('dev') if target is not None else None,
        'bus': target.get('bus') if target is not None else None,
        'device': device,
        'source': src,
        'format': driver.get('type') if driver is not None else None,
        'readonly': readonly,
        'discard': None if readonly else _discard(driver),
    }


def _discard(driver):
    """unmap: discard='unmap' and detect_zeroes='unmap' (freed and zeroed blocks leave the image);
    ignore: neither (libvirt's default); anything else names the two attributes as they are."""
    discard = driver.get('discard') if driver is not None else None
    zeroes = driver.get('detect_zeroes') if driver is not None else None
    if discard == 'unmap' and zeroes == 'unmap':
        return 'unmap'
    if discard in (None, 'ignore') and zeroes in (None, 'off'):
        return 'ignore'
    return 'discard=%s detect_zeroes=%s' % (discard, zeroes)


def _interface(elem):
    source = elem.find('source')
    mac = elem.find('mac')
    model = elem.find('model')
    itype = elem.get('type')
    entry = {'type': itype, 'source': None}
    if source is not None:
        if source.get('network'):  # live XML of a network interface may also carry bridge=
            entry.update(type='network', source=source.get('network'))
        elif itype == 'bridge':
            entry['source'] = source.get('bridge')
        elif itype == 'direct':
            entry['source'] = source.get('dev')
            entry['mode'] = source.get('mode', 'vepa')
    entry['mac'] = mac.get('address').lower() if mac is not None and mac.get('address') else None
    entry['model'] = model.get('type') if model is not None else None
    return entry


def _firmware(os_elem):
    if os_elem is None:
        return {'firmware': 'bios', 'loader': None, 'nvram_template': None, 'nvram': None}
    loader = os_elem.find('loader')
    nvram = os_elem.find('nvram')
    uefi = os_elem.get('firmware') == 'efi' or (loader is not None and loader.get('type') == 'pflash')
    return {
        'firmware': 'uefi' if uefi else 'bios',
        'loader': (loader.text or '').strip() or None if loader is not None else None,
        'nvram_template': nvram.get('template') if nvram is not None else None,
        'nvram': (nvram.text or '').strip() or None if nvram is not None else None,
    }


def parse_domain(root):
    """Normalised settings of a domain XML (persistent or live). Generated values are kept apart:
    MACs and disk targets are part of the entries (they are facts), PCI addresses, aliases,
    controllers and the like are not read at all."""
    devices = root.find('devices')
    if devices is None:
        devices = _xml.new_element('devices')
    os_elem = root.find('os')
    os_type = os_elem.find('type') if os_elem is not None else None
    cpu = root.find('cpu')
    vcpu = root.find('vcpu')
    tb_cache = root.find('features/tcg/tb-cache')
    serials = devices.findall('serial')
    log = None
    for serial in serials:
        if serial.find('log') is not None:
            log = serial.find('log').get('file')
            break
    hostdevs = []
    for hostdev in devices.findall('hostdev'):
        addr = hostdev.find('source/address')
        if hostdev.get('type') == 'pci' and addr is not None:
            hostdevs.append('%04x:%02x:%02x.%x' % (_hex(addr, 'domain'), _hex(addr, 'bus'), _hex(addr, 'slot'),
                                                   _hex(addr, 'function')))
    graphics = [g.get('type') for g in devices.findall('graphics')]
    firmware = _firmware(os_elem)
    vcpus = int(vcpu.text.strip()) if vcpu is not None and (vcpu.text or '').strip() else None
    config = {
        'type': root.get('type'),
        'memory': scaled(root.find('memory')),
        'current_memory': scaled(root.find('currentMemory')),
        'vcpus': vcpus,
        'current_vcpus': int(vcpu.get('current')) if vcpu is not None and vcpu.get('current') else vcpus,
        'cpu': ({'mode': cpu.get('mode', 'custom'), 'model': _xml.text_of(cpu, 'model')}
                if cpu is not None else None),
        'machine': os_type.get('machine') if os_type is not None else None,
        'arch': os_type.get('arch') if os_type is not None else None,
        'firmware': firmware['firmware'],
        'loader': firmware['loader'],
        'nvram_template': firmware['nvram_template'],
        'nvram': firmware['nvram'],
        'tcg_tb_cache': (scaled(tb_cache, 'MiB') // (1024 ** 2)) if tb_cache is not None else None,
        'disks': [_disk(elem) for elem in devices.findall('disk')],
        'interfaces': [_interface(elem) for elem in devices.findall('interface')],
        'serial_console': bool(serials),
        'console_log': log,
        'guest_agent': any(ch.find('target') is not None and ch.find('target').get('name') == GUEST_AGENT_CHANNEL
                           for ch in devices.findall('channel')),
        'rng': devices.find('rng') is not None,
        'graphics': graphics[0] if graphics else 'none',
        'hostdevs': sorted(hostdevs),
    }
    return config


# ---------------------------------------------------------------- compare (only what is asked)

def _cpu_same(want, have):
    have = have or {'mode': None, 'model': None}
    return all(have.get(key) == value for key, value in want.items() if value is not None)


def _iface_same(want, have):
    return all(have.get(key) == value for key, value in want.items() if value is not None)


def setting_view(key, config, want=None):
    """The value of one setting as shown in the diff (for 'cpu', 'firmware', 'interfaces' only the
    parts the user gave, so that libvirt's generated values do not show up as changes)."""
    if config is None:
        return None
    value = config.get(key)
    if key == 'memory':
        memory, current = config.get('memory'), config.get('current_memory')
        if memory is None:
            return None
        text = _memory_text(memory)
        if current is not None and current != memory:
            text += ' (current %s)' % _memory_text(current)
        return text
    if key == 'vcpus' and value is not None and config.get('current_vcpus') not in (None, value):
        return '%s (current %s)' % (value, config['current_vcpus'])
    if key == 'firmware':
        view = {'firmware': value}
        for sub in ('loader', 'nvram_template'):
            if want is None or want.get(sub) is not None:
                view[sub] = config.get(sub)
        return view
    if key == 'cpu' and want is not None and value is not None:
        return dict((sub, value.get(sub)) for sub in want if want.get(sub) is not None)
    if key == 'interfaces' and want is not None and value is not None:
        shown = []
        for index, have in enumerate(value):
            wanted = want[index] if index < len(want) else {}
            shown.append(dict((sub, have.get(sub)) for sub in have
                              if sub in ('type', 'source') or wanted.get(sub) is not None))
        return shown
    return value


def _memory_text(nbytes):
    for unit, factor in (('GiB', 1024 ** 3), ('MiB', 1024 ** 2)):
        if nbytes % factor == 0:
            return '%d %s' % (nbytes // factor, unit)
    return '%d KiB' % (nbytes // 1024)


def same_setting(key, want, config):
    """Whether the current config already has the wanted value of one setting."""
    have = config.get(key)
    if key == 'memory':
        return have == want and config.get('current_memory') in (None, want)
    if key == 'vcpus':
        return have == want and config.get('current_vcpus') in (None, want)
    if key == 'machine':
        return same_machine(want, have)
    if key == 'cpu':
        return have is not None and _cpu_same(want, have)
    if key == 'firmware':
        return (want['firmware'] == have and
                all(config.get(sub) == want[sub] for sub in ('loader', 'nvram_template') if want.get(sub)))
    if key == 'interfaces':
        return len(want) == len(have or []) and all(_iface_same(w, h) for w, h in zip(want, have))
    if key == 'disks':
        return sorted(want, key=lambda d: d['target']) == sorted(have or [], key=lambda d: d['target'] or '')
    return have == want


def differences(desired_config, config):
    """Keys of desired_config whose value config does not have."""
    return [key for key in CONFIG_KEYS if key in desired_config and not same_setting(key, desired_config[key], config)]


# ---------------------------------------------------------------- render (settings -> XML)

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
    if cpu is None or cpu.get('mode', 'custom') != value['mode']:
        if cpu is not None:
            root.remove(cpu)
        cpu = _xml.new_element('cpu', {'mode': value['mode']})
        _os(root).addnext(cpu)
    if value.get('model'):
        model = _xml.child(cpu, 'model', create=True)
        model.text = value['model']
        if cpu.get('mode') == 'custom':
            cpu.set('match', cpu.get('match', 'exact'))
            model.set('fallback', model.get('fallback', 'forbid'))


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
    existing = dict((_disk(elem)['target'], elem) for elem in devices.findall('disk'))
    _xml.remove_children(devices, 'disk')
    for disk in disks:
        elem = existing.get(disk['target'])
        if elem is None or _disk(elem) != disk:
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
        if old is not None and _iface_same(iface, _interface(old)):
            devices.append(old)
            continue
        # a replaced interface keeps the MAC libvirt gave the one at its position (the guest's identity)
        keep_mac = _interface(old)['mac'] if old is not None else None
        devices.append(interface_element(iface, keep_mac))


def _set_serial(root, value):
    devices = _devices(root)
    if not value:
        _xml.remove_children(devices, 'serial')
        for console in devices.findall('console'):
            target = console.find('target')
            if target is None or target.get('type') in (None, 'serial'):
                devices.remove(console)
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
    for console in devices.findall('console'):
        target = console.find('target')
        if target is None or target.get('type') in (None, 'serial'):
            devices.remove(console)


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
        addr = elem.find('source/address')
        if elem.get('type') == 'pci' and addr is not None:
            keep['%04x:%02x:%02x.%x' % (_hex(addr, 'domain'), _hex(addr, 'bus'), _hex(addr, 'slot'),
                                        _hex(addr, 'function'))] = elem
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


# ---------------------------------------------------------------- the xml escape hatch

# Tags whose extra elements libvirt adds by itself (a pci-root controller, a PS/2 mouse, the serial
# console's copy): with the xml option they are compared only as far as the user wrote them.
GENERATED_EXTRAS = ('controller', 'input', 'console', 'memballoon')
_KIB_DEFAULT = ('memory', 'currentMemory', 'maxMemory')


def _canonical_units(root):
    for elem in root.iter():
        if not isinstance(elem.tag, str):
            continue
        text = (elem.text or '').strip()
        if not text.isdigit():
            continue
        unit = elem.get('unit')
        if unit is None and elem.tag in _KIB_DEFAULT:
            unit = 'KiB'
        if unit is None or unit.lower() not in _UNIT_FACTORS:
            continue
        elem.text = str(int(text) * _UNIT_FACTORS[unit.lower()])
        elem.set('unit', 'bytes')


def xml_differences(desired, current):
    """_xml.xml_differences for domains: units made comparable (512 MiB == 524288 KiB), a machine
    alias matches its versioned name, and devices libvirt adds by itself do not count as extra."""
    want = _xml.copy(desired)
    have = _xml.copy(current)
    _canonical_units(want)
    _canonical_units(have)
    want_type, have_type = want.find('os/type'), have.find('os/type')
    if want_type is not None and have_type is not None and want_type.get('machine') and \
            same_machine(want_type.get('machine'), have_type.get('machine')):
        want_type.set('machine', have_type.get('machine'))
    want_devices, have_devices = want.find('devices'), have.find('devices')
    if want_devices is not None and have_devices is not None:
        for tag in GENERATED_EXTRAS:
            wanted = want_devices.findall(tag)
            if not wanted:
                continue
            for elem in have_devices.findall(tag):
                if all(_xml.xml_differences(w, elem) for w in wanted):
                    have_devices.remove(elem)
    return _xml.xml_differences(want, have)

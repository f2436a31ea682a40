# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Domain XML -> settings: the normalised view of a domain's XML that the planner compares.

Generated values are kept apart (MACs and disk targets are facts of the entries; PCI addresses, aliases,
controllers and the like are not read at all). Pure (no libvirt).

Private to strata.libvirt; no compatibility promise.
"""

import re

from ansible_collections.strata.libvirt.plugins.module_utils import _xml

# The structured settings, in the order they appear in diffs.
CONFIG_KEYS = ('type', 'memory', 'vcpus', 'cpu', 'machine', 'firmware', 'tcg_tb_cache', 'disks', 'interfaces',
               'serial_console', 'console_log', 'guest_agent', 'rng', 'graphics', 'hostdevs')
# The attributes of a <cpu><topology> (libvirt 9.0), in libvirt's order.
TOPOLOGY_KEYS = ('sockets', 'dies', 'cores', 'threads')
GUEST_AGENT_CHANNEL = 'org.qemu.guest_agent.0'
DISK_PREFIX = {'virtio': 'vd', 'sata': 'sd', 'scsi': 'sd', 'ide': 'hd'}
PCI_RE = re.compile(r'^(?:([0-9a-fA-F]{1,4}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])$')

UNIT_FACTORS = {'b': 1, 'bytes': 1, 'k': 1024, 'kib': 1024, 'kb': 1000, 'm': 1024 ** 2, 'mib': 1024 ** 2,
                'mb': 1000 ** 2, 'g': 1024 ** 3, 'gib': 1024 ** 3, 'gb': 1000 ** 3, 't': 1024 ** 4,
                'tib': 1024 ** 4, 'tb': 1000 ** 4}


# ---------------------------------------------------------------- small helpers

def scaled(elem, default_unit='KiB'):
    """Bytes of a libvirt scaled integer element (<memory unit='KiB'>524288</memory>), or None."""
    if elem is None or not (elem.text or '').strip():
        return None
    unit = (elem.get('unit') or default_unit).lower()
    return int(elem.text.strip()) * UNIT_FACTORS.get(unit, 1024)


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


def hostdev_address(elem):
    """The canonical PCI address of a <hostdev type='pci'> element, or None for another kind."""
    addr = elem.find('source/address')
    if elem.get('type') != 'pci' or addr is None:
        return None
    return '%04x:%02x:%02x.%x' % (_hex(addr, 'domain'), _hex(addr, 'bus'), _hex(addr, 'slot'), _hex(addr, 'function'))


# ---------------------------------------------------------------- normalise (XML -> settings)

def disk_settings(elem):
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


def interface_settings(elem):
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
        return {'firmware': 'bios', 'loader': None, 'nvram_template': None, 'nvram': None, 'secure_boot': None}
    loader = os_elem.find('loader')
    nvram = os_elem.find('nvram')
    uefi = os_elem.get('firmware') == 'efi' or (loader is not None and loader.get('type') == 'pflash')
    # Secure Boot: the loader libvirt chose (it resolves the autoselection at define time), else the features asked
    secure = None
    if loader is not None and loader.get('type') == 'pflash':
        secure = loader.get('secure') == 'yes'      # libvirt's default is secure='no'
    else:
        for feature in os_elem.findall('firmware/feature'):
            if feature.get('name') == 'secure-boot':
                secure = feature.get('enabled') == 'yes'
    return {
        'secure_boot': secure if uefi else None,
        'firmware': 'uefi' if uefi else 'bios',
        'loader': (loader.text or '').strip() or None if loader is not None else None,
        'nvram_template': nvram.get('template') if nvram is not None else None,
        'nvram': (nvram.text or '').strip() or None if nvram is not None else None,
    }


def cpu_settings(cpu):
    """<cpu> -> mode, model and the topology (sockets, dies, cores, threads; None without a <topology>), or None."""
    if cpu is None:
        return None
    topology = cpu.find('topology')
    settings = {'mode': cpu.get('mode', 'custom'), 'model': _xml.text_of(cpu, 'model')}
    for key in TOPOLOGY_KEYS:
        value = topology.get(key) if topology is not None else None
        if value is None and key == 'dies' and topology is not None:
            value = 1  # libvirt's default
        settings[key] = int(value) if value is not None else None
    return settings


def console_log(devices):
    """The log file of the first serial console that has a log, None without one (devices: the <devices> element,
    of lxml or of xml.etree)."""
    for serial in devices.findall('serial'):
        if serial.find('log') is not None:
            return serial.find('log').get('file')
    return None


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
    log = console_log(devices)
    hostdevs = [address for address in (hostdev_address(elem) for elem in devices.findall('hostdev')) if address]
    graphics = [g.get('type') for g in devices.findall('graphics')]
    firmware = _firmware(os_elem)
    vcpus = int(vcpu.text.strip()) if vcpu is not None and (vcpu.text or '').strip() else None
    config = {
        'type': root.get('type'),
        'memory': scaled(root.find('memory')),
        'current_memory': scaled(root.find('currentMemory')),
        'vcpus': vcpus,
        'current_vcpus': int(vcpu.get('current')) if vcpu is not None and vcpu.get('current') else vcpus,
        'cpu': cpu_settings(cpu),
        'machine': os_type.get('machine') if os_type is not None else None,
        'arch': os_type.get('arch') if os_type is not None else None,
        'firmware': firmware['firmware'],
        'loader': firmware['loader'],
        'nvram_template': firmware['nvram_template'],
        'nvram': firmware['nvram'],
        'secure_boot': firmware['secure_boot'],
        'tcg_tb_cache': (scaled(tb_cache, 'MiB') // (1024 ** 2)) if tb_cache is not None else None,
        'disks': [disk_settings(elem) for elem in devices.findall('disk')],
        'interfaces': [interface_settings(elem) for elem in devices.findall('interface')],
        'serial_console': bool(serials),
        'console_log': log,
        'guest_agent': any(ch.find('target') is not None and ch.find('target').get('name') == GUEST_AGENT_CHANNEL
                           for ch in devices.findall('channel')),
        'rng': devices.find('rng') is not None,
        'graphics': graphics[0] if graphics else 'none',
        'hostdevs': sorted(hostdevs),
    }
    return config

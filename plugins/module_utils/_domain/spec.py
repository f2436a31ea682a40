# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A domain's desired state: the strata.libvirt.domain module's argument spec (of one item) and constraints,
and the validation of its parameters. Pure (no libvirt).

Private to strata.libvirt; no compatibility promise.
"""

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._common import common_argument_spec, desired_base, desired_xml
from ansible_collections.strata.libvirt.plugins.module_utils import _validate
from ansible_collections.strata.libvirt.plugins.module_utils import _volume
from ansible_collections.strata.libvirt.plugins.module_utils import _xml
from ansible_collections.strata.libvirt.plugins.module_utils._domain.settings import DISK_PREFIX, TOPOLOGY_KEYS, pci_address

VIRT_TYPES = ('kvm', 'qemu')
CPU_MODES = ('host-passthrough', 'host-model', 'custom', 'maximum')
# The cpu topology options: libvirt's <topology> attributes but dies, which is always 1.
CPU_TOPOLOGY = ('sockets', 'cores', 'threads')
FIRMWARES = ('bios', 'uefi')
DISK_DEVICES = ('disk', 'cdrom')
DISK_BUSES = ('virtio', 'sata', 'scsi', 'ide')
DISK_FORMATS = ('qcow2', 'raw')
DISK_DISCARD = ('unmap', 'ignore')
DIRECT_MODES = ('bridge', 'vepa', 'private', 'passthrough')
GRAPHICS = ('none', 'vnc', 'spice')
DEFAULT_SHUTDOWN_TIMEOUT = 120
# What a new domain gets for settings the user left out (later runs leave them alone).
CREATE_DEFAULTS = {'type': 'kvm', 'vcpus': 1, 'serial_console': True, 'guest_agent': True, 'rng': True,
                   'graphics': 'none'}
# The structured settings; the xml option replaces them all.
STRUCTURED = ('type', 'memory', 'vcpus', 'cpu', 'machine', 'firmware', 'secure_boot', 'uefi_loader', 'uefi_nvram_template',
              'tcg_tb_cache', 'disks', 'interfaces', 'serial_console', 'console_log', 'guest_agent', 'rng',
              'graphics', 'hostdevs')

CONSTRAINTS = dict(mutually_exclusive=[('xml', key) for key in STRUCTURED])


def argument_spec():
    """The spec of one domain (the module's options without `items`), a new dict."""
    spec = common_argument_spec()
    spec.update(
        name=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=['present', 'running', 'stopped', 'absent']),
        autostart=dict(type='bool'),
        type=dict(type='str', choices=list(VIRT_TYPES)),
        memory=dict(type='raw'),
        vcpus=dict(type='int'),
        cpu=dict(type='dict', options=dict(mode=dict(type='str', choices=list(CPU_MODES)),
                                           model=dict(type='str'), sockets=dict(type='int'),
                                           cores=dict(type='int'), threads=dict(type='int'))),
        machine=dict(type='str'),
        firmware=dict(type='str', choices=list(FIRMWARES)),
        secure_boot=dict(type='bool'),
        uefi_loader=dict(type='path'),
        uefi_nvram_template=dict(type='path'),
        tcg_tb_cache=dict(type='int'),
        disks=dict(type='list', elements='dict', options=dict(
            volume=dict(type='str'), pool=dict(type='str'), file=dict(type='path'),
            device=dict(type='str', default='disk', choices=list(DISK_DEVICES)),
            bus=dict(type='str', choices=list(DISK_BUSES)), target=dict(type='str'),
            format=dict(type='str', choices=list(DISK_FORMATS)),
            readonly=dict(type='bool', default=False),
            discard=dict(type='str', choices=list(DISK_DISCARD)))),
        interfaces=dict(type='list', elements='dict', options=dict(
            network=dict(type='str'), bridge=dict(type='str'), direct=dict(type='str'),
            mode=dict(type='str', choices=list(DIRECT_MODES)), mac=dict(type='str'),
            model=dict(type='str', default='virtio'))),
        serial_console=dict(type='bool'),
        console_log=dict(type='path'),
        guest_agent=dict(type='bool'),
        rng=dict(type='bool'),
        graphics=dict(type='str', choices=list(GRAPHICS)),
        hostdevs=dict(type='list', elements='str'),
        xml=dict(type='str'),
        restart=dict(type='bool', default=False),
        shutdown_timeout=dict(type='int', default=DEFAULT_SHUTDOWN_TIMEOUT),
        remove_volumes=dict(type='bool', default=False),
        remove_console_log=dict(type='bool', default=False),
    )
    return spec


def _disk_targets(disks):
    """Give every disk without a target the next free name for its bus (vda, vdb, sda, hda...)."""
    used = set(d['target'] for d in disks if d['target'])
    for disk in disks:
        if disk['target']:
            continue
        prefix = DISK_PREFIX[disk['bus']]
        for letter in 'abcdefghijklmnopqrstuvwxyz':
            if prefix + letter not in used:
                disk['target'] = prefix + letter
                used.add(disk['target'])
                break
        else:
            raise StrataError('Option disks: too many disks on bus %s' % disk['bus'])


def _desired_disks(entries):
    disks = []
    for index, entry in enumerate(entries):
        option = 'disks[%d]' % index
        device = entry.get('device') or 'disk'
        sources = [key for key in ('volume', 'file') if entry.get(key)]
        if len(sources) > 1:
            raise StrataError('Option %s: give either volume or file, not both' % option)
        if not sources and device != 'cdrom':
            raise StrataError('Option %s: a disk needs a volume or a file (only a cdrom may be empty)' % option)
        source = None
        if entry.get('volume'):
            pool, name = _volume.reference(entry['volume'], entry.get('pool'), option + '.volume')
            if pool is None:
                raise StrataError("Option %s.pool: needed for volume %r (or write 'pool/volume')"
                                  % (option, entry['volume']))
            _validate.name(pool, option + '.pool')
            source = {'pool': pool, 'volume': name}
        elif entry.get('file'):
            if not entry['file'].startswith('/'):
                raise StrataError('Option %s.file: %r is not an absolute path' % (option, entry['file']))
            source = {'file': entry['file']}
        bus = entry.get('bus') or ('sata' if device == 'cdrom' else 'virtio')
        if device == 'cdrom' and bus == 'virtio':
            raise StrataError('Option %s.bus: a cdrom cannot be on bus virtio (use sata, scsi or ide)' % option)
        target = entry.get('target')
        if target is not None and not target.startswith(DISK_PREFIX[bus]):
            raise StrataError('Option %s.target: %r does not fit bus %s (expected %sX)'
                              % (option, target, bus, DISK_PREFIX[bus]))
        readonly = bool(entry.get('readonly')) or device == 'cdrom'
        discard = entry.get('discard')
        if readonly and discard == 'unmap':
            raise StrataError('Option %s.discard: unmap needs a writable disk (this one is read-only)' % option)
        disks.append({'target': target, 'bus': bus, 'device': device, 'source': source,
                      'format': entry.get('format') or ('raw' if device == 'cdrom' else None),
                      'readonly': readonly, 'discard': None if readonly else (discard or 'unmap')})
    _validate.no_duplicates([d['target'] for d in disks], 'disks (target)')
    _disk_targets(disks)
    return disks


def _desired_interfaces(entries):
    interfaces = []
    for index, entry in enumerate(entries):
        option = 'interfaces[%d]' % index
        kinds = [key for key in ('network', 'bridge', 'direct') if entry.get(key)]
        if len(kinds) != 1:
            raise StrataError('Option %s: give exactly one of network, bridge or direct' % option)
        kind = kinds[0]
        if kind == 'network':
            _validate.name(entry['network'], option + '.network')
        elif kind == 'bridge':
            _validate.bridge(entry['bridge'], option + '.bridge')
        else:
            _validate.bridge(entry['direct'], option + '.direct')
        iface = {'type': kind, 'source': entry[kind],
                 'mac': _validate.mac(entry['mac'], option + '.mac') if entry.get('mac') else None,
                 'model': entry.get('model') or 'virtio'}
        if kind == 'direct':
            iface['mode'] = entry.get('mode') or 'bridge'
        elif entry.get('mode'):
            raise StrataError('Option %s.mode: only for direct interfaces' % option)
        interfaces.append(iface)
    _validate.no_duplicates([i['mac'] for i in interfaces], 'interfaces (mac)')
    return interfaces


def _cpu_topology(cpu, config):
    """The topology keys of the cpu setting: all None when none is given (the topology is left as it is), else
    sockets, dies (1), cores and threads (1 each when left out). Their product is the vCPU count: it must equal
    config's vcpus, and becomes config's vcpus when vcpus is not given."""
    if all(cpu.get(key) is None for key in CPU_TOPOLOGY):
        return dict.fromkeys(TOPOLOGY_KEYS)
    topology = {'dies': 1}
    for key in CPU_TOPOLOGY:
        value = cpu.get(key)
        if value is None:
            value = 1
        if value < 1:
            raise StrataError('Option cpu.%s: %r must be 1 or more' % (key, value))
        topology[key] = value
    product = topology['sockets'] * topology['cores'] * topology['threads']
    if config.get('vcpus') is None:
        config['vcpus'] = product
    elif product != config['vcpus']:
        raise StrataError('Option cpu: sockets %d x cores %d x threads %d = %d is not vcpus (%d)'
                          % (topology['sockets'], topology['cores'], topology['threads'], product, config['vcpus']))
    return topology


def desired_from_params(params):
    """Validated desired state; raises StrataError naming the option and value. Pure."""
    desired = desired_base(params)
    timeout = params.get('shutdown_timeout')
    if timeout is None:
        timeout = DEFAULT_SHUTDOWN_TIMEOUT
    if timeout < 0:
        raise StrataError('Option shutdown_timeout: %r must be 0 or more seconds' % timeout)
    desired.update({
        'autostart': params.get('autostart'), 'restart': bool(params.get('restart')),
        'remove_volumes': bool(params.get('remove_volumes')), 'remove_console_log': bool(params.get('remove_console_log')),
        'shutdown_timeout': timeout, 'config': {}, 'xml': None,
    })
    if params['state'] == 'absent':
        return desired
    if params.get('xml'):
        root = desired_xml(params['xml'], desired['name'], 'domain')
        _xml.remove_children(root, 'uuid')  # the existing domain's uuid is kept
        desired['xml'] = root
        return desired
    desired['config'] = _structured_config(params)
    return desired


def _structured_config(params):
    """The structured settings given (not the xml option), validated; raises StrataError naming the option."""
    config = {}
    if params.get('type') is not None:
        config['type'] = params['type']
    if params.get('memory') is not None:
        config['memory'] = _validate.memory_bytes(params['memory'])
    if params.get('vcpus') is not None:
        if params['vcpus'] <= 0:
            raise StrataError('Option vcpus: %r must be greater than 0' % params['vcpus'])
        config['vcpus'] = params['vcpus']
    cpu = params.get('cpu')
    if cpu:
        mode = cpu.get('mode') or ('custom' if cpu.get('model') else 'host-model')
        if mode == 'custom' and not cpu.get('model'):
            raise StrataError('Option cpu.model: needed with cpu.mode=custom')
        if mode != 'custom' and cpu.get('model'):
            raise StrataError('Option cpu.model: only with cpu.mode=custom, not %s' % mode)
        config['cpu'] = {'mode': mode, 'model': cpu.get('model')}
        config['cpu'].update(_cpu_topology(cpu, config))
    if params.get('machine') is not None:
        config['machine'] = params['machine']
    if params.get('firmware') is not None:
        uefi = params['firmware'] == 'uefi'
        for option in ('uefi_loader', 'uefi_nvram_template'):
            value = params.get(option)
            if value and not uefi:
                raise StrataError('Option %s: only with firmware=uefi' % option)
            if value and not value.startswith('/'):
                raise StrataError('Option %s: %r is not an absolute path' % (option, value))
        if params.get('uefi_nvram_template') and not params.get('uefi_loader'):
            raise StrataError('Option uefi_nvram_template: needs uefi_loader (without a loader, libvirt selects '
                              'the firmware and its NVRAM template itself)')
        if params.get('secure_boot') is not None and not uefi:
            raise StrataError('Option secure_boot: only with firmware=uefi')
        if params.get('secure_boot') is not None and params.get('uefi_loader'):
            raise StrataError('Option secure_boot: only with libvirt\'s firmware autoselection (without uefi_loader: '
                              'the loader given decides)')
        config['firmware'] = {'firmware': params['firmware'], 'loader': params.get('uefi_loader'),
                              'nvram_template': params.get('uefi_nvram_template'), 'secure_boot': params.get('secure_boot')}
    elif params.get('uefi_loader') or params.get('uefi_nvram_template') or params.get('secure_boot') is not None:
        raise StrataError('Option uefi_loader/uefi_nvram_template/secure_boot: set firmware=uefi too')
    if params.get('tcg_tb_cache') is not None:
        if params['tcg_tb_cache'] <= 0:
            raise StrataError('Option tcg_tb_cache: %r must be greater than 0 (MiB)' % params['tcg_tb_cache'])
        config['tcg_tb_cache'] = params['tcg_tb_cache']
    if params.get('disks') is not None:
        config['disks'] = _desired_disks(params['disks'])
    if params.get('interfaces') is not None:
        config['interfaces'] = _desired_interfaces(params['interfaces'])
    for key in ('serial_console', 'guest_agent', 'rng', 'graphics'):
        if params.get(key) is not None:
            config[key] = params[key]
    if params.get('console_log') is not None:
        log = params['console_log']
        if log and not log.startswith('/'):
            raise StrataError('Option console_log: %r is not an absolute path' % log)
        if log and config.get('serial_console') is False:
            raise StrataError('Option console_log: needs the serial console (serial_console=false was given)')
        config['console_log'] = log or None
    if params.get('hostdevs') is not None:
        hostdevs = []
        for index, value in enumerate(params['hostdevs']):
            address = pci_address(value)
            if address is None:
                raise StrataError("Option hostdevs[%d]: %r is not a PCI address such as '0000:03:00.0'"
                                  % (index, value))
            hostdevs.append(address)
        _validate.no_duplicates(hostdevs, 'hostdevs')
        config['hostdevs'] = sorted(hostdevs)
    return config

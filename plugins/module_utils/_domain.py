# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""libvirt domains: desired state, planner (pure), lifecycle (start, graceful stop, teardown), facts.

The persistent definition is what is compared and changed. A running domain whose definition
changes keeps running and reports restart_required (or is restarted when restart=true).
Stopping asks the guest for an ACPI shutdown, waits shutdown_timeout, then forces it off, and
reports which of the two happened. absent also removes the managed save image, snapshot and
checkpoint metadata, the NVRAM file and, when asked, the storage volumes strata.libvirt owns.

Private to strata.libvirt; no compatibility promise.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import time

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._common import Plan, Resource
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils import _domain_xml as dx
from ansible_collections.strata.libvirt.plugins.module_utils import _ownership
from ansible_collections.strata.libvirt.plugins.module_utils import _validate
from ansible_collections.strata.libvirt.plugins.module_utils import _volume
from ansible_collections.strata.libvirt.plugins.module_utils import _xml
from ansible_collections.strata.libvirt.plugins.module_utils._pool import lookup_pool

VIRT_TYPES = ('kvm', 'qemu')
CPU_MODES = ('host-passthrough', 'host-model', 'custom', 'maximum')
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
STATE_NAMES = {0: 'no state', 1: 'running', 2: 'idle', 3: 'paused', 4: 'in shutdown', 5: 'shut off',
               6: 'crashed', 7: 'pmsuspended'}
POLL = 0.25


# ---------------------------------------------------------------- validation (pure)

def memory_bytes(value, option='memory'):
    """512 / '512' (MiB), '2G', '1536MiB' -> bytes; a multiple of 1 KiB and more than 0."""
    if isinstance(value, bool):
        raise StrataError('Option %s: invalid memory size %r' % (option, value))
    if isinstance(value, int) or (isinstance(value, str) and value.strip().lstrip('-').isdigit()):
        number = int(value)
        if number <= 0:
            raise StrataError('Option %s: %r must be greater than 0 (a plain number is MiB)' % (option, value))
        return number * 1024 ** 2
    if isinstance(value, str) and value.strip().startswith('-'):
        raise StrataError('Option %s: %r must be greater than 0' % (option, value))
    nbytes = _validate.size(value, option)
    if nbytes % 1024:
        raise StrataError('Option %s: %r is not a whole number of KiB' % (option, value))
    return nbytes


def _disk_targets(disks):
    """Give every disk without a target the next free name for its bus (vda, vdb, sda, hda...)."""
    used = set(d['target'] for d in disks if d['target'])
    for disk in disks:
        if disk['target']:
            continue
        prefix = dx.DISK_PREFIX[disk['bus']]
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
        if target is not None and not target.startswith(dx.DISK_PREFIX[bus]):
            raise StrataError('Option %s.target: %r does not fit bus %s (expected %sX)'
                              % (option, target, bus, dx.DISK_PREFIX[bus]))
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


def desired_from_params(params):
    """Validated desired state; raises StrataError naming the option and value. Pure."""
    name = _validate.name(params['name'], 'name')
    if params.get('cluster') is not None:
        _validate.name(params['cluster'], 'cluster')
    timeout = params.get('shutdown_timeout')
    if timeout is None:
        timeout = DEFAULT_SHUTDOWN_TIMEOUT
    if timeout < 0:
        raise StrataError('Option shutdown_timeout: %r must be 0 or more seconds' % timeout)
    desired = {
        'name': name, 'state': params['state'], 'autostart': params.get('autostart'),
        'restart': bool(params.get('restart')), 'cluster': params.get('cluster'),
        'adopt': bool(params.get('adopt')), 'remove_volumes': bool(params.get('remove_volumes')),
        'shutdown_timeout': timeout, 'config': {}, 'xml': None,
    }
    if params['state'] == 'absent':
        return desired
    if params.get('xml'):
        root = _xml.parse_xml(params['xml'], 'xml', root_tag='domain')
        xml_name = _xml.text_of(root, 'name')
        if xml_name is None:
            root.insert(0, _xml.new_element('name', text=name))
        elif xml_name != name:
            raise StrataError('Option xml: <name> is %r but option name is %r' % (xml_name, name))
        _xml.remove_children(root, 'uuid')  # the existing domain's uuid is kept
        desired['xml'] = root
        return desired

    config = desired['config']
    if params.get('type') is not None:
        config['type'] = params['type']
    if params.get('memory') is not None:
        config['memory'] = memory_bytes(params['memory'])
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
        config['firmware'] = {'firmware': params['firmware'], 'loader': params.get('uefi_loader'),
                              'nvram_template': params.get('uefi_nvram_template')}
    elif params.get('uefi_loader') or params.get('uefi_nvram_template'):
        raise StrataError('Option uefi_loader/uefi_nvram_template: set firmware=uefi too')
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
            address = dx.pci_address(value)
            if address is None:
                raise StrataError("Option hostdevs[%d]: %r is not a PCI address such as '0000:03:00.0'"
                                  % (index, value))
            hostdevs.append(address)
        _validate.no_duplicates(hostdevs, 'hostdevs')
        config['hostdevs'] = sorted(hostdevs)
    return desired


# ---------------------------------------------------------------- planner (pure)

def state_word(current):
    if not current.get('exists'):
        return 'absent'
    return STATE_NAMES.get(current.get('state'), 'unknown')


def _want_view(key, want):
    if key == 'memory':
        return dx.setting_view('memory', {'memory': want})
    if isinstance(want, dict):
        return dict((k, v) for k, v in want.items() if v is not None)
    if key == 'interfaces':
        return [dict((k, v) for k, v in iface.items() if v is not None) for iface in want]
    return want


def complete_config(config, current):
    """Fill what the user left for libvirt's side to tell: disk formats (from the volumes/files read)."""
    config = dict(config)
    if 'disks' in config:
        sources = current.get('sources') or {}
        disks = []
        for index, disk in enumerate(config['disks']):
            disk = dict(disk)
            if disk['format'] is None and disk['source']:
                found = sources.get(index) or {}
                if not found.get('format'):
                    raise StrataError('Option disks[%d].format: cannot tell the format of %s; set format'
                                      % (index, disk['source'].get('file') or '/'.join(disk['source'].values())))
                disk['format'] = found['format']
            disks.append(disk)
        config['disks'] = disks
    return config


def _check_type(config, current):
    virt_type = config.get('type') or (current.get('config') or {}).get('type') or CREATE_DEFAULTS['type']
    if config.get('tcg_tb_cache') is not None and virt_type != 'qemu':
        raise StrataError('Option tcg_tb_cache: only for type=qemu (TCG), and the domain type is %s' % virt_type)


def _stop_text(name, timeout):
    if timeout <= 0:
        return "force off domain '%s' (shutdown_timeout is 0)" % name
    return "stop domain '%s' (ACPI shutdown, forced off after %ss)" % (name, timeout)


def _absent_plan(plan, current, desired):
    name = desired['name']
    plan.diff.add('state', state_word(current), 'absent')
    if not current.get('exists'):
        return plan
    _ownership.check_owner('domain', name, current['owner'], desired['cluster'], desired['adopt'])
    if current['active']:
        plan.add('stop', _stop_text(name, desired['shutdown_timeout']), timeout=desired['shutdown_timeout'])
    if current.get('managed_save'):
        plan.add('remove_managed_save', "remove the managed save image of domain '%s'" % name)
    if current.get('snapshots'):
        plan.add('remove_snapshots', "remove the metadata of %d snapshot(s) of domain '%s' (%s)"
                 % (len(current['snapshots']), name, ', '.join(current['snapshots'])), names=current['snapshots'])
    if current.get('checkpoints'):
        plan.add('remove_checkpoints', "remove the metadata of %d checkpoint(s) of domain '%s' (%s)"
                 % (len(current['checkpoints']), name, ', '.join(current['checkpoints'])),
                 names=current['checkpoints'])
    if current['persistent']:
        nvram = (current.get('config') or {}).get('nvram')
        plan.add('undefine', "undefine domain '%s'%s" % (name, (' and delete its NVRAM file %s' % nvram) if nvram else ''),
                 nvram=bool(nvram) or (current.get('config') or {}).get('firmware') == 'uefi')
    if desired['remove_volumes']:
        removed = []
        for vol in current.get('volumes') or []:
            label = "volume '%s' in pool '%s'" % (vol['name'], vol['pool'])
            if vol.get('used_by'):
                plan.warnings.append('Kept %s: also used by domain(s) %s' % (label, ', '.join(vol['used_by'])))
            elif not vol['owner'].get('owned'):
                plan.warnings.append('Kept %s: strata.libvirt does not own it (not in the ownership registry)' % label)
            elif desired['cluster'] and vol['owner'].get('cluster') != desired['cluster']:
                plan.warnings.append("Kept %s: it belongs to cluster '%s', not '%s'"
                                     % (label, vol['owner'].get('cluster'), desired['cluster']))
            else:
                plan.add('delete_volume', 'delete %s (owned by strata.libvirt)' % label,
                         pool=vol['pool'], volume=vol['name'], key=vol['key'])
                removed.append('%s/%s' % (vol['pool'], vol['name']))
        plan.diff.add('volumes_removed', [], removed)
    return plan


def plan_domain(current, desired):
    """Pure: current normalised state + desired state -> Plan."""
    plan = Plan()
    if desired['state'] == 'absent':
        return _absent_plan(plan, current, desired)

    name = desired['name']
    exists = current.get('exists', False)
    adopt_text = None
    if exists:
        adopt_text = _ownership.check_owner('domain', name, current['owner'], desired['cluster'], desired['adopt'])
    cluster = desired['cluster'] or (current['owner'].get('cluster') if exists else None)
    active = exists and current['active']
    base = current.get('xml') if exists else None

    if desired['xml'] is not None:
        new_root = _xml.copy(desired['xml'])
        if base is not None and base.find('uuid') is not None:
            new_root.find('name').addnext(_xml.copy(base.find('uuid')))
        config_diffs = dx.xml_differences(desired['xml'], base) if base is not None else ['new']
        live_diffs = dx.xml_differences(desired['xml'], current['live_xml']) if active else []
        before_text = _xml.to_text(_xml.stripped(_without_secrets(base))) if base is not None else None
        plan.diff.add('xml', before_text,
                      before_text if not config_diffs else _xml.to_text(_xml.stripped(_without_secrets(new_root))))
        changed = ['xml'] if config_diffs else []
    else:
        config = dict(desired['config'])
        if not exists:
            for key, value in CREATE_DEFAULTS.items():
                config.setdefault(key, value)
            if 'memory' not in config:
                raise StrataError("Option memory: required to create domain '%s'" % name)
        config = complete_config(config, current)
        _check_type(config, current)
        have = current.get('config') if exists else None
        changed = dx.differences(config, have) if exists else [k for k in dx.CONFIG_KEYS if k in config]
        for key in dx.CONFIG_KEYS:
            if key not in config:
                continue
            after = _want_view(key, config[key])
            before = None
            if exists:
                before = after if key not in changed else dx.setting_view(key, have, config[key])
            plan.diff.add(key, before, after)
        new_root = dx.render_domain(name, config, changed, base)
        live = current.get('live') if active else None
        live_diffs = dx.differences(config, live) if live is not None else []
    _ownership.set_mark(new_root, cluster)

    persistent = exists and current.get('persistent')
    plan.add_define('domain', name, exists, persistent, changed, adopt_text, _xml.to_text(new_root))

    if current.get('console_log_dir'):
        plan.add('log_dir', 'create directory %s for the console log' % current['console_log_dir'],
                 path=current['console_log_dir'])
        plan.diff.add('console_log_dir', '%s: absent' % current['console_log_dir'],
                      '%s: directory, mode 0755' % current['console_log_dir'])

    state = current.get('state') if exists else None
    stopping = active and desired['state'] == 'stopped'
    resuming = desired['state'] == 'running' and state == 3  # paused
    starting = desired['state'] == 'running' and not active
    restart = active and not stopping and bool(live_diffs)
    if restart and desired['restart']:
        plan.add('restart', "restart domain '%s' to apply %s (ACPI shutdown, forced off after %ss, then start)"
                 % (name, ', '.join(changed or ['the changed definition']), desired['shutdown_timeout']),
                 timeout=desired['shutdown_timeout'])
    elif restart:
        plan.restart_required = True
    if resuming:
        plan.add('resume', "resume paused domain '%s'" % name)
    if starting:
        plan.add('start', "start domain '%s'" % name)
    if stopping:
        plan.add('stop', _stop_text(name, desired['shutdown_timeout']), timeout=desired['shutdown_timeout'])
    if stopping or (not active and not starting):
        after_state = 'shut off'
    elif starting or resuming:
        after_state = 'running'
    else:
        after_state = state_word(current)
    plan.diff.add('state', state_word(current) if exists else 'absent', after_state)
    plan.add_autostart('domain', name, exists, current, desired['autostart'])
    return plan


# ---------------------------------------------------------------- lifecycle (libvirt)

def _is_active(dom):
    libvirt = _connection.libvirt
    try:
        return bool(dom.isActive())
    except libvirt.libvirtError as exc:
        if _connection.is_error(exc, 'VIR_ERR_NO_DOMAIN'):
            return False  # a transient domain is gone once it is off
        raise


def stop_domain(dom, timeout, poll=POLL):
    """ACPI shutdown, wait up to timeout seconds, then force off. Returns {method, seconds[, reason]}."""
    libvirt = _connection.libvirt
    name = dom.name()
    started = time.monotonic()

    def report(method, reason=None):
        result = {'method': method, 'seconds': round(time.monotonic() - started, 1)}
        if reason:
            result['reason'] = reason
        return result

    def force(reason):
        try:
            dom.destroy()
        except libvirt.libvirtError as exc:
            if _is_active(dom):
                raise StrataError("Failed to force off domain '%s': %s" % (name, _connection.error_text(exc)))
        return report('forced', reason)

    if not _is_active(dom):
        return report('none', 'already shut off')
    state = dom.state()[0]
    if state in (libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PMSUSPENDED, libvirt.VIR_DOMAIN_CRASHED):
        return force('the domain is %s and cannot handle an ACPI shutdown' % STATE_NAMES.get(state))
    if timeout <= 0:
        return force('shutdown_timeout is 0')
    try:
        try:
            dom.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)
        except libvirt.libvirtError as exc:
            if not _connection.unsupported(exc):
                raise
            dom.shutdown()  # drivers without the ACPI flag (test:///default)
    except libvirt.libvirtError as exc:
        if not _is_active(dom):
            return report('acpi')
        raise StrataError("Failed to ask domain '%s' for an ACPI shutdown: %s" % (name, _connection.error_text(exc)))
    while time.monotonic() - started < timeout:
        if not _is_active(dom):
            return report('acpi')
        time.sleep(poll)
    if not _is_active(dom):
        return report('acpi')
    return force('no ACPI shutdown within %ss' % timeout)


def undefine_domain(dom, nvram):
    """Undefine with every cleanup flag the driver supports; narrower flag sets when it refuses some.

    A flag that was needed but dropped makes libvirt refuse the undefine (e.g. snapshots left), so
    nothing is silently left behind.
    """
    libvirt = _connection.libvirt

    def flags(*names):
        value = 0
        for flag in names:
            value |= getattr(libvirt, 'VIR_DOMAIN_UNDEFINE_' + flag, 0)
        return value

    nv = ('NVRAM',) if nvram else ()
    attempts = [flags('MANAGED_SAVE', 'SNAPSHOTS_METADATA', 'CHECKPOINTS_METADATA', *nv),
                flags('MANAGED_SAVE', 'SNAPSHOTS_METADATA', *nv), flags('MANAGED_SAVE', 'SNAPSHOTS_METADATA'),
                flags(*nv), 0]
    for attempt in attempts:
        try:
            dom.undefineFlags(attempt)
            return
        except libvirt.libvirtError as exc:
            if attempt and _connection.unsupported(exc):
                continue
            raise StrataError("Failed to undefine domain '%s': %s" % (dom.name(), _connection.error_text(exc)))


def _delete_metadata(what, obj, flag):
    """Delete snapshot/checkpoint metadata; drivers without METADATA_ONLY leave it to undefine's flags."""
    libvirt = _connection.libvirt
    try:
        obj.delete(flag)
    except libvirt.libvirtError as exc:
        if not _connection.unsupported(exc):
            raise StrataError('Failed to %s: %s' % (what, _connection.error_text(exc)))


def lookup_domain(conn, name):
    libvirt = _connection.libvirt
    try:
        return conn.lookupByName(name)
    except libvirt.libvirtError as exc:
        if _connection.is_error(exc, 'VIR_ERR_NO_DOMAIN'):
            return None
        raise StrataError("Failed to look up domain '%s': %s" % (name, _connection.error_text(exc)))


def domain_xml(dom, inactive=False, secure=False):
    libvirt = _connection.libvirt
    flags = (libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0) | (libvirt.VIR_DOMAIN_XML_SECURE if secure else 0)
    what = "read the definition of domain '%s'" % dom.name()
    try:
        text = dom.XMLDesc(flags)
    except libvirt.libvirtError as exc:
        if not (secure and _connection.unsupported(exc)):
            raise StrataError('Failed to %s: %s' % (what, _connection.error_text(exc)))
        text = _connection.call(what, dom.XMLDesc, flags & ~libvirt.VIR_DOMAIN_XML_SECURE)
    return _xml.parse_xml(text, 'domain XML from libvirt')


def read_domain_state(conn, name, dom, secure=False):
    """The state of one domain (dom: virDomain or None) with its persistent and live settings."""
    if dom is None:
        return {'exists': False, 'name': name}
    what = "read domain '%s'" % name
    active = _is_active(dom)
    persistent = bool(_connection.call(what, dom.isPersistent))
    state, reason = _connection.call(what, dom.state)
    root = domain_xml(dom, inactive=persistent, secure=secure)
    live_root = domain_xml(dom) if active else None
    return {
        'exists': True, 'name': name, 'uuid': _xml.text_of(root, 'uuid'), 'id': dom.ID() if active else None,
        'active': active, 'persistent': persistent, 'state': state, 'state_reason': reason,
        'autostart': bool(_connection.call(what, dom.autostart)) if persistent else False,
        'owner': _ownership.read_mark(root),
        'config': dx.parse_domain(root), 'live': dx.parse_domain(live_root) if active else None,
        'xml': root, 'live_xml': live_root,
    }


def _names(func, what):
    libvirt = _connection.libvirt
    try:
        return sorted(item.getName() for item in func(0))
    except libvirt.libvirtError as exc:
        if _connection.unsupported(exc):
            return []
        raise StrataError('Failed to %s: %s' % (what, _connection.error_text(exc)))
    except AttributeError:  # a binding without checkpoints
        return []


def _disk_sources(conn, disks):
    """Format and path of the desired disks' sources; errors (unknown pool or volume) name the option."""
    libvirt = _connection.libvirt
    found = {}
    for index, disk in enumerate(disks):
        source = disk['source']
        option = 'disks[%d]' % index
        if not source:
            continue
        if 'volume' in source:
            pool = _volume.active_pool(conn, source['pool'], option + '.pool')
            vol = _volume.lookup_volume(pool, source['volume'], source['pool'], option + '.volume')
            found[index] = _volume.volume_state(vol, "read volume '%s/%s'" % (source['pool'], source['volume']))
            continue
        try:
            found[index] = _volume.volume_state(conn.storageVolLookupByPath(source['file']), 'read ' + source['file'])
            continue
        except libvirt.libvirtError:
            pass  # not a volume of a pool libvirt knows
        if disk['format'] is None and disk['device'] == 'disk':
            try:
                fmt, _size = _volume.probe_image(source['file'], option + '.file')
            except StrataError:
                raise StrataError('Option %s.file: %r is neither a volume libvirt knows nor a readable file '
                                  'on this host; set format if it exists on the hypervisor' % (option, source['file']))
            found[index] = {'format': fmt, 'path': source['file']}
    return found


def _check_networks(conn, interfaces):
    libvirt = _connection.libvirt
    for index, iface in enumerate(interfaces):
        if iface['type'] != 'network':
            continue
        try:
            conn.networkLookupByName(iface['source'])
        except libvirt.libvirtError as exc:
            if _connection.is_error(exc, 'VIR_ERR_NO_NETWORK'):
                raise StrataError("Option interfaces[%d].network: network '%s' does not exist"
                                  % (index, iface['source']))
            raise StrataError("Failed to look up network '%s': %s" % (iface['source'], _connection.error_text(exc)))


def _disk_refs(conn, config):
    """(pool, volume) and path of each disk of a domain's config."""
    libvirt = _connection.libvirt
    refs = []
    for disk in config.get('disks') or []:
        source = disk.get('source') or {}
        ref = {'path': source.get('file'), 'pool': source.get('pool'), 'volume': source.get('volume')}
        try:
            if source.get('volume'):
                pool = lookup_pool(conn, source['pool'])
                vol = pool.storageVolLookupByName(source['volume']) if pool is not None else None
            elif source.get('file'):
                vol = conn.storageVolLookupByPath(source['file'])
            else:
                vol = None
        except libvirt.libvirtError:
            vol = None
        if vol is not None:
            ref.update(path=vol.path(), key=vol.key(), pool=vol.storagePoolLookupByVolume().name(), volume=vol.name())
        refs.append(ref)
    return refs


def _owned_volumes(ctx, name, config):
    """The storage volumes of a domain's disks, their ownership, and which other domains use them."""
    volumes = [ref for ref in _disk_refs(ctx.conn, config) if ref.get('key')]
    if not volumes:
        return []
    users = {}
    for other in _connection.call('list the domains', ctx.conn.listAllDomains, 0):
        if other.name() == name:
            continue
        other_config = dx.parse_domain(domain_xml(other, inactive=bool(other.isPersistent())))
        for ref in _disk_refs(ctx.conn, other_config):
            users.setdefault(ref.get('key') or ref.get('path'), set()).add(other.name())
    result = []
    for vol in volumes:
        result.append({'pool': vol['pool'], 'name': vol['volume'], 'key': vol['key'], 'path': vol['path'],
                       'owner': ctx.registry.get('volumes', vol['key']),
                       'used_by': sorted(users.get(vol['key'], set()) | users.get(vol['path'], set()))})
    return result


def read_domain(ctx, desired):
    name = desired['name']
    dom = lookup_domain(ctx.conn, name)
    state = read_domain_state(ctx.conn, name, dom, secure=True)
    if desired['state'] == 'absent':
        if state['exists']:
            what = "read domain '%s'" % name
            state['managed_save'] = bool(_connection.call(what, dom.hasManagedSaveImage, 0))
            state['snapshots'] = _names(dom.listAllSnapshots, 'list the snapshots of domain %s' % name)
            state['checkpoints'] = _names(getattr(dom, 'listAllCheckpoints', None) or (lambda flags: []),
                                          'list the checkpoints of domain %s' % name)
            if desired['remove_volumes']:
                state['volumes'] = _owned_volumes(ctx, name, state['config'])
        return state
    config = desired['config']
    if config.get('disks'):
        state['sources'] = _disk_sources(ctx.conn, config['disks'])
    if config.get('interfaces'):
        _check_networks(ctx.conn, config['interfaces'])
    state['console_log_dir'] = missing_log_dir(ctx.uri, config.get('console_log'))
    return state


def missing_log_dir(uri, log):
    """The console log's directory if QEMU on this host would need it and it does not exist (virtlogd creates
    the file, not its directory: the start would fail), else None. Unknown for a remote hypervisor."""
    if not log or not _connection.is_local_qemu(uri):
        return None
    directory = os.path.dirname(log)
    return None if os.path.isdir(directory) else directory


# ---------------------------------------------------------------- facts

def _without_secrets(root):
    """The definition without passwords (graphics passwd=...): read with VIR_DOMAIN_XML_SECURE so that a
    redefine keeps them, but never reported."""
    root = _xml.copy(root)
    for elem in root.iter():
        if isinstance(elem.tag, str) and 'passwd' in elem.attrib:
            elem.set('passwd', '********')
    return root


def domain_facts(state):
    if not state.get('exists'):
        return {'name': state['name'], 'exists': False}
    config = state['config']
    facts = {
        'name': state['name'], 'exists': True, 'uuid': state['uuid'], 'id': state['id'],
        'state': STATE_NAMES.get(state['state'], 'unknown'), 'active': state['active'],
        'persistent': state['persistent'], 'autostart': state['autostart'], 'ownership': state['owner'],
        'memory_mib': config['memory'] // 1024 ** 2 if config['memory'] else None,
        'current_memory_mib': config['current_memory'] // 1024 ** 2 if config['current_memory'] else None,
        'xml': _xml.to_text(_without_secrets(state['xml'])),
    }
    for key in ('type', 'vcpus', 'cpu', 'machine', 'arch', 'firmware', 'nvram', 'tcg_tb_cache', 'disks',
                'interfaces', 'serial_console', 'console_log', 'guest_agent', 'rng', 'graphics', 'hostdevs'):
        facts[key] = config[key]
    return facts


# ---------------------------------------------------------------- the resource

class DomainResource(Resource):
    kind = 'domain'
    reports_restart = True

    def __init__(self, module):
        super(DomainResource, self).__init__(module)
        self.stop_report = None

    def result_extras(self):
        return {} if self.stop_report is None else {'stop': self.stop_report}

    def desired(self):
        return desired_from_params(self.params)

    def read(self, ctx, desired):
        return read_domain(ctx, desired)

    def plan(self, current, desired):
        return plan_domain(current, desired)

    def facts(self, state):
        return domain_facts(state)

    def _dom(self, ctx):
        dom = lookup_domain(ctx.conn, self.params['name'])
        if dom is None:
            raise StrataError("Domain '%s' disappeared while the task ran" % self.params['name'])
        return dom

    def _what(self, verb):
        return "%s domain '%s'" % (verb, self.params['name'])

    def do_define(self, ctx, xml):
        _connection.call(self._what('define'), ctx.conn.defineXML, xml)

    def do_log_dir(self, ctx, path):
        try:
            os.makedirs(path, 0o755)
        except OSError as exc:
            if not os.path.isdir(path):
                raise StrataError('Failed to create directory %s for the console log: %s' % (path, exc))

    def do_start(self, ctx):
        _connection.call(self._what('start'), self._dom(ctx).create)

    def do_resume(self, ctx):
        _connection.call(self._what('resume'), self._dom(ctx).resume)

    def do_stop(self, ctx, timeout):
        self.stop_report = stop_domain(self._dom(ctx), timeout)

    def do_restart(self, ctx, timeout):
        self.do_stop(ctx, timeout)
        self.do_start(ctx)

    def do_autostart(self, ctx, value):
        _connection.call(self._what('set autostart of'), self._dom(ctx).setAutostart, 1 if value else 0)

    def do_remove_managed_save(self, ctx):
        _connection.call(self._what('remove the managed save image of'), self._dom(ctx).managedSaveRemove, 0)

    def do_remove_snapshots(self, ctx, names):
        libvirt = _connection.libvirt
        dom = self._dom(ctx)
        for snap_name in names:
            snap = _connection.call(self._what('look up snapshot %s of' % snap_name), dom.snapshotLookupByName,
                                    snap_name, 0)
            _delete_metadata(self._what('remove snapshot metadata %s of' % snap_name), snap,
                             libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY)

    def do_remove_checkpoints(self, ctx, names):
        libvirt = _connection.libvirt
        dom = self._dom(ctx)
        for cp_name in names:
            checkpoint = _connection.call(self._what('look up checkpoint %s of' % cp_name),
                                          dom.checkpointLookupByName, cp_name, 0)
            _delete_metadata(self._what('remove checkpoint metadata %s of' % cp_name), checkpoint,
                             libvirt.VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY)

    def do_undefine(self, ctx, nvram):
        undefine_domain(self._dom(ctx), nvram)

    def do_delete_volume(self, ctx, pool, volume, key):
        pool_obj = _volume.active_pool(ctx.conn, pool, 'remove_volumes')
        vol = _volume.lookup_volume(pool_obj, volume, pool)
        if vol is not None:
            _connection.call("delete volume '%s' in pool '%s'" % (volume, pool), vol.delete, 0)
        ctx.registry.forget('volumes', key)

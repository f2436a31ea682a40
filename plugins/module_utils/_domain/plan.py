# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The domain planner (pure): current normalised state + desired state -> Plan (actions and diff).

The persistent definition is what is compared and changed. A running domain whose definition changes keeps
running and reports restart_required (or is restarted when restart=true). absent also plans the removal of
the managed save image, snapshot and checkpoint metadata, the NVRAM file and, when asked, the storage volumes
strata.libvirt owns.

Private to strata.libvirt; no compatibility promise.
"""

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._common import Plan, adoption
from ansible_collections.strata.libvirt.plugins.module_utils import _ownership
from ansible_collections.strata.libvirt.plugins.module_utils import _xml
from ansible_collections.strata.libvirt.plugins.module_utils._domain.compare import differences, setting_view, xml_differences
from ansible_collections.strata.libvirt.plugins.module_utils._domain.spec import CREATE_DEFAULTS
from ansible_collections.strata.libvirt.plugins.module_utils._domain.facts import state_word, without_secrets
from ansible_collections.strata.libvirt.plugins.module_utils._domain.render import render_domain
from ansible_collections.strata.libvirt.plugins.module_utils._domain.settings import CONFIG_KEYS

# The mode of a console log's directory the domain module creates (libvirt writes the log in it, mode 0600).
LOG_DIR_MODE = 0o755


def _want_view(key, want):
    if key == 'memory':
        return setting_view('memory', {'memory': want})
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
    if current.get('console_log_file'):
        plan.add('remove_console_log', "delete the serial console log %s of domain '%s'" % (current['console_log_file'], name),
                 path=current['console_log_file'])
        plan.diff.add('console_log', current['console_log_file'], None)
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
    adopt_text, cluster = adoption('domain', name, current, desired)
    active = exists and current['active']
    base = current.get('xml') if exists else None

    if desired['xml'] is not None:
        new_root = _xml.copy(desired['xml'])
        if base is not None and base.find('uuid') is not None:
            new_root.find('name').addnext(_xml.copy(base.find('uuid')))
        config_diffs = xml_differences(desired['xml'], base) if base is not None else ['new']
        live_diffs = xml_differences(desired['xml'], current['live_xml']) if active else []
        before_text = _xml.to_text(_xml.stripped(without_secrets(base))) if base is not None else None
        plan.diff.add('xml', before_text,
                      before_text if not config_diffs else _xml.to_text(_xml.stripped(without_secrets(new_root))))
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
        changed = differences(config, have) if exists else [k for k in CONFIG_KEYS if k in config]
        for key in CONFIG_KEYS:
            if key not in config:
                continue
            after = _want_view(key, config[key])
            before = None
            if exists:
                before = after if key not in changed else setting_view(key, have, config[key])
            plan.diff.add(key, before, after)
        new_root = render_domain(name, config, changed, base)
        live = current.get('live') if active else None
        live_diffs = differences(config, live) if live is not None else []
    _ownership.set_mark(new_root, cluster)

    persistent = exists and current.get('persistent')
    plan.add_define('domain', name, exists, persistent, changed, adopt_text, _xml.to_text(new_root))

    if current.get('console_log_dir'):
        plan.add('log_dir', 'create directory %s for the console log' % current['console_log_dir'],
                 path=current['console_log_dir'])
        plan.diff.add('console_log_dir', '%s: absent' % current['console_log_dir'],
                      '%s: directory, mode %04o' % (current['console_log_dir'], LOG_DIR_MODE))

    state = current.get('state') if exists else None
    stopping = active and desired['state'] == 'stopped'
    resuming = desired['state'] == 'running' and state == 3  # paused
    starting = desired['state'] == 'running' and not active
    restart = active and not stopping and bool(live_diffs)
    plan.add_restart(restart, desired['restart'],
                     "restart domain '%s' to apply %s (ACPI shutdown, forced off after %ss, then start)"
                     % (name, ', '.join(changed or ['the changed definition']), desired['shutdown_timeout']),
                     timeout=desired['shutdown_timeout'])
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

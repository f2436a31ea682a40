# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Compare a domain's settings or XML with what was asked, and only that: the diff views, the settings that
differ, and the differences of the xml escape hatch. Pure (no libvirt).

Private to strata.libvirt; no compatibility promise.
"""

from ansible_collections.strata.libvirt.plugins.module_utils import _xml
from ansible_collections.strata.libvirt.plugins.module_utils._domain.settings import CONFIG_KEYS, UNIT_FACTORS

# Short machine names libvirt expands into a versioned one when it stores the definition.
MACHINE_ALIASES = {'pc': 'pc-i440fx-', 'q35': 'pc-q35-'}


def same_machine(want, have):
    """q35 matches pc-q35-7.2 (libvirt stores the versioned name of an alias); otherwise exact."""
    if want == have:
        return True
    prefix = MACHINE_ALIASES.get(want)
    return bool(prefix and have and have.startswith(prefix))


def _cpu_same(want, have):
    have = have or {'mode': None, 'model': None}
    return all(have.get(key) == value for key, value in want.items() if value is not None)


def iface_same(want, have):
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
        for sub in ('loader', 'nvram_template', 'secure_boot'):
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
                all(config.get(sub) == want[sub] for sub in ('loader', 'nvram_template') if want.get(sub)) and
                (want.get('secure_boot') is None or config.get('secure_boot') == want['secure_boot']))
    if key == 'interfaces':
        return len(want) == len(have or []) and all(iface_same(w, h) for w, h in zip(want, have))
    if key == 'disks':
        return sorted(want, key=lambda d: d['target']) == sorted(have or [], key=lambda d: d['target'] or '')
    return have == want


def differences(desired_config, config):
    """Keys of desired_config whose value config does not have."""
    return [key for key in CONFIG_KEYS if key in desired_config and not same_setting(key, desired_config[key], config)]


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
        if unit is None or unit.lower() not in UNIT_FACTORS:
            continue
        elem.text = str(int(text) * UNIT_FACTORS[unit.lower()])
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

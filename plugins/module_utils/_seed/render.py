# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""cloud-init's input: a small deterministic YAML emitter (sorted keys, no dependency on PyYAML on the
managed node; JSON-quoted scalars keep it unambiguous), the #cloud-config a strata VM needs, and the
rendering of user-data, meta-data and network-config.

Private to strata.libvirt; no compatibility promise.
"""

import copy
import json
import re

DEFAULT_SUDO = 'ALL=(ALL) NOPASSWD:ALL'

_PLAIN_KEY_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_.-]*$')
_PLAIN_VALUE_RE = re.compile(r'^[A-Za-z_/][A-Za-z0-9_./@+-]*$')
_YAML_WORDS = frozenset(['y', 'n', 'yes', 'no', 'on', 'off', 'true', 'false', 'null', 'none'])
_UNSAFE_CHARS_RE = re.compile(u'[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff]')


# ---------------------------------------------------------------- YAML (deterministic, cloud-init reads it)

def _key(key):
    text = str(key)
    if _PLAIN_KEY_RE.match(text) and text.lower() not in _YAML_WORDS:
        return text
    return _quoted(text)


def _quoted(text):
    text = json.dumps(text, ensure_ascii=False)
    return _UNSAFE_CHARS_RE.sub(lambda m: '\\u%04x' % ord(m.group(0)), text)


def _scalar(value):
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return json.dumps(value)
    text = str(value)
    if _PLAIN_VALUE_RE.match(text) and text.lower() not in _YAML_WORDS:
        return text
    return _quoted(text)


def _literal(text):
    """(indicator, lines) for a block literal, or None when the text is better quoted."""
    if '\n' not in text or text.startswith((' ', '\n')) or _UNSAFE_CHARS_RE.search(text) or '\t' in text:
        return None
    if text.endswith('\n\n'):
        return '|+', text[:-1].split('\n')
    if text.endswith('\n'):
        return '|', text[:-1].split('\n')
    return '|-', text.split('\n')


def _entry(head, value, indent):
    if isinstance(value, (dict, list)) and value:
        return [head] + _block(value, indent + 2)
    if isinstance(value, dict):
        return [head + ' {}']
    if isinstance(value, list):
        return [head + ' []']
    if isinstance(value, str):
        literal = _literal(value)
        if literal:
            pad = ' ' * (indent + 2)
            return [head + ' ' + literal[0]] + [(pad + line) if line else '' for line in literal[1]]
    return [head + ' ' + _scalar(value)]


def _block(value, indent):
    pad = ' ' * indent
    lines = []
    if isinstance(value, dict):
        for key in sorted(value, key=str):
            lines.extend(_entry(pad + _key(key) + ':', value[key], indent))
        return lines
    for item in value:
        if isinstance(item, (dict, list)) and item:
            sub = _block(item, indent + 2)
            sub[0] = pad + '- ' + sub[0][indent + 2:]
            lines.extend(sub)
        else:
            lines.extend(_entry(pad + '-', item, indent))
    return lines


def to_yaml(data):
    """YAML text of plain data (dict, list, str, int, float, bool, None): sorted keys, deterministic."""
    if isinstance(data, (dict, list)) and data:
        return '\n'.join(_block(data, 0)) + '\n'
    if isinstance(data, (dict, list)):
        return '{}\n' if isinstance(data, dict) else '[]\n'
    return (_quoted(data) if isinstance(data, str) and _literal(data) else _scalar(data)) + '\n'


# ---------------------------------------------------------------- user-data the roles need

def merge(base, extra):
    """cloud-config deep merge: dicts merge, lists concatenate, anything else from extra wins."""
    result = copy.deepcopy(base)
    for key, value in (extra or {}).items():
        if isinstance(result.get(key), dict) and isinstance(value, dict):
            result[key] = merge(result[key], value)
        elif isinstance(result.get(key), list) and isinstance(value, list):
            result[key] = result[key] + copy.deepcopy(value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def build_user_data(hostname=None, fqdn=None, user=None, ssh_authorized_keys=None, sudo=DEFAULT_SUDO,
                    shell='/bin/bash', groups=None, packages=None, ca_certs=None, ssh_genkeytypes=None,
                    write_files=None, runcmd=None, root_password=None, locale=None, extra=None):
    """The #cloud-config dict of a strata VM; extra (the user's own dict) is deep-merged on top."""
    data = {}
    if hostname:
        data['hostname'] = hostname
        data['manage_etc_hosts'] = True
    if fqdn:
        data['fqdn'] = fqdn
        data['prefer_fqdn_over_hostname'] = False
    if user:
        entry = {'name': user, 'lock_passwd': True, 'shell': shell}
        if sudo:
            entry['sudo'] = sudo
        if groups:
            entry['groups'] = ','.join(groups) if isinstance(groups, list) else groups
        if ssh_authorized_keys:
            entry['ssh_authorized_keys'] = list(ssh_authorized_keys)
        data['users'] = [entry]
    elif ssh_authorized_keys:
        data['ssh_authorized_keys'] = list(ssh_authorized_keys)  # the image's default user
    if ssh_genkeytypes is not None:
        # host keys made at first boot, on the guest: never baked into the image or the seed
        data['ssh_deletekeys'] = True
        data['ssh_genkeytypes'] = list(ssh_genkeytypes)
    if packages:
        data['packages'] = list(packages)
    if ca_certs:
        data['ca_certs'] = {'trusted': [pem.strip() + '\n' for pem in ca_certs]}
    if locale:
        data['locale'] = locale
    if write_files:
        data['write_files'] = list(write_files)
    if runcmd:
        data['runcmd'] = list(runcmd)
    if root_password:
        kind = 'hash' if root_password.startswith('$') else 'text'
        data['chpasswd'] = {'expire': False, 'users': [{'name': 'root', 'password': root_password, 'type': kind}]}
    if extra:
        data = merge(data, extra)
    return data


def render_user_data(user_data):
    """user-data text: a dict becomes #cloud-config YAML, a string is used as it is."""
    if isinstance(user_data, dict):
        return '#cloud-config\n' + to_yaml(user_data)
    text = str(user_data)
    return text if text.endswith('\n') else text + '\n'


def render_meta_data(meta_data):
    return to_yaml(meta_data)


def render_network_config(network_config):
    if network_config is None:
        return None
    if isinstance(network_config, dict):
        if 'network' not in network_config and 'version' in network_config:
            network_config = {'network': network_config}
        return to_yaml(network_config)
    text = str(network_config)
    return text if text.endswith('\n') else text + '\n'


def seed_files(user_data_text, meta_data_text, network_config_text=None):
    files = {'user-data': user_data_text, 'meta-data': meta_data_text}
    if network_config_text is not None:
        files['network-config'] = network_config_text
    return files

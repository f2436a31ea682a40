# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Redaction of user-data for diff output: passwords, tokens and private keys.

Private to strata.libvirt; no compatibility promise.
"""

import re

REDACTED = '<redacted>'

_SECRET_KEY_RE = re.compile(r'passw|secret|token|private', re.IGNORECASE)
_PRIVATE_KEY_RE = re.compile(r'-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----', re.DOTALL)
_SECRET_LINE_RE = re.compile(r'^(\s*(?:-\s+)?["\']?[\w-]*(?:passw|secret|token|private)[\w-]*["\']?\s*:\s*)'
                             r'(?!(?:true|false|null)\s*$)(\S.*)$',
                             re.IGNORECASE | re.MULTILINE)


def redact(data, _key_name=''):
    """A copy of user-data (dict) with passwords, tokens and private keys replaced."""
    if isinstance(data, dict):
        result = {}
        for key, value in data.items():
            name = str(key)
            if name == 'chpasswd' and isinstance(value, dict):
                result[key] = redact(value, name)
                if isinstance(value.get('list'), str):  # old form, "user:password" lines
                    result[key]['list'] = '\n'.join(
                        (line.split(':', 1)[0] + ':' + REDACTED) if ':' in line else line
                        for line in value['list'].split('\n'))
            elif _SECRET_KEY_RE.search(name) and isinstance(value, (str, list)) and name != 'chpasswd':
                result[key] = REDACTED if isinstance(value, str) else [REDACTED for dummy in value]
            else:
                result[key] = redact(value, name)
        return result
    if isinstance(data, list):
        return [redact(item, _key_name) for item in data]
    if isinstance(data, str) and 'PRIVATE KEY-----' in data:
        return _PRIVATE_KEY_RE.sub('<redacted private key>', data)
    return data


def redact_text(text):
    """Best effort for raw (string) user-data: private key blocks and `*password*: value` lines."""
    text = _PRIVATE_KEY_RE.sub('<redacted private key>', text)
    return _SECRET_LINE_RE.sub(lambda m: m.group(1) + REDACTED, text)

# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Redaction of user-data for diff output: passwords, tokens, private keys and URL credentials.

The diff shows the seed's files as text: the desired ones as _seed.render emits them, the current ones as they are
read back from the ISO (a string user-data may be any YAML). redact_text works on that text, line by line, with the
YAML block structure in mind: the value of a secret key is replaced whole, also when it is a block (a literal
``|``, a nested mapping or list). redact() does the same on a dict.

Private to strata.libvirt; no compatibility promise.
"""

import re

REDACTED = '<redacted>'
PRIVATE_KEY_REDACTED = '<redacted private key>'

# keys whose value is a secret (lock_passwd: true and other booleans are not); chpasswd itself is not one (its
# expire flag and user names are shown), its list and its users' passwords are
_SECRET_KEY_RE = re.compile(r'passw|secret|token|private', re.IGNORECASE)
_NOT_SECRET_KEYS = ('chpasswd',)
# (parent key, key) pairs whose value is a secret although the key's name says nothing: chpasswd's old form,
# "user:password" lines
_SECRET_CHILDREN = (('chpasswd', 'list'),)
_PLAIN_WORDS_RE = re.compile(r'^(?:true|false|yes|no|on|off|null|~)$', re.IGNORECASE)
_PRIVATE_KEY_RE = re.compile(r'-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY( BLOCK|)-----.*?-----END \1PRIVATE KEY\2-----',
                             re.DOTALL)
# scheme://userinfo@ : the password of user:password, or a lone user name (often a token)
_URL_USERINFO_RE = re.compile(r'(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s@\'"<>]+)@')
# a line of block YAML: indentation, sequence dashes, a key (plain or quoted), the value after the colon
_KEY_LINE_RE = re.compile(r'^(?P<lead>(?P<indent> *)(?P<dashes>(?:- +)*))'
                          r'(?P<key>"(?:[^"\\]|\\.)*"|\'[^\']*\'|[^\s#\'"{\[\-][^:#]*?|-[^\s:#][^:#]*?)'
                          r'(?P<colon> *:)(?:(?P<space> +)(?P<value>.*?))? *$')
# a secret key inside a flow mapping or JSON on one line: {name: a, passwd: x} or {"password": "x"}
_FLOW_SECRET_RE = re.compile(r'(?P<head>[{,]\s*(?P<q>["\']?)[\w-]*(?:passw|secret|token|private)[\w-]*(?P=q)\s*:\s*)'
                             r'(?!(?:true|false|yes|no|on|off|null|~)\s*[,}\]])'
                             r'(?P<value>"(?:[^"\\]|\\.)*"|\'[^\']*\'|[^,}\]\s][^,}\]]*)', re.IGNORECASE)


def is_secret_key(key, parent=None):
    name = str(key)
    if (str(parent), name) in _SECRET_CHILDREN:
        return True
    return bool(_SECRET_KEY_RE.search(name)) and name not in _NOT_SECRET_KEYS


def redact_urls(text):
    """text with the credentials of URLs (scheme://user:password@ or scheme://token@) redacted."""
    def hide(match):
        user, colon, dummy = match.group('userinfo').partition(':')
        return match.group('scheme') + ((user + ':' + REDACTED) if colon else REDACTED) + '@'
    return _URL_USERINFO_RE.sub(hide, text)


def _redact_string(text):
    return redact_urls(_PRIVATE_KEY_RE.sub(PRIVATE_KEY_REDACTED, text))


def redact(data, _key_name=None):
    """A copy of user-data (dict) with passwords, tokens, private keys and URL credentials replaced."""
    if isinstance(data, dict):
        result = {}
        for key, value in data.items():
            if (str(_key_name), str(key)) in _SECRET_CHILDREN and isinstance(value, (str, list)):
                result[key] = _user_lines(value)
            elif is_secret_key(key, _key_name) and not (isinstance(value, bool) or value is None):
                result[key] = REDACTED
            else:
                result[key] = redact(value, key)
        return result
    if isinstance(data, list):
        return [redact(item, _key_name) for item in data]
    if isinstance(data, str):
        return _redact_string(data)
    return data


def _user_lines(value):
    """chpasswd's list ("user:password" lines, or a list of them) with the passwords redacted, the users kept."""
    if isinstance(value, list):
        return [_user_lines(item) if isinstance(item, str) else REDACTED for item in value]
    return '\n'.join((line.split(':', 1)[0] + ':' + REDACTED) if ':' in line else line for line in value.split('\n'))


def _unquoted(key):
    if len(key) >= 2 and key[0] == key[-1] and key[0] in '"\'':
        return key[1:-1]
    return key.strip()


def redact_text(text):
    """user-data text with the values of secret keys (blocks included), private key blocks and URL credentials
    redacted. A secret kept where no key names it (a runcmd line, a file's content) is not found."""
    out = []
    parents = []         # (column, key) of the mapping keys the line is nested in
    skip = None          # while the block of a redacted value runs: (column of its key, whether a list may follow)
    for line in _redact_string(text).split('\n'):
        if skip is not None:
            column, list_follows = skip
            stripped = line.lstrip(' ')
            indent = len(line) - len(stripped)
            if not stripped or indent > column or (list_follows and indent == column and stripped.startswith('-')):
                continue
            skip = None
        match = _KEY_LINE_RE.match(line)
        if not match or match.group('key').startswith('#'):
            out.append(_FLOW_SECRET_RE.sub(lambda m: m.group('head') + REDACTED, line))
            continue
        column = len(match.group('lead'))
        if match.group('dashes'):
            parents = [p for p in parents if p[0] < len(match.group('indent'))]
        parents = [p for p in parents if p[0] < column]
        key = _unquoted(match.group('key'))
        parent = parents[-1][1] if parents else None
        parents.append((column, key))
        value = (match.group('value') or '').strip()
        if not is_secret_key(key, parent) or _PLAIN_WORDS_RE.match(value):
            out.append(_FLOW_SECRET_RE.sub(lambda m: m.group('head') + REDACTED, line))
            continue
        out.append(line[:match.end('colon')] + ' ' + REDACTED)
        if not value or value[0] in '|>' or (value[0] in '&!' and len(value.split()) == 1):
            skip = (column, not value)
    return '\n'.join(out)

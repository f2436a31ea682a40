# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Input validation shared by the modules: every error names the option and the value.

Private to strata.libvirt; no compatibility promise.
"""

import ipaddress
import re

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError

NAME_RE = re.compile(r'^[A-Za-z0-9._-]+$')
HOSTNAME_RE = re.compile(r'^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
                         r'(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$')
MAC_RE = re.compile(r'^[0-9a-f]{2}(:[0-9a-f]{2}){5}$')
BRIDGE_RE = re.compile(r'^[A-Za-z0-9._-]{1,15}$')

# libvirt's own unit vocabulary (formatstorage.html#storage-volume-general-metadata)
_UNITS = {
    '': 1, 'b': 1, 'bytes': 1,
    'k': 1024, 'kib': 1024, 'kb': 1000,
    'm': 1024 ** 2, 'mib': 1024 ** 2, 'mb': 1000 ** 2,
    'g': 1024 ** 3, 'gib': 1024 ** 3, 'gb': 1000 ** 3,
    't': 1024 ** 4, 'tib': 1024 ** 4, 'tb': 1000 ** 4,
    'p': 1024 ** 5, 'pib': 1024 ** 5, 'pb': 1000 ** 5,
    'e': 1024 ** 6, 'eib': 1024 ** 6, 'eb': 1000 ** 6,
}
_SIZE_RE = re.compile(r'^\s*(\d+)\s*([A-Za-z]*)\s*$')


def name(value, option='name'):
    if value is None or not NAME_RE.match(value) or value in ('.', '..'):
        raise StrataError("Option %s: invalid name %r; use only letters, digits, '.', '_' and '-'" % (option, value))
    return value


def hostname(value, option):
    if value is None or not HOSTNAME_RE.match(value):
        raise StrataError('Option %s: invalid host name %r' % (option, value))
    return value


def bridge(value, option='bridge'):
    if not BRIDGE_RE.match(value):
        raise StrataError("Option %s: invalid bridge name %r; at most 15 letters, digits, '.', '_' or '-'"
                          % (option, value))
    return value


def _subject(option, subject):
    """Where a message starts: 'Option <option>' for a module's option, or the caller's own subject (such as
    "vms[0] 'db1': memory")."""
    return subject if subject is not None else 'Option %s' % option


def size(value, option, subject=None):
    """Bytes from 35G / 512MiB / 1000000 (libvirt's units: K=KiB=1024, KB=1000, ...)."""
    what = _subject(option, subject)
    if isinstance(value, int) and not isinstance(value, bool):
        number, unit = value, ''
    else:
        match = _SIZE_RE.match(to_text(value))
        if not match or match.group(2).lower() not in _UNITS:
            raise StrataError("%s: invalid size %r; use bytes or a number with a unit such as "
                              "512M, 35G, 1T (K/M/G/T are powers of 1024, KB/MB/GB/TB of 1000)" % (what, value))
        number, unit = int(match.group(1)), match.group(2).lower()
    result = number * _UNITS[unit]
    if result <= 0:
        raise StrataError('%s: size %r must be greater than 0' % (what, value))
    return result


def memory_bytes(value, option='memory', subject=None):
    """512 / '512' (MiB), '2G', '1536MiB' -> bytes; a multiple of 1 KiB and more than 0."""
    what = _subject(option, subject)
    if isinstance(value, bool):
        raise StrataError('%s: invalid memory size %r' % (what, value))
    if isinstance(value, int) or (isinstance(value, str) and value.strip().lstrip('-').isdigit()):
        number = int(value)
        if number <= 0:
            raise StrataError('%s: %r must be greater than 0 (a plain number is MiB)' % (what, value))
        return number * 1024 ** 2
    if isinstance(value, str) and value.strip().startswith('-'):
        raise StrataError('%s: %r must be greater than 0' % (what, value))
    nbytes = size(value, option, subject)
    if nbytes % 1024:
        raise StrataError('%s: %r is not a whole number of KiB' % (what, value))
    return nbytes


def human_size(nbytes):
    """35G-style text for messages (exact when possible)."""
    for unit, factor in (('T', 1024 ** 4), ('G', 1024 ** 3), ('M', 1024 ** 2), ('K', 1024)):
        if nbytes >= factor and nbytes % factor == 0:
            return '%d%s (%d bytes)' % (nbytes // factor, unit, nbytes)
    return '%d bytes' % nbytes


def mac(value, option):
    text = (value or '').strip().lower()
    if not MAC_RE.match(text):
        raise StrataError('Option %s: invalid MAC address %r' % (option, value))
    return text


def ipv4_address(value, option):
    try:
        return ipaddress.IPv4Address(to_text(value).strip())
    except (ValueError, ipaddress.AddressValueError):
        raise StrataError('Option %s: invalid IPv4 address %r' % (option, value))


def ipv4_interface(value, option):
    """10.240.1.1/24 -> IPv4Interface; the host address must be usable inside its subnet."""
    try:
        iface = ipaddress.IPv4Interface(to_text(value).strip())
    except (ValueError, ipaddress.AddressValueError, ipaddress.NetmaskValueError):
        raise StrataError("Option %s: invalid IPv4 CIDR %r; expected the host's address with a prefix, "
                          "such as 10.240.1.1/24" % (option, value))
    if '/' not in to_text(value):
        raise StrataError('Option %s: %r has no prefix length; expected e.g. 10.240.1.1/24' % (option, value))
    net = iface.network
    if net.prefixlen > 30:
        raise StrataError('Option %s: prefix of %r is too long for a network with DHCP (at most /30)' % (option, value))
    if iface.ip in (net.network_address, net.broadcast_address):
        raise StrataError("Option %s: %r is the subnet's network or broadcast address, not a usable host address"
                          % (option, value))
    return iface


def in_subnet(addr, iface, option):
    net = iface.network
    if addr not in net or addr in (net.network_address, net.broadcast_address):
        raise StrataError('Option %s: %s is outside the usable addresses of subnet %s' % (option, addr, net))
    return addr


def no_duplicates(values, option):
    seen = set()
    for value in values:
        if value is None:
            continue
        if value in seen:
            raise StrataError('Option %s: duplicate value %s' % (option, value))
        seen.add(value)

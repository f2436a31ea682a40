# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cluster definition's vocabulary: its keys, rules and defaults (one table), and the checks of its
cluster-wide parts (network, pool, keys, certificates, startup settings).

Every check adds a one-line message to a Problems list instead of raising, so that a definition is
reported with all its problems at once.

Private to strata.libvirt; no compatibility promise.
"""

import base64
import binascii
import hashlib
import ipaddress
import re

try:
    import ssl
except ImportError:  # a Python without OpenSSL: the certificates are checked for their PEM form only
    ssl = None

from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._startup import spec as _startup

NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*$')
VM_NAME_RE = re.compile(r'^[a-z0-9]([a-z0-9-]*[a-z0-9])?$')     # and at most MAX_HOST_LABEL characters
GROUP_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
USER_RE = re.compile(r'^[a-z_][a-z0-9_-]{0,31}$')
DNS_DOMAIN_RE = re.compile(r'^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$')
SSH_KEY_RE = re.compile(r'^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp\d+|sk-\S+) \S+')
PEM_BEGIN, PEM_END = '-----BEGIN CERTIFICATE-----', '-----END CERTIFICATE-----'
PEM_RE = re.compile(r'%s.+?%s' % (PEM_BEGIN, PEM_END), re.S)

CLUSTER_KEYS = ('name', 'uri', 'virt_type', 'machine', 'tcg_tb_cache', 'image', 'size', 'network', 'networks', 'pool',
                'domain_prefix', 'firmware', 'secure_boot', 'cpu', 'hostdevs', 'connection', 'prune',
                'inventory_group', 'user', 'ssh_public_keys', 'ssh_private_key_file', 'ca_certificate', 'packages',
                'user_data', 'startup', 'vms', 'console_log_dir', 'autostart', 'description', 'default_probes', 'smoke',
                'placement', 'anti_affinity')
POOL_KEYS = ('name', 'path')
STARTUP_KEYS = ('on_failure', 'timeout', 'tier_timeout', 'tier_delay', 'grace', 'shutdown_mode', 'max_parallel', 'limits',
                'start_retries', 'start_backoff', 'restart_on_timeout', 'start_delay', 'watch')
VM_KEYS = ('name', 'size', 'vcpus', 'memory', 'disk', 'image', 'ip', 'mac', 'nics', 'disks', 'tier', 'after', 'probes',
           'timeout', 'grace', 'user_data', 'groups', 'tcg_tb_cache', 'firmware', 'secure_boot', 'cpu', 'hostdevs', 'connection',
           'description', 'smoke', 'host')
NIC_KEYS = ('network', 'ip', 'mac', 'model', 'primary', 'dhcp', 'gateway', 'dns', 'search', 'routes')
DISK_KEYS = ('size', 'bus', 'format', 'pool')
CPU_KEYS = ('mode', 'model', 'sockets', 'cores', 'threads')
FIRMWARES = ('bios', 'uefi')
CONNECTIONS = ('ssh', 'libvirt_qemu')
VIRT_TYPES = ('kvm', 'qemu', 'auto')
NETWORK_MODES = ('nat', 'route', 'isolated', 'open')
MAX_CLUSTER_NAME = 40
MAX_HOST_LABEL = 63                                              # a VM's name is its host name (RFC 1035)

# The defaults of the definition, in one table (the startup settings come from the startup engine's own table).
DEFAULTS = {
    'virt_type': 'kvm',
    'machine': 'q35',
    'user': 'strata',
    'pool_dir': '/var/lib/libvirt/strata',           # the pool's directory is <pool_dir>/<cluster name>
    'pool_mode': '0711',
    'console_log_dir': '/var/log/libvirt/qemu',
    'startup_log': '/var/log/strata-libvirt-%s-startup.log',   # % the cluster name
    'network_mode': 'nat',
    'network_autostart': True,
    'autostart': False,
    'tcg_tb_cache': 128,                             # MiB; TCG only
    'tcg_tb_cache_small': 64,                        # MiB, for VMs of less than 512 MiB
    'max_prefix': 29,
    'volume_format': 'qcow2',
    'seed_locale': 'C.UTF-8',
    'seed_key_types': ['ed25519'],
    'firmware': 'bios',
    'prune': False,                                  # provision removes the cluster's domains the definition dropped
    'secure_boot': False,                            # UEFI without Secure Boot boots signed and unsigned loaders
    'connection': 'ssh',
    'data_disk_bus': 'virtio',
    'smoke_timeout': 60,                             # seconds a smoke test may take (strata_cluster.smoke, vms[].smoke)
    # the CPU a domain gets when the definition names none: the host's under KVM (as virt-install does; QEMU's
    # default model lacks x86-64-v2, which EL9 guests need); under TCG QEMU's default model, whose boot times the
    # lab measured (mode maximum, every feature QEMU emulates, runs EL9 guests there)
    'cpu_mode': {'kvm': 'host-passthrough', 'qemu': None},
    'tcg_cpu_model': 'qemu64',                       # QEMU's default x86-64 model, for a topology given alone
}


def startup_log_path(cluster_name):
    """The startup log of a cluster on the hypervisor."""
    return DEFAULTS['startup_log'] % cluster_name


def derive_mac(cluster_name, vm_name):
    """A stable, locally administered-looking QEMU MAC (52:54:00:xx:xx:xx) from the cluster and VM names."""
    digest = hashlib.sha256(('%s/%s' % (cluster_name, vm_name)).encode('utf-8')).hexdigest()
    return '52:54:00:%s:%s:%s' % (digest[0:2], digest[2:4], digest[4:6])


def group_name(text):
    """An Ansible group name from a cluster name: strata-demo -> strata_demo."""
    out = re.sub(r'[^A-Za-z0-9_]', '_', to_text(text))
    if not out or out[0].isdigit():
        out = '_' + out
    return out


def as_list(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


class Problems(object):
    """The problems found so far, each once, in the order found."""

    def __init__(self):
        self.items = []

    def add(self, text):
        if text not in self.items:
            self.items.append(text)

    def guard(self, func, *args, **kwargs):
        """Call func; a StrataError becomes a problem and the result None."""
        try:
            return func(*args, **kwargs)
        except StrataError as exc:
            self.add(to_text(exc))
            return None


def flag(problems, value, where, default):
    """value as a boolean (yes/no/true/false/1/0 as Ansible reads them); default when unset."""
    if value is None:
        return default
    try:
        return boolean(value, strict=True)
    except TypeError:
        problems.add('%s: %r is not a boolean (true or false)' % (where, value))
        return default


def label(problems, value, where):
    """An image label (a string), or None (the default) with a problem when it is something else."""
    if value is None or isinstance(value, str):
        return value
    problems.add('%s: %r is not an image label' % (where, value))
    return None


def unknown_keys(problems, value, known, where):
    unknown = sorted(to_text(k) for k in value if k not in known)
    if unknown:
        problems.add('%s: unknown key(s) %s (known: %s)' % (where, ', '.join(unknown), ', '.join(known)))


def number(problems, value, where, minimum=0, integer=False):
    """value as a number of at least minimum, or None (and a problem) when it is not one."""
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise ValueError()
        result = int(value) if integer else float(value)
        if integer and float(value) != result:
            raise ValueError()
    except (TypeError, ValueError):
        problems.add('%s: %r is not a %s' % (where, value, 'whole number' if integer else 'number'))
        return None
    if result < minimum:
        problems.add('%s: %s must be at least %s' % (where, value, minimum))
        return None
    return result


def _ipv4(problems, text, where, what='an IPv4 address'):
    try:
        return ipaddress.IPv4Address(to_text(text).strip())
    except (ValueError, ipaddress.AddressValueError):
        problems.add('%s: %r is not %s' % (where, text, what))
        return None


def dhcp_range(problems, rng, hosts, gateway, subnet, where='network'):
    """(start, end) of the DHCP range: the upper half of the subnet by default; (None, None) when invalid."""
    if rng is None:
        return hosts[len(hosts) // 2], hosts[-1]
    if not isinstance(rng, dict) or not rng.get('start') or not rng.get('end'):
        problems.add('%s.dhcp_range: a dict with start and end, got %r' % (where, rng))
        return None, None
    start = _ipv4(problems, rng['start'], '%s.dhcp_range.start' % where)
    end = _ipv4(problems, rng['end'], '%s.dhcp_range.end' % where)
    if start is None or end is None:
        return None, None
    for what, addr in (('start', start), ('end', end)):
        if addr not in hosts:
            problems.add('%s.dhcp_range.%s: %s is outside the usable addresses of %s' % (where, what, addr, subnet))
    if start > end:
        problems.add('%s.dhcp_range: start %s is after end %s' % (where, start, end))
    elif start <= gateway <= end:
        problems.add('%s.dhcp_range: %s - %s contains the gateway %s' % (where, start, end, gateway))
    return start, end


def pool(problems, cluster, name):
    raw = cluster.get('pool') or {}
    if not isinstance(raw, dict):
        problems.add('pool: must be a dict (name, path)')
        raw = {}
    unknown_keys(problems, raw, POOL_KEYS, 'pool')
    out = {'name': raw.get('name') or name, 'path': raw.get('path') or '%s/%s' % (DEFAULTS['pool_dir'], name)}
    if not NAME_RE.match(to_text(out['name'])):
        problems.add('pool.name: invalid name %r' % (out['name'],))
    if not to_text(out['path']).startswith('/'):
        problems.add('pool.path: %r must be an absolute path' % (out['path'],))
    return out


def ssh_keys(problems, cluster, options):
    keys = []
    for index, key in enumerate(as_list(cluster.get('ssh_public_keys'))):
        text = to_text(key).strip()
        if not SSH_KEY_RE.match(text):
            problems.add('ssh_public_keys[%d]: %r does not look like an OpenSSH public key' % (index, text[:40]))
        elif text not in keys:
            keys.append(text)
    for key in as_list(options.get('extra_ssh_public_keys')):
        text = to_text(key).strip()
        if text and text not in keys:
            keys.append(text)
    return keys


NO_KEY = ('ssh_public_keys: give at least one public key (or ssh_private_key_file with key generation), '
          'or nobody can log into the VMs')


def x509_problem(pem):
    """Why one PEM block (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----) is not an X.509 certificate
    that OpenSSL reads, or None when it is one. Its base64 text is decoded first, then the certificate (DER) and the
    PEM text as it stands are each loaded into a fresh SSL context, as a guest's OpenSSL will load them."""
    body = pem[len(PEM_BEGIN):-len(PEM_END)]
    try:
        der = base64.b64decode(''.join(body.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        return 'its base64 text does not decode: %s' % exc
    if not der:
        return 'it is empty'
    if ssl is None:
        return None
    for data in (der, pem):
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=data)
        except ssl.SSLError as exc:
            reason = re.sub(r'\s*\(_ssl\.c:\d+\)$', '', to_text(exc.args[1] if len(exc.args) > 1 else exc))
            reason = reason.replace(': cadata does not contain a certificate', '') or 'refused'
            if data is der:
                return reason
            return ('OpenSSL cannot read its PEM text: %s; the BEGIN and END lines must be lines of their own'
                    % reason)
    return None


def ca_certs(problems, cluster):
    """The PEM certificates of ca_certificate (a string or a list of them, each with one or more blocks)."""
    certs = []
    for index, pem in enumerate(as_list(cluster.get('ca_certificate'))):
        text = to_text(pem or '').strip()
        if not text:
            continue
        found = PEM_RE.findall(text)
        if not found:
            problems.add('ca_certificate[%d]: not a PEM certificate (-----BEGIN CERTIFICATE----- ...)' % index)
        for number, block in enumerate(found, 1):
            why = x509_problem(block)
            if why:
                problems.add('ca_certificate[%d]: certificate %d is not a valid X.509 certificate (%s)' % (index, number, why))
        certs.extend(found)
    return certs


def startup_options(problems, cluster):
    """The cluster's startup settings, filled in from the startup engine's defaults."""
    raw = cluster.get('startup') or {}
    if not isinstance(raw, dict):
        problems.add('startup: must be a dict (%s)' % ', '.join(STARTUP_KEYS))
        raw = {}
    unknown_keys(problems, raw, STARTUP_KEYS, 'startup')
    defaults = _startup.DEFAULTS
    out = {
        'on_failure': raw.get('on_failure') or defaults['on_failure'],
        'shutdown_mode': raw.get('shutdown_mode') or defaults['shutdown_mode'],
        'timeout': number(problems, raw.get('timeout', defaults['timeout']), 'startup.timeout', 1),
        'tier_timeout': number(problems, raw.get('tier_timeout'), 'startup.tier_timeout', 1),
        'tier_delay': number(problems, raw.get('tier_delay', defaults['tier_delay']), 'startup.tier_delay', 0),
        'grace': number(problems, raw.get('grace', defaults['grace']), 'startup.grace', 0),
        'max_parallel': problems.guard(_startup.max_parallel, raw.get('max_parallel'), 'startup.max_parallel'),
        'limits': {},
        'start_retries': number(problems, raw.get('start_retries', defaults['start_retries']), 'startup.start_retries', 0,
                                integer=True),
        'start_backoff': number(problems, raw.get('start_backoff', defaults['start_backoff']), 'startup.start_backoff', 0),
        'restart_on_timeout': flag(problems, raw.get('restart_on_timeout'), 'startup.restart_on_timeout',
                                   defaults['restart_on_timeout']),
        'start_delay': number(problems, raw.get('start_delay', defaults['start_delay']), 'startup.start_delay', 0),
        'watch': flag(problems, raw.get('watch'), 'startup.watch', defaults['watch']),
    }
    limits = raw.get('limits') or {}
    if not isinstance(limits, dict):
        problems.add('startup.limits: must be a dict of group or image label: number of VMs booting at once, got %r'
                     % (limits,))
        limits = {}
    for label in sorted(limits, key=str):
        value = problems.guard(_startup.max_parallel, limits[label], 'startup.limits.%s' % label)
        if value == _startup.AUTO:
            problems.add('startup.limits.%s: give a whole number of 1 or more' % label)
        elif value is not None:
            out['limits'][to_text(label)] = value
    if out['on_failure'] not in _startup.ON_FAILURE:
        problems.add('startup.on_failure: %r; use one of %s' % (out['on_failure'], ', '.join(_startup.ON_FAILURE)))
    if out['shutdown_mode'] not in _startup.SHUTDOWN_MODES:
        problems.add('startup.shutdown_mode: %r; use one of %s'
                     % (out['shutdown_mode'], ', '.join(_startup.SHUTDOWN_MODES)))
    return out

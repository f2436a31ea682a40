# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Reading domains from libvirt: lookup, XML, the normalised state the planner compares, and for a removal
the managed save image, snapshots, checkpoints and the volumes of the disks with their owners.

Private to strata.libvirt; no compatibility promise.
"""

import os

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _connection
from ansible_collections.strata.libvirt.plugins.module_utils import _ownership
from ansible_collections.strata.libvirt.plugins.module_utils import _volume
from ansible_collections.strata.libvirt.plugins.module_utils import _xml
from ansible_collections.strata.libvirt.plugins.module_utils._common import lookup
from ansible_collections.strata.libvirt.plugins.module_utils._pool import lookup_pool
from ansible_collections.strata.libvirt.plugins.module_utils._domain.lifecycle import is_active
from ansible_collections.strata.libvirt.plugins.module_utils._domain.settings import parse_domain


def lookup_domain(conn, name):
    """The domain of that name, or None when there is none."""
    return lookup("domain '%s'" % name, conn.lookupByName, name, 'VIR_ERR_NO_DOMAIN')


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
    active = is_active(dom)
    persistent = bool(_connection.call(what, dom.isPersistent))
    state, reason = _connection.call(what, dom.state)
    root = domain_xml(dom, inactive=persistent, secure=secure)
    live_root = domain_xml(dom) if active else None
    return {
        'exists': True, 'name': name, 'uuid': _xml.text_of(root, 'uuid'), 'id': dom.ID() if active else None,
        'active': active, 'persistent': persistent, 'state': state, 'state_reason': reason,
        'autostart': bool(_connection.call(what, dom.autostart)) if persistent else False,
        'owner': _ownership.read_mark(root),
        'config': parse_domain(root), 'live': parse_domain(live_root) if active else None,
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


DISK_USERS = 'disk_users'   # the session's cache key of disk_users()


def disk_users(ctx):
    """{volume key or file path: set of the names of the domains whose disks use it}, every domain's definition
    read once per session (the items of one run share it), not once per domain removed; DomainResource keeps it
    current with the session's own changes."""
    if DISK_USERS not in ctx.cache:
        users = {}
        for other in _connection.call('list the domains', ctx.conn.listAllDomains, 0):
            other_config = parse_domain(domain_xml(other, inactive=bool(other.isPersistent())))
            for ref in _disk_refs(ctx.conn, other_config):
                users.setdefault(ref.get('key') or ref.get('path'), set()).add(other.name())
        ctx.cache[DISK_USERS] = users
    return ctx.cache[DISK_USERS]


def forget_disk_user(ctx, name):
    """Domain name no longer uses any disk (it is gone): drop it from the session's disk_users(), if read."""
    for names in (ctx.cache.get(DISK_USERS) or {}).values():
        names.discard(name)


def _owned_volumes(ctx, name, config):
    """The storage volumes of a domain's disks, their ownership, and which other domains use them."""
    volumes = [ref for ref in _disk_refs(ctx.conn, config) if ref.get('key')]
    if not volumes:
        return []
    users = disk_users(ctx)
    result = []
    for vol in volumes:
        result.append({'pool': vol['pool'], 'name': vol['volume'], 'key': vol['key'], 'path': vol['path'],
                       'owner': ctx.registry.get('volumes', vol['key']),
                       'used_by': sorted((users.get(vol['key'], set()) | users.get(vol['path'], set())) - set([name]))})
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
            if desired['remove_console_log']:
                state['console_log_file'] = console_log_file(ctx.uri, state['config'].get('console_log'))
        return state
    config = desired['config']
    if config.get('disks'):
        state['sources'] = _disk_sources(ctx.conn, config['disks'])
    if config.get('interfaces'):
        _check_networks(ctx.conn, config['interfaces'])
    state['console_log_dir'] = missing_log_dir(ctx.uri, config.get('console_log'))
    return state


def console_log_file(uri, log):
    """The domain's serial console log if it is a file on this host (where the module runs), else None; a
    remote hypervisor's is not looked at."""
    if not log or not _connection.is_local_qemu(uri):
        return None
    return log if os.path.isfile(log) else None


def missing_log_dir(uri, log):
    """The console log's directory if QEMU on this host would need it and it does not exist (virtlogd creates
    the file, not its directory: the start would fail), else None. Unknown for a remote hypervisor."""
    if not log or not _connection.is_local_qemu(uri):
        return None
    directory = os.path.dirname(log)
    return None if os.path.isdir(directory) else directory

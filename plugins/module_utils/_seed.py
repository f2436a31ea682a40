# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""cloud-init NoCloud seeds: render user-data / meta-data / network-config, build the ISO, redact secrets.

The ISO (volume label ``cidata``) is built in memory with pycdlib under a fixed clock, so the same
content always gives the same bytes: whether a seed must be rewritten is decided by comparing bytes
with what is there, nothing else. YAML is written by a small deterministic emitter (sorted keys, no
dependency on PyYAML on the managed node); JSON-quoted scalars keep it unambiguous.

Private to strata.libvirt; no compatibility promise.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import contextlib
import copy
import hashlib
import io
import json
import os
import re
import tempfile
import time
import traceback

PYCDLIB_IMPORT_ERROR = None
try:
    import pycdlib
    import pycdlib.dates
    import pycdlib.headervd
    import pycdlib.pycdlib
    import pycdlib.utils
    HAS_PYCDLIB = True
except ImportError:
    pycdlib = None
    HAS_PYCDLIB = False
    PYCDLIB_IMPORT_ERROR = traceback.format_exc()

from ansible_collections.strata.libvirt.plugins.module_utils import _batch
from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError

VOLUME_LABEL = 'cidata'
# Every date in the ISO: 2000-01-01T00:00:00Z (identical content -> identical bytes).
FIXED_TIME = 946684800.0
SEED_FILES = ('meta-data', 'network-config', 'user-data')
REDACTED = '<redacted>'
DEFAULT_SUDO = 'ALL=(ALL) NOPASSWD:ALL'

_PLAIN_KEY_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_.-]*$')
_PLAIN_VALUE_RE = re.compile(r'^[A-Za-z_/][A-Za-z0-9_./@+-]*$')
_YAML_WORDS = frozenset(['y', 'n', 'yes', 'no', 'on', 'off', 'true', 'false', 'null', 'none'])
_UNSAFE_CHARS_RE = re.compile(u'[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff]')
_SECRET_KEY_RE = re.compile(r'passw|secret|token|private', re.IGNORECASE)
_PRIVATE_KEY_RE = re.compile(r'-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----', re.DOTALL)
_SECRET_LINE_RE = re.compile(r'^(\s*(?:-\s+)?["\']?[\w-]*(?:passw|secret|token|private)[\w-]*["\']?\s*:\s*)'
                             r'(?!(?:true|false|null)\s*$)(\S.*)$',
                             re.IGNORECASE | re.MULTILINE)


def require_pycdlib(module):
    if not HAS_PYCDLIB:
        from ansible.module_utils.basic import missing_required_lib
        module.fail_json(msg=missing_required_lib('pycdlib'), exception=PYCDLIB_IMPORT_ERROR)


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

def _merge(base, extra):
    """Deep merge: dicts merge, lists concatenate, anything else from extra wins."""
    result = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(result.get(key), dict) and isinstance(value, dict):
            result[key] = _merge(result[key], value)
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
        data = _merge(data, extra)
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


# ---------------------------------------------------------------- redaction (diff output)

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


# ---------------------------------------------------------------- the ISO

def _fixed_time():
    return FIXED_TIME


def _utc_localtime(seconds=None):
    return time.gmtime(FIXED_TIME if seconds is None else seconds)


class _FixedClock(object):
    """Stands in for the time module inside pycdlib: one fixed instant, in UTC."""

    gmtime = staticmethod(time.gmtime)
    strftime = staticmethod(time.strftime)
    mktime = staticmethod(time.mktime)
    localtime = staticmethod(_utc_localtime)
    time = staticmethod(_fixed_time)


@contextlib.contextmanager
def _fixed_clock():
    modules = [pycdlib.pycdlib, pycdlib.headervd, pycdlib.dates, pycdlib.utils]
    saved = [(mod, mod.time) for mod in modules if hasattr(mod, 'time')]
    try:
        for mod, dummy in saved:
            mod.time = _FixedClock
        yield
    finally:
        for mod, original in saved:
            mod.time = original


def _iso9660_name(name):
    return '/' + re.sub(r'[^A-Z0-9_]', '_', name.upper()) + '.;1'


def build_iso(files):
    """NoCloud seed ISO bytes (ISO 9660 + Rock Ridge + Joliet, label cidata) of {name: text}: deterministic."""
    with _fixed_clock():
        iso = pycdlib.PyCdlib()
        iso.new(interchange_level=3, joliet=3, rock_ridge='1.09', vol_ident=VOLUME_LABEL,
                app_ident_str='strata.libvirt')
        for name in sorted(files):
            data = files[name].encode('utf-8')
            iso.add_fp(io.BytesIO(data), len(data), _iso9660_name(name), rr_name=name, joliet_path='/' + name)
        out = io.BytesIO()
        iso.write_fp(out)
        iso.close()
    return out.getvalue()


def read_iso(data):
    """{name: text} of the seed files in ISO bytes, and the volume label; (None, None) when unreadable."""
    try:
        iso = pycdlib.PyCdlib()
        iso.open_fp(io.BytesIO(data))
    except Exception:  # pycdlib raises several types for a file that is not an ISO
        return None, None
    try:
        label = iso.pvd.volume_identifier.decode('utf-8', 'replace').strip()
        files = {}
        for name in SEED_FILES:
            out = io.BytesIO()
            try:
                iso.get_file_from_iso_fp(out, rr_path='/' + name)
            except Exception:
                continue
            files[name] = out.getvalue().decode('utf-8', 'replace')
        return files, label
    finally:
        iso.close()


def seed_files(user_data_text, meta_data_text, network_config_text=None):
    files = {'user-data': user_data_text, 'meta-data': meta_data_text}
    if network_config_text is not None:
        files['network-config'] = network_config_text
    return files


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def diff_text(files, redacted_user_data=None):
    """One text of the seed's files for diff mode, user-data redacted."""
    if files is None:
        return ''
    parts = []
    for name in SEED_FILES:
        if name not in files:
            continue
        text = files[name]
        if name == 'user-data':
            text = redacted_user_data if redacted_user_data is not None else redact_text(text)
        parts.append('# --- %s\n%s' % (name, text))
    return ''.join(parts)


# ---------------------------------------------------------------- files

def parse_mode(value, option='mode'):
    """'0640' / '640' / 0o640 -> int; a mode that lets others read is refused (the seed holds secrets)."""
    if isinstance(value, int):
        mode = value
    else:
        text = str(value).strip()
        if not re.match(r'^0?[0-7]{3}$', text):
            raise StrataError("Option %s: %r is not an octal mode such as '0600' or '0640'" % (option, value))
        mode = int(text, 8)
    if mode & 0o007:
        raise StrataError("Option %s: %s would let every user read the seed (it may hold password hashes or keys); "
                          "use 0600, or 0640 with a group qemu belongs to" % (option, oct(mode)))
    return mode


def write_atomic(path, data, mode, uid=-1, gid=-1):
    """Write bytes to path through a private temporary file beside it: never visible half-written or wider."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix='.%s.strata-tmp-' % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            if uid != -1 or gid != -1:
                os.fchown(handle.fileno(), uid, gid)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# ---------------------------------------------------------------- the seed task (module logic)

HELPER_OPTIONS = ('hostname', 'fqdn', 'user', 'ssh_authorized_keys', 'packages', 'ca_certs', 'ssh_genkeytypes',
                  'write_files', 'runcmd', 'root_password', 'locale')


def desired_from_params(params):
    """Validated desired seed: its files, target and file attributes; errors name the option."""
    from ansible_collections.strata.libvirt.plugins.module_utils import _validate
    target = {'path': None, 'pool': None, 'volume': None}
    if params.get('path'):
        if not os.path.isabs(params['path']):
            raise StrataError('Option path: %r is not an absolute path' % params['path'])
        target['path'] = os.path.normpath(params['path'])
        base = os.path.basename(target['path'])
    else:
        target['pool'] = _validate.name(params['pool'], 'pool')
        target['volume'] = _validate.name(params['volume'], 'volume')
        base = target['volume']
    desired = {'state': params['state'], 'target': target, 'cluster': params.get('cluster'),
               'adopt': bool(params.get('adopt')), 'mode': parse_mode(params.get('mode') or '0600'),
               'owner': params.get('owner'), 'group': params.get('group'), 'files': None, 'iso': None}
    if params['state'] == 'absent':
        return desired
    hostname = params.get('hostname')
    if hostname:
        _validate.hostname(hostname, 'hostname')
    if params.get('fqdn'):
        _validate.hostname(params['fqdn'], 'fqdn')
    user_data = params.get('user_data')
    helpers = [name for name in HELPER_OPTIONS if params.get(name)]
    if isinstance(user_data, str):
        if helpers:
            raise StrataError('Option user_data: a string is used verbatim, so it cannot be combined with %s; give '
                              'user_data as a dict to merge it with them' % ', '.join(helpers))
        text = render_user_data(user_data)
    elif user_data is None or isinstance(user_data, dict):
        text = render_user_data(build_user_data(
            hostname=hostname, fqdn=params.get('fqdn'), user=params.get('user'),
            ssh_authorized_keys=params.get('ssh_authorized_keys'), sudo=params.get('sudo'),
            shell=params.get('shell') or '/bin/bash', groups=params.get('groups'), packages=params.get('packages'),
            ca_certs=params.get('ca_certs'), ssh_genkeytypes=params.get('ssh_genkeytypes'),
            write_files=params.get('write_files'), runcmd=params.get('runcmd'),
            root_password=params.get('root_password'), locale=params.get('locale'), extra=user_data))
    else:
        raise StrataError('Option user_data: must be a dict (rendered as #cloud-config) or a string')
    meta = {'instance-id': params.get('instance_id') or 'iid-%s' % (hostname or base.rsplit('.', 1)[0])}
    if hostname:
        meta['local-hostname'] = hostname
    extra_meta = params.get('meta_data') or {}
    if not isinstance(extra_meta, dict):
        raise StrataError('Option meta_data: must be a dict')
    meta.update(extra_meta)
    network = params.get('network_config')
    if network is not None and not isinstance(network, (dict, str)):
        raise StrataError('Option network_config: must be a dict (network config version 2) or a string')
    desired['files'] = seed_files(text, render_meta_data(meta), render_network_config(network))
    desired['iso'] = build_iso(desired['files'])
    return desired


def _changed_files(old, new):
    if old is None:
        return sorted(new)
    return sorted(name for name in set(old) | set(new) if old.get(name) != new.get(name))


def seed_label(params):
    """How an item of the module's O(items) is named in messages."""
    return params.get('path') or '%s/%s' % (params.get('pool'), params.get('volume'))


def prepare_seed(module):
    """The module's run for one seed (see _batch.run): its desired state is built now (StrataError on bad
    input), the seed is written when the returned callable runs."""
    desired = desired_from_params(module.params)
    if module.params.get('root_password'):
        module.warn('root_password is set: the seed lets root log in on the console with a password; '
                    'use it for debugging only')

    def run():
        try:
            return SeedTask(module, desired).run()
        except StrataError as exc:
            raise _batch.ItemFailed(dict(msg=str(exc)))
    return run


class SeedTask(object):
    def __init__(self, module, desired):
        self.module = module
        self.desired = desired
        self.actions = []

    def run(self):
        target = self.desired['target']
        if target['path']:
            facts, before = self.run_path()
        else:
            facts, before = self.run_volume()
        new_files = self.desired['files']
        label = target['path'] or '%s/%s' % (target['pool'], target['volume'])
        diff = {'before': diff_text(before), 'after': diff_text(new_files),
                'before_header': '%s (before)' % label, 'after_header': '%s (after)' % label}
        result = {'changed': bool(self.actions), 'actions': list(self.actions), 'diff': diff}
        result.update(facts)
        return result

    def _facts(self, exists):
        iso = self.desired['iso']
        target = self.desired['target']
        return {'path': target['path'], 'exists': exists, 'sha256': sha256(iso) if iso and exists else None,
                'size': len(iso) if iso and exists else None,
                'files': sorted(self.desired['files']) if self.desired['files'] and exists else []}

    # -- a file
    def _uid_gid(self):
        import grp
        import pwd
        uid = gid = -1
        try:
            if self.desired['owner'] is not None:
                owner = self.desired['owner']
                uid = int(owner) if owner.isdigit() else pwd.getpwnam(owner).pw_uid
            if self.desired['group'] is not None:
                group = self.desired['group']
                gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        except KeyError as exc:
            raise StrataError('Option owner/group: no such user or group on the managed node: %s' % exc)
        return uid, gid

    def run_path(self):
        path = self.desired['target']['path']
        try:
            with open(path, 'rb') as handle:
                data = handle.read(64 * 1024 * 1024)
            st = os.stat(path)
        except (IOError, OSError):
            data, st = None, None
        old_files = read_iso(data)[0] if data is not None else None
        if data is not None and old_files is None:
            old_files = {}
        if self.desired['state'] == 'absent':
            if data is not None:
                self.actions.append('remove %s' % path)
                if not self.module.check_mode:
                    os.unlink(path)
            return self._facts(False), old_files
        uid, gid = self._uid_gid()
        iso = self.desired['iso']
        if data is None:
            if not os.path.isdir(os.path.dirname(path)):
                raise StrataError("Option path: the directory '%s' does not exist" % os.path.dirname(path))
            self.actions.append('create %s (NoCloud seed, %d bytes)' % (path, len(iso)))
        elif data != iso:
            self.actions.append('rewrite %s (changed: %s)' % (path, ', '.join(_changed_files(old_files, self.desired['files'])) or 'ISO layout'))
        if data is None or data != iso:
            if not self.module.check_mode:
                write_atomic(path, iso, self.desired['mode'], uid, gid)
        else:
            fixes = []
            if st.st_mode & 0o7777 != self.desired['mode']:
                fixes.append('mode %04o -> %04o' % (st.st_mode & 0o7777, self.desired['mode']))
            if (uid != -1 and st.st_uid != uid) or (gid != -1 and st.st_gid != gid):
                fixes.append('owner %d:%d -> %d:%d' % (st.st_uid, st.st_gid,
                                                       st.st_uid if uid == -1 else uid, st.st_gid if gid == -1 else gid))
            if fixes:
                self.actions.append('set %s of %s' % (', '.join(fixes), path))
                if not self.module.check_mode:
                    os.chown(path, uid, gid)
                    os.chmod(path, self.desired['mode'])
        return self._facts(True), old_files

    # -- a pool volume
    def run_volume(self):
        from ansible_collections.strata.libvirt.plugins.module_utils import _connection, _ownership, _volume, _xml
        from ansible_collections.strata.libvirt.plugins.module_utils._common import Context
        module, target = self.module, self.desired['target']
        _connection.require_libvirt(module)
        _xml.require_lxml(module)
        params = module.params
        uri = _connection.resolve_uri(params.get('uri'))
        conn = _connection.open_connection(uri)
        try:
            canonical = _connection.call('get the URI of the connection', conn.getURI) or uri
            with _connection.hypervisor_lock(params['state_dir'], canonical, params['lock_timeout']):
                registry = _ownership.OwnerRegistry(params['state_dir'], canonical, module).load()
                ctx = Context(module, conn, canonical, registry)
                absent = self.desired['state'] == 'absent'
                if absent and _volume.lookup_pool(conn, target['pool']) is None:
                    return self._facts(False), None
                pool = _volume.active_pool(conn, target['pool'], 'pool')
                vol = _volume.lookup_volume(pool, target['volume'], target['pool'])
                data = old_files = None
                label = "seed volume '%s' in pool '%s'" % (target['volume'], target['pool'])
                if vol is not None:
                    key = _connection.call('read the %s' % label, vol.key)
                    adopt_text = _ownership.check_owner('volume', '%s/%s' % (target['pool'], target['volume']),
                                                        registry.get('volumes', key), self.desired['cluster'],
                                                        self.desired['adopt'])
                    data = self._download(conn, vol, label)
                    old_files = read_iso(data)[0] or {}
                if absent:
                    if vol is not None:
                        self.actions.append('delete %s' % label)
                        if not module.check_mode:
                            _connection.call('delete the %s' % label, vol.delete, 0)
                            registry.forget('volumes', key)
                    return self._facts(False), old_files
                iso = self.desired['iso']
                cluster = self.desired['cluster'] or (registry.get('volumes', key).get('cluster') if vol else None)
                if vol is not None and data == iso:
                    if adopt_text:
                        self.actions.append(adopt_text)
                        if not module.check_mode:
                            self._record(registry, key, cluster)
                else:
                    if vol is not None:
                        self.actions.append('replace %s (changed: %s)' % (
                            label, ', '.join(_changed_files(old_files, self.desired['files'])) or 'ISO layout'))
                    else:
                        self.actions.append('create %s (NoCloud seed, %d bytes)' % (label, len(iso)))
                    if not module.check_mode:
                        if vol is not None:
                            _connection.call('delete the %s' % label, vol.delete, 0)
                        root = _volume.render_volume(target['volume'], len(iso), 'raw')
                        perms = _xml.sub_element(root.find('target'), 'permissions')
                        _xml.sub_element(perms, 'mode', text='%04o' % self.desired['mode'])
                        vol = _connection.call('create the %s' % label, pool.createXML, _xml.to_text(root), 0)
                        key = vol.key()
                        self._record(registry, key, cluster)
                        try:
                            self._upload(conn, vol, iso, label)
                        except Exception:
                            # never leave an empty or partial seed behind
                            _connection.call('delete the %s' % label, vol.delete, 0)
                            registry.forget('volumes', key)
                            raise
                facts = self._facts(True)
                facts['path'] = _connection.call('read the %s' % label, vol.path) if vol is not None else None
                facts['volume'] = {'pool': target['pool'], 'name': target['volume']}
                return facts, old_files
        finally:
            try:
                conn.close()
            except Exception:  # pragma: no cover
                pass

    def _record(self, registry, key, cluster):
        target = self.desired['target']
        registry.record('volumes', key, cluster, pool=target['pool'], name=target['volume'],
                        seed={'sha256': sha256(self.desired['iso'])})

    @staticmethod
    def _download(conn, vol, label):
        from ansible_collections.strata.libvirt.plugins.module_utils import _connection
        chunks = []
        stream = _connection.call('open a stream', conn.newStream, 0)
        try:
            _connection.call('read the %s' % label, vol.download, stream, 0, 0, 0)
            _connection.call('read the %s' % label, stream.recvAll, lambda st, buf, acc: acc.append(buf), chunks)
            _connection.call('read the %s' % label, stream.finish)
        except Exception:
            try:
                stream.abort()
            except Exception:  # pragma: no cover
                pass
            raise
        return b''.join(chunks)

    @staticmethod
    def _upload(conn, vol, data, label):
        from ansible_collections.strata.libvirt.plugins.module_utils import _connection
        source = io.BytesIO(data)
        stream = _connection.call('open a stream', conn.newStream, 0)
        try:
            _connection.call('write the %s' % label, vol.upload, stream, 0, len(data), 0)
            _connection.call('write the %s' % label, stream.sendAll, lambda st, nbytes, fh: fh.read(nbytes), source)
            _connection.call('write the %s' % label, stream.finish)
        except Exception:
            try:
                stream.abort()
            except Exception:  # pragma: no cover
                pass
            raise

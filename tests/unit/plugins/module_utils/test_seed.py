# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""NoCloud seeds: YAML rendering, user-data helper, redaction, deterministic ISO."""

import os
import time

import pytest

yaml = pytest.importorskip('yaml')
pytest.importorskip('pycdlib')

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._seed import file_seed, iso, redact, render, spec, volume_seed
from ansible_collections.strata.libvirt.tests.unit.plugins.module_utils.certs import CA_PEM

CA = CA_PEM
PRIVATE = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n'


@pytest.mark.parametrize('value', [
    {'a': 1, 'b': [1, 2, {'c': 'd'}], 'e': {}, 'f': [], 'g': None, 'h': True, 'i': 1.5},
    {'yes': 'no', 'on': 'off', 'n': 'y', 'null': '~', 'num': '0123', 'date': '2001-12-14', 'hex': '0x1F'},
    {'colon': 'a: b', 'hash': 'a #b', 'quote': 'it\'s "x"', 'lead': ' space', 'star': '*ref', 'amp': '&a'},
    {'multi': 'line1\nline2\n', 'strip': 'l1\nl2', 'keep': 'l1\n\n', 'indented': 'a\n  b\n', 'blank': 'a\n\nb\n'},
    {'unicode': u'h\u00e9llo \u2603 \U0001F600', 'ctrl': 'a\x01b\tc', 'sep': u'x\u2028y'},
    {'nested': [[1, [2, 3]], [{'a': [{'b': 'c'}]}]], 'runcmd': [['echo', 'yes'], 'echo "a: b"']},
    {1: 'int key', 'key with space': 1, '-dash': 2},
])
def test_yaml_round_trip(value):
    text = render.to_yaml(value)
    loaded = yaml.safe_load(text)
    expected = dict((str(k), v) for k, v in value.items())
    assert loaded == expected, text


def test_yaml_is_sorted_and_stable():
    assert render.to_yaml({'b': 1, 'a': 2}) == render.to_yaml({'a': 2, 'b': 1}) == 'a: 2\nb: 1\n'


def test_build_user_data_has_what_the_roles_need():
    data = render.build_user_data(hostname='web1', fqdn='web1.lab.test', user='strata',
                                  ssh_authorized_keys=['ssh-ed25519 AAAA lab'], packages=['python3'],
                                  ca_certs=[CA], ssh_genkeytypes=['ed25519'], write_files=[{'path': '/x', 'content': 'y'}],
                                  runcmd=['true'], extra={'runcmd': [['touch', '/z']], 'timezone': 'UTC'})
    assert data['hostname'] == 'web1' and data['fqdn'] == 'web1.lab.test'
    assert data['users'] == [{'name': 'strata', 'lock_passwd': True, 'shell': '/bin/bash',
                              'sudo': 'ALL=(ALL) NOPASSWD:ALL', 'ssh_authorized_keys': ['ssh-ed25519 AAAA lab']}]
    assert data['ssh_deletekeys'] is True and data['ssh_genkeytypes'] == ['ed25519']
    assert data['packages'] == ['python3']
    assert data['ca_certs'] == {'trusted': [CA]}
    assert data['runcmd'] == ['true', ['touch', '/z']]  # lists of the extra dict are appended
    assert data['timezone'] == 'UTC'
    text = render.render_user_data(data)
    assert text.startswith('#cloud-config\n') and yaml.safe_load(text) == data


def test_root_password_hash_or_text():
    assert render.build_user_data(root_password='$6$salt$hash')['chpasswd']['users'][0]['type'] == 'hash'
    assert render.build_user_data(root_password='debug')['chpasswd'] == {
        'expire': False, 'users': [{'name': 'root', 'password': 'debug', 'type': 'text'}]}


def test_redaction_of_rendered_user_data():
    data = render.build_user_data(user='strata', root_password='s3cret-pw', ca_certs=[CA],
                                  extra={'ssh_keys': {'ed25519_private': PRIVATE, 'ed25519_public': 'ssh-ed25519 AAAA'},
                                         'write_files': [{'path': '/root/.ssh/id', 'content': PRIVATE}],
                                         'users': [{'name': 'x', 'hashed_passwd': '$6$abc'}]})
    text = redact.redact_text(render.render_user_data(data))
    assert 's3cret-pw' not in text and '$6$abc' not in text and 'b3BlbnNzaC1rZXkt' not in text
    assert 'password: <redacted>' in text and 'hashed_passwd: <redacted>' in text
    assert 'lock_passwd: true' in text          # booleans are not secrets
    assert CA.splitlines()[1] in text            # certificates are public
    assert 'ssh-ed25519 AAAA' in text


def test_redaction_of_a_dict():
    red = redact.redact({'chpasswd': {'list': 'root:pw\nuser:pw2', 'expire': False}, 'token': 'abc',
                        'x': [{'password': 'p'}], 'lock_passwd': True, 'k': PRIVATE})
    assert red['chpasswd'] == {'list': 'root:<redacted>\nuser:<redacted>', 'expire': False}
    assert red['token'] == '<redacted>' and red['x'] == [{'password': '<redacted>'}]
    assert red['lock_passwd'] is True and red['k'] == '<redacted private key>\n'


FILES = {'user-data': '#cloud-config\nhostname: a\n', 'meta-data': 'instance-id: iid-a\nlocal-hostname: a\n'}


def test_iso_is_deterministic_and_readable():
    first = iso.build_iso(FILES)
    time.sleep(1.1)
    old_tz = os.environ.get('TZ')
    os.environ['TZ'] = 'America/New_York'
    time.tzset()
    try:
        second = iso.build_iso(dict(reversed(list(FILES.items()))))
    finally:
        if old_tz is None:
            del os.environ['TZ']
        else:
            os.environ['TZ'] = old_tz
        time.tzset()
    assert first == second
    files, label = iso.read_iso(first)
    assert label == 'cidata' and files == FILES
    assert iso.build_iso(dict(FILES, **{'user-data': '#cloud-config\nhostname: b\n'})) != first


def test_iso_pycdlib_clock_is_restored():
    import pycdlib.pycdlib
    iso.build_iso(FILES)
    assert pycdlib.pycdlib.time is time


def test_read_iso_of_garbage():
    assert iso.read_iso(b'not an iso') == (None, None)


def test_network_config_wrapped():
    text = render.render_network_config({'version': 2, 'ethernets': {'eth0': {'dhcp4': True}}})
    assert yaml.safe_load(text) == {'network': {'version': 2, 'ethernets': {'eth0': {'dhcp4': True}}}}
    assert render.render_network_config(None) is None


@pytest.mark.parametrize('mode, ok', [('0600', 0o600), ('640', 0o640), (0o600, 0o600), ('0644', None), ('0606', None),
                                      ('rw', None)])
def test_parse_mode(mode, ok):
    if ok is None:
        with pytest.raises(StrataError):
            spec.parse_mode(mode)
    else:
        assert spec.parse_mode(mode) == ok


def test_write_atomic(tmp_path):
    target = str(tmp_path / 'seed.iso')
    file_seed.write_atomic(target, b'abc', 0o600)
    assert open(target, 'rb').read() == b'abc' and os.stat(target).st_mode & 0o777 == 0o600
    assert os.listdir(str(tmp_path)) == ['seed.iso']


# ---------------------------------------------------------------- the plans (pure)

def desired_seed(target, **kwargs):
    desired = {'state': 'present', 'target': target, 'cluster': None, 'adopt': False, 'mode': 0o600, 'owner': None,
               'group': None, 'files': dict(FILES), 'iso': b'ISO'}
    desired.update(kwargs)
    return desired


def test_plan_file_seed():
    target = {'path': '/s/a.iso', 'pool': None, 'volume': None}
    new = {'exists': False, 'data': None, 'files': None, 'mode': None, 'ids': None, 'wanted_ids': (-1, -1),
           'directory': True}
    plan = file_seed.plan_file_seed(new, desired_seed(target))
    assert plan.texts() == ['create /s/a.iso (NoCloud seed, 3 bytes)'] and plan.actions[0].args['data'] == b'ISO'
    assert plan.diff.diff()['before'] == '' and plan.diff.diff()['after_header'] == '/s/a.iso (after)'
    with pytest.raises(StrataError, match="^Option path: the directory '/s' does not exist"):
        file_seed.plan_file_seed(dict(new, directory=False), desired_seed(target))
    same = dict(new, exists=True, data=b'ISO', files=dict(FILES), mode=0o640, ids=(0, 0), wanted_ids=(-1, 7))
    assert file_seed.plan_file_seed(same, desired_seed(target)).texts() == [
        'set mode 0640 -> 0600, owner 0:0 -> 0:7 of /s/a.iso']
    old = dict(same, data=b'OLD', files=dict(FILES, **{'user-data': 'x'}))
    assert file_seed.plan_file_seed(old, desired_seed(target)).texts() == ['rewrite /s/a.iso (changed: user-data)']
    assert file_seed.plan_file_seed(dict(old, files={}), desired_seed(target)).texts() == [
        'rewrite /s/a.iso (changed: meta-data, user-data)']
    assert file_seed.plan_file_seed(dict(old, files=dict(FILES)), desired_seed(target)).texts() == [
        'rewrite /s/a.iso (changed: ISO layout)']
    gone = desired_seed(target, state='absent', files=None, iso=None)
    assert file_seed.plan_file_seed(old, gone).ops() == ['remove'] and file_seed.plan_file_seed(new, gone).actions == []


def test_plan_volume_seed():
    target = {'path': None, 'pool': 'p', 'volume': 's.iso'}
    new = {'exists': False, 'files': None, 'data': None, 'key': None, 'owner': None, 'adopt_text': None, 'path': None}
    plan = volume_seed.plan_volume_seed(new, desired_seed(target, cluster='c'))
    assert plan.texts() == ["create seed volume 's.iso' in pool 'p' (NoCloud seed, 3 bytes)"]
    assert plan.actions[0].args == {'replace': False, 'cluster': 'c'}
    have = dict(new, exists=True, files=dict(FILES), data=b'ISO', key='/p/s.iso', owner={'owned': True, 'cluster': 'c'})
    assert volume_seed.plan_volume_seed(have, desired_seed(target)).actions == []
    adopt = volume_seed.plan_volume_seed(dict(have, adopt_text='adopt it'), desired_seed(target))
    assert adopt.ops() == ['record'] and adopt.actions[0].args == {'key': '/p/s.iso', 'cluster': 'c'}
    replace = volume_seed.plan_volume_seed(dict(have, data=b'OLD'), desired_seed(target))
    assert replace.texts() == ["replace seed volume 's.iso' in pool 'p' (changed: ISO layout)"]
    gone = desired_seed(target, state='absent', files=None, iso=None)
    assert volume_seed.plan_volume_seed(have, gone).actions[0].args == {'key': '/p/s.iso'}
    assert volume_seed.plan_volume_seed(new, gone).actions == []

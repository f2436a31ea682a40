# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The volume planner as a pure function, and the direct copy of an upload: no libvirt involved."""

import errno
import os
import struct

import pytest

pytest.importorskip('lxml')

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils import _volume, _ownership
from ansible_collections.strata.libvirt.plugins.module_utils._xml import parse_xml

G = 1024 ** 3


def params(**kwargs):
    base = dict(name='v1', pool='p1', state='present', capacity=None, format=None, backing_volume=None,
                backing_file=None, backing_format=None, clone_from=None, upload=None, recreate=False,
                cluster=None, adopt=False, xml=None)
    base.update(kwargs)
    return base


def desired(**kwargs):
    return _volume.desired_from_params(params(**kwargs))


def current(exists=True, capacity=G, fmt='qcow2', backing=None, owned=True, users=(), source=None):
    state = {'exists': exists, 'name': 'v1', 'pool': 'p1', 'source': source or {}}
    if exists:
        state.update(config={'capacity': capacity, 'allocation': 0, 'format': fmt, 'path': '/srv/p1/v1',
                             'key': '/srv/p1/v1', 'backing': backing},
                     owner=_ownership.owner() if owned else dict(_ownership.NOT_OWNED), users=list(users))
    return state


BASE = {'path': '/srv/p1/base', 'format': 'qcow2', 'capacity': 2 * G}


def test_new_empty_volume_needs_capacity():
    with pytest.raises(StrataError, match="Option capacity: required to create volume 'v1' in pool 'p1'"):
        _volume.plan_volume(current(False), desired())
    plan = _volume.plan_volume(current(False), desired(capacity='35G'))
    assert plan.ops() == ['create']
    root = parse_xml(plan.actions[0].args['xml'])
    assert root.find('capacity').text == str(35 * G) and root.find('target/format').get('type') == 'qcow2'
    assert plan.diff.after()['volume'] == {'capacity': 35 * G, 'format': 'qcow2', 'backing': None}


def test_capacity_is_rounded_to_sectors():
    assert desired(capacity='1000')['capacity'] == 1024


def test_overlay_defaults_to_backing_size_and_never_smaller():
    plan = _volume.plan_volume(current(False, source=BASE), desired(backing_volume='base'))
    root = parse_xml(plan.actions[0].args['xml'])
    assert root.find('backingStore/path').text == '/srv/p1/base' and root.find('capacity').text == str(2 * G)
    assert 'copy-on-write overlay' in plan.actions[0].text
    with pytest.raises(StrataError, match=r'Option capacity: 1G \(1073741824 bytes\) is smaller than the backing '
                                          r'image \(2G \(2147483648 bytes\)\)'):
        _volume.plan_volume(current(False, source=BASE), desired(backing_volume='base', capacity='1G'))
    with pytest.raises(StrataError, match='must be qcow2, not raw'):
        desired(backing_volume='base', format='raw')


def test_clone_then_grow():
    plan = _volume.plan_volume(current(False, source=BASE), desired(clone_from='base', capacity='3G'))
    assert plan.ops() == ['clone', 'resize']
    assert plan.actions[0].args['source'] == ('p1', 'base') and plan.actions[1].args['capacity'] == 3 * G
    assert parse_xml(plan.actions[0].args['xml']).find('capacity').text == str(2 * G)
    plan = _volume.plan_volume(current(False, source=BASE), desired(clone_from='other/base'))
    assert plan.ops() == ['clone'] and plan.actions[0].args['source'] == ('other', 'base')
    with pytest.raises(StrataError, match='keeps the format'):
        _volume.plan_volume(current(False, source=BASE), desired(clone_from='base', format='raw'))


def test_upload_detects_qcow2_and_its_virtual_size(tmp_path):
    image = tmp_path / 'img.qcow2'
    image.write_bytes(b'QFI\xfb' + b'\0' * 20 + struct.pack('>Q', 3 * G) + b'\0' * 100)
    want = desired(upload=str(image))
    assert want['upload']['format'] == 'qcow2' and want['upload']['capacity'] == 3 * G
    plan = _volume.plan_volume(current(False), want)
    assert plan.ops() == ['create', 'upload'] and plan.actions[1].args['length'] == 132
    with pytest.raises(StrataError, match='Option format: raw, but the file .* is qcow2'):
        desired(upload=str(image), format='raw')
    with pytest.raises(StrataError, match="Option upload: '/nonexistent' is not a file"):
        desired(upload='/nonexistent')


def test_existing_volume_same_is_no_change_and_grows():
    assert _volume.plan_volume(current(), desired(capacity='1G', format='qcow2')).actions == []
    assert _volume.plan_volume(current(), desired()).actions == []
    plan = _volume.plan_volume(current(), desired(capacity='2G'))
    assert plan.ops() == ['resize'] and plan.actions[0].args['capacity'] == 2 * G
    assert plan.diff.diff() == {'before': {'state': 'present', 'volume': {'capacity': G, 'format': 'qcow2', 'backing': None}},
                                'after': {'state': 'present', 'volume': {'capacity': 2 * G, 'format': 'qcow2', 'backing': None}}}


def test_shrink_is_an_error_naming_both_sizes():
    with pytest.raises(StrataError, match=r'Option capacity: 512M \(536870912 bytes\) is smaller than the current '
                                          r'capacity 1G \(1073741824 bytes\)'):
        _volume.plan_volume(current(), desired(capacity='512M'))


def test_immutable_changes_need_recreate():
    with pytest.raises(StrataError, match=r'format is qcow2, wanted raw\); set recreate=true'):
        _volume.plan_volume(current(), desired(format='raw', capacity='1G'))
    plan = _volume.plan_volume(current(), desired(format='raw', capacity='1G', recreate=True))
    assert plan.ops() == ['delete', 'create']
    with pytest.raises(StrataError, match='backing is None, wanted /srv/p1/base'):
        _volume.plan_volume(current(source=BASE), desired(backing_volume='base', capacity='2G'))


def test_ownership_and_users():
    with pytest.raises(StrataError, match="volume 'p1/v1' exists but was not created by strata.libvirt"):
        _volume.plan_volume(current(owned=False), desired(capacity='2G'))
    assert _volume.plan_volume(current(owned=False), desired(adopt=True)).ops() == ['adopt']
    with pytest.raises(StrataError, match="is the backing file of web1, web2; remove those first"):
        _volume.plan_volume(current(users=['web1', 'web2']), desired(state='absent'))
    assert _volume.plan_volume(current(), desired(state='absent')).ops() == ['delete']
    assert _volume.plan_volume(current(False), desired(state='absent')).ops() == []


@pytest.mark.parametrize('kwargs,match', [
    (dict(name='v 1'), "Option name: invalid name 'v 1'"),
    (dict(pool='p:1'), "Option pool: invalid name 'p:1'"),
    (dict(capacity='12Q'), "Option capacity: invalid size '12Q'"),
    (dict(backing_volume='a/b/c'), "Option backing_volume: 'a/b/c' is neither"),
    (dict(backing_file='rel/path'), "Option backing_file: 'rel/path' is not an absolute path"),
    (dict(clone_from='v1'), 'Option clone_from: a volume cannot be cloned from itself'),
    (dict(xml='<volume><name>v1</name>'), 'Option xml: malformed XML'),
    (dict(xml='<volume><name>v2</name></volume>'), "Option xml: <name> is 'v2'"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(StrataError, match=match):
        desired(**kwargs)


def test_xml_escape_hatch_compares_capacity_in_units():
    want = desired(xml="<volume><name>v1</name><capacity unit='G'>1</capacity><target><format type='qcow2'/></target></volume>")
    assert want['capacity'] == G and want['format'] == 'qcow2'
    assert _volume.plan_volume(current(), want).actions == []
    plan = _volume.plan_volume(current(False), want)
    assert plan.ops() == ['create'] and "unit=\"G\"" in plan.actions[0].args['xml']


def test_qcow2_volumes_are_v3():
    """libvirt writes qcow2 v2 (compat 0.10) unless the XML says otherwise; v2 has no zero clusters."""
    root = _volume.render_volume('web1.qcow2', 1024, 'qcow2', {'path': '/p/base.qcow2', 'format': 'qcow2'})
    assert root.findtext('target/compat') == '1.1' and root.find('target/format').get('type') == 'qcow2'
    assert root.findtext('backingStore/path') == '/p/base.qcow2'
    assert _volume.render_volume('up.raw', 1024, 'raw').find('target/compat') is None


def test_copy_into_keeps_the_volume_file_and_replaces_its_content(tmp_path):
    src, dst = tmp_path / 'image.qcow2', tmp_path / 'vol.qcow2'
    data = os.urandom(3 * 1024 * 1024 + 17)
    src.write_bytes(data)
    dst.write_bytes(b'x' * (5 * 1024 * 1024))  # longer than the image: cut to its size
    dst.chmod(0o444)
    inode = dst.stat().st_ino
    _volume.copy_into(str(src), str(dst), len(data))
    assert dst.read_bytes() == data and dst.stat().st_ino == inode and dst.stat().st_mode & 0o777 == 0o444


def test_copy_into_falls_back_to_user_space(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError(errno.EXDEV, 'cross-device')
    monkeypatch.setattr(os, 'copy_file_range', refuse, raising=False)
    src, dst = tmp_path / 'image.raw', tmp_path / 'vol.raw'
    data = os.urandom(2 * 1024 * 1024 + 5)
    src.write_bytes(data)
    dst.write_bytes(b'')
    _volume.copy_into(str(src), str(dst), len(data))
    assert dst.read_bytes() == data


def test_copy_into_refuses_a_short_copy(tmp_path):
    src, dst = tmp_path / 'image.raw', tmp_path / 'vol.raw'
    src.write_bytes(b'abc')
    dst.write_bytes(b'')
    with pytest.raises(OSError, match='copied 3 bytes of 10'):
        _volume.copy_into(str(src), str(dst), 10)


def test_link_into_shares_the_image_with_the_volume_files_mode_and_leaves_nothing_else(tmp_path):
    src, dst = tmp_path / 'image.qcow2', tmp_path / 'pool' / 'base.qcow2'
    dst.parent.mkdir()
    data = os.urandom(1024 * 1024 + 3)
    src.write_bytes(data)
    src.chmod(0o644)
    dst.write_bytes(b'')
    dst.chmod(0o444)
    assert _volume.link_into(str(src), str(dst)) is True
    assert dst.read_bytes() == data and dst.stat().st_ino == src.stat().st_ino
    assert dst.stat().st_mode & 0o777 == 0o444 and sorted(os.listdir(str(dst.parent))) == ['base.qcow2']


@pytest.mark.parametrize('code', [errno.EXDEV, errno.EPERM])
def test_link_into_across_file_systems_says_so_and_changes_nothing(tmp_path, monkeypatch, code):
    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))
    monkeypatch.setattr(os, 'link', refuse)
    src, dst = tmp_path / 'image.qcow2', tmp_path / 'base.qcow2'
    src.write_bytes(b'image')
    dst.write_bytes(b'')
    assert _volume.link_into(str(src), str(dst)) is False
    assert dst.read_bytes() == b'' and sorted(os.listdir(str(tmp_path))) == ['base.qcow2', 'image.qcow2']

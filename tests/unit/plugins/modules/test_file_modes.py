# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every file and directory strata.libvirt writes has the mode it means, whatever the umask: each test runs under
umask 0 (where a mode left to the umask, os.makedirs' parents or AnsibleModule.atomic_move's new file is 0666 or
0777) and under umask 0277 (where it is narrower than meant), through the module's own code (test:///default,
tmp_path).

  seed file                0600 (option mode; it holds password hashes and keys)   _connection.write_atomic
  seed volume              0600 in the volume XML (libvirt applies it)            _seed.volume_seed
  state dir, owners, locks 0700; the ownership registry 0600                       _connection.ensure_dir, replace_file
  image cache dir 0755; cached image and sidecar 0644 (no secret in them)          _image.cache
  startup log 0600 (probe URLs and commands)                                       _startup.module.open_log
  boot result 0600, its directory 0700                                             _startup.cli.write_result
  console log directory 0755 (libvirt writes the log in it 0600)                   _domain.resource.do_log_dir
  boot service config 0600, unit 0644, entry point 0755                            roles/boot_order tasks
"""

import gzip
import hashlib
import json
import os
import stat
import types

import pytest
import yaml

pytest.importorskip('pycdlib')

from ansible_collections.strata.libvirt.plugins.modules import cloud_init, image, pool, startup
from ansible_collections.strata.libvirt.plugins.module_utils._domain.resource import DomainResource
from ansible_collections.strata.libvirt.plugins.module_utils._image.cache import sidecar_path
from ansible_collections.strata.libvirt.plugins.module_utils._seed import volume_seed
from ansible_collections.strata.libvirt.plugins.module_utils._startup import cli

COLLECTIONS = os.path.abspath(os.path.join(os.path.dirname(cli.__file__), '..', '..', '..', '..', '..', '..'))


def mode(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


def modes(root, *names):
    """{name: mode} of the paths under root."""
    return dict((name, '%04o' % mode(os.path.join(str(root), name))) for name in names)


@pytest.fixture(params=[0o000, 0o277], ids=['umask-0000', 'umask-0277'])
def umask0(request):
    """umask 0 (a mode left to it is 0666 or 0777), then 0277 (one left to it is narrower than meant)."""
    old = os.umask(request.param)
    yield
    os.umask(old)


def test_seed_file_mode_whatever_the_umask(run_module, tmp_path, umask0):
    """The seed is written with exactly option mode (fchmod on the private temporary file), never wider."""
    path = tmp_path / 'seed.iso'
    assert run_module(cloud_init, path=str(path), hostname='h', root_password='x')['changed']
    assert mode(path) == 0o600
    assert run_module(cloud_init, path=str(path), hostname='h2', mode='0640')['changed']
    assert mode(path) == 0o640 and os.listdir(str(tmp_path)) == ['seed.iso']  # no temporary file left


def test_seed_volume_mode_is_asked_of_libvirt(run_module, hv, monkeypatch, umask0):
    """A seed volume is created with <permissions><mode>0600</mode> (libvirt's storage driver applies it)."""
    monkeypatch.setattr(volume_seed, 'upload', lambda conn, vol, data, label: None)  # test:///default: no streams
    assert run_module(pool, name='strata-ut-modes', path='/srv/strata-ut-modes', state='running')['changed']
    assert run_module(cloud_init, pool='strata-ut-modes', volume='s.iso', hostname='h')['changed']
    xml = hv.storagePoolLookupByName('strata-ut-modes').storageVolLookupByName('s.iso').XMLDesc(0)
    assert '<mode>0600</mode>' in xml


def test_state_dir_and_ownership_registry(run_module, hv, tmp_path, umask0):
    """The state dir and its parents made for it are 0700, the registry 0600 (created, then rewritten)."""
    state = tmp_path / 'made' / 'state'
    assert run_module(pool, name='strata-ut-modes', path='/srv/m', state='present', state_dir=str(state))['changed']
    registry = os.listdir(str(state / 'owners'))
    assert len(registry) == 1 and registry[0].endswith('.json')
    assert modes(tmp_path, 'made', 'made/state', 'made/state/owners', 'made/state/locks') == dict.fromkeys(
        ('made', 'made/state', 'made/state/owners', 'made/state/locks'), '0700')
    assert mode(state / 'owners' / registry[0]) == 0o600
    assert run_module(pool, name='strata-ut-modes', state='absent', state_dir=str(state))['changed']
    assert mode(state / 'owners' / registry[0]) == 0o600
    assert all(mode(state / 'locks' / name) == 0o600 for name in os.listdir(str(state / 'locks')))


def test_image_cache_modes(run_module, tmp_path, umask0):
    """The cache directories 0755, the cached image and its sidecar 0644: created and replaced alike."""
    src = tmp_path / 'disk.raw.gz'
    for content in (b'first' * 999, b'second' * 999):
        with gzip.open(str(src), 'wb') as handle:
            handle.write(content)
        digest = hashlib.sha256(src.read_bytes()).hexdigest()
        result = run_module(image, source=str(src), checksum='sha256:' + digest, cache_dir=str(tmp_path / 'a' / 'cache'))
        assert result['changed'], result.get('msg')
        assert modes(tmp_path, 'a', 'a/cache') == {'a': '0755', 'a/cache': '0755'}
        assert mode(result['path']) == 0o644 and mode(sidecar_path(result['path'])) == 0o644


def test_startup_log_file_mode(run_module, hv, tmp_path, umask0):
    """The startup log the module creates is 0600; one that is there keeps the mode its owner gave it."""
    log = tmp_path / 'startup.log'
    result = run_module(startup, vms=[{'name': 'test'}], state='started', log_file=str(log))
    assert not result.get('failed'), result.get('msg')
    assert mode(log) == 0o600 and 'strata.libvirt.startup: state=started' in log.read_text()
    mine = tmp_path / 'mine.log'
    mine.write_text('')
    os.chmod(str(mine), 0o640)
    assert not run_module(startup, vms=[{'name': 'test'}], log_file=str(mine)).get('failed')
    assert mode(mine) == 0o640 and mine.read_text()


def test_boot_result_and_its_directory(hv, tmp_path, umask0, capsys):
    """The boot-time CLI's result 0600 in a directory made 0700 (state_dir/boot, as the unit passes it)."""
    config = tmp_path / 'c.json'
    config.write_text(json.dumps({'uri': 'test:///default', 'vms': [{'name': 'test'}]}))
    result = tmp_path / 'state' / 'boot' / 'c.json'
    assert cli.main(['plan', '--config', str(config), '--state-dir', str(tmp_path / 'state'), '--result', str(result)]) == 0
    assert modes(tmp_path, 'state', 'state/boot') == {'state': '0700', 'state/boot': '0700'}
    assert mode(result) == 0o600 and json.loads(result.read_text())['plan']


def test_console_log_directory(tmp_path, umask0):
    """The domain module's log_dir action makes the console log's directory and its parents 0755."""
    DomainResource(types.SimpleNamespace(params={})).do_log_dir(None, str(tmp_path / 'log' / 'qemu'))
    assert modes(tmp_path, 'log', 'log/qemu') == {'log': '0755', 'log/qemu': '0755'}


ROLE_TASKS = os.path.join(COLLECTIONS, 'ansible_collections', 'strata', 'libvirt', 'roles', 'boot_order', 'tasks',
                          'main.yml')
WRITERS = ('ansible.builtin.copy', 'ansible.builtin.template', 'ansible.builtin.file')


def role_writes():
    """{dest or path: the task's module arguments} of the tasks of roles/boot_order that write a file or directory."""
    found = {}

    def walk(tasks):
        for task in tasks:
            walk(task.get('block') or [])
            for name in WRITERS:
                args = task.get(name)
                if args and args.get('state') != 'absent':
                    found[args.get('dest') or args['path']] = args
    with open(ROLE_TASKS) as handle:
        walk(yaml.safe_load(handle))
    return found


def test_boot_order_role_sets_every_mode():
    """roles/boot_order gives every file and directory it writes an explicit mode (Ansible's copy, template and
    file then set it whatever the umask): the service config 0600 (probes may carry credentials), the unit 0644,
    the entry point 0755, directories 0755; the config is the startup module's validated config, nothing more."""
    writes = role_writes()
    assert all(args.get('mode') for args in writes.values()), writes
    assert writes['{{ boot_order_config }}']['mode'] == '0600'
    assert writes['{{ boot_order_config }}']['content'].startswith('{{ boot_order_startup_result.config |')
    assert writes['{{ boot_order_unit_dir }}/{{ boot_order_unit }}']['mode'] == '0644'
    assert writes['{{ boot_order_bin }}']['mode'] == '0755'
    assert set(args['mode'] for args in writes.values() if args.get('state') == 'directory') == {'0755'}


def test_the_boot_config_is_what_the_engine_needs(run_module, hv, tmp_path):
    """The startup module's config (what the role writes) keeps the definition the engine runs, a probe's key_file
    as a path: no log file, no state dir."""
    key = tmp_path / 'id_ed25519'
    key.write_text('-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXkt\n-----END OPENSSH PRIVATE KEY-----\n')
    probe = {'type': 'ssh', 'host': '192.0.2.1', 'user': 'ops', 'key_file': str(key)}
    result = run_module(startup, vms=[{'name': 'test', 'probes': [probe]}], state='present',
                        log_file=str(tmp_path / 'log'))
    assert not result.get('failed'), result.get('msg')
    config = result['config']
    assert sorted(config) == ['grace', 'limits', 'max_parallel', 'on_failure', 'restart_on_timeout', 'shutdown_mode',
                              'start_backoff', 'start_delay', 'start_retries', 'tier_delay', 'tier_timeout', 'timeout',
                              'uri', 'vms', 'watch']
    assert config['vms'][0]['probes'][0]['key_file'] == str(key) and 'b3BlbnNzaC1rZXkt' not in json.dumps(result)

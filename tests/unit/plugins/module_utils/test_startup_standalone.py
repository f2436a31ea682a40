# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The boot_order role copies a list of module_utils files to the hypervisor and runs them without
Ansible: prove that exactly those files, with `ansible` unimportable, run the entry point."""


import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

pytest.importorskip('libvirt')

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
MODULE_UTILS = os.path.join(ROOT, 'plugins', 'module_utils')

RUNNER = r'''
import sys
sys.modules['ansible'] = None          # any import of ansible.* now fails
sys.path.insert(0, sys.argv[1])
from ansible_collections.strata.libvirt.plugins.module_utils._startup import cli as _startup_cli
assert _startup_cli.__file__.startswith(sys.argv[1]), _startup_cli.__file__
sys.exit(_startup_cli.main(sys.argv[2:]))
'''


def test_role_file_list_runs_without_ansible(tmp_path):
    with open(os.path.join(ROOT, 'roles', 'boot_order', 'vars', 'main.yml')) as handle:
        files = yaml.safe_load(handle)['boot_order_engine_files']
    lib = tmp_path / 'lib'
    package = lib / 'ansible_collections' / 'strata' / 'libvirt' / 'plugins' / 'module_utils'
    package.mkdir(parents=True)
    for directory in (package, package.parent, package.parent.parent, package.parent.parent.parent, package.parent.parent.parent.parent):
        (directory / '__init__.py').write_text('')
    for name in files:
        (package / name).parent.mkdir(exist_ok=True)  # a sub-package's directory (the role's task does the same)
        shutil.copy(os.path.join(MODULE_UTILS, name), str(package / name))
    config = tmp_path / 'c.json'
    config.write_text(json.dumps({'uri': 'test:///default', 'vms': [{'name': 'test', 'probes': [{'type': 'running'}]}]}))
    proc = subprocess.run([sys.executable, '-c', RUNNER, str(lib), 'start', '--config', str(config),
                           '--state-dir', str(tmp_path / 'state')], capture_output=True, text=True, timeout=60,
                          check=False, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert 'test: already running: not started, probing' in proc.stdout
    assert 'strata-libvirt-boot start: done' in proc.stdout

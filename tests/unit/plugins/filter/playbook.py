# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A real ansible-playbook run on the controller against localhost, with the tree under test as strata.libvirt."""

import json
import os
import subprocess
import sys

from ansible_collections.strata.libvirt.plugins.filter import cluster as cluster_filters

# the directory that holds ansible_collections/strata/libvirt (the tree under test)
COLLECTIONS = os.path.abspath(os.path.join(os.path.dirname(cluster_filters.__file__), '..', '..', '..', '..', '..'))


def run_playbook(tmp_path, play, variables, *args):
    """ansible-playbook of the play text with the variables (a dict, as extra vars) and args; the CompletedProcess."""
    (tmp_path / 'play.yml').write_text(play)
    (tmp_path / 'vars.json').write_text(json.dumps(variables))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false',
               ANSIBLE_FORCE_COLOR='0', ANSIBLE_NOCOLOR='1', ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'),
               ANSIBLE_HOME=str(tmp_path / 'home'), ANSIBLE_STDOUT_CALLBACK='default')
    cmd = [sys.executable, '-c', 'import sys; from ansible.cli.playbook import main; sys.argv[0] = "ansible-playbook"; main()',
           '-i', 'localhost,', '-e', 'ansible_python_interpreter=%s' % sys.executable, '-e', '@%s' % (tmp_path / 'vars.json'),
           str(tmp_path / 'play.yml')] + list(args)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, check=False)

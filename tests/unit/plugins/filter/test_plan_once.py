# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The playbooks build the cluster plan once per play and host.

The task files are walked as Ansible runs them (include_role / import_role with tasks_from, include_tasks /
import_tasks, blocks), and every task that builds a plan (a template calling the cluster_plan or
cluster_problems filter) is counted. A task guarded by `cluster_plan is not defined` is skipped once a task has
set the fact cluster_plan.
"""

import os
import re

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
BUILDS = re.compile(r'strata\.libvirt\.cluster_(plan|problems)\(')
INCLUDE_ROLE = ('ansible.builtin.include_role', 'ansible.builtin.import_role', 'include_role', 'import_role')
INCLUDE_TASKS = ('ansible.builtin.include_tasks', 'ansible.builtin.import_tasks', 'include_tasks', 'import_tasks')


class Walk(object):
    def __init__(self):
        self.plan_defined = False
        self.builds = []

    def tasks(self, path, tasks):
        for task in tasks or []:
            self.task(path, task)

    def task(self, path, task):
        when = task.get('when')
        conditions = when if isinstance(when, list) else [when]
        if self.plan_defined and any('cluster_plan is not defined' in str(c) for c in conditions):
            return
        for key in ('block', 'rescue', 'always'):
            if key in task:
                self.tasks(path, task[key])
        own = dict((k, v) for k, v in task.items() if k not in ('block', 'rescue', 'always'))
        if BUILDS.search(yaml.safe_dump(own)):
            self.builds.append('%s: %s' % (os.path.relpath(path, ROOT), task.get('name')))
        facts = task.get('ansible.builtin.set_fact') or {}
        if isinstance(facts, dict) and 'cluster_plan' in facts:
            self.plan_defined = True
        for key in INCLUDE_ROLE:
            if key in task:
                spec = task[key]
                role = spec['name'].split('.')[-1]
                self.file(os.path.join(ROOT, 'roles', role, 'tasks', '%s.yml' % spec.get('tasks_from', 'main')))
        for key in INCLUDE_TASKS:
            if key in task:
                spec = task[key]  # the file's name, or {file: ..., apply: ...}
                self.file(os.path.join(os.path.dirname(path), spec['file'] if isinstance(spec, dict) else spec))

    def file(self, path):
        with open(path) as handle:
            self.tasks(path, yaml.safe_load(handle))


def walk_playbook(name):
    walk = Walk()
    path = os.path.join(ROOT, 'playbooks', '%s.yml' % name)
    with open(path) as handle:
        for play in yaml.safe_load(handle):
            walk.tasks(path, play.get('tasks'))
    return walk


@pytest.mark.parametrize('playbook', ['provision', 'unprovision'])
def test_the_playbook_builds_the_plan_once(playbook):
    walk = walk_playbook(playbook)
    assert len(walk.builds) == 1, walk.builds
    assert walk.builds[0].startswith('roles/cluster/tasks/plan.yml')


@pytest.mark.parametrize('role', ['cluster', 'host_checks', 'unprovision'])
def test_each_role_alone_builds_the_plan_once(role):
    walk = Walk()
    walk.file(os.path.join(ROOT, 'roles', role, 'tasks', 'main.yml'))
    assert len(walk.builds) == 1, walk.builds


def test_the_walk_counts_a_second_build():
    walk = Walk()
    task = {'name': 'again', 'ansible.builtin.set_fact': {'x': "{{ c | strata.libvirt.cluster_plan(m) }}"}}
    walk.tasks('roles/x.yml', [task, task])
    assert len(walk.builds) == 2

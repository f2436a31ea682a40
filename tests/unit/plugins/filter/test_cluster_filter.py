# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The strata.libvirt.cluster_* filters: thin wrappers, errors as AnsibleFilterError."""


import os

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.strata.libvirt.plugins.filter.cluster import FilterModule

FILTERS = FilterModule().filters()
KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKpc8QXeQS+7Sa9RPnbtTb86sZDiDouKCQQOJn2NJVXS test'
IMAGE_MAP = {'default_label': 'lab', 'images': {'lab': {'source': 'http://h/lab.qcow2', 'checksum': 'none'}}}
CLUSTER = {'name': 'c1', 'network': {'cidr': '10.9.0.0/24'}, 'ssh_public_keys': [KEY],
           'vms': [{'name': 'a', 'ip': '10.9.0.10'}, {'name': 'b', 'ip': '10.9.0.11', 'after': ['a']}]}


def test_filters_are_there():
    assert sorted(FILTERS) == ['cluster_host_findings', 'cluster_inventory_hosts', 'cluster_key_file', 'cluster_known_hosts', 'cluster_known_hosts_file',
                               'cluster_leftover_volumes', 'cluster_mac', 'cluster_orphans', 'cluster_place', 'cluster_plan',
                               'cluster_probe_needs',
                               'cluster_problems', 'cluster_rebuild',
                               'cluster_set_virt_type', 'cluster_small_disks', 'cluster_summary', 'cluster_teardown',
                               'hypervisors', 'image_options', 'resolve_images']


def test_image_options_are_the_image_module_s_for_each_entry():
    entries = [{'source': 'http://h/a.qcow2', 'checksum': 'sha256:' + 'ab' * 32, 'decompress': 'auto', 'format': None,
                'cache_file': '/c/a.qcow2', 'volume': 'a.qcow2', 'label': 'a'},
               {'source': 'http://h/b.raw.zst', 'checksum': 'none', 'decompress': 'zstd', 'format': 'raw',
                'cache_file': '/c/b.raw', 'volume': 'b.raw', 'label': 'b'}]
    assert FILTERS['image_options'](entries, '', '', '', 3, 60) == [
        {'source': 'http://h/a.qcow2', 'checksum': 'sha256:' + 'ab' * 32, 'decompress': 'auto', 'dest': '/c/a.qcow2',
         'retries': 3, 'timeout': 60},
        {'source': 'http://h/b.raw.zst', 'checksum': 'none', 'decompress': 'zstd', 'dest': '/c/b.raw', 'format': 'raw',
         'retries': 3, 'timeout': 60}]
    into_pool = FILTERS['image_options'](entries[:1], 'lab', 'lab', 'qemu:///system')
    assert into_pool == [{'source': 'http://h/a.qcow2', 'checksum': 'sha256:' + 'ab' * 32, 'decompress': 'auto', 'dest': '/c/a.qcow2',
                          'pool': 'lab', 'cluster': 'lab', 'uri': 'qemu:///system'}]
    # every option is one the image module takes, and its volume is named as the cache file (the module's default)
    from ansible_collections.strata.libvirt.plugins.module_utils._image import spec
    assert set(into_pool[0]) <= set(spec.argument_spec())
    assert spec.desired_from_params(dict(into_pool[0], volume=None))['volume'] == {'pool': 'lab', 'name': 'a.qcow2'}


def test_hypervisors_is_the_pattern_of_a_play():
    assert FILTERS['hypervisors']('hypervisor') == 'hypervisor'
    assert FILTERS['hypervisors']('kvm:!kvm3') == 'kvm:!kvm3'
    assert FILTERS['hypervisors'](['kvm1', ' kvm2 ', 'lab*']) == 'kvm1:kvm2:lab*'
    for bad in ('', '  ', [], ['kvm1', ''], ['kvm1', 3], 7, None, {'kvm1': 1}):
        with pytest.raises(AnsibleFilterError, match='^strata_hypervisors: .* is not a host pattern'):
            FILTERS['hypervisors'](bad)


def test_loading_the_cluster_filters_loads_the_other_filter_files_too():
    # ansible-playbook loads plugins/filter/cluster.py for the playbooks' hosts: line; the tasks' workers, forked from
    # it, must find every filter file of the collection loaded
    import subprocess
    import sys
    code = ('import sys; import ansible_collections.strata.libvirt.plugins.filter.cluster; '
            'print(sorted(m for m in sys.modules if m.startswith("ansible_collections.strata.libvirt.plugins.filter.")))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))).stdout
    here = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'plugins', 'filter')
    files = sorted('ansible_collections.strata.libvirt.plugins.filter.' + name[:-3] for name in os.listdir(here)
                   if name.endswith('.py') and name != '__init__.py')
    assert out.strip() == repr(files)


def test_every_filter_is_documented():
    here = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'plugins', 'filter')
    for name in FILTERS:
        with open(os.path.join(here, '%s.yml' % name)) as handle:
            doc = yaml.safe_load(handle)
        assert doc['DOCUMENTATION']['name'] == name and doc['EXAMPLES'] and doc['RETURN'], name


def test_plan_and_problems():
    plan = FILTERS['cluster_plan'](CLUSTER, IMAGE_MAP)
    assert [t['vms'] for t in plan['tiers']] == [['c1-a'], ['c1-b']]
    assert plan['problems'] == [] and FILTERS['cluster_problems'](CLUSTER, IMAGE_MAP) == []
    bad = dict(CLUSTER, vms=[{'name': 'a', 'ip': '10.9.0.10'}, {'name': 'a', 'ip': '10.9.0.10'}])
    assert len(FILTERS['cluster_problems'](bad, IMAGE_MAP)) == 2
    # the plan does not fail: its problems say what is wrong, and it has no module options
    plan = FILTERS['cluster_plan'](bad, IMAGE_MAP)
    assert len(plan['problems']) == 2 and plan['params'] == {}
    assert FILTERS['cluster_plan']('x', IMAGE_MAP)['problems'] == [
        'the cluster definition must be a dict (strata_cluster), got str']


def test_virt_type_and_the_domains():
    plan = FILTERS['cluster_plan'](dict(CLUSTER, virt_type='auto'), IMAGE_MAP)
    assert plan['type'] == 'auto' and plan['params']['domains'] is None
    plan = FILTERS['cluster_set_virt_type'](plan, 'qemu')
    assert [item['name'] for item in plan['params']['domains']['items']] == ['c1-a', 'c1-b']
    assert [item['volume'] for item in plan['params']['seeds']['items']] == ['c1-a-seed.iso', 'c1-b-seed.iso']
    with pytest.raises(AnsibleFilterError, match='virt_type must be kvm or qemu'):
        FILTERS['cluster_set_virt_type'](dict(plan, type='auto'), 'auto')


def _objects(domains, volumes, foreign=()):
    """A strata.libvirt.cluster_info result with these marked domains and volumes ((name, used_by, image))."""
    return {'objects': {'domains': {'c1-b': {'exists': True, 'status': 'foreign'}}}, 'foreign': list(foreign),
            'marked': {'domains': domains, 'networks': ['c1'], 'pools': [{'name': 'c1', 'active': True}],
                       'volumes': [{'pool': 'c1', 'name': n, 'key': '/p/' + n, 'image': image, 'used_by': used}
                                   for n, used, image in volumes]}}


def test_teardown_filters():
    plan = FILTERS['cluster_plan'](CLUSTER, IMAGE_MAP, {})
    volumes = [('lab.qcow2', [], True), ('c1-a.qcow2', [], False), ('c1-b.qcow2', ['c1-b'], False),
               ('c1-b-seed.iso', [], False)]
    teardown = FILTERS['cluster_teardown'](plan, _objects(['c1-a', 'c1-old'], volumes,
                                                          ["domain 'c1-b' exists and was not created by strata.libvirt"]))
    assert teardown['domains'] == ['c1-a', 'c1-old'] and teardown['foreign_domains'] == ['c1-b']
    # a domain the definition no longer names is stopped first
    assert teardown['stop_vms'] == [{'name': 'c1-a', 'tier': 0}, {'name': 'c1-old', 'tier': 2}]
    # the volumes of a VM whose name a foreign domain took are ours and go, unless that domain uses them
    assert teardown['volumes'] == [{'pool': 'c1', 'name': 'c1-a.qcow2'}, {'pool': 'c1', 'name': 'c1-b-seed.iso'},
                                   {'pool': 'c1', 'name': 'lab.qcow2'}]
    assert teardown['left_alone'] == ["domain 'c1-b' exists and was not created by strata.libvirt",
                                      'volume c1/c1-b.qcow2: used by c1-b, not a domain of this cluster',
                                      "pool 'c1': it holds a volume that a domain of another owner uses"]
    assert teardown['pools'] == [] and teardown['networks'] == ['c1']
    assert teardown['console_logs'] == [plan['vms'][0]['console_log']]
    assert teardown['console_logs_without_domain'] == []   # c1-a's domain is ours: removed with it
    removed = [{'diff': {'after': {'volumes_removed': ['c1/c1-a.qcow2']}}}, {'changed': False}]
    assert FILTERS['cluster_leftover_volumes'](teardown, removed) == [{'pool': 'c1', 'name': 'c1-b-seed.iso'},
                                                                      {'pool': 'c1', 'name': 'lab.qcow2'}]
    free = FILTERS['cluster_teardown'](plan, _objects([], [('lab.qcow2', [], True)]))
    assert free['pools'] == ['c1'] and free['left_alone'] == [] and free['stop_vms'] == []


def test_orphans_are_the_marked_domains_the_definition_dropped():
    plan = FILTERS['cluster_plan'](CLUSTER, IMAGE_MAP, {})
    orphans = FILTERS['cluster_orphans'](plan, _objects(['c1-old2', 'c1-a', 'c1-old1'], []))
    assert orphans == {'domains': ['c1-old1', 'c1-old2'],
                       'stop_vms': [{'name': 'c1-old1', 'tier': 0}, {'name': 'c1-old2', 'tier': 0}]}
    assert FILTERS['cluster_orphans'](plan, _objects(['c1-a'], [])) == {'domains': [], 'stop_vms': []}
    # the summary shows them after the VMs: orphaned, removed (prune) or, in check mode, to be removed
    lines = FILTERS['cluster_summary'](plan, [], False, orphans['domains'])
    assert [line.split()[0] for line in lines[-2:]] == ['c1-old1', 'c1-old2'] and 'orphaned' in lines[-1]
    assert 'removed (prune)' in FILTERS['cluster_summary'](plan, [], False, ['c1-old1'], True)[-1]
    assert 'would remove' in FILTERS['cluster_summary'](plan, [], True, ['c1-old1'], True)[-1]
    assert plan['prune'] is False and FILTERS['cluster_plan'](dict(CLUSTER, prune='yes'), IMAGE_MAP, {})['prune'] is True
    assert "prune: 'maybe' is not a boolean" in ' '.join(FILTERS['cluster_plan'](dict(CLUSTER, prune='maybe'), IMAGE_MAP,
                                                                                 {})['problems'])


def test_helpers():
    plan = FILTERS['cluster_plan'](CLUSTER, IMAGE_MAP, {})
    assert FILTERS['cluster_summary'](plan, [])[2].split()[:3] == ['a', '0', '10.9.0.10']
    assert FILTERS['cluster_summary'](plan, startup_results=[], check_mode=True)[2].split()[-2:] == ['planned', '-']
    assert FILTERS['cluster_mac']('c1', 'a').startswith('52:54:00:')
    assert FILTERS['resolve_images'](IMAGE_MAP, [])[0]['label'] == 'lab'
    image = FILTERS['resolve_images'](IMAGE_MAP, [], '/srv/cache/')[0]
    assert image['cache_file'] == '/srv/cache/lab.qcow2' and image['sidecar_file'] == '/srv/cache/.lab.qcow2.strata-image.json'
    with pytest.raises(AnsibleFilterError, match="unknown image label 'zz'"):
        FILTERS['resolve_images'](IMAGE_MAP, ['zz'])

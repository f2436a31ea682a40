# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""_cluster/known_hosts: the file's path and what is there, the merge of the keys the VMs report with the file's
(new, same, changed without a rebuild, changed with one), and the mode the role writes it with."""


import os

import pytest
import yaml

from ansible_collections.strata.libvirt.plugins.module_utils._errors import StrataError
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import known_hosts as kh
from ansible_collections.strata.libvirt.plugins.filter.cluster import FilterModule

ED25519 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKvsupau1lmQ56Apej98wl7wNvZuiMzHsG+Nqcqf8Trv'
ED25519_FP = 'SHA256:1xEUAPMtx6Qmb2m08U7uzOwS+yN+n3gN0nTjYy78W9w'     # as ssh-keygen -l shows them
ED25519_NEW = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJQov53N7ejYfFw4m3MhqksarXnH9XSQhcOcnU68CGCT'
ED25519_NEW_FP = 'SHA256:gXXtTxp9jwGxhmI3Q0ESh1DDCwCeohAhxMboIdrRqQo'
ECDSA = ('ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBI0AG6P0Ba0mF8ImcZX7i7cLl7hWX7GWTkGjq6'
         '9+e5n0oVPasjCq5Sw5SRMs3E7nDJnugLAgq9Ew6oFwy/hQrMk=')
ECDSA_FP = 'SHA256:ojnoeVmIxGxNz+aQYevetPCF7h7SG+1GFmok7atuGAM'
PLAN = {'name': 'c1', 'ssh_private_key_file': None,
        'vms': [{'name': 'a', 'domain': 'c1-a', 'ip': '10.9.0.10'}, {'name': 'b', 'domain': 'c1-b', 'ip': '10.9.0.11'}]}
HEADER = kh.header('c1')
ROLE = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'roles')


def dom(name, keys, source='agent', active=True):
    error = None if keys else ('guest agent: not connected' if active else 'the domain is not running')
    return {'name': name, 'active': active, 'host_keys': {'keys': keys, 'source': source if keys else None, 'error': error}}


def known(content=None, path='/k/strata-c1_known_hosts'):
    return {'path': path, 'exists': content is not None, 'ours': True, 'content': content or '', 'problem': None}


def test_fingerprints_as_ssh_keygen_shows_them():
    assert kh.fingerprint(ED25519) == ED25519_FP
    assert kh.fingerprint(ED25519_NEW) == ED25519_NEW_FP
    assert kh.fingerprint(ECDSA) == ECDSA_FP


def test_the_path(tmp_path):
    home = os.path.expanduser('~')
    assert kh.file_path(PLAN) == os.path.join(home, '.ssh', 'strata-c1_known_hosts')
    assert kh.file_path(dict(PLAN, ssh_private_key_file='~/keys/c1_ed25519')) == os.path.join(home, 'keys', 'strata-c1_known_hosts')
    assert kh.file_path(dict(PLAN, ssh_private_key_file='c1_ed25519')) == os.path.join(os.getcwd(), 'strata-c1_known_hosts')
    assert kh.file_path(PLAN, str(tmp_path / 'kh')) == str(tmp_path / 'kh')
    # the definition before the plan is built gives the same path
    assert kh.file_path({'name': 'c1', 'ssh_private_key_file': '~/keys/k'}) == os.path.join(home, 'keys', 'strata-c1_known_hosts')


def test_inspect(tmp_path):
    where = tmp_path / 'kh'
    assert kh.inspect(PLAN, str(where)) == {'path': str(where), 'exists': False, 'ours': True, 'content': '',
                                            'problem': None, 'mode': '0600', 'dir_mode': '0700'}
    where.write_text(HEADER + '\n10.9.0.10,a %s\n' % ED25519)
    where.chmod(0o640)
    found = kh.inspect(PLAN, str(where))
    assert found['exists'] and found['ours'] and found['problem'] is None and found['content'].startswith(HEADER)
    assert found['file_mode'] == '0640'
    where.write_text('')
    assert kh.inspect(PLAN, str(where))['ours'] is True
    # another cluster's file, or a known_hosts file of someone else, is not ours
    where.write_text(kh.header('c10') + '\n')
    found = kh.inspect(PLAN, str(where))
    assert not found['ours'] and 'was not written for cluster c1' in found['problem']
    where.write_text('github.com %s\n' % ED25519)
    assert kh.inspect(PLAN, str(where))['problem'].startswith('cluster_known_hosts_file: %s exists and was not written' % where)
    assert 'not a regular file' in kh.inspect(PLAN, str(tmp_path))['problem']


def test_parse():
    text = ('# c\n\n10.9.0.10,a %s root@a\n10.9.0.10 %s\n@revoked * %s\n|1|abc= %s\nbroken\n'
            % (ED25519, ECDSA, ED25519_NEW, ED25519_NEW))
    assert kh.parse(text) == {'10.9.0.10': [ED25519, ECDSA], 'a': [ED25519]}


def test_new_keys_are_added():
    out = kh.merge(PLAN, [dom('c1-a', [ED25519, ECDSA]), dom('c1-b', [ED25519_NEW], 'console')], known())
    assert out['problems'] == [] and out['changed'] is True and out['mode'] == '0600'
    assert out['content'] == '%s\n10.9.0.10,a %s\n10.9.0.10,a %s\n10.9.0.11,b %s\n' % (HEADER, ED25519, ECDSA, ED25519_NEW)
    assert [(e['vm'], e['status'], e['source']) for e in out['entries']] == [('a', 'added', 'agent'), ('b', 'added', 'console')]
    assert out['entries'][0]['fingerprints'] == [ED25519_FP, ECDSA_FP]
    assert out['report'][1] == 'b 10.9.0.11: added (console) ssh-ed25519 %s' % ED25519_NEW_FP


def test_the_same_keys_change_nothing():
    first = kh.merge(PLAN, [dom('c1-a', [ED25519]), dom('c1-b', [ED25519_NEW])], known())
    again = kh.merge(PLAN, [dom('c1-a', [ED25519]), dom('c1-b', [ED25519_NEW], 'console')], known(first['content']))
    assert again['changed'] is False and again['content'] == first['content'] and again['problems'] == []
    assert [e['status'] for e in again['entries']] == ['unchanged', 'unchanged']


def test_a_changed_key_without_a_rebuild_is_an_error():
    old = known('%s\n10.9.0.10,a %s\n10.9.0.11,b %s\n' % (HEADER, ED25519, ED25519_NEW))
    out = kh.merge(PLAN, [dom('c1-a', [ED25519_NEW]), dom('c1-b', [ED25519_NEW])], old)
    assert out['content'] is None and out['changed'] is False and len(out['problems']) == 1
    problem = out['problems'][0]
    assert problem.startswith('VM a (10.9.0.10): its SSH host key changed and its domain was not (re)created in this run')
    assert ED25519_FP in problem and ED25519_NEW_FP in problem and 'guest agent' in problem
    assert 'ssh-keygen -R 10.9.0.10 -f /k/strata-c1_known_hosts' in problem
    # no key in common at all is a change too
    out = kh.merge(PLAN, [dom('c1-a', [ECDSA]), dom('c1-b', [ED25519_NEW])], old)
    assert len(out['problems']) == 1 and ECDSA_FP in out['problems'][0]


def test_a_changed_key_of_a_rebuilt_domain_is_replaced():
    old = known('%s\n10.9.0.10,a %s\n10.9.0.11,b %s\n' % (HEADER, ED25519, ED25519_NEW))
    domain_results = [{'item': 'c1-a', 'changed': True, 'actions': ["define domain 'c1-a'", "start domain 'c1-a'"]},
                      {'item': 'c1-b', 'changed': True, 'actions': ["redefine domain 'c1-b' (memory)"]}]
    out = kh.merge(PLAN, [dom('c1-a', [ED25519_NEW]), dom('c1-b', [ED25519_NEW])], old, domain_results)
    assert out['problems'] == [] and out['changed'] is True
    assert out['content'] == '%s\n10.9.0.10,a %s\n10.9.0.11,b %s\n' % (HEADER, ED25519_NEW, ED25519_NEW)
    assert [e['status'] for e in out['entries']] == ['replaced', 'unchanged']
    # a redefinition is no rebuild: its changed key stays an error
    out = kh.merge(PLAN, [dom('c1-a', [ED25519_NEW]), dom('c1-b', [ED25519])], old, domain_results)
    assert len(out['problems']) == 1 and out['problems'][0].startswith('VM b (10.9.0.11)')


def test_rebuilt_domains():
    results = [{'item': 'c1-a', 'changed': True, 'actions': ["define domain 'c1-a'"]},
               {'item': 'c1-b', 'changed': True, 'actions': ["redefine domain 'c1-b' (vcpus)"]},
               {'item': 'c1-c', 'changed': False, 'actions': []},
               {'changed': True, 'domain': {'name': 'c1-d'}, 'actions': ["define domain 'c1-d'"]}]
    assert kh.rebuilt_domains(results) == ['c1-a', 'c1-d']
    assert kh.rebuilt_domains(['c1-x']) == ['c1-x'] and kh.rebuilt_domains(None) == []


def test_key_types_added_or_dropped():
    old = known('%s\n10.9.0.10,a %s\n10.9.0.11,b %s\n' % (HEADER, ED25519, ED25519_NEW))
    out = kh.merge(PLAN, [dom('c1-a', [ED25519, ECDSA]), dom('c1-b', [ED25519_NEW])], old)
    assert out['problems'] == [] and [e['status'] for e in out['entries']] == ['updated', 'unchanged']


def test_vms_without_keys():
    old = known('%s\n10.9.0.10,a %s\n10.9.0.99,gone %s\n' % (HEADER, ED25519, ECDSA))
    # a stopped VM keeps its entry, one never read is not verified; a VM the plan no longer has is dropped
    out = kh.merge(PLAN, [dom('c1-a', [], active=False)], old)
    assert out['problems'] == [] and out['content'] == '%s\n10.9.0.10,a %s\n' % (HEADER, ED25519)
    assert [(e['status'], e['source']) for e in out['entries']] == [('kept', 'file'), ('missing', None)]
    assert out['warnings'] == [
        'VM a (10.9.0.10): host keys not read (the domain is not running); its entry from before is kept',
        'VM b (10.9.0.11): host keys not verified (the domain does not exist); SSH to it fails its host key check until they are']
    # a running VM without keys: waited for, then a problem (a warning in check mode)
    running = [dom('c1-a', [ED25519]), dom('c1-b', [])]
    assert kh.merge(PLAN, running, known(), final=False)['waiting'] == ['b']
    out = kh.merge(PLAN, running, known())
    assert out['content'] is None and out['problems'][0].startswith('VM b (10.9.0.11): no SSH host key could be read '
                                                                    '(guest agent: not connected)')
    out = kh.merge(PLAN, running, known(), check_mode=True)
    assert out['problems'] == [] and 'not verified' in out['warnings'][0]
    # a rebuilt domain's old entry is not kept
    out = kh.merge(PLAN, [dom('c1-a', [], active=False), dom('c1-b', [ED25519_NEW])], old, ['c1-a'])
    assert out['entries'][0]['status'] == 'missing' and '10.9.0.10' not in out['content']


def test_a_rebuilt_domain_waits_for_a_console_block_newer_than_its_entry():
    old = known('%s\n10.9.0.10,a %s\n10.9.0.11,b %s\n' % (HEADER, ED25519, ED25519_NEW))
    stale = [dom('c1-a', [ED25519], 'console'), dom('c1-b', [ED25519_NEW])]
    assert kh.merge(PLAN, stale, old, ['c1-a'], final=False)['waiting'] == ['a']
    assert kh.merge(PLAN, [dom('c1-a', [ED25519], 'agent'), stale[1]], old, ['c1-a'], final=False)['waiting'] == []
    assert kh.merge(PLAN, stale, old, ['c1-a'])['entries'][0]['status'] == 'unchanged'
    # a block from before the guest's last boot does not stand for a domain created anew
    earlier = dom('c1-a', [ED25519_NEW], 'console')
    earlier['host_keys']['console_boot'] = 'earlier'
    assert kh.merge(PLAN, [earlier, stale[1]], old, ['c1-a'], final=False)['waiting'] == ['a']
    out = kh.merge(PLAN, [earlier, stale[1]], old, ['c1-a'])
    assert out['content'] is None and 'its console log holds only keys written before the guest last booted' in out['problems'][0]
    # for a domain that was not created anew, a reboot since changes nothing
    out = kh.merge(PLAN, [dict(earlier, host_keys=dict(earlier['host_keys'], keys=[ED25519])), stale[1]], old)
    assert out['problems'] == [] and out['entries'][0]['status'] == 'unchanged'


def test_a_file_that_is_not_ours_is_left_alone():
    out = kh.merge(PLAN, [dom('c1-a', [ED25519])], dict(known('x y z\n'), ours=False, problem='not ours'))
    assert out['problems'] == ['not ours'] and out['content'] is None


def test_written_and_read_back_it_is_the_same(tmp_path):
    """What the role writes (the filters' content, mode 0600), read again on the next run, changes nothing."""
    filters = FilterModule().filters()
    where = str(tmp_path / 'kh')
    domains = [dom('c1-a', [ED25519, ECDSA]), dom('c1-b', [ED25519_NEW])]
    first = filters['cluster_known_hosts'](PLAN, domains, filters['cluster_known_hosts_file'](PLAN, where))
    with open(where, 'w') as handle:
        handle.write(first['content'])
    os.chmod(where, int(first['mode'], 8))
    again = filters['cluster_known_hosts'](PLAN, domains, filters['cluster_known_hosts_file'](PLAN, where), final=True)
    assert first['changed'] is True and again['changed'] is False and again['problems'] == []
    assert oct(os.stat(where).st_mode & 0o777) == '0o600'


def test_the_role_writes_the_file_on_the_controller_with_mode_0600():
    with open(os.path.join(ROLE, 'cluster', 'tasks', 'known_hosts.yml')) as handle:
        tasks = dict((task['name'], task) for task in yaml.safe_load(handle))
    write = tasks['Write the known_hosts file on the controller']
    assert write['strata.libvirt.known_hosts'] == {'path': '{{ _cluster_known_hosts.path }}',
                                                   'content': '{{ _cluster_known_hosts.content }}',
                                                   'cluster': '{{ cluster_plan.name }}'}
    assert kh.FILE_MODE == 0o600 and kh.DIR_MODE == 0o700
    assert kh.merge(PLAN, [], known())['mode'] == '0600'


def test_write_makes_the_directory_and_the_file_once_and_never_touches_a_foreign_file(tmp_path):
    where = tmp_path / 'new' / 'kh'
    content = HEADER + '\n10.9.0.10,a %s\n' % ED25519
    planned = kh.write(str(where), content, 'c1', check_mode=True)
    assert planned['changed'] and not (tmp_path / 'new').exists()  # check mode writes nothing
    assert planned['diff']['before_header'] == '(absent)' and planned['diff']['after'] == content
    written = kh.write(str(where), content, 'c1')
    assert written['changed'] and where.read_text() == content
    assert oct(os.stat(str(where)).st_mode & 0o777) == '0o600' and oct(os.stat(str(where.parent)).st_mode & 0o777) == '0o700'
    assert kh.write(str(where), content, 'c1')['changed'] is False  # the same content and mode: nothing written
    where.chmod(0o644)
    assert kh.write(str(where), content, 'c1')['changed'] is True and oct(os.stat(str(where)).st_mode & 0o777) == '0o600'
    newer = HEADER + '\n10.9.0.10,a %s\n' % ED25519_NEW
    assert kh.write(str(where), newer, 'c1')['diff']['before'] == content and where.read_text() == newer
    assert os.listdir(str(where.parent)) == ['kh']  # no temporary file left
    # a file another cluster wrote, and content without this cluster's header, are refused
    where.write_text(kh.header('c10') + '\n')
    with pytest.raises(StrataError, match='was not written for cluster c1'):
        kh.write(str(where), content, 'c1')
    assert where.read_text() == kh.header('c10') + '\n'
    with pytest.raises(StrataError, match='does not begin with'):
        kh.write(str(tmp_path / 'other'), '10.9.0.10 %s\n' % ED25519, 'c1')

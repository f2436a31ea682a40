# -*- coding: utf-8 -*-
# Copyright (c) strata.libvirt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every bad input of the cluster definition the plan handles, one case a row: the change to a sound definition and
a part of the one-line message that names the field. Then the key pair on the controller, case by case."""

import copy
import os
import stat

import pytest

from ansible_collections.strata.libvirt.plugins.filter import cluster as cluster_filters
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import definition
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import host
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import keyfile
from ansible_collections.strata.libvirt.plugins.module_utils._cluster import plan as planner
from ansible_collections.strata.libvirt.tests.unit.plugins.module_utils.certs import CA_PEM

KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKpc8QXeQS+7Sa9RPnbtTb86sZDiDouKCQQOJn2NJVXS test'
PRIVATE = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n'
IMAGE_MAP = {'default_label': 'lab', 'sizes': {'tiny': {'vcpus': 1, 'memory': '512M', 'disk': '4G'}},
             'images': {'lab': {'source': 'http://127.0.0.1:8088/lab.qcow2', 'checksum': 'none', 'size': 'tiny'}}}
BASE = {
    'name': 'bad', 'virt_type': 'qemu', 'ssh_public_keys': [KEY], 'ca_certificate': CA_PEM,
    'network': {'cidr': '10.250.0.0/24', 'dhcp_range': {'start': '10.250.0.100', 'end': '10.250.0.199'}},
    'vms': [{'name': 'a', 'ip': '10.250.0.10'}, {'name': 'b', 'ip': '10.250.0.11', 'tier': 1}],
}
PEM_LINES = CA_PEM.strip().splitlines()
FAKE_PEM = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUX\n-----END CERTIFICATE-----\n'
NOT_DER_PEM = '-----BEGIN CERTIFICATE-----\nQ2E=\n-----END CERTIFICATE-----\n'
EMPTY_PEM = '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n'
ONE_LINE_PEM = ' '.join(PEM_LINES)                      # what a folded YAML scalar (>) makes of it
SHORT_PEM = '\n'.join(PEM_LINES[:2] + PEM_LINES[3:])   # a line lost: still base64, no longer a certificate


def top(**changes):
    out = copy.deepcopy(BASE)
    out.update(changes)
    return out


def without(key):
    out = copy.deepcopy(BASE)
    out.pop(key)
    return out


def net(**changes):
    out = copy.deepcopy(BASE)
    out['network'].update(changes)
    return out


def vm(**changes):
    out = copy.deepcopy(BASE)
    out['vms'][0].update(changes)
    return out


CASES = [
    # the definition as a whole
    ('not a dict', 'x', 'the cluster definition must be a dict (strata_cluster), got str'),
    ('unknown key', top(surprise=1), 'strata_cluster: unknown key(s) surprise'),
    ('bad name', top(name='bad name'), "name: invalid cluster name 'bad name'"),
    ('long name', top(name='n' * 41), "name: invalid cluster name '%s'; 1 to 40" % ('n' * 41)),
    ('no name', without('name'), 'name: invalid cluster name None'),
    ('virt type', top(virt_type='xen'), "virt_type: 'xen'; use one of kvm, qemu, auto"),
    ('inventory group', top(inventory_group='1-bad'), "inventory_group: '1-bad' is not a valid Ansible group name"),
    ('user', top(user='Root!'), "user: 'Root!' is not a valid login name"),
    ('user_data', top(user_data=['x']), 'user_data: must be a dict of cloud-config keys'),
    ('tb cache 0', top(tcg_tb_cache=0), 'tcg_tb_cache: 0 must be at least 1'),
    ('tb cache text', top(tcg_tb_cache='big'), "tcg_tb_cache: 'big' is not a whole number"),
    ('autostart', top(autostart='maybe'), "autostart: 'maybe' is not a boolean (true or false)"),
    ('image label', top(image='nope'), "image map: unknown image label 'nope'"),
    ('image type', top(image=['x']), "image: ['x'] is not an image label"),
    ('cluster size', top(size='huge'), "size: unknown size 'huge'; known sizes: large, medium, small, tiny"),
    ('console log dir', top(console_log_dir='logs'), "module domain, items[0]: Option console_log: 'logs/bad-a-console.log'"),
    ('domain prefix', top(domain_prefix='bad prefix '), "vms[0] 'a': domain name 'bad prefix a' is invalid"),
    # network
    ('no network', without('network'), 'network: required, a dict with at least cidr'),
    ('no cidr', top(network={'domain': 't.test'}), 'network.cidr: required, the IPv4 subnet of the network'),
    ('cidr text', net(cidr='x'), "network.cidr: 'x' is not an IPv4 subnet such as 10.250.0.0/24"),
    ('cidr too small', net(cidr='10.250.0.0/30'), 'network.cidr: 10.250.0.0/30 is too small: give a prefix of at most /29'),
    ('cidr no prefix', net(cidr='10.250.0.0'), 'network.cidr: 10.250.0.0 is too small'),
    ('network key', net(vlan=5), 'network: unknown key(s) vlan'),
    ('network mode', net(mode='bridge'), "network.mode: 'bridge'; use one of nat, route, isolated, open"),
    ('network name', net(name='a b'), "network.name: invalid name 'a b'"),
    ('network domain', net(domain='bad_domain!'), "network.domain: invalid DNS domain 'bad_domain!'"),
    ('network autostart', net(autostart='perhaps'), "network.autostart: 'perhaps' is not a boolean"),
    ('gateway text', net(gateway='x'), "network.gateway: 'x' is not an IPv4 address"),
    ('gateway outside', net(gateway='10.9.9.1'), 'network.gateway: 10.9.9.1 is outside the usable addresses of 10.250.0.0/24'),
    ('dhcp range type', net(dhcp_range='all'), "network.dhcp_range: a dict with start and end, got 'all'"),
    ('dhcp range order', net(dhcp_range={'start': '10.250.0.200', 'end': '10.250.0.150'}),
     'network.dhcp_range: start 10.250.0.200 is after end 10.250.0.150'),
    ('dhcp range gateway', net(dhcp_range={'start': '10.250.0.1', 'end': '10.250.0.5'}),
     'network.dhcp_range: 10.250.0.1 - 10.250.0.5 contains the gateway 10.250.0.1'),
    ('dhcp range outside', net(dhcp_range={'start': '10.250.0.100', 'end': '10.250.1.5'}),
     'network.dhcp_range.end: 10.250.1.5 is outside the usable addresses'),
    ('dhcp range text', net(dhcp_range={'start': 'x', 'end': '10.250.0.50'}), "network.dhcp_range.start: 'x' is not an IPv4 address"),
    ('mtu', net(mtu='big'), "module network, items[0]: argument 'mtu' is of type str"),
    ('bridge', net(bridge='b' * 20), "module network, items[0]: Option bridge: invalid bridge name '%s'" % ('b' * 20)),
    # pool, keys, startup settings
    ('pool type', top(pool=['x']), 'pool: must be a dict (name, path)'),
    ('pool path', top(pool={'path': 'rel'}), "pool.path: 'rel' must be an absolute path"),
    ('pool name', top(pool={'name': 'a b'}), "pool.name: invalid name 'a b'"),
    ('pool key', top(pool={'type': 'dir'}), 'pool: unknown key(s) type (known: name, path)'),
    ('public key', top(ssh_public_keys=['not a key']), "ssh_public_keys[0]: 'not a key' does not look like an OpenSSH public key"),
    ('no public key', top(ssh_public_keys=[]), 'ssh_public_keys: give at least one public key'),
    ('key file type', top(ssh_private_key_file=5), 'ssh_private_key_file: 5 is not a path'),
    ('key file in /proc', top(ssh_private_key_file='/proc/x/key'),
     'ssh_private_key_file: /proc/x/key cannot be created: no directory can be made in /proc'),
    ('startup type', top(startup=['x']), 'startup: must be a dict (on_failure, timeout'),
    ('startup key', top(startup={'retries': 1}), 'startup: unknown key(s) retries'),
    ('on_failure', top(startup={'on_failure': 'explode'}), "startup.on_failure: 'explode'; use one of abort, stop_started, continue"),
    ('shutdown mode', top(startup={'shutdown_mode': 'yank'}), "startup.shutdown_mode: 'yank'; use one of acpi, agent, default"),
    ('startup timeout', top(startup={'timeout': 0}), 'startup.timeout: 0 must be at least 1'),
    ('tier delay', top(startup={'tier_delay': -1}), 'startup.tier_delay: -1 must be at least 0'),
    ('startup grace', top(startup={'grace': 'soon'}), "startup.grace: 'soon' is not a number"),
    ('default probes', top(default_probes=[{'type': 'tcp'}]), "vms[0] 'a': probes[0]: a tcp probe needs a port"),
    # CA certificates: the PEM form, then each block parsed as X.509
    ('ca not pem', top(ca_certificate='nope'), 'ca_certificate[0]: not a PEM certificate (-----BEGIN CERTIFICATE----- ...)'),
    ('ca bad base64', top(ca_certificate=FAKE_PEM),
     'ca_certificate[0]: certificate 1 is not a valid X.509 certificate (its base64 text does not decode: '),
    ('ca not der', top(ca_certificate=NOT_DER_PEM), 'ca_certificate[0]: certificate 1 is not a valid X.509 certificate (not enough data)'),
    ('ca empty', top(ca_certificate=EMPTY_PEM), 'ca_certificate[0]: certificate 1 is not a valid X.509 certificate (it is empty)'),
    ('ca line lost', top(ca_certificate=SHORT_PEM), 'ca_certificate[0]: certificate 1 is not a valid X.509 certificate ('),
    ('ca folded', top(ca_certificate=ONE_LINE_PEM),
     'ca_certificate[0]: certificate 1 is not a valid X.509 certificate (OpenSSL cannot read its PEM text: no start line;'),
    ('ca second of list', top(ca_certificate=[CA_PEM, NOT_DER_PEM]), 'ca_certificate[1]: certificate 1 is not a valid X.509'),
    ('ca second block', top(ca_certificate=CA_PEM + NOT_DER_PEM), 'ca_certificate[0]: certificate 2 is not a valid X.509'),
    # the VMs
    ('no vms', top(vms=[]), 'vms: give at least one VM (a list of dicts with name and ip)'),
    ('vms type', top(vms='a'), 'vms: give at least one VM'),
    ('vm type', top(vms=['a']), "vms[0]: must be a dict with name and ip, got 'a'"),
    ('vm key', vm(cpus=1), "vms[0] 'a': unknown key(s) cpus (known: name, "),
    ('vm no name', vm(name=None), "vms[0]: invalid VM name None; it is the guest's host name"),
    ('vm name chars', vm(name='E_bad'), "vms[0] 'E_bad': invalid VM name 'E_bad'"),
    ('vm name dash', vm(name='-a'), "vms[0] '-a': invalid VM name '-a'"),
    ('vm name 64', vm(name='a' * 64), "vms[0].name: '%s...' is 64 characters; a host name label has at most 63" % ('a' * 24)),
    ('vm name 70', vm(name='v' * 70), "vms[0].name: '%s...' is 70 characters; a host name label has at most 63" % ('v' * 24)),
    ('vm name twice', vm(name='b'), "vms: the name 'b' is given twice (vms[0] 'b' and vms[1] 'b')"),
    ('no ip', vm(ip=None), "vms[0] 'a': ip is required (its static address, inside network.cidr)"),
    ('ip text', vm(ip='x'), "vms[0] 'a': ip 'x' is not an IPv4 address"),
    ('ip outside', vm(ip='10.251.0.5'), "vms[0] 'a': ip 10.251.0.5 is outside the usable addresses of network.cidr 10.250.0.0/24"),
    ('ip network address', vm(ip='10.250.0.0'), "vms[0] 'a': ip 10.250.0.0 is outside the usable addresses"),
    ('ip broadcast', vm(ip='10.250.0.255'), "vms[0] 'a': ip 10.250.0.255 is outside the usable addresses"),
    ('ip gateway', vm(ip='10.250.0.1'), "vms[0] 'a': ip 10.250.0.1 is the network's gateway"),
    ('ip in dhcp', vm(ip='10.250.0.150'), "vms[0] 'a': ip 10.250.0.150 is inside the DHCP range 10.250.0.100 - 10.250.0.199"),
    ('ip twice', vm(ip='10.250.0.11'), "vms: ip 10.250.0.11 is given twice (vms[0] 'a' and vms[1] 'b')"),
    ('mac text', vm(mac='zz'), "vms[0] 'a': mac 'zz' is not a MAC address such as 52:54:00:12:34:56"),
    ('mac multicast', vm(mac='01:00:5e:00:00:01'), "vms[0] 'a': mac 01:00:5e:00:00:01 is a multicast address"),
    ('mac twice', top(vms=[dict(BASE['vms'][0], mac='52:54:00:00:00:01'), dict(BASE['vms'][1], mac='52:54:00:00:00:01')]),
     "vms: mac 52:54:00:00:00:01 is used twice (vms[0] 'a' and vms[1] 'b')"),
    ('memory 0', vm(memory=0), "vms[0] 'a': memory: 0 must be greater than 0 (a plain number is MiB)"),
    ('memory negative', vm(memory='-1G'), "vms[0] 'a': memory: '-1G' must be greater than 0"),
    ('memory unit', vm(memory='12 parsecs'), "vms[0] 'a': memory: invalid size '12 parsecs'; use bytes or a number with a unit"),
    ('memory fraction', vm(memory='1500K'), "vms[0] 'a': memory: '1500K' is not a whole number of MiB"),
    ('memory boolean', vm(memory=True), "vms[0] 'a': memory: invalid memory size True"),
    ('vcpus 0', vm(vcpus=0), "vms[0] 'a': vcpus 0 is not a positive integer"),
    ('disk 0', vm(disk=0), "vms[0] 'a': disk: size 0 must be greater than 0"),
    ('disk text', vm(disk='lots'), "vms[0] 'a': disk: invalid size 'lots'"),
    ('vm size', vm(size='huge'), "vms[0] 'a': unknown size 'huge'; known sizes: large, medium, small, tiny"),
    ('vm image', vm(image='nope'), "image map: unknown image label 'nope'"),
    ('vm image type', vm(image={'x': 1}), "vms[0] 'a': image: {'x': 1} is not an image label"),
    ('vm tb cache', vm(tcg_tb_cache=0), "vms[0] 'a': tcg_tb_cache: 0 must be at least 1"),
    ('vm timeout', vm(timeout=0), "vms[0] 'a': timeout: 0 must be at least 1"),
    ('vm grace', vm(grace=-1), "vms[0] 'a': grace: -1 must be at least 0"),
    ('vm user_data', vm(user_data=['x']), "vms[0] 'a': user_data must be a dict of cloud-config keys"),
    ('vm group', vm(groups=['1x']), "vms[0] 'a': group '1x' is not a valid Ansible group name"),
    ('tier negative', vm(tier=-1), "vms[0] 'a': tier: -1 must be at least 0"),
    ('tier text', vm(tier='first'), "vms[0] 'a': tier: 'first' is not a whole number"),
    ('tier and after', vm(tier=0, after=['b']), "vms[0] 'a': give either tier or after, not both"),
    ('after type', vm(after=[1]), "vms[0] 'a': after must be a list of VM names"),
    ('after unknown', vm(after=['zz']), "vms 'a': after names unknown VM 'zz' (VMs: a, b)"),
    ('after itself', vm(after=['a']), "vms 'a': after names the VM itself"),
    ('after cycle', top(vms=[dict(BASE['vms'][0], after=['b']), {'name': 'b', 'ip': '10.250.0.11', 'after': ['a']}]),
     'dependency cycle: a -> b -> a; no start order exists'),
    ('probes type', vm(probes={'type': 'ssh'}), "vms[0] 'a': probes must be a list"),
    ('probe type', vm(probes=['ssh']), "vms[0] 'a': probes[0]: a probe must be a dict with a type, got 'ssh'"),
    ('probe kind', vm(probes=[{'type': 'telepathy'}]), "vms[0] 'a': probes[0].type: unknown probe type 'telepathy'"),
    ('http probe', vm(probes=[{'type': 'http'}]), "vms[0] 'a': probes[0]: an http probe needs a url"),
    ('tcp probe', vm(probes=[{'type': 'tcp'}]), "vms[0] 'a': probes[0]: a tcp probe needs a port"),
]


def test_the_base_definition_is_sound():
    plan = planner.build(BASE, IMAGE_MAP)
    assert plan['problems'] == [] and plan['key_file_problems'] == [], plan['problems']
    assert plan['ca_certs'] == [CA_PEM.strip()]


@pytest.mark.parametrize('bad, expected', [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_bad_input_is_one_line_naming_its_field(bad, expected):
    found = planner.problems(bad, IMAGE_MAP)
    assert any(expected in text for text in found), (expected, found)
    assert all(text and '\n' not in text for text in found), found
    # a message starts with the definition's field, never with a module's "Option" wording around it
    assert not any(text.startswith('Option ') for text in found), found


@pytest.mark.parametrize('host_facts, expected', [
    ({'memory_total_mib': 768}, 'memory: the VMs ask for 1024 MiB in all, more than the host has (768 MiB)'),
    ({'memory_total_mib': 4096, 'memory_available_mib': 500, 'running': ['bad-a']},
     'memory: the VMs not yet running need 512 MiB, the host has 500 MiB available'),
], ids=['total', 'available'])
def test_memory_beyond_the_host(host_facts, expected):
    assert planner.problems(BASE, IMAGE_MAP, {'host': host_facts}) == [expected]


# The key pair on the controller: each case makes its files under tmp_path and gives the key file's path.

def _pair(tmp_path, private=PRIVATE, public=KEY + '\n'):
    key = tmp_path / 'id'
    key.write_text(private)
    if public is not None:
        (tmp_path / 'id.pub').write_text(public)
    return str(key)


def _dir_as_key(tmp_path):
    (tmp_path / 'keys').mkdir()
    return str(tmp_path / 'keys')


def _under_a_file(tmp_path):
    (tmp_path / 'file').write_text('x')
    return str(tmp_path / 'file' / 'sub' / 'id')


def _fifo(tmp_path):
    os.mkfifo(str(tmp_path / 'fifo'))
    return str(tmp_path / 'fifo')


def _dangling(tmp_path):
    os.symlink(str(tmp_path / 'nowhere'), str(tmp_path / 'id'))
    return str(tmp_path / 'id')


def _public_is_a_dir(tmp_path):
    key = _pair(tmp_path, public=None)
    (tmp_path / 'id.pub').mkdir()
    return key


KEY_CASES = [
    ('a directory', _dir_as_key, 'ssh_private_key_file: {tmp}/keys is a directory, not a key file'),
    ('under a regular file', _under_a_file, 'ssh_private_key_file: {tmp}/file/sub/id cannot be created: {tmp}/file is not a directory'),
    ('in /proc', lambda tmp_path: '/proc/x/key',
     'ssh_private_key_file: /proc/x/key cannot be created: no directory can be made in /proc (No such file or directory)'),
    ('its directory is /proc', lambda tmp_path: '/proc/key',
     'ssh_private_key_file: /proc/key cannot be created: no file can be made in /proc (No such file or directory)'),
    ('ends with a slash', lambda tmp_path: str(tmp_path / 'new') + '/',
     'ssh_private_key_file: {tmp}/new/ ends with /; give the path of the key file'),
    ('not a regular file', _fifo, 'ssh_private_key_file: {tmp}/fifo is not a regular file'),
    ('a dangling link', _dangling, 'ssh_private_key_file: {tmp}/id is a symbolic link to {tmp}/nowhere, which does not exist'),
    ('no private key in it', lambda tmp_path: _pair(tmp_path, private='hello\n'),
     'ssh_private_key_file: {tmp}/id holds no private key (no -----BEGIN OPENSSH PRIVATE KEY----- or other PEM'),
    ('no .pub', lambda tmp_path: _pair(tmp_path, public=None),
     'ssh_private_key_file: {tmp}/id has no public key next to it: {tmp}/id.pub is missing (ssh-keygen -y -f {tmp}/id'),
    ('a bad .pub', lambda tmp_path: _pair(tmp_path, public='garbage\n'),
     'ssh_private_key_file: {tmp}/id.pub is not an OpenSSH public key'),
    ('an empty .pub', lambda tmp_path: _pair(tmp_path, public=''), 'ssh_private_key_file: {tmp}/id.pub is not an OpenSSH public key'),
    ('a directory as .pub', _public_is_a_dir, 'ssh_private_key_file: {tmp}/id.pub (its public key) is a directory, not a key file'),
]


@pytest.mark.parametrize('make, expected', [case[1:] for case in KEY_CASES], ids=[case[0] for case in KEY_CASES])
def test_a_key_pair_that_cannot_be_used_or_made(tmp_path, make, expected):
    path = make(tmp_path)
    expected = expected.format(tmp=tmp_path)
    found = keyfile.inspect(path)
    assert found['state'] == 'invalid' and expected in found['problem'], found
    # in the plan it is a problem, not a waivable key problem, even when the keys are the caller's to weigh
    plan = planner.build(top(ssh_private_key_file=path), IMAGE_MAP, {'require_keys': False})
    assert plan['key_file_problems'] == [found['problem']] and plan['key_problems'] == []
    assert plan['problems'] == [found['problem']] and '\n' not in found['problem']
    # host_checks reports it with the host's findings
    assert found['problem'] in host.findings(plan, [])['problems']
    assert not [name for name in os.listdir(str(tmp_path)) if name.startswith(keyfile.PROBE_PREFIX)]


@pytest.mark.skipif(not os.path.exists('/proc/self/mem'), reason='needs /proc/self/mem (a file that cannot be read)')
def test_a_key_file_that_cannot_be_read():
    assert keyfile.inspect('/proc/self/mem')['problem'] == 'ssh_private_key_file: /proc/self/mem cannot be read: Input/output error'


@pytest.mark.skipif(os.geteuid() == 0, reason='root reads every file')
def test_a_key_file_without_read_permission(tmp_path):
    key = _pair(tmp_path)
    os.chmod(key, 0)
    assert keyfile.inspect(key)['problem'] == 'ssh_private_key_file: %s cannot be read: Permission denied' % key


@pytest.mark.skipif(os.geteuid() == 0, reason='root writes everywhere')
def test_a_missing_key_in_a_directory_without_write_permission(tmp_path):
    locked = tmp_path / 'locked'
    locked.mkdir()
    os.chmod(str(locked), stat.S_IRUSR | stat.S_IXUSR)
    problem = keyfile.inspect(str(locked / 'keys' / 'id'))['problem']
    assert problem == 'ssh_private_key_file: %s/keys/id cannot be created: no directory can be made in %s (Permission denied)' % (
        locked, locked)


def test_a_usable_pair_and_ones_that_can_be_made(tmp_path):
    rsa = '-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n'
    for private in (PRIVATE, rsa):
        key = _pair(tmp_path, private=private)
        assert keyfile.inspect(key) == {'path': key, 'state': 'present', 'problem': None}
    nested = str(tmp_path / 'a' / 'b' / 'id')
    assert keyfile.inspect(nested) == {'path': nested, 'state': 'missing', 'problem': None}
    assert keyfile.inspect(str(tmp_path / 'new')) == {'path': str(tmp_path / 'new'), 'state': 'missing', 'problem': None}
    # the probes are gone: nothing was made
    assert sorted(os.listdir(str(tmp_path))) == ['id', 'id.pub']
    assert keyfile.inspect(None) == keyfile.inspect('') == {'path': None, 'state': 'unset', 'problem': None}
    home = keyfile.inspect('~/strata-key-that-is-not-there')
    assert home['path'] == os.path.expanduser('~/strata-key-that-is-not-there') and not home['path'].startswith('~')


def test_a_missing_key_that_can_be_made_stays_a_key_problem(tmp_path):
    plan = planner.build(top(ssh_public_keys=[], ssh_private_key_file=str(tmp_path / 'keys' / 'id')), IMAGE_MAP,
                         {'require_keys': False})
    assert plan['problems'] == [] and plan['key_file_problems'] == [] and plan['key_problems'] == [definition.NO_KEY]


def test_the_role_asks_the_filter_whether_to_make_the_pair(tmp_path):
    inspect = cluster_filters.FilterModule().filters()['cluster_key_file']
    assert inspect(str(tmp_path / 'id'))['state'] == 'missing'
    assert inspect('/proc/x/key')['state'] == 'invalid'
    assert inspect(_pair(tmp_path))['state'] == 'present'

"""A cluster's life after its first provisioning, with real guests under TCG, inside the lab namespace.

  tests/lab/lab exec .venv/bin/pytest -v -s tests/lab/test_lifecycle_lab.py

Cluster strata-lc, two small VMs on a NAT network of ours (10.248.0.0/24): base (tier 0) and web1 (after base).
The tests run in file order and share the guests:
  1. provision with smoke tests (a command in each guest, a probe from the hypervisor) that pass;
  2. a smoke command that fails: the run fails naming the VM, the command and its output, and changes nothing else;
  3. a file written in web1, web1 rebuilt: the file is gone, its SSH host key changed (the known_hosts file has the
     new one and SSH checks it), base's boot id is the same, web1 started after base was ready;
  4. the whole cluster's snapshot `base`: --check changes nothing; a live create (the VMs keep running, the
     snapshots hold their memory); a second create changes nothing; files written in both VMs are gone after
     revert, which shuts the cluster down in reverse order and starts it in order; delete leaves no snapshot;
  5. unprovision, with web1 taken out of the definition, leaves nothing of the cluster (web1 neither).
"""

import os
import subprocess

import pytest

import test_faults_lab as faults

ENV = os.environ
pytestmark = pytest.mark.skipif("STRATA_LAB_DIR" not in ENV, reason="needs the lab: run through tests/lab/lab exec")

libvirt = pytest.importorskip('libvirt')

NAME = 'strata-lc'
URI = 'qemu:///system'
IPS = {'base': '10.248.0.10', 'web1': '10.248.0.11'}
MARKER = '/var/tmp/strata-lifecycle-marker'


def cluster(work, smoke=None):
    definition = {
        'name': NAME, 'uri': URI, 'virt_type': 'qemu', 'tcg_tb_cache': 64, 'image': 'lab', 'user': 'strata',
        'ssh_private_key_file': os.path.join(work, 'id_ed25519'), 'ssh_public_keys': [],
        'network': {'cidr': '10.248.0.0/24', 'mode': 'nat'},
        'startup': {'timeout': 900, 'grace': 20},
        'smoke': smoke if smoke is not None else [
            {'name': 'the guest sees its own name', 'command': 'test "$(hostname)" = "$(cat /etc/hostname)"'},
            {'name': 'base answers on SSH from the hypervisor', 'vm': 'base', 'probe': {'type': 'tcp', 'port': 22}},
        ],
        'vms': [
            {'name': 'base', 'ip': IPS['base'], 'memory': '320M', 'disk': '3G'},
            {'name': 'web1', 'ip': IPS['web1'], 'memory': '320M', 'disk': '3G', 'after': ['base']},
        ],
    }
    return definition


@pytest.fixture(scope='module')
def lab():
    work = faults.work_dir('lifecycle-lab')
    conn = libvirt.open(URI)
    lab = {'work': work, 'conn': conn, 'key': os.path.join(work, 'id_ed25519'),
           'known_hosts': os.path.join(work, 'strata-%s_known_hosts' % NAME)}
    faults.write_vars(lab, cluster(work), faults.image_map())
    yield lab
    faults.run(lab, 'unprovision')
    conn.close()


def ssh(lab, vm, script):
    """Run script in the VM as the cluster's user, checking its host key against the cluster's known_hosts file."""
    proc = subprocess.run(['ssh', '-i', lab['key'], '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes',
                           '-o', 'UserKnownHostsFile=' + lab['known_hosts'], '-o', 'ConnectTimeout=30',
                           'strata@' + IPS[vm], script],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=120, check=False)
    assert proc.returncode == 0, '%s: %s -> rc=%d %s' % (vm, script, proc.returncode, proc.stdout)
    return proc.stdout.strip()


def known_key(lab, vm):
    with open(lab['known_hosts']) as handle:
        return sorted(line.split(None, 1)[1] for line in handle if line.startswith(IPS[vm] + ','))


def log_size():
    path = faults.startup_log_path(NAME)
    return os.path.getsize(path) if os.path.exists(path) else 0


def assert_started_in_order(what, since):
    """In the startup log's runs after offset since, base was ready before web1 was started (the smoke tests' probe
    runs come after)."""
    lines = faults.startup_log(NAME, since)
    ready, started = faults.first(lines, NAME + '-base: ready'), faults.first(lines, NAME + '-web1: start issued')
    print('PROOF (startup log, %s) base ready at line %d: %s; web1 start at line %d: %s'
          % (what, ready, lines[ready], started, lines[started]))
    assert ready < started


def recap(proc):
    lines = [line for line in proc.stdout.splitlines() if line.startswith('localhost')]
    assert lines, proc.stdout[-2000:]
    return lines[-1]


def snapshots(lab):
    return dict((vm, sorted(s.getName() for s in lab['conn'].lookupByName('%s-%s' % (NAME, vm)).listAllSnapshots()))
                for vm in IPS)


def test_provision_with_smoke_tests(lab):
    since = log_size()
    proc = faults.run(lab, 'provision')
    assert proc.returncode == 0
    assert_started_in_order('provision', since)
    assert faults.has(proc.stdout, 'the guest sees its own name', 'base answers on SSH from the hypervisor')
    # the startup read the host keys as each VM got ready: they are not read again (ssh below checks them)
    read_again = proc.stdout.split("Read the VMs' SSH host keys", 1)[1].split('TASK [', 1)[0]
    assert 'skipping: [localhost]' in read_again, read_again
    assert ssh(lab, 'web1', 'hostname') == 'web1'


def test_a_failing_smoke_command_names_the_vm_and_its_output(lab):
    failing = cluster(lab['work'], smoke=[{'name': 'web1 serves', 'vm': 'web1',
                                           'command': 'echo "no server on 8080" >&2; exit 3'}])
    faults.write_vars(lab, failing, faults.image_map())
    try:
        proc = faults.run(lab, 'provision')
        assert proc.returncode != 0
        assert faults.has(proc.stdout, 'web1', 'web1 serves', 'exit 3', 'no server on 8080')
        assert 'changed=0' in recap(proc)
    finally:
        faults.write_vars(lab, cluster(lab['work']), faults.image_map())


def test_rebuild_web1_in_its_place(lab):
    ssh(lab, 'web1', 'sudo touch %s && test -f %s' % (MARKER, MARKER))
    key_before, boot_base = known_key(lab, 'web1'), ssh(lab, 'base', 'cat /proc/sys/kernel/random/boot_id')
    proc = faults.run(lab, 'provision', '--check', '-e', 'strata_rebuild=web1')
    assert proc.returncode == 0 and lab['conn'].lookupByName(NAME + '-web1').isActive()
    since = log_size()
    proc = faults.run(lab, 'provision', '-e', 'strata_rebuild=web1')
    assert proc.returncode == 0
    assert_started_in_order('rebuild', since)
    key_after = known_key(lab, 'web1')
    print('PROOF rebuild: web1 host keys %s -> %s' % ([k.split()[-1][-12:] for k in key_before],
                                                      [k.split()[-1][-12:] for k in key_after]))
    assert key_after and not set(key_before) & set(key_after)
    assert ssh(lab, 'web1', 'test -e %s && echo there || echo gone' % MARKER) == 'gone'
    assert ssh(lab, 'base', 'cat /proc/sys/kernel/random/boot_id') == boot_base
    proc = faults.run(lab, 'provision', '-e', 'strata_rebuild=web9')
    assert proc.returncode != 0 and faults.has(proc.stdout, 'strata_rebuild: web9 is not a VM of cluster ' + NAME)


def test_snapshot_create_revert_delete(lab):
    snap = ('-e', 'snapshot=base')
    proc = faults.run(lab, 'snapshot', '--check', *snap, '-e', 'action=create')
    assert proc.returncode == 0 and snapshots(lab) == {'base': [], 'web1': []}
    assert all(lab['conn'].lookupByName('%s-%s' % (NAME, vm)).isActive() for vm in IPS)
    # live: the VMs keep running (the same boot) and the snapshots hold their memory; the offline way (stop in
    # reverse order, start in order) is the revert's below
    # the revert below boots from the snapshots' disks, which hold what the guests had written out: web1's new SSH
    # host keys (from its rebuild, seconds ago) may still be in its page cache
    boots = dict((vm, ssh(lab, vm, 'sync && cat /proc/sys/kernel/random/boot_id')) for vm in IPS)
    proc = faults.run(lab, 'snapshot', *snap, '-e', 'action=create', '-e', 'live=true')
    assert proc.returncode == 0 and snapshots(lab) == {'base': ['base'], 'web1': ['base']}
    assert dict((vm, ssh(lab, vm, 'cat /proc/sys/kernel/random/boot_id')) for vm in IPS) == boots
    for vm in IPS:
        xml = lab['conn'].lookupByName('%s-%s' % (NAME, vm)).snapshotLookupByName('base').getXMLDesc(0)
        assert "<memory snapshot='internal'" in xml, xml
    proc = faults.run(lab, 'snapshot', *snap, '-e', 'action=create', '-e', 'live=true')
    assert proc.returncode == 0 and 'changed=0' in recap(proc)
    for vm in IPS:
        ssh(lab, vm, 'sudo touch %s && sync' % MARKER)
    boot_web1 = ssh(lab, 'web1', 'cat /proc/sys/kernel/random/boot_id')
    proc = faults.run(lab, 'snapshot', '--check', *snap, '-e', 'action=revert')
    assert proc.returncode == 0
    assert ssh(lab, 'web1', 'cat /proc/sys/kernel/random/boot_id') == boot_web1
    since = log_size()
    proc = faults.run(lab, 'snapshot', *snap, '-e', 'action=revert')
    assert proc.returncode == 0
    assert_started_in_order('snapshot revert', since)
    for vm in IPS:
        assert ssh(lab, vm, 'test -e %s && echo there || echo gone' % MARKER) == 'gone'
    proc = faults.run(lab, 'snapshot', *snap, '-e', 'action=list')
    assert proc.returncode == 0 and 'changed=0' in recap(proc) and faults.has(proc.stdout, NAME + '-web1', 'base')
    proc = faults.run(lab, 'snapshot', '--check', *snap, '-e', 'action=delete')
    assert proc.returncode == 0 and snapshots(lab) == {'base': ['base'], 'web1': ['base']}
    proc = faults.run(lab, 'snapshot', *snap, '-e', 'action=delete')
    assert proc.returncode == 0 and snapshots(lab) == {'base': [], 'web1': []}
    proc = faults.run(lab, 'snapshot', *snap, '-e', 'action=delete')
    assert proc.returncode == 0 and 'changed=0' in recap(proc)


def test_unprovision_leaves_nothing_also_of_a_vm_the_definition_dropped(lab):
    # web1 taken out of the definition is an orphan of the cluster: unprovision removes it too
    without_web1 = cluster(lab['work'])
    without_web1['vms'] = [vm for vm in without_web1['vms'] if vm['name'] != 'web1']
    faults.write_vars(lab, without_web1, faults.image_map())
    proc = faults.run(lab, 'unprovision')
    assert proc.returncode == 0
    conn = lab['conn']
    for vm in IPS:
        assert not faults.exists(conn.lookupByName, '%s-%s' % (NAME, vm))
    assert not faults.exists(conn.networkLookupByName, NAME + '-net')
    assert not faults.exists(conn.storagePoolLookupByName, NAME)
    assert not os.path.exists('/var/lib/libvirt/strata/' + NAME)

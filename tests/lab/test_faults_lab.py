"""Faults and bad inputs against the real playbooks, inside the lab namespace, on one small VM.

  tests/lab/lab exec .venv/bin/pytest -v -s tests/lab/test_faults_lab.py

The tests run in file order and share one cluster, strata-flt (one VM, network 10.247.0.0/24):
  1. a bad SUMS URL, a bad image URL and a disk smaller than the image: the run fails, libvirt is as it was;
  2. a foreign domain, network and pool with the cluster's names: provision (and --check) names all three at once
     and changes nothing; unprovision leaves them alone, active or not;
  3. no space left on the cache's and on the pool's file system: clear errors, nothing half-made kept;
  4. provision with the start skipped (strata_start=false) builds everything, starts nothing, and changes nothing the
     second time;
  5. the VM destroyed while provision waits for it: the run fails at once with the cause, and says what it made;
  6. provision waits again; unprovision is locked out; a second provision waits for the lock; the first is killed
     with kill -9 (the whole ansible-playbook process tree) and the second takes the lock over and converges;
  7. libvirtd stopped and started again while provision waits: the run still converges;
  8. the guest powers itself off while provision waits: the run fails at once with the cause;
  9. our VM's domain replaced by a foreign one of the same name: unprovision removes our disk and seed anyway,
     the pool and network with them, and leaves the foreign domain alone.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

import selftest

ENV = os.environ
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
pytestmark = pytest.mark.skipif("STRATA_LAB_DIR" not in ENV, reason="needs the lab: run through tests/lab/lab exec")

libvirt = pytest.importorskip('libvirt')
yaml = pytest.importorskip('yaml')

NAME = 'strata-flt'
NET = NAME + '-net'
VM = NAME + '-a'
URI = 'qemu:///system'
HTTP = 'http://127.0.0.1:8088'
STATE_DIR = '/var/lib/strata-libvirt'
FOREIGN_DOMAIN = """<domain type='qemu'><name>%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='q35'>hvm</type></os><devices></devices></domain>"""


def cluster(work, **changes):
    definition = {
        'name': NAME, 'uri': URI, 'virt_type': 'qemu', 'tcg_tb_cache': 96, 'image': 'lab',
        'network': {'cidr': '10.247.0.0/24', 'mode': 'nat'},
        'user': 'strata', 'ssh_private_key_file': os.path.join(work, 'id_ed25519'), 'ssh_public_keys': [],
        'startup': {'timeout': 900, 'grace': 20},
        'vms': [{'name': 'a', 'ip': '10.247.0.10', 'vcpus': 1, 'memory': '384M', 'disk': '3G'}],
    }
    definition.update(changes)
    return definition


def image_map(source=HTTP + '/strata-debian-12.qcow2'):
    return {'default_label': 'lab',
            'images': {'lab': {'source': source, 'checksum': 'sha256:%s/SHA256SUMS' % HTTP, 'login_user': 'strata'}}}


def startup_log_path(name):
    return '/var/log/strata-libvirt-%s-startup.log' % name


def startup_log(name, since=None):
    """The lines of the last run in cluster name's startup log, or of every run after offset since (its size)."""
    with open(startup_log_path(name)) as handle:
        handle.seek(since or 0)
        lines = handle.read().splitlines()
    if since is not None:
        return lines
    runs = [index for index, line in enumerate(lines) if 'strata.libvirt.startup: state=' in line]
    return lines[runs[-1]:] if runs else lines


def first(lines, *needles):
    """The index of the first line with every needle."""
    for index, line in enumerate(lines):
        if all(needle in line for needle in needles):
            return index
    raise AssertionError('no line with %s in the startup log:\n%s' % (needles, '\n'.join(lines)))


def work_dir(name):
    """A fresh work directory of the lab with an inventory whose hypervisor is this host (its group_vars empty)."""
    selftest.lab_env()
    work = os.path.join(ENV['STRATA_LAB_DIR'], name)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, 'inventory', 'group_vars', 'hypervisor'))
    with open(os.path.join(work, 'inventory', 'hosts.yml'), 'w') as handle:
        yaml.safe_dump({'hypervisor': {'hosts': {'localhost': {
            'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}}}, handle)
    return work


@pytest.fixture(scope='module')
def lab():
    work = work_dir('faults-lab')
    conn = libvirt.open(URI)
    lab = {'work': work, 'conn': conn}
    write_vars(lab, cluster(work), image_map())
    yield lab
    run(lab, 'unprovision')
    remove_domain(lab['conn'], VM)  # a test may have opened a new connection (after restarting libvirtd)
    lab['conn'].close()
    shutil.rmtree(work, ignore_errors=True)


def write_vars(lab, definition, images, **extra):
    data = {'strata_cluster': definition, 'strata_image_map': images, 'strata_host_checks_enabled': True,
            'strata_host_setup_enabled': False, 'strata_boot_order_enabled': False}
    data.update(extra)
    with open(os.path.join(lab['work'], 'inventory', 'group_vars', 'hypervisor', 'main.yml'), 'w') as handle:
        yaml.safe_dump(data, handle)


def command(lab, playbook, *args):
    """playbook: one of the collection's (provision) or the path of a playbook file."""
    return [os.path.join(ROOT, '.venv', 'bin', 'ansible-playbook'), '-i', os.path.join(lab['work'], 'inventory'),
            playbook if os.sep in playbook else 'strata.libvirt.' + playbook] + list(args)


def environment():
    env = dict(ENV, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.collections'), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false',
               ANSIBLE_FORCE_COLOR='0', NO_COLOR='1', ANSIBLE_HOST_KEY_CHECKING='False')
    env['PATH'] = os.path.join(ROOT, '.venv', 'bin') + os.pathsep + env.get('PATH', '')
    return env


def run(lab, playbook, *args):
    began = time.monotonic()
    proc = subprocess.run(command(lab, playbook, *args), env=environment(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    print('\n== ansible-playbook %s %s: rc=%d in %.0f s' % (playbook, ' '.join(args), proc.returncode,
                                                            time.monotonic() - began))
    print('\n'.join(proc.stdout.splitlines()[-40:]))
    return proc


def start(lab, playbook, *args):
    log = open(os.path.join(lab['work'], '%s-%d.log' % (playbook, time.time() * 1000)), 'w+')
    proc = subprocess.Popen(command(lab, playbook, *args), env=environment(), stdout=log, stderr=subprocess.STDOUT,
                            universal_newlines=True, start_new_session=True)
    proc.log = log
    return proc


def output(proc):
    proc.log.flush()
    proc.log.seek(0)
    return proc.log.read()


def has(text, *needles):
    """Whether every needle is in the text (a plain bool: a failing assert does not print the whole output)."""
    missing = [needle for needle in needles if needle not in text]
    if missing:
        print('== not in the output: %s' % missing)
    return not missing


def descendants(pid):
    """pid and every process below it (a module may run in a session of its own)."""
    children = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry) as handle:
                    parent = int(handle.read().rsplit(')', 1)[1].split()[1])
            except (IOError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def kill_tree(proc):
    for pid in descendants(proc.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    proc.wait()


def exists(lookup, name):
    try:
        lookup(name)
        return True
    except libvirt.libvirtError:
        return False


def libvirt_objects(conn):
    """What of the cluster's names libvirt has, and what the ownership registry records for it."""
    registry = {}
    for path in os.listdir(os.path.join(STATE_DIR, 'owners')) if os.path.isdir(os.path.join(STATE_DIR, 'owners')) else []:
        with open(os.path.join(STATE_DIR, 'owners', path)) as handle:
            data = json.load(handle)
        for section in ('pools', 'volumes'):
            registry.update(('%s:%s' % (section, key), entry) for key, entry in data.get(section, {}).items()
                            if entry.get('cluster') == NAME)
    return {'pool': exists(conn.storagePoolLookupByName, NAME), 'network': exists(conn.networkLookupByName, NET),
            'domain': exists(conn.lookupByName, VM), 'registry': sorted(registry)}


def remove_domain(conn, name):
    try:
        dom = conn.lookupByName(name)
    except libvirt.libvirtError:
        return
    if dom.isActive():
        dom.destroy()
    dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)


def wait_running(conn, name, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if conn.lookupByName(name).isActive():
                return
        except libvirt.libvirtError:
            pass
        time.sleep(1)
    raise AssertionError('%s did not start within %d s' % (name, timeout))


def test_bad_image_and_small_disk_leave_libvirt_as_it_was(lab):
    before = libvirt_objects(lab['conn'])
    assert before == {'pool': False, 'network': False, 'domain': False, 'registry': []}
    images = image_map()
    images['images']['lab']['checksum'] = 'sha256:%s/NO-SUCH-SUMS' % HTTP  # the SUMS file answers 404
    write_vars(lab, cluster(lab['work']), images)
    proc = run(lab, 'provision')
    assert proc.returncode == 2 and has(proc.stdout, '404', 'NO-SUCH-SUMS')
    assert libvirt_objects(lab['conn']) == before
    images['images']['lab'].update(source=HTTP + '/no-such-image.qcow2', checksum='sha256:' + '0' * 64)
    write_vars(lab, cluster(lab['work']), images)
    proc = run(lab, 'provision')
    assert proc.returncode == 2 and has(proc.stdout, '404', 'no-such-image.qcow2')
    assert libvirt_objects(lab['conn']) == before
    write_vars(lab, cluster(lab['work'], vms=[{'name': 'a', 'ip': '10.247.0.10', 'disk': '64M'}]), image_map())
    proc = run(lab, 'provision')
    assert proc.returncode == 2 and has(proc.stdout, 'smaller than their image', 'nothing was changed')
    assert libvirt_objects(lab['conn']) == before


def test_foreign_objects_are_named_at_once_and_left_alone(lab):
    conn = lab['conn']
    write_vars(lab, cluster(lab['work']), image_map())
    pool_dir = os.path.join(lab['work'], 'foreign-pool')
    os.makedirs(pool_dir)
    pool = conn.storagePoolDefineXML("<pool type='dir'><name>%s</name><target><path>%s</path></target></pool>"
                                     % (NAME, pool_dir))
    pool.create()
    net = conn.networkDefineXML("<network><name>%s</name><ip address='10.247.9.1' netmask='255.255.255.0'/></network>" % NET)
    dom = conn.defineXML(FOREIGN_DOMAIN % VM)
    try:
        for args in (['--check'], []):
            proc = run(lab, 'provision', *args)
            assert proc.returncode == 2, args
            for line in ("pool '%s' exists and was not created by strata.libvirt" % NAME,
                         "network '%s' (inactive) exists and was not created by strata.libvirt" % NET,
                         "domain '%s' exists and was not created by strata.libvirt" % VM):
                assert has(proc.stdout, line), (args, line)
            assert has(proc.stdout, 'nothing was changed')
        assert pool.listAllVolumes(0) == [] and not net.isActive() and not dom.isActive()
        for active in (True, False):
            if not active:
                pool.destroy()
            proc = run(lab, 'unprovision')
            assert proc.returncode == 0 and has(proc.stdout, 'Left alone'), active
            assert exists(conn.storagePoolLookupByName, NAME) and exists(conn.networkLookupByName, NET)
            assert exists(conn.lookupByName, VM)
    finally:
        dom.undefine()
        net.undefine()
        if pool.isActive():
            pool.destroy()
        pool.undefine()
    assert libvirt_objects(conn)['registry'] == []


def libvirtd_namespace():
    """nsenter's words for libvirtd's mount namespace: `ip netns exec` gave libvirtd and this test namespaces of
    their own, so a file system that libvirtd must see is mounted in its namespace."""
    with open(os.path.join(ENV['STRATA_LAB_DIR'], 'run', 'libvirtd.pid')) as handle:
        return ['nsenter', '--mount=/proc/%s/ns/mnt' % handle.read().strip(), '--']


@pytest.fixture
def small_fs(lab):
    """small_fs(name, size, prefix): a tmpfs of that size, here or (prefix) in libvirtd's mount namespace."""
    made = []

    def mount(name, size, prefix=()):
        path = os.path.join(lab['work'], name)
        os.makedirs(path)
        subprocess.run(list(prefix) + ['mount', '-t', 'tmpfs', '-o', 'size=%s,mode=0755' % size, 'strata-flt-' + name, path],
                       check=True)
        made.append((list(prefix), path))
        return path
    yield mount
    for prefix, path in made:
        subprocess.run(prefix + ['umount', path], check=False)


def test_no_space_left_while_downloading_and_while_creating_volumes(lab, small_fs):
    conn = lab['conn']
    before = libvirt_objects(conn)
    assert not before['pool'] and not before['network']
    # the cache on a full file system (24 MiB; the image has 432): a clear error, nothing half-written kept, libvirt untouched
    cache = os.path.join(small_fs('cache', '24m'), 'images')
    write_vars(lab, cluster(lab['work']), image_map())
    proc = run(lab, 'provision', '-e', 'image_cache_dir=%s' % cache)
    assert proc.returncode == 2 and has(proc.stdout, 'No space left on device')
    assert os.listdir(cache) == []
    assert libvirt_objects(conn) == before
    # the pool on a full file system (as libvirtd sees it): the base volume cannot be made; the error says what this
    # run had made, and unprovision removes it
    pool = os.path.join(small_fs('pool', '24m', libvirtd_namespace()), 'pool')
    write_vars(lab, cluster(lab['work'], pool={'path': pool}), image_map())
    proc = run(lab, 'provision')
    assert proc.returncode == 2 and has(proc.stdout, 'No space left on device', 'Made or changed by this run before that: pool')
    proc = run(lab, 'unprovision')
    assert proc.returncode == 0
    assert libvirt_objects(conn) == before


def test_start_skipped_builds_everything_and_starts_nothing(lab):
    conn = lab['conn']
    before = libvirt_objects(conn)
    write_vars(lab, cluster(lab['work']), image_map())
    proc = run(lab, 'provision', '-e', 'strata_start=false')
    assert proc.returncode == 0
    built = libvirt_objects(conn)
    assert built['pool'] and built['network'] and built['domain'] and built['registry']
    assert not conn.lookupByName(VM).isActive()
    row = [line for line in proc.stdout.splitlines() if '"a ' in line]
    assert row and 'shut off' in row[0], proc.stdout[-3000:]
    lines = proc.stdout.splitlines()
    at = first(lines, 'TASK [', 'Start each VM once the VMs it depends on are ready')
    assert lines[at + 1].startswith('skipping: [localhost]'), lines[at:at + 3]
    again = run(lab, 'provision', '-e', 'strata_start=false')
    assert again.returncode == 0 and has(again.stdout, 'changed=0') and not conn.lookupByName(VM).isActive()
    assert run(lab, 'unprovision').returncode == 0
    assert libvirt_objects(conn) == before


def test_a_vm_destroyed_during_the_wait_fails_at_once(lab):
    conn = lab['conn']
    write_vars(lab, cluster(lab['work']), image_map())
    proc = start(lab, 'provision')
    wait_running(conn, VM)
    time.sleep(5)
    conn.lookupByName(VM).destroy()
    destroyed = time.monotonic()
    rc = proc.wait(timeout=300)
    took = time.monotonic() - destroyed
    text = output(proc)
    print('\n'.join(text.splitlines()[-30:]))
    print('== the provisioning ended %.1f s after the destroy' % took)
    assert rc == 2 and took < 60
    assert has(text, 'shut off', 'destroyed', 'Made or changed by this run before that', 'unprovision')


def test_lock_against_unprovision_and_a_killed_provisioning(lab):
    conn = lab['conn']
    first = start(lab, 'provision')
    wait_running(conn, VM)
    time.sleep(3)
    # the first run is in its startup wait: a teardown of the cluster is refused, nothing removed
    locked = run(lab, 'unprovision', '-e', 'unprovision_lock_wait=0')
    assert locked.returncode == 2 and has(locked.stdout, 'is locked by the provision run')
    assert conn.lookupByName(VM).isActive()
    second = start(lab, 'provision', '-e', 'cluster_lock_wait=900')
    time.sleep(10)
    assert second.poll() is None  # waits for the lock
    kill_tree(first)  # kill -9 of the whole ansible-playbook process tree, as a crash or an OOM kill would
    rc = second.wait(timeout=1200)
    text = output(second)
    print('\n'.join(text.splitlines()[-30:]))
    assert rc == 0 and has(text, 'took over the cluster lock', 'is gone')
    assert conn.lookupByName(VM).isActive()
    again = run(lab, 'provision')
    assert again.returncode == 0 and has(again.stdout, 'changed=0')


def gated(lab):
    """The cluster with a second probe that passes only once the test creates a file: a wait as long as the test
    wants, on a VM that is already up."""
    go = os.path.join(lab['work'], 'go')
    if os.path.exists(go):
        os.unlink(go)
    definition = cluster(lab['work'])
    definition['vms'][0]['probes'] = [{'type': 'ssh'}, {'type': 'command', 'command': ['test', '-e', go]}]
    write_vars(lab, definition, image_map())
    return go


def wait_for(what, test, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if test():
            return
        time.sleep(1)
    raise AssertionError('%s: not within %d s' % (what, timeout))


def startup_waits(proc):
    return 'Start each VM once the VMs it depends on are ready' in output(proc)


def test_libvirtd_restarted_while_provision_waits(lab):
    go = gated(lab)
    proc = start(lab, 'provision')
    wait_for('the startup task', lambda: startup_waits(proc))
    time.sleep(5)
    pidfile = os.path.join(ENV['STRATA_LAB_DIR'], 'run', 'libvirtd.pid')
    with open(pidfile) as handle:
        os.kill(int(handle.read().strip()), signal.SIGTERM)  # the lab's own libvirtd, by its PID
    wait_for('libvirtd to stop', lambda: not os.path.exists(pidfile) or not os.path.exists(
        '/proc/%s' % open(pidfile).read().strip()), 60)
    time.sleep(2)
    subprocess.run(['libvirtd', '-d', '-p', pidfile], check=True)
    lab['conn'].close()
    wait_for('libvirtd to answer', lambda: subprocess.run(['virsh', '-c', URI, 'version'], stdout=subprocess.DEVNULL,
                                                          stderr=subprocess.DEVNULL, check=False).returncode == 0, 60)
    lab['conn'] = libvirt.open(URI)
    open(go, 'w').close()
    rc = proc.wait(timeout=600)
    text = output(proc)
    print('\n'.join(text.splitlines()[-25:]))
    assert rc == 0 and has(text, 'failed=0')
    assert lab['conn'].lookupByName(VM).isActive()


def test_a_guest_that_powers_itself_off_fails_at_once(lab):
    gated(lab)
    proc = start(lab, 'provision')
    wait_for('the startup task', lambda: startup_waits(proc))
    time.sleep(5)
    key = os.path.join(lab['work'], 'id_ed25519')
    subprocess.run(['ssh', '-i', key, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
                    'strata@10.247.0.10', 'sudo systemctl poweroff'], check=False, timeout=60)
    began = time.monotonic()
    rc = proc.wait(timeout=300)
    text = output(proc)
    print('\n'.join(text.splitlines()[-25:]))
    print('== the provisioning ended %.1f s after the poweroff' % (time.monotonic() - began))
    assert rc == 2 and has(text, 'shut off after', 'shut down from inside the guest')


def test_unprovision_removes_our_volumes_under_a_foreign_domain(lab):
    conn = lab['conn']
    remove_domain(conn, VM)
    conn.defineXML(FOREIGN_DOMAIN % VM)
    pool = conn.storagePoolLookupByName(NAME)
    assert sorted(v.name() for v in pool.listAllVolumes(0)) == sorted(
        ['strata-debian-12.qcow2', VM + '.qcow2', VM + '-seed.iso'])
    proc = run(lab, 'unprovision')
    assert proc.returncode == 0 and has(proc.stdout, 'Left alone')
    assert libvirt_objects(conn) == {'pool': False, 'network': False, 'domain': True, 'registry': []}
    remove_domain(conn, VM)
    assert not os.listdir(os.path.join(STATE_DIR, 'clusters')) or not any(
        NAME in name for name in os.listdir(os.path.join(STATE_DIR, 'clusters')))

"""A homelab topology with real guests under TCG, through the real playbooks, inside the lab namespace.

  tests/lab/lab exec .venv/bin/pytest -v -s tests/lab/test_topologies_lab.py

The lab namespace gets a bridge br-lan (10.242.0.1/24) standing in for the host's LAN, with an HTTP server on its
address; libvirt's `default` network stands in for the distribution's own. Cluster strata-tp, three VMs:
  edge  WAN static on br-lan (external bridge), LAN on strata-tp-lan (isolated, no address of the hypervisor),
        a third NIC on libvirt's default network (external, ensure_active); its own cloud-init turns on
        forwarding and NAT (nftables) and serves HTTP; ready on its http probe
  app   on the LAN only, static network-config with gateway edge, after edge; reached only through the guest
        agent (connection libvirt_qemu, agent probe): the controller has no route to the LAN
  db    the same, with UEFI firmware and two data disks
The tests run in file order and share the guests: provision (edge ready before app and db start; from app, the
br-lan address answers through edge and edge's LAN address serves HTTP; db sees its disks and booted UEFI), a second
run changed=0, a snapshot of the cluster refused for db (UEFI) before any change, --check --diff of a NIC added to
app (a change with restart_required, nothing changed), unprovision (br-lan and the default network untouched; disks
and NVRAM gone).
"""

import os
import shutil
import subprocess
import sys

import pytest

import test_faults_lab as faults

ENV = os.environ
pytestmark = pytest.mark.skipif("STRATA_LAB_DIR" not in ENV, reason="needs the lab: run through tests/lab/lab exec")

libvirt = pytest.importorskip('libvirt')
yaml = pytest.importorskip('yaml')

NAME = 'strata-tp'
LAN_NET = NAME + '-lan'
BRIDGE, BRIDGE_IP, BRIDGE_PORT = 'br-lan', '10.242.0.1', 8099
EDGE_WAN, EDGE_LAN, EDGE_MGMT = '10.242.0.10', '10.242.1.1', '192.168.122.10'
URI = 'qemu:///system'
NVRAM_DIR = '/var/lib/libvirt/qemu/nvram'

EDGE_USER_DATA = {
    'write_files': [
        {'path': '/etc/strata-nat.nft', 'content': (
            'table ip strata_nat {\n'
            '  chain postrouting {\n'
            '    type nat hook postrouting priority 100; policy accept;\n'
            '    ip saddr 10.242.1.0/24 ip daddr != 10.242.1.0/24 masquerade\n'
            '  }\n'
            '}\n')},
        {'path': '/srv/www/index.html', 'content': 'edge ready\n'},
        {'path': '/etc/systemd/system/strata-edge-http.service', 'content': (
            '[Unit]\nDescription=edge HTTP\nAfter=network-online.target\n'
            '[Service]\nExecStart=/usr/bin/python3 -m http.server 8080 --directory /srv/www\n'
            '[Install]\nWantedBy=multi-user.target\n')},
    ],
    'runcmd': [['sysctl', '-w', 'net.ipv4.ip_forward=1'], ['nft', '-f', '/etc/strata-nat.nft'],
               ['systemctl', 'daemon-reload'], ['systemctl', 'enable', '--now', 'strata-edge-http.service']],
}

CHECK_PLAY = """
- name: Provision
  ansible.builtin.import_playbook: strata.libvirt.provision

- name: Look from inside the VMs (app and db over the guest agent only)
  hosts: strata_tp
  gather_facts: false
  tasks:
    - name: Through edge, the LAN of the hypervisor answers; edge serves HTTP on its LAN address
      ansible.builtin.command:
        argv:
          - python3
          - -c
          - "import urllib.request as u; [print(u.urlopen(url, timeout=20).read().decode().strip()) for url in
            ('http://%(bridge)s:%(port)d/', 'http://%(lan)s:8080/')]"
      register: _through_edge
      changed_when: false
      when: inventory_hostname == 'app'
    - name: Disks and firmware
      ansible.builtin.command:
        argv: [sh, -c, "lsblk -b -d -n -o NAME,SIZE; test -d /sys/firmware/efi && echo efi=yes || echo efi=no"]
      register: _disks
      changed_when: false
      when: inventory_hostname == 'db'
    - name: Record what the guests said
      ansible.builtin.copy:
        content: "{{ (_through_edge.stdout | default('')) ~ (_disks.stdout | default('')) }}\\n"
        dest: "%(work)s/{{ inventory_hostname }}.out"
        mode: "0644"
      delegate_to: localhost
      when: inventory_hostname in ['app', 'db']
"""


def cluster(work, app_nics=None, without=()):
    definition = {
        'name': NAME, 'uri': URI, 'virt_type': 'qemu', 'tcg_tb_cache': 64, 'image': 'lab', 'user': 'strata',
        'ssh_private_key_file': os.path.join(work, 'id_ed25519'), 'ssh_public_keys': [],
        'networks': [
            {'name': NAME + '-wan', 'external': True, 'bridge': BRIDGE, 'cidr': '10.242.0.0/24', 'gateway': BRIDGE_IP},
            {'name': LAN_NET, 'mode': 'isolated', 'cidr': '10.242.1.0/24', 'host_address': False},
            {'name': 'default', 'external': True, 'ensure_active': True, 'cidr': '192.168.122.0/24'},
        ],
        'startup': {'timeout': 900, 'grace': 20},
        'vms': [
            {'name': 'edge', 'memory': '384M', 'disk': '3G', 'user_data': EDGE_USER_DATA,
             'nics': [{'network': NAME + '-wan', 'ip': EDGE_WAN}, {'network': LAN_NET, 'ip': EDGE_LAN},
                      {'network': 'default', 'ip': EDGE_MGMT}],
             'probes': [{'type': 'http', 'url': 'http://{address}:8080/', 'body': 'edge ready'}]},
            {'name': 'app', 'memory': '256M', 'disk': '3G', 'after': ['edge'], 'connection': 'libvirt_qemu',
             'nics': app_nics or [{'network': LAN_NET, 'ip': '10.242.1.10', 'gateway': EDGE_LAN}],
             'probes': [{'type': 'agent'}]},
            {'name': 'db', 'memory': '384M', 'disk': '3G', 'after': ['edge'], 'connection': 'libvirt_qemu',
             'firmware': 'uefi', 'disks': [{'size': '1G'}, {'size': '2G', 'format': 'raw'}],
             'nics': [{'network': LAN_NET, 'ip': '10.242.1.11', 'gateway': EDGE_LAN}],
             'probes': [{'type': 'agent'}]},
        ],
    }
    definition['vms'] = [vm for vm in definition['vms'] if vm['name'] not in without]
    return definition


def sh(*argv):
    subprocess.run(list(argv), check=True)


@pytest.fixture(scope='module')
def lab():
    work = faults.work_dir('topologies-lab')
    os.makedirs(os.path.join(work, 'www'))
    with open(os.path.join(work, 'www', 'index.html'), 'w') as handle:
        handle.write('lan answers\n')
    with open(os.path.join(work, 'check.yml'), 'w') as handle:
        handle.write(CHECK_PLAY % {'bridge': BRIDGE_IP, 'port': BRIDGE_PORT, 'lan': EDGE_LAN, 'work': work})
    # the stand-in for the host's LAN, in the lab's namespace (this process runs there)
    sh('ip', 'link', 'add', BRIDGE, 'type', 'bridge')
    sh('ip', 'addr', 'add', BRIDGE_IP + '/24', 'dev', BRIDGE)
    sh('ip', 'link', 'set', BRIDGE, 'up')
    server = subprocess.Popen([sys.executable, '-m', 'http.server', str(BRIDGE_PORT), '--bind', BRIDGE_IP,
                               '--directory', os.path.join(work, 'www')],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    conn = libvirt.open(URI)
    default = conn.networkLookupByName('default')   # libvirt's own network of the distribution
    was = {'active': bool(default.isActive()), 'autostart': bool(default.autostart())}
    lab = {'work': work, 'conn': conn, 'default_was': was}
    faults.write_vars(lab, cluster(work), faults.image_map())
    yield lab
    faults.run(lab, 'unprovision')
    server.terminate()
    server.wait()
    sh('ip', 'link', 'del', BRIDGE)
    # give libvirt's default network back as the lab had it
    default = conn.networkLookupByName('default')
    default.setAutostart(1 if was['autostart'] else 0)
    if default.isActive() and not was['active']:
        default.destroy()
    conn.close()
    shutil.rmtree(work, ignore_errors=True)


def test_provision_the_homelab_in_order_and_look_from_inside(lab):
    proc = faults.run(lab, os.path.join(lab['work'], 'check.yml'))
    assert proc.returncode == 0
    lines = faults.startup_log(NAME)
    edge_ready = faults.first(lines, NAME + '-edge: ready')
    for vm in ('app', 'db'):
        started = faults.first(lines, '%s-%s: start issued' % (NAME, vm))
        print('PROOF (startup log) %s start at line %d: %s; edge ready at line %d: %s'
              % (vm, started, lines[started], edge_ready, lines[edge_ready]))
        assert edge_ready < started
    with open(os.path.join(lab['work'], 'app.out')) as handle:
        app_out = handle.read().split()
    print('PROOF app (over the guest agent) through edge: %s' % app_out)
    assert app_out[:2] == ['lan', 'answers'] and app_out[2:4] == ['edge', 'ready']
    with open(os.path.join(lab['work'], 'db.out')) as handle:
        db_out = handle.read()
    print('PROOF db: %s' % db_out)
    sizes = dict(line.split() for line in db_out.splitlines() if line.startswith('vd'))
    assert sizes.get('vdc') == str(1024 ** 3) and sizes.get('vdd') == str(2 * 1024 ** 3), sizes
    assert 'efi=yes' in db_out
    conn = lab['conn']
    assert conn.networkLookupByName('default').isActive()
    assert os.path.exists(os.path.join(NVRAM_DIR, '%s-db_VARS.fd' % NAME))
    xml = conn.lookupByName(NAME + '-edge').XMLDesc(0)
    assert "<source bridge='%s'/>" % BRIDGE in xml and "<source network='default'" in xml


def test_second_run_changes_nothing(lab):
    proc = faults.run(lab, 'provision')
    assert proc.returncode == 0
    recap = [line for line in proc.stdout.splitlines() if line.startswith('localhost')]
    assert recap and 'changed=0' in recap[-1], recap


def test_a_snapshot_of_the_cluster_is_refused_for_its_uefi_vm_before_any_change(lab):
    conn = lab['conn']
    proc = faults.run(lab, 'snapshot', '-e', 'snapshot=base', '-e', 'action=create')
    assert proc.returncode != 0 and faults.has(proc.stdout, NAME + '-db', 'pflash')
    for vm in ('edge', 'app', 'db'):
        domain = conn.lookupByName('%s-%s' % (NAME, vm))
        assert domain.isActive() and domain.listAllSnapshots() == []


def test_check_diff_of_an_added_nic_says_restart_required(lab):
    work = lab['work']
    faults.write_vars(lab, cluster(work, app_nics=[{'network': LAN_NET, 'ip': '10.242.1.10', 'gateway': EDGE_LAN},
                                                   {'network': LAN_NET, 'ip': '10.242.1.20'}]), faults.image_map())
    try:
        before = lab['conn'].lookupByName(NAME + '-app').XMLDesc(2)   # VIR_DOMAIN_XML_INACTIVE
        proc = faults.run(lab, 'provision', '--check', '--diff')
        assert proc.returncode == 0
        # the diff shows the new interface; the role names the domain whose new definition waits for a restart
        assert faults.has(proc.stdout, '10.242.1.20', 'run with an older definition', NAME + '-app')
        assert lab['conn'].lookupByName(NAME + '-app').XMLDesc(2) == before
    finally:
        faults.write_vars(lab, cluster(work), faults.image_map())


def test_a_vm_taken_out_of_the_definition_is_reported_then_pruned(lab):
    conn, work = lab['conn'], lab['work']
    db = NAME + '-db'
    pool_dir = '/var/lib/libvirt/strata/' + NAME
    faults.write_vars(lab, cluster(work, without=('db',)), faults.image_map())
    try:
        proc = faults.run(lab, 'provision')
        assert proc.returncode == 0
        assert faults.has(proc.stdout, 'no longer in its definition', db, 'orphaned')
        assert conn.lookupByName(db).isActive()                       # reported, left running
        proc = faults.run(lab, 'provision', '--check', '-e', 'strata_prune=true')
        assert proc.returncode == 0 and faults.has(proc.stdout, 'would remove')
        assert conn.lookupByName(db).isActive()
        proc = faults.run(lab, 'provision', '-e', 'strata_prune=true')
        assert proc.returncode == 0 and faults.has(proc.stdout, 'removed (prune)')
        assert not faults.exists(conn.lookupByName, db)
        assert not os.path.exists(os.path.join(NVRAM_DIR, '%s_VARS.fd' % db))
        left = sorted(name for name in os.listdir(pool_dir) if name.startswith(db))
        print('PROOF prune: %s gone; its files left in the pool: %s' % (db, left))
        assert left == []
        assert conn.lookupByName(NAME + '-app').isActive() and conn.lookupByName(NAME + '-edge').isActive()
    finally:
        faults.write_vars(lab, cluster(work), faults.image_map())


def test_unprovision_leaves_what_is_not_ours(lab):
    conn = lab['conn']
    pool_dir = '/var/lib/libvirt/strata/' + NAME
    proc = faults.run(lab, 'unprovision')
    assert proc.returncode == 0
    assert subprocess.run(['ip', 'link', 'show', BRIDGE], stdout=subprocess.DEVNULL, check=False).returncode == 0
    assert conn.networkLookupByName('default').isActive()
    assert not faults.exists(conn.networkLookupByName, LAN_NET)
    for vm in ('edge', 'app', 'db'):
        assert not faults.exists(conn.lookupByName, '%s-%s' % (NAME, vm))
    assert not os.path.exists(os.path.join(NVRAM_DIR, '%s-db_VARS.fd' % NAME))
    assert not os.path.exists(pool_dir) or not any(name.startswith(NAME + '-db-data') for name in os.listdir(pool_dir))

"""One cluster over two hypervisors, with real guests under TCG, through the real playbooks.

  tests/lab/lab up --hosts 2
  tests/lab/lab exec .venv/bin/pytest -v -s tests/lab/test_multihost_lab.py

The lab's hosts h1 and h2 (tests/lab/hosts.sh) each run their own libvirtd in their own network and mount namespace,
reached by Ansible over SSH from the lab's namespace (the LAN, where this test runs); their bridges br-lan are one
LAN (10.249.0.0/24). Cluster strata-mh, placed automatically, nothing pinned:
  gateway  serves HTTP on 8080; ready on its http probe
  web      after gateway; anti-affinity with gateway (never on the same host)
  worker   no dependency
The tests run in file order on the same guests: provision (placement shown, anti-affinity kept, web started on its
host only once gateway answered on the other, web reaches gateway across the hosts), a second run changed=0 with
the same placement, --check changed=0, the web's host managed through qemu+ssh:// from the controller (its VMs off
before: the same cluster comes up), both hosts' boot services started by hand in the order web's host then
gateway's (web still starts after gateway answers), unprovision (nothing left on either host).
"""

import calendar
import json
import os
import re
import shutil
import subprocess
import time

import pytest

import test_faults_lab as faults

ENV = os.environ
pytestmark = pytest.mark.skipif(int(ENV.get('STRATA_LAB_HOSTS') or 0) < 2,
                                reason='needs the two-host lab: tests/lab/lab up --hosts 2, then run through lab exec')

libvirt = pytest.importorskip('libvirt')
yaml = pytest.importorskip('yaml')

NAME = 'strata-mh'
HOSTS = ('h1', 'h2')
IPS = {'gateway': '10.249.0.21', 'web': '10.249.0.22', 'worker': '10.249.0.23'}
# a routed network split over the hosts (no VM on it): each host makes its segment, host_setup routes the other's
SEGMENTS = {'h1': '10.251.1.0/24', 'h2': '10.251.2.0/24'}

GATEWAY_USER_DATA = {
    'write_files': [
        {'path': '/srv/www/index.html', 'content': 'gateway ready\n'},
        {'path': '/etc/systemd/system/strata-gw-http.service', 'content': (
            '[Unit]\nDescription=gateway HTTP\nAfter=network-online.target\n'
            '[Service]\nExecStart=/usr/bin/python3 -m http.server 8080 --directory /srv/www\n'
            '[Install]\nWantedBy=multi-user.target\n')}],
    'runcmd': [['systemctl', 'daemon-reload'], ['systemctl', 'enable', '--now', 'strata-gw-http.service']],
}

CHECK_PLAY = """
- name: Provision
  ansible.builtin.import_playbook: strata.libvirt.provision

- name: From web, gateway answers across the hosts
  hosts: web
  gather_facts: false
  tasks:
    - name: Fetch gateway's page
      ansible.builtin.command:
        argv: [python3, -c, "import urllib.request as u; print(u.urlopen('http://%(gw)s:8080/', timeout=20).read().decode().strip())"]
      register: _page
      changed_when: false
    - name: Record it
      ansible.builtin.copy:
        content: "{{ _page.stdout }}\\n"
        dest: "%(work)s/web.out"
        mode: "0644"
      delegate_to: localhost
"""


def host_env(host, key):
    return ENV['STRATA_LAB_%s_%s' % (host.upper(), key)]


def cluster(work):
    return {
        'name': NAME, 'virt_type': 'qemu', 'tcg_tb_cache': 64, 'image': 'lab', 'user': 'strata',
        'ssh_private_key_file': os.path.join(work, 'id_ed25519'), 'ssh_public_keys': [],
        'networks': [{'name': NAME + '-lan', 'external': True, 'bridge': 'br-lan', 'cidr': '10.249.0.0/24',
                      'gateway': '10.249.0.1'},
                     {'name': NAME + '-seg', 'mode': 'route', 'segments': SEGMENTS}],
        'anti_affinity': {'front': ['gateway', 'web']},
        'startup': {'timeout': 900, 'grace': 20},
        'vms': [
            {'name': 'gateway', 'memory': '320M', 'disk': '3G', 'ip': IPS['gateway'], 'user_data': GATEWAY_USER_DATA,
             'probes': [{'type': 'http', 'url': 'http://{address}:8080/', 'body': 'gateway ready'}]},
            {'name': 'web', 'memory': '320M', 'disk': '3G', 'ip': IPS['web'], 'after': ['gateway']},
            {'name': 'worker', 'memory': '256M', 'disk': '3G', 'ip': IPS['worker']},
        ],
    }


def inventory(work, via_uri=None):
    """The two hypervisors over SSH; via_uri: that host managed from the controller through qemu+ssh:// instead."""
    hosts = {}
    for host in HOSTS:
        hosts[host] = {'ansible_host': host_env(host, 'ADDR'), 'ansible_user': 'root',
                       'ansible_ssh_private_key_file': ENV['STRATA_LAB_HOST_KEY'],
                       'ansible_ssh_common_args': '-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes'
                                                  % ENV['STRATA_LAB_HOST_KNOWN_HOSTS'],
                       'ansible_pipelining': True,  # as the README advises for a fleet: one SSH round trip per task
                       'ansible_python_interpreter': ENV['STRATA_LAB_HOST_PYTHON']}
    if via_uri:
        hosts[via_uri] = {'ansible_connection': 'local', 'ansible_python_interpreter': ENV['STRATA_LAB_HOST_PYTHON'],
                          'strata_route_via': host_env(via_uri, 'ADDR'),
                          'strata_libvirt_uri': 'qemu+ssh://root@%s/system?keyfile=%s&command=%s'
                                                % (host_env(via_uri, 'ADDR'), ENV['STRATA_LAB_HOST_KEY'],
                                                   ssh_command(work))}
    with open(os.path.join(work, 'inventory', 'hosts.yml'), 'w') as handle:
        yaml.safe_dump({'hypervisor': {'hosts': hosts}}, handle)


def conn(host):
    return libvirt.open(host_env(host, 'URI'))


def domains(host):
    c = conn(host)
    try:
        return dict((d.name(), bool(d.isActive())) for d in c.listAllDomains())
    finally:
        c.close()


def placement(lab):
    """VM -> host, as libvirt has them."""
    out = {}
    for host in HOSTS:
        for name in domains(host):
            if name.startswith(NAME + '-'):
                out[name[len(NAME) + 1:]] = host
    return out


def host_log(host):
    path = os.path.join(host_env(host, 'DIR'), 'log', 'strata-libvirt-%s-startup.log' % NAME)
    with open(path) as handle:
        return handle.read().splitlines()


def stamp(lines, *needles):
    """The wall-clock time (epoch seconds, UTC) of the last line with every needle (lines begin with an ISO time)."""
    found = [line for line in lines if all(n in line for n in needles)]
    assert found, 'no line with %s in:\n%s' % (needles, '\n'.join(lines[-30:]))
    match = re.match(r'^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z', found[-1])
    return calendar.timegm(time.strptime(match.group(1), '%Y-%m-%dT%H:%M:%S')) + int(match.group(2)) / 1000.0


def ssh_command(work):
    """The ssh that libvirt's qemu+ssh:// transport runs (its URI's command=): strict, against the lab's hosts' keys."""
    path = os.path.join(work, 'ssh-lab')
    with open(path, 'w') as handle:
        handle.write('#!/bin/sh\nexec ssh -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o BatchMode=yes "$@"\n'
                     % ENV['STRATA_LAB_HOST_KNOWN_HOSTS'])
    os.chmod(path, 0o755)
    return path


@pytest.fixture(scope='module')
def lab():
    work = faults.work_dir('multihost-lab')
    inventory(work)
    with open(os.path.join(work, 'check.yml'), 'w') as handle:
        handle.write(CHECK_PLAY % {'gw': IPS['gateway'], 'work': work})
    lab = {'work': work}
    images = faults.image_map(ENV['STRATA_LAB_LAN_HTTP'] + '/strata-debian-12.qcow2')
    images['images']['lab']['checksum'] = 'sha256:%s/SHA256SUMS' % ENV['STRATA_LAB_LAN_HTTP']
    faults.write_vars(lab, cluster(work), images, strata_boot_order_enabled=True, cluster_proxy_jump='',
                      strata_host_setup_enabled=True, host_setup_packages_enabled=False, host_setup_service=False)
    yield lab
    inventory(work)
    faults.run(lab, 'unprovision')
    shutil.rmtree(work, ignore_errors=True)


def test_provision_places_orders_across_hosts_and_web_reaches_gateway(lab):
    proc = faults.run(lab, os.path.join(lab['work'], 'check.yml'))
    assert proc.returncode == 0
    where = placement(lab)
    print('placement:', where)
    assert sorted(where) == ['gateway', 'web', 'worker']
    assert where['gateway'] != where['web']                       # the anti-affinity group
    assert faults.has(proc.stdout, 'Placement of cluster %s (spread):' % NAME)
    lab['where'] = where
    # web's host waited for gateway (on the other host) through its http probe, then started web
    web_log = host_log(where['web'])
    gw_log = host_log(where['gateway'])
    gw_ready = stamp(gw_log, '%s-gateway: ready' % NAME)
    seen = stamp(web_log, '%s-gateway: ready' % NAME)
    web_start = stamp(web_log, '%s-web: start issued' % NAME)
    print('PROOF gateway ready on %s at %.1f (seen from %s at %.1f); web start issued on %s at %.1f'
          % (where['gateway'], gw_ready, where['web'], seen, where['web'], web_start))
    assert faults.first(web_log, '%s-gateway: on host %s: waiting for its probes' % (NAME, where['gateway'])) is not None
    assert web_start >= seen >= gw_ready - 1.0
    with open(os.path.join(lab['work'], 'web.out')) as handle:
        assert handle.read().strip() == 'gateway ready'
    # the routed network: each host has its own segment, and reaches the other's through the route host_setup added
    for host, other in (('h1', 'h2'), ('h2', 'h1')):
        c = conn(host)
        try:
            xml = c.networkLookupByName(NAME + '-seg').XMLDesc(0)
        finally:
            c.close()
        mine, theirs = (SEGMENTS[h].rsplit('.', 1)[0] + '.1' for h in (host, other))
        assert "address='%s'" % mine in xml and "<forward mode='route'" in xml
        # from this host's segment address to the other host's (its dnsmasq): both routes are needed
        probe = subprocess.run(['ip', 'netns', 'exec', host_env(host, 'NS'), ENV['STRATA_LAB_HOST_PYTHON'], '-c',
                                'import socket; socket.create_connection(("%s", 53), 5, ("%s", 0)).close()'
                                % (theirs, mine)], capture_output=True, text=True, check=False)
        print('PROOF (segments) %s %s -> %s %s:53: rc=%d %s' % (host, mine, other, theirs, probe.returncode,
                                                                probe.stderr.strip()[-200:]))
        assert probe.returncode == 0


def changed_tasks(stdout):
    """The TASK lines of the tasks that reported a change, with the hosts."""
    out, task = [], None
    for line in stdout.splitlines():
        if line.startswith('TASK ['):
            task = line
        elif line.startswith('changed:') and task:
            out.append('%s %s' % (task.split(' ***')[0], line[:60]))
    return out


def test_second_run_and_check_change_nothing_and_keep_the_placement(lab):
    again = faults.run(lab, 'provision')
    print('changed:', changed_tasks(again.stdout))
    assert again.returncode == 0 and faults.has(again.stdout, 'changed=0')
    assert placement(lab) == lab['where']
    check = faults.run(lab, 'provision', '--check')
    assert check.returncode == 0 and faults.has(check.stdout, 'changed=0')
    for host in HOSTS:
        assert all(domains(host).values())


def test_web_host_through_qemu_ssh_from_the_controller(lab):
    host = lab['where']['web']
    c = conn(host)
    for dom in c.listAllDomains():
        if dom.name().startswith(NAME + '-') and dom.isActive():
            dom.destroy()
    c.close()
    inventory(lab['work'], via_uri=host)
    try:
        proc = faults.run(lab, 'provision', '-e', 'strata_boot_order_enabled=false')
    finally:
        inventory(lab['work'])
    print('\n'.join(line for line in proc.stdout.splitlines() if 'probes ran from' in line or 'names another machine' in line))
    lines = proc.stdout.splitlines()
    for index, line in enumerate(lines):  # the task that failed, with its message
        if line.startswith('fatal:') or 'stopped at' in line:
            print('\n'.join(lines[max(0, index - 3):index + 2])[:3000])
    assert proc.returncode == 0
    assert all(v for k, v in domains(host).items() if k.startswith(NAME + '-'))
    assert placement(lab) == lab['where']


def boot_service(host):
    """The host's boot service started by hand inside its namespaces (its libvirtd's mount namespace)."""
    with open(os.path.join(host_env(host, 'DIR'), 'run-libvirtd.pid')) as handle:
        pid = handle.read().strip()
    result = '/var/lib/strata-libvirt/boot-by-hand.json'
    cmd = ['ip', 'netns', 'exec', host_env(host, 'NS'), 'nsenter', '--mount=/proc/%s/ns/mnt' % pid, '--',
           '/usr/local/sbin/strata-libvirt-boot', 'start', '--config', '/etc/strata-libvirt/boot/%s.json' % NAME,
           '--result', result]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True), \
        os.path.join(host_env(host, 'DIR'), 'state', 'boot-by-hand.json')


def test_boot_services_started_web_host_first_still_order_web_after_gateway(lab):
    where = lab['where']
    for host in HOSTS:
        c = conn(host)
        for dom in c.listAllDomains():
            if dom.name().startswith(NAME + '-') and dom.isActive():
                dom.destroy()
        c.close()
    web_proc, web_result = boot_service(where['web'])
    time.sleep(5)
    gw_proc, gw_result = boot_service(where['gateway'])
    web_out = web_proc.communicate(timeout=900)[0]
    gw_out = gw_proc.communicate(timeout=900)[0]
    print(web_out[-2500:])
    print(gw_out[-1500:])
    assert web_proc.returncode == 0 and gw_proc.returncode == 0
    with open(web_result) as handle:
        res = json.load(handle)
    gw_ready = [e for e in res['vms'][NAME + '-gateway']['timeline'] if e['event'] == 'ready'][0]
    web_start = [e for e in res['vms'][NAME + '-web']['timeline'] if e['event'].startswith('start issued')][0]
    print('PROOF (boot services, web host first) gateway ready t=%.1f; web start issued t=%.1f'
          % (gw_ready['t'], web_start['t']))
    assert web_start['t'] >= gw_ready['t'] >= 5.0
    assert all(domains(where['web']).values()) and all(domains(where['gateway']).values())


def shutdown_at(host, name):
    """When QEMU logged the domain's shutdown (its log in the host's /var/log/libvirt/qemu), as epoch seconds."""
    path = os.path.join(host_env(host, 'DIR'), 'log', 'libvirt', 'qemu', '%s-%s.log' % (NAME, name))
    with open(path) as handle:
        lines = [line for line in handle if 'shutting down, reason=' in line]
    match = re.match(r'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.(\d{3})', lines[-1])
    return calendar.timegm(time.strptime(match.group(1), '%Y-%m-%d %H:%M:%S')) + int(match.group(2)) / 1000.0


def test_unprovision_leaves_nothing_on_either_host(lab):
    where = lab['where']
    began = time.time()
    proc = faults.run(lab, 'unprovision')
    assert proc.returncode == 0
    # tier by tier across the hosts: web (tier 1, on one host) was off before gateway (tier 0, on the other) stopped
    web_off, gw_off = shutdown_at(where['web'], 'web'), shutdown_at(where['gateway'], 'gateway')
    print('PROOF (unprovision) web off on %s at %.1f, gateway off on %s at %.1f'
          % (where['web'], web_off, where['gateway'], gw_off))
    assert began - 1 <= web_off <= gw_off
    for host in HOSTS:
        c = conn(host)
        try:
            assert [d.name() for d in c.listAllDomains()] == []
            assert [n.name() for n in c.listAllNetworks()] == []
            assert [p.name() for p in c.listAllStoragePools() if p.name().startswith(NAME)] == []
        finally:
            c.close()
        assert not os.path.exists(os.path.join(host_env(host, 'DIR'), 'lib', 'strata', NAME))

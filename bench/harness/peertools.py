# -*- coding: utf-8 -*-
# Copyright: strata.libvirt developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The peer tools of the peers phase, kcli and virt-lightning (both from PyPI): their pinned releases, a venv for
each, and what the phase hands them, rendered by pure functions: kcli's config.yml and plan, virt-lightning's
config.ini and host lists. What each tool does with them is written down beside the renderers, with the places
in the tools' own source (kvirt/..., virt_lightning/...) that decide it."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys

from .util import PREFIX, ROOT, WORK, BenchError, log, run

KCLI_RELEASE = '99.0.202610251748'
VL_RELEASE = '2.5.0'
# virt-lightning 2.5.0 requires libvirt-python>=11.10.0 (its wheel's metadata), kcli any >=2.0.0. kcli gets the
# main .venv's binding (tests/requirements.txt); virt-lightning the lowest release it accepts, which also
# compiles against this host's libvirt 9.0 (libvirt-dev).
VL_LIBVIRT_PYTHON = '11.10.0'
TOOLS = ('kcli', 'virt-lightning')
EXECUTABLE = {'kcli': 'kcli', 'virt-lightning': 'vl'}
VENVS = os.path.join(WORK, 'peers-venv')
# the peers phase's image, built there by bench/run (tests/lab/image/build.sh --kernel generic), one recipe at a time
IMAGE_DIR = os.path.join(WORK, 'peers-image')

# every object of the phase starts with PEERS_PREFIX: kcli refuses network names of 16 characters or more
# (kvirt/providers/kvm/__init__.py create_network), virt-lightning names its bridge after its network
PEERS_PREFIX = PREFIX + 'p'
TAG = {'ours': 'po', 'kcli': 'pk', 'virt-lightning': 'pv'}
OCTET = {'ours': 50, 'kcli': 51, 'virt-lightning': 52}
# the same lab image under each peer's own name; "debian" in kcli's image name makes kcli log in as debian
# (kvirt/common get_user), the image's cloud-init default user (Debian's cloud.cfg: default_user debian)
KCLI_IMAGE = PREFIX + 'pk-debian-12.qcow2'
VL_DISTRO = PREFIX + 'pv-debian-12'
# virt_lightning.py init_storage_pool checks that this directory exists, whatever the pool's own path, and exits
# without it; the phase makes it (empty) when it is missing and removes it again
VL_REQUIRED_DIR = '/var/lib/virt-lightning/pool/upstream'

ORDERING = {
    'ours': 'VM 0 alone in tier 0, VMs 1-%(last)d in tier 1, started once VM 0 passed its SSH-login probe '
            '(strata.libvirt.startup)',
    'kcli': 'one plan (kcli create plan): the network, then the VMs one after another in file order; VM 0 has '
            'wait: true with waitcommand "id -un", so kcli makes VMs 1-%(last)d only after it logged into VM 0 and '
            'ran that command (kvirt/config.py create_vm -> wait_finish: a login try every 5 s, then 5 s of sleep)',
    'virt-lightning': 'two vl up calls, VM 0, then VMs 1-%(last)d, with the bench waiting between them for VM 0\'s '
                      'SSH login: vl has no order of its own',
}
CANNOT_EXPRESS = {
    'ours': [],
    'kcli': [
        'a dependency of one VM on another: only the plan\'s order, so VMs 1-%(last)d are made one after another '
        'behind VM 0 (create plan --threaded makes them all at once, and then no wait gates anything)',
        'a readiness probe other than an SSH login followed by a command (the default waits for cloud-init\'s final '
        'message)',
        'what to do when a VM never gets ready: after waittimeout kcli prints an error and makes the next VM',
    ],
    'virt-lightning': [
        'any order or dependency: one vl up starts all its hosts at once (a pool of 10 threads, api.py up)',
        'a readiness check other than an SSH banner on port 22, and a bound on it: vl up waits for every host '
        'without a timeout (virt_lightning.py LibvirtDomain.reachable)',
        'the domain type: it takes kvm whenever libvirt offers kvm, with no setting (virt_lightning.py '
        'LibvirtHypervisor.domain_type: sorted(capability domain types)[0]; configuration.py has no such key)',
        'a NoCloud seed by default: its default seed is an OpenStack config drive (label config-2), which the lab '
        'image does not look for (datasource_list: [NoCloud, None]); each host gets metadata_format '
        '{provider: nocloud} (api.py _start_domain, virt_lightning.py start)',
    ],
}
TCG = {
    'ours': 'virt_type qemu in the cluster definition',
    'kcli': 'virttype: qemu in the client section of ~/.kcli/config.yml (kvirt/baseconfig.py options virttype -> '
            'config.py create_vm -> providers/kvm create: <domain type=virttype>; without it kcli takes kvm whenever '
            'the capabilities list it)',
    'virt-lightning': 'none: the domain type is sorted(capability domain types)[0], kvm whenever libvirt lists '
                      'kvm, which it does here although /dev/kvm (kvm_pvm) cannot run a Linux guest',
}


# ---- the venvs


def main_libvirt_python():
    """The libvirt-python release of the main .venv, as tests/requirements.txt pins it."""
    with open(os.path.join(ROOT, 'tests', 'requirements.txt'), encoding='utf-8') as handle:
        for line in handle:
            match = re.match(r'\s*libvirt-python\s*==\s*([0-9][\w.]*)', line)
            if match:
                return match.group(1)
    raise BenchError('tests/requirements.txt pins no libvirt-python release')


def requirements(tool):
    if tool == 'kcli':
        return ['kcli==' + KCLI_RELEASE, 'libvirt-python==' + main_libvirt_python()]
    return ['virt-lightning==' + VL_RELEASE, 'libvirt-python==' + VL_LIBVIRT_PYTHON]


def venv_dir(tool):
    return os.path.join(VENVS, tool)


def executable(tool):
    return os.path.join(venv_dir(tool), 'bin', EXECUTABLE[tool])


def _stamp(tool):
    return os.path.join(venv_dir(tool), 'strata-bench-requirements.txt')


def venv_ready(tool):
    """The tool's venv holds exactly the pinned releases (as the install recorded them)."""
    try:
        with open(_stamp(tool), encoding='utf-8') as handle:
            recorded = handle.read().split()
    except OSError:
        return False
    return recorded == requirements(tool) and os.access(executable(tool), os.X_OK)


def install_peers():
    """--install-peers (bench/run, outside the lab's namespace): a venv per tool under WORK/peers-venv, with the
    Python of the main .venv; pip builds libvirt-python against the host's libvirt-dev."""
    python = getattr(sys, '_base_executable', None) or sys.executable
    problems = 0
    for tool in TOOLS:
        if venv_ready(tool):
            log('peers: %s ready in %s' % (tool, venv_dir(tool)))
            continue
        log('peers: installing %s into %s' % (' '.join(requirements(tool)), venv_dir(tool)))
        shutil.rmtree(venv_dir(tool), ignore_errors=True)
        try:
            run([python, '-m', 'venv', venv_dir(tool)], 300)
            run([os.path.join(venv_dir(tool), 'bin', 'pip'), 'install', '--quiet', '--disable-pip-version-check']
                + requirements(tool), 1200)
        except BenchError as exc:
            log('peers: %s could not be installed: %s' % (tool, exc))
            problems += 1
            continue
        with open(_stamp(tool), 'w', encoding='utf-8') as handle:
            handle.write('\n'.join(requirements(tool)) + '\n')
    return 1 if problems else 0


def versions(tool):
    """The releases the tool's venv holds (its own and libvirt-python's)."""
    code = ('import importlib.metadata as m, json; print(json.dumps({n: m.version(n) for n in %r}))'
            % ([tool, 'libvirt-python'],))
    proc = run([os.path.join(venv_dir(tool), 'bin', 'python'), '-c', code], 60, check=False)
    try:
        return json.loads(proc.stdout)
    except ValueError:
        return {'error': (proc.stderr or proc.stdout)[-300:]}


# ---- kcli


def kcli_config(uri, pool):
    """~/.kcli/config.yml: one client, this libvirt, the plan's pool, guests under TCG."""
    return {'default': {'client': 'local'},
            'local': {'type': 'kvm', 'host': '127.0.0.1', 'url': uri, 'pool': pool, 'virttype': 'qemu'}}


def kcli_plan(network, cidr, image, pool, names, memory_mib, disk_gib, wait_s):
    """The plan: the network, then the VMs in file order. The first VM waits (kcli blocks the plan until it logs
    in and `id -un` answers, at most wait_s), so the others are made once it is reachable. The NIC is named eth0
    for kcli's network-config: the lab image boots with net.ifnames=0, and for an image named *debian* kcli would
    name it ens3 (kvirt/common cloudinit)."""
    plan = {network: {'type': 'network', 'cidr': cidr, 'nat': True, 'dhcp': True}}
    for index, name in enumerate(names):
        vm = {'image': image, 'pool': pool, 'numcpus': 1, 'memory': memory_mib, 'disks': [disk_gib],
              'nets': [{'name': network, 'nic': 'eth0'}]}
        if index == 0 and len(names) > 1:
            vm.update({'wait': True, 'waitcommand': 'id -un', 'waittimeout': wait_s})
        plan[name] = vm
    return plan


# ---- virt-lightning


def vl_config(uri, pool, network, cidr, pub_key_file):
    """~/.config/virt-lightning/config.ini (configuration.py: every key it knows but the root password and the
    image hubs)."""
    return ('[main]\nlibvirt_uri = %s\nstorage_pool = %s\nnetwork_name = %s\nnetwork_cidr = %s\n'
            'network_auto_clean_up = True\nssh_key_file = %s\n' % (uri, pool, network, cidr, pub_key_file))


def vl_hosts(names, distro, memory_mib, disk_gib):
    """A virt-lightning.yaml host list (JSON is YAML). The image's disk is the distro's qcow2 in <pool>/upstream,
    each root disk an overlay of it (virt_lightning.py create_disk)."""
    return [{'name': name, 'distro': distro, 'memory': memory_mib, 'vcpus': 1, 'disks': [{'size': disk_gib}],
             'metadata_format': {'provider': 'nocloud'}} for name in names]


def pool_xml(name, path):
    return ("<pool type='dir'><name>%s</name><target><path>%s</path></target></pool>" % (name, path))

"""Lab self-test: boot one real guest from the lab image and log into it over SSH.

Plain libvirt-python, no collection code: it proves the lab before any module does.
A NAT network with a static DHCP host, a qcow2 overlay on the served image, a NoCloud
seed (pycdlib) with an injected SSH key, attached as a read-only virtio disk (Debian's cloud
kernel has no AHCI driver, so a SATA cdrom on q35 stays invisible to it), a TCG domain; then SSH from inside the lab's
namespace checks the hostname cloud-init set and that python3 runs; then it tears
everything down again. Run it inside the namespace: `tests/lab/lab exec .venv/bin/python
tests/lab/selftest.py` (prints timings as JSON).
"""

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time

import libvirt
import pycdlib

NAME = "strata-selftest"
SUBNET = "10.213.0"
MAC = "52:54:00:5e:17:01"
IP = SUBNET + ".10"
HOSTNAME = "selftest"
USER = "strata"


# libvirt prints every error to stderr by default, also those we expect (a leftover not found)
libvirt.registerErrorHandler(lambda ctx, err: None, None)


def lab_env():
    missing = [k for k in ("STRATA_LAB_DIR", "STRATA_LAB_IMAGE", "STRATA_LAB_URI") if k not in os.environ]
    if missing:
        raise RuntimeError("not inside the lab (missing %s): run through `tests/lab/lab exec`" % ", ".join(missing))
    return os.environ


def ssh_key(lab_dir):
    """The lab's SSH key pair (made once), shared by every lab test."""
    keydir = os.path.join(lab_dir, "keys")
    key = os.path.join(keydir, "id_ed25519")
    if not os.path.exists(key):
        os.makedirs(keydir, mode=0o700, exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "strata-lab", "-f", key], check=True)
    with open(key + ".pub") as f:
        return key, f.read().strip()


def make_seed(path, files):
    """A NoCloud seed ISO (volume label cidata) holding the given {name: text} files."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident="cidata")
    for name, text in files.items():
        data = text.encode()
        iso.add_fp(io.BytesIO(data), len(data), "/" + name.upper().replace("-", "_") + ".;1",
                   rr_name=name, joliet_path="/" + name)
    iso.write(path)
    iso.close()


def network_xml():
    return """<network>
  <name>{n}</name>
  <forward mode='nat'/>
  <ip address='{s}.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='{s}.100' end='{s}.200'/>
      <host mac='{mac}' name='{h}' ip='{ip}'/>
    </dhcp>
  </ip>
</network>""".format(n=NAME, s=SUBNET, mac=MAC, h=HOSTNAME, ip=IP)


def domain_xml(overlay, seed, serial_log, virt_type):
    return """<domain type='{t}'>
  <name>{n}</name>
  <memory unit='MiB'>512</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type><boot dev='hd'/></os>
  <features><acpi/><apic/>{tcg}</features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/><source file='{o}'/><target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/><source file='{s}'/><target dev='vdb' bus='virtio'/><readonly/>
    </disk>
    <interface type='network'><source network='{n}'/><mac address='{mac}'/><model type='virtio'/></interface>
    <serial type='pty'><log file='{log}' append='off'/><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
  </devices>
</domain>""".format(
        t=virt_type, n=NAME, o=overlay, s=seed, mac=MAC, log=serial_log,
        tcg="<tcg><tb-cache unit='MiB'>128</tb-cache></tcg>" if virt_type == "qemu" else "")


def remove_leftovers(conn):
    """Remove what an interrupted self-test left (only its own fixed names)."""
    try:
        dom = conn.lookupByName(NAME)
        if dom.isActive():
            dom.destroy()
        dom.undefine()
    except libvirt.libvirtError:
        pass
    try:
        net = conn.networkLookupByName(NAME)
        if net.isActive():
            net.destroy()
        net.undefine()
    except libvirt.libvirtError:
        pass


def tcp_open(host, port, timeout=2.0):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def ssh(key, host, command, timeout=20):
    return subprocess.run(
        ["ssh", "-i", key, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5",
         "%s@%s" % (USER, host), command],
        capture_output=True, text=True, timeout=timeout, check=False)


def boot_and_login(dom, key, work, boot_timeout, tag=""):
    """Start the domain, wait for TCP 22 and an SSH login; return the timings and what the guest said."""
    t0 = time.monotonic()
    dom.create()
    out = {tag + "tcp22_s": None, tag + "ssh_s": None}
    deadline = t0 + boot_timeout
    while time.monotonic() < deadline:
        if out[tag + "tcp22_s"] is None and tcp_open(IP, 22):
            out[tag + "tcp22_s"] = round(time.monotonic() - t0, 1)
        if out[tag + "tcp22_s"] is not None:
            res = ssh(key, IP, "hostname; python3 -c 'import sys; print(sys.version_info[0])'")
            if res.returncode == 0:
                out[tag + "ssh_s"] = round(time.monotonic() - t0, 1)
                out[tag + "hostname"], out[tag + "python_major"] = res.stdout.split()[:2]
                return out
        time.sleep(1)
    with open(os.path.join(work, "serial.log"), errors="replace") as f:
        tail = f.read()[-3000:]
    raise RuntimeError("no SSH login to %s at %s within %d s (%s); serial console ends with:\n%s"
                       % (NAME, IP, boot_timeout, "second boot" if tag else "first boot", tail))


def acpi_shutdown(dom, timeout=60):
    """ACPI power button, wait until off; the seconds it took, or None if the guest ignored it."""
    t1 = time.monotonic()
    dom.shutdown()
    while dom.isActive() and time.monotonic() - t1 < timeout:
        time.sleep(0.5)
    return None if dom.isActive() else round(time.monotonic() - t1, 1)


def run(keep=False, boot_timeout=300, second_boot=True):
    env = lab_env()
    lab_dir = env["STRATA_LAB_DIR"]
    virt_type = env.get("STRATA_LAB_VIRT_TYPE", "qemu")
    work = os.path.join(lab_dir, "selftest")
    key, pub = ssh_key(lab_dir)
    conn = libvirt.open(env["STRATA_LAB_URI"])
    remove_leftovers(conn)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    os.chmod(work, 0o755)
    result = {"vm": NAME, "ip": IP, "virt_type": virt_type}
    try:
        overlay = os.path.join(work, "disk.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2",
                        "-b", env["STRATA_LAB_IMAGE"], overlay, "4G"], check=True)
        seed = os.path.join(work, "seed.iso")
        user_data = "\n".join([
            "#cloud-config",
            "hostname: %s" % HOSTNAME,
            "fqdn: %s.lab.test" % HOSTNAME,
            "users:",
            "  - name: %s" % USER,
            "    sudo: ALL=(ALL) NOPASSWD:ALL",
            "    shell: /bin/bash",
            "    ssh_authorized_keys: [%s]" % json.dumps(pub),
            ""])
        make_seed(seed, {"user-data": user_data,
                         "meta-data": "instance-id: %s-%d\nlocal-hostname: %s\n" % (NAME, time.time(), HOSTNAME)})
        net = conn.networkDefineXML(network_xml())
        net.create()
        dom = conn.defineXML(domain_xml(overlay, seed, os.path.join(work, "serial.log"), virt_type))
        boots = 2 if second_boot else 1
        for boot in range(1, boots + 1):
            # boot 2 starts the same disk again: what every stop/start (and host reboot) does
            tag = "" if boot == 1 else "boot2_"
            login = boot_and_login(dom, key, work, boot_timeout, tag)
            result.update(login)
            if keep and boot == boots:
                break
            result[tag + "acpi_shutdown_s"] = acpi_shutdown(dom)
            if result[tag + "acpi_shutdown_s"] is None:
                break
        return result
    finally:
        if not keep:
            remove_leftovers(conn)
            shutil.rmtree(work, ignore_errors=True)
        conn.close()


if __name__ == "__main__":
    print(json.dumps(run(keep="--keep" in sys.argv[1:], second_boot="--one-boot" not in sys.argv[1:])))

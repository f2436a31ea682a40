#!/bin/sh
# strata.libvirt.host_checks: what the hypervisor offers, one key=value per line (read-only).
#   host_probe.sh POOL_PATH PYTHON [URI [MACHINE [NEEDS]]]
# URI: libvirt's, as the modules take it (empty: LIBVIRT_DEFAULT_URI, else qemu:///system); the same Python
# process that checks the libraries asks libvirt for its running domains (one process, not a module run).
# NEEDS: what the cluster uses, kind=value items joined by ',' (the filter cluster_probe_needs makes it; a value's
# ',', '=' and other unusual characters come as %XX), each answered by one line need_<kind>_<value as given>=...:
#   network=NAME   a libvirt network            -> active|inactive, then ' autostart' when it starts with libvirt; missing
#   bridge=DEV     a host bridge                -> bridge|not-a-bridge|missing  (ip, right inside a network namespace)
#   direct=DEV     a host interface (macvtap)   -> present|missing
#   hostdev=ADDR   a PCI device (0000:03:00.0)  -> free|missing|used:DOMAIN,... (every defined domain that holds it)
#   uefi=1         EFI firmware for MACHINE     -> need_uefi_kvm= and need_uefi_qemu= yes|no|unknown
# Any answer may be error:REASON instead. The libvirt ones (network, hostdev, uefi) come only with a connection.
pool_path=$1
python=${2:-python3}
uri=${3:-}

flags=$(grep -m1 -owE 'vmx|svm' /proc/cpuinfo 2>/dev/null || true)
echo "cpu_virt=${flags:-none}"
if [ -c /dev/kvm ]; then echo "kvm_dev=yes"; else echo "kvm_dev=no"; fi
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then echo "kvm_rw=yes"; else echo "kvm_rw=no"; fi
if [ -d /sys/module/kvm_pvm ]; then echo "kvm_pvm=yes"; else echo "kvm_pvm=no"; fi
echo "mem_total_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
echo "mem_available_kb=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)"
p=$pool_path
while [ -n "$p" ] && [ ! -e "$p" ]; do p=$(dirname "$p"); done
echo "disk_path=$p"
echo "disk_avail_mb=$(df -Pm "$p" 2>/dev/null | awk 'NR == 2 {print $4}')"
echo "qemu_img=$(command -v qemu-img || true)"
echo "ssh=$(command -v ssh || true)"
echo "ssh_keygen=$(command -v ssh-keygen || true)"
if [ -d /run/systemd/system ]; then echo "systemd=yes"; else echo "systemd=no"; fi
out=$("$python" - "$uri" "${4:-}" "${5:-}" <<'PY' 2>/dev/null
import importlib
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
try:
    from urllib.parse import quote, unquote
except ImportError:  # Python 2
    from urllib import quote, unquote


def needs(kinds):
    """The NEEDS argument's (kind, value, key) of the given kinds, the key with the value as it came."""
    out = []
    for item in sys.argv[3].split(","):
        kind, _sep, value = item.partition("=")
        if kind in kinds and value:
            out.append((kind, unquote(value), "need_%s_%s" % (kind, value)))
    return out


def answer(key, check, *args):
    """One need's line; a check that fails says why (this process must not end: its other lines count)."""
    try:
        value = check(*args)
    except Exception as exc:
        text = exc.get_error_message() if hasattr(exc, "get_error_message") else str(exc)
        value = "error:" + " ".join((text or type(exc).__name__).split())
    return "%s=%s" % (key, value)


def link(kind, name):
    """A host interface through ip (what this network namespace has; /sys only when there is no ip)."""
    try:
        proc = subprocess.Popen(["ip", "-d", "-o", "link", "show", "dev", name], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        out, err = proc.communicate("")
    except OSError:
        if not os.path.exists(os.path.join("/sys/class/net", name)):
            return "missing"
        is_bridge = os.path.isdir(os.path.join("/sys/class/net", name, "bridge"))
    else:
        if proc.returncode != 0:
            if "does not exist" in err or "Cannot find device" in err:
                return "missing"
            raise RuntimeError("ip link show: " + (err.strip() or "exit %d" % proc.returncode))
        # ip -d -o: the details come after a backslash, the link's kind first ('bridge', not a port's 'bridge_slave')
        is_bridge = re.search(r"\\\s+bridge\s", out) is not None
    if kind == "direct":
        return "present"
    return "bridge" if is_bridge else "not-a-bridge"


def network(conn, name):
    try:
        net = conn.networkLookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_NETWORK:
            return "missing"
        raise
    return ("active" if net.isActive() else "inactive") + (" autostart" if net.autostart() else "")


def pci_users(conn):
    """PCI address (0000:03:00.0) -> the domains (defined, running or not) whose XML, live or persistent, holds it."""
    users = {}
    for dom in conn.listAllDomains(0):
        xmls = [dom.XMLDesc(0)]
        if dom.isActive() and dom.isPersistent():
            xmls.append(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        for text in xmls:
            for addr in ET.fromstring(text).findall("./devices/hostdev[@type='pci']/source/address"):
                parts = [int(addr.get(k) or "0", 0) for k in ("domain", "bus", "slot", "function")]
                users.setdefault("%04x:%02x:%02x.%x" % tuple(parts), set()).add(dom.name())
    return users


def hostdev(conn, address, users):
    if None not in users:  # scanned once for every hostdev need (again after a failure, which each one reports)
        users.update(pci_users(conn))
        users[None] = True
    try:
        conn.nodeDeviceLookupByName("pci_" + re.sub(r"[:.]", "_", address))
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_NODE_DEVICE:
            return "missing"
        if not os.path.exists(os.path.join("/sys/bus/pci/devices", address)):  # no node device driver here
            return "missing"
    if users.get(address):
        return "used:" + ",".join(quote(name, safe="") for name in sorted(users[address]))
    return "free"


def efi(conn, virt):
    try:
        caps = conn.getDomainCapabilities(None, None, sys.argv[2] or None, virt, 0)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT:
            return "unknown"
        raise
    found = ET.fromstring(caps).find("./os[@supported='yes']/enum[@name='firmware']")
    return "yes" if found is not None and "efi" in [v.text for v in found.findall("value")] else "no"


missing = []
for mod in ("libvirt", "lxml", "pycdlib"):
    try:
        importlib.import_module(mod)
    except Exception:
        missing.append(mod)
print("python_missing=" + " ".join(missing))
for kind, name, key in needs(("bridge", "direct")):
    print(answer(key, link, kind, name))
uri = sys.argv[1] or os.environ.get("LIBVIRT_DEFAULT_URI") or "qemu:///system"
print("libvirt_uri=" + uri)
if "libvirt" not in missing:
    import libvirt
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    try:
        conn = libvirt.open(uri)
        try:
            names = sorted(d.name() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE))
            info = conn.getInfo()
            lines = ["host_cpus=%d" % info[2]]
            # what the hypervisor behind the URI has, as its libvirt says (the rest of this probe looks at the machine
            # it runs on, which for a remote URI is not the hypervisor)
            lines.append("node_memory_kb=%d" % (int(info[1]) * 1024))
            try:  # free plus buffers and page cache, like MemAvailable
                stats = conn.getMemoryStats(-1, 0)
                lines.append("node_free_kb=%d" % (stats["free"] + stats.get("buffers", 0) + stats.get("cached", 0)))
            except Exception:
                try:
                    lines.append("node_free_kb=%d" % (int(conn.getFreeMemory()) // 1024))
                except Exception:
                    pass
            try:
                lines.append("node_hostname=" + conn.getHostname())
                caps = conn.getCapabilities()
                lines.append("node_kvm=" + ("yes" if "<domain type='kvm'" in caps else "no"))
            except Exception:
                pass
            # the most vCPUs libvirt lets a domain of this machine type have, per virtualisation type
            for virt in ("kvm", "qemu"):
                try:
                    caps = conn.getDomainCapabilities(None, None, sys.argv[2] or None, virt, 0)
                    found = re.search(r"<vcpu max='(\d+)'", caps)
                    lines.append("max_vcpus_%s=%s" % (virt, found.group(1) if found else ""))
                except libvirt.libvirtError:
                    lines.append("max_vcpus_%s=" % virt)
            users = {}
            for kind, name, key in needs(("network", "hostdev", "uefi")):
                if kind == "network":
                    lines.append(answer(key, network, conn, name))
                elif kind == "hostdev":
                    lines.append(answer(key, hostdev, conn, name.lower(), users))
                else:
                    lines.extend(answer("need_uefi_" + virt, efi, conn, virt) for virt in ("kvm", "qemu"))
        finally:
            conn.close()
        print("libvirt_error=")
        print("running=" + ",".join(names))
        print("\n".join(lines))
    except Exception as exc:  # libvirtError, or anything else: reported as the reason
        text = exc.get_error_message() if isinstance(exc, libvirt.libvirtError) else None
        print("libvirt_error=" + " ".join((text or str(exc) or type(exc).__name__).split()))
else:
    print("libvirt_error=the Python library libvirt is missing")
PY
) || out="python_missing=(cannot run $python)
libvirt_error=(cannot run $python)"
echo "$out"

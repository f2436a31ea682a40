#!/bin/sh
# strata.libvirt.host_checks: what the hypervisor offers, one key=value per line (read-only).
#   host_probe.sh POOL_PATH PYTHON [URI [MACHINE]]
# URI: libvirt's, as the modules take it (empty: LIBVIRT_DEFAULT_URI, else qemu:///system); the same Python
# process that checks the libraries asks libvirt for its running domains (one process, not a module run).
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
out=$("$python" - "$uri" "${4:-}" <<'PY' 2>/dev/null
import importlib
import os
import re
import sys

missing = []
for mod in ("libvirt", "lxml", "pycdlib"):
    try:
        importlib.import_module(mod)
    except Exception:
        missing.append(mod)
print("python_missing=" + " ".join(missing))
uri = sys.argv[1] or os.environ.get("LIBVIRT_DEFAULT_URI") or "qemu:///system"
print("libvirt_uri=" + uri)
if "libvirt" not in missing:
    import libvirt
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    try:
        conn = libvirt.open(uri)
        try:
            names = sorted(d.name() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE))
            lines = ["host_cpus=%d" % conn.getInfo()[2]]
            # the most vCPUs libvirt lets a domain of this machine type have, per virtualisation type
            for virt in ("kvm", "qemu"):
                try:
                    caps = conn.getDomainCapabilities(None, None, sys.argv[2] or None, virt, 0)
                    found = re.search(r"<vcpu max='(\d+)'", caps)
                    lines.append("max_vcpus_%s=%s" % (virt, found.group(1) if found else ""))
                except libvirt.libvirtError:
                    lines.append("max_vcpus_%s=" % virt)
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

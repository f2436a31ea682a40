#!/bin/sh
# strata.libvirt.host_checks: what the hypervisor offers, one key=value per line (read-only).
#   host_probe.sh POOL_PATH PYTHON
pool_path=$1
python=${2:-python3}

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
missing=$("$python" -c '
import importlib
missing = []
for mod in ("libvirt", "lxml", "pycdlib"):
    try:
        importlib.import_module(mod)
    except Exception:
        missing.append(mod)
print(" ".join(missing))' 2>/dev/null) || missing="(cannot run $python)"
echo "python_missing=$missing"

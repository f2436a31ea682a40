#!/usr/bin/env bash
# Boot the lab's test image once under qemu (TCG, no libvirt) and prove it is a working cloud
# image: NoCloud seed -> hostname, user with an SSH key and passwordless sudo, python3,
# cloud-init status done. Prints the seconds from qemu start to the first SSH login.
#
# Usage: tests/lab/image/boot-check.sh IMAGE
# Environment: BOOT_TIMEOUT (s, default 300), MEMORY_MIB (default 512),
#              SERIAL_LOG=FILE keeps a copy of the guest's serial console log.
#
# The image itself is never written (a qcow2 overlay in a temp dir takes the writes). The guest's
# only network is qemu user networking with restrict=on: nothing leaves it except the
# 127.0.0.1:PORT -> guest:22 forward.
set -euo pipefail

BOOT_TIMEOUT=${BOOT_TIMEOUT:-300}
MEMORY_MIB=${MEMORY_MIB:-512}

[ $# = 1 ] || {
	echo "usage: $0 IMAGE" >&2
	exit 2
}
image=$(readlink -f "$1")
[ -f "$image" ] || {
	echo "no such image: $1" >&2
	exit 2
}

log() { printf '[boot-check %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/strata-boot-check.XXXXXX")
qemu_pid=
ok=0

ssh_master_exit() {
	[ ! -S "$tmp/ssh-control" ] || ssh "${ssh_opts[@]}" -O exit strata@127.0.0.1 >/dev/null 2>&1 || true
}

cleanup() {
	local rc=$?
	set +e
	ssh_master_exit
	if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
		log "stopping qemu (pid $qemu_pid)"
		kill "$qemu_pid"
		for _ in $(seq 50); do
			kill -0 "$qemu_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$qemu_pid" 2>/dev/null && kill -9 "$qemu_pid"
		wait "$qemu_pid" 2>/dev/null
	fi
	if [ "$ok" != 1 ]; then
		[ "$rc" != 0 ] || rc=1
		if [ -f "$tmp/serial.log" ]; then
			echo "----- last 60 lines of serial.log -----" >&2
			tail -n 60 "$tmp/serial.log" | tr -d '\r' | sed 's/\x1b\[[0-9;]*m//g' >&2
			echo "---------------------------------------" >&2
		fi
		[ ! -s "$tmp/qemu.err" ] || { echo "qemu stderr:" >&2; cat "$tmp/qemu.err" >&2; }
		log "FAILED"
	fi
	if [ -n "${SERIAL_LOG:-}" ] && [ -f "$tmp/serial.log" ]; then
		cp "$tmp/serial.log" "$SERIAL_LOG"
	fi
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

elapsed() { awk -v a="$t0" -v b="$1" 'BEGIN { print b - a }'; }
die() {
	log "ERROR: $*"
	exit 1
}

# A free loopback port (the kernel picks one; a race with another binder is unlikely).
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

qemu-img create -q -f qcow2 -F qcow2 -b "$image" "$tmp/overlay.qcow2" 4G

ssh-keygen -q -t ed25519 -N '' -C strata-boot-check -f "$tmp/id_ed25519"
mkdir "$tmp/seed"
cat >"$tmp/seed/meta-data" <<EOF
instance-id: bootcheck-$(date +%s)-$$
local-hostname: bootcheck
EOF
cat >"$tmp/seed/user-data" <<EOF
#cloud-config
hostname: bootcheck
users:
  - name: strata
    shell: /bin/bash
    sudo: "ALL=(ALL) NOPASSWD:ALL"
    lock_passwd: true
    ssh_authorized_keys:
      - $(cat "$tmp/id_ed25519.pub")
EOF
genisoimage -quiet -output "$tmp/seed.iso" -V cidata -J -r "$tmp/seed/user-data" "$tmp/seed/meta-data"

ssh_opts=(-i "$tmp/id_ed25519" -p "$port"
	-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes
	-o ConnectTimeout=5 -o LogLevel=ERROR -o IdentitiesOnly=yes
	-o ControlMaster=auto -o "ControlPath=$tmp/ssh-control" -o ControlPersist=300)
# One SSH connection for all the checks (a new login costs seconds under TCG).
# The commands are meant to expand in the guest, as given.
guest() {
	# shellcheck disable=SC2029
	ssh "${ssh_opts[@]}" strata@127.0.0.1 "$@" </dev/null
}

log "booting $image (TCG, ${MEMORY_MIB} MiB), ssh on 127.0.0.1:$port"
t0=$(date +%s.%N)
qemu-system-x86_64 \
	-name strata-boot-check \
	-accel tcg,tb-size=128 \
	-m "$MEMORY_MIB" -smp 1 \
	-display none -monitor none -serial "file:$tmp/serial.log" \
	-no-reboot \
	-pidfile "$tmp/qemu.pid" \
	-drive "file=$tmp/overlay.qcow2,if=virtio,format=qcow2" \
	-drive "file=$tmp/seed.iso,if=ide,media=cdrom,format=raw,readonly=on" \
	-netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$port-:22" \
	-device virtio-net-pci,netdev=n0 \
	</dev/null >"$tmp/qemu.out" 2>"$tmp/qemu.err" &
qemu_pid=$!
log "qemu pid $qemu_pid"

deadline=$((SECONDS + BOOT_TIMEOUT))
until guest true 2>/dev/null; do
	kill -0 "$qemu_pid" 2>/dev/null || die "qemu exited before SSH came up"
	[ "$SECONDS" -lt "$deadline" ] || die "no SSH login within ${BOOT_TIMEOUT} s"
	sleep 1
done
t_ssh=$(date +%s.%N)
log "$(printf 'SSH login as strata after %.1f s' "$(elapsed "$t_ssh")")"

name=$(guest hostname)
[ "$name" = bootcheck ] || die "hostname is '$name', expected bootcheck"
log "hostname: $name"
py=$(guest "python3 -c 'print(1)'")
[ "$py" = 1 ] || die "python3 printed '$py'"
log "python3: ok"
guest "sudo -n true" || die "sudo -n true failed"
log "sudo NOPASSWD: ok"
status=$(guest "timeout 240 cloud-init status --wait --long" 2>&1) || true
t_ci=$(date +%s.%N)
printf '%s\n' "$status" | sed 's/^/  cloud-init: /' >&2
printf '%s\n' "$status" | grep -q '^status: done$' || die "cloud-init did not end in status: done"
log "$(printf 'cloud-init done after %.1f s' "$(elapsed "$t_ci")")"
root_gib=$(guest "df --output=size -B1G / | tail -1" | tr -d ' ')
[ "$root_gib" -ge 3 ] || die "root filesystem is ${root_gib} GiB: growpart/resizefs did not grow it"
log "root filesystem (size, used): $(guest "df -h --output=size,used / | tail -1")"
guest "systemd-analyze; systemd-analyze blame | head -n 12" 2>&1 | sed 's/^/  /' >&2 || true

log "powering off"
t_off=$SECONDS
guest "sudo poweroff" >/dev/null 2>&1 || true
ssh_master_exit
for _ in $(seq 60); do
	kill -0 "$qemu_pid" 2>/dev/null || break
	sleep 1
done
if kill -0 "$qemu_pid" 2>/dev/null; then
	log "guest did not power off within 60 s; killing qemu"
else
	wait "$qemu_pid" 2>/dev/null || true
	log "guest powered off in $((SECONDS - t_off)) s"
	qemu_pid=
fi

ok=1
printf 'boot-check passed: ssh %.1f s, cloud-init done %.1f s\n' \
	"$(elapsed "$t_ssh")" "$(elapsed "$t_ci")"

# shellcheck shell=bash
# The lab's extra hypervisors (`lab up --hosts N`), sourced by tests/lab/lab.
#
# The lab's namespace ($NS) is the LAN and the controller's place: a bridge lan0 (10.249.0.1/24) joins, by a veth
# pair each, the hypervisor namespaces $NS-h1 .. $NS-hN. Each hypervisor has its own network namespace and its own
# mount namespace, in which $HOSTS_DIR/hI/{run,lib,etc,log,...} stand for /run/libvirt, /var/lib/libvirt,
# /etc/libvirt, /var/log and the collection's own paths; there run its virtlogd, libvirtd and an sshd (root, the
# lab's key) on its LAN address 10.249.0.(10+I), on the bridge br-lan that carries its end of the veth: VMs bridged
# onto br-lan are on the LAN with the other hosts' VMs. A second image server answers on the LAN address.
# Nothing is in the root namespace; every daemon is stopped by the PID it recorded.

LAN_BRIDGE=lan0
LAN_PREFIX=10.249.0
HOSTS_DIR=$LAB_DIR/hosts
# where each hypervisor's mount namespace puts its own directory (name in $HOSTS_DIR/hI, mount point)
HOST_MOUNTS=(
  "run:/run/libvirt" "lib:/var/lib/libvirt" "etc:/etc/libvirt" "log:/var/log" "cache:/var/cache/libvirt"
  "state:/var/lib/strata-libvirt" "imgcache:/var/cache/strata-libvirt" "etcstrata:/etc/strata-libvirt"
  "units:/etc/systemd/system" "libdir:/usr/local/lib/strata-libvirt" "sbin:/usr/local/sbin"
)

host_ns() { echo "$NS-h$1"; }
host_dir() { echo "$HOSTS_DIR/h$1"; }
host_addr() { echo "$LAN_PREFIX.$((10 + $1))"; }
host_uri() { echo "qemu:///system?socket=$(host_dir "$1")/run/libvirt-sock"; }
hosts_count() { cat "$HOSTS_DIR/count" 2>/dev/null || echo 0; }

ns_has() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$1"; }

# PID from a pid file, if that process is alive and lives in network namespace $2.
host_live_pid() {
  local f=$1 ns=$2 pid
  [[ -f $f ]] || return 1
  pid=$(tr -dc 0-9 < "$f")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
  [[ "$(stat -L -c %i "/proc/$pid/ns/net" 2>/dev/null)" == "$(stat -L -c %i "/run/netns/$ns" 2>/dev/null)" ]] || return 1
  echo "$pid"
}

host_setup_dirs() {
  local i=$1 d entry f
  d=$(host_dir "$i")
  for entry in "${HOST_MOUNTS[@]}"; do
    mkdir -p "$d/${entry%%:*}"
    # the mount point must exist in the root file system: one made here is noted, and removed on the way down
    if [[ ! -d ${entry#*:} ]]; then mkdir -p "${entry#*:}" && echo "${entry#*:}" >> "$HOSTS_DIR/made-dirs"; fi
  done
  mkdir -p "$d/log/libvirt/qemu" "$d/ssh"
  # the daemons' configuration files, not qemu/ or qemu/networks/ (an autostart network would start here too)
  for f in /etc/libvirt/*.conf; do cp -f "$f" "$d/etc/"; done
  if [[ ! -f $d/ssh/ssh_host_ed25519_key ]]; then
    ssh-keygen -q -t ed25519 -N '' -C "strata-lab-h$i" -f "$d/ssh/ssh_host_ed25519_key"
  fi
  cp -f "$HOSTS_DIR/id_ed25519.pub" "$d/ssh/authorized_keys"
  cat > "$d/ssh/sshd_config" <<EOF
ListenAddress $(host_addr "$i")
Port 22
HostKey $d/ssh/ssh_host_ed25519_key
PidFile $d/run-sshd.pid
AuthorizedKeysFile $d/ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AcceptEnv LANG LC_*
Subsystem sftp internal-sftp
EOF
}

host_network() {
  local i=$1 hns
  hns=$(host_ns "$i")
  ip netns add "$hns"
  ip netns exec "$hns" ip link set lo up
  mkdir -p "/etc/netns/$hns"
  echo "nameserver 127.0.0.1" > "/etc/netns/$hns/resolv.conf"
  if ! ip netns exec "$NS" ip link show "$LAN_BRIDGE" >/dev/null 2>&1; then
    ip netns exec "$NS" ip link add "$LAN_BRIDGE" type bridge
    ip netns exec "$NS" ip addr add "$LAN_PREFIX.1/24" dev "$LAN_BRIDGE"
    ip netns exec "$NS" ip link set "$LAN_BRIDGE" up
  fi
  ip netns exec "$NS" ip link add "lan-h$i" type veth peer name eth0 netns "$hns"
  ip netns exec "$NS" ip link set "lan-h$i" master "$LAN_BRIDGE" up
  ip netns exec "$hns" ip link add br-lan type bridge
  ip netns exec "$hns" ip link set eth0 master br-lan up
  ip netns exec "$hns" ip addr add "$(host_addr "$i")/24" dev br-lan
  ip netns exec "$hns" ip link set br-lan up
}

host_start() {
  local i=$1 d hns script entry
  d=$(host_dir "$i")
  hns=$(host_ns "$i")
  script="set -e"
  for entry in "${HOST_MOUNTS[@]}"; do
    script+="; mount --bind $d/${entry%%:*} ${entry#*:}"
  done
  script+="; virtlogd -d -p $d/run-virtlogd.pid; libvirtd -d -p $d/run-libvirtd.pid; /usr/sbin/sshd -f $d/ssh/sshd_config"
  if [[ ! -d /run/sshd ]]; then   # sshd's privilege separation directory
    mkdir -p /run/sshd && echo /run/sshd >> "$HOSTS_DIR/made-dirs"
  fi
  ip netns exec "$hns" unshare -m --propagation private sh -c "$script"
  for _ in $(seq 1 300); do
    virsh -c "$(host_uri "$i")" version >/dev/null 2>&1 && break
    sleep 0.1
  done
  virsh -c "$(host_uri "$i")" version >/dev/null 2>&1 || die "libvirtd of host h$i does not answer (see $d/log/libvirt/)"
  for name in virtlogd libvirtd sshd; do
    host_live_pid "$d/run-$name.pid" "$hns" >/dev/null || die "$name of host h$i did not start"
  done
  log "host h$i: namespace $hns, $(host_addr "$i"), libvirtd pid $(host_live_pid "$d/run-libvirtd.pid" "$hns"), sshd pid $(host_live_pid "$d/run-sshd.pid" "$hns")"
}

# Whether every daemon of hosts 1..N runs.
hosts_alive() {
  local i name
  for i in $(seq 1 "$1"); do
    for name in virtlogd libvirtd sshd; do
      host_live_pid "$(host_dir "$i")/run-$name.pid" "$(host_ns "$i")" >/dev/null || return 1
    done
  done
}

hosts_up() {
  local n=$1 i
  if ! [[ $n =~ ^[1-9]$ ]]; then die "--hosts: give 1 to 9, not '$n'"; fi
  if ((n == $(hosts_count))) && hosts_alive "$n"; then
    log "hosts already up: $n"
    return 0
  fi
  hosts_down
  mkdir -p "$HOSTS_DIR"
  [[ -f $HOSTS_DIR/id_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C strata-lab -f "$HOSTS_DIR/id_ed25519"
  : > "$HOSTS_DIR/known_hosts"
  for i in $(seq 1 "$n"); do
    host_setup_dirs "$i"
    host_network "$i"
    host_start "$i"
    echo "$(host_addr "$i") $(cut -d' ' -f1,2 "$(host_dir "$i")/ssh/ssh_host_ed25519_key.pub")" >> "$HOSTS_DIR/known_hosts"
  done
  echo "$n" > "$HOSTS_DIR/count"
  # the image server on the LAN address, for the hypervisors' downloads
  if ! live_pid "$RUN/http-lan.pid" >/dev/null; then
    ip netns exec "$NS" setsid "$PY" "$ROOT/tests/lab/httpserver.py" --bind "$LAN_PREFIX.1" --port "$HTTP_PORT" \
      --root "$WWW" --access-log "$LAB_DIR/log/http-lan-access.log" --pidfile "$RUN/http-lan.pid" \
      </dev/null >>"$LAB_DIR/log/http-lan.log" 2>&1 &
    for _ in $(seq 1 100); do
      live_pid "$RUN/http-lan.pid" >/dev/null && break
      sleep 0.1
    done
    live_pid "$RUN/http-lan.pid" >/dev/null || die "the LAN image server did not start (see $LAB_DIR/log/http-lan.log)"
  fi
  for i in $(seq 1 "$n"); do
    ip netns exec "$NS" ssh -q -i "$HOSTS_DIR/id_ed25519" -o UserKnownHostsFile="$HOSTS_DIR/known_hosts" \
      -o StrictHostKeyChecking=yes -o BatchMode=yes "root@$(host_addr "$i")" \
      "curl -sf -o /dev/null http://$LAN_PREFIX.1:$HTTP_PORT/SHA256SUMS && virsh -c qemu:///system -q version >/dev/null" \
      || die "host h$i: SSH, its libvirt or the LAN image server does not answer"
  done
  log "hosts up: $n (SSH as root with $HOSTS_DIR/id_ed25519 from $NS)"
}

hosts_env() {
  local n i
  n=$(hosts_count)
  ((n > 0)) || return 0
  echo "STRATA_LAB_HOSTS=$n"
  echo "STRATA_LAB_HOST_KEY=$HOSTS_DIR/id_ed25519"
  echo "STRATA_LAB_HOST_KNOWN_HOSTS=$HOSTS_DIR/known_hosts"
  echo "STRATA_LAB_HOST_PYTHON=$PY"
  echo "STRATA_LAB_LAN_HTTP=http://$LAN_PREFIX.1:$HTTP_PORT"
  for i in $(seq 1 "$n"); do
    echo "STRATA_LAB_H${i}_ADDR=$(host_addr "$i")"
    echo "STRATA_LAB_H${i}_URI=$(host_uri "$i")"
    echo "STRATA_LAB_H${i}_DIR=$(host_dir "$i")"
    echo "STRATA_LAB_H${i}_NS=$(host_ns "$i")"
  done
}

hosts_down() {
  local i d hns pid name entry
  [[ -d $HOSTS_DIR ]] || return 0
  for d in "$HOSTS_DIR"/h*; do
    [[ -d $d ]] || continue
    i=${d##*/h}
    hns=$(host_ns "$i")
    if host_live_pid "$d/run-libvirtd.pid" "$hns" >/dev/null; then
      for name in $(virsh -q -c "$(host_uri "$i")" list --name 2>/dev/null); do
        virsh -q -c "$(host_uri "$i")" destroy "$name" >/dev/null 2>&1 && log "h$i: destroyed running domain $name"
      done
      for name in $(virsh -q -c "$(host_uri "$i")" net-list --name 2>/dev/null); do
        virsh -q -c "$(host_uri "$i")" net-destroy "$name" >/dev/null 2>&1 && log "h$i: stopped network $name"
      done
    fi
    for name in sshd libvirtd virtlogd; do
      if pid=$(host_live_pid "$d/run-$name.pid" "$hns"); then stop_pid "$pid" "h$i $name"; fi
      rm -f "$d/run-$name.pid"
    done
    if ns_has "$hns"; then
      for pid in $(ip netns pids "$hns" 2>/dev/null); do
        stop_pid "$pid" "h$i leftover $(cat "/proc/$pid/comm" 2>/dev/null || echo process)"
      done
      ip netns delete "$hns"
      log "deleted network namespace $hns"
    fi
    rm -rf "/etc/netns/$hns" "$d"
  done
  if pid=$(live_pid "$RUN/http-lan.pid"); then stop_pid "$pid" "LAN image server"; fi
  rm -f "$RUN/http-lan.pid"
  if ns_exists && ip netns exec "$NS" ip link show "$LAN_BRIDGE" >/dev/null 2>&1; then
    ip netns exec "$NS" ip link del "$LAN_BRIDGE"
  fi
  # the mount points made for the hosts in the root file system (only while still empty)
  if [[ -f $HOSTS_DIR/made-dirs ]]; then
    while read -r d; do rmdir "$d" 2>/dev/null || true; done < "$HOSTS_DIR/made-dirs"
  fi
  rm -rf "$HOSTS_DIR"
}

hosts_status() {
  local n i d hns name pid
  n=$(hosts_count)
  ((n > 0)) || return 0
  echo "hosts: $n"
  for i in $(seq 1 "$n"); do
    d=$(host_dir "$i")
    hns=$(host_ns "$i")
    for name in virtlogd libvirtd sshd; do
      if pid=$(host_live_pid "$d/run-$name.pid" "$hns"); then echo "  h$i $name: running (pid $pid)"; else echo "  h$i $name: stopped"; fi
    done
    echo "  h$i domains: $(virsh -q -c "$(host_uri "$i")" list --all --name 2>/dev/null | tr '\n' ' ')"
  done
}

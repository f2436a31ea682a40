# Shared shell helpers for scripts/* and tests/lab/lab. Source it, do not run it.
# shellcheck shell=bash

die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# The environment every Ansible call of ours gets: the working tree is the
# strata.libvirt under test (never a copy under ~/.ansible), the venv's python.
strata_ansible_env() {
  local root=$1
  export ANSIBLE_COLLECTIONS_PATH="$root/.collections"
  export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
  export PATH="$root/.venv/bin:$PATH"
}

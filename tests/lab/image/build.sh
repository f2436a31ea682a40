#!/usr/bin/env bash
# Build the strata.libvirt lab's test cloud image: a small Debian 12 (bookworm) cloud image made
# from Debian packages only (mmdebstrap + extlinux + systemd-boot), booted by cloud-init from a
# NoCloud seed. It boots under BIOS (SeaBIOS) and under UEFI (OVMF).
#
# Usage: tests/lab/image/build.sh [--force] [--kernel cloud|generic] CACHE_DIR
#
# --kernel: cloud (the default) installs Debian's cloud kernel flavour, as in Debian's genericcloud
# images: virtio only, no AHCI, so a seed on a SATA CD-ROM is not seen. generic installs the standard
# kernel, as in Debian's generic images, and puts ahci, sr_mod and isofs into the initramfs (a SATA
# CD-ROM seed is there before cloud-init looks). The flavour is part of the recipe (below).
#
# The image goes to CACHE_DIR/<recipe>/strata-debian-12.qcow2, where <recipe> is the first 16 hex
# digits of a sha256 over every file under tests/lab/image/ (relative path and contents, sorted by
# path), and of the kernel flavour when it is not cloud. If that file exists, nothing is built
# (unless --force). The image path is printed as the only line on stdout; progress goes to
# stderr. Run as root (loop devices, mounts, chroot).
#
# Recipe:
#   raw sparse 2 GiB file, MBR with two partitions: 1 = a 64 MiB EFI System Partition (FAT32,
#   type ef) from 1 MiB, 2 = the bootable Linux root to the end of the disk (the root must stay
#   the last partition: cloud-init's growpart grows it to the disk's size at first boot);
#   the root attached with losetup --offset/--sizelimit (no partition nodes, no udev), the ESP
#   written in place in the raw file with mkfs.vfat --offset and mtools (no loop device);
#   ext4 without 64bit/metadata_csum_seed/orphan_file (extlinux 6.04 cannot read them);
#   mmdebstrap --variant=apt bookworm + packages.txt, no Recommends, no man/doc/locale files;
#   rootfs-early/ copied in before the packages are installed (initramfs settings: the kernel's
#   postinst builds the initramfs once, already small), rootfs/ copied in afterwards;
#   BIOS: extlinux in /boot/extlinux on the root, syslinux's mbr.bin in the first 440 bytes
#   (it boots the active partition, the root);
#   UEFI: the build host's systemd-boot as \EFI\BOOT\BOOTX64.EFI on the ESP (the removable-media
#   path, booted without NVRAM boot entries), loader.conf (timeout 0) and one entry with a copy
#   of the kernel and initrd on the ESP and the same command line as extlinux. The ESP is not
#   mounted in the guest: a kernel upgrade there would not reach it (the image gets none);
#   systemd-networkd + systemd-resolved (cloud-init renders networkd config on Debian without
#   ifupdown/netplan); apt/e2scrub/fstrim timers masked; no SSH host keys; empty machine-id;
#   fstrim, so blocks freed by mmdebstrap (downloaded .debs) do not end up in the qcow2;
#   fstab by UUID with fsck pass 0 (no root fsck on the critical path to SSH);
#   no CA of the ca-certificates bundle selected (see below);
#   qemu-img convert -O qcow2 (not compressed).
#
# Housekeeping: the build runs in a private mount namespace (see below) under a lock on
# CACHE_DIR/.build.lock, in CACHE_DIR/.build-<recipe>.XXXXXX; the image is renamed into place
# only when complete, and a trap unmounts, detaches the loop device and removes the temp dir on
# any failure. After a successful build, other recipe directories are removed unless a running
# process has a file in them open.
#
# Kernel command line, the same for extlinux and systemd-boot:
#   root=UUID=<uuid> ro console=tty0 console=ttyS0,115200n8 net.ifnames=0
#   ttyS0 comes last so that it is /dev/console: the serial log (virsh console, qemu -serial file)
#   shows the kernel, systemd and cloud-init; net.ifnames=0 names the first NIC eth0 whatever
#   the PCI slot.
set -euo pipefail

IMAGE_NAME=strata-debian-12.qcow2
SUITE=bookworm
MIRROR=http://deb.debian.org/debian
RAW_SIZE=$((2 * 1024 * 1024 * 1024))
ESP_START=$((1024 * 1024))
ESP_SIZE=$((64 * 1024 * 1024))
PART_START=$((ESP_START + ESP_SIZE))
CMDLINE="console=tty0 console=ttyS0,115200n8 net.ifnames=0"

args=("$@")
# Everything but the final path goes to stderr.
exec 3>&1 1>&2

usage() {
	echo "usage: $0 [--force] [--kernel cloud|generic] CACHE_DIR" >&2
	exit 2
}

force=0
kernel=cloud
cache_dir=
while [ $# -gt 0 ]; do
	case "$1" in
	--force) force=1 ;;
	--kernel)
		[ $# -gt 1 ] || usage
		kernel=$2
		shift
		;;
	-h | --help) usage ;;
	-*) usage ;;
	*)
		[ -z "$cache_dir" ] || usage
		cache_dir=$1
		;;
	esac
	shift
done
[ -n "$cache_dir" ] || usage
case "$kernel" in
cloud | generic) ;;
*) usage ;;
esac

recipe_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)

# Recipe hash: relative path + sha256 of every file, sorted by path (byte order).
recipe_hash=$(
	cd "$recipe_dir"
	find . -type f ! -name boot-check.sh -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
	[ "$kernel" = cloud ] || echo "kernel $kernel"
)
recipe_hash=$(printf '%s\n' "$recipe_hash" | sha256sum | cut -c1-16)
mkdir -p "$cache_dir"
cache_dir=$(cd "$cache_dir" && pwd -P)
final_dir=$cache_dir/$recipe_hash
final=$final_dir/$IMAGE_NAME

if [ "$force" = 0 ] && [ -f "$final" ]; then
	echo "$final" >&3
	exit 0
fi

log() { printf '[build.sh %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

[ "$(id -u)" = 0 ] || die "must run as root"

# Build in a private mount namespace. Otherwise a mount namespace created meanwhile (libvirt
# gives every qemu process one) inherits the build mount: our umount then only detaches our
# view, the filesystem stays live elsewhere (not flushed, journal needs recovery) and the loop
# device cannot be detached. In our own namespace the mounts also vanish with the process.
if [ "${STRATA_IMAGE_BUILD_NS:-}" != "$$" ]; then
	exec 1>&3 3>&-
	STRATA_IMAGE_BUILD_NS=$$ exec unshare --mount --propagation private -- "$BASH" "$0" "${args[@]}"
fi
for tool in mmdebstrap extlinux sfdisk losetup mkfs.ext4 blkid qemu-img fstrim systemctl; do
	command -v "$tool" >/dev/null || die "missing host tool: $tool"
done
for tool in mkfs.vfat:dosfstools mmd:mtools mcopy:mtools mdir:mtools; do
	command -v "${tool%%:*}" >/dev/null || die "missing host tool: ${tool%%:*} (Debian package ${tool#*:})"
done
mbr_bin=/usr/lib/syslinux/mbr/mbr.bin
[ -f "$mbr_bin" ] || die "missing $mbr_bin (Debian package syslinux-common)"
sd_boot_efi=/usr/lib/systemd/boot/efi/systemd-bootx64.efi
[ -f "$sd_boot_efi" ] || die "missing $sd_boot_efi (Debian package systemd-boot-efi)"

# One build per cache dir at a time; a build that waited may find the image made meanwhile.
exec 9>"$cache_dir/.build.lock"
flock 9
if [ "$force" = 0 ] && [ -f "$final" ]; then
	echo "$final" >&3
	exit 0
fi
# Holding the lock, any other build dir is left over from a killed build (kill -9 skips the trap).
for stale in "$cache_dir"/.build-*; do
	[ -d "$stale" ] || continue
	log "removing stale $stale"
	if [ -f "$stale/disk.raw" ]; then
		losetup -j "$stale/disk.raw" -O NAME --noheadings | xargs -r -n1 losetup -d || true
	fi
	rm -rf "$stale"
done

start=$SECONDS
tmp=$(mktemp -d "$cache_dir/.build-$recipe_hash.XXXXXX")
mnt=$tmp/root
raw=$tmp/disk.raw
loopdev=
chmod 0755 "$tmp" # apt downloads as _apt, which must reach the target
mkdir "$mnt"

cleanup() {
	local rc=$?
	set +e
	if mountpoint -q "$mnt"; then
		# mmdebstrap unmounts its own /proc, /sys, /dev; -R covers an interrupted run.
		umount -R "$mnt" || umount -R -l "$mnt"
	fi
	[ -z "$loopdev" ] || losetup -d "$loopdev"
	rm -rf "$tmp"
	[ "$rc" = 0 ] || log "FAILED (exit $rc); nothing cached"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "recipe $recipe_hash: building $final"

# Raw sparse disk: the ESP from 1 MiB, then the bootable Linux root to the end.
truncate -s "$RAW_SIZE" "$raw"
printf 'label: dos\nstart=%d, size=%d, type=ef\nstart=%d, type=83, bootable\n' \
	$((ESP_START / 512)) $((ESP_SIZE / 512)) $((PART_START / 512)) |
	sfdisk --quiet --no-reread --no-tell-kernel "$raw"
part_size=$((RAW_SIZE - PART_START))

# The ESP, formatted in place (mkfs.vfat warns that the file is larger than the ESP: it is the
# disk). FAT32 needs >= 65525 clusters: 512-byte ones (-s 1; mkfs.vfat would size them for the
# whole file). mtools reaches it as $esp (file@@byte offset); MTOOLS_SKIP_CHECK: no geometry checks.
mkfs.vfat -F 32 -s 1 -n ESP -h $((ESP_START / 512)) --offset $((ESP_START / 512)) \
	"$raw" $((ESP_SIZE / 1024)) 2>&1 | sed 's/^/mkfs.vfat: /' >&2
esp=$raw@@$ESP_START
export MTOOLS_SKIP_CHECK=1

if [ ! -e /dev/loop-control ]; then
	modprobe loop
fi
loopdev=$(losetup --find --show --offset "$PART_START" --sizelimit "$part_size" "$raw")
log "root partition on $loopdev"

mkfs.ext4 -q -L root -O ^64bit,^metadata_csum_seed,^orphan_file \
	-E lazy_itable_init=0,lazy_journal_init=0 "$loopdev"
root_uuid=$(blkid -o value -s UUID "$loopdev")
mount "$loopdev" "$mnt"

packages=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$recipe_dir/packages.txt" | tr -s '[:space:]' ',' | sed 's/,$//')
# generic: one more initramfs hook, for a seed on a SATA CD-ROM (the initramfs' udev loads them by modalias)
early_hooks=()
if [ "$kernel" = generic ]; then
	packages=${packages/linux-image-cloud-amd64/linux-image-amd64}
	cat >"$tmp/strata-lab-cdrom" <<'EOF'
#!/bin/sh
[ "$1" = prereqs ] && exit 0
. /usr/share/initramfs-tools/hook-functions
manual_add_modules ahci sr_mod isofs
EOF
	early_hooks=(--essential-hook="install -m 0755 '$tmp/strata-lab-cdrom' \"\$1/etc/initramfs-tools/hooks/\"")
fi

log "mmdebstrap $SUITE: $packages"
mmdebstrap \
	--mode=root \
	--variant=apt \
	--format=directory \
	--hook-dir=/usr/share/mmdebstrap/hooks/eatmydata \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-include=/usr/share/locale/locale.alias' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--essential-hook="cp -rT --no-preserve=ownership '$recipe_dir/rootfs-early' \"\$1\"" \
	--essential-hook="chmod 0755 \"\$1/etc/initramfs-tools/hooks/strata-lab\"" \
	"${early_hooks[@]}" \
	--include="$packages" \
	"$SUITE" "$mnt" "$MIRROR"

log "configuring the root filesystem"
cp -rT --no-preserve=ownership "$recipe_dir/rootfs" "$mnt"

echo debian >"$mnt/etc/hostname"
cat >"$mnt/etc/hosts" <<'EOF'
127.0.0.1	localhost
127.0.1.1	debian

::1	localhost ip6-localhost ip6-loopback
ff02::1	ip6-allnodes
ff02::2	ip6-allrouters
EOF
ln -sfn ../run/systemd/resolve/stub-resolv.conf "$mnt/etc/resolv.conf"

# fsck pass 0: no fsck of the root at boot (2.5-6 s under TCG on the critical path to SSH);
# the journal covers unclean shutdowns of these short-lived test VMs.
cat >"$mnt/etc/fstab" <<EOF
# <file system>	<mount point>	<type>	<options>	<dump>	<pass>
UUID=$root_uuid	/	ext4	errors=remount-ro	0	0
EOF

systemctl --root="$mnt" --quiet enable systemd-networkd.service systemd-resolved.service
systemctl --root="$mnt" --quiet mask \
	apt-daily.timer apt-daily-upgrade.timer apt-daily.service apt-daily-upgrade.service \
	e2scrub_all.timer e2scrub_reap.service fstrim.timer

# No CA of Debian's bundle is selected (the guests talk only to the lab): update-ca-certificates, which cloud-init
# runs when a cluster gives a CA, then handles the CAs added only. With the bundle's ~140 selected it forks a few
# times per CA, 87 s under TCG on the critical path of every VM given a CA.
echo '# strata.libvirt lab image: no CA of /usr/share/ca-certificates is selected' >"$mnt/etc/ca-certificates.conf"
chroot "$mnt" update-ca-certificates --fresh >/dev/null
: >"$mnt/etc/ssl/certs/ca-certificates.crt"

# Boot loader: extlinux in /boot/extlinux, pointing at the real kernel and initrd.
kernels=("$mnt"/boot/vmlinuz-*)
if [ "${#kernels[@]}" != 1 ] || [ ! -f "${kernels[0]}" ]; then
	die "expected one kernel, found: ${kernels[*]}"
fi
kver=${kernels[0]##*/vmlinuz-}
[ -f "$mnt/boot/initrd.img-$kver" ] || die "no initrd for $kver"
mkdir -p "$mnt/boot/extlinux"
sed -e "s|@KERNEL@|/boot/vmlinuz-$kver|" \
	-e "s|@INITRD@|/boot/initrd.img-$kver|" \
	-e "s|@ROOT_UUID@|$root_uuid|" \
	-e "s|@CMDLINE@|$CMDLINE|" \
	"$recipe_dir/extlinux.conf.in" >"$mnt/boot/extlinux/extlinux.conf"
extlinux --install "$mnt/boot/extlinux" 2>&1 | sed 's/^/extlinux: /' >&2
log "kernel $kver, initrd $(du -h "$mnt/boot/initrd.img-$kver" | cut -f1)"

# UEFI boot loader: systemd-boot at the removable-media path, one entry, kernel and initrd on
# the ESP (systemd-boot reads only its own partition).
mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries ::/debian
mcopy -i "$esp" "$sd_boot_efi" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$esp" "$mnt/boot/vmlinuz-$kver" "::/debian/vmlinuz-$kver"
mcopy -i "$esp" "$mnt/boot/initrd.img-$kver" "::/debian/initrd.img-$kver"
printf 'timeout 0\ndefault debian.conf\n' >"$tmp/loader.conf"
cat >"$tmp/debian.conf" <<EOF
title Debian 12 (strata.libvirt lab)
linux /debian/vmlinuz-$kver
initrd /debian/initrd.img-$kver
options root=UUID=$root_uuid ro $CMDLINE
EOF
mcopy -i "$esp" "$tmp/loader.conf" ::/loader/loader.conf
mcopy -i "$esp" "$tmp/debian.conf" ::/loader/entries/debian.conf
log "ESP: $(mdir -/ -i "$esp" :: | sed -n 's/^ *\(.*\) free$/\1/p') free"

# Make it a template: no host keys, no machine identity, no caches.
rm -f "$mnt"/etc/ssh/ssh_host_*
: >"$mnt/etc/machine-id"
rm -f "$mnt/var/lib/dbus/machine-id"
ln -s /etc/machine-id "$mnt/var/lib/dbus/machine-id"
rm -f "$mnt/var/lib/systemd/random-seed" "$mnt/var/lib/systemd/credential.secret"
rm -rf "$mnt"/var/lib/apt/lists/* "$mnt"/var/cache/apt/*.bin "$mnt"/var/cache/apt/archives/*.deb
rm -rf "$mnt"/var/lib/cloud/* "$mnt"/var/log/cloud-init*
find "$mnt/var/log" -type f -exec truncate -s 0 {} +
rm -rf "$mnt"/tmp/* "$mnt"/var/tmp/*

log "root filesystem: $(df -h --output=used "$mnt" | tail -1 | tr -d ' ') used"
fstrim "$mnt"
umount "$mnt"
if dumpe2fs -h "$loopdev" 2>/dev/null | grep -q '^Filesystem features:.*needs_recovery'; then
	die "the filesystem was not cleanly unmounted (still mounted in another mount namespace?)"
fi
e2fsck -f -n "$loopdev" >/dev/null || die "e2fsck found problems"
losetup -d "$loopdev"
loopdev=

# syslinux MBR: boot code only (440 bytes), keeps the partition table.
dd if="$mbr_bin" of="$raw" bs=440 count=1 conv=notrunc status=none

log "converting to qcow2"
qemu-img convert -f raw -O qcow2 "$raw" "$tmp/$IMAGE_NAME"
sync "$tmp/$IMAGE_NAME"
mkdir -p "$final_dir"
mv -fT "$tmp/$IMAGE_NAME" "$final"
sync "$final_dir"

# Keep only the newest recipe's image, but never delete a directory in which a running process
# (a VM, a copy) has a file open.
in_use() {
	[ -n "$(find /proc/[0-9]*/fd -mindepth 1 -maxdepth 1 -lname "$1/*" -print -quit 2>/dev/null)" ]
}
for old in "$cache_dir"/*; do
	[ "$old" != "$final_dir" ] || continue
	[[ ${old##*/} =~ ^[0-9a-f]{16}$ ]] || continue
	if in_use "$old"; then
		log "keeping old recipe ${old##*/}: its image is in use"
		continue
	fi
	log "removing old recipe ${old##*/}"
	rm -rf "$old"
done

log "done in $((SECONDS - start)) s: $(du -h "$final" | cut -f1)"
echo "$final" >&3

#!/usr/bin/env bash
# Builds the test VM for `make test-hw` from Debian packages only: Debian's own kernel (unpacked, not
# installed) with its V4L2 (vivid) and 9p modules, busybox, and the bodycam binary and v4l2-ctl with
# the shared libraries ldd lists. Usage: build-image.sh WORKDIR BODYCAM_BINARY
set -euo pipefail
work=$1
bin=$2
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
cd "$work"

kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends:/ {print $2; exit}')
if [ -z "$kpkg" ]; then
    apt-get update -qq
    kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends:/ {print $2; exit}')
fi
kver=${kpkg#linux-image-}
if [ ! -f "kernel/boot/vmlinuz-$kver" ]; then
    rm -rf kernel ./*.deb
    apt-get download "$kpkg" >/dev/null 2>&1 || apt-get download "$kpkg"
    dpkg-deb -x "$kpkg"_*.deb kernel
fi
cp "kernel/boot/vmlinuz-$kver" vmlinuz

root=initramfs
rm -rf "$root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,out,modules,scenarios}
cp /bin/busybox "$root/bin/busybox"
for applet in sh mount umount insmod mkdir cat cp ls sleep sync poweroff echo grep date mknod ln rm chmod dmesg head tail wc wget ifconfig; do
    ln -sf busybox "$root/bin/$applet"
done

# Modules in dependency order: the V4L2 core and vivid, then virtio and 9p for the shared folder.
modules="mc rc-core cec videodev videobuf2-common videobuf2-memops videobuf2-v4l2 videobuf2-vmalloc
         videobuf2-dma-contig v4l2-dv-timings v4l2-tpg vivid
         virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci netfs fscache 9pnet 9pnet_virtio 9p"
: > "$root/modules/order"
for m in $modules; do
    f=$(find "kernel/lib/modules/$kver/kernel" -name "$m.ko" | head -n 1)
    [ -n "$f" ] || { echo "module $m not found in $kpkg" >&2; exit 1; }
    cp "$f" "$root/modules/"
    echo "$m" >> "$root/modules/order"
done

# Programs and every shared library they load, at the same paths (RUNPATHs stay valid).
copy_with_libraries() {
    cp "$1" "$root/bin/"
    ldd "$1" | awk '/=> \// {print $3} /^\s*\/lib/ {print $1}' | while read -r lib; do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
}
copy_with_libraries "$bin"
copy_with_libraries /usr/bin/v4l2-ctl
mkdir -p "$root/lib64"
cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"

cp "$here/init" "$root/init"
cp "$here"/scenarios/* "$root/scenarios/"
chmod +x "$root/init" "$root"/scenarios/*.sh
(cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) > initrd.gz
echo "built $work/vmlinuz ($kpkg) and $work/initrd.gz ($(du -h initrd.gz | cut -f1))"

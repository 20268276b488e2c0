#!/bin/sh
# /init of the kernel matrix initramfs (run by busybox sh as PID 1).
#
# Mounts the pseudo file systems, loads the modules listed in /modules/order
# (veth and what it depends on, taken from the same kernel package), enables
# MPTCP, then runs every test binary listed in /tests/list with -test.v and
# frames its output with markers the host parses from the serial console:
#
#   MPTCPX-MATRIX KERNEL <uname -r>
#   MPTCPX-MATRIX BEGIN <package>
#   ... go test -v output ...
#   MPTCPX-MATRIX END <package> exit=<code>
#   MPTCPX-MATRIX DONE
#
# and powers the machine off. With -no-reboot and panic=-1, a crash of this
# script (a kernel panic) also ends qemu instead of hanging.

export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TMPDIR=/tmp

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm /run /tmp /root
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /dev/shm

# Keep kernel messages (link up, module loading) off the console: they
# would interleave with the test output the host parses. The kernel
# argument matrix.debug keeps them.
grep -q matrix.debug /proc/cmdline || dmesg -n 1

ip link set lo up

if [ -f /modules/order ]; then
	while read -r m; do
		[ -n "$m" ] || continue
		if ! insmod "/modules/$m"; then
			echo "MPTCPX-MATRIX ERROR insmod $m failed"
		fi
	done </modules/order
fi

# Debian's 5.10 kernels are built without MPTCP (no net.mptcp sysctls):
# the tests then see socket(IPPROTO_MPTCP) fail with EPROTONOSUPPORT.
if [ -e /proc/sys/net/mptcp/enabled ]; then
	echo 1 >/proc/sys/net/mptcp/enabled || echo "MPTCPX-MATRIX ERROR cannot set net.mptcp.enabled=1"
else
	echo "MPTCPX-MATRIX NOTE the kernel has no MPTCP (no /proc/sys/net/mptcp)"
fi

# The matrix settings for the tests (strict mode, kernel label, timeout).
. /etc/matrix.env
export MPTCPX_STRICT MPTCPX_KERNEL_MATRIX MPTCPX_KERNEL_MATRIX_KERNEL

# The firmware leaves escape sequences on the console line: start afresh.
echo
echo "MPTCPX-MATRIX KERNEL $(uname -r)"
while read -r name bin; do
	[ -n "$name" ] || continue
	echo "MPTCPX-MATRIX BEGIN $name"
	cd "/tests/$name" || { echo "MPTCPX-MATRIX END $name exit=127"; continue; }
	"/tests/bin/$bin" -test.v -test.timeout "$MATRIX_TEST_TIMEOUT" $MATRIX_TEST_ARGS 2>&1
	rc=$?
	cd /
	echo
	echo "MPTCPX-MATRIX END $name exit=$rc"
done </tests/list
echo "MPTCPX-MATRIX DONE"

sync
poweroff -f

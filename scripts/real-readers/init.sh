#!/bin/busybox sh
# /init of the real-readers test initramfs (busybox-static only).
# Logs the marker given as xst_marker=... on the kernel command line to the
# kernel log, starts named sleepers, says it is ready on the console, idles.
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
marker=$(tr ' ' '\n' < /proc/cmdline | sed -n 's/^xst_marker=//p')
echo "xst: ${marker:-XST-MARKER-missing}" > /dev/kmsg
# A process's name (comm, what crash's ps shows) is set here in a forked
# subshell, which then waits on a sleep child: a named task in wait4.
for n in 1 2 3; do
  ( printf 'xst-sleeper-%s' "$n" > /proc/self/comm; while :; do sleep 100000; done ) &
done
# Wait until the three names are visible before saying ready.
while [ "$(grep -l '^xst-sleeper-' /proc/[0-9]*/comm 2>/dev/null | wc -l)" -lt 3 ]; do sleep 1; done
echo "XST-READY ${marker}" > /dev/console
while :; do sleep 100000; done

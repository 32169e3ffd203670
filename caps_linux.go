//go:build linux && cgo

package main

// The container image gives the binary its capabilities as file capabilities
// (setcap cap_net_raw,cap_net_admin+p), so that it runs as a non-root user. They are
// set "permitted" but not "effective" on purpose: with the effective bit, the kernel
// refuses to exec the file at all (EPERM) unless every listed capability is in the
// container's bounding set, so `docker run` with its default set (NET_RAW, no NET_ADMIN)
// could not start it. Without the bit, the process gets whatever of the two the
// container allows, and this constructor makes them effective.
//
// It is a C constructor because capabilities belong to threads: it runs when the
// process is loaded, before the Go runtime starts its first thread, so every thread
// created later inherits them. For root, or a binary without file capabilities, the
// effective set already equals the permitted one and nothing changes.

/*
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

__attribute__((constructor)) static void sniffer_raise_permitted_caps(void) {
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) != 0) {
		return;
	}
	if (d[0].effective == d[0].permitted && d[1].effective == d[1].permitted) {
		return;
	}
	d[0].effective = d[0].permitted;
	d[1].effective = d[1].permitted;
	syscall(SYS_capset, &h, d); // on failure capture fails later with a clear pcap error
}
*/
import "C"

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The MAC address of the guest's NIC on each of a VM's taps, from its QEMU command
 * line, for the filter that gives a VM its share of a bridge ([Network] Weight=,
 * plan/nettune.h): traffic to the guest is told apart by its destination MAC. Pure.
 *
 * Read: -netdev tap,id=ID,ifname=NAME or fd=N (fds=N:M...: the first), joined to a
 * NIC by -device DRIVER,netdev=ID,mac=MAC or -net nic,netdev=ID,macaddr=MAC; and
 * -nic tap,ifname=NAME,mac=MAC. A NIC without mac= gets one QEMU makes up
 * (net/net.c qemu_macaddr_default_if_unset(): 52:54:00:12:34:56 onwards, in the order
 * NICs are made), which is not guessed here: the bridge's forwarding database has it
 * once the guest sent a frame (kernel/rtnl.h rtnl_fdb_macs()). -netdev and -device
 * in QEMU's JSON form (libvirt's) are read as the key=value form. Not read: NICs
 * added later through QMP. */
#ifndef KVMCG_NICS_H
#define KVMCG_NICS_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm_nic {
	char ifname[IF_NAMESIZE]; /* ifname= of the tap netdev; "" when it is given by fd */
	int fd;                   /* fd= (or the first of fds=) of the tap netdev; -1: none */
	uint8_t mac[6];           /* the NIC's mac= on it */
	bool has_mac;             /* false: a tap netdev no NIC with a mac= uses */
};

/* The tap netdevs of argv[0..argc-1], in order, with their NICs' MACs. 0 and *ret
 * (NULL when there are none; the caller frees it), -ENOMEM. A malformed mac= is left
 * out (QEMU would refuse it). */
int vm_nics_parse(char *const *argv, size_t argc, struct vm_nic **ret, size_t *ret_n);

/* Pure: "52:54:00:12:34:56" (QEMU's and the kernel's form; hex digits either case)
 * into mac. 0 or -EINVAL. */
int mac_parse(const char *s, uint8_t mac[6]);

#endif

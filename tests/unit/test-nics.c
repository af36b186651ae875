// SPDX-License-Identifier: GPL-2.0-or-later
/* vmm/nics: the MAC of the guest's NIC on each tap of a QEMU command line, as
 * libvirt, scripts and people write them. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "basic/util.h"
#include "vmm/nics.h"

static struct vm_nic *parse(const char *const *argv, size_t argc, size_t *n)
{
	struct vm_nic *v = NULL;
	cr_assert_eq(vm_nics_parse((char *const *)argv, argc, &v, n), 0); /* it does not write them */
	return v;
}

Test(nics, netdev_and_device_by_name_and_by_fd)
{
	const char *argv[] = {"qemu-system-x86_64", "-netdev", "tap,id=n0,ifname=vnet0,script=no",
			"-device", "virtio-net-pci,netdev=n0,mac=52:54:00:AA:bb:01,bus=pci.0",
			/* libvirt passes the tap as an fd */
			"-netdev", "{\"type\":\"tap\",\"fd\":\"31\",\"id\":\"hostnet1\"}",
			"-netdev", "tap,fds=33:34,id=hostnet2,vhost=on",
			"-device", "virtio-net-pci,mq=on,netdev=hostnet2,id=net2,mac=52:54:00:00:00:02",
			"-netdev", "tap,id=n3,ifname=vnet3", /* no NIC with a mac= */
			"-netdev", "user,id=u0", "-device", "e1000,netdev=u0,mac=52:54:00:00:00:09"};
	size_t n;
	struct vm_nic *v = parse(argv, ARRAY_SIZE(argv), &n);
	cr_assert_eq(n, 4, "the tap netdevs (JSON too); user networking is not read");
	cr_assert_str_eq(v[0].ifname, "vnet0");
	cr_assert(v[0].has_mac);
	cr_assert_eq(memcmp(v[0].mac, (uint8_t[]){0x52, 0x54, 0, 0xaa, 0xbb, 1}, 6), 0);
	cr_assert_eq(v[1].fd, 31, "libvirt's JSON -netdev, its fd");
	cr_assert(!v[1].has_mac, "no NIC names it");
	cr_assert_eq(v[2].fd, 33, "the first of fds=");
	cr_assert_str_eq(v[2].ifname, "");
	cr_assert(v[2].has_mac && v[2].mac[5] == 2);
	cr_assert_str_eq(v[3].ifname, "vnet3");
	cr_assert(!v[3].has_mac);
	free(v);
}

Test(nics, json_device_as_libvirt_writes_it)
{
	const char *argv[] = {"qemu", "-netdev", "{\"type\":\"tap\",\"fd\":\"31\",\"vhost\":true,\"id\":\"hostnet0\"}",
			"-device",
			"{\"driver\":\"virtio-net-pci\",\"netdev\":\"hostnet0\",\"id\":\"net0\",\"mac\":\"52:54:00:8f:1a:2b\","
			"\"bus\":\"pci.1\",\"addr\":\"0x0\"}",
			"-netdev", "tap,id=n1,ifname=rv2a5", "-device", "{\"driver\":\"virtio-net-pci\",\"netdev\":\"n1\",\"mac\":\"52:54:00:aa:bb:05\"}",
			"-device", "{not json"};
	size_t n;
	struct vm_nic *v = parse(argv, ARRAY_SIZE(argv), &n);
	cr_assert_eq(n, 2);
	cr_assert(v[0].fd == 31 && v[0].has_mac && v[0].mac[3] == 0x8f);
	cr_assert(v[1].has_mac && v[1].mac[5] == 5);
	cr_assert_str_eq(v[1].ifname, "rv2a5");
	free(v);
}

Test(nics, nic_shorthand_legacy_net_and_bad_macs)
{
	const char *argv[] = {"qemu", "-nic", "tap,ifname=tap7,mac=02:00:00:00:00:07,model=virtio",
			"-net", "nic,netdev=h1,macaddr=02:00:00:00:00:08", "-netdev", "tap,id=h1,fd=12",
			"-netdev", "tap,id=h2,ifname=tap9", "-device", "virtio-net,netdev=h2,mac=02:00:00:00:0:9"};
	size_t n;
	struct vm_nic *v = parse(argv, ARRAY_SIZE(argv), &n);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(v[0].ifname, "tap7");
	cr_assert(v[0].has_mac && v[0].mac[5] == 7);
	cr_assert(v[1].fd == 12 && v[1].has_mac && v[1].mac[5] == 8, "-net nic joins a netdev given after it");
	cr_assert(!v[2].has_mac, "a malformed mac= is left out");
	free(v);
	uint8_t m[6];
	cr_assert_eq(mac_parse("52:54:00:12:34:56", m), 0);
	cr_assert_eq(mac_parse("52-54-00-12-34-56", m), -EINVAL);
	cr_assert_eq(mac_parse("52:54:00:12:34:567", m), -EINVAL);
	cr_assert_eq(mac_parse("52:54:00:12:34", m), -EINVAL);
}

// SPDX-License-Identifier: GPL-2.0-or-later
/* vmm/disks: the VM's disk files from QEMU command lines as libvirt, virt-manager,
 * scripts and people write them. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "basic/util.h"
#include "vmm/disks.h"

struct want {
	const char *path, *option;
	bool local, cdrom, readonly;
};

#define PARSE(argv, ...) check((char *const *)(argv), ARRAY_SIZE(argv), (const struct want[]){__VA_ARGS__}, \
			       sizeof((const struct want[]){__VA_ARGS__}) / sizeof(struct want))

static void check(char *const *argv, size_t argc, const struct want *w, size_t nw)
{
	struct vm_disk *v = NULL;
	size_t n = 99;
	cr_assert_eq(vm_disks_parse(argv, argc, &v, &n), 0);
	for (size_t i = 0; i < n; i++)
		cr_log_info("disk %zu: %s (%s) local=%d cdrom=%d ro=%d", i, v[i].path, v[i].option, v[i].local,
			    v[i].cdrom, v[i].readonly);
	cr_assert_eq(n, nw, "%zu disks, expected %zu", n, nw);
	for (size_t i = 0; i < n; i++) {
		cr_expect_str_eq(v[i].path, w[i].path);
		cr_expect_str_eq(v[i].option, w[i].option);
		cr_expect_eq(v[i].local, w[i].local, "%s local", v[i].path);
		cr_expect_eq(v[i].cdrom, w[i].cdrom, "%s cdrom", v[i].path);
		cr_expect_eq(v[i].readonly, w[i].readonly, "%s readonly", v[i].path);
	}
	vm_disks_free(v, n);
}

Test(disks, none)
{
	const char *argv[] = {"qemu-system-x86_64", "-m", "1G", "-smp", "2", "-nographic"};
	struct vm_disk *v = (void *)1;
	size_t n = 9;
	cr_assert_eq(vm_disks_parse((char *const *)argv, ARRAY_SIZE(argv), &v, &n), 0);
	cr_expect_eq(n, 0);
	cr_expect_null(v);
}

Test(disks, drive_with_escaped_commas)
{
	const char *argv[] = {"qemu-system-x86_64", "-drive", "file=/var/lib/vm/a,,b.qcow2,format=qcow2,if=virtio",
			      "-drive", "if=none,id=d1,file=/dev/vg/data,format=raw,readonly=on"};
	PARSE(argv, {"/var/lib/vm/a,b.qcow2", "drive", true, false, false},
	      {"/dev/vg/data", "drive", true, false, true});
}

Test(disks, cdrom_listed_and_marked)
{
	const char *argv[] = {"qemu-system-x86_64", "-cdrom", "/iso/debian.iso", "-drive",
			      "file=/iso/virtio-win.iso,media=cdrom,if=ide", "-drive", "if=ide,media=cdrom"};
	PARSE(argv, {"/iso/debian.iso", "cdrom", true, true, false},
	      {"/iso/virtio-win.iso", "drive", true, true, false});
}

Test(disks, hd_options_and_implied_hda)
{
	const char *argv[] = {"qemu-system-x86_64", "disk0.img", "-hdb", "/vm/b.img", "-hdc", "file:/vm/c.img",
			      "-m", "512", "-fda", "/vm/floppy.img", "-pflash", "/vm/OVMF_VARS.fd"};
	PARSE(argv, {"disk0.img", "hda", true, false, false}, {"/vm/b.img", "hdb", true, false, false},
	      {"/vm/c.img", "hdc", true, false, false}, {"/vm/floppy.img", "fda", true, false, false},
	      {"/vm/OVMF_VARS.fd", "pflash", true, false, false});
}

Test(disks, drive_file_filename)
{
	const char *argv[] = {"qemu-system-x86_64", "-drive",
			      "driver=qcow2,file.driver=file,file.filename=/vm/x.qcow2,if=virtio", "-drive",
			      "driver=raw,file.driver=host_device,file.filename=/dev/sdb", "-drive",
			      "driver=file,filename=/vm/raw.img"};
	PARSE(argv, {"/vm/x.qcow2", "drive", true, false, false}, {"/dev/sdb", "drive", true, false, false},
	      {"/vm/raw.img", "drive", true, false, false});
}

Test(disks, blockdev_dotted)
{
	/* libvirt before 9.x: a protocol node and a format node on top of it */
	const char *argv[] = {"qemu-system-x86_64", "-blockdev",
			      "driver=file,filename=/var/lib/libvirt/images/vm.qcow2,node-name=libvirt-1-storage,"
			      "auto-read-only=on,discard=unmap",
			      "-blockdev", "node-name=libvirt-1-format,read-only=off,driver=qcow2,file=libvirt-1-storage",
			      "-blockdev", "driver=qcow2,node-name=n2,file.driver=file,file.filename=/vm/n2.qcow2,read-only=on",
			      "-blockdev", "driver=host_cdrom,filename=/dev/sr0,node-name=cd,read-only=on"};
	PARSE(argv, {"/var/lib/libvirt/images/vm.qcow2", "blockdev", true, false, false},
	      {"/vm/n2.qcow2", "blockdev", true, false, true}, {"/dev/sr0", "blockdev", true, true, true});
}

Test(disks, blockdev_json)
{
	/* libvirt 9.x and later */
	const char *argv[] = {
		"qemu-system-x86_64", "-blockdev",
		"{\"driver\":\"file\",\"filename\":\"/var/lib/libvirt/images/a,b.qcow2\",\"node-name\":\"s1\","
		"\"auto-read-only\":true,\"discard\":\"unmap\"}",
		"-blockdev", "{\"node-name\":\"f1\",\"read-only\":false,\"driver\":\"qcow2\",\"file\":\"s1\"}",
		"-blockdev",
		"{\"driver\":\"qcow2\",\"node-name\":\"f2\",\"read-only\":true,\"file\":{\"driver\":\"host_device\","
		"\"filename\":\"/dev/mapper/vg-vm2\"},\"backing\":{\"driver\":\"qcow2\",\"file\":{\"driver\":\"file\","
		"\"filename\":\"/vm/base.qcow2\"}}}",
		"-blockdev", "{\"driver\":\"nbd\",\"server\":{\"type\":\"inet\",\"host\":\"10.0.0.5\",\"port\":\"10809\"},"
			     "\"export\":\"disk\",\"node-name\":\"n\"}",
		"-blockdev", "{not json"};
	PARSE(argv, {"/var/lib/libvirt/images/a,b.qcow2", "blockdev", true, false, false},
	      {"/dev/mapper/vg-vm2", "blockdev", true, false, true}, {"/vm/base.qcow2", "blockdev", true, false, true},
	      {"nbd://10.0.0.5", "blockdev", false, false, false});
}

Test(disks, network_protocols_not_local)
{
	const char *argv[] = {"qemu-system-x86_64",
			      "-drive", "file=nbd://10.0.0.5:10809/disk,format=raw",
			      "-drive", "file=nbd:unix:/run/nbd.sock:exportname=x",
			      "-drive", "file=iscsi://192.0.2.1/iqn.2001-04.com.example:storage/1",
			      "-drive", "file=rbd:pool/image:id=admin",
			      "-drive", "file=https://example.org/cloud.img,readonly=on",
			      "-drive", "driver=qcow2,file.driver=nbd,file.host=192.0.2.7,file.export=e",
			      "-blockdev", "driver=iscsi,transport=tcp,portal=192.0.2.1,target=iqn.x,lun=0,node-name=i",
			      "-hdd", "ssh://user@host/vm.img"};
	PARSE(argv, {"nbd://10.0.0.5:10809/disk", "drive", false, false, false},
	      {"nbd:unix:/run/nbd.sock:exportname=x", "drive", false, false, false},
	      {"iscsi://192.0.2.1/iqn.2001-04.com.example:storage/1", "drive", false, false, false},
	      {"rbd:pool/image:id=admin", "drive", false, false, false},
	      {"https://example.org/cloud.img", "drive", false, false, true},
	      {"nbd://192.0.2.7", "drive", false, false, false}, {"iscsi", "blockdev", false, false, false},
	      {"ssh://user@host/vm.img", "hdd", false, false, false});
}

Test(disks, json_pseudo_protocol_and_duplicates)
{
	const char *argv[] = {"qemu-system-x86_64", "-drive",
			      "file=json:{\"driver\":\"qcow2\",\"file\":{\"driver\":\"file\",\"filename\":\"/vm/j.qcow2\"}}",
			      "-drive", "file=/vm/j.qcow2,if=virtio", "-drive", "file=host_device:/dev/sdc"};
	PARSE(argv, {"/vm/j.qcow2", "drive", true, false, false}, {"/dev/sdc", "drive", true, false, false});
}

Test(disks, options_that_take_values_are_skipped)
{
	/* values of other options never read as images (-name's value, -object's) */
	const char *argv[] = {"qemu-system-x86_64", "-name", "guest=vm,debug-threads=on", "-object",
			      "iothread,id=io1", "-device", "virtio-blk-pci,drive=d0", "-S", "-drive",
			      "id=d0,if=none,file=/vm/d0.raw"};
	PARSE(argv, {"/vm/d0.raw", "drive", true, false, false});
}

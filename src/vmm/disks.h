/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The VM's own disks from its QEMU command line, for a policy's `auto` device: the
 * files and devices its block drivers open. Pure.
 *
 * Read: -drive file=PATH (",," is a comma, as QemuOpts has it), -drive with
 * file.filename= or driver=file,filename=, -blockdev in its dotted form
 * (driver=file,filename=PATH, file.driver=file,file.filename=PATH, at any depth) and
 * its JSON form ('{"driver":"file","filename":"..."}', nested "file" objects
 * included), -drive file=json:{...}, -hda..-hdd, -fda, -fdb, -cdrom, -sd, -mtdblock,
 * -pflash, and an argument that is no option (QEMU's implied -hda).
 * Every file= is a disk, whatever its if= (if=none drives are attached by -device).
 * A CD-ROM (media=cdrom, -cdrom, driver host_cdrom) is listed too, marked cdrom:
 * its reads are the VM's I/O on the host's device like any other.
 * A filename with a protocol prefix ("nbd:", "nbd://", "iscsi://", "rbd:",
 * "http(s)://", "ssh://", "gluster://", "nfs://", "nvme://", ...) or a block driver
 * of those protocols is not local: no host block device carries it. "file:",
 * "host_device:" and "host_cdrom:" are QEMU's local protocols and are stripped.
 * Not seen here: backing files named inside an image (qcow2's backing chain), and
 * disks added later through QMP (blockdev-add). */
#ifndef KVMCG_DISKS_H
#define KVMCG_DISKS_H

#include <stdbool.h>
#include <stddef.h>

struct vm_disk {
	char *path;         /* local: the file or device as QEMU opens it; not local: the
			     * filename as given, or "DRIVER://HOST" when there is none */
	const char *option; /* where it came from: "drive", "blockdev", "hda", "cdrom", ...;
			     * static */
	bool local;
	bool cdrom;
	bool readonly;      /* readonly=on (-drive), read-only=on (-blockdev) */
};

/* The disks of argv[0..argc-1] (argv[0] the program), in order, each path once.
 * 0 and *ret (NULL when there are none; vm_disks_free), -ENOMEM. A -blockdev whose
 * JSON does not parse is skipped (QEMU would refuse it). */
int vm_disks_parse(char *const *argv, size_t argc, struct vm_disk **ret, size_t *ret_n);
void vm_disks_free(struct vm_disk *v, size_t n);

#endif

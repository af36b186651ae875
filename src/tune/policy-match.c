// SPDX-License-Identifier: GPL-2.0-or-later
#include "tune/policy-match.h"

#include <errno.h>
#include <fnmatch.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vmm/pidfile.h"
#include "kernel/procfs.h"
#include "basic/util.h"

/* argv joined by single spaces, as Cmdline= globs see a command line; NULL when out
 * of memory. */
static char *joined_argv(char *const *argv, size_t argc)
{
	size_t len = 1;
	for (size_t i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	char *joined = calloc(1, len);
	for (size_t i = 0; joined && i < argc; i++) {
		if (i)
			strcat(joined, " ");
		strcat(joined, argv[i]);
	}
	return joined;
}

static bool argv_matches(const char *glob, char *const *argv, size_t argc)
{
	_cleanup_free_ char *joined = joined_argv(argv, argc);
	return joined && fnmatch(glob, joined, 0) == 0;
}

static bool cmdline_matches(const char *glob, const struct vm *vm, int proc_fd)
{
	_cleanup_strv_ char **argv = NULL;
	size_t argc = 0;
	if (proc_read_cmdline(proc_fd, vm->pid, &argv, &argc) < 0 || argc == 0)
		return false;
	return argv_matches(glob, argv, argc);
}

/* The socket the policy names is one of the VM's QMP sockets when both paths lead
 * to the same inode; the VM's own paths are resolved in its root and cwd. */
static bool qmp_matches(const char *path, const struct vm *vm)
{
	struct stat want;
	if (stat(path, &want) < 0)
		return false;
	for (size_t i = 0; i < vm->qemu.n_qmp_paths; i++) {
		const char *p = vm->qemu.qmp_paths[i];
		_cleanup_free_ char *full = NULL;
		struct stat have;
		if (p[0] == '@' || vm_socket_path(vm, p, &full) < 0)
			continue;
		if (stat(full, &have) == 0 && have.st_dev == want.st_dev && have.st_ino == want.st_ino)
			return true;
	}
	return false;
}

bool policy_matches(const struct policy *p, const struct vm *vm, int proc_fd)
{
	if (!p->match_name && !p->match_pidfile && !p->match_cmdline && !p->match_qmp)
		return false;
	if (p->match_name && (!vm->name || fnmatch(p->match_name, vm->name, 0) != 0))
		return false;
	if (p->match_pidfile) {
		pid_t pid;
		if (pidfile_read_locked(p->match_pidfile, &pid, NULL) < 0 || pid != vm->pid)
			return false;
	}
	if (p->match_cmdline && !cmdline_matches(p->match_cmdline, vm, proc_fd))
		return false;
	if (p->match_qmp && !qmp_matches(p->match_qmp, vm))
		return false;
	return true;
}

bool policy_matches_launch(const struct policy *p, const char *name, char *const *argv, size_t argc)
{
	if (!p->match_name && !p->match_cmdline)
		return false;
	if (p->match_pidfile || p->match_qmp)
		return false;
	if (p->match_name && (!name || fnmatch(p->match_name, name, 0) != 0))
		return false;
	return !p->match_cmdline || argv_matches(p->match_cmdline, argv, argc);
}

/* Bits per second to bytes, rounded up (without overflow at 2^64-1 bits). */
static uint64_t bytes_of_bits(uint64_t bits)
{
	return bits / 8 + (bits % 8 != 0);
}

int policy_to_request(const struct policy *p, struct tune_request *a, char ***skipped, size_t *n_skipped)
{
	int r = 0;
	for (size_t i = 0; r == 0 && i < p->n_vcpu_pins; i++)
		r = tune_request_add_vcpu(a, &p->vcpu_pins[i]);
	if (r == 0 && p->emulator_pin && !a->emulator && !(a->emulator = idset_dup(p->emulator_pin)))
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < p->n_iothread_pins; i++)
		r = tune_request_add_iothread(a, p->iothread_ids[i], p->iothread_pins[i]);
	if (r < 0)
		return r;
	if (p->mem_nodes && !a->mems) {
		if (!(a->mems = idset_dup(p->mem_nodes)))
			return -ENOMEM;
		a->mem_policy = p->mem_policy;
		a->no_migrate = p->mem_migrate == 0;
	}

#define SKIP(cond, text)                                                                           \
	do {                                                                                       \
		if (r == 0 && (cond))                                                              \
			r = strv_push(skipped, n_skipped, text);                                   \
	} while (0)
	a->cputune.weight = p->cpu_weight;
	a->cputune.quota_set = p->quota_set;
	a->cputune.quota_percent = p->quota_percent;
	a->cputune.period_us = p->period_us;
	if (p->vcpu_sched_set) {
		a->cputune.sched_set = true;
		a->cputune.sched_policy = p->vcpu_sched_policy;
		a->cputune.sched_priority = p->vcpu_sched_priority;
	}
	for (size_t i = 0; r == 0 && i < p->n_cell_nodes; i++)
		r = tune_request_add_cell(a, &p->cell_nodes[i]);
	/* QEMU binds a backend to its host nodes when it makes it, at start only */
	SKIP(p->n_cell_nodes, POLICY_SKIPPED_CELL_NODES);
	a->io_weight = p->io_weight;
	a->io_given = p->io_section;
	for (size_t i = 0; r == 0 && i < p->n_io; i++)
		r = tune_request_add_io(a, &p->io[i]);
	/* the file says bits per second (tc's and libvirt's unit), the tune bytes */
	a->net.in = (struct net_rate){bytes_of_bits(p->inbound_average), bytes_of_bits(p->inbound_peak),
				      p->inbound_burst};
	a->net.out = (struct net_rate){bytes_of_bits(p->outbound_average), bytes_of_bits(p->outbound_peak),
				       p->outbound_burst};
	/* a [Network] section, even one without a rate, says what the taps should have */
	a->net.weight = p->net_weight;
	a->net.bridge_total = bytes_of_bits(p->bridge_inbound_average);
	a->net_given = p->n_interfaces || p->inbound_average || p->outbound_average || p->net_weight;
	for (size_t i = 0; r == 0 && i < p->n_interfaces; i++)
		r = strv_push(&a->net.interfaces, &a->net.n_interfaces, p->interfaces[i]);
#undef SKIP
	return r;
}


// SPDX-License-Identifier: GPL-2.0-or-later
/* libFuzzer target for the QEMU command line kvmcg run is given: NUL-separated
 * arguments, as fuzz-cmdline takes /proc/PID/cmdline (run starts what its user typed,
 * and the result runs as root's child). The input is split with proc_cmdline_split(),
 * then qemu_launch_inspect() (-S, -daemonize, -numa node, -object memory-backend-* in
 * both syntaxes, with -name, -pidfile and the QMP sockets from qemu_config_parse()),
 * then qemu_launch_build() asking -S, a private QMP socket whose path has a comma, and
 * host nodes for every cell that names a memdev. What it builds is inspected again:
 * it must say what was asked. Checks what holds for every input and frees
 * everything; a failed check aborts. See README.md. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/err.h"
#include "basic/idset.h"
#include "kernel/procfs.h"
#include "vmm/qemu-launch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz-launch: check failed at %s:%d: %s\n", __FILE__,      \
				__LINE__, #cond);                                                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define QMP_PATH "/run/kvmcg/fu,zz.qmp"
#define CELLS_MAX 8

static void check_str(const char *s, size_t len)
{
	if (s)
		CHECK(strnlen(s, len + 2) <= len + 1); /* +1: the '@' of an abstract socket */
}

/* What inspect found is in range and points into argv. */
static void check_info(const struct qemu_launch_info *i, size_t argc, size_t len)
{
	check_str(i->name, len);
	check_str(i->pidfile, len);
	for (size_t k = 0; k < i->n_qmp_paths; k++)
		check_str(i->qmp_paths[k], len);
	CHECK(i->n_qmp_paths == 0 || i->qmp_paths[i->n_qmp_paths] == NULL);
	for (size_t k = 0; k < i->n_cells; k++) {
		const struct qemu_numa_cell *c = &i->cells[k];
		CHECK(c->argi >= 2 && c->argi < argc);
		CHECK(c->nodeid >= 0 && c->nodeid < QEMU_MAX_NODES);
		CHECK(c->legacy_mem == (c->mem != NULL));
		CHECK(!(c->mem && c->memdev));
		check_str(c->memdev, len);
		for (size_t j = 0; j < k; j++)
			CHECK(i->cells[j].nodeid != c->nodeid);
	}
	for (size_t k = 0; k < i->n_backends; k++) {
		const struct qemu_backend *b = &i->backends[k];
		CHECK(b->argi >= 2 && b->argi < argc);
		CHECK(b->type && strncmp(b->type, "memory-backend-", 15) == 0);
		CHECK(b->id);
		check_str(b->id, len);
		CHECK(!b->host_nodes || idset_last(b->host_nodes) < QEMU_MAX_NODES);
		CHECK((unsigned)b->policy <= QEMU_HOST_POLICY_INTERLEAVE);
		CHECK(b->policy_given || b->policy == QEMU_HOST_POLICY_DEFAULT);
		for (size_t j = 0; j < k; j++)
			CHECK(strcmp(i->backends[j].id, b->id) != 0);
	}
}

static const struct qemu_backend *backend_of(const struct qemu_launch_info *i, int cell)
{
	for (size_t k = 0; k < i->n_cells; k++)
		if (i->cells[k].nodeid == cell && i->cells[k].memdev)
			for (size_t j = 0; j < i->n_backends; j++)
				if (strcmp(i->backends[j].id, i->cells[k].memdev) == 0)
					return &i->backends[j];
	return NULL;
}

static void free_strv(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

/* What was built, inspected again, says what was asked; the user's arguments are
 * there in order, a backend's value only lengthened (keyval) or rewritten (JSON). */
static void check_built(char *const *argv, size_t argc, const struct qemu_launch_info *before,
			const struct qemu_launch_add *add, char **out, char **added, size_t len)
{
	size_t n_out = 0, n_added = 0;
	while (out[n_out])
		n_out++;
	while (added[n_added])
		CHECK(added[n_added++][0]);
	size_t extra = (add->add_S && !before->has_S) + (add->qmp_path ? 2 : 0);
	CHECK(n_out == argc + extra);
	CHECK(n_added <= add->n_cells + 2);
	CHECK(strcmp(out[0], argv[0]) == 0);
	size_t skip = 1 + (add->add_S && !before->has_S);
	for (size_t i = 1; i < argc; i++) {
		const char *o = out[i - 1 + skip];
		bool backend = false;
		for (size_t k = 0; k < before->n_backends; k++)
			backend |= before->backends[k].argi == i;
		if (!backend)
			CHECK(strcmp(o, argv[i]) == 0);
		else if (argv[i][0] != '{')
			CHECK(strncmp(o, argv[i], strlen(argv[i])) == 0);
	}

	struct qemu_launch_info after;
	err_clear();
	int r = qemu_launch_inspect(out, n_out, &after);
	if (r == -ENOMEM)
		return;
	CHECK(r == 0);
	check_info(&after, n_out, len + 4096);
	CHECK(after.has_S == (before->has_S || add->add_S));
	CHECK(after.daemonize == before->daemonize);
	CHECK(after.n_cells == before->n_cells);
	CHECK(after.n_backends == before->n_backends);
	CHECK(after.n_qmp_paths == before->n_qmp_paths + (add->qmp_path ? 1 : 0));
	if (add->qmp_path) { /* the -qmp ones come before those of -chardev and -mon */
		bool found = false;
		for (size_t k = 0; k < after.n_qmp_paths; k++)
			found |= strcmp(after.qmp_paths[k], add->qmp_path) == 0;
		CHECK(found);
	}
	for (size_t k = 0; k < add->n_cells; k++) {
		const struct qemu_backend *b = backend_of(&after, add->cells[k].cell);
		CHECK(b);
		CHECK(b->host_nodes && idset_equal(b->host_nodes, add->cells[k].nodes));
		CHECK(b->policy_given && b->policy == add->cells[k].policy);
	}
	qemu_launch_info_done(&after);
}

static void build(char *const *argv, size_t argc, const struct qemu_launch_info *info, size_t len,
		  struct idset *const *sets)
{
	struct qemu_cell_nodes cells[CELLS_MAX];
	size_t n = 0;
	static const enum qemu_host_policy policies[] = {QEMU_HOST_POLICY_BIND, QEMU_HOST_POLICY_PREFERRED,
							 QEMU_HOST_POLICY_INTERLEAVE};
	for (size_t k = 0; k < info->n_cells && n < CELLS_MAX; k++)
		if (info->cells[k].memdev) {
			cells[n] = (struct qemu_cell_nodes){.cell = info->cells[k].nodeid, .nodes = sets[k % 3],
							    .policy = policies[k % 3]};
			/* the backend's own values, when it has some, so that not all fail */
			const struct qemu_backend *b = backend_of(info, cells[n].cell);
			if (b && b->host_nodes)
				cells[n].nodes = b->host_nodes;
			if (b && b->policy_given && b->policy != QEMU_HOST_POLICY_DEFAULT)
				cells[n].policy = b->policy;
			n++;
		}
	for (int pass = 0; pass < 2; pass++) {
		struct qemu_launch_add add = {.add_S = pass == 0, .qmp_path = pass == 0 ? QMP_PATH : NULL,
					      .cells = cells, .n_cells = pass == 0 ? n : 0};
		char **out = (char **)&add, **added = (char **)&add;
		err_clear();
		int r = qemu_launch_build(argv, argc, info, &add, &out, &added);
		if (r < 0) {
			CHECK(r == -ENOENT || r == -EINVAL || r == -EEXIST || r == -ERANGE || r == -ENOMEM);
			CHECK(r == -ENOMEM || (err_get() && err_get()[0]));
			CHECK(out == (char **)&add && added == (char **)&add);
			/* without cells, only an empty argv or memory can fail */
			CHECK(pass == 0 || argc == 0 || r == -ENOMEM);
			continue;
		}
		CHECK(argc > 0);
		check_built(argv, argc, info, &add, out, added, len);
		free_strv(out);
		free_strv(added);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char **argv = NULL;
	size_t argc = 0;
	if (proc_cmdline_split((const char *)data, size, &argv, &argc) < 0)
		return 0; /* out of memory only */
	struct idset *sets[3] = {idset_new(), NULL, NULL};
	(void)idset_parse("0,2-3", &sets[1], NULL);
	(void)idset_parse("127", &sets[2], NULL);
	if (sets[0])
		(void)idset_set(sets[0], 0);

	struct qemu_launch_info info;
	err_clear();
	int r = qemu_launch_inspect(argv, argc, &info);
	if (r == 0) {
		check_info(&info, argc, size);
		if (sets[0] && sets[1] && sets[2])
			build(argv, argc, &info, size, sets);
		qemu_launch_info_done(&info);
	} else {
		CHECK(r == -EINVAL || r == -ENOMEM);
		CHECK(r == -ENOMEM || (err_get() && err_get()[0]));
	}
	for (size_t i = 0; i < 3; i++)
		idset_free(sets[i]);
	for (size_t i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
	return 0;
}

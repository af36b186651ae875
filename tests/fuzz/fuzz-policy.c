// SPDX-License-Identifier: GPL-2.0-or-later
/* libFuzzer target for the policy-file parser: policy_parse() on arbitrary bytes,
 * then checks that hold for every input, then frees everything. A broken check
 * aborts, which libFuzzer reports as a crash with the input saved. See README.md. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/sched.h"
#include "tune/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz-policy: check failed at %s:%d: %s\n", __FILE__,      \
				__LINE__, #cond);                                                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* The byte length of each line of buf, '\n' excluded: *ret_n lines, as the
 * parser counts them (no line after a final '\n'). */
static size_t *line_lengths(const char *buf, size_t len, size_t *ret_n)
{
	size_t n = 0, cap = 16;
	size_t *v = malloc(cap * sizeof(*v));
	CHECK(v);
	for (size_t pos = 0; pos < len;) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - (buf + pos)) : len - pos;
		if (n == cap) {
			cap *= 2;
			v = realloc(v, cap * sizeof(*v));
			CHECK(v);
		}
		v[n++] = l;
		pos += l + 1;
	}
	*ret_n = n;
	return v;
}

static void check_diags(const struct diags *d, const char *buf, size_t len)
{
	size_t n_lines;
	size_t *lines = line_lengths(buf, len, &n_lines);
	size_t errors = 0;
	for (size_t i = 0; i < d->n; i++) {
		const struct diag *g = &d->v[i];
		CHECK(g->level == DIAG_ERROR || g->level == DIAG_WARNING);
		errors += g->level == DIAG_ERROR;
		CHECK(g->message && g->message[0]);
		/* one diagnostic, one output line */
		CHECK(!strchr(g->message, '\n'));
		/* sorted by position, file-level ones (line 0) first */
		if (i > 0) {
			const struct diag *prev = &d->v[i - 1];
			CHECK(prev->line < g->line || (prev->line == g->line && prev->col <= g->col));
		}
		if (g->line == 0) {
			CHECK(g->col == 0);
			continue;
		}
		/* the position is in the input: a byte of the line, or just after it */
		CHECK(g->line <= n_lines);
		CHECK(g->col >= 1 && g->col <= lines[g->line - 1] + 1);
	}
	free(lines);
	CHECK(errors == d->errors);
	if (len == 0)
		CHECK(d->errors == 1);
}

static void check_policy(const struct policy *p)
{
	CHECK(p->cpu_weight <= 10000 && p->io_weight <= 10000 && p->net_weight <= 10000);
	CHECK(!p->quota_set || p->quota_percent <= 100000);
	CHECK(p->period_us == 0 || (p->period_us >= 1000 && p->period_us <= 1000000));
	CHECK(!p->vcpu_sched_set || strcmp(sched_policy_name(p->vcpu_sched_policy), "unknown") != 0);
	if (p->vcpu_sched_set && sched_policy_is_rt(p->vcpu_sched_policy))
		CHECK(p->vcpu_sched_priority >= 1 && p->vcpu_sched_priority <= 99);
	else
		CHECK(p->vcpu_sched_priority == 0);
	CHECK(p->exclusive >= -1 && p->exclusive <= 1);
	CHECK(p->mem_migrate >= -1 && p->mem_migrate <= 1);
	CHECK(p->mem_policy <= MEM_POLICY_RESTRICTIVE);
	if (p->mem_nodes)
		CHECK(idset_count(p->mem_nodes) > 0 && p->mem_policy != MEM_POLICY_UNSET);
	if (p->emulator_pin)
		CHECK(idset_count(p->emulator_pin) > 0);
	for (size_t i = 0; i < p->n_vcpu_pins; i++) {
		const struct vcpu_arg *a = &p->vcpu_pins[i];
		CHECK((a->first == -1 && a->last == -1) || (a->first >= 0 && a->first <= a->last));
		CHECK(a->cpus && idset_count(a->cpus) > 0);
		CHECK(p->vcpu_pins_at[i].line >= 1);
	}
	for (size_t i = 0; i < p->n_cell_nodes; i++) {
		const struct cell_nodes *c = &p->cell_nodes[i];
		CHECK(c->cell < 128);
		CHECK(c->nodes && idset_count(c->nodes) > 0 && idset_last(c->nodes) < 128);
		/* a MODE left unset only where Policy=restrictive made it an error */
		CHECK(c->mode == MEM_POLICY_STRICT || c->mode == MEM_POLICY_PREFERRED ||
		      c->mode == MEM_POLICY_INTERLEAVE ||
		      (c->mode == MEM_POLICY_UNSET && p->mem_policy == MEM_POLICY_RESTRICTIVE));
		CHECK(p->cell_nodes_at[i].line >= 1);
		for (size_t j = 0; j < i; j++)
			CHECK(p->cell_nodes[j].cell != c->cell);
	}
	for (size_t i = 0; i < p->n_iothread_pins; i++) {
		CHECK(p->iothread_ids[i] && p->iothread_ids[i][0]);
		CHECK(p->iothread_pins[i] && idset_count(p->iothread_pins[i]) > 0);
	}
	for (size_t i = 0; i < p->n_io; i++) {
		CHECK(p->io[i].path && (p->io[i].path[0] == '/' || strcmp(p->io[i].path, IO_PATH_AUTO) == 0));
		CHECK(p->io[i].value > 0);
	}
	for (size_t i = 0; i < p->n_interfaces; i++)
		CHECK(p->interfaces[i] && p->interfaces[i][0]);
	CHECK(!p->interfaces || !p->interfaces[p->n_interfaces]);
	CHECK(!p->match_pidfile || p->match_pidfile[0] == '/');
	CHECK(!p->match_qmp || p->match_qmp[0] == '/');
}

/* What diags_print() writes: one line per diagnostic, "FILE:LINE:COL: " or
 * "kvmcg: FILE: " first, with FILE and the message escaped: no control byte but the
 * line ends, however the input (and the file's name) was made. */
#define FUZZ_FILE "fuzz\x1b.policy"
#define FUZZ_FILE_ESCAPED "fuzz\\x1b.policy"

static void check_printed(const struct diags *d)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	CHECK(f);
	diags_print(d, FUZZ_FILE, f);
	CHECK(fclose(f) == 0);
	size_t lines = 0;
	for (char *line = out; line < out + len; lines++) {
		char *nl = memchr(line, '\n', (size_t)(out + len - line));
		CHECK(nl); /* every line ends */
		CHECK(lines < d->n);
		const struct diag *g = &d->v[lines];
		if (g->line)
			CHECK(strncmp(line, FUZZ_FILE_ESCAPED ":", strlen(FUZZ_FILE_ESCAPED ":")) == 0);
		else
			CHECK(strncmp(line, "kvmcg: " FUZZ_FILE_ESCAPED ": ", strlen("kvmcg: " FUZZ_FILE_ESCAPED ": ")) ==
			      0);
		for (const unsigned char *c = (const unsigned char *)line; c < (const unsigned char *)nl; c++) {
			CHECK(*c >= 0x20 && *c != 0x7f);
			CHECK(!(*c == 0xc2 && c + 1 < (const unsigned char *)nl && c[1] >= 0x80 && c[1] <= 0x9f));
		}
		line = nl + 1;
	}
	CHECK(lines == d->n);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diags d = {0};
	struct policy *p = NULL;
	int r = policy_parse((const char *)data, size, &p, &d);
	if (r == 0) {
		CHECK(p);
		check_diags(&d, (const char *)data, size);
		check_policy(p);
		check_printed(&d);
	}
	policy_free(p);
	diags_done(&d);
	return 0;
}

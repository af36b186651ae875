/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Growable CPU / NUMA-node sets and the kernel's list syntax ("0-3,8,16-31:2").
 * Never a fixed cpu_set_t: hosts with more than 1024 CPUs exist. */
#ifndef KVMCG_CPUSET_H
#define KVMCG_CPUSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Like systemd: a bit number above this is a typo, not a CPU. */
#define CPUSET_MAX_BITS 8192u

struct cpuset {
	uint64_t *words;
	size_t nwords;
};

void cpuset_free(struct cpuset *s);
static inline void cpuset_freep(struct cpuset **s)
{
	cpuset_free(*s);
}
#define _cleanup_cpuset_ __attribute__((cleanup(cpuset_freep)))

struct cpuset *cpuset_new(void);
/* A copy; NULL for NULL (and when out of memory for a non-NULL set). */
struct cpuset *cpuset_dup(const struct cpuset *s);
int cpuset_set(struct cpuset *s, unsigned bit);
bool cpuset_isset(const struct cpuset *s, unsigned bit);
unsigned cpuset_count(const struct cpuset *s);
bool cpuset_equal(const struct cpuset *a, const struct cpuset *b);
bool cpuset_is_subset(const struct cpuset *sub, const struct cpuset *super);
/* Highest set bit, or -1 when empty. */
int cpuset_last(const struct cpuset *s);

/* Parse a list ("0-3,8,16-31:2"; blanks and a trailing newline allowed around it).
 * Empty input gives an empty set. On error returns -EINVAL (syntax) or -ERANGE
 * (bit >= CPUSET_MAX_BITS or reversed range) and, when err_offset is given,
 * the byte offset of the offending item. */
int cpuset_parse(const char *s, struct cpuset **ret, size_t *err_offset);

/* Canonical list form ("0-3,8"); empty set gives "". Caller frees. */
char *cpuset_format(const struct cpuset *s);

/* virsh-style map over bits 0..width-1: 'y' set, '-' clear. Caller frees. */
char *cpuset_format_map(const struct cpuset *s, unsigned width);

#endif

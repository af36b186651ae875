/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Growable CPU / NUMA-node sets and the kernel's list syntax ("0-3,8,16-31:2").
 * Never a fixed cpu_set_t: hosts with more than 1024 CPUs exist. */
#ifndef KVMCG_IDSET_H
#define KVMCG_IDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Like systemd: a bit number above this is a typo, not a CPU. */
#define CPUSET_MAX_BITS 8192u

struct idset {
	uint64_t *words;
	size_t nwords;
};

void idset_free(struct idset *s);
static inline void idset_freep(struct idset **s)
{
	idset_free(*s);
}
#define _cleanup_cpuset_ __attribute__((cleanup(idset_freep)))

struct idset *idset_new(void);
/* A copy; NULL for NULL (and when out of memory for a non-NULL set). */
struct idset *idset_dup(const struct idset *s);
int idset_set(struct idset *s, unsigned bit);
bool idset_isset(const struct idset *s, unsigned bit);
unsigned idset_count(const struct idset *s);
bool idset_equal(const struct idset *a, const struct idset *b);
bool idset_is_subset(const struct idset *sub, const struct idset *super);
/* The ids in both a and b (an empty set when none); NULL: out of memory. */
struct idset *idset_intersect(const struct idset *a, const struct idset *b);
/* Highest set bit, or -1 when empty. */
int idset_last(const struct idset *s);

/* Parse a list ("0-3,8,16-31:2"; blanks and a trailing newline allowed around it).
 * Empty input gives an empty set. On error returns -EINVAL (syntax) or -ERANGE
 * (bit >= CPUSET_MAX_BITS or reversed range) and, when err_offset is given,
 * the byte offset of the offending item. */
int idset_parse(const char *s, struct idset **ret, size_t *err_offset);

/* Canonical list form ("0-3,8"); empty set gives "". Caller frees. */
char *idset_format(const struct idset *s);

/* virsh-style map over bits 0..width-1: 'y' set, '-' clear. Caller frees. */
char *idset_format_map(const struct idset *s, unsigned width);

#endif

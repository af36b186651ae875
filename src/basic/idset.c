// SPDX-License-Identifier: GPL-2.0-or-later
#include "basic/idset.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/util.h"

void idset_free(struct idset *s)
{
	if (!s)
		return;
	free(s->words);
	free(s);
}

struct idset *idset_new(void)
{
	return calloc(1, sizeof(struct idset));
}

struct idset *idset_dup(const struct idset *s)
{
	if (!s)
		return NULL;
	struct idset *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	if (s->nwords) {
		d->words = malloc(s->nwords * sizeof(uint64_t));
		if (!d->words) {
			free(d);
			return NULL;
		}
		memcpy(d->words, s->words, s->nwords * sizeof(uint64_t));
		d->nwords = s->nwords;
	}
	return d;
}

int idset_set(struct idset *s, unsigned bit)
{
	if (bit >= CPUSET_MAX_BITS)
		return -ERANGE;
	size_t w = bit / 64;
	if (w >= s->nwords) {
		size_t n = w + 1;
		uint64_t *nw = realloc(s->words, n * sizeof(uint64_t));
		if (!nw)
			return -ENOMEM;
		memset(nw + s->nwords, 0, (n - s->nwords) * sizeof(uint64_t));
		s->words = nw;
		s->nwords = n;
	}
	s->words[w] |= UINT64_C(1) << (bit % 64);
	return 0;
}

bool idset_isset(const struct idset *s, unsigned bit)
{
	size_t w = bit / 64;
	return w < s->nwords && (s->words[w] >> (bit % 64)) & 1;
}

unsigned idset_count(const struct idset *s)
{
	unsigned n = 0;
	for (size_t i = 0; i < s->nwords; i++)
		n += (unsigned)__builtin_popcountll(s->words[i]);
	return n;
}

static uint64_t word_at(const struct idset *s, size_t i)
{
	return i < s->nwords ? s->words[i] : 0;
}

bool idset_equal(const struct idset *a, const struct idset *b)
{
	size_t n = a->nwords > b->nwords ? a->nwords : b->nwords;
	for (size_t i = 0; i < n; i++)
		if (word_at(a, i) != word_at(b, i))
			return false;
	return true;
}

bool idset_is_subset(const struct idset *sub, const struct idset *super)
{
	for (size_t i = 0; i < sub->nwords; i++)
		if (sub->words[i] & ~word_at(super, i))
			return false;
	return true;
}

struct idset *idset_intersect(const struct idset *a, const struct idset *b)
{
	struct idset *r = idset_new();
	for (int c = 0; r && c <= idset_last(a); c++)
		if (idset_isset(a, (unsigned)c) && idset_isset(b, (unsigned)c) && idset_set(r, (unsigned)c) < 0) {
			idset_free(r);
			return NULL;
		}
	return r;
}

int idset_last(const struct idset *s)
{
	for (size_t i = s->nwords; i-- > 0;)
		if (s->words[i])
			return (int)(i * 64 + 63 - (unsigned)__builtin_clzll(s->words[i]));
	return -1;
}

static int parse_bit(const char **p, unsigned *ret)
{
	if (!isdigit((unsigned char)**p))
		return -EINVAL;
	unsigned long v = 0;
	while (isdigit((unsigned char)**p)) {
		v = v * 10 + (unsigned long)(**p - '0');
		if (v >= CPUSET_MAX_BITS)
			return -ERANGE;
		(*p)++;
	}
	*ret = (unsigned)v;
	return 0;
}

int idset_parse(const char *s, struct idset **ret, size_t *err_offset)
{
	struct idset *set _cleanup_cpuset_ = idset_new();
	if (!set)
		return -ENOMEM;

	const char *p = s;
	while (isspace((unsigned char)*p))
		p++;
	const char *end = s + strlen(s);
	while (end > p && isspace((unsigned char)end[-1]))
		end--;

	while (p < end) {
		const char *item = p;
		unsigned first, last, stride = 1;
		int r = parse_bit(&p, &first);
		if (r < 0)
			goto fail;
		last = first;
		if (*p == '-') {
			p++;
			r = parse_bit(&p, &last);
			if (r < 0)
				goto fail;
			if (last < first) {
				r = -ERANGE;
				goto fail;
			}
			if (*p == ':') {
				p++;
				r = parse_bit(&p, &stride);
				if (r < 0)
					goto fail;
				if (stride == 0) {
					r = -EINVAL;
					goto fail;
				}
			}
		}
		if (p < end && *p != ',') {
			r = -EINVAL;
			goto fail;
		}
		for (unsigned b = first; b <= last; b += stride) {
			r = idset_set(set, b);
			if (r < 0)
				goto fail;
		}
		if (p < end) {
			p++; /* ',' */
			if (p == end) { /* trailing comma */
				item = p;
				r = -EINVAL;
				goto fail;
			}
		}
		continue;
	fail:
		if (err_offset)
			*err_offset = (size_t)(item - s);
		return r;
	}
	*ret = TAKE_PTR(set);
	return 0;
}

char *idset_format(const struct idset *s)
{
	size_t cap = 64, len = 0;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	out[0] = '\0';
	int last = idset_last(s);
	for (int b = 0; b <= last; b++) {
		if (!idset_isset(s, (unsigned)b))
			continue;
		int e = b;
		while (e + 1 <= last && idset_isset(s, (unsigned)e + 1))
			e++;
		char item[32];
		int n = e > b ? snprintf(item, sizeof(item), "%s%d-%d", len ? "," : "", b, e)
			      : snprintf(item, sizeof(item), "%s%d", len ? "," : "", b);
		if (len + (size_t)n + 1 > cap) {
			cap = (len + (size_t)n + 1) * 2;
			char *no = realloc(out, cap);
			if (!no) {
				free(out);
				return NULL;
			}
			out = no;
		}
		memcpy(out + len, item, (size_t)n + 1);
		len += (size_t)n;
		b = e;
	}
	return out;
}

char *idset_format_map(const struct idset *s, unsigned width)
{
	char *out = malloc(width + 1);
	if (!out)
		return NULL;
	for (unsigned b = 0; b < width; b++)
		out[b] = idset_isset(s, b) ? 'y' : '-';
	out[width] = '\0';
	return out;
}

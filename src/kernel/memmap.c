// SPDX-License-Identifier: GPL-2.0-or-later
#include "kernel/memmap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/util.h"

void memmap_entry_done(struct memmap_entry *e)
{
	free(e->path);
	free(e->node_pages);
	*e = (struct memmap_entry){0};
}

void memmap_done(struct memmap *m)
{
	for (size_t i = 0; i < m->n; i++)
		memmap_entry_done(&m->v[i]);
	free(m->v);
	*m = (struct memmap){0};
}

/* A decimal count of the line, whole: "123" of "anon=123". */
static int parse_count(const char *s, size_t len, uint64_t *ret)
{
	if (len == 0 || len > 20)
		return -EINVAL;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

static int parse_hex(const char *s, size_t len, uint64_t *ret)
{
	if (len == 0 || len > 16)
		return -EINVAL;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
			     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
						      : 16;
		if (d == 16)
			return -EINVAL;
		v = v << 4 | d;
	}
	*ret = v;
	return 0;
}

static bool is_octal(char c)
{
	return c >= '0' && c <= '7';
}

/* seq_file_path()'s escapes undone: "\ooo" (three octal digits, the first 0-3) is
 * that byte. */
static char *unescape(const char *s, size_t len)
{
	char *out = malloc(len + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && len - i >= 4 && s[i + 1] >= '0' && s[i + 1] <= '3' && is_octal(s[i + 2]) &&
		    is_octal(s[i + 3])) {
			out[o++] = (char)((s[i + 1] - '0') << 6 | (s[i + 2] - '0') << 3 | (s[i + 3] - '0'));
			i += 3;
			continue;
		}
		out[o++] = s[i];
	}
	out[o] = '\0';
	return out;
}

/* Whether a word of the line is one show_numa_map() writes after the policy. */
static bool is_field(const char *w, size_t len)
{
	static const char *const words[] = {"heap", "stack", "huge"};
	for (size_t i = 0; i < ARRAY_SIZE(words); i++)
		if (len == strlen(words[i]) && strncmp(w, words[i], len) == 0)
			return true;
	const char *eq = memchr(w, '=', len);
	if (!eq || eq == w)
		return false;
	for (const char *p = w; p < eq; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

static int set_node(struct memmap_entry *e, unsigned node, uint64_t pages)
{
	if (node >= MEMMAP_NODES_MAX)
		return -EINVAL;
	if (node >= e->n_nodes) {
		uint64_t *n = realloc(e->node_pages, (node + 1) * sizeof(*n));
		if (!n)
			return -ENOMEM;
		memset(n + e->n_nodes, 0, (node + 1 - e->n_nodes) * sizeof(*n));
		e->node_pages = n;
		e->n_nodes = node + 1;
	}
	e->node_pages[node] = pages;
	return 0;
}

/* One "key=value" or word after the policy. */
static int parse_field(struct memmap_entry *e, const char *w, size_t len)
{
	const char *eq = memchr(w, '=', len);
	if (!eq) {
		e->heap |= len == 4 && strncmp(w, "heap", 4) == 0;
		e->stack |= len == 5 && strncmp(w, "stack", 5) == 0;
		e->huge |= len == 4 && strncmp(w, "huge", 4) == 0;
		return 0;
	}
	size_t klen = (size_t)(eq - w);
	const char *v = eq + 1;
	size_t vlen = len - klen - 1;
	uint64_t n;
#define KEY(k) (klen == strlen(k) && strncmp(w, k, klen) == 0)
	if (KEY("file")) {
		free(e->path);
		e->path = unescape(v, vlen);
		return e->path ? 0 : -ENOMEM;
	}
	if (w[0] == 'N' && klen > 1 && parse_count(w + 1, klen - 1, &n) == 0) {
		uint64_t pages;
		if (n >= MEMMAP_NODES_MAX || parse_count(v, vlen, &pages) < 0)
			return -EINVAL;
		return set_node(e, (unsigned)n, pages);
	}
	uint64_t *target = KEY("anon") ? &e->anon_pages : KEY("dirty") ? &e->dirty_pages
						  : KEY("mapped")  ? &e->mapped_pages
								   : NULL;
	if (KEY("kernelpagesize_kB")) {
		if (parse_count(v, vlen, &n) < 0 || n > UINT64_MAX / 1024)
			return -EINVAL;
		e->page_size = n * 1024;
		return 0;
	}
#undef KEY
	if (!target)
		return 0; /* mapmax=, swapcache=, active=, writeback=, and what comes later */
	return parse_count(v, vlen, target);
}

int memmap_parse_numa_line(const char *line, struct memmap_entry *ret)
{
	struct memmap_entry e = {0};
	const char *end = line + strcspn(line, "\n");
	const char *p = line;
	const char *sp = memchr(p, ' ', (size_t)(end - p));
	if (!sp || parse_hex(p, (size_t)(sp - p), &e.start) < 0)
		return -EINVAL;
	/* The policy runs up to the first word that is a field: it may hold blanks
	 * ("prefer (many)=static:0-1", "weighted interleave:0-1"). */
	p = sp + 1;
	const char *policy = p;
	const char *policy_end = end;
	while (p < end) {
		const char *w_end = memchr(p, ' ', (size_t)(end - p));
		if (!w_end)
			w_end = end;
		if (p > policy && is_field(p, (size_t)(w_end - p))) {
			policy_end = p - 1;
			break;
		}
		p = w_end < end ? w_end + 1 : end;
	}
	/* The first word is the policy whatever it holds ("bind=relative:1"): a mode
	 * a later kernel adds is still a policy. */
	size_t plen = (size_t)(policy_end - policy);
	if (plen == 0 || plen >= sizeof(e.policy))
		return -EINVAL;
	memcpy(e.policy, policy, plen);
	e.policy[plen] = '\0';
	int r = 0;
	for (p = policy_end < end ? policy_end + 1 : end; r == 0 && p < end;) {
		const char *w_end = memchr(p, ' ', (size_t)(end - p));
		if (!w_end)
			w_end = end;
		if (w_end > p)
			r = parse_field(&e, p, (size_t)(w_end - p));
		p = w_end < end ? w_end + 1 : end;
	}
	/* the bytes it stands for must be countable */
	for (unsigned i = 0; r == 0 && i < e.n_nodes; i++)
		if (e.page_size && e.node_pages[i] > UINT64_MAX / e.page_size)
			r = -EINVAL;
	if (r < 0) {
		memmap_entry_done(&e);
		return r;
	}
	*ret = e;
	return 0;
}

/* "start-end perms offset dev inode   path": start, end, 's' in perms, and the path
 * (the rest of the line; maps escapes only newlines). */
static int parse_maps_line(const char *line, size_t len, uint64_t *start, uint64_t *end, bool *shared,
			   const char **path, size_t *path_len)
{
	const char *dash = memchr(line, '-', len);
	const char *sp = memchr(line, ' ', len);
	if (!dash || !sp || dash > sp || parse_hex(line, (size_t)(dash - line), start) < 0 ||
	    parse_hex(dash + 1, (size_t)(sp - dash - 1), end) < 0 || *end < *start)
		return -EINVAL;
	const char *perms = sp + 1;
	if ((size_t)(perms - line) + 4 > len)
		return -EINVAL;
	*shared = perms[3] == 's';
	/* four more fields: perms, offset, dev, inode */
	const char *p = perms;
	const char *lend = line + len;
	for (int f = 0; f < 4; f++) {
		const char *s = memchr(p, ' ', (size_t)(lend - p));
		if (!s) {
			if (f < 3)
				return -EINVAL;
			p = lend;
			break;
		}
		p = s + 1;
	}
	while (p < lend && *p == ' ')
		p++;
	*path = p;
	*path_len = (size_t)(lend - p);
	return 0;
}

int memmap_parse(const char *numa_maps, const char *maps, struct memmap *ret, size_t *ret_line)
{
	struct memmap m = {0};
	size_t line_no = 0;
	int r = 0;
	for (const char *l = numa_maps; r == 0 && *l;) {
		size_t len = strcspn(l, "\n");
		line_no++;
		if (len) {
			struct memmap_entry *n = realloc(m.v, (m.n + 1) * sizeof(*n));
			r = n ? 0 : -ENOMEM;
			if (n)
				m.v = n;
			if (r == 0 && (r = memmap_parse_numa_line(l, &m.v[m.n])) == 0)
				m.n++;
		}
		l += len + (l[len] == '\n');
	}
	/* maps, in the same address order: each of its lines gives the entry of its
	 * start its end and path */
	size_t i = 0;
	if (r == 0 && maps)
		line_no = 0;
	for (const char *l = maps; r == 0 && l && *l;) {
		size_t len = strcspn(l, "\n");
		line_no++;
		uint64_t start, end;
		bool shared;
		const char *path;
		size_t plen;
		if (len && (r = parse_maps_line(l, len, &start, &end, &shared, &path, &plen)) == 0) {
			while (i < m.n && m.v[i].start < start)
				i++;
			if (i < m.n && m.v[i].start == start) {
				m.v[i].end = end;
				m.v[i].shared = shared;
				if (plen) {
					char *copy = strndup(path, plen);
					r = copy ? 0 : -ENOMEM;
					if (copy) {
						free(m.v[i].path);
						m.v[i].path = copy;
					}
				}
			}
		}
		l += len + (l[len] == '\n');
	}
	if (r < 0) {
		if (ret_line)
			*ret_line = line_no;
		memmap_done(&m);
		return r;
	}
	*ret = m;
	return 0;
}

int memmap_read(int proc_fd, pid_t pid, struct memmap *ret)
{
	char path[64];
	_cleanup_free_ char *numa = NULL, *maps = NULL;
	snprintf(path, sizeof(path), "%d/numa_maps", (int)pid);
	/* seq_file, one mapping per line: read to the end, not to the first short read */
	int r = read_file_at_whole(proc_fd, path, &numa, NULL);
	if (r == 0) {
		snprintf(path, sizeof(path), "%d/maps", (int)pid);
		r = read_file_at_whole(proc_fd, path, &maps, NULL);
	}
	if (r < 0)
		return r == -ESRCH ? -ENOENT : r;
	return memmap_parse(numa, maps, ret, NULL);
}

uint64_t memmap_entry_node_bytes(const struct memmap_entry *e, unsigned node)
{
	return node < e->n_nodes ? e->node_pages[node] * e->page_size : 0;
}

uint64_t memmap_entry_bytes(const struct memmap_entry *e)
{
	uint64_t sum = 0;
	for (unsigned i = 0; i < e->n_nodes; i++) {
		uint64_t b = memmap_entry_node_bytes(e, i);
		sum = sum > UINT64_MAX - b ? UINT64_MAX : sum + b; /* only a forged line gets there */
	}
	return sum;
}

// SPDX-License-Identifier: GPL-2.0-or-later
/* cpuset: the kernel's list syntax, both ways, and set algebra. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "basic/idset.h"
#include "basic/util.h"

/* Builds a set from explicit bit numbers, independent of the parser. */
static struct idset *set_of(const unsigned *bits, size_t n)
{
	struct idset *s = idset_new();
	cr_assert_not_null(s);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(idset_set(s, bits[i]), 0);
	return s;
}

static struct idset *parse_ok(const char *text)
{
	struct idset *s = NULL;
	size_t off = 12345;
	int r = idset_parse(text, &s, &off);
	cr_assert_eq(r, 0, "idset_parse(\"%s\") = %d", text, r);
	cr_assert_not_null(s);
	return s;
}

/* Parses, expects an error; returns the error offset. */
static size_t parse_err(const char *text, int expected)
{
	struct idset *s = NULL;
	size_t off = (size_t)-1;
	int r = idset_parse(text, &s, &off);
	cr_assert_eq(r, expected, "idset_parse(\"%s\") = %d, expected %d", text, r, expected);
	cr_assert_null(s, "no set is returned on error");
	cr_assert_neq(off, (size_t)-1, "err_offset is set on error");
	cr_assert_leq(off, strlen(text));
	/* the same input without err_offset fails the same way */
	cr_assert_eq(idset_parse(text, &s, NULL), expected);
	return off;
}

/* parse -> format gives `canonical`; parse(canonical) gives the same set. */
static void check_round_trip(const char *text, const char *canonical, const struct idset *expected)
{
	struct idset *s _cleanup_cpuset_ = parse_ok(text);
	cr_assert(idset_equal(s, expected), "set parsed from \"%s\"", text);
	_cleanup_free_ char *f = idset_format(s);
	cr_assert_str_eq(f, canonical, "format of \"%s\"", text);
	struct idset *again _cleanup_cpuset_ = parse_ok(f);
	cr_assert(idset_equal(again, s), "\"%s\" parses back to the same set", f);
	_cleanup_free_ char *f2 = idset_format(again);
	cr_assert_str_eq(f2, f);
}

Test(cpuset, round_trip_ranges_and_stride)
{
	unsigned bits[32];
	size_t n = 0;
	for (unsigned b = 0; b <= 3; b++)
		bits[n++] = b;
	bits[n++] = 8;
	for (unsigned b = 16; b <= 31; b += 2)
		bits[n++] = b;
	struct idset *e _cleanup_cpuset_ = set_of(bits, n);
	check_round_trip("0-3,8,16-31:2", "0-3,8,16,18,20,22,24,26,28,30", e);
	cr_assert_eq(idset_count(e), 4 + 1 + 8);
	cr_assert_eq(idset_last(e), 30);
}

Test(cpuset, round_trip_empty)
{
	struct idset *e _cleanup_cpuset_ = idset_new();
	check_round_trip("", "", e);
	check_round_trip("  \n", "", e);
	struct idset *s _cleanup_cpuset_ = parse_ok("");
	cr_assert_eq(idset_count(s), 0);
	cr_assert_eq(idset_last(s), -1);
}

Test(cpuset, round_trip_blanks_and_newline)
{
	static const unsigned bits[] = {1, 3};
	struct idset *e _cleanup_cpuset_ = set_of(bits, ARRAY_SIZE(bits));
	check_round_trip("  1,3\n", "1,3", e);
	cr_assert_eq(idset_count(e), 2);
}

Test(cpuset, round_trip_stride_only)
{
	unsigned bits[16];
	size_t n = 0;
	for (unsigned b = 0; b <= 31; b += 2)
		bits[n++] = b;
	struct idset *e _cleanup_cpuset_ = set_of(bits, n);
	check_round_trip("0-31:2", "0,2,4,6,8,10,12,14,16,18,20,22,24,26,28,30", e);
	cr_assert_eq(idset_count(e), 16);
}

Test(cpuset, round_trip_merges_adjacent_items)
{
	static const unsigned bits[] = {0, 1, 2, 3, 4, 5, 7};
	struct idset *e _cleanup_cpuset_ = set_of(bits, ARRAY_SIZE(bits));
	/* unsorted, overlapping and adjacent items collapse into one canonical list */
	check_round_trip("5,0-2,3,2-4,7", "0-5,7", e);
}

Test(cpuset, round_trip_across_words)
{
	static const unsigned bits[] = {63, 64, 65, 127, 128, 1000};
	struct idset *e _cleanup_cpuset_ = set_of(bits, ARRAY_SIZE(bits));
	check_round_trip("63-65,127-128,1000", "63-65,127-128,1000", e);
	cr_assert_eq(idset_last(e), 1000);
}

Test(cpuset, error_trailing_comma)
{
	cr_assert_eq(parse_err("0,1,", -EINVAL), strlen("0,1,"));
	cr_assert_eq(parse_err("0-3,\n", -EINVAL), strlen("0-3,"));
}

Test(cpuset, error_reversed_range)
{
	cr_assert_eq(parse_err("3-1", -ERANGE), 0);
	cr_assert_eq(parse_err("0,7-6", -ERANGE), strlen("0,"));
}

Test(cpuset, error_not_a_number)
{
	cr_assert_eq(parse_err("a", -EINVAL), 0);
	cr_assert_eq(parse_err("1,x", -EINVAL), 2);
	cr_assert_eq(parse_err("1-", -EINVAL), 0);
	cr_assert_eq(parse_err("-1", -EINVAL), 0);
	cr_assert_eq(parse_err("1 2", -EINVAL), 0);
	cr_assert_eq(parse_err("0-7:0", -EINVAL), 0); /* a zero stride never ends */
	cr_assert_eq(parse_err("0-7:", -EINVAL), 0);
}

Test(cpuset, error_empty_item)
{
	cr_assert_eq(parse_err("1,,2", -EINVAL), 2);
	cr_assert_eq(parse_err(",1", -EINVAL), 0);
}

Test(cpuset, error_out_of_range)
{
	cr_assert_eq(parse_err("8192", -ERANGE), 0);
	cr_assert_eq(parse_err("0,8192", -ERANGE), 2);
	cr_assert_eq(parse_err("0-8192", -ERANGE), 0);
	cr_assert_eq(parse_err("99999999999999999999999", -ERANGE), 0);
}

Test(cpuset, largest_range_is_accepted)
{
	struct idset *s _cleanup_cpuset_ = parse_ok("0-8191");
	cr_assert_eq(idset_count(s), CPUSET_MAX_BITS);
	cr_assert_eq(idset_last(s), (int)CPUSET_MAX_BITS - 1);
	_cleanup_free_ char *f = idset_format(s);
	cr_assert_str_eq(f, "0-8191");
}

Test(cpuset, set_and_isset_bounds)
{
	struct idset *s _cleanup_cpuset_ = idset_new();
	cr_assert_eq(idset_set(s, CPUSET_MAX_BITS), -ERANGE);
	cr_assert_eq(idset_count(s), 0);
	cr_assert_eq(idset_set(s, CPUSET_MAX_BITS - 1), 0);
	cr_assert(idset_isset(s, CPUSET_MAX_BITS - 1));
	cr_assert_not(idset_isset(s, CPUSET_MAX_BITS - 2));
	cr_assert_not(idset_isset(s, 100000), "a bit past the words is clear");
	cr_assert_eq(idset_set(s, 5), 0);
	cr_assert_eq(idset_set(s, 5), 0);
	cr_assert_eq(idset_count(s), 2);
	idset_free(NULL); /* like free(NULL) */
}

Test(cpuset, equal_ignores_trailing_zero_words)
{
	struct idset *a _cleanup_cpuset_ = parse_ok("1,3");
	/* the same bits in a longer word array */
	struct idset *b _cleanup_cpuset_ = idset_new();
	b->words = calloc(4, sizeof(uint64_t));
	cr_assert_not_null(b->words);
	b->nwords = 4;
	b->words[0] = (UINT64_C(1) << 1) | (UINT64_C(1) << 3);
	cr_assert(idset_equal(a, b));
	cr_assert(idset_equal(b, a));
	cr_assert(idset_is_subset(a, b));
	cr_assert(idset_is_subset(b, a));
	cr_assert_eq(idset_last(b), 3);

	struct idset *c _cleanup_cpuset_ = parse_ok("1,3,200");
	cr_assert_not(idset_equal(a, c));
	cr_assert_not(idset_equal(c, a));
	struct idset *empty _cleanup_cpuset_ = idset_new();
	struct idset *empty2 _cleanup_cpuset_ = parse_ok("");
	cr_assert(idset_equal(empty, empty2));
	cr_assert_not(idset_equal(empty, a));
}

Test(cpuset, subset)
{
	struct idset *some _cleanup_cpuset_ = parse_ok("1,3");
	struct idset *all _cleanup_cpuset_ = parse_ok("0-3");
	struct idset *low _cleanup_cpuset_ = parse_ok("0-2");
	struct idset *far _cleanup_cpuset_ = parse_ok("200");
	struct idset *empty _cleanup_cpuset_ = idset_new();

	cr_assert(idset_is_subset(some, all));
	cr_assert_not(idset_is_subset(all, some));
	cr_assert_not(idset_is_subset(some, low), "3 is not in 0-2");
	cr_assert(idset_is_subset(all, all));
	cr_assert(idset_is_subset(empty, some));
	cr_assert(idset_is_subset(empty, empty));
	cr_assert_not(idset_is_subset(some, empty));
	cr_assert_not(idset_is_subset(far, all), "a bit in a word the superset lacks");
	cr_assert_not(idset_is_subset(all, far));
}

Test(cpuset, intersect)
{
	static const struct {
		const char *a, *b, *both;
	} cases[] = {
		{"0-3", "2-5", "2-3"}, {"1,3", "0,2", ""},     {"0-200", "63-64,200", "63-64,200"},
		{"", "0-3", ""},       {"0-3", "", ""},         {"5", "5", "5"},
		{"1-300", "299-400", "299-300"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct idset *a _cleanup_cpuset_ = parse_ok(cases[i].a);
		struct idset *b _cleanup_cpuset_ = parse_ok(cases[i].b);
		struct idset *r _cleanup_cpuset_ = idset_intersect(a, b);
		cr_assert_not_null(r);
		_cleanup_free_ char *got = idset_format(r);
		cr_assert_str_eq(got, cases[i].both, "%s & %s: %s, not %s", cases[i].a, cases[i].b, got, cases[i].both);
	}
}

Test(cpuset, count_and_last)
{
	static const struct {
		const char *list;
		unsigned count;
		int last;
	} cases[] = {
		{"", 0, -1},        {"0", 1, 0},         {"63", 1, 63},
		{"64", 1, 64},      {"5,130", 2, 130},   {"0-127", 128, 127},
		{"1-9:4", 3, 9},    {"2-10:4", 3, 10},   {"0-8191:1024", 8, 7168},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct idset *s _cleanup_cpuset_ = parse_ok(cases[i].list);
		cr_assert_eq(idset_count(s), cases[i].count, "count of \"%s\"", cases[i].list);
		cr_assert_eq(idset_last(s), cases[i].last, "last of \"%s\"", cases[i].list);
		/* last agrees with isset */
		if (cases[i].last >= 0) {
			cr_assert(idset_isset(s, (unsigned)cases[i].last));
			cr_assert_not(idset_isset(s, (unsigned)cases[i].last + 1));
		}
	}
}

Test(cpuset, format_map)
{
	struct idset *s _cleanup_cpuset_ = parse_ok("0,2,5");
	_cleanup_free_ char *m8 = idset_format_map(s, 8);
	cr_assert_str_eq(m8, "y-y--y--");
	_cleanup_free_ char *m3 = idset_format_map(s, 3);
	cr_assert_str_eq(m3, "y-y", "bits at or past the width are not shown");
	_cleanup_free_ char *m0 = idset_format_map(s, 0);
	cr_assert_str_eq(m0, "");

	struct idset *empty _cleanup_cpuset_ = idset_new();
	_cleanup_free_ char *me = idset_format_map(empty, 4);
	cr_assert_str_eq(me, "----");

	/* the map and the set agree bit by bit over a wider range */
	struct idset *w _cleanup_cpuset_ = parse_ok("1-130:3");
	_cleanup_free_ char *mw = idset_format_map(w, 140);
	cr_assert_eq(strlen(mw), 140);
	for (unsigned b = 0; b < 140; b++)
		cr_assert_eq(mw[b], idset_isset(w, b) ? 'y' : '-', "bit %u", b);
}

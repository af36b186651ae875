// SPDX-License-Identifier: GPL-2.0-or-later
#include "state/json-strict.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first sentence wins: it is about the first thing wrong. */
int json_bad(char **why, const char *fmt, ...)
{
	if (!*why) {
		va_list ap;
		va_start(ap, fmt);
		if (vasprintf(why, fmt, ap) < 0)
			*why = NULL;
		va_end(ap);
	}
	return -EBADMSG;
}

/* json-c keeps the last of two equal keys in an object, and takes 'single quotes'
 * and comments, none of which kvmcg writes. This counts each object's keys in the
 * text, in the order the objects open, for keys_once() to compare with what json-c
 * kept; anything outside strings that JSON does not have is -EBADMSG. */
static int count_keys(const char *buf, size_t len, unsigned **ret, size_t *ret_n)
{
	unsigned *counts = NULL;
	size_t n = 0, open[JSON_STRICT_DEPTH_MAX], depth = 0;
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (c == '"') {
			size_t j = i + 1;
			while (j < len && buf[j] != '"')
				j += buf[j] == '\\' ? 2 : 1;
			size_t k = j + 1;
			while (k < len && strchr(" \t\r\n", buf[k]))
				k++;
			if (k < len && buf[k] == ':' && depth > 0)
				counts[open[depth - 1]]++;
			i = j;
		} else if (c == '{') {
			unsigned *nc = depth < JSON_STRICT_DEPTH_MAX ? realloc(counts, (n + 1) * sizeof(*nc)) : NULL;
			if (!nc) {
				free(counts);
				return depth < JSON_STRICT_DEPTH_MAX ? -ENOMEM : -EBADMSG;
			}
			counts = nc;
			counts[n] = 0;
			open[depth++] = n++;
		} else if (c == '}') {
			if (depth > 0)
				depth--;
		} else if (c == '\'' || c == '/') {
			free(counts);
			return -EBADMSG;
		}
	}
	*ret = counts;
	*ret_n = n;
	return 0;
}

/* Whether every object below o has as many keys as the text gave it (count_keys). */
static bool keys_once(json_object *o, const unsigned *counts, size_t n, size_t *at)
{
	if (json_object_is_type(o, json_type_object)) {
		if (*at >= n || counts[*at] != (unsigned)json_object_object_length(o))
			return false;
		(*at)++;
		json_object_object_foreach(o, key, v) {
			(void)key;
			if (!keys_once(v, counts, n, at))
				return false;
		}
	} else if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++)
			if (!keys_once(json_object_array_get_idx(o, i), counts, n, at))
				return false;
	}
	return true;
}

int json_get_string(json_object *v, const char *what, const char **ret, char **why)
{
	if (!json_object_is_type(v, json_type_string))
		return json_bad(why, "its %s is not a string", what);
	const char *s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v))
		return json_bad(why, "its %s has a NUL byte", what);
	*ret = s;
	return 0;
}

/* The 1-based line of byte off. */
static size_t line_of(const char *buf, size_t off)
{
	size_t line = 1;
	for (size_t i = 0; i < off && buf[i]; i++)
		line += buf[i] == '\n';
	return line;
}


int json_strict_parse(const char *buf, unsigned depth, int version_wanted, json_object **ret_top, size_t *err_line,
		      char **ret_why)
{
	*ret_top = NULL;
	if (depth > JSON_STRICT_DEPTH_MAX)
		depth = JSON_STRICT_DEPTH_MAX;
	*ret_why = NULL;
	*err_line = 0;
	size_t len = strlen(buf);
	if (len > INT32_MAX)
		return json_bad(ret_why, "it is too large");
	struct json_tokener *tok = json_tokener_new_ex((int)depth);
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	json_object *top = json_tokener_parse_ex(tok, buf, (int)len);
	enum json_tokener_error e = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	int r = 0;
	if (e == json_tokener_continue)
		r = json_bad(ret_why, "it is cut short: its JSON ends before its last '}'");
	else if (e != json_tokener_success || !top) {
		*err_line = line_of(buf, end);
		r = json_bad(ret_why, "it is not JSON (%s at line %zu)", json_tokener_error_desc(e), *err_line);
	} else if (!json_object_is_type(top, json_type_object))
		r = json_bad(ret_why, "it is not a JSON object");
	if (r < 0) {
		json_object_put(top);
		return r;
	}

	/* The version first: a newer record may have keys this kvmcg does not know. */
	json_object *version = NULL;
	if (!json_object_object_get_ex(top, "version", &version))
		r = json_bad(ret_why, "it has no \"version\"");
	else if (!json_object_is_type(version, json_type_int))
		r = json_bad(ret_why, "its version is not an integer");
	else if (json_object_get_int64(version) != version_wanted) {
		if (asprintf(ret_why, "it has version %s; this kvmcg reads version %d", json_object_get_string(version),
			     version_wanted) < 0)
			*ret_why = NULL;
		r = -EPROTONOSUPPORT;
	}
	unsigned *counts = NULL;
	size_t n_counts = 0, at = 0;
	if (r == 0) {
		r = count_keys(buf, len, &counts, &n_counts);
		if (r == -EBADMSG)
			json_bad(ret_why, "it is not plain JSON (a quote or comment JSON does not have)");
		else if (r == 0 && (!keys_once(top, counts, n_counts, &at) || at != n_counts))
			r = json_bad(ret_why, "it gives a key twice in one object");
		free(counts);
	}
	if (r < 0) {
		json_object_put(top);
		return r;
	}
	*ret_top = top;
	return 0;
}

char *json_text(json_object *o)
{
	char *text = NULL;
	const char *j = json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (j && asprintf(&text, "%s\n", j) < 0)
		text = NULL;
	return text;
}

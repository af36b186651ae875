/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Strict reading of the JSON files kvmcg writes for itself (the undo record, the
 * shared-cgroups ledger): json-c with JSON_TOKENER_STRICT, plus what json-c lets
 * through and kvmcg never writes (a key given twice in one object, single quotes,
 * comments), a depth bound, and a "version" checked before anything else. */
#ifndef KVMCG_JSON_STRICT_H
#define KVMCG_JSON_STRICT_H

#include <json-c/json.h>
#include <stddef.h>

#define JSON_STRICT_DEPTH_MAX 16

/* One JSON object, nesting at most depth (capped at JSON_STRICT_DEPTH_MAX) deep, with
 * an integer "version" equal to version_wanted and every key once. *ret_top is the
 * object (caller puts it). Returns 0; -ENOMEM; -EBADMSG with a sentence in *ret_why
 * (caller frees) and, when the JSON syntax is at fault, its 1-based line in *err_line
 * (else 0); -EPROTONOSUPPORT for another version ("it has version N; this kvmcg
 * reads version M"). */
int json_strict_parse(const char *buf, unsigned depth, int version_wanted, json_object **ret_top, size_t *err_line,
		      char **ret_why);

/* o as kvmcg writes its files: pretty-printed, spaced, '/' unescaped, with a final
 * newline. NULL when out of memory. */
char *json_text(json_object *o);

/* Sets *why to the sentence unless it holds one already (the first fault is the one
 * told); returns -EBADMSG. */
__attribute__((format(printf, 2, 3))) int json_bad(char **why, const char *fmt, ...);

/* A string value without a NUL byte in it; what names the key in the sentence. */
int json_get_string(json_object *v, const char *what, const char **ret, char **why);

#endif

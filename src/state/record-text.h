/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The undo record's text format, as kvmcg wrote it before records were JSON:
 * "kvmcg-state 1" (no end line) and "kvmcg-state 2" (an "end" line last, every key
 * once, one origin per thread). Read only, so that a record an older kvmcg wrote
 * still undoes its pin; state_load rewrites it as JSON (state.h). */
#ifndef KVMCG_RECORD_TEXT_H
#define KVMCG_RECORD_TEXT_H

#include <stddef.h>

#include "plan/record.h"

/* Pure. 0, -ENOMEM, or -EBADMSG with the 1-based line at fault in *err_line. Values
 * are checked as the command line checks them (tune.h); keys a newer text format
 * added are skipped. */
int record_text_parse(const char *buf, struct vm_state *ret, size_t *err_line);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One sentence of context for the error a function returns. Library code never
 * prints: it returns a negative errno and may leave a sentence here; the command
 * that called it prints once. */
#ifndef KVMCG_ERR_H
#define KVMCG_ERR_H

/* kvmcg's exit codes, documented in kvmcg(8). The transaction layer returns them
 * too, so they live below it. */
enum {
	EXIT_OK = 0,
	EXIT_FAILURE_RUNTIME = 1, /* the request was fine; the system said no */
	EXIT_USAGE = 2,           /* bad command line or policy */
	EXIT_PARTIAL = 3,         /* some of it was done */
	EXIT_UNSUPPORTED = 4,     /* this kernel does not offer it (numa-balancing) */
	EXIT_NOT_READY = 5,       /* --wait: the VM was not identifiable by its deadline */
	EXIT_DRIFT = 6,           /* apply --dry-run: a VM is not as its policy asks (it
				   * would change), as diff(1) exits 1 on a difference */
};

__attribute__((format(printf, 1, 2))) void err_set(const char *fmt, ...);
/* The sentence, or NULL when none was set since err_clear(). */
const char *err_get(void);
void err_clear(void);

#endif

// SPDX-License-Identifier: GPL-2.0-or-later
#include "basic/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "basic/util.h"

/* As long as it needs to be: a sentence cut at a fixed size would name the wrong
 * thing (a long path is exactly what some errors are about). */
static char *message;
static int is_set;

void err_set(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	/* the arguments may point into the old message: format first, then free it */
	s = vformat(fmt, ap);
	va_end(ap);
	free(message);
	message = s;
	is_set = 1;
}

const char *err_get(void)
{
	if (!is_set)
		return NULL;
	return message ? message : "out of memory";
}

void err_clear(void)
{
	is_set = 0;
}

// SPDX-License-Identifier: GPL-2.0-or-later
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

static char message[512];
static int is_set;

void err_set(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	is_set = 1;
}

const char *err_get(void)
{
	return is_set ? message : NULL;
}

void err_clear(void)
{
	is_set = 0;
}

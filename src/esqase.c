/*
 * esqase.c — module entry point: settings and background worker registration.
 */
#include "postgres.h"

#include "fmgr.h"

#include "esqase.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	esqase_context_init();
}

/*
 * restore.c — telling a restore from an ordinary write, for the triggers.
 *
 * pg_dump and pg_restore (and psql -f of a plain dump) load the rows of the
 * extension's tables with COPY ... FROM stdin under row_security = off.
 * Those rows were seeded, counted and audited when first written, and the
 * seeded rows, the counts and the audit rows come with the dump: the
 * triggers must not do it again.  0.1.0 decided this from the text of
 * current_query(), which any query string beginning with "COPY" satisfied
 * for every later statement in it.  Here the decision rests on the
 * statement being executed: the top-level statement of this backend must be
 * a COPY FROM whose target is the very table the trigger fires on.
 */
#include "postgres.h"

#include "fmgr.h"
#include "catalog/namespace.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "storage/lockdefs.h"
#include "tcop/pquery.h"
#include "utils/guc.h"
#include "utils/portal.h"

#include "esqase.h"

/*
 * esqase.restoring(tbl regclass) RETURNS boolean
 *
 * True when the running top-level statement is COPY tbl FROM ..., with
 * row_security off (a restore's setting, which only a role that bypasses
 * row-level security can write under) and no API context.  A COPY run inside
 * a function is not top-level (its portal runs the function's caller), and
 * a statement that merely begins a query string with COPY is another
 * portal: both are audited.
 */
PG_FUNCTION_INFO_V1(esqase_restoring);
Datum
esqase_restoring(PG_FUNCTION_ARGS)
{
	Oid			tbl = PG_GETARG_OID(0);
	const char *rs;
	PlannedStmt *ps;
	CopyStmt   *copy;

	rs = GetConfigOption("row_security", true, false);
	if (rs == NULL || strcmp(rs, "off") != 0)
		PG_RETURN_BOOL(false);
	if (esqase_context_valid())
		PG_RETURN_BOOL(false);
	if (ActivePortal == NULL || list_length(ActivePortal->stmts) != 1)
		PG_RETURN_BOOL(false);
	ps = linitial_node(PlannedStmt, ActivePortal->stmts);
	if (ps->commandType != CMD_UTILITY || ps->utilityStmt == NULL ||
		!IsA(ps->utilityStmt, CopyStmt))
		PG_RETURN_BOOL(false);
	copy = (CopyStmt *) ps->utilityStmt;
	if (!copy->is_from || copy->relation == NULL || copy->query != NULL)
		PG_RETURN_BOOL(false);
	/* The COPY holds its lock on the table: this lookup finds the same one. */
	PG_RETURN_BOOL(RangeVarGetRelid(copy->relation, NoLock, true) == tbl);
}

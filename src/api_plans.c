/*
 * api_plans.c — how the statements of the API are planned: never
 * JIT-compiled, and always for a large firm.
 *
 * 1. API statements never JIT-compile.
 *
 * Why: whether PostgreSQL JIT-compiles a statement depends on its plan's
 * estimated cost (jit_above_cost, 100,000 by default), not on its real
 * cost.  An API statement is short by design (one record, or a page found
 * by index), but some plans are costed high: a list page's generic plan,
 * with LIMIT and OFFSET as parameters and the row-level security filters
 * of the API role, was costed about 107,000, so every page JIT-compiled 47
 * functions (18 ms of a 20 ms call).  The superuser's plan was cheaper and
 * never JIT-compiled, which is why a benchmark run as the superuser never
 * saw it (docs/benchmarks.md).
 *
 * What: while an API context is active (esqase_authenticate succeeded in
 * this transaction, or is looking its key up) and in the HTTP workers, every statement runs with
 * JIT off, whatever jit, jit_above_cost and the data say; other sessions
 * and other statements keep the server's settings.  Two hooks, no setting
 * changed and no cost on a statement that would not JIT anyway:
 *
 *   planner_hook: a plan made while the API is active, or one whose query
 *     calls an esqase function (the top-level "SELECT esqase_..." of a SQL
 *     caller, planned before esqase_authenticate runs), gets jitFlags
 *     PGJIT_NONE.  The query is walked only when the plan would JIT.
 *   ExecutorStart_hook: a cached plan made outside the API (say, a trigger's
 *     statement first run by a DBA's hand-written UPDATE in the same
 *     session) and run while it is active runs from a copy of its
 *     PlannedStmt with jitFlags cleared; the cached plan stays as it was.
 *
 * Parallel workers take their jitFlags from the leader's executor state,
 * so they follow.  The test: test/t/025_no_jit.pl (jit_above_cost = 0,
 * every route and every public function, pg_stat_statements' jit_functions).
 *
 * 2. Plans are made for a large firm.  A plan is cached for the life of a
 * backend (PL/pgSQL's plans, the foreign-key checks' plans) and serves
 * every firm, small or large, and every size a table grows to meanwhile.
 * The planner sizes a table by its statistics, and a table that was empty
 * when last vacuumed (a new install, or after an import rolled back) counts
 * as empty however much it holds now: a plan made then finds a record by a
 * sequential scan, or by an index on firm_id alone with the id as a filter
 * (a foreign-key check of lead_assignees scanned the firm's leads by the
 * (firm_id, public_id) index).  Inside one transaction that writes many
 * records those plans are never remade, and each record costs a scan of
 * the records written before it: 20,000 leads ran 3.4 times slower per lead
 * than 2,000.  So get_relation_info_hook gives every table of schema esqase
 * (and its indexes) at least ESQ_PLAN_MIN_TUPLES rows and
 * ESQ_PLAN_MIN_PAGES pages when planned: lookups by key go by their key,
 * whatever the statistics say.  Larger tables keep their own estimates.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "executor/executor.h"
#include "jit/jit.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/plancat.h"
#include "optimizer/planner.h"
#include "postmaster/bgworker.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "esqase.h"

/* The size every table of schema esqase is planned for, at least. */
#define ESQ_PLAN_MIN_TUPLES 100000.0
#define ESQ_PLAN_MIN_PAGES 1000

static planner_hook_type prev_planner = NULL;
static get_relation_info_hook_type prev_get_relation_info = NULL;
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static bool hooks_installed = false;

/*
 * The oid of schema esqase (InvalidOid: none), looked up once and forgotten
 * when any schema changes: the relation hook asks for it on every small
 * table planned in the cluster, and a name lookup each time is not free.
 */
static Oid	esqase_nsp = InvalidOid;
static bool esqase_nsp_known = false;

static void
forget_esqase_nsp(Datum arg, int cacheid, uint32 hashvalue)
{
	esqase_nsp_known = false;
}

static Oid
esqase_namespace(void)
{
	if (!esqase_nsp_known)
	{
		/* known first: an invalidation during the lookup forgets its result */
		esqase_nsp_known = true;
		esqase_nsp = get_namespace_oid("esqase", true);
	}
	return esqase_nsp;
}

/* 1: this process is an HTTP worker; 0: it is not; -1: not known yet */
static int	http_worker = -1;

/* Whether the statements of this process run for the API now. */
static bool
api_active(void)
{
	if (http_worker < 0)
		http_worker = (MyBgworkerEntry != NULL &&
					   strcmp(MyBgworkerEntry->bgw_type, "esqase http") == 0) ? 1 : 0;
	return http_worker == 1 || esq_context_active();
}

typedef struct CallsContext
{
	Oid			nsp;			/* schema esqase, or InvalidOid */
} CallsContext;

/* Whether funcid is an esqase function: in schema esqase, or esqase_*. */
static bool
is_esqase_function(Oid funcid, CallsContext *cx)
{
	char	   *name;
	bool		found;

	if (OidIsValid(cx->nsp) && get_func_namespace(funcid) == cx->nsp)
		return true;
	name = get_func_name(funcid);
	found = name != NULL && strncmp(name, "esqase_", 7) == 0;
	if (name)
		pfree(name);
	return found;
}

static bool
calls_esqase_walker(Node *node, CallsContext *cx)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncExpr) && is_esqase_function(((FuncExpr *) node)->funcid, cx))
		return true;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, calls_esqase_walker, cx, 0);
	return expression_tree_walker(node, calls_esqase_walker, cx);
}

/* Whether the query (subqueries, CTEs and FROM functions included) calls one. */
static bool
calls_esqase(Query *parse)
{
	CallsContext cx;

	cx.nsp = esqase_namespace();
	return query_tree_walker(parse, calls_esqase_walker, &cx, 0);
}

static PlannedStmt *
api_planner(Query *parse, const char *query_string, int cursorOptions,
			  ParamListInfo boundParams)
{
	PlannedStmt *result;

	if (prev_planner)
		result = prev_planner(parse, query_string, cursorOptions, boundParams);
	else
		result = standard_planner(parse, query_string, cursorOptions, boundParams);

	/*
	 * The planner has rewritten parse in place (inlined SQL functions among
	 * others); an inlined public esqase_* wrapper leaves its esqase.* call.
	 */
	if (result->jitFlags != PGJIT_NONE && (api_active() || calls_esqase(parse)))
		result->jitFlags = PGJIT_NONE;
	return result;
}

static void
api_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (queryDesc->plannedstmt->jitFlags != PGJIT_NONE && api_active())
	{
		PlannedStmt *copy = MemoryContextAlloc(GetMemoryChunkContext(queryDesc),
											   sizeof(PlannedStmt));

		memcpy(copy, queryDesc->plannedstmt, sizeof(PlannedStmt));
		copy->jitFlags = PGJIT_NONE;
		queryDesc->plannedstmt = copy;
	}
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/* Plans a table of schema esqase as one of a large firm (2. above). */
static void
api_plans_relation_info(PlannerInfo *root, Oid relid, bool inhparent, RelOptInfo *rel)
{
	ListCell   *lc;

	if (prev_get_relation_info)
		prev_get_relation_info(root, relid, inhparent, rel);
	if (rel->tuples >= ESQ_PLAN_MIN_TUPLES && rel->pages >= ESQ_PLAN_MIN_PAGES)
		return;
	if (!OidIsValid(esqase_namespace()) || get_rel_namespace(relid) != esqase_namespace())
		return;
	rel->tuples = Max(rel->tuples, ESQ_PLAN_MIN_TUPLES);
	rel->pages = Max(rel->pages, ESQ_PLAN_MIN_PAGES);
	foreach(lc, rel->indexlist)
	{
		IndexOptInfo *index = (IndexOptInfo *) lfirst(lc);

		/* as get_relation_info: a whole index has the table's rows */
		if (index->indpred == NIL)
			index->tuples = rel->tuples;
		else
			index->tuples = Min(Max(index->tuples, ESQ_PLAN_MIN_TUPLES), rel->tuples);
	}
}

/* Installs the hooks; called from _PG_init (once per process). */
void
esq_api_plans_init(void)
{
	if (hooks_installed)
		return;
	prev_planner = planner_hook;
	planner_hook = api_planner;
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = api_ExecutorStart;
	prev_get_relation_info = get_relation_info_hook;
	get_relation_info_hook = api_plans_relation_info;
	CacheRegisterSyscacheCallback(NAMESPACEOID, forget_esqase_nsp, (Datum) 0);
	hooks_installed = true;
}

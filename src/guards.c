/*
 * guards.c — safe failure modes around the extension's own life cycle.
 *
 * The DROP guard.  DROP EXTENSION esqase deletes every table of schema
 * esqase, so every firm's data and the audit log, with no way back but a
 * backup.  An event trigger (sql/code/95_guards.sql) calls
 * esqase_guard_drop() before DROP EXTENSION, DROP SCHEMA and DROP OWNED;
 * it refuses a statement that would drop the extension while any firm
 * exists, unless esqase.allow_drop is on in the session.  Why an event
 * trigger and not a ProcessUtility hook: the hook exists only in backends
 * that loaded the library, and without shared_preload_libraries a backend
 * that never called an esqase function has not; the event trigger loads
 * the library itself, preloaded or not, and is an extension member, so it
 * goes with the extension.
 *
 * The CREATE EXTENSION notice.  Keys of a database the HTTP workers do not
 * serve get 401 over HTTP, which says nothing about why; so CREATE
 * EXTENSION in such a database says which database is served.  Why a
 * ProcessUtility hook and not a RAISE NOTICE in the install script:
 * CREATE EXTENSION runs its script with client_min_messages raised to
 * WARNING, so a notice from the script never reaches the user.  The hook
 * speaks after the script, at the user's own client_min_messages.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "commands/dbcommands.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "esqase.h"

#define ESQ_EXTNAME "esqase"

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/*
 * Extension esqase's pg_extension row in this database: its oid (InvalidOid
 * if it is not installed), and the schema, owner and row version (xmin,
 * which ALTER EXTENSION ... UPDATE replaces) for the pointers not NULL.
 */
Oid
esq_extension_lookup(Oid *nsp, Oid *owner, TransactionId *xmin)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			extoid = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum(ESQ_EXTNAME));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		Form_pg_extension ext = (Form_pg_extension) GETSTRUCT(tup);

		extoid = ext->oid;
		if (nsp)
			*nsp = ext->extnamespace;
		if (owner)
			*owner = ext->extowner;
		if (xmin)
			*xmin = HeapTupleHeaderGetXmin(tup->t_data);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return extoid;
}

/*
 * The number of rows in esqase.firms.  Read from the heap and not with SQL:
 * the table forces row-level security, which would hide every firm from a
 * non-superuser with no API context, and DROP SCHEMA ... CASCADE drops the
 * extension for anyone who owns its schema, superuser or not.  Reading
 * past RLS and privileges here tells the dropper only how many firms the
 * drop would delete.
 */
static int64
count_firms(void)
{
	Oid			nsp = get_namespace_oid("esqase", true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid("firms", nsp) : InvalidOid;
	Relation	rel;
	TableScanDesc scan;
	TupleTableSlot *slot;
	bool		pushed = false;
	int64		n = 0;

	if (!OidIsValid(relid))
		return 0;
	/* a DROP statement runs with an active snapshot; be safe if not */
	if (!ActiveSnapshotSet())
	{
		PushActiveSnapshot(GetTransactionSnapshot());
		pushed = true;
	}
	rel = table_open(relid, AccessShareLock);
	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
		n++;
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, AccessShareLock);
	if (pushed)
		PopActiveSnapshot();
	return n;
}

/* Owner of a schema, InvalidOid if it is gone. */
static Oid
namespace_owner(Oid nsp)
{
	HeapTuple	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		return InvalidOid;
	owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * If the statement would drop the extension, a palloc'd description of it
 * for the error message; NULL otherwise.  Covered: DROP EXTENSION esqase,
 * DROP SCHEMA <the extension's schema> CASCADE (the extension depends on
 * its schema; schema esqase itself cannot be dropped apart from the
 * extension), and DROP OWNED BY the owner of either.  Not covered: DROP
 * DATABASE (no event trigger fires for it), single-user mode (no event
 * trigger fires in it), and a superuser who disables or removes the event
 * trigger first.
 */
static char *
drop_target(Node *parsetree, Oid nsp, Oid owner)
{
	ListCell   *lc;

	if (IsA(parsetree, DropStmt))
	{
		DropStmt   *stmt = (DropStmt *) parsetree;

		if (stmt->removeType == OBJECT_EXTENSION)
		{
			foreach(lc, stmt->objects)
				if (strcmp(strVal(lfirst(lc)), ESQ_EXTNAME) == 0)
					return pstrdup("DROP EXTENSION esqase");
		}
		else if (stmt->removeType == OBJECT_SCHEMA &&
				 stmt->behavior == DROP_CASCADE)
		{
			foreach(lc, stmt->objects)
			{
				const char *name = strVal(lfirst(lc));

				if (get_namespace_oid(name, true) == nsp)
					return psprintf("DROP SCHEMA %s CASCADE", quote_identifier(name));
			}
		}
	}
	else if (IsA(parsetree, DropOwnedStmt))
	{
		DropOwnedStmt *stmt = (DropOwnedStmt *) parsetree;
		Oid			nspowner = namespace_owner(nsp);

		foreach(lc, stmt->roles)
		{
			Oid			role = get_rolespec_oid(lfirst(lc), true);

			/* PostgreSQL refuses DROP OWNED BY the bootstrap superuser itself */
			if (OidIsValid(role) && role != BOOTSTRAP_SUPERUSERID &&
				(role == owner || role == nspowner))
				return psprintf("DROP OWNED BY %s",
								quote_identifier(GetUserNameFromId(role, false)));
		}
	}
	return NULL;
}

PG_FUNCTION_INFO_V1(esqase_guard_drop);

/* Event trigger (ddl_command_start): refuses to drop the extension with firms. */
Datum
esqase_guard_drop(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	Oid			nsp;
	Oid			owner;
	char	   *what;
	int64		nfirms;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("esqase.guard_drop() must be called as an event trigger")));
	trigdata = (EventTriggerData *) fcinfo->context;

	if (esq_allow_drop || !OidIsValid(esq_extension_lookup(&nsp, &owner, NULL)))
		PG_RETURN_NULL();
	what = drop_target(trigdata->parsetree, nsp, owner);
	if (what == NULL)
		PG_RETURN_NULL();
	nfirms = count_firms();
	if (nfirms == 0)
		PG_RETURN_NULL();

	ereport(ERROR,
			(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
			 errmsg("esqase: %s would delete the data of " INT64_FORMAT " firm%s",
					what, nfirms, nfirms == 1 ? "" : "s"),
			 errdetail("Dropping extension esqase drops every table in schema esqase: all firms, "
					   "members, API keys, contacts, practice areas, matter types, matters, leads "
					   "and the audit log."),
			 errhint("Back up first (pg_dump). To drop it anyway, run SET esqase.allow_drop = on "
					 "in this session, then drop.")));
	PG_RETURN_NULL();
}

/* The notice after CREATE EXTENSION esqase: is this database served over HTTP? */
static void
announce_http(void)
{
	const char *db;

	if (!esq_preloaded)
	{
		ereport(NOTICE,
				(errmsg("esqase: the HTTP API is off: the library is not in shared_preload_libraries"),
				 errdetail("The SQL API works in this database."),
				 errhint("To serve the HTTP API, add 'esqase' to shared_preload_libraries in postgresql.conf "
						 "and restart the server; the HTTP workers serve the database named by esqase.database.")));
		return;
	}
	if (esq_http_port == 0 ||
		strspn(esq_http_listen_addresses, " \t,") == strlen(esq_http_listen_addresses))
	{
		ereport(NOTICE,
				(errmsg("esqase: the HTTP API is off (esqase.http_port is 0 or esqase.http_listen_addresses is empty)"),
				 errdetail("The SQL API works in this database.")));
		return;
	}
	db = get_database_name(MyDatabaseId);
	if (db != NULL && strcmp(db, esq_database) != 0)
		ereport(NOTICE,
				(errmsg("esqase: the HTTP workers serve database \"%s\" only (esqase.database), not \"%s\"",
						esq_database, db),
				 errdetail("The SQL API works in this database, but its API keys are not accepted over HTTP."),
				 errhint("To serve this database over HTTP instead, set esqase.database = '%s' in "
						 "postgresql.conf and restart the server.", db)));
}

static void
esq_process_utility(PlannedStmt *pstmt, const char *queryString,
					bool readOnlyTree, ProcessUtilityContext context,
					ParamListInfo params, QueryEnvironment *queryEnv,
					DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	bool		creating;

	/* IF NOT EXISTS on an existing extension creates nothing: no notice */
	creating = IsA(parsetree, CreateExtensionStmt) &&
		strcmp(((CreateExtensionStmt *) parsetree)->extname, ESQ_EXTNAME) == 0 &&
		!OidIsValid(get_extension_oid(ESQ_EXTNAME, true));

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);

	if (creating && OidIsValid(get_extension_oid(ESQ_EXTNAME, true)))
		announce_http();
}

/*
 * Without the preload the library is loaded in the middle of the first
 * CREATE EXTENSION of the backend, too late to wrap it; that one is
 * covered by _PG_init's warning, and later ones by the hook.
 */
void
esq_guards_init(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = esq_process_utility;
}

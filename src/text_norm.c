/*
 * text_norm.c — the text functions every written row runs: esqase.nfc (the
 * checks of a request body), esqase.fold and esqase.phone_keys (the search
 * documents the BEFORE triggers compute).
 *
 * As SQL functions they were never inlined: nfc and fold are IMMUTABLE but
 * ask the database's encoding (a STABLE call), phone_keys is a sub-select.
 * A SQL function that is not inlined costs an executor start-up per call
 * (and a parse and plan per statement): about three quarters of the cost of
 * inserting a contact, and a fifth of checking its body (measured in issue
 * 16).  These are the same functions, with the same results.
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "common/unicode_norm.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/lsyscache.h"

#include "esqase.h"

/*
 * esqase.nfc(t text) RETURNS text
 *
 * t in Unicode normalization form NFC, in a UTF-8 database (normalize()
 * needs it); t as it is when it is already NFC, or in another encoding.
 * The builtins of t IS NFC NORMALIZED and normalize(t, NFC), called
 * directly.
 */
PG_FUNCTION_INFO_V1(esqase_nfc);
Datum
esqase_nfc(PG_FUNCTION_ARGS)
{
	Datum		t = PG_GETARG_DATUM(0);
	Datum		nfc = CStringGetTextDatum("NFC");

	if (GetDatabaseEncoding() != PG_UTF8 ||
		DatumGetBool(DirectFunctionCall2Coll(unicode_is_normalized, PG_GET_COLLATION(), t, nfc)))
		PG_RETURN_DATUM(t);
	PG_RETURN_DATUM(DirectFunctionCall2Coll(unicode_normalize_func, PG_GET_COLLATION(), t, nfc));
}

/* Combining diacritical marks (U+0300..U+036F): what fold drops after NFD. */
#define ESQ_IS_COMBINING_MARK(c) ((c) >= 0x0300 && (c) <= 0x036F)

/*
 * esqase.fold(t text) RETURNS text
 *
 * t with case and accents dropped: in a UTF-8 database
 * lower(regexp_replace(normalize(t, NFD), '[\u0300-\u036f]', '', 'g')),
 * else lower(t), as the SQL function it replaces (0.2.0) did.
 */
PG_FUNCTION_INFO_V1(esqase_fold);
Datum
esqase_fold(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	Oid			collation = PG_GET_COLLATION();
	const char *src = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	char	   *folded;
	text	   *result;

	if (!OidIsValid(collation))
		collation = DEFAULT_COLLATION_OID;
	if (GetDatabaseEncoding() == PG_UTF8)
	{
		pg_wchar   *chars = palloc((len + 1) * sizeof(pg_wchar));
		pg_wchar   *nfd;
		StringInfoData buf;
		int			i;

		pg_mb2wchar_with_len(src, chars, len);
		nfd = unicode_normalize(UNICODE_NFD, chars);
		if (nfd == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
		initStringInfo(&buf);
		for (i = 0; nfd[i] != 0; i++)
		{
			unsigned char utf8[4];

			if (ESQ_IS_COMBINING_MARK(nfd[i]))
				continue;
			unicode_to_utf8(nfd[i], utf8);
			appendBinaryStringInfo(&buf, (char *) utf8, pg_utf_mblen(utf8));
		}
		folded = str_tolower(buf.data, buf.len, collation);
		pfree(buf.data);
		pfree(nfd);
		pfree(chars);
	}
	else
		folded = str_tolower(src, len, collation);
	result = cstring_to_text(folded);
	pfree(folded);
	PG_RETURN_TEXT_P(result);
}

/*
 * esqase.phone_keys(phones text[]) RETURNS text
 *
 * Each phone's digits (0-9, the rest dropped) and every tail of them of 4
 * digits or more, in the phones' order, space-separated: "+1-555-0100"
 * gives "15550100 5550100 550100 50100 0100".  NULL when there is none
 * (no phones, or none with 4 digits).
 */
PG_FUNCTION_INFO_V1(esqase_phone_keys);
Datum
esqase_phone_keys(PG_FUNCTION_ARGS)
{
	ArrayType  *phones;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	StringInfoData buf;
	char	   *digits;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	phones = PG_GETARG_ARRAYTYPE_P(0);
	deconstruct_array(phones, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	initStringInfo(&buf);
	for (i = 0; i < n; i++)
	{
		text	   *p;
		const char *s;
		int			len;
		int			nd = 0;
		int			k;

		if (nulls[i])
			continue;
		p = DatumGetTextPP(elems[i]);
		s = VARDATA_ANY(p);
		len = VARSIZE_ANY_EXHDR(p);
		digits = palloc(len + 1);
		for (k = 0; k < len; k++)
			if (s[k] >= '0' && s[k] <= '9')
				digits[nd++] = s[k];
		for (k = 0; k + 4 <= nd; k++)
		{
			if (buf.len > 0)
				appendStringInfoChar(&buf, ' ');
			appendBinaryStringInfo(&buf, digits + k, nd - k);
		}
		pfree(digits);
	}
	if (buf.len == 0)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}

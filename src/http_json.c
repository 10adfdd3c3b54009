/*
 * http_json.c — JSON checks with jansson, before any SQL runs.
 *
 * This file uses jansson and libc only: no palloc, no ereport, so nothing
 * here can longjmp, and every tree is json_decref'd on every path.
 * Jansson allocates with malloc; the caller frees the strings it returns.
 */
#include "postgres.h"

#include <jansson.h>

#include "esqase.h"

/*
 * A new empty object.  Never call json_object() from this module: the
 * postgres executable exports a function of that name (the SQL json_object),
 * and the dynamic linker binds our call to it, not to jansson's.  jansson's
 * own internal calls are bound inside libjansson, so json_pack is safe.
 */
static json_t *
new_object(void)
{
	return json_pack("{}");
}

/* Depth of the deepest container in v (1 for a flat object); stops at limit+1. */
static int
json_depth(json_t *v, int depth, int limit)
{
	int			max = depth;
	void	   *iter = json_is_object(v) ? json_object_iter(v) : NULL;
	size_t		i = 0;
	size_t		n = json_is_array(v) ? json_array_size(v) : 0;

	if (depth > limit)
		return depth;
	/* One walk over the children of an object or an array. */
	for (;;)
	{
		json_t	   *child;

		if (iter != NULL)
		{
			child = json_object_iter_value(iter);
			iter = json_object_iter_next(v, iter);
		}
		else if (i < n)
			child = json_array_get(v, i++);
		else
			break;

		if (json_is_object(child) || json_is_array(child))
		{
			int			d = json_depth(child, depth + 1, limit);

			if (d > max)
				max = d;
			if (max > limit)
				break;
		}
	}
	return max;
}

bool
esq_json_check_body(const char *buf, size_t len, char *errbuf, size_t errlen)
{
	json_error_t err;
	json_t	   *root;
	bool		ok = true;

	if (len == 0)
	{
		snprintf(errbuf, errlen, "a JSON object body is required");
		return false;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
	if (root == NULL)
	{
		snprintf(errbuf, errlen, "invalid JSON body: %s (line %d, column %d)",
				 err.text, err.line, err.column);
		return false;
	}
	if (!json_is_object(root))
	{
		snprintf(errbuf, errlen, "the request body must be a JSON object");
		ok = false;
	}
	else if (json_depth(root, 1, ESQ_JSON_MAX_DEPTH) > ESQ_JSON_MAX_DEPTH)
	{
		snprintf(errbuf, errlen, "the request body is nested deeper than %d levels",
				 ESQ_JSON_MAX_DEPTH);
		ok = false;
	}
	json_decref(root);
	return ok;
}

char *
esq_json_params(const EsqQueryArg *args, int nargs, char *errbuf, size_t errlen,
				const char **bad_key)
{
	json_t	   *obj = new_object();
	char	   *text = NULL;
	int			i;

	if (obj == NULL)
	{
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	for (i = 0; i < nargs; i++)
	{
		json_t	   *val;

		*bad_key = args[i].key;
		if (json_object_get(obj, args[i].key) != NULL)
		{
			snprintf(errbuf, errlen, "query parameter \"%s\" is given more than once",
					 args[i].key);
			goto done;
		}
		val = json_string(args[i].value ? args[i].value : "");
		if (val == NULL)
		{
			snprintf(errbuf, errlen, "query parameter \"%s\" is not valid UTF-8",
					 args[i].key);
			goto done;
		}
		if (json_object_set_new(obj, args[i].key, val) != 0)
		{
			snprintf(errbuf, errlen, "query parameter name is not valid UTF-8");
			goto done;
		}
	}
	*bad_key = NULL;
	text = json_dumps(obj, JSON_COMPACT);
	if (text == NULL)
		snprintf(errbuf, errlen, "out of memory");
done:
	json_decref(obj);
	return text;
}

/*
 * The JSON text PostgreSQL writes, without its layout: json_build_object
 * writes "key" : value, json_agg puts a newline between elements.  Every
 * space, tab and newline outside a string goes (inside one, PostgreSQL has
 * escaped every control character, so a string's spaces are its own).
 * Writes into out, which holds strlen(json) + 1 bytes; returns the length.
 * A pass over bytes only: far cheaper than parsing and writing it again.
 */
size_t
esq_json_compact(const char *json, char *out)
{
	bool		in_string = false;
	bool		escaped = false;
	char	   *o = out;

	for (const char *p = json; *p; p++)
	{
		char		c = *p;

		if (in_string)
		{
			if (escaped)
				escaped = false;
			else if (c == '\\')
				escaped = true;
			else if (c == '"')
				in_string = false;
		}
		else if (c == '"')
			in_string = true;
		else if (c == ' ' || c == '\n' || c == '\t' || c == '\r')
			continue;
		*o++ = c;
	}
	*o = '\0';
	return o - out;
}

/*
 * http_ratelimit.c — request budgets per API key, shared by the HTTP
 * workers (esqase.http_rate_limit requests per esqase.http_rate_limit_window
 * seconds; 0 = off).
 *
 * Algorithm: a fixed window per key, opened by the key's first request
 * after its previous window ended (docs/decisions.md, "Rate limits").  A
 * window counts the requests charged to it; past the limit a request gets
 * 429 rate_limited with Retry-After, without running any SQL.
 *
 * A key is known here only by its public prefix (esq_key_prefix: the 12
 * hex digits of "esq_<prefix>_<secret>"), the same bytes esqase.key_lookup
 * uses to find its row; a token not shaped like a key is never charged and
 * never gets a slot (it cannot authenticate).  The charge runs before any SQL, so whether the token is valid
 * is not known yet: a request with an invalid token is charged to the
 * prefix it names if that prefix has a slot, and its 401 counts.  That
 * cannot drain another key's budget without knowing that key's prefix
 * (only in the token and in the server log).
 *
 * Only a key that authenticated gets a slot (esq_rate_limit_admit, after
 * the SQL call of a request its slot did not charge yet): made-up prefixes
 * never take one.  Before, eight made-up tokens whose prefixes hashed into
 * a key's set evicted its slot and gave the key a fresh window, so a client
 * could lift its own limit at will.
 *
 * The table: ESQ_RL_SETS sets of ESQ_RL_WAYS slots in shared memory (a
 * set-associative cache, hashed on the prefix), each set guarded by one of
 * ESQ_RL_LOCKS LWLocks.  A key uses one slot of its set; a new key (one
 * that authenticated) takes a free slot of the set, or one whose window
 * has ended, or else evicts the slot charged least recently, whose key
 * then starts a fresh window when it returns: more than eight keys of the
 * server in use at once in one of 1024 sets (the table errs towards
 * letting requests through, never towards refusing them).  Under the lock: a few comparisons, no
 * allocation, nothing that can throw.
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "esqase.h"

#define ESQ_RL_WAYS 8
#define ESQ_RL_SETS 1024		/* 8192 keys in all, 256 kB */
#define ESQ_RL_LOCKS 16
#define ESQ_RL_TRANCHE "esqase rate limit"

typedef struct EsqRateSlot
{
	TimestampTz window_start;	/* 0: a free slot */
	TimestampTz last_charged;	/* for eviction */
	int32		count;			/* requests charged in this window */
	char		prefix[ESQ_KEY_PREFIX_LEN];
} EsqRateSlot;

typedef struct EsqRateTable
{
	EsqRateSlot slots[ESQ_RL_SETS][ESQ_RL_WAYS];
} EsqRateTable;

static EsqRateTable *rate_table = NULL;
static LWLockPadded *rate_locks = NULL;

Size
esq_rate_shmem_size(void)
{
	return MAXALIGN(sizeof(EsqRateTable));
}

/* From the shmem_request hook. */
void
esq_rate_shmem_request(void)
{
	RequestAddinShmemSpace(esq_rate_shmem_size());
	RequestNamedLWLockTranche(ESQ_RL_TRANCHE, ESQ_RL_LOCKS);
}

/* From the shmem_startup hook, holding AddinShmemInitLock. */
void
esq_rate_shmem_init(void)
{
	bool		found;

	rate_table = ShmemInitStruct("esqase rate limit", sizeof(EsqRateTable), &found);
	if (!found)
		memset(rate_table, 0, sizeof(EsqRateTable));
	rate_locks = GetNamedLWLockTranche(ESQ_RL_TRANCHE);
}

/*
 * Adds the RateLimit-* headers (and Retry-After when refused) of a window
 * holding count of limit requests and ending in reset_s seconds.
 */
static void
add_headers(EsqHttpResponse *resp, int limit, int window_s, int count,
			int reset_s, bool refused)
{
	char		buf[32];

	snprintf(buf, sizeof(buf), "%d", limit);
	esq_response_add_header(resp, "RateLimit-Limit", buf);
	snprintf(buf, sizeof(buf), "%d", Max(limit - count, 0));
	esq_response_add_header(resp, "RateLimit-Remaining", buf);
	snprintf(buf, sizeof(buf), "%d", reset_s);
	esq_response_add_header(resp, "RateLimit-Reset", buf);
	if (refused)
		esq_response_add_header(resp, "Retry-After", buf);
	snprintf(buf, sizeof(buf), "%d;w=%d", limit, window_s);
	esq_response_add_header(resp, "RateLimit-Policy", buf);
}

/* The table's set of a key's prefix. */
static uint32
prefix_set(const char *prefix)
{
	return hash_bytes((const unsigned char *) prefix, ESQ_KEY_PREFIX_LEN) % ESQ_RL_SETS;
}

/* The slot of prefix in its set, or NULL. */
static EsqRateSlot *
find_slot(EsqRateSlot *slots, const char *prefix)
{
	for (int i = 0; i < ESQ_RL_WAYS; i++)
		if (slots[i].window_start != 0 &&
			memcmp(slots[i].prefix, prefix, ESQ_KEY_PREFIX_LEN) == 0)
			return &slots[i];
	return NULL;
}

/* A slot for a key that authenticated: free, else its window over, else the stalest. */
static EsqRateSlot *
claim_slot(EsqRateSlot *slots, const char *prefix, TimestampTz now, int64 window_us)
{
	EsqRateSlot *slot = NULL;

	for (int i = 0; i < ESQ_RL_WAYS; i++)
	{
		EsqRateSlot *s = &slots[i];

		if (s->window_start == 0 || now - s->window_start >= window_us)
		{
			slot = s;
			break;
		}
		if (slot == NULL || s->last_charged < slot->last_charged)
			slot = s;
	}
	slot->window_start = 0;
	memcpy(slot->prefix, prefix, ESQ_KEY_PREFIX_LEN);
	return slot;
}

/*
 * Charges one request to slot (under its set's lock): true if within the
 * budget; the window's start and count after the charge.
 */
static bool
charge(EsqRateSlot *slot, TimestampTz now, int64 window_us, int limit,
	   TimestampTz *start, int *count)
{
	bool		ok = true;

	/* a new window: none yet, the last one ended, or the clock went back */
	if (slot->window_start == 0 || now < slot->window_start ||
		now - slot->window_start >= window_us)
	{
		slot->window_start = now;
		slot->count = 0;
	}
	if (slot->count < limit)
		slot->count++;
	else
		ok = false;
	slot->last_charged = now;
	*start = slot->window_start;
	*count = slot->count;
	return ok;
}

/*
 * Charges one request to the key of token, if the key has a slot.  Returns
 * true if it may go on; false if the key is over its budget, with resp
 * made the 429.  With the limit on and a slot charged, resp gets the
 * RateLimit-* headers either way; *admit tells that no slot was charged
 * (esq_rate_limit_admit then charges one once the key has authenticated).
 * Does nothing (true) when esqase.http_rate_limit is 0.
 */
bool
esq_rate_limit(const char *token, EsqHttpResponse *resp, bool *admit)
{
	int			limit = esq_http_rate_limit;
	int			window_s = esq_http_rate_limit_window;
	int64		window_us = (int64) window_s * USECS_PER_SEC;
	const char *prefix;
	uint32		set;
	LWLock	   *lock;
	EsqRateSlot *slot;
	TimestampTz now;
	TimestampTz start = 0;
	int			count = 0;
	bool		refused = false;
	int			reset_s;

	*admit = false;
	if (limit <= 0 || rate_table == NULL || token == NULL ||
		(prefix = esq_key_prefix(token)) == NULL)
		return true;

	set = prefix_set(prefix);
	lock = &rate_locks[set % ESQ_RL_LOCKS].lock;
	now = GetCurrentTimestamp();
	LWLockAcquire(lock, LW_EXCLUSIVE);
	slot = find_slot(rate_table->slots[set], prefix);
	if (slot)
		refused = !charge(slot, now, window_us, limit, &start, &count);
	LWLockRelease(lock);
	if (slot == NULL)
	{
		*admit = true;
		return true;
	}

	/* whole seconds until the window ends, rounded up: at least 1 */
	reset_s = (int) ((start + window_us - now + USECS_PER_SEC - 1) / USECS_PER_SEC);
	reset_s = Max(reset_s, 1);
	if (refused)
		esq_error_response(resp, 429, "rate_limited",
						   psprintf("this API key has used its %d requests per %d s "
									"(esqase.http_rate_limit); retry in %d s",
									limit, window_s, reset_s),
						   NULL);
	add_headers(resp, limit, window_s, count, reset_s, refused);
	return !refused;
}

/*
 * After the SQL of a request that esq_rate_limit let through without a
 * slot: its key authenticated (the answer is not a 401), so it gets a slot
 * and this request is charged to it, with the RateLimit-* headers.  Its
 * answer stands even if the slot was full already (another worker's
 * requests of the same key came first).
 */
void
esq_rate_limit_admit(const char *token, EsqHttpResponse *resp)
{
	int			limit = esq_http_rate_limit;
	int			window_s = esq_http_rate_limit_window;
	int64		window_us = (int64) window_s * USECS_PER_SEC;
	const char *prefix;
	uint32		set;
	LWLock	   *lock;
	EsqRateSlot *slot;
	TimestampTz now;
	TimestampTz start;
	int			count;
	int			reset_s;

	if (limit <= 0 || rate_table == NULL || token == NULL ||
		(prefix = esq_key_prefix(token)) == NULL)
		return;
	set = prefix_set(prefix);
	lock = &rate_locks[set % ESQ_RL_LOCKS].lock;
	now = GetCurrentTimestamp();
	LWLockAcquire(lock, LW_EXCLUSIVE);
	slot = find_slot(rate_table->slots[set], prefix);
	if (slot == NULL)
		slot = claim_slot(rate_table->slots[set], prefix, now, window_us);
	(void) charge(slot, now, window_us, limit, &start, &count);
	LWLockRelease(lock);
	reset_s = (int) ((start + window_us - now + USECS_PER_SEC - 1) / USECS_PER_SEC);
	add_headers(resp, limit, window_s, count, Max(reset_s, 1), false);
}

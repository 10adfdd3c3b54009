/*
 * http_tls.c — HTTPS: the certificate and key of esqase.http_tls_cert_file
 * and esqase.http_tls_key_file, handed to libmicrohttpd's GnuTLS.  No SPI.
 *
 * libmicrohttpd reads a certificate given as an option once, when the
 * daemon starts; to reload it on SIGHUP without closing connections the
 * daemons instead ask for it at each handshake (MHD_OPTION_HTTPS_CERT_CALLBACK,
 * GnuTLS's retrieve function), and a reload only swaps what the callback
 * returns.  The credentials replaced by a reload are freed at the next
 * one, not at once: a handshake that started before the swap may still use
 * them (a handshake spans several runs of the event loop).  A reload whose
 * files do not load keeps the credentials in use, with a WARNING.  A
 * certificate that is loaded and differs from the one in use (or the first
 * one) is logged once, by the first worker: its subject, expiry, file and
 * SHA-256 fingerprint, so that a DBA sees which one is now served (a
 * WARNING if it has already expired).
 *
 * What is offered is esqase.http_tls_priorities, a GnuTLS priority string.
 * Its default (ESQ_TLS_PRIORITIES_DEFAULT) is Mozilla's "intermediate"
 * configuration: TLS 1.2 and 1.3 only, and in TLS 1.2 only suites with
 * forward secrecy (ECDHE or DHE key exchange, never static RSA) and AEAD
 * ciphers (AES-GCM, ChaCha20-Poly1305; no CBC, no SHA-1 MAC).  A string is
 * checked when set (GnuTLS must accept it); the daemons take it when they
 * start, so a reload that changes it restarts the HTTP workers.
 */
#include "postgres.h"

#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "postmaster/bgworker.h"
#include "utils/guc.h"

#include "esqase.h"

#define MAX_CHAIN 16

typedef struct EsqTlsCreds
{
	gnutls_pcert_st chain[MAX_CHAIN];
	unsigned int nchain;
	gnutls_privkey_t key;
} EsqTlsCreds;

static EsqTlsCreds *current = NULL;
static EsqTlsCreds *retired = NULL;

/* esqase.http_tls_priorities as the daemons of this worker took it */
static char *priorities_in_use = NULL;

static void
free_creds(EsqTlsCreds *c)
{
	unsigned int i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nchain; i++)
		gnutls_pcert_deinit(&c->chain[i]);
	if (c->key)
		gnutls_privkey_deinit(c->key);
	free(c);
}

/* Loads cert (a PEM chain, leaf first) and key; NULL with *err set on failure. */
static EsqTlsCreds *
load_creds(const char *cert_file, const char *key_file, const char **what, int *err)
{
	EsqTlsCreds *c = calloc(1, sizeof(EsqTlsCreds));
	gnutls_datum_t data = {NULL, 0};
	int			rc;

	*err = GNUTLS_E_MEMORY_ERROR;
	*what = "memory";
	if (c == NULL)
		return NULL;

	*what = cert_file;
	rc = gnutls_load_file(cert_file, &data);
	if (rc >= 0)
	{
		c->nchain = MAX_CHAIN;
		rc = gnutls_pcert_list_import_x509_raw(c->chain, &c->nchain, &data,
											   GNUTLS_X509_FMT_PEM, 0);
		if (rc < 0)
			c->nchain = 0;
		else if (c->nchain == 0)
			rc = GNUTLS_E_NO_CERTIFICATE_FOUND;
		gnutls_free(data.data);
		data.data = NULL;
	}
	if (rc >= 0)
	{
		*what = key_file;
		rc = gnutls_load_file(key_file, &data);
		if (rc >= 0)
		{
			rc = gnutls_privkey_init(&c->key);
			if (rc >= 0)
				rc = gnutls_privkey_import_x509_raw(c->key, &data, GNUTLS_X509_FMT_PEM,
													NULL, 0);
			gnutls_free(data.data);
		}
	}
	if (rc < 0)
	{
		*err = rc;
		free_creds(c);
		return NULL;
	}
	return c;
}

/* Whether a and b have the same leaf certificate. */
static bool
same_leaf(const EsqTlsCreds *a, const EsqTlsCreds *b)
{
	return a != NULL && b != NULL && a->nchain > 0 && b->nchain > 0 &&
		a->chain[0].cert.size == b->chain[0].cert.size &&
		memcmp(a->chain[0].cert.data, b->chain[0].cert.data, a->chain[0].cert.size) == 0;
}

/*
 * Logs which certificate c (just loaded from cert_file) serves: at LOG in
 * the first HTTP worker when it is new to this worker, else at DEBUG1 (the
 * other workers load the same files); a WARNING if it has expired.
 */
static void
log_served(const EsqTlsCreds *c, const EsqTlsCreds *before, const char *cert_file)
{
	gnutls_x509_crt_t crt;
	gnutls_datum_t dn = {NULL, 0};
	unsigned char fpr[32];
	size_t		fpr_len = sizeof(fpr);
	char		hex[3 * sizeof(fpr)];
	char		until[64];
	time_t		expires;
	struct tm	tm;
	bool		expired;
	int			elevel = DEBUG1;

	if (MyBgworkerEntry != NULL && DatumGetInt32(MyBgworkerEntry->bgw_main_arg) == 0 &&
		!same_leaf(c, before))
		elevel = LOG;
	if (gnutls_x509_crt_init(&crt) < 0)
		return;
	if (gnutls_x509_crt_import(crt, &c->chain[0].cert, GNUTLS_X509_FMT_DER) < 0 ||
		gnutls_x509_crt_get_dn3(crt, &dn, 0) < 0 ||
		gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, fpr, &fpr_len) < 0)
	{
		gnutls_free(dn.data);
		gnutls_x509_crt_deinit(crt);
		return;
	}
	expires = gnutls_x509_crt_get_expiration_time(crt);
	gnutls_x509_crt_deinit(crt);
	expired = expires != (time_t) -1 && expires < time(NULL);
	if (expired && elevel == LOG)
		elevel = WARNING;
	if (expires == (time_t) -1 || gmtime_r(&expires, &tm) == NULL ||
		strftime(until, sizeof(until), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		strlcpy(until, "an unreadable date", sizeof(until));
	/*
	 * As openssl x509 -fingerprint -sha256 writes it (AB:CD:...), which is
	 * also not a word of 64 hex digits that the log's key redaction
	 * (secrets.c) would take for a secret.
	 */
	hex[0] = '\0';
	for (size_t i = 0; i < fpr_len; i++)
		snprintf(hex + 3 * i, 4, i + 1 < fpr_len ? "%02X:" : "%02X", fpr[i]);
	ereport(elevel,
			(errmsg("esqase: HTTPS now serves the certificate \"%s\" from \"%s\", %s %s (SHA-256 %s)",
					(const char *) dn.data, cert_file,
					expired ? "which EXPIRED on" : "valid until", until, hex),
			 expired ? errhint("Clients refuse an expired certificate: renew it, then reload.") : 0));
	gnutls_free(dn.data);
}

bool
esq_tls_enabled(void)
{
	return esq_http_tls_cert_file && esq_http_tls_cert_file[0] != '\0';
}

/*
 * Loads the files of the settings (a reload always rereads them, so a
 * certificate renewed in place is picked up).  Returns false, after a WARNING, if they do
 * not load; the credentials in use, if any, stay.
 */
bool
esq_tls_load(void)
{
	const char *what;
	int			err;
	EsqTlsCreds *c;
	const char *key_file = esq_http_tls_key_file && esq_http_tls_key_file[0] ?
		esq_http_tls_key_file : esq_http_tls_cert_file;

	c = load_creds(esq_http_tls_cert_file, key_file, &what, &err);
	if (c == NULL)
	{
		ereport(WARNING,
				(errmsg("esqase: could not load the HTTPS certificate or key \"%s\": %s",
						what, gnutls_strerror(err)),
				 current ? errdetail("The HTTP API keeps the certificate it had.") : 0));
		return false;
	}
	log_served(c, current, esq_http_tls_cert_file);
	free_creds(retired);
	retired = current;
	current = c;
	return true;
}

/* GnuTLS's retrieve function: the credentials in use, for each handshake. */
static int
esq_tls_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn,
				 int nreqs, const gnutls_pk_algorithm_t *pk_algos,
				 int pk_algos_length, gnutls_pcert_st **pcert,
				 unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
	if (current == NULL)
		return -1;
	*pcert = current->chain;
	*pcert_length = current->nchain;
	*pkey = current->key;
	return 0;
}

/* The GUC check hook of esqase.http_tls_priorities: GnuTLS must accept it. */
bool
esq_tls_check_priorities(char **newval, void **extra, GucSource source)
{
	gnutls_priority_t prio;
	const char *err = NULL;
	int			rc;

	if (*newval == NULL || (*newval)[0] == '\0')
	{
		GUC_check_errdetail("It must not be empty (the default is \"%s\").",
							ESQ_TLS_PRIORITIES_DEFAULT);
		return false;
	}
	rc = gnutls_priority_init(&prio, *newval, &err);
	if (rc < 0)
	{
		GUC_check_errdetail("GnuTLS does not accept it: %s%s%s.", gnutls_strerror(rc),
							err ? " at " : "", err ? err : "");
		return false;
	}
	gnutls_priority_deinit(prio);
	return true;
}

/* The priority string for the daemons now starting (remembered). */
const char *
esq_tls_priorities(void)
{
	if (priorities_in_use == NULL ||
		strcmp(priorities_in_use, esq_http_tls_priorities) != 0)
	{
		free(priorities_in_use);
		priorities_in_use = strdup(esq_http_tls_priorities);
	}
	return priorities_in_use ? priorities_in_use : ESQ_TLS_PRIORITIES_DEFAULT;
}

/* Whether esqase.http_tls_priorities differs from the daemons'. */
bool
esq_tls_priorities_changed(void)
{
	return priorities_in_use != NULL &&
		strcmp(priorities_in_use, esq_http_tls_priorities) != 0;
}

/* For MHD_OPTION_HTTPS_CERT_CALLBACK (keeps GnuTLS types out of esqase.h). */
void *
esq_tls_cert_callback(void)
{
	return (void *) esq_tls_retrieve;
}

/*
 * A record on a session libmicrohttpd holds, sent between two of its own
 * calls (esq_http_answer_refused): it has sent every earlier answer on the
 * connection in full before it reads the next request, so the record
 * follows them, and after the close_notify the session refuses what
 * libmicrohttpd would send next (it then closes the connection).
 */
ssize_t
esq_tls_send_last(void *session, const void *buf, size_t len)
{
	gnutls_session_t s = (gnutls_session_t) session;
	ssize_t		n;

	if (s == NULL)
		return -1;
	n = gnutls_record_send(s, buf, len);
	(void) gnutls_bye(s, GNUTLS_SHUT_WR);
	return n < 0 ? -1 : n;
}

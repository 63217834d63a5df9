/* libhttp.c - batches of HTTP requests over one libcurl multi handle */
#include "libhttp.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "liburl.h"

#ifndef PWNM_VERSION
#define PWNM_VERSION "dev"
#endif

#define DEFAULT_CONNECT_TIMEOUT_MS 10000L
#define DEFAULT_STALL_MS 20000L
#define DEFAULT_LOW_SPEED_LIMIT 1024L
#define DEFAULT_LOW_SPEED_TIME_MS 30000L
#define DEFAULT_MAX_PARALLEL 4
#define DEFAULT_MAX_RETRIES 3
#define DEFAULT_RETRY_BASE_MS 500L
#define DEFAULT_RETRY_MAX_MS 30000L
#define DEFAULT_MAX_BODY ((size_t)32 << 20)
/* Longest single wait in curl_multi_poll; timers are rechecked after it. */
#define POLL_MAX_MS 1000L
/* Nothing back for this long: the wait note (http_options.wait_note). */
#define WAIT_NOTE_MS 2000

struct http {
	CURLM *multi;
	char *origin;     /* normalised origin the token belongs to, or NULL */
	char *token;      /* NULL: no Authorization header ever */
	char *user_agent;
	char *proxy;      /* for https only; NULL: libcurl's environment (https_proxy, ...) */
	char *cainfo;     /* CA file; NULL: libcurl's default */
	long connect_timeout_ms;
	long timeout_ms;         /* 0: none */
	long stall_ms;           /* 0: none */
	long low_speed_limit;    /* bytes/s; 0: none */
	long low_speed_time_ms;
	int max_parallel;
	int max_retries;
	long retry_base_ms;
	long retry_max_ms;
	int64_t deadline_ms;
	size_t max_body;
	int wait_note;    /* say once that we wait (see http_options) */
	uint64_t sent;
	/* Idle easy handles, reset, ready for the next transfer. */
	CURL **pool;
	size_t npool;
	size_t pool_cap;
};

enum xfer_state { XFER_WAITING, XFER_RUNNING, XFER_DONE };

/* Per-request state of one http_run, attached to its easy handle as CURLOPT_PRIVATE. */
struct xfer {
	http_t *h;
	struct http_request *req;
	enum xfer_state state;
	CURL *easy;                  /* while running */
	struct curl_slist *headers;  /* while running */
	CURLU *url;                  /* while running: the URL as parsed for the token check */
	int64_t not_before;          /* earliest start of the next attempt */
	int64_t started;             /* now_ms() when the attempt started */
	long attempt_timeout_ms;     /* 0: none */
	int64_t last_byte;           /* now_ms() when the attempt last sent or got a byte */
	curl_off_t seen_dl, seen_ul; /* progress counters at last_byte */
	int stalled;                 /* the progress callback ended the attempt: no byte for stall_ms */
	int timeouts;                /* attempts that timed out or stalled */
	int too_big;                 /* the write callback refused the body */
	/* outcome of the last attempt, used when no further attempt is made */
	pwnm_status_t last_status;
	char *last_reason;
	int last_counts_attempts;    /* append "after N attempts" to the reason */
	char errbuf[CURL_ERROR_SIZE];
};

/* ---- client ---- */

pwnm_status_t
http_new(const struct http_options *opt, http_t **out)
{
	static const struct http_options none = { 0 };
	http_t *h;
	CURLMcode mc;

	*out = NULL;
	if (!opt)
		opt = &none;
	if (opt->token && !token_valid(opt->token)) {
		debug("http", "the token is empty or contains blanks or control characters");
		return PWNM_STATUS_CONFIG;
	}
	h = xcalloc(1, sizeof *h);
	h->multi = curl_multi_init();
	if (!h->multi) {
		debug("http", "curl_multi_init failed");
		free(h);
		return PWNM_STATUS_NETWORK;
	}
	h->origin = opt->origin ? url_origin(opt->origin) : NULL;
	h->wait_note = opt->wait_note;
	h->token = opt->token ? xstrdup(opt->token) : NULL;
	h->user_agent = opt->user_agent ? xstrdup(opt->user_agent)
					: xstrdup("pwnm/" PWNM_VERSION);
	h->proxy = opt->proxy && *opt->proxy ? xstrdup(opt->proxy) : NULL;
	h->cainfo = opt->cainfo && *opt->cainfo ? xstrdup(opt->cainfo) : NULL;
	debug("http", "CA file %s, https proxy %s", h->cainfo ? h->cainfo : "libcurl's default",
	      h->proxy ? h->proxy : "from the environment");
	h->connect_timeout_ms = opt->connect_timeout_ms > 0
				    ? opt->connect_timeout_ms
				    : DEFAULT_CONNECT_TIMEOUT_MS;
	h->timeout_ms = opt->timeout_ms > 0 ? opt->timeout_ms : 0;
	h->stall_ms = opt->stall_ms > 0 ? opt->stall_ms : opt->stall_ms < 0 ? 0 : DEFAULT_STALL_MS;
	h->low_speed_limit = opt->low_speed_limit > 0 ? opt->low_speed_limit
			     : opt->low_speed_limit < 0 ? 0 : DEFAULT_LOW_SPEED_LIMIT;
	h->low_speed_time_ms = opt->low_speed_time_ms > 0 ? opt->low_speed_time_ms
						      : DEFAULT_LOW_SPEED_TIME_MS;
	h->max_parallel = opt->max_parallel > 0 ? opt->max_parallel
						: DEFAULT_MAX_PARALLEL;
	if (opt->max_retries > 0)
		h->max_retries = opt->max_retries;
	else
		h->max_retries = opt->max_retries == 0 ? DEFAULT_MAX_RETRIES : 0;
	h->retry_base_ms = opt->retry_base_ms > 0 ? opt->retry_base_ms
						  : DEFAULT_RETRY_BASE_MS;
	h->retry_max_ms = opt->retry_max_ms > 0 ? opt->retry_max_ms
						: DEFAULT_RETRY_MAX_MS;
	h->deadline_ms = opt->deadline_ms;
	h->max_body = opt->max_body > 0 ? opt->max_body : DEFAULT_MAX_BODY;

	mc = curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
			       (long)h->max_parallel);
	if (mc == CURLM_OK)
		mc = curl_multi_setopt(h->multi, CURLMOPT_PIPELINING,
				       (long)CURLPIPE_MULTIPLEX);
	if (mc != CURLM_OK) {
		debug("http", "curl_multi_setopt: %s", curl_multi_strerror(mc));
		http_free(h);
		return PWNM_STATUS_NETWORK;
	}
	*out = h;
	return PWNM_STATUS_SUCCESS;
}

void
http_free(http_t *h)
{
	size_t i;

	if (!h)
		return;
	for (i = 0; i < h->npool; i++)
		curl_easy_cleanup(h->pool[i]);
	free(h->pool);
	if (h->multi)
		curl_multi_cleanup(h->multi);
	if (h->token) {
		explicit_bzero(h->token, strlen(h->token));
		free(h->token);
	}
	free(h->origin);
	free(h->user_agent);
	free(h->proxy);
	free(h->cainfo);
	free(h);
}

void
http_set_deadline(http_t *h, int64_t deadline_ms)
{
	h->deadline_ms = deadline_ms;
}

pwnm_status_t
http_set_token(http_t *h, const char *token)
{
	if (token && !token_valid(token))
		return PWNM_STATUS_CONFIG;
	if (h->token) {
		explicit_bzero(h->token, strlen(h->token));
		free(h->token);
	}
	h->token = token ? xstrdup(token) : NULL;
	return PWNM_STATUS_SUCCESS;
}

void
http_mask_token(const http_t *h, char *s)
{
	size_t tl, min, i, j, k, best;

	if (!h || !h->token || !s)
		return;
	tl = strlen(h->token);
	min = tl < 8 ? tl : 8;
	for (i = 0; s[i];) {
		best = 0;
		for (j = 0; j < tl && best < tl - j; j++) {
			for (k = 0; s[i + k] && j + k < tl && s[i + k] == h->token[j + k]; k++)
				;
			if (k > best)
				best = k;
		}
		if (best >= min) {
			memset(s + i, '*', best);
			i += best;
		} else {
			i++;
		}
	}
}

uint64_t
http_requests_sent(const http_t *h)
{
	return h->sent;
}

/* ---- requests ---- */

struct http_request *
http_request_new(const char *method, const char *url, const char *body)
{
	struct http_request *r = xcalloc(1, sizeof *r);

	r->method = xstrdup(method);
	r->url = xstrdup(url);
	r->body = body ? xstrdup(body) : NULL;
	r->retry_after = -1;
	r->status = PWNM_STATUS_SUCCESS;
	return r;
}

void
http_request_free(struct http_request *r)
{
	if (!r)
		return;
	free(r->method);
	free(r->url);
	free(r->body);
	buf_free(&r->resp);
	free(r->link);
	free(r->error);
	free(r);
}

/* Forget what a previous attempt (or run) left in the out fields. */
static void
reset_response(struct http_request *r)
{
	r->code = 0;
	buf_reset(&r->resp);
	free(r->link);
	r->link = NULL;
	r->retry_after = -1;
	r->date = 0;
}

/* ---- callbacks ---- */

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * nmemb;

	if (len > x->h->max_body - x->req->resp.len) {
		x->too_big = 1;
		return 0;
	}
	buf_add(&x->req->resp, data, len);
	return len;
}

/* Ends an attempt that sent and got nothing for stall_ms (curl calls it about once a second). */
static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct xfer *x = arg;
	int64_t now = now_ms();

	(void)dltotal;
	(void)ultotal;
	if (dlnow != x->seen_dl || ulnow != x->seen_ul) {
		x->seen_dl = dlnow;
		x->seen_ul = ulnow;
		x->last_byte = now;
		return 0;
	}
	if (x->h->stall_ms && now - x->last_byte >= x->h->stall_ms) {
		x->stalled = 1;
		return 1;
	}
	return 0;
}

/*
 * If the header line [p, p+len) is "<name>: value", return the value
 * with surrounding blanks and the line end removed; NULL otherwise.
 */
static const char *
header_value(const char *p, size_t len, const char *name, size_t *vlen)
{
	size_t n = strlen(name);
	const char *v, *e;

	if (len <= n || p[n] != ':' || strncasecmp(p, name, n) != 0)
		return NULL;
	v = p + n + 1;
	e = p + len;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' ||
			 e[-1] == '\t'))
		e--;
	*vlen = (size_t)(e - v);
	return v;
}

static size_t
on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	struct http_request *r = x->req;
	size_t len = size * nmemb, vlen;
	const char *v;

	x->last_byte = now_ms();
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		/* a new response begins (a 1xx may come first) */
		free(r->link);
		r->link = NULL;
		r->retry_after = -1;
		r->date = 0;
		return len;
	}
	v = header_value(data, len, "Link", &vlen);
	if (v) {
		if (r->link) {
			/* several Link headers are one comma-separated list */
			char *both = xasprintf("%s, %.*s", r->link, (int)vlen, v);

			free(r->link);
			r->link = both;
		} else {
			r->link = xstrndup(v, vlen);
		}
		return len;
	}
	v = header_value(data, len, "Date", &vlen);
	if (v) {
		char *s = xstrndup(v, vlen);
		time_t t = curl_getdate(s, NULL);

		r->date = t > 0 ? (int64_t)t : 0;
		free(s);
		return len;
	}
	v = header_value(data, len, "Retry-After", &vlen);
	if (v) {
		char *s = xstrndup(v, vlen);
		uint64_t secs;

		/* only the delta-seconds form; an HTTP-date counts as absent */
		if (parse_u64(s, &secs) == 0)
			r->retry_after = secs > (uint64_t)(LONG_MAX / 1000)
						 ? LONG_MAX / 1000
						 : (long)secs;
		free(s);
	}
	return len;
}

/* ---- easy handle pool ---- */

static CURL *
pool_get(http_t *h)
{
	if (h->npool > 0)
		return h->pool[--h->npool];
	return curl_easy_init();
}

static void
pool_put(http_t *h, CURL *e)
{
	curl_easy_reset(e);
	if (h->npool == h->pool_cap) {
		h->pool_cap = h->pool_cap ? h->pool_cap * 2 : 8;
		h->pool = xreallocarray(h->pool, h->pool_cap, sizeof *h->pool);
	}
	h->pool[h->npool++] = e;
}

/* Free a header list, wiping the copies first (one may hold the token). */
static void
free_headers(struct curl_slist *l)
{
	struct curl_slist *p;

	for (p = l; p; p = p->next)
		explicit_bzero(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

/* ---- outcome ---- */

/* "10 s" or "250 ms" */
static char *
fmt_ms(long ms)
{
	if (ms >= 1000 && ms % 1000 == 0)
		return xasprintf("%ld s", ms / 1000);
	return xasprintf("%ld ms", ms);
}

/* End the request for good with this status and "<METHOD> <url>: <reason>". */
static void
finish(struct xfer *x, pwnm_status_t status, const char *reason, int count)
{
	struct http_request *r = x->req;

	x->state = XFER_DONE;
	if (!r->resp.data)
		buf_add(&r->resp, "", 0);
	r->status = status;
	free(r->error);
	r->error = NULL;
	if (status != PWNM_STATUS_SUCCESS) {
		if (count && r->attempts > 1)
			r->error = xasprintf("%s %s: %s after %d attempts", r->method,
					     r->url, reason, r->attempts);
		else
			r->error = xasprintf("%s %s: %s", r->method, r->url, reason);
	}
	free(x->last_reason);
	x->last_reason = NULL;
}

/* No further attempt: the last one's outcome becomes final. */
static void
give_up(struct xfer *x)
{
	if (x->req->attempts == 0 || !x->last_reason)
		finish(x, PWNM_STATUS_TIMEOUT, "not started, time budget used up", 0);
	else
		finish(x, x->last_status, x->last_reason, x->last_counts_attempts);
}

/* The curl error text, on one line, or NULL when it adds nothing. */
static const char *
clean_errbuf(struct xfer *x, CURLcode res)
{
	char *p;
	size_t n;

	for (p = x->errbuf; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	n = strlen(x->errbuf);
	while (n > 0 && x->errbuf[n - 1] == ' ')
		x->errbuf[--n] = '\0';
	if (n == 0 || strcmp(x->errbuf, curl_easy_strerror(res)) == 0)
		return NULL;
	return x->errbuf;
}

/*
 * Map a finished transfer to a status and a reason (caller frees).
 * *retry is set when another attempt may help.
 */
static pwnm_status_t
classify(http_t *h, struct xfer *x, CURLcode res, char **reason, int *retry)
{
	struct http_request *r = x->req;
	const char *what, *detail;
	pwnm_status_t st = PWNM_STATUS_NETWORK;
	int again = 1;

	*retry = 0;
	if (x->too_big) {
		*reason = xasprintf("response larger than %zu bytes", h->max_body);
		return PWNM_STATUS_PROTOCOL;
	}
	if (res == CURLE_OK) {
		if (r->code >= 200 && r->code < 300) {
			*reason = NULL;
			return PWNM_STATUS_SUCCESS;
		}
		if (r->code >= 300 && r->code < 400) {
			*reason = xasprintf("HTTP %ld, redirect to another location refused",
					    r->code);
			return PWNM_STATUS_PROTOCOL;
		}
		*reason = xasprintf("HTTP %ld", r->code);
		if (r->code >= 500 || r->code == 429) {
			*retry = 1;
			return PWNM_STATUS_SERVER;
		}
		if (r->code >= 400)
			return PWNM_STATUS_HTTP;
		return PWNM_STATUS_PROTOCOL;
	}
	if (x->stalled) {
		char *t = fmt_ms(h->stall_ms);

		*reason = xasprintf("no data for %s", t);
		free(t);
		*retry = 1;
		return PWNM_STATUS_TIMEOUT;
	}
	if (res == CURLE_OPERATION_TIMEDOUT && strstr(x->errbuf, "too slow")) {
		char *t = fmt_ms(h->low_speed_time_ms);

		*reason = xasprintf("slower than %ld bytes/s for %s", h->low_speed_limit, t);
		free(t);
		*retry = 1;
		return PWNM_STATUS_TIMEOUT;
	}
	detail = clean_errbuf(x, res);
	switch (res) {
	case CURLE_OPERATION_TIMEDOUT: {
		curl_off_t pre = 0;
		long ms = x->attempt_timeout_ms;
		char *t;

		what = "timed out after";
		if (curl_easy_getinfo(x->easy, CURLINFO_PRETRANSFER_TIME_T, &pre) ==
			    CURLE_OK &&
		    pre == 0 && (ms == 0 || h->connect_timeout_ms < ms)) {
			what = "connection timed out after";
			ms = h->connect_timeout_ms;
		}
		t = fmt_ms(ms);
		*reason = xasprintf("%s %s", what, t);
		free(t);
		*retry = 1;
		return PWNM_STATUS_TIMEOUT;
	}
	case CURLE_COULDNT_RESOLVE_HOST:
		what = "cannot resolve host";
		break;
	case CURLE_COULDNT_CONNECT:
		what = "cannot connect";
		break;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		what = "connection reset";
		break;
	case CURLE_PARTIAL_FILE:
		what = "response cut short";
		break;
	case CURLE_GOT_NOTHING:
		what = "empty reply from server";
		break;
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		what = "HTTP/2 error";
		break;
	case CURLE_SSL_CONNECT_ERROR:
		what = "TLS handshake failed";
		break;
	case CURLE_PEER_FAILED_VERIFICATION: {
		/* not a temporary failure: it takes a change of setting (or of certificate) */
		char *host = NULL;

		if (curl_url_get(x->url, CURLUPART_HOST, &host, 0) != CURLUE_OK)
			host = NULL;
		*reason = xasprintf("the TLS certificate of %s is not accepted%s%s%s; if its CA "
				    "is a private one, set pwnm.cainfo to the CA's file",
				    host ? host : "the server", detail ? " (" : "",
				    detail ? detail : "", detail ? ")" : "");
		curl_free(host);
		return PWNM_STATUS_PROTOCOL;
	}
	case CURLE_SSL_CACERT_BADFILE:
		what = "cannot read the CA file (pwnm.cainfo)";
		again = 0;
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_BAD_CONTENT_ENCODING:
	case CURLE_WEIRD_SERVER_REPLY:
		what = curl_easy_strerror(res);
		st = PWNM_STATUS_PROTOCOL;
		again = 0;
		break;
	default:
		what = curl_easy_strerror(res);
		again = 0;
		break;
	}
	if (detail)
		*reason = xasprintf("%s (%s)", what, detail);
	else
		*reason = xstrdup(what);
	*retry = again;
	return st;
}

static long
backoff_ms(const http_t *h, const struct http_request *r)
{
	long d = h->retry_base_ms;
	int i;

	for (i = 1; i < r->attempts && d < h->retry_max_ms; i++)
		d = d > LONG_MAX / 2 ? LONG_MAX : d * 2;
	if (r->retry_after >= 0)
		d = r->retry_after * 1000;
	return d < h->retry_max_ms ? d : h->retry_max_ms;
}

/* The attempt of x ended with res: finish the request or schedule the next attempt. */
static void
end_attempt(http_t *h, struct xfer *x, CURLcode res)
{
	struct http_request *r = x->req;
	int64_t now = now_ms();
	CURLMcode mc;
	CURLcode rc;
	pwnm_status_t st;
	char *reason;
	int retry;
	long code = 0;

	rc = curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	r->code = rc == CURLE_OK ? code : 0;
	st = classify(h, x, res, &reason, &retry);
	mc = curl_multi_remove_handle(h->multi, x->easy);
	if (mc != CURLM_OK) {
		/* do not reuse it; curl_easy_cleanup detaches it if need be */
		debug("http", "curl_multi_remove_handle: %s", curl_multi_strerror(mc));
		curl_easy_cleanup(x->easy);
	} else {
		pool_put(h, x->easy);
	}
	x->easy = NULL;
	free_headers(x->headers);
	x->headers = NULL;
	curl_url_cleanup(x->url);
	x->url = NULL;
	if (!r->resp.data)
		buf_add(&r->resp, "", 0);

	if (reason)
		debug("http", "%s %s: %s in %lld ms (attempt %d)", r->method, r->url,
		      reason, (long long)(now - x->started), r->attempts);
	else
		debug("http", "%s %s: HTTP %ld in %lld ms (attempt %d)", r->method,
		      r->url, r->code, (long long)(now - x->started), r->attempts);
	if (st == PWNM_STATUS_SUCCESS) {
		finish(x, st, NULL, 0);
		return;
	}
	free(x->last_reason);
	x->last_reason = reason;
	x->last_status = st;
	x->last_counts_attempts = retry;
	/* a server that timed out once gets one more try, not max_retries */
	if (st == PWNM_STATUS_TIMEOUT && ++x->timeouts >= 2)
		retry = 0;
	if (retry && r->attempts <= h->max_retries) {
		long delay = backoff_ms(h, r);

		if (!h->deadline_ms || now + delay < h->deadline_ms) {
			debug("http", "%s %s: retry in %ld ms", r->method, r->url, delay);
			x->state = XFER_WAITING;
			x->not_before = now + delay;
			return;
		}
	}
	give_up(x);
}

static int
method_ok(const char *m)
{
	if (!*m)
		return 0;
	for (; *m; m++)
		if (!isupper((unsigned char)*m))
			return 0;
	return 1;
}

/* Should the token go with r, whose URL parsed as u (the handle the transfer uses)? */
static int
wants_token(const http_t *h, const struct http_request *r, CURLU *u)
{
	char *o;
	int same;

	if (!r->auth || !h->token || !h->origin)
		return 0;
	o = url_origin_parsed(u);
	same = o && strcmp(o, h->origin) == 0;
	free(o);
	return same;
}

static int
add_header(struct xfer *x, const char *line)
{
	struct curl_slist *l = curl_slist_append(x->headers, line);

	if (!l)
		return -1;
	x->headers = l;
	return 0;
}

/* Set an option of easy handle e; on failure note which one and leave. */
#define SETOPT(opt, val)                                                      \
	do {                                                                  \
		rc = curl_easy_setopt(e, opt, val);                           \
		if (rc != CURLE_OK) {                                         \
			what = #opt;                                          \
			goto fail;                                            \
		}                                                             \
	} while (0)

/*
 * Start the next attempt of x (the deadline, if any, is still ahead).
 * Returns 0 when the transfer runs, -1 when the request was finished
 * instead.
 */
static int
start_attempt(http_t *h, struct xfer *x, int64_t now)
{
	struct http_request *r = x->req;
	char *msg;
	const char *what = NULL;
	CURLcode rc = CURLE_OK;
	CURLMcode mc;
	CURL *e;
	long timeout = h->timeout_ms;

	if (!method_ok(r->method)) {
		finish(x, PWNM_STATUS_PROTOCOL, "invalid method", 0);
		return -1;
	}
	x->url = url_parse(r->url);
	if (!x->url) {
		finish(x, PWNM_STATUS_PROTOCOL, "not an http or https URL", 0);
		return -1;
	}
	if (h->deadline_ms && (timeout == 0 || h->deadline_ms - now < timeout))
		timeout = (long)(h->deadline_ms - now);
	if (timeout < 0 || (h->deadline_ms && timeout < 1))
		timeout = 1;
	reset_response(r);
	x->too_big = 0;
	x->stalled = 0;
	x->last_byte = now;
	x->seen_dl = x->seen_ul = 0;
	x->errbuf[0] = '\0';
	x->attempt_timeout_ms = timeout;

	e = pool_get(h);
	if (!e) {
		curl_url_cleanup(x->url);
		x->url = NULL;
		finish(x, PWNM_STATUS_NETWORK, "cannot create a curl handle", 0);
		return -1;
	}
	x->easy = e;
	if (add_header(x, "Accept: application/json") < 0)
		goto nomem;
	if (r->body && (add_header(x, "Content-Type: application/json") < 0 ||
			add_header(x, "Expect:") < 0))
		goto nomem;
	if (wants_token(h, r, x->url)) {
		char *line = xasprintf("Authorization: Token %s", h->token);
		int bad = add_header(x, line);

		explicit_bzero(line, strlen(line));
		free(line);
		if (bad < 0)
			goto nomem;
	}

	SETOPT(CURLOPT_CURLU, x->url);
	SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
	if (h->cainfo)
		SETOPT(CURLOPT_CAINFO, h->cainfo);
	/*
	 * No proxy ever carries plain http (a token would pass it in clear):
	 * "" turns off libcurl's http_proxy and all_proxy.  https goes
	 * through pwnm.proxy, or libcurl's environment, in a CONNECT tunnel.
	 */
	if (strncasecmp(r->url, "https:", 6) != 0)
		SETOPT(CURLOPT_PROXY, "");
	else if (h->proxy)
		SETOPT(CURLOPT_PROXY, h->proxy);
	SETOPT(CURLOPT_ACCEPT_ENCODING, "");
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
	SETOPT(CURLOPT_TIMEOUT_MS, timeout);
	if (h->low_speed_limit) {
		SETOPT(CURLOPT_LOW_SPEED_LIMIT, h->low_speed_limit);
		SETOPT(CURLOPT_LOW_SPEED_TIME, (h->low_speed_time_ms + 999) / 1000);
	}
	SETOPT(CURLOPT_NOPROGRESS, 0L);
	SETOPT(CURLOPT_XFERINFOFUNCTION, on_progress);
	SETOPT(CURLOPT_XFERINFODATA, (void *)x);
	SETOPT(CURLOPT_USERAGENT, h->user_agent);
	/*
	 * Wait for a connection being set up rather than open a second one,
	 * in case it multiplexes.  Only https can (HTTP/2 through ALPN):
	 * on http curl would learn "no" only from the first response.
	 */
	if (strncasecmp(r->url, "https:", 6) == 0)
		SETOPT(CURLOPT_PIPEWAIT, 1L);
	SETOPT(CURLOPT_PRIVATE, (void *)x);
	SETOPT(CURLOPT_ERRORBUFFER, x->errbuf);
	SETOPT(CURLOPT_WRITEFUNCTION, on_body);
	SETOPT(CURLOPT_WRITEDATA, (void *)x);
	SETOPT(CURLOPT_HEADERFUNCTION, on_header);
	SETOPT(CURLOPT_HEADERDATA, (void *)x);
	SETOPT(CURLOPT_HTTPHEADER, x->headers);
	if (strcmp(r->method, "GET") == 0 && !r->body) {
		SETOPT(CURLOPT_HTTPGET, 1L);
	} else {
		SETOPT(CURLOPT_CUSTOMREQUEST, r->method);
		SETOPT(CURLOPT_POSTFIELDSIZE_LARGE,
		       (curl_off_t)(r->body ? strlen(r->body) : 0));
		SETOPT(CURLOPT_POSTFIELDS, r->body ? r->body : "");
	}

	mc = curl_multi_add_handle(h->multi, e);
	if (mc != CURLM_OK) {
		msg = xasprintf("cannot start the transfer (curl_multi_add_handle: %s)",
				curl_multi_strerror(mc));
		goto fail_msg;
	}
	r->attempts++;
	h->sent++;
	x->started = now;
	x->state = XFER_RUNNING;
	debug("http", "%s %s: attempt %d", r->method, r->url, r->attempts);
	return 0;

nomem:
	msg = xstrdup("cannot set up the transfer (out of memory)");
	goto fail_msg;
fail:
	msg = xasprintf("cannot set up the transfer (%s: %s)", what,
			curl_easy_strerror(rc));
fail_msg:
	pool_put(h, e);
	x->easy = NULL;
	free_headers(x->headers);
	x->headers = NULL;
	curl_url_cleanup(x->url);
	x->url = NULL;
	/* an earlier attempt's outcome, if any, says more than this */
	if (r->attempts > 0 && x->last_reason) {
		free(msg);
		give_up(x);
	} else {
		finish(x, PWNM_STATUS_NETWORK, msg, 0);
		free(msg);
	}
	return -1;
}

#undef SETOPT

/* The multi handle failed: end every unfinished request. */
static void
abort_all(http_t *h, struct xfer *xs, size_t n, const char *call, CURLMcode mc)
{
	char *msg = xasprintf("%s failed (%s)", call, curl_multi_strerror(mc));
	size_t i;

	for (i = 0; i < n; i++) {
		struct xfer *x = &xs[i];

		if (x->state == XFER_RUNNING) {
			if (curl_multi_remove_handle(h->multi, x->easy) == CURLM_OK)
				pool_put(h, x->easy);
			else
				curl_easy_cleanup(x->easy);
			x->easy = NULL;
			free_headers(x->headers);
			x->headers = NULL;
			curl_url_cleanup(x->url);
			x->url = NULL;
		}
		if (x->state != XFER_DONE)
			finish(x, PWNM_STATUS_NETWORK, msg, 0);
	}
	free(msg);
}

pwnm_status_t
http_run(http_t *h, struct http_request **reqs, size_t n)
{
	struct xfer *xs;
	size_t i, left = n, running = 0;
	pwnm_status_t ret = PWNM_STATUS_SUCCESS;
	int64_t last_back = now_ms(); /* when a response last came back (the wait note) */

	if (n == 0)
		return PWNM_STATUS_SUCCESS;
	xs = xcalloc(n, sizeof *xs);
	for (i = 0; i < n; i++) {
		struct http_request *r = reqs[i];

		xs[i].h = h;
		xs[i].req = r;
		xs[i].state = XFER_WAITING;
		reset_response(r);
		r->attempts = 0;
		r->status = PWNM_STATUS_SUCCESS;
		free(r->error);
		r->error = NULL;
	}

	while (left > 0) {
		int64_t now = now_ms(), wake = 0;
		int ended = 0;
		long wait;
		CURLMcode mc;

		/* start what may start, in array order */
		for (i = 0; i < n; i++) {
			struct xfer *x = &xs[i];

			if (x->state != XFER_WAITING)
				continue;
			/* An attempt with almost no time left could only time out. */
			if (h->deadline_ms && now + 50 >= h->deadline_ms) {
				give_up(x);
				left--;
				continue;
			}
			if (x->not_before > now) {
				if (!wake || x->not_before < wake)
					wake = x->not_before;
				continue;
			}
			if (running >= (size_t)h->max_parallel)
				continue;
			if (start_attempt(h, x, now) == 0)
				running++;
			else
				left--;
		}
		if (left == 0)
			break;

		if (running > 0) {
			CURLMsg *m;
			int still, queued;

			mc = curl_multi_perform(h->multi, &still);
			if (mc != CURLM_OK) {
				abort_all(h, xs, n, "curl_multi_perform", mc);
				break;
			}
			while ((m = curl_multi_info_read(h->multi, &queued))) {
				struct xfer *x = NULL;
				char *priv = NULL;

				if (m->msg != CURLMSG_DONE)
					continue;
				if (curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
						      &priv) != CURLE_OK ||
				    !priv)
					continue;
				x = (struct xfer *)(void *)priv;
				end_attempt(h, x, m->data.result);
				running--;
				ended = 1;
				if (x->req->code)
					last_back = now_ms(); /* an answer, even an error */
				if (x->state == XFER_DONE)
					left--;
			}
			if (ended)
				continue;
		}

		/* wait for activity, the next retry, or the deadline */
		now = now_ms();
		if (h->wait_note == 1 && running > 0 && now - last_back >= WAIT_NOTE_MS) {
			const char *host = h->origin ? strstr(h->origin, "://") : NULL;

			fprintf(stderr, "pwnm: waiting for %s\u2026\n", host ? host + 3 : "the server");
			fflush(stderr);
			h->wait_note = 2; /* said */
		}
		wait = POLL_MAX_MS;
		if (wake && wake - now < wait)
			wait = (long)(wake - now);
		if (h->deadline_ms && h->deadline_ms - now < wait)
			wait = (long)(h->deadline_ms - now);
		if (wait < 0)
			wait = 0;
		mc = curl_multi_poll(h->multi, NULL, 0, (int)wait, NULL);
		if (mc != CURLM_OK) {
			abort_all(h, xs, n, "curl_multi_poll", mc);
			break;
		}
	}

	for (i = 0; i < n; i++) {
		free(xs[i].last_reason);
		if (ret == PWNM_STATUS_SUCCESS && reqs[i]->status != PWNM_STATUS_SUCCESS)
			ret = reqs[i]->status;
	}
	free(xs);
	return ret;
}

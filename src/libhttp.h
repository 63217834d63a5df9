/* libhttp.h - batches of HTTP requests over one libcurl multi handle */
#ifndef PWNM_LIBHTTP_H
#define PWNM_LIBHTTP_H

#include <stddef.h>
#include <stdint.h>

#include "libstatus.h"
#include "libutil.h"

/*
 * A batch of requests runs concurrently on one CURLM (keep-alive
 * connections reused across batches of the same http_t, gzip accepted,
 * HTTP/2 multiplexing where the server offers it), at most
 * max_parallel in flight.  A request that fails with a network error,
 * a timeout, HTTP 5xx or 429 is retried with exponential backoff
 * (Retry-After honoured, capped) up to max_retries times, as long as
 * the deadline allows; one that timed out or stalled is tried at most
 * twice.  Stalls are bounded, not transfers: an attempt fails when it
 * sends and gets no byte for stall_ms, or gets less than
 * low_speed_limit bytes/s over low_speed_time_ms; a slow transfer that
 * keeps moving may take as long as it needs (unless timeout_ms or the
 * deadline says otherwise).  Nothing waits past the deadline.  Redirects are never followed (a 3xx is an
 * error), so a token cannot leak to another origin.
 *
 * The token is sent as "Authorization: Token <t>" only on requests with
 * auth set AND whose URL has the configured origin: scheme, host and
 * port equal, as libcurl reads the URL (liburl.h; the transfer uses that
 * same parse).  A URL libcurl cannot read, or that is not http(s), is
 * not fetched at all.  The token never appears in any error text or
 * debug output, and http_mask_token() hides it in text a server sent back.
 *
 * Proxies: plain http never goes through one (http_proxy and all_proxy
 * are ignored for it); https uses the proxy option, or else libcurl's
 * usual environment (https_proxy, all_proxy, no_proxy), through a
 * CONNECT tunnel, so the token travels inside TLS.
 */

struct http_options {
	const char *origin;      /* "scheme://host[:port]" of pwnm.url; token only sent there */
	const char *token;       /* may be NULL: requests go out without Authorization */
	const char *user_agent;  /* NULL: "pwnm/<version>" */
	long connect_timeout_ms; /* 0: 10000 */
	long timeout_ms;         /* per attempt, 0: no limit */
	long stall_ms;           /* no byte sent or got for this long fails the attempt; 0: 20000, -1: never */
	long low_speed_limit;    /* bytes/s below which ... ; 0: 1024, -1: never */
	long low_speed_time_ms;  /* ... for this long fails the attempt; 0: 30000 (whole seconds) */
	int max_parallel;        /* 0: 4 */
	int max_retries;         /* extra attempts after the first; -1: 0 */
	long retry_base_ms;      /* first backoff, doubled each time; 0: 500 */
	long retry_max_ms;       /* cap for one backoff or Retry-After; 0: 30000 */
	int64_t deadline_ms;     /* absolute now_ms() after which nothing starts or waits; 0 none */
	size_t max_body;         /* cap on the decoded body (counted as it arrives, after gzip); 0: 32 MiB */
	int wait_note;           /* say "waiting for <host>..." on stderr once, when a batch has had
				  * nothing back for 2 s (set it for a terminal) */
	const char *proxy;       /* proxy URL for https; NULL: libcurl's environment */
	const char *cainfo;      /* CA certificates file for https; NULL: libcurl's default */
};

typedef struct http http_t;

struct http_request {
	/* in (owned by the request; set by http_request_new) */
	char *method;         /* "GET" or "PATCH" */
	char *url;
	char *body;           /* JSON body or NULL; sent with Content-Type: application/json */
	int auth;             /* send the token (if configured and same origin) */
	void *user;           /* caller data, untouched */
	/* out */
	long code;            /* HTTP status of the last attempt, 0 if no response */
	struct buf resp;      /* response body of the last attempt, NUL-terminated */
	char *link;           /* Link response header value, or NULL */
	long retry_after;     /* seconds from Retry-After, -1 when absent */
	int64_t date;         /* the server's clock: unix seconds of the Date header, 0 when absent */
	int attempts;         /* attempts made */
	/*
	 * SUCCESS for 2xx.  Otherwise: NETWORK (connect/reset/DNS),
	 * TIMEOUT, SERVER (5xx or 429 after retries), HTTP (other status,
	 * see code and resp), PROTOCOL (3xx, body over max_body, a TLS
	 * certificate not accepted).
	 */
	pwnm_status_t status;
	char *error;          /* one-line text for a failure, e.g. "GET <url>: HTTP 500", or NULL */
};

/* Create the client.  Call curl_global_init() in main first. */
pwnm_status_t http_new(const struct http_options *opt, http_t **out);
void http_free(http_t *h);
/* Change the deadline of later batches (hooks have a total time budget). */
void http_set_deadline(http_t *h, int64_t deadline_ms);
/* Set or replace the token of later requests (copied; NULL: none).  CONFIG for an unusable token. */
pwnm_status_t http_set_token(http_t *h, const char *token);

/* New request; method/url/body are copied.  Caller frees with http_request_free. */
struct http_request *http_request_new(const char *method, const char *url, const char *body);
void http_request_free(struct http_request *r);

/*
 * Run the n requests.  Each gets its own status; the return is
 * SUCCESS when every request completed with 2xx, else the status of
 * the first failed one (in array order).  Counters for statistics:
 * http_requests_sent() is the number of attempts made by this handle.
 */
pwnm_status_t http_run(http_t *h, struct http_request **reqs, size_t n);
uint64_t http_requests_sent(const http_t *h);

/* Overwrite with '*' every run of 8 or more bytes of s (or the whole token, if shorter) found in the token. */
void http_mask_token(const http_t *h, char *s);

#endif

/* tst_http.c - libhttp: origins and requests offline; with a base URL, scenarios against tests/http-echo.py */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "libhttp.h"
#include "liburl.h"
#include "libstatus.h"
#include "libutil.h"
#include "tap.h"

#define TOKEN "s3cret-t0ken"

static const char *base; /* "http://127.0.0.1:<port>" of http-echo.py */

/* Options for a test client: quick retries, no deadline. */
static struct http_options
test_options(void)
{
	struct http_options o = { 0 };

	o.user_agent = "pwnm-test/1";
	o.max_retries = 2;
	o.retry_base_ms = 50;
	o.retry_max_ms = 2000;
	o.timeout_ms = 5000;
	o.connect_timeout_ms = 2000;
	return o;
}

static http_t *
client(const struct http_options *o)
{
	http_t *h = NULL;

	if (http_new(o, &h) != PWNM_STATUS_SUCCESS)
		fatal("http_new failed");
	return h;
}

/* Run one request on h; caller frees the request. */
static struct http_request *
run1(http_t *h, const char *method, const char *url, const char *body, int auth)
{
	struct http_request *r = http_request_new(method, url, body);

	r->auth = auth;
	http_run(h, &r, 1);
	return r;
}

static char *
url_of(const char *path)
{
	return xasprintf("%s%s", base, path);
}

static int
contains(const char *s, const char *sub)
{
	return s && strstr(s, sub) != NULL;
}

/* A number from the JSON object in body, -1 if absent. */
static long
json_num(const char *body, const char *key)
{
	cJSON *root = cJSON_Parse(body ? body : "");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
	long n = cJSON_IsNumber(v) ? (long)v->valuedouble : -1;

	cJSON_Delete(root);
	return n;
}

/* A string from the JSON object in body, caller frees; NULL if absent. */
static char *
json_str(const char *body, const char *key)
{
	cJSON *root = cJSON_Parse(body ? body : "");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
	char *s = cJSON_IsString(v) ? xstrdup(v->valuestring) : NULL;

	cJSON_Delete(root);
	return s;
}

/* Ask the server about requests whose path starts with prefix. */
static long
stat_of(const char *prefix, const char *key)
{
	struct http_options o = test_options();
	http_t *h = client(&o);
	char *u = xasprintf("%s/stats?prefix=%s", base, prefix);
	struct http_request *r = run1(h, "GET", u, NULL, 0);
	long n = r->status == PWNM_STATUS_SUCCESS ? json_num(r->resp.data, key) : -2;

	http_request_free(r);
	free(u);
	http_free(h);
	return n;
}

/* ---- offline ---- */

static void
test_origin(void)
{
	static const struct {
		const char *url, *want;
	} cases[] = {
		{ "HTTPS://Example.org:443/x", "https://example.org:443" },
		{ "https://patchwork.kernel.org/api/1.3/", "https://patchwork.kernel.org" },
		{ "http://user:pw@Host.Example/api", "http://host.example" },
		{ "https://example.org", "https://example.org" },
		{ "https://example.org?q=1", "https://example.org" },
		{ "https://example.org#frag", "https://example.org" },
		{ "http://127.0.0.1:8080/api", "http://127.0.0.1:8080" },
		{ "http://[::1]:8080/", "http://[::1]:8080" },
		{ "http://[::1]/", "http://[::1]" },
		{ "http://good.org#@evil.org/", "http://good.org" },
		{ "ftp://example.org/", NULL },
		{ "file:///etc/passwd", NULL },
		{ "example.org/x", NULL },
		{ "httpx://example.org/", NULL },
		{ "http:/example.org/", NULL },
		{ "http:///x", NULL },
		{ "http://host:/x", NULL },
		{ "http://host:8a/", NULL },
		{ "http://host:1234567/", NULL },
		{ "http://ho st/", NULL },
		{ "http://host/\n", NULL },
		{ "http://evil.org\\@good.org/", NULL },
		{ "http://a@b@c.org/", NULL },
		{ "http://[::1/", NULL },
		{ "http://[]/", NULL },
		{ "http://@/", NULL },
		{ "", NULL },
		/* read as libcurl reads them, which is where the request goes */
		{ "http://0x7f.1:8080/api", "http://127.0.0.1:8080" },
		{ "http://2130706433/", "http://127.0.0.1" },
		{ "http://[fe80::1%25eth0]/", NULL },
		{ "http://host:00080/", "http://host:80" },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *o = url_origin(cases[i].url);

		char *shown = xstrdup(cases[i].url), *c;

		for (c = shown; *c; c++)
			if ((unsigned char)*c < 0x20)
				*c = '?';
		is_str(o, cases[i].want, "origin of '%s'", shown);
		free(shown);
		free(o);
	}
	ok(url_origin(NULL) == NULL, "origin of NULL");
}

static void
test_token_rule(void)
{
	static const struct {
		const char *url;
		int allow, refused;
	} cases[] = {
		{ "https://patchwork.example.org", 0, 0 },
		{ "http://patchwork.example.org", 0, 1 },
		{ "HTTP://patchwork.example.org", 0, 1 },
		{ "http://patchwork.example.org", 1, 0 },
		{ "http://127.0.0.1:8000", 0, 0 },
		{ "http://localhost/", 0, 0 },
		{ "http://[::1]:8000/", 0, 0 },
		{ "http://0x7f.1/", 0, 0 },
		{ "http://127.0.0.1.example.org/", 0, 1 },
		{ "http://localhost.example.org/", 0, 1 },
		{ "http://ho st/", 0, 1 },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *m = url_token_refusal(cases[i].url, cases[i].allow);

		is_int(m != NULL, cases[i].refused, "token to '%s'%s %s", cases[i].url,
		       cases[i].allow ? " (allowed)" : "", cases[i].refused ? "refused" : "sent");
		if (m)
			ok(strstr(m, cases[i].url) && strstr(m, "pwnm.allow_insecure_http"),
			   "the refusal names the URL and the setting");
		free(m);
	}
	ok(url_is_loopback("http://0x7f.1/") && !url_is_loopback("http://127.0.0.1.example.org/"),
	   "loopback as curl reads the host");
	ok(token_valid("0123456789abcdef") && !token_valid("") && !token_valid("a b") &&
	   !token_valid("a\nb") && !token_valid("caf\xc3\xa9"),
	   "one token rule: printable ASCII without blanks");
}

static void
test_request_new(void)
{
	struct http_request *r = http_request_new("PATCH", "http://h/x", "{\"a\":1}");

	is_str(r->method, "PATCH", "method copied");
	is_str(r->url, "http://h/x", "url copied");
	is_str(r->body, "{\"a\":1}", "body copied");
	is_int(r->retry_after, -1, "no Retry-After yet");
	is_int(r->attempts, 0, "no attempts yet");
	ok(!r->link && !r->error && !r->auth, "link, error, auth unset");
	http_request_free(r);
	r = http_request_new("GET", "http://h/", NULL);
	ok(r->body == NULL, "no body");
	http_request_free(r);
	http_request_free(NULL);
}

static void
test_offline_runs(void)
{
	struct http_options o = test_options();
	struct http_request *r, *rs[2];
	http_t *h = NULL;

	o.token = "bad\ntoken";
	is_int(http_new(&o, &h), PWNM_STATUS_CONFIG, "a token with a newline is refused");
	ok(h == NULL, "no client then");

	o = test_options();
	h = client(&o);
	is_int(http_run(h, NULL, 0), PWNM_STATUS_SUCCESS, "empty batch");

	http_set_deadline(h, now_ms() - 1);
	r = run1(h, "GET", "http://127.0.0.1:9/x", NULL, 0);
	is_int(r->status, PWNM_STATUS_TIMEOUT, "deadline passed: TIMEOUT");
	is_str(r->error, "GET http://127.0.0.1:9/x: not started, time budget used up",
	       "deadline passed: message");
	is_int(r->attempts, 0, "deadline passed: no attempt");
	is_int(http_requests_sent(h), 0, "deadline passed: nothing sent");
	ok(r->resp.data && r->resp.len == 0 && r->resp.data[0] == '\0',
	   "deadline passed: empty NUL-terminated body");
	http_request_free(r);

	http_set_deadline(h, 0);
	rs[0] = http_request_new("GET", "file:///etc/passwd", NULL);
	rs[1] = http_request_new("GET", "http://bad host/", NULL);
	is_int(http_run(h, rs, 2), PWNM_STATUS_PROTOCOL, "non-http URLs refused");
	is_str(rs[0]->error, "GET file:///etc/passwd: not an http or https URL",
	       "file URL message");
	is_int(rs[1]->status, PWNM_STATUS_PROTOCOL, "malformed URL refused");
	is_int(http_requests_sent(h), 0, "nothing sent for bad URLs");
	http_request_free(rs[0]);
	http_request_free(rs[1]);
	http_free(h);
	http_free(NULL);
}

/* ---- against http-echo.py ---- */

static void
test_concurrency(void)
{
	struct http_options o = test_options();
	struct http_request *rs[20];
	char *u = url_of("/sleep?ms=200");
	http_t *h;
	int64_t t0, el;
	size_t i, good = 0;
	long peak;

	o.max_parallel = 4;
	h = client(&o);
	for (i = 0; i < 20; i++)
		rs[i] = http_request_new("GET", u, NULL);
	t0 = now_ms();
	is_int(http_run(h, rs, 20), PWNM_STATUS_SUCCESS, "20 slow requests succeed");
	el = now_ms() - t0;
	for (i = 0; i < 20; i++)
		good += rs[i]->status == PWNM_STATUS_SUCCESS && rs[i]->code == 200 &&
			contains(rs[i]->resp.data, "slept");
	is_int(good, 20, "every one has its 200 and body");
	ok(el < 2000, "4 in parallel: %lld ms < 2000 ms", (long long)el);
	peak = stat_of("/sleep", "max_inflight");
	ok(peak >= 2 && peak <= 4, "server saw at most 4 at once (%ld)", peak);
	is_int(http_requests_sent(h), 20, "20 attempts counted");
	for (i = 0; i < 20; i++)
		http_request_free(rs[i]);
	free(u);
	http_free(h);
}

static void
test_retries(void)
{
	struct http_options o = test_options();
	struct http_request *r;
	http_t *h = client(&o);
	char *u;
	int64_t t0, el;

	u = url_of("/flaky?key=a&fail=2&code=500");
	r = run1(h, "GET", u, NULL, 0);
	is_int(r->status, PWNM_STATUS_SUCCESS, "500 twice then 200: SUCCESS");
	is_int(r->attempts, 3, "... after 3 attempts");
	is_int(r->code, 200, "... code of the last attempt");
	is_int(json_num(r->resp.data, "hit"), 3, "... body of the last attempt");
	ok(r->error == NULL, "... no error");
	is_int(http_requests_sent(h), 3, "... 3 attempts counted");
	http_request_free(r);
	free(u);

	u = url_of("/flaky?key=b&fail=99&code=503");
	r = run1(h, "GET", u, NULL, 0);
	is_int(r->status, PWNM_STATUS_SERVER, "503 every time: SERVER");
	is_int(r->attempts, 3, "... 1 + max_retries attempts");
	is_int(r->code, 503, "... code kept");
	{
		char *want = xasprintf("GET %s: HTTP 503 after 3 attempts", u);

		is_str(r->error, want, "... message");
		free(want);
	}
	http_request_free(r);
	free(u);
	is_int(stat_of("/flaky", "hits"), 6, "server saw 6 flaky requests");

	u = url_of("/flaky?key=c&fail=1&code=429&ra=1");
	t0 = now_ms();
	r = run1(h, "GET", u, NULL, 0);
	el = now_ms() - t0;
	is_int(r->status, PWNM_STATUS_SUCCESS, "429 then 200: SUCCESS");
	is_int(r->attempts, 2, "... 2 attempts");
	ok(el >= 1000, "... Retry-After: 1 honoured (%lld ms)", (long long)el);
	is_int(r->retry_after, -1, "... last answer had no Retry-After");
	http_request_free(r);
	free(u);
	http_free(h);

	o.retry_max_ms = 300;
	o.max_retries = 1;
	h = client(&o);
	u = url_of("/flaky?key=d&fail=9&code=429&ra=30");
	t0 = now_ms();
	r = run1(h, "GET", u, NULL, 0);
	el = now_ms() - t0;
	is_int(r->status, PWNM_STATUS_SERVER, "429 every time: SERVER");
	is_int(r->retry_after, 30, "... Retry-After read (lowercase name)");
	ok(el >= 300 && el < 2000, "... capped at retry_max_ms (%lld ms)", (long long)el);
	is_int(r->attempts, 2, "... max_retries 1: 2 attempts");
	http_request_free(r);
	free(u);
	http_free(h);
}

static void
test_http_errors(void)
{
	struct http_options o = test_options();
	struct http_request *r, *rs[3];
	http_t *h = client(&o);
	char *u, *want, *detail;

	u = url_of("/status?code=404");
	r = run1(h, "GET", u, NULL, 0);
	is_int(r->status, PWNM_STATUS_HTTP, "404: HTTP");
	is_int(r->code, 404, "... code kept");
	detail = json_str(r->resp.data, "detail");
	is_str(detail, "status 404", "... body kept");
	free(detail);
	is_int(r->attempts, 1, "... not retried");
	want = xasprintf("GET %s: HTTP 404", u);
	is_str(r->error, want, "... message");
	free(want);
	http_request_free(r);
	free(u);

	u = url_of("/redirect");
	r = run1(h, "GET", u, NULL, 0);
	is_int(r->status, PWNM_STATUS_PROTOCOL, "302: PROTOCOL");
	is_int(r->code, 302, "... code kept");
	ok(contains(r->error, "redirect to another location refused"), "... message: %s",
	   r->error ? r->error : "(null)");
	is_int(stat_of("/target", "hits"), 0, "... Location never contacted");
	http_request_free(r);
	free(u);

	/* the return value is the status of the first failure in array order */
	u = url_of("/status?code=200");
	rs[0] = http_request_new("GET", u, NULL);
	free(u);
	u = url_of("/status?code=400");
	rs[1] = http_request_new("GET", u, NULL);
	free(u);
	u = url_of("/status?code=500");
	rs[2] = http_request_new("GET", u, NULL);
	free(u);
	is_int(http_run(h, rs, 3), PWNM_STATUS_HTTP, "batch returns the first failure");
	is_int(rs[0]->status, PWNM_STATUS_SUCCESS, "... first one succeeded");
	is_int(rs[2]->status, PWNM_STATUS_SERVER, "... last one SERVER");
	http_request_free(rs[0]);
	http_request_free(rs[1]);
	http_request_free(rs[2]);
	http_free(h);
}

static void
test_network_errors(void)
{
	struct http_options o = test_options();
	struct http_request *r, *rs[3];
	http_t *h = client(&o);
	char *u, *want;
	int64_t t0, el;

	u = url_of("/reset");
	r = run1(h, "GET", u, NULL, 0);
	is_int(r->status, PWNM_STATUS_NETWORK, "reset mid-body: NETWORK");
	is_int(r->attempts, 3, "... retried");
	ok(contains(r->error, "connection reset") || contains(r->error, "cut short"),
	   "... message: %s", r->error ? r->error : "(null)");
	ok(contains(r->error, "after 3 attempts"), "... attempts in the message");
	is_int(stat_of("/reset", "hits"), 3, "... server saw 3 attempts");
	http_request_free(r);
	free(u);

	r = run1(h, "GET", "http://127.0.0.1:1/", NULL, 0);
	is_int(r->status, PWNM_STATUS_NETWORK, "connection refused: NETWORK");
	ok(contains(r->error, "GET http://127.0.0.1:1/: cannot connect"), "... message: %s",
	   r->error ? r->error : "(null)");
	http_request_free(r);
	http_free(h);

	o.timeout_ms = 300;
	o.max_retries = -1;
	h = client(&o);
	u = url_of("/hang");
	t0 = now_ms();
	r = run1(h, "GET", u, NULL, 0);
	el = now_ms() - t0;
	is_int(r->status, PWNM_STATUS_TIMEOUT, "hang: TIMEOUT");
	ok(el >= 250 && el < 1500, "... within the timeout (%lld ms)", (long long)el);
	is_int(r->attempts, 1, "... max_retries -1: one attempt");
	want = xasprintf("GET %s: timed out after 300 ms", u);
	is_str(r->error, want, "... message");
	free(want);
	http_request_free(r);
	http_free(h);

	/* stalls: no byte for stall_ms, or too slow; tried twice at most; a slow mover goes on */
	o = test_options();
	o.timeout_ms = 0;
	o.stall_ms = 400;
	o.max_retries = 3;
	h = client(&o);
	t0 = now_ms();
	r = run1(h, "GET", u, NULL, 0);
	el = now_ms() - t0;
	is_int(r->status, PWNM_STATUS_TIMEOUT, "stall: TIMEOUT");
	is_int(r->attempts, 2, "... a stalled request is retried once, not max_retries times");
	ok(el >= 700 && el < 4000, "... after two stalls (%lld ms)", (long long)el);
	want = xasprintf("GET %s: no data for 400 ms after 2 attempts", u);
	is_str(r->error, want, "... message");
	free(want);
	http_request_free(r);
	http_free(h);

	o = test_options();
	o.timeout_ms = 0;
	o.max_retries = -1;
	o.low_speed_limit = 1000;
	o.low_speed_time_ms = 1000;
	h = client(&o);
	free(u);
	u = url_of("/trickle?n=200&ms=100");
	t0 = now_ms();
	r = run1(h, "GET", u, NULL, 0);
	el = now_ms() - t0;
	is_int(r->status, PWNM_STATUS_TIMEOUT, "trickle: TIMEOUT");
	ok(el < 4000, "... within the low-speed window (%lld ms)", (long long)el);
	want = xasprintf("GET %s: slower than 1000 bytes/s for 1 s", u);
	is_str(r->error, want, "... message");
	free(want);
	http_request_free(r);
	http_free(h);

	o = test_options();
	o.timeout_ms = 0;
	o.stall_ms = 500;
	o.low_speed_limit = -1;
	h = client(&o);
	free(u);
	u = url_of("/trickle?n=16&ms=100");
	r = run1(h, "GET", u, NULL, 0);
	is_int(r->status, PWNM_STATUS_SUCCESS, "a slow transfer that keeps moving is not a stall");
	is_int(r->resp.len, 16, "... and arrives whole");
	http_request_free(r);
	http_free(h);
	free(u);
	u = url_of("/hang");

	/* a deadline cuts the running transfer short and stops queued ones */
	o = test_options();
	o.max_parallel = 1;
	o.timeout_ms = 10000;
	h = client(&o);
	http_set_deadline(h, now_ms() + 400);
	rs[0] = http_request_new("GET", u, NULL);
	rs[1] = http_request_new("GET", u, NULL);
	rs[2] = http_request_new("GET", u, NULL);
	t0 = now_ms();
	is_int(http_run(h, rs, 3), PWNM_STATUS_TIMEOUT, "deadline: TIMEOUT");
	el = now_ms() - t0;
	ok(el >= 300 && el < 1500, "... at the deadline (%lld ms)", (long long)el);
	ok(contains(rs[0]->error, ": timed out after"), "... first timed out: %s",
	   rs[0]->error ? rs[0]->error : "(null)");
	is_int(rs[0]->attempts, 1, "... and was not retried past the deadline");
	want = xasprintf("GET %s: not started, time budget used up", u);
	is_str(rs[2]->error, want, "... last never started");
	free(want);
	is_int(rs[2]->status, PWNM_STATUS_TIMEOUT, "... with TIMEOUT");
	is_int(http_requests_sent(h), 1, "... one attempt sent");
	http_request_free(rs[0]);
	http_request_free(rs[1]);
	http_request_free(rs[2]);
	free(u);
	http_free(h);
}

static void
test_token(void)
{
	struct http_options o = test_options();
	struct http_request *r;
	http_t *h;
	char *u, *a, *other, *port, *origin_uc;
	char path[] = "/tmp/tst_http.XXXXXX";
	struct buf log = { 0 };
	char chunk[512];
	size_t got;
	int fd, saved;
	FILE *f;

	origin_uc = xasprintf("HTTP://127.0.0.1%s", strrchr(base, ':'));
	o.origin = origin_uc;
	o.token = TOKEN;
	h = client(&o);
	u = url_of("/auth");
	r = run1(h, "GET", u, NULL, 1);
	a = json_str(r->resp.data, "auth");
	is_str(a, "Token " TOKEN, "token sent to its origin");
	free(a);
	http_request_free(r);

	r = run1(h, "GET", u, NULL, 0);
	a = json_str(r->resp.data, "auth");
	is_str(a, "", "no token without auth");
	free(a);
	http_request_free(r);

	port = strrchr(base, ':');
	other = xasprintf("http://localhost%s/auth", port);
	r = run1(h, "GET", other, NULL, 1);
	is_int(r->status, PWNM_STATUS_SUCCESS, "other origin reached");
	a = json_str(r->resp.data, "auth");
	is_str(a, "", "no token to another origin");
	free(a);
	http_request_free(r);
	free(other);
	free(u);

	/* the token shows nowhere: not in errors, not in debug output */
	fd = mkstemp(path);
	ok(fd >= 0, "temporary file for stderr");
	if (fd < 0)
		goto out;
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	debug_init("http");
	u = url_of("/flaky?key=tok&fail=9&code=500");
	r = run1(h, "PATCH", u, "{\"x\":1}", 1);
	free(u);
	fflush(stderr);
	debug_init(NULL);
	dup2(saved, 2);
	close(saved);
	close(fd);
	f = fopen(path, "r");
	while (f && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_add(&log, chunk, got);
	if (f)
		fclose(f);
	unlink(path);
	is_int(r->status, PWNM_STATUS_SERVER, "authorised request failed");
	ok(r->error && !contains(r->error, TOKEN), "token not in the error");
	ok(contains(log.data, "[http] PATCH ") && contains(log.data, "attempt 3"),
	   "debug output shows method and attempts");
	ok(!contains(log.data, TOKEN), "token not in the debug output");
	buf_free(&log);
	http_request_free(r);
out:
	free(origin_uc);
	http_free(h);
}

static void
test_bodies(void)
{
	struct http_options o = test_options();
	struct http_request *r;
	http_t *h;
	char *u, *want, *s;

	o.max_body = 1000;
	h = client(&o);
	u = url_of("/big?n=5000");
	r = run1(h, "GET", u, NULL, 0);
	is_int(r->status, PWNM_STATUS_PROTOCOL, "body over the cap: PROTOCOL");
	want = xasprintf("GET %s: response larger than 1000 bytes", u);
	is_str(r->error, want, "... message");
	is_int(r->attempts, 1, "... not retried");
	ok(r->resp.len <= 1000, "... buffer kept within the cap");
	free(want);
	http_request_free(r);
	free(u);

	u = url_of("/big?n=1000");
	r = run1(h, "GET", u, NULL, 0);
	is_int(r->status, PWNM_STATUS_SUCCESS, "body at the cap: SUCCESS");
	is_int(r->resp.len, 1000, "... all of it");
	http_request_free(r);
	free(u);
	http_free(h);

	o = test_options();
	h = client(&o);
	u = url_of("/gzip");
	r = run1(h, "GET", u, NULL, 0);
	s = json_str(r->resp.data, "zipped");
	ok(s && strlen(s) == 1000, "gzip body decoded");
	free(s);
	http_request_free(r);
	free(u);

	u = url_of("/link");
	r = run1(h, "GET", u, NULL, 0);
	is_str(r->link, "<http://h/?page=2>; rel=\"next\", <http://h/?page=1>; rel=\"prev\"",
	       "Link headers captured, any case");
	http_request_free(r);
	free(u);

	u = url_of("/echo");
	r = run1(h, "PATCH", u, "{\"state\":\"accepted\"}", 0);
	is_int(r->status, PWNM_STATUS_SUCCESS, "PATCH succeeds");
	s = json_str(r->resp.data, "method");
	is_str(s, "PATCH", "... method");
	free(s);
	s = json_str(r->resp.data, "body");
	is_str(s, "{\"state\":\"accepted\"}", "... body");
	free(s);
	s = json_str(r->resp.data, "content_type");
	is_str(s, "application/json", "... Content-Type");
	free(s);
	s = json_str(r->resp.data, "accept");
	is_str(s, "application/json", "... Accept");
	free(s);
	s = json_str(r->resp.data, "user_agent");
	is_str(s, "pwnm-test/1", "... User-Agent");
	free(s);
	http_request_free(r);

	r = run1(h, "GET", u, NULL, 0);
	s = json_str(r->resp.data, "method");
	is_str(s, "GET", "GET is plain");
	free(s);
	s = json_str(r->resp.data, "content_type");
	is_str(s, "", "... without Content-Type");
	free(s);
	http_request_free(r);
	free(u);
	http_free(h);
}

static void
test_keepalive(void)
{
	struct http_options o = test_options();
	struct http_request *rs[5];
	http_t *h;
	int batch, i, good = 0;

	o.max_parallel = 1;
	h = client(&o);
	for (batch = 0; batch < 2; batch++) {
		for (i = 0; i < 5; i++) {
			char *u = xasprintf("%s/ka/%d", base, batch * 5 + i);

			rs[i] = http_request_new("GET", u, NULL);
			free(u);
		}
		good += http_run(h, rs, 5) == PWNM_STATUS_SUCCESS;
		for (i = 0; i < 5; i++)
			http_request_free(rs[i]);
	}
	is_int(good, 2, "two batches succeed");
	is_int(stat_of("/ka/", "hits"), 10, "10 requests seen");
	is_int(stat_of("/ka/", "connections"), 1, "over one kept-alive connection");
	http_free(h);
}

int
main(int argc, char **argv)
{
	util_set_progname(argv[0]);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatal("curl_global_init failed");
	test_origin();
	test_token_rule();
	test_request_new();
	test_offline_runs();
	if (argc > 1) {
		base = argv[1];
		test_concurrency();
		test_retries();
		test_http_errors();
		test_network_errors();
		test_token();
		test_bodies();
		test_keepalive();
	}
	curl_global_cleanup();
	return tap_done();
}

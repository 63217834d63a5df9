/* liburl.c - where a URL points, read by libcurl's URL API, and where the token may go */
#include "liburl.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "libutil.h"

/* Spellings refused before libcurl sees the URL (see liburl.h). */
static int
shape_ok(const char *url)
{
	const char *p, *auth, *end;
	size_t slen;

	for (p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '\\')
			return 0;
	slen = strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
	if (!((slen == 4 && strncasecmp(url, "http", 4) == 0) ||
	      (slen == 5 && strncasecmp(url, "https", 5) == 0)))
		return 0;
	if (strncmp(url + slen, "://", 3) != 0)
		return 0;
	auth = url + slen + 3;
	end = auth + strcspn(auth, "/?#");
	/* an empty authority or an empty port ("host:/") */
	return end > auth && end[-1] != ':';
}

/* A host as libcurl hands it back (percent-decoded): a name, IPv4 or bracketed IPv6 address. */
static int
host_ok(const char *h)
{
	const char *p;

	if (*h == '[') {
		p = h + 1 + strspn(h + 1, "0123456789abcdefABCDEF:.");
		return p > h + 1 && p[0] == ']' && p[1] == '\0';
	}
	for (p = h; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("-._~", *p))
			return 0;
	return p > h;
}

CURLU *
url_parse(const char *url)
{
	CURLU *u;
	char *scheme = NULL, *zone = NULL;
	int ok;

	if (!url || !shape_ok(url))
		return NULL;
	u = curl_url();
	if (!u)
		fatal("out of memory");
	ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	     curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	     (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) &&
	     curl_url_get(u, CURLUPART_ZONEID, &zone, 0) == CURLUE_NO_ZONEID;
	curl_free(scheme);
	curl_free(zone);
	if (ok) {
		char *o = url_origin_parsed(u);

		ok = o != NULL;
		free(o);
	}
	if (!ok) {
		curl_url_cleanup(u);
		return NULL;
	}
	return u;
}

/* Does libcurl read origin o back with the same host?  An origin must name one host. */
static int
origin_stable(const char *o, const char *host)
{
	CURLU *v = curl_url();
	char *h = NULL;
	int ok;

	if (!v)
		return 0;
	ok = curl_url_set(v, CURLUPART_URL, o, 0) == CURLUE_OK &&
	     curl_url_get(v, CURLUPART_HOST, &h, 0) == CURLUE_OK && strcasecmp(h, host) == 0;
	curl_free(h);
	curl_url_cleanup(v);
	return ok;
}

char *
url_origin_parsed(CURLU *u)
{
	char *scheme = NULL, *host = NULL, *port = NULL, *o = NULL, *p;
	CURLUcode pc;

	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host_ok(host))
		goto out;
	pc = curl_url_get(u, CURLUPART_PORT, &port, 0);
	if (pc != CURLUE_OK && pc != CURLUE_NO_PORT)
		goto out;
	for (p = host; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	o = xasprintf("%s://%s%s%s", scheme, host, port ? ":" : "", port ? port : "");
	if (!origin_stable(o, host)) {
		/* e.g. http://%30: decoded to host "0", which libcurl reads again as 0.0.0.0 */
		free(o);
		o = NULL;
	}
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	return o;
}

char *
url_origin(const char *url)
{
	CURLU *u = url_parse(url);
	char *o;

	if (!u)
		return NULL;
	o = url_origin_parsed(u);
	curl_url_cleanup(u);
	return o;
}

int
url_is_loopback(const char *url)
{
	char *o = url_origin(url);
	const char *h;
	size_t n;
	int r = 0;

	if (!o)
		return 0;
	h = strstr(o, "://") + 3;
	if (*h == '[') {
		r = strncmp(h, "[::1]", 5) == 0 && (h[5] == '\0' || h[5] == ':');
	} else {
		n = strcspn(h, ":");
		if (n == 9 && strncmp(h, "localhost", 9) == 0)
			r = 1;
		else if (n >= 4 && strncmp(h, "127.", 4) == 0 && strspn(h, "0123456789.") == n)
			r = 1;
	}
	free(o);
	return r;
}

int
url_is_plain_http(const char *url)
{
	char *o = url_origin(url);
	int r;

	/* a URL curl refuses: judged by its spelling, so that it is never taken for https */
	if (!o)
		return url && strncasecmp(url, "http:", 5) == 0;
	r = strncmp(o, "http://", 7) == 0;
	free(o);
	return r;
}

char *
url_token_refusal(const char *url, int allow_insecure)
{
	if (!url || allow_insecure || !url_is_plain_http(url) || url_is_loopback(url))
		return NULL;
	return xasprintf("refusing to send the API token over plain http to '%s': use https, "
			 "or set pwnm.allow_insecure_http=true",
			 url);
}

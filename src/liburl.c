/* liburl.c - the origin of a URL: where a request (and the token) really goes */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "libhttp.h"
#include "libutil.h"

static int
is_host_char(int c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Characters allowed in userinfo: unreserved, pct-encoded, sub-delims, ':'. */
static int
is_userinfo_char(int c)
{
	return isalnum(c) || (c && strchr("-._~%!$&'()*+,;=:", c));
}

/*
 * Strict on purpose: the token goes where this says the URL points, so
 * anything curl might read differently (blanks, backslashes, odd bytes
 * in the authority) makes the URL malformed.
 */
char *
http_origin_of(const char *url)
{
	const char *p, *auth, *end, *at, *host, *hend, *port;
	struct buf b = { 0 };
	size_t slen;

	if (!url)
		return NULL;
	for (p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return NULL;
	p = strstr(url, "://");
	if (!p)
		return NULL;
	slen = (size_t)(p - url);
	if (!((slen == 4 && strncasecmp(url, "http", 4) == 0) ||
	      (slen == 5 && strncasecmp(url, "https", 5) == 0)))
		return NULL;
	auth = p + 3;
	end = auth + strcspn(auth, "/?#");
	/* userinfo ends at the last '@' of the authority */
	host = auth;
	for (at = auth; at < end; at++)
		if (*at == '@')
			host = at + 1;
	for (at = auth; at + 1 < host; at++)
		if (!is_userinfo_char((unsigned char)*at))
			return NULL;
	if (host < end && *host == '[') {
		hend = host + 1;
		while (hend < end && (isxdigit((unsigned char)*hend) ||
				      *hend == ':' || *hend == '.'))
			hend++;
		if (hend >= end || *hend != ']' || hend == host + 1)
			return NULL;
		hend++;
	} else {
		hend = host;
		while (hend < end && is_host_char((unsigned char)*hend))
			hend++;
		if (hend == host)
			return NULL;
	}
	port = hend;
	if (port < end) {
		const char *d;

		if (*port != ':' || port + 1 == end || end - port > 6)
			return NULL;
		for (d = port + 1; d < end; d++)
			if (!isdigit((unsigned char)*d))
				return NULL;
	}
	for (p = url; p < url + slen; p++)
		buf_addc(&b, (char)tolower((unsigned char)*p));
	buf_adds(&b, "://");
	for (p = host; p < hend; p++)
		buf_addc(&b, (char)tolower((unsigned char)*p));
	buf_add(&b, port, (size_t)(end - port));
	return buf_release(&b);
}


/* libpw_link.c - Patchwork REST API: Link headers and the URLs of list pages */
#include "libpw_link.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "libutil.h"

/* ==== Link header ==== */

static int
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void
skip_ws(const char **p)
{
	while (is_ws(**p))
		(*p)++;
}

static void
set_link(struct pw_links *l, const char *rel, size_t rlen, const char *url, size_t ulen)
{
	char **slot = NULL;

	if (rlen == 4 && strncasecmp(rel, "next", 4) == 0)
		slot = &l->next;
	else if (rlen == 4 && strncasecmp(rel, "prev", 4) == 0)
		slot = &l->prev;
	else if (rlen == 8 && strncasecmp(rel, "previous", 8) == 0)
		slot = &l->prev;
	else if (rlen == 5 && strncasecmp(rel, "first", 5) == 0)
		slot = &l->first;
	else if (rlen == 4 && strncasecmp(rel, "last", 4) == 0)
		slot = &l->last;
	if (slot && !*slot)
		*slot = xstrndup(url, ulen);
}

void
pw_parse_links(const char *h, struct pw_links *out)
{
	const char *p = h;

	memset(out, 0, sizeof(*out));
	if (!h)
		return;
	while (*p) {
		const char *us, *ue;
		struct buf rel = { 0 };
		int have_rel = 0;

		while (is_ws(*p) || *p == ',')
			p++;
		if (!*p)
			break;
		if (*p != '<') {
			/* junk: resynchronise at the next link-value */
			while (*p && *p != ',')
				p++;
			continue;
		}
		us = ++p;
		ue = strchr(p, '>');
		if (!ue)
			break;
		p = ue + 1;
		while (us < ue && is_ws(*us))
			us++;
		while (ue > us && is_ws(ue[-1]))
			ue--;
		/* link-params */
		for (;;) {
			const char *ns, *ne;
			struct buf val = { 0 };
			int has_val = 0;

			skip_ws(&p);
			if (*p != ';')
				break;
			p++;
			skip_ws(&p);
			ns = p;
			while (*p && *p != '=' && *p != ';' && *p != ',' && !is_ws(*p))
				p++;
			ne = p;
			skip_ws(&p);
			if (*p == '=') {
				p++;
				skip_ws(&p);
				has_val = 1;
				if (*p == '"') {
					p++;
					while (*p && *p != '"') {
						if (*p == '\\' && p[1])
							p++;
						buf_addc(&val, *p);
						p++;
					}
					if (*p == '"')
						p++;
				} else {
					const char *vs = p;

					while (*p && *p != ';' && *p != ',' && !is_ws(*p))
						p++;
					buf_add(&val, vs, (size_t)(p - vs));
				}
			}
			/* only the first rel parameter of a link counts (RFC 8288 3.3) */
			if (has_val && !have_rel && ne - ns == 3 && strncasecmp(ns, "rel", 3) == 0) {
				have_rel = 1;
				buf_add(&rel, val.data ? val.data : "", val.len);
			}
			buf_free(&val);
		}
		if (have_rel && rel.data) {
			const char *r = rel.data;

			while (*r) {
				const char *rs;

				while (is_ws(*r))
					r++;
				rs = r;
				while (*r && !is_ws(*r))
					r++;
				if (r > rs)
					set_link(out, rs, (size_t)(r - rs), us, (size_t)(ue - us));
			}
		}
		buf_free(&rel);
		/* anything else before the next ',' is junk */
		while (*p && *p != ',')
			p++;
	}
}

void
pw_links_free(struct pw_links *l)
{
	if (!l)
		return;
	free(l->next);
	free(l->prev);
	free(l->first);
	free(l->last);
	memset(l, 0, sizeof(*l));
}

/* ==== URLs ==== */

/* Bounds of the query string of url (after '?', before '#'); -1 when there is none. */
static int
query_bounds(const char *url, const char **qs, const char **qe)
{
	const char *hash = strchr(url, '#');
	const char *q = strchr(url, '?');

	if (!hash)
		hash = url + strlen(url);
	if (!q || q > hash)
		return -1;
	*qs = q + 1;
	*qe = hash;
	return 0;
}

static int
is_page_param(const char *s, const char *e)
{
	return e - s >= 5 && strncmp(s, "page=", 5) == 0;
}

unsigned
pw_url_page(const char *url)
{
	const char *qs, *qe, *p;

	if (!url || query_bounds(url, &qs, &qe) < 0)
		return 0;
	for (p = qs; p < qe;) {
		const char *e = memchr(p, '&', (size_t)(qe - p));

		if (!e)
			e = qe;
		if (is_page_param(p, e)) {
			const char *d = p + 5;
			unsigned long v = 0;

			if (d == e)
				return 0;
			for (; d < e; d++) {
				if (*d < '0' || *d > '9')
					return 0;
				v = v * 10 + (unsigned long)(*d - '0');
				if (v > UINT_MAX)
					return 0;
			}
			return (unsigned)v;
		}
		p = e < qe ? e + 1 : e;
	}
	return 0;
}

char *
pw_url_set_page(const char *url, unsigned page)
{
	const char *qs, *qe, *p;
	struct buf b = { 0 };
	int done = 0, first = 1;

	if (query_bounds(url, &qs, &qe) < 0) {
		const char *hash = strchr(url, '#');
		size_t base = hash ? (size_t)(hash - url) : strlen(url);

		buf_add(&b, url, base);
		buf_printf(&b, "?page=%u", page);
		if (hash)
			buf_adds(&b, hash);
		return buf_release(&b);
	}
	buf_add(&b, url, (size_t)(qs - url));
	for (p = qs; p < qe;) {
		const char *e = memchr(p, '&', (size_t)(qe - p));

		if (!e)
			e = qe;
		if (is_page_param(p, e) || (e - p == 4 && strncmp(p, "page", 4) == 0)) {
			if (!done) {
				if (!first)
					buf_addc(&b, '&');
				buf_printf(&b, "page=%u", page);
				first = 0;
				done = 1;
			}
		} else {
			if (!first)
				buf_addc(&b, '&');
			buf_add(&b, p, (size_t)(e - p));
			first = 0;
		}
		p = e < qe ? e + 1 : e;
	}
	if (!done) {
		if (!first)
			buf_addc(&b, '&');
		buf_printf(&b, "page=%u", page);
	}
	buf_adds(&b, qe);
	return buf_release(&b);
}

char *
pw_urlencode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf b = { 0 };

	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			buf_addc(&b, (char)c);
		} else {
			buf_addc(&b, '%');
			buf_addc(&b, hex[c >> 4]);
			buf_addc(&b, hex[c & 15]);
		}
	}
	return buf_release(&b);
}

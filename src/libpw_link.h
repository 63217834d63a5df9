/* libpw_link.h - Patchwork REST API: Link headers and the URLs of list pages */
#ifndef PWNM_LIBPW_LINK_H
#define PWNM_LIBPW_LINK_H

struct pw_links {
	char *next, *prev, *first, *last; /* NULL when absent; owned */
};
/* ---- Link header ---- */

/* Parse an RFC 8288 Link header value; unknown rels are ignored.  Never fails on junk: fields stay NULL. */
void pw_parse_links(const char *header, struct pw_links *out);
void pw_links_free(struct pw_links *l);

/* ---- page URLs ---- */

/* The "page" query parameter of url, or 0 when absent or invalid. */
unsigned pw_url_page(const char *url);
/* url with its page parameter set to page (added when absent).  Caller frees. */
char *pw_url_set_page(const char *url, unsigned page);

/* Percent-encode for a query value (RFC 3986 unreserved kept).  Caller frees. */
char *pw_urlencode(const char *s);

#endif

/* fuzz_link.c - libFuzzer target: Link header values, then the page parameter of every URL found */
#include <limits.h>

#include "fuzz.h"
#include "libpw_link.h"

/*
 * What pw_url_set_page must keep: "prefix|params|fragment", where
 * params are the query parameters other than page, empty ones left out.
 * Caller frees.
 */
static char *
url_others(const char *url)
{
	const char *hash = strchr(url, '#'), *q = strchr(url, '?'), *p, *qe;
	struct buf b = { 0 };
	int first = 1;

	if (!hash)
		hash = url + strlen(url);
	if (!q || q > hash) {
		buf_add(&b, url, (size_t)(hash - url));
		buf_adds(&b, "||");
		buf_adds(&b, hash);
		return buf_release(&b);
	}
	buf_add(&b, url, (size_t)(q - url));
	buf_addc(&b, '|');
	qe = hash;
	for (p = q + 1; p < qe;) {
		const char *e = memchr(p, '&', (size_t)(qe - p));

		if (!e)
			e = qe;
		if (e > p && !(e - p >= 5 && strncmp(p, "page=", 5) == 0) &&
		    !(e - p == 4 && strncmp(p, "page", 4) == 0)) {
			if (!first)
				buf_addc(&b, '&');
			buf_add(&b, p, (size_t)(e - p));
			first = 0;
		}
		p = e < qe ? e + 1 : e;
	}
	buf_addc(&b, '|');
	buf_adds(&b, hash);
	return buf_release(&b);
}

/*
 * pw_url_page and pw_url_set_page on one URL: setting a page reads back
 * as that page, and every other parameter and the fragment stay.
 */
static void
check_url(const char *url, unsigned want)
{
	unsigned page = pw_url_page(url);
	char *set, *before, *after;

	set = pw_url_set_page(url, want);
	CHECK(pw_url_page(set) == want);
	before = url_others(url);
	after = url_others(set);
	CHECK(strcmp(before, after) == 0);
	free(before);
	free(after);
	free(set);
	if (page < UINT_MAX) {
		set = pw_url_set_page(url, page + 1);
		CHECK(pw_url_page(set) == page + 1);
		free(set);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *h = fuzz_str(data, size);
	struct pw_links l;
	unsigned want = 1;
	size_t i;

	/* a page number from the input's last bytes */
	for (i = size > 4 ? size - 4 : 0; i < size; i++)
		want = want * 251u + data[i];
	if (want == 0)
		want = 1;

	pw_parse_links(h, &l);
	if (l.next)
		check_url(l.next, want);
	if (l.prev)
		check_url(l.prev, want);
	if (l.first)
		check_url(l.first, want);
	if (l.last)
		check_url(l.last, want);
	pw_links_free(&l);
	CHECK(!l.next && !l.prev && !l.first && !l.last);

	/* the URL helpers on the raw input too */
	check_url(h, want);
	pw_parse_links(NULL, &l);
	CHECK(!l.next && !l.prev && !l.first && !l.last);
	free(h);
	return 0;
}

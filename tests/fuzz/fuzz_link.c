/* fuzz_link.c - libFuzzer target: Link header values, then the page parameter of every URL found */
#include <limits.h>

#include "fuzz.h"
#include "libpw.h"

/* pw_url_page and pw_url_set_page on one URL: setting a page reads back as that page. */
static void
check_url(const char *url, unsigned want)
{
	unsigned page = pw_url_page(url);
	char *set, *again;

	set = pw_url_set_page(url, want);
	CHECK(pw_url_page(set) == want);
	/* setting the same page twice changes nothing */
	again = pw_url_set_page(set, want);
	CHECK(strcmp(again, set) == 0);
	free(again);
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

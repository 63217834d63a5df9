/* fuzz_trailer.c - libFuzzer target: Message-IDs from commit trailers and Link: values */
#include "fuzz.h"
#include "libtrailer.h"

/* What every id handed out must be: notmuch's form of a Message-ID. */
static void
check_id(const char *id)
{
	const char *at = strchr(id, '@');
	size_t i;

	CHECK(*id);
	CHECK(at && at != id && at[1]);
	for (i = 0; id[i]; i++) {
		CHECK(id[i] != ' ' && id[i] != '\t' && id[i] != '\n' && id[i] != '\r');
		CHECK(id[i] != '<' && id[i] != '>');
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *msg = fuzz_str(data, size), *one;
	char **ids;
	size_t n, i, j;

	trailer_msgids(msg, &ids, &n);
	CHECK((n == 0) == (ids == NULL));
	for (i = 0; i < n; i++) {
		check_id(ids[i]);
		for (j = 0; j < i; j++)
			CHECK(strcmp(ids[i], ids[j]) != 0);
	}
	trailer_ids_free(ids, n);

	/* the whole input as one Link: value */
	one = trailer_link_msgid(msg);
	if (one)
		check_id(one);
	free(one);
	free(msg);
	return 0;
}

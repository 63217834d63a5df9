/* fuzz_diffhash.c - libFuzzer target: Patchwork's diff hash and its invariances */
#include "fuzz.h"
#include "libdiffhash.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char h1[41], h2[41], h3[41];
	struct buf noc = { 0 }, padded = { 0 };
	size_t i;

	pw_diff_hash((const char *)data, size, h1);
	CHECK(strlen(h1) == 40);
	for (i = 0; i < 40; i++)
		CHECK((h1[i] >= '0' && h1[i] <= '9') || (h1[i] >= 'a' && h1[i] <= 'f'));

	/* carriage returns count for nothing */
	for (i = 0; i < size; i++)
		if (data[i] != '\r')
			buf_addc(&noc, (char)data[i]);
	pw_diff_hash(noc.data ? noc.data : "", noc.len, h2);
	CHECK(strcmp(h1, h2) == 0);

	/* nor does white space around the text */
	buf_adds(&padded, "\n \t\r\n");
	buf_add(&padded, data, size);
	buf_adds(&padded, " \n\n\t");
	pw_diff_hash(padded.data, padded.len, h3);
	CHECK(strcmp(h1, h3) == 0);

	buf_free(&noc);
	buf_free(&padded);
	return 0;
}

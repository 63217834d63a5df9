/* fuzz_errors.c - libFuzzer target: error bodies (detail text, the valid states of a 400) */
#include "fuzz.h"
#include "libpw_json.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	char *detail, *states;
	const char *p;

	detail = pw_error_detail(body, size);
	fuzz_touch(detail);
	free(detail);

	/* a ';'-list of non-empty slugs without blanks or control bytes */
	states = pw_valid_states_from_400(body, size);
	if (states) {
		CHECK(*states && states[0] != ';');
		for (p = states; *p; p++) {
			CHECK((unsigned char)*p > ' ' && *p != 0x7f);
			if (*p == ';')
				CHECK(p[1] && p[1] != ';');
		}
	}
	free(states);
	return 0;
}

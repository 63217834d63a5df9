/* fuzz_events.c - libFuzzer target: event list JSON decoder */
#include "fuzz.h"
#include "libpw_json.h"
#include "libstatus.h"

static void
check_event(const struct pw_event *e)
{
	CHECK(e->id != 0 && e->project_id != 0);
	CHECK(e->category && e->date && e->msgid && e->previous_state && e->current_state &&
	      e->current_delegate);
	CHECK(e->has_delegate == (strcmp(e->category, "patch-delegated") == 0));
	if (strcmp(e->category, "patch-state-changed") != 0)
		CHECK(!*e->previous_state && !*e->current_state);
	if (e->current_delegate_id == 0)
		CHECK(!*e->current_delegate);
	if (e->patch_id == 0)
		CHECK(!*e->msgid);
	fuzz_touch(e->date);
	fuzz_touch(e->current_delegate);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pw_event *a = NULL;
	size_t n = 99, i;
	char *err = NULL;
	pwnm_status_t st;

	st = pw_events_from_json((const char *)data, size, &a, &n, &err);
	if (st == PWNM_STATUS_SUCCESS) {
		CHECK(a != NULL && err == NULL);
		for (i = 0; i < n; i++)
			check_event(&a[i]);
	} else {
		CHECK(st == PWNM_STATUS_PROTOCOL);
		CHECK(a == NULL && n == 0);
		CHECK(err && *err && !strchr(err, '\n'));
	}
	pw_event_array_free(a, n);
	free(err);
	return 0;
}

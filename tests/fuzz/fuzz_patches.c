/* fuzz_patches.c - libFuzzer target: patch list and single patch JSON decoders */
#include "fuzz.h"
#include "libpw_json.h"
#include "libstatus.h"

/* Every string of a decoded patch is owned and set ("" when the server sent null). */
static void
check_patch(const struct pw_patch *p)
{
	CHECK(p->id != 0 && p->project_id != 0);
	CHECK(p->project && p->msgid && p->state && p->delegate && p->date && p->name &&
	      p->web_url);
	CHECK(p->archived == 0 || p->archived == 1);
	if (p->delegate_id == 0)
		CHECK(!*p->delegate);
	fuzz_touch(p->project);
	fuzz_touch(p->msgid);
	fuzz_touch(p->state);
	fuzz_touch(p->delegate);
	fuzz_touch(p->date);
	fuzz_touch(p->name);
	fuzz_touch(p->web_url);
}

/* A decoder error is one line of text. */
static void
check_err(const char *err)
{
	CHECK(err && *err);
	CHECK(!strchr(err, '\n'));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	struct pw_patch *a = NULL, one;
	size_t n = 99, i;
	char *err = NULL;
	pwnm_status_t st;

	/* the exact buffer, not NUL-terminated: the decoders must honour len */
	st = pw_patches_from_json(body, size, &a, &n, &err);
	if (st == PWNM_STATUS_SUCCESS) {
		CHECK(a != NULL && err == NULL);
		for (i = 0; i < n; i++)
			check_patch(&a[i]);
	} else {
		CHECK(st == PWNM_STATUS_PROTOCOL);
		CHECK(a == NULL && n == 0);
		check_err(err);
	}
	pw_patch_array_free(a, n);
	free(err);
	err = NULL;

	st = pw_patch_from_json(body, size, &one, &err);
	if (st == PWNM_STATUS_SUCCESS) {
		CHECK(err == NULL);
		check_patch(&one);
	} else {
		CHECK(st == PWNM_STATUS_PROTOCOL);
		CHECK(one.id == 0 && !one.project && !one.msgid && !one.state && !one.delegate &&
		      !one.date && !one.name && !one.web_url);
		check_err(err);
	}
	pw_patch_free(&one);
	free(err);

	/* err may be NULL */
	st = pw_patch_from_json(body, size, &one, NULL);
	pw_patch_free(&one);
	st = pw_patches_from_json(body, size, &a, &n, NULL);
	pw_patch_array_free(a, n);
	(void)st;
	return 0;
}

/* fuzz_projects.c - libFuzzer target: project list JSON decoder */
#include "fuzz.h"
#include "libpw_json.h"
#include "libstatus.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pw_project *a = NULL;
	size_t n = 99, i;
	char *err = NULL;
	pwnm_status_t st;

	st = pw_projects_from_json((const char *)data, size, &a, &n, &err);
	if (st == PWNM_STATUS_SUCCESS) {
		CHECK(a != NULL && err == NULL);
		for (i = 0; i < n; i++) {
			CHECK(a[i].id != 0);
			CHECK(a[i].link_name && a[i].name && a[i].list_id && a[i].web_url);
			fuzz_touch(a[i].link_name);
			fuzz_touch(a[i].name);
			fuzz_touch(a[i].list_id);
			fuzz_touch(a[i].web_url);
		}
	} else {
		CHECK(st == PWNM_STATUS_PROTOCOL);
		CHECK(a == NULL && n == 0);
		CHECK(err && *err && !strchr(err, '\n'));
	}
	pw_project_array_free(a, n);
	free(err);
	return 0;
}

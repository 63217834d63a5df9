/* fuzz_merge.c - libFuzzer target: reading the values of a patch back from a tag set */
#include "fuzz.h"
#include "libmerge.h"
#include "libnm.h"

/*
 * Input: lines.  1: project, 2: state, 3: delegate, 4: flags (bit 0
 * archived, bit 1 tag_archived, bit 2 tag_delegate, bit 3 tag_checks,
 * bits 4-6 the combined check, of the first byte), then one tag a line.
 */
struct input {
	char *line[4];
	struct tagset tags;
};

static void
split(const uint8_t *data, size_t size, struct input *in)
{
	const char *p = (const char *)data, *end = p + size;
	size_t k = 0;

	memset(in, 0, sizeof(*in));
	while (p < end || k < 4) {
		const char *nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
		const char *e = nl ? nl : end;
		char *s = xstrndup(p < end ? p : "", (size_t)(e > p ? e - p : 0));

		if (k < 4)
			in->line[k++] = s;
		else {
			tagset_add(&in->tags, s);
			free(s);
		}
		p = nl ? nl + 1 : end;
	}
}

static void
input_free(struct input *in)
{
	size_t i;

	for (i = 0; i < 4; i++)
		free(in->line[i]);
	tagset_free(&in->tags);
}

static int
same(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Tags written for v are read back as v, whatever the agreed values were.  (Check tags
 * are left out: only the server moves them, so one that differs from the agreed check
 * asks for a repair by design.) */
static void
check_roundtrip(const char *project, const struct pw_values *v, const struct pw_values *base,
		const struct tag_opts *opts)
{
	struct tag_opts ro = *opts;
	const struct tag_opts *o = &ro;
	struct tagset t = { 0 }, names = { 0 };
	struct pw_values out;
	int repair = -1;

	ro.check = 0;

	/* every name has a tag of its own (encoded), unless it is too long for notmuch */
	if (!*v->state || !*project || merge_name_refused(NULL, MERGE_NAME_PROJECT, project) ||
	    merge_name_refused(project, MERGE_NAME_STATE, v->state) ||
	    (o->delegate && merge_name_refused(project, MERGE_NAME_USER, v->delegate)))
		return;
	CHECK(merge_patch_tags(project, v, o, &t) == 0);
	merge_local_values(&t, project, base, o, &out, &names, &repair, NULL);
	CHECK(repair == 0);
	CHECK(same(out.state, v->state));
	if (o->archived)
		CHECK(out.archived == v->archived);
	if (o->delegate)
		CHECK(same(out.delegate, v->delegate));
	tagset_free(&t);
	tagset_free(&names);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in;
	static const char *const checks[] = { "", "pending", "success", "warning", "fail" };
	struct pw_values base = { 0 }, out = { 0 }, other = { "new", 0, "", "" };
	struct tag_opts o = { 0 };
	struct tagset dropped = { 0 }, names = { 0 };
	const char *note = NULL;
	int repair = -1, flags;

	split(data, size, &in);
	flags = (unsigned char)in.line[3][0];
	base.state = in.line[1];
	base.delegate = in.line[2];
	base.archived = flags & 1;
	o.archived = !!(flags & 2);
	o.delegate = !!(flags & 4);
	o.check = !!(flags & 8);
	base.check = checks[((unsigned)flags >> 4) % 5];

	merge_local_values(&in.tags, in.line[0], &base, &o, &out, &names, &repair, &note);
	CHECK(repair == 0 || repair == 1);
	CHECK(out.state && out.delegate);
	CHECK(out.archived == 0 || out.archived == 1);
	fuzz_touch(out.state);
	fuzz_touch(out.delegate);
	fuzz_touch(note);
	if (note)
		CHECK(repair);
	merge_local_values(&in.tags, in.line[0], &base, &o, &out, &names, &repair, NULL);

	check_roundtrip(in.line[0], &base, &other, &o);
	check_roundtrip(in.line[0], &base, &base, &o);
	check_roundtrip(in.line[0], &base, &out, &o);

	/* with the project's tags gone, the agreed values come back and want a repair */
	tagset_copy(&dropped, &in.tags);
	merge_drop_project_tags(&dropped, in.line[0]);
	merge_local_values(&dropped, in.line[0], &base, &o, &out, &names, &repair, &note);
	CHECK(repair == 1 && note);
	CHECK(out.state == base.state && out.delegate == base.delegate &&
	      out.archived == base.archived);
	tagset_free(&dropped);

	/* merge_field agrees with its definition */
	{
		enum merge_action a = merge_field(in.line[1], in.line[2], in.line[0]);
		int l = !same(in.line[1], in.line[2]), r = !same(in.line[1], in.line[0]);

		if (!l && !r)
			CHECK(a == MERGE_NONE);
		else if (!l)
			CHECK(a == MERGE_TAKE_REMOTE);
		else if (!r)
			CHECK(a == MERGE_PUSH_LOCAL);
		else
			CHECK(a == (same(in.line[2], in.line[0]) ? MERGE_AGREE : MERGE_CONFLICT));
		CHECK(merge_action_name(a) != NULL);
	}
	tagset_free(&names);
	input_free(&in);
	return 0;
}

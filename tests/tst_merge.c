/* tst_merge.c - the pure merge parts: tags of a patch, reading tags back, the merge table */
#include <stdlib.h>
#include <string.h>

#include "libmerge.h"
#include "libnm.h"
#include "libutil.h"
#include "tap.h"

static struct tagset
tags(const char *list)
{
	struct tagset s = { 0 };
	char *copy = xstrdup(list), *p, *save = NULL;

	for (p = strtok_r(copy, " ", &save); p; p = strtok_r(NULL, " ", &save))
		tagset_add(&s, p);
	free(copy);
	return s;
}

static char *
joined(const struct tagset *s)
{
	return tagset_join(s, " ");
}

int
main(void)
{
	struct tag_opts all = { 1, 1, 0 }, none = { 0, 0, 0 };
	struct pw_values base = { "new", 0, "", "" }, out;
	struct tagset s, t;
	const char *note;
	char *j;
	int repair;

	/* merge_field: the whole table. */
	is_int(merge_field("a", "a", "a"), MERGE_NONE, "nobody moved");
	is_int(merge_field("a", "a", "b"), MERGE_TAKE_REMOTE, "only the server moved");
	is_int(merge_field("a", "b", "a"), MERGE_PUSH_LOCAL, "only the tags moved");
	is_int(merge_field("a", "b", "b"), MERGE_AGREE, "both moved to the same value");
	is_int(merge_field("a", "b", "c"), MERGE_CONFLICT, "both moved differently");
	is_int(merge_field(NULL, "", NULL), MERGE_NONE, "NULL is the empty string");
	is_int(merge_field("", "x", NULL), MERGE_PUSH_LOCAL, "from nothing to something");
	is_str(merge_action_name(MERGE_CONFLICT), "conflict", "action names");

	/* merge_patch_tags. */
	memset(&s, 0, sizeof(s));
	merge_patch_tags("alpha", &(struct pw_values){ "under-review", 1, "maint", "" }, &all, &s);
	j = joined(&s);
	is_str(j, "pw/alpha pw/alpha/archived pw/alpha/delegate/maint pw/alpha/under-review",
	       "every tag of a patch");
	free(j);
	tagset_free(&s);
	merge_patch_tags("alpha", &(struct pw_values){ "new", 1, "maint", "" }, &none, &s);
	j = joined(&s);
	is_str(j, "pw/alpha pw/alpha/new", "archived and delegate tags can be turned off");
	free(j);
	tagset_free(&s);

	/* merge_drop_project_tags keeps other projects and prefixes that only look alike. */
	s = tags("pw/alpha pw/alpha/new pw/alphabet pw/alphabet/new pw/beta/rfc inbox");
	merge_drop_project_tags(&s, "alpha");
	j = joined(&s);
	is_str(j, "inbox pw/alphabet pw/alphabet/new pw/beta/rfc", "drop one project's tags only");
	free(j);
	tagset_free(&s);

	/* merge_local_values. */
	s = tags("pw/alpha pw/alpha/accepted");
	merge_local_values(&s, "alpha", &base, &all, &out, &repair, &note);
	is_str(out.state, "accepted", "one state tag is the local state");
	ok(!repair && !note, "nothing to repair");
	tagset_free(&s);

	s = tags("pw/alpha pw/alpha/new pw/alpha/accepted");
	merge_local_values(&s, "alpha", &base, &all, &out, &repair, &note);
	is_str(out.state, "accepted", "two state tags: the newly added one wins");
	ok(repair && note, "and the tags are repaired, with a note");
	tagset_free(&s);

	s = tags("pw/alpha pw/alpha/rfc pw/alpha/accepted");
	merge_local_values(&s, "alpha", &base, &all, &out, &repair, &note);
	is_str(out.state, "new", "two new state tags: none taken");
	ok(repair, "repair asked");
	tagset_free(&s);

	s = tags("inbox pw/beta pw/beta/rfc");
	merge_local_values(&s, "alpha", &(struct pw_values){ "accepted", 1, "maint", "" }, &all, &out,
			   &repair, &note);
	ok(strcmp(out.state, "accepted") == 0 && out.archived == 1 && strcmp(out.delegate, "maint") == 0,
	   "every tag of the project removed: the agreed values stay");
	ok(repair, "and the tags are restored");
	tagset_free(&s);

	s = tags("pw/alpha");
	merge_local_values(&s, "alpha", &base, &all, &out, &repair, &note);
	ok(strcmp(out.state, "new") == 0 && repair, "no state tag: agreed state restored");
	tagset_free(&s);

	s = tags("pw/alpha/new");
	merge_local_values(&s, "alpha", &base, &all, &out, &repair, &note);
	ok(strcmp(out.state, "new") == 0 && repair, "the bare project tag missing: repaired");
	tagset_free(&s);

	s = tags("pw/alpha pw/alpha/new pw/alpha/archived pw/alpha/delegate/bob");
	merge_local_values(&s, "alpha", &base, &all, &out, &repair, &note);
	ok(out.archived == 1 && strcmp(out.delegate, "bob") == 0 && !repair,
	   "archived and delegate read back");
	tagset_free(&s);

	s = tags("pw/alpha pw/alpha/new pw/alpha/archived pw/alpha/delegate/bob");
	merge_local_values(&s, "alpha", &base, &none, &out, &repair, &note);
	ok(out.archived == 0 && strcmp(out.delegate, "") == 0,
	   "with those tags turned off they do not count");
	tagset_free(&s);

	s = tags("pw/alpha pw/alpha/new");
	merge_local_values(&s, "alpha", &(struct pw_values){ "new", 1, "bob", "" }, &all, &out, &repair,
			   &note);
	ok(out.archived == 0 && strcmp(out.delegate, "") == 0,
	   "removing the archived and delegate tags unarchives and undelegates");
	tagset_free(&s);

	s = tags("pw/alpha pw/alpha/new pw/alpha/delegate/bob pw/alpha/delegate/eve");
	merge_local_values(&s, "alpha", &(struct pw_values){ "new", 0, "bob", "" }, &all, &out, &repair,
			   &note);
	ok(strcmp(out.delegate, "eve") == 0 && repair, "two delegate tags: the new one wins");
	tagset_free(&s);

	s = tags("pw/alpha pw/alpha/new pw/alpha/some/deeper/tag");
	merge_local_values(&s, "alpha", &base, &all, &out, &repair, &note);
	ok(strcmp(out.state, "new") == 0 && !repair, "deeper tags are not states");
	tagset_free(&s);

	/* The check tag: written for success, warning and fail, restored when touched. */
	{
		struct tag_opts ck = { 0, 0, 1 };
		struct pw_values failing = { "new", 0, "", "fail" };
		char *c;

		memset(&s, 0, sizeof(s));
		merge_patch_tags("alpha", &failing, &ck, &s);
		j = joined(&s);
		is_str(j, "pw/alpha pw/alpha/check/fail pw/alpha/new", "a failing check is a tag");
		free(j);
		tagset_free(&s);
		merge_patch_tags("alpha", &(struct pw_values){ "new", 0, "", "pending" }, &ck, &s);
		j = joined(&s);
		is_str(j, "pw/alpha pw/alpha/new", "no check tag while pending");
		free(j);
		tagset_free(&s);
		merge_patch_tags("alpha", &failing, &none, &s);
		j = joined(&s);
		is_str(j, "pw/alpha pw/alpha/new", "check tags can be turned off");
		free(j);
		tagset_free(&s);
		c = merge_check_tag("alpha", "warning");
		is_str(c, "pw/alpha/check/warning", "the warning tag");
		free(c);
		ok(merge_check_tag("alpha", "bogus") == NULL, "an unknown check state has no tag");

		s = tags("pw/alpha pw/alpha/new pw/alpha/check/fail");
		merge_local_values(&s, "alpha", &failing, &ck, &out, &repair, &note);
		ok(!repair && strcmp(out.check, "fail") == 0, "the check tag read back as it is");
		tagset_free(&s);
		s = tags("pw/alpha pw/alpha/new");
		merge_local_values(&s, "alpha", &failing, &ck, &out, &repair, &note);
		ok(repair && strcmp(out.check, "fail") == 0, "a removed check tag is restored");
		tagset_free(&s);
		s = tags("pw/alpha pw/alpha/new pw/alpha/check/success");
		merge_local_values(&s, "alpha", &failing, &ck, &out, &repair, &note);
		ok(repair && strcmp(out.check, "fail") == 0 && strcmp(out.state, "new") == 0,
		   "a check tag changed by hand is Patchwork's value again, and no state");
		tagset_free(&s);
	}

	/* pwnm's own marks are no states. */
	{
		char *c = merge_cover_tag("alpha");

		is_str(c, "pw/alpha/series/cover", "the cover letter mark");
		ok(merge_state_of_tag(c, "alpha") == NULL, "the cover mark is no state");
		free(c);
		is_str(merge_state_of_tag("pw/alpha/accepted", "alpha"), "accepted", "a state tag");
		ok(merge_state_of_tag("pw/alpha/archived", "alpha") == NULL &&
			   merge_state_of_tag("pw/alpha", "alpha") == NULL &&
			   merge_state_of_tag("pw/alphabet/new", "alpha") == NULL &&
			   merge_state_of_tag("pw/alpha/check/fail", "alpha") == NULL,
		   "archived, the bare tag, another project and check tags are no states");
	}

	/* tagsets. */
	s = tags("b a c a");
	t = tags("a b c");
	ok(tagset_equal(&s, &t), "tagsets are sorted sets");
	tagset_del(&s, "b");
	ok(!tagset_has(&s, "b") && s.n == 2, "tagset_del");
	tagset_free(&s);
	tagset_free(&t);

	j = nm_id_query("odd\"id\"11@example.org");
	is_str(j, "id:\"odd\"\"id\"\"11@example.org\"", "id: query term doubles quotes");
	free(j);
	return tap_done();
}

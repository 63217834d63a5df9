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
	struct tagset s, t, names = { 0 };
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
	merge_local_values(&s, "alpha", &base, &all, &out, &names, &repair, &note);
	is_str(out.state, "accepted", "one state tag is the local state");
	ok(!repair && !note, "nothing to repair");
	tagset_free(&s);

	s = tags("pw/alpha pw/alpha/new pw/alpha/accepted");
	merge_local_values(&s, "alpha", &base, &all, &out, &names, &repair, &note);
	is_str(out.state, "accepted", "two state tags: the newly added one wins");
	ok(repair && note, "and the tags are repaired, with a note");
	tagset_free(&s);

	s = tags("pw/alpha pw/alpha/rfc pw/alpha/accepted");
	merge_local_values(&s, "alpha", &base, &all, &out, &names, &repair, &note);
	is_str(out.state, "new", "two new state tags: none taken");
	ok(repair, "repair asked");
	tagset_free(&s);

	s = tags("inbox pw/beta pw/beta/rfc");
	merge_local_values(&s, "alpha", &(struct pw_values){ "accepted", 1, "maint", "" }, &all, &out, &names,
			   &repair, &note);
	ok(strcmp(out.state, "accepted") == 0 && out.archived == 1 && strcmp(out.delegate, "maint") == 0,
	   "every tag of the project removed: the agreed values stay");
	ok(repair, "and the tags are restored");
	tagset_free(&s);

	s = tags("pw/alpha");
	merge_local_values(&s, "alpha", &base, &all, &out, &names, &repair, &note);
	ok(strcmp(out.state, "new") == 0 && repair, "no state tag: agreed state restored");
	tagset_free(&s);

	s = tags("pw/alpha/new");
	merge_local_values(&s, "alpha", &base, &all, &out, &names, &repair, &note);
	ok(strcmp(out.state, "new") == 0 && repair, "the bare project tag missing: repaired");
	tagset_free(&s);

	s = tags("pw/alpha pw/alpha/new pw/alpha/archived pw/alpha/delegate/bob");
	merge_local_values(&s, "alpha", &base, &all, &out, &names, &repair, &note);
	ok(out.archived == 1 && strcmp(out.delegate, "bob") == 0 && !repair,
	   "archived and delegate read back");
	tagset_free(&s);

	s = tags("pw/alpha pw/alpha/new pw/alpha/archived pw/alpha/delegate/bob");
	merge_local_values(&s, "alpha", &base, &none, &out, &names, &repair, &note);
	ok(out.archived == 0 && strcmp(out.delegate, "") == 0,
	   "with those tags turned off they do not count");
	tagset_free(&s);

	s = tags("pw/alpha pw/alpha/new");
	merge_local_values(&s, "alpha", &(struct pw_values){ "new", 1, "bob", "" }, &all, &out, &names, &repair,
			   &note);
	ok(out.archived == 0 && strcmp(out.delegate, "") == 0,
	   "removing the archived and delegate tags unarchives and undelegates");
	tagset_free(&s);

	s = tags("pw/alpha pw/alpha/new pw/alpha/delegate/bob pw/alpha/delegate/eve");
	merge_local_values(&s, "alpha", &(struct pw_values){ "new", 0, "bob", "" }, &all, &out, &names, &repair,
			   &note);
	ok(strcmp(out.delegate, "eve") == 0 && repair, "two delegate tags: the new one wins");
	tagset_free(&s);

	s = tags("pw/alpha pw/alpha/new pw/alpha/some/deeper/tag");
	merge_local_values(&s, "alpha", &base, &all, &out, &names, &repair, &note);
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
		merge_local_values(&s, "alpha", &failing, &ck, &out, &names, &repair, &note);
		ok(!repair && strcmp(out.check, "fail") == 0, "the check tag read back as it is");
		tagset_free(&s);
		s = tags("pw/alpha pw/alpha/new");
		merge_local_values(&s, "alpha", &failing, &ck, &out, &names, &repair, &note);
		ok(repair && strcmp(out.check, "fail") == 0, "a removed check tag is restored");
		tagset_free(&s);
		s = tags("pw/alpha pw/alpha/new pw/alpha/check/success");
		merge_local_values(&s, "alpha", &failing, &ck, &out, &names, &repair, &note);
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
		c = merge_state_of_tag("pw/alpha/accepted", "alpha");
		is_str(c, "accepted", "a state tag");
		free(c);
		ok(merge_state_of_tag("pw/alpha/archived", "alpha") == NULL &&
			   merge_state_of_tag("pw/alpha", "alpha") == NULL &&
			   merge_state_of_tag("pw/alphabet/new", "alpha") == NULL &&
			   merge_state_of_tag("pw/alpha/check/fail", "alpha") == NULL,
		   "archived, the bare tag, another project and check tags are no states");
	}

	/* Names in tags: the codec. */
	{
		static const struct {
			enum merge_name kind;
			const char *name, *comp;
		} cases[] = {
			{ MERGE_NAME_STATE, "under-review", "under-review" },
			{ MERGE_NAME_STATE, "archived", "%61rchived" },
			{ MERGE_NAME_STATE, "delegate", "%64elegate" },
			{ MERGE_NAME_STATE, "check", "%63heck" },
			{ MERGE_NAME_STATE, "series", "%73eries" },
			{ MERGE_NAME_STATE, "unarchived", "%75narchived" },
			{ MERGE_NAME_STATE, "delegate/maint", "delegate%2Fmaint" },
			{ MERGE_NAME_STATE, "Needs Review", "Needs%20Review" },
			{ MERGE_NAME_STATE, "50%", "50%25" },
			{ MERGE_NAME_STATE, "a\tb\n", "a%09b%0A" },
			{ MERGE_NAME_STATE, "z\xc3\xbcrich", "z%C3%BCrich" },
			{ MERGE_NAME_PROJECT, "linux-kernel", "linux-kernel" },
			{ MERGE_NAME_PROJECT, "conflict", "%63onflict" },
			{ MERGE_NAME_PROJECT, "archived", "archived" },
			{ MERGE_NAME_PROJECT, "a/b", "a%2Fb" },
			{ MERGE_NAME_USER, "Jane.Doe+pw@example.org", "Jane.Doe+pw@example.org" },
			{ MERGE_NAME_USER, "archived", "archived" },
			{ MERGE_NAME_USER, "x;maint", "x%3Bmaint" },
			{ MERGE_NAME_USER, "a b/c", "a%20b%2Fc" },
		};
		static const char *const not_names[] = { "%6Eew", "a%2db", "%", "%4", "%G0", "x%00y",
							 "archived", "" };
		size_t i;
		char *c;

		for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
			char *enc = merge_name_encode(cases[i].kind, cases[i].name);
			char *dec = merge_name_decode(cases[i].kind, cases[i].comp);

			is_str(enc, cases[i].comp, "encoded: %s", cases[i].comp);
			is_str(dec, cases[i].name, "decoded back: %s", cases[i].comp);
			free(enc);
			free(dec);
		}
		for (i = 0; i < sizeof(not_names) / sizeof(*not_names); i++)
			ok(merge_name_decode(MERGE_NAME_STATE, not_names[i]) == NULL,
			   "no state is spelt '%s'", not_names[i]);

		/* A server state "archived" is no archived flag, "delegate/maint" no delegate. */
		memset(&s, 0, sizeof(s));
		merge_patch_tags("alpha", &(struct pw_values){ "archived", 0, "", "" }, &all, &s);
		j = joined(&s);
		is_str(j, "pw/alpha pw/alpha/%61rchived", "the state archived has a tag of its own");
		free(j);
		merge_local_values(&s, "alpha", &(struct pw_values){ "archived", 0, "", "" }, &all, &out,
				   &names, &repair, &note);
		ok(!repair && out.archived == 0 && strcmp(out.state, "archived") == 0,
		   "and reads back as that state, not archived");
		tagset_free(&s);
		merge_patch_tags("alpha", &(struct pw_values){ "delegate/maint", 0, "", "" }, &all, &s);
		merge_local_values(&s, "alpha", &(struct pw_values){ "delegate/maint", 0, "", "" }, &all,
				   &out, &names, &repair, &note);
		ok(!repair && strcmp(out.delegate, "") == 0 && strcmp(out.state, "delegate/maint") == 0,
		   "a state delegate/maint reads back as that state, with no delegate");
		tagset_free(&s);
		s = tags("pw/alpha pw/alpha/Needs%20Review");
		merge_local_values(&s, "alpha", &base, &all, &out, &names, &repair, &note);
		is_str(out.state, "Needs Review", "an encoded state tag added by hand is decoded");
		tagset_free(&s);
		s = tags("pw/alpha pw/alpha/new pw/alpha/delegate/x%3Bmaint");
		merge_local_values(&s, "alpha", &base, &all, &out, &names, &repair, &note);
		is_str(out.delegate, "x;maint", "an encoded delegate is decoded");
		tagset_free(&s);
		s = tags("pw/alpha pw/alpha/new pw/alpha/delegate/x;maint");
		merge_local_values(&s, "alpha", &base, &all, &out, &names, &repair, &note);
		is_str(out.delegate, "", "a delegate tag not spelt as pwnm writes it names nobody");
		tagset_free(&s);

		/* Tags an older pwnm wrote for the agreed values are read as them, and rewritten. */
		s = tags("pw/alpha pw/alpha/archived");
		merge_local_values(&s, "alpha", &(struct pw_values){ "archived", 0, "", "" }, &all, &out,
				   &names, &repair, &note);
		ok(repair && out.archived == 0 && strcmp(out.state, "archived") == 0,
		   "an old pw/alpha/archived for the state archived: that state, not archived");
		tagset_free(&s);
		s = tags("pw/alpha pw/alpha/%61rchived pw/alpha/archived");
		merge_local_values(&s, "alpha", &(struct pw_values){ "archived", 0, "", "" }, &all, &out,
				   &names, &repair, &note);
		ok(out.archived == 1 && strcmp(out.state, "archived") == 0,
		   "beside the encoded state tag, pw/alpha/archived archives");
		tagset_free(&s);
		s = tags("pw/alpha pw/alpha/new pw/alpha/delegate/x;maint");
		merge_local_values(&s, "alpha", &(struct pw_values){ "new", 0, "x;maint", "" }, &all, &out,
				   &names, &repair, &note);
		ok(repair && strcmp(out.delegate, "x;maint") == 0, "an old unencoded delegate tag: that delegate");
		tagset_free(&s);

		/* Too long for notmuch: refused, the rest shown, and no tag read back as the agreed value. */
		{
			char longst[300];
			struct pw_values lv = { longst, 0, "", "" };

			memset(longst, 'x', sizeof(longst) - 1);
			longst[sizeof(longst) - 1] = '\0';
			ok(merge_state_tag("alpha", longst) == NULL, "a 299-byte state has no tag");
			ok(merge_name_refused("alpha", MERGE_NAME_STATE, longst), "it is refused");
			longst[MERGE_TAG_MAX - strlen("pw/alpha/")] = '\0';
			c = merge_state_tag("alpha", longst);
			ok(c && strlen(c) == MERGE_TAG_MAX, "a state whose tag is 200 bytes has it");
			free(c);
			longst[MERGE_TAG_MAX - strlen("pw/alpha/")] = 'x';
			is_int(merge_patch_tags("alpha", &lv, &all, &s), 1, "one name refused");
			j = joined(&s);
			is_str(j, "pw/alpha", "the mail keeps pw/alpha");
			free(j);
			merge_local_values(&s, "alpha", &lv, &all, &out, &names, &repair, &note);
			ok(!repair && out.state == longst, "no state tag is the refused state: nothing to repair");
			tagset_free(&s);
			s = tags("pw/alpha pw/alpha/accepted");
			merge_local_values(&s, "alpha", &lv, &all, &out, &names, &repair, &note);
			is_str(out.state, "accepted", "a state tag added to it is a change");
			tagset_free(&s);
			/* A project is taken only with room for all of pwnm's own tags of it. */
			longst[MERGE_TAG_MAX - strlen("pw/") - strlen("/check/success")] = '\0';
			c = merge_project_tag(longst);
			ok(c != NULL, "a project with just room for its check tags has tags");
			free(c);
			c = merge_check_tag(longst, "success");
			ok(c && strlen(c) == MERGE_TAG_MAX, "and its longest tag is 200 bytes");
			free(c);
			longst[MERGE_TAG_MAX - strlen("pw/") - strlen("/check/success")] = 'x';
			longst[MERGE_TAG_MAX - strlen("pw/") - strlen("/check/success") + 1] = '\0';
			ok(merge_project_tag(longst) == NULL &&
				   merge_name_refused(NULL, MERGE_NAME_PROJECT, longst),
			   "one byte more: the project is refused");
			is_int(merge_patch_tags(longst, &(struct pw_values){ "new", 1, "", "" }, &all, &s), 1,
			       "and none of its tags is written");
			ok(s.n == 0, "not even pw/<project>");
			longst[MERGE_TAG_MAX - strlen("pw/") - strlen("/check/success") + 1] = 'x';
			c = merge_name_shown(longst);
			is_str(c, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... (299 bytes)",
			       "a long name is shown cut");
			free(c);
		}
	}
	tagset_free(&names);

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

/* tst_field.c - the field table: every field read and written through each structure that holds it */
#include <stdlib.h>
#include <string.h>

#include "libfield.h"
#include "libutil.h"
#include "tap.h"

/* A value of the field's kind, different from the structures' zero values. */
static struct field_value
sample(const struct field *f, int which)
{
	static const char *const text[] = { "under-review", "accepted" };
	static const char *const users[] = { "maint", "eve" };
	struct field_value v = { "", 0 };

	switch (f->type) {
	case FIELD_FLAG: v.s = which ? "0" : "1"; break;
	case FIELD_USER: v.s = users[which]; v.id = which ? 9 : 7; break;
	default: v.s = text[which]; break;
	}
	return v;
}

static int
same(const struct field *f, struct field_value a, struct field_value b)
{
	return field_value_equal(a, b) && (f->type != FIELD_USER || a.id == b.id);
}

static void
test_field(size_t i)
{
	const struct field *f = &field_table[i];
	struct patch_rec rec = { 0 };
	struct outbox_rec out = { 0 };
	struct pw_patch patch = { 0 };
	struct pw_values shown = { "", 0, "", "" };
	struct pw_update u;
	struct field_copy c = { 0 };
	struct field_value a = sample(f, 0), b = sample(f, 1), got;
	size_t k;

	field_set_agreed(f, &rec, a);
	ok(same(f, field_agreed(f, &rec), a), "%s: agreed value kept in the patch record", f->name);
	/* The setter copies, even from the record's own string. */
	field_set_agreed(f, &rec, field_agreed(f, &rec));
	ok(same(f, field_agreed(f, &rec), a), "%s: set from itself", f->name);
	for (k = 0; k < FIELD_COUNT; k++)
		if (k != i)
			ok(!*field_agreed(&field_table[k], &rec).s ||
				   strcmp(field_agreed(&field_table[k], &rec).s, "0") == 0,
			   "%s: leaves %s alone", f->name, field_table[k].name);
	field_set_wanted(f, &out, b);
	field_set_sent(f, &out, a);
	if (f->want == FIELD_NO) {
		/* The server's alone (the check): nothing to push, so nothing in the outbox. */
		ok(!*field_wanted(f, &out).s && !*field_sent(f, &out).s && f->update == FIELD_NO,
		   "%s: no outbox value and no PATCH member", f->name);
	} else {
		ok(same(f, field_wanted(f, &out), b), "%s: wanted value in the outbox", f->name);
		ok(field_value_equal(field_sent(f, &out), a), "%s: sent value in the outbox", f->name);
	}

	/* The server's value, as a decoded patch has it. */
	if (f->type == FIELD_FLAG) {
		patch.archived = 1;
	} else {
		char **m = (char **)(void *)((char *)&patch + f->remote);

		*m = xstrdup(a.s);
		if (f->remote_id != FIELD_NO)
			*(uint32_t *)(void *)((char *)&patch + f->remote_id) = a.id;
	}
	got = field_remote(f, &patch);
	ok(same(f, got, a), "%s: read from a decoded patch", f->name);
	pw_patch_free(&patch);

	/* The tags' view. */
	if (f->shown != FIELD_NO) {
		field_set_shown(f, &shown, a);
		ok(field_value_equal(field_shown(f, &shown), a), "%s: shown in tags", f->name);
	}

	/* A PATCH: nothing changes until the field is put. */
	memset(&u, 0, sizeof(u));
	field_update_init(&u);
	ok(!u.state && u.archived == -1 && u.delegate_id == -1 && !u.commit_ref,
	   "%s: an empty PATCH changes nothing", f->name);
	field_put_update(f, &u, a);
	if (f->update == FIELD_NO)
		ok(!u.state && u.archived == -1 && u.delegate_id == -1 && !u.commit_ref,
		   "%s: never in a PATCH", f->name);
	else if (f->type == FIELD_FLAG)
		is_int(u.archived, 1, "%s: PATCH carries the flag", f->name);
	else if (f->type == FIELD_USER)
		is_int(u.delegate_id, a.id, "%s: PATCH carries the user id", f->name);
	else
		is_str(*(const char *const *)(const void *)((const char *)&u + f->update), a.s,
		       "%s: PATCH carries the value", f->name);

	field_copy_set(&c, a);
	ok(same(f, field_copy_value(&c), a), "%s: an owned copy", f->name);
	field_copy_free(&c);
	ok(*field_copy_value(&c).s == '\0', "%s: a freed copy is empty", f->name);

	patch_rec_free(&rec);
	outbox_rec_free(&out);
}

int
main(void)
{
	struct pw_event ev = { 0 };
	struct field_value v;
	struct tag_opts none = { 0, 0, 0 }, all = { 1, 1, 1 };
	size_t i;

	is_int(FIELD_BIT(FIELD_STATE), OUT_STATE, "the state's bit is the outbox's");
	is_int(FIELD_BIT(FIELD_ARCHIVED), OUT_ARCHIVED, "the archived flag's bit is the outbox's");
	is_int(FIELD_BIT(FIELD_DELEGATE), OUT_DELEGATE, "the delegate's bit is the outbox's");
	for (i = 0; i < FIELD_COUNT; i++) {
		ok(field_table[i].name && *field_table[i].name, "field %zu has a name", i);
		test_field(i);
	}

	is_str(field_show(&field_table[FIELD_ARCHIVED], (struct field_value){ "1", 0 }), "archived",
	       "a flag is shown by its word");
	is_str(field_show(&field_table[FIELD_ARCHIVED], (struct field_value){ "0", 0 }), "unarchived",
	       "and its opposite");
	is_str(field_show(&field_table[FIELD_DELEGATE], (struct field_value){ "", 0 }), "(none)",
	       "an empty value is shown as (none)");
	is_str(field_explain(&field_table[FIELD_DELEGATE], (struct field_value){ "", 0 }), "none",
	       "explain has the field's own word for it");

	ok(field_in_tags(&field_table[FIELD_STATE], &none), "the state is always in the tags");
	ok(!field_in_tags(&field_table[FIELD_ARCHIVED], &none) &&
		   field_in_tags(&field_table[FIELD_ARCHIVED], &all),
	   "archived tags follow pwnm.tag_archived");
	ok(!field_in_tags(&field_table[FIELD_DELEGATE], &none) &&
		   field_in_tags(&field_table[FIELD_DELEGATE], &all),
	   "delegate tags follow pwnm.tag_delegate");
	ok(!field_in_tags(&field_table[FIELD_CHECK], &none) &&
		   field_in_tags(&field_table[FIELD_CHECK], &all),
	   "check tags follow pwnm.tag_checks");

	ev.category = (char *)(uintptr_t)"patch-state-changed";
	ev.current_state = (char *)(uintptr_t)"accepted";
	ok(field_event(&field_table[FIELD_STATE], &ev, &v) && strcmp(v.s, "accepted") == 0,
	   "a state event carries the state");
	ok(!field_event(&field_table[FIELD_DELEGATE], &ev, &v), "and says nothing of the delegate");
	ok(!field_event(&field_table[FIELD_ARCHIVED], &ev, &v), "no event reports archiving");
	ev.current_state = (char *)(uintptr_t)"";
	ok(!field_event(&field_table[FIELD_STATE], &ev, &v), "a state event without a state is none");
	ev.category = (char *)(uintptr_t)"patch-delegated";
	ev.has_delegate = 1;
	ev.current_delegate = (char *)(uintptr_t)"";
	ev.current_delegate_id = 0;
	ok(field_event(&field_table[FIELD_DELEGATE], &ev, &v) && !*v.s && !v.id,
	   "a delegation to nobody is a value (undelegated)");
	return tap_done();
}

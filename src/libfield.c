/* libfield.c - the table of the fields pwnm keeps in step, and the accessors that read and write them */
#include "libfield.h"

#include <stdlib.h>
#include <string.h>

#include "libutil.h"

#define M(type, member) offsetof(struct type, member)

const struct field field_table[FIELD_COUNT] = {
	[FIELD_STATE] = {
		.name = "state", .label = "", .none = "(unknown)", .type = FIELD_SLUG,
		.rec = M(patch_rec, state), .rec_id = FIELD_NO,
		.want = M(outbox_rec, state), .want_id = FIELD_NO,
		.sent = M(outbox_rec, sent_state),
		.remote = M(pw_patch, state), .remote_id = FIELD_NO,
		.update = M(pw_update, state),
		.shown = M(pw_values, state), .tag_opt = FIELD_NO,
		.event = "patch-state-changed",
		.ev = M(pw_event, current_state), .ev_id = FIELD_NO, .ev_has = FIELD_NO,
	},
	[FIELD_ARCHIVED] = {
		.name = "archived", .label = "", .on = "archived", .off = "unarchived",
		.type = FIELD_FLAG,
		.rec = M(patch_rec, archived), .rec_id = FIELD_NO,
		.want = M(outbox_rec, archived), .want_id = FIELD_NO,
		.sent = M(outbox_rec, sent_archived),
		.remote = M(pw_patch, archived), .remote_id = FIELD_NO,
		.update = M(pw_update, archived),
		.shown = M(pw_values, archived), .tag_opt = M(tag_opts, archived),
		.event = NULL, .ev = FIELD_NO, .ev_id = FIELD_NO, .ev_has = FIELD_NO,
	},
	[FIELD_DELEGATE] = {
		.name = "delegate", .label = "delegate", .none = "none", .type = FIELD_USER,
		.rec = M(patch_rec, delegate), .rec_id = M(patch_rec, delegate_id),
		.want = M(outbox_rec, delegate), .want_id = M(outbox_rec, delegate_id),
		.sent = M(outbox_rec, sent_delegate),
		.remote = M(pw_patch, delegate), .remote_id = M(pw_patch, delegate_id),
		.update = M(pw_update, delegate_id),
		.shown = M(pw_values, delegate), .tag_opt = M(tag_opts, delegate),
		.event = "patch-delegated",
		.ev = M(pw_event, current_delegate), .ev_id = M(pw_event, current_delegate_id),
		.ev_has = M(pw_event, has_delegate),
	},
	/*
	 * The commit that applied the patch (set by `pwnm accept`).  It has
	 * no tag, so its local value is the outbox's; no event reports it,
	 * so a change made on Patchwork is seen by a full list or a recheck.
	 */
	[FIELD_COMMIT_REF] = {
		.name = "commit_ref", .label = "commit", .none = "none", .type = FIELD_TEXT,
		.rec = M(patch_rec, commit_ref), .rec_id = FIELD_NO,
		.want = M(outbox_rec, commit_ref), .want_id = FIELD_NO,
		.sent = M(outbox_rec, sent_commit_ref),
		.remote = M(pw_patch, commit_ref), .remote_id = FIELD_NO,
		.update = M(pw_update, commit_ref),
		.shown = FIELD_NO, .tag_opt = FIELD_NO,
		.event = NULL, .ev = FIELD_NO, .ev_id = FIELD_NO, .ev_has = FIELD_NO,
	},
	/*
	 * Read only: with no outbox member the tags' value is always the
	 * agreed one, so only the server moves it.  check-created events carry
	 * one check, not the combined state: the remote step lists the
	 * patches of their series instead (remote_series).
	 */
	[FIELD_CHECK] = {
		.name = "check", .label = "check", .none = "unknown", .type = FIELD_TEXT,
		.rec = M(patch_rec, check), .rec_id = FIELD_NO,
		.want = FIELD_NO, .want_id = FIELD_NO, .sent = FIELD_NO,
		.remote = M(pw_patch, check), .remote_id = FIELD_NO,
		.update = FIELD_NO,
		.shown = M(pw_values, check), .tag_opt = M(tag_opts, check),
		.event = NULL, .ev = FIELD_NO, .ev_id = FIELD_NO, .ev_has = FIELD_NO,
	},
};

/* Member types, named so that const applies to the member itself. */
typedef char *str_t;
typedef const char *cstr_t;

#define AT(ptr, off, type) ((type *)(void *)((char *)(ptr) + (off)))
#define CAT(ptr, off, type) ((const type *)(const void *)((const char *)(ptr) + (off)))

static struct field_value
get(const struct field *f, const void *base, size_t off, size_t id_off)
{
	struct field_value v = { "", 0 };

	if (off == FIELD_NO)
		return v;
	if (f->type == FIELD_FLAG) {
		v.s = *CAT(base, off, int) ? "1" : "0";
		return v;
	}
	v.s = *CAT(base, off, str_t) ? *CAT(base, off, str_t) : "";
	if (id_off != FIELD_NO)
		v.id = *CAT(base, id_off, uint32_t);
	return v;
}

static void
set(const struct field *f, void *base, size_t off, size_t id_off, struct field_value v)
{
	char *copy;

	if (off == FIELD_NO)
		return;
	if (f->type == FIELD_FLAG) {
		*AT(base, off, int) = v.s[0] == '1';
		return;
	}
	copy = xstrdup(v.s ? v.s : "");
	free(*AT(base, off, str_t));
	*AT(base, off, str_t) = copy;
	if (id_off != FIELD_NO)
		*AT(base, id_off, uint32_t) = v.id;
}

struct field_value
field_agreed(const struct field *f, const struct patch_rec *p)
{
	return get(f, p, f->rec, f->rec_id);
}

void
field_set_agreed(const struct field *f, struct patch_rec *p, struct field_value v)
{
	set(f, p, f->rec, f->rec_id, v);
}

struct field_value
field_wanted(const struct field *f, const struct outbox_rec *o)
{
	return get(f, o, f->want, f->want_id);
}

void
field_set_wanted(const struct field *f, struct outbox_rec *o, struct field_value v)
{
	set(f, o, f->want, f->want_id, v);
}

struct field_value
field_sent(const struct field *f, const struct outbox_rec *o)
{
	return get(f, o, f->sent, FIELD_NO);
}

void
field_set_sent(const struct field *f, struct outbox_rec *o, struct field_value v)
{
	set(f, o, f->sent, FIELD_NO, v);
}

struct field_value
field_remote(const struct field *f, const struct pw_patch *p)
{
	return get(f, p, f->remote, f->remote_id);
}

int
field_event(const struct field *f, const struct pw_event *e, struct field_value *v)
{
	if (!f->event || strcmp(e->category ? e->category : "", f->event) != 0)
		return 0;
	*v = get(f, e, f->ev, f->ev_id);
	if (f->ev_has != FIELD_NO)
		return *CAT(e, f->ev_has, int) != 0;
	return *v->s != '\0';
}

struct field_value
field_shown(const struct field *f, const struct pw_values *pv)
{
	struct field_value v = { "", 0 };

	if (f->shown == FIELD_NO)
		return v;
	if (f->type == FIELD_FLAG)
		v.s = *CAT(pv, f->shown, int) ? "1" : "0";
	else
		v.s = *CAT(pv, f->shown, cstr_t) ? *CAT(pv, f->shown, cstr_t) : "";
	return v;
}

void
field_set_shown(const struct field *f, struct pw_values *pv, struct field_value v)
{
	if (f->shown == FIELD_NO)
		return;
	if (f->type == FIELD_FLAG)
		*AT(pv, f->shown, int) = v.s[0] == '1';
	else
		*AT(pv, f->shown, cstr_t) = v.s;
}

int
field_in_tags(const struct field *f, const struct tag_opts *o)
{
	if (f->shown == FIELD_NO)
		return 0;
	return f->tag_opt == FIELD_NO || *CAT(o, f->tag_opt, int);
}

void
field_update_init(struct pw_update *u)
{
	size_t i;

	for (i = 0; i < FIELD_COUNT; i++) {
		const struct field *f = &field_table[i];

		if (f->update == FIELD_NO)
			continue;
		if (f->type == FIELD_FLAG)
			*AT(u, f->update, int) = -1;
		else if (f->type == FIELD_USER)
			*AT(u, f->update, long) = -1;
		else
			*AT(u, f->update, cstr_t) = NULL;
	}
}

void
field_put_update(const struct field *f, struct pw_update *u, struct field_value v)
{
	if (f->update == FIELD_NO)
		return;
	if (f->type == FIELD_FLAG)
		*AT(u, f->update, int) = v.s[0] == '1';
	else if (f->type == FIELD_USER)
		*AT(u, f->update, long) = (long)v.id;
	else
		*AT(u, f->update, cstr_t) = v.s;
}

const char *
field_show(const struct field *f, struct field_value v)
{
	if (f->type == FIELD_FLAG)
		return v.s[0] == '1' ? f->on : f->off;
	return *v.s ? v.s : "(none)";
}

const char *
field_explain(const struct field *f, struct field_value v)
{
	if (f->type == FIELD_FLAG)
		return v.s[0] == '1' ? f->on : f->off;
	return *v.s ? v.s : f->none;
}

int
field_value_equal(struct field_value a, struct field_value b)
{
	return strcmp(a.s ? a.s : "", b.s ? b.s : "") == 0;
}

void
field_copy_set(struct field_copy *c, struct field_value v)
{
	char *copy = xstrdup(v.s ? v.s : "");

	free(c->s);
	c->s = copy;
	c->id = v.id;
}

struct field_value
field_copy_value(const struct field_copy *c)
{
	struct field_value v = { c->s ? c->s : "", c->id };

	return v;
}

void
field_copy_free(struct field_copy *c)
{
	free(c->s);
	c->s = NULL;
	c->id = 0;
}

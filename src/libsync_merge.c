/* libsync_merge.c - step 4 of a run: each patch and field merged three ways against the agreed value */
#include "libsync_p.h"

#include <stdlib.h>
#include <string.h>

#include "libutil.h"

void
out_ensure(struct work *w)
{
	size_t i;
	struct field_value none = { "", 0 };

	if (w->has_out)
		return;
	memset(&w->out, 0, sizeof(w->out));
	w->out.project_id = w->rec.project_id;
	w->out.patch_id = w->rec.patch_id;
	for (i = 0; i < FIELD_COUNT; i++) {
		field_set_wanted(&field_table[i], &w->out, none);
		field_set_sent(&field_table[i], &w->out, none);
	}
	w->out.last_error = xstrdup("");
	w->out.queued_at = now_unix();
	w->has_out = 1;
}

static void
out_drop_field(struct work *w, unsigned bit)
{
	if (!w->has_out)
		return;
	w->out.fields &= ~bit;
	w->out_dirty = 1;
}

void
run_describe(struct run *r, const struct work *w, const char *side, const struct field *f,
	     struct field_value from, struct field_value to)
{
	if (!r->o->verbose && !r->o->dry_run)
		return;
	run_report(r, "patch %u %s %s: %s %s%s%s -> %s", w->rec.patch_id, w->project, w->rec.msgid, side,
		   f->label, *f->label ? " " : "", field_show(f, from), field_show(f, to));
}

static int
run_polled_ok(const struct run *r, uint32_t project_id)
{
	long i = run_project_index(r, project_id);

	return i >= 0 && r->polled_ok[i];
}

/* First seen: the server's values are agreed. */
static void
merge_new(struct run *r, struct work *w)
{
	size_t i;

	for (i = 0; i < FIELD_COUNT; i++)
		if (w->r_set & FIELD_BIT(i))
			field_set_agreed(&field_table[i], &w->rec, field_copy_value(&w->r[i]));
	w->dirty = 1;
	w->tags = 1;
	r->res->new_patches++;
}

void
merge_event(struct work *w, size_t i, const struct pw_event *e, struct field_value v)
{
	unsigned bit = FIELD_BIT(i);
	const char *at = w->out.sent_event_date;

	if (!w->has_out || !(w->out.sent_fields & bit) || !w->out.sent_events)
		return;
	/* At or before the sending run's cursor: that run had seen it. */
	if (at && *at && pw_event_order(e->date, e->id, at, w->out.sent_event_id) <= 0)
		return;
	if (field_value_equal(v, field_sent(&field_table[i], &w->out))) {
		w->ev_took |= bit;
		w->ev_moved &= ~bit;
	} else if (w->ev_took & bit) {
		w->ev_moved |= bit;
	}
}

static int
cmp_event_ptr(const void *a, const void *b)
{
	const struct pw_event *x = *(const struct pw_event *const *)a;
	const struct pw_event *y = *(const struct pw_event *const *)b;

	return pw_event_order(x->date, x->id, y->date, y->id);
}

void
merge_events_unconfirmed(struct run *r, const struct pw_event *ev, size_t n)
{
	const struct pw_event **v = xcalloc(n + 1, sizeof(*v));
	size_t i, k;

	for (i = 0; i < n; i++)
		v[i] = &ev[i];
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_event_ptr);
	for (i = 0; i < n; i++) {
		struct work *w = v[i]->patch_id ? work_find(r, v[i]->project_id, v[i]->patch_id) : NULL;

		if (!w || !w->has_out || !w->out.sent_fields)
			continue;
		for (k = 0; k < FIELD_COUNT; k++) {
			struct field_value fv;

			if (field_event(&field_table[k], v[i], &fv))
				merge_event(w, k, v[i], fv);
		}
	}
	free(v);
}

/* The agreed value of field i becomes v (a push found landed). */
static void
merge_agree(struct work *w, size_t i, struct field_value v)
{
	const struct field *f = &field_table[i];

	w->landed |= FIELD_BIT(i);
	if (!field_value_equal(v, field_agreed(f, &w->rec))) {
		field_set_agreed(f, &w->rec, v);
		w->dirty = 1;
		w->tags = 1;
	}
}

/*
 * A value sent earlier whose landing was never confirmed (its reply
 * lost, or the run killed): when the server now shows it, that is the
 * push having landed, the agreed value, not a change made on Patchwork.
 * When the server shows another value, its events tell whether the push
 * landed and Patchwork moved the patch away since (ev_moved: the value
 * sent is the agreed one, and the server's a change after it, merged as
 * any other), or whether the PATCH never arrived (sent again).  Once the
 * server's value is known (or its news were read and name no change),
 * it is settled.
 */
static void
merge_landed(struct run *r, struct work *w, size_t i)
{
	const struct field *f = &field_table[i];
	unsigned bit = FIELD_BIT(i);
	int known = (w->r_set & bit) != 0;
	struct field_value rv = field_copy_value(&w->r[i]);

	if (!w->has_out || !(w->out.sent_fields & bit))
		return;
	if (known && field_value_equal(field_sent(f, &w->out), rv)) {
		merge_agree(w, i, rv);
	} else if (w->ev_moved & bit) {
		struct field_value sv = field_sent(f, &w->out);

		if (f->type == FIELD_USER)
			sv.id = *sv.s ? run_user_id(r, sv.s) : 0;
		debug("sync", "patch %u %s: the %s sent landed, and was changed on Patchwork since",
		      w->rec.patch_id, w->project, f->name);
		merge_agree(w, i, sv);
	}
	if (known || run_polled_ok(r, w->rec.project_id)) {
		w->out.sent_fields &= ~bit;
		w->out_dirty = 1;
	}
}

/* Both sides moved differently: pwnm.conflict decides.  Returns the action taken instead. */
static enum merge_action
merge_conflict(struct run *r, struct work *w, const struct field *f, struct field_value l,
	       struct field_value rv)
{
	static const char *const outcome[] = {
		[CONFLICT_PATCHWORK] = "Patchwork's value kept (pwnm.conflict=patchwork)",
		[CONFLICT_NOTMUCH] = "notmuch's value pushed (pwnm.conflict=notmuch)",
		[CONFLICT_REPORT] = "tagged pw/conflict: set the tag you want, or remove pw/conflict "
				    "to push yours",
	};
	enum conflict_policy c = r->cfg->conflict;

	r->res->conflicts++;
	run_report(r, "conflict: patch %u %s %s: notmuch says %s, Patchwork says %s; %s",
		   w->rec.patch_id, w->project, w->rec.msgid, field_show(f, l), field_show(f, rv),
		   outcome[c]);
	if (c == CONFLICT_PATCHWORK)
		return MERGE_TAKE_REMOTE;
	if (c == CONFLICT_REPORT) {
		w->rec.flags |= PATCH_F_CONFLICT;
		free(w->rec.note);
		w->rec.note = xasprintf("conflict on %s: Patchwork says %s", f->name,
					f->type == FIELD_FLAG ? field_show(f, rv) : rv.s);
	}
	return MERGE_CONFLICT;
}

/* The server's value is the new agreed one. */
static void
merge_take_remote(struct run *r, struct work *w, size_t i, enum merge_action a, int *pulled)
{
	const struct field *f = &field_table[i];
	struct field_value rv = field_copy_value(&w->r[i]);

	if (a != MERGE_AGREE && !*pulled) {
		r->res->pulled++;
		*pulled = 1;
	}
	if (a == MERGE_TAKE_REMOTE)
		run_describe(r, w, "patchwork", f, field_agreed(f, &w->rec), rv);
	field_set_agreed(f, &w->rec, rv);
	w->remote_applied |= FIELD_BIT(i);
	w->dirty = 1;
	w->tags = 1;
	if (a != MERGE_CONFLICT && (w->rec.flags & PATCH_F_CONFLICT) && !w->has_out) {
		w->rec.flags &= ~PATCH_F_CONFLICT;
		str_set(&w->rec.note, "");
	}
}

/* The tags' value goes to the outbox; held there when the conflict waits for the user. */
static void
merge_queue_local(struct run *r, struct work *w, size_t i, struct field_value l, int held)
{
	const struct field *f = &field_table[i];
	unsigned bit = FIELD_BIT(i);
	int same;

	out_ensure(w);
	same = (w->out.fields & bit) && field_value_equal(field_wanted(f, &w->out), l);
	if (f->type == FIELD_USER)
		l.id = *l.s ? run_user_id(r, l.s) : 0;
	w->out.fields |= bit;
	field_set_wanted(f, &w->out, l);
	if (!same) {
		w->out.attempts = 0;
		w->out.next_try = held ? OUTBOX_HELD : 0;
		w->out.queued_at = now_unix();
		str_set(&w->out.last_error, held ? "held: conflict" : "");
	}
	w->out_dirty = 1;
	if (held)
		w->tags = 1;
}

/* The value the tags were left showing: a pending change, else the agreed value. */
static struct field_value
work_shown(const struct work *w, const struct field *f, unsigned bit)
{
	if (w->has_out && (w->out.fields & bit))
		return field_wanted(f, &w->out);
	return field_agreed(f, &w->rec);
}

static void
merge_field_of(struct run *r, struct work *w, size_t i, int *pulled)
{
	const struct field *f = &field_table[i];
	unsigned bit = FIELD_BIT(i);
	struct field_copy lc = { 0 };
	struct field_value b, l, rv;
	enum merge_action a;

	/* The tags' value, as they were before a landed push moves the agreed one. */
	field_copy_set(&lc, (w->l_set & bit) ? field_copy_value(&w->l[i]) : work_shown(w, f, bit));
	l = field_copy_value(&lc);
	merge_landed(r, w, i);
	b = field_agreed(f, &w->rec);
	rv = (w->r_set & bit) ? field_copy_value(&w->r[i]) : b;
	a = merge_field(b.s, l.s, rv.s);
	if (a == MERGE_NONE || a == MERGE_TAKE_REMOTE || a == MERGE_AGREE)
		out_drop_field(w, bit);
	if (a == MERGE_NONE)
		goto out;
	if (a == MERGE_CONFLICT) {
		a = merge_conflict(r, w, f, l, rv);
		if (a == MERGE_TAKE_REMOTE)
			out_drop_field(w, bit);
	}
	if (a == MERGE_TAKE_REMOTE || a == MERGE_AGREE || a == MERGE_CONFLICT)
		merge_take_remote(r, w, i, a, pulled);
	if (a == MERGE_PUSH_LOCAL || a == MERGE_CONFLICT)
		merge_queue_local(r, w, i, l, a == MERGE_CONFLICT && r->cfg->conflict == CONFLICT_REPORT);
out:
	field_copy_free(&lc);
}

static void
merge_work(struct run *r, struct work *w)
{
	size_t i;
	int pulled = 0;

	if (!w->in_store) {
		merge_new(r, w);
		return;
	}
	if (w->scanned && w->l_repair)
		w->tags = 1;
	if (w->scanned && w->l_note && !r->restore_only)
		run_report(r, "note: patch %u %s %s: %s", w->rec.patch_id, w->project, w->rec.msgid,
			   w->l_note);
	if (w->scanned && (w->rec.flags & PATCH_F_DENIED) && !w->l_denied_tag) {
		w->rec.flags &= ~PATCH_F_DENIED;
		w->dirty = 1;
	}
	for (i = 0; i < FIELD_COUNT; i++)
		merge_field_of(r, w, i, &pulled);
	/* A held conflict is released when the user removes pw/conflict. */
	if ((w->rec.flags & PATCH_F_CONFLICT) && w->scanned && !w->l_conflict_tag &&
	    !(w->remote_applied)) {
		w->rec.flags &= ~PATCH_F_CONFLICT;
		str_set(&w->rec.note, "");
		if (w->has_out && w->out.next_try == OUTBOX_HELD) {
			w->out.next_try = 0;
			str_set(&w->out.last_error, "");
			w->out_dirty = 1;
		}
		w->dirty = 1;
		w->tags = 1;
	}
	if (w->has_out && w->out.fields == 0 && (w->rec.flags & PATCH_F_CONFLICT)) {
		w->rec.flags &= ~PATCH_F_CONFLICT;
		str_set(&w->rec.note, "");
		w->dirty = 1;
		w->tags = 1;
	}
}

/*
 * Step 4: every work item merged (pure: it only changes the run's items,
 * so it cannot fail), but those a window of a full list merged already.  Under --project another project's patch is left
 * as it is, and the revision is kept so a full run still sees it.
 */
void
sync_merge(struct run *r)
{
	int64_t t = now_ms();
	size_t i;

	for (i = 0; i < r->wcap; i++) {
		struct work *w;

		for (w = r->wtab[i]; w; w = w->hnext)
			if (!w->merged && work_tracked(r, w))
				merge_item(r, w);
	}
	debug("sync", "phase merge %lld ms", (long long)(now_ms() - t));
}

/* One work item merged (a window of a full list merges its items as they come). */
void
merge_item(struct run *r, struct work *w)
{
	w->merged = 1;
	if (r->o->project && strcmp(w->project, r->o->project) != 0) {
		w->held = 1;
		r->held_limit = 1;
		return;
	}
	merge_work(r, w);
}

/* libsync_merge.c - step 4 of a run: each patch and field merged three ways against the agreed value */
#include "libsync_p.h"

#include <stdlib.h>
#include <string.h>

#include "libutil.h"

static void
out_ensure(struct work *w)
{
	if (w->has_out)
		return;
	memset(&w->out, 0, sizeof(w->out));
	w->out.project_id = w->rec.project_id;
	w->out.patch_id = w->rec.patch_id;
	w->out.state = xstrdup("");
	w->out.delegate = xstrdup("");
	w->out.last_error = xstrdup("");
	w->out.sent_state = xstrdup("");
	w->out.sent_delegate = xstrdup("");
	w->out.queued_at = now_unix();
	w->has_out = 1;
}

static void
out_drop_field(struct work *w, unsigned f)
{
	if (!w->has_out)
		return;
	if (f == F_STATE)
		w->out.fields &= ~OUT_STATE;
	if (f == F_ARCHIVED)
		w->out.fields &= ~OUT_ARCHIVED;
	if (f == F_DELEGATE)
		w->out.fields &= ~OUT_DELEGATE;
	w->out_dirty = 1;
}

void
run_describe(struct run *r, const struct work *w, const char *side, const char *field, const char *from,
	 const char *to)
{
	if (!r->o->verbose && !r->o->dry_run)
		return;
	run_report(r, "patch %u %s %s: %s %s%s%s -> %s", w->rec.patch_id, w->project, w->rec.msgid, side,
	       field, *field ? " " : "", *from ? from : "(none)", *to ? to : "(none)");
}

const char *
flag_str(int b)
{
	return b ? "archived" : "unarchived";
}

static unsigned
out_bit(unsigned f)
{
	return f == F_STATE ? OUT_STATE : f == F_ARCHIVED ? OUT_ARCHIVED : OUT_DELEGATE;
}

static int
run_polled_ok(const struct run *r, uint32_t project_id)
{
	long i = run_project_index(r, project_id);

	return i >= 0 && r->polled_ok[i];
}

void
sync_merge_work(struct run *r, struct work *w)
{
	const struct pwnm_config *cfg = r->cfg;
	unsigned f;
	int pulled = 0;

	if (!w->in_store) {
		/* First seen: the server's values are agreed. */
		if (w->r_set & F_STATE)
			str_set(&w->rec.state, w->r_state);
		if (w->r_set & F_ARCHIVED)
			w->rec.archived = w->r_archived;
		if (w->r_set & F_DELEGATE) {
			str_set(&w->rec.delegate, w->r_delegate);
			w->rec.delegate_id = w->r_delegate_id;
		}
		w->dirty = 1;
		w->tags = 1;
		r->res->new_patches++;
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
	for (f = F_STATE; f <= F_DELEGATE; f <<= 1) {
		char bbuf[2] = "0", lbuf[2] = "0", rbuf[2] = "0";
		const char *b, *l, *rv, *name;
		struct pw_values shown;
		enum merge_action a;

		shown_values(&w->rec, &w->out, w->has_out, &shown);
		if (f == F_STATE) {
			name = "";
			b = w->rec.state;
			l = (w->l_set & f) ? w->l_state : shown.state;
			rv = (w->r_set & f) ? w->r_state : b;
		} else if (f == F_ARCHIVED) {
			name = "";
			bbuf[0] = (char)('0' + w->rec.archived);
			lbuf[0] = (char)('0' + ((w->l_set & f) ? w->l_archived : shown.archived));
			rbuf[0] = (char)('0' + ((w->r_set & f) ? w->r_archived : w->rec.archived));
			b = bbuf;
			l = lbuf;
			rv = rbuf;
		} else {
			name = "delegate";
			b = w->rec.delegate;
			l = (w->l_set & f) ? w->l_delegate : shown.delegate;
			rv = (w->r_set & f) ? w->r_delegate : b;
		}
		/*
		 * A value sent earlier whose landing was never confirmed (its
		 * reply lost, or the run killed): when the server now shows
		 * it, that is the push having landed, the agreed value, not a
		 * change made on Patchwork.  Once the server's value is known
		 * (or its news were read and name no change), it is settled.
		 */
		if (w->has_out && (w->out.sent_fields & out_bit(f))) {
			int known = (w->r_set & f) != 0, landed = 0;

			if (known && f == F_STATE)
				landed = strcmp(w->out.sent_state, rv) == 0;
			else if (known && f == F_ARCHIVED)
				landed = w->out.sent_archived == (rv[0] == '1');
			else if (known && f == F_DELEGATE)
				landed = strcmp(w->out.sent_delegate, rv) == 0;
			if (landed)
				w->landed |= f;
			if (landed && strcmp(rv, b) != 0) {
				if (f == F_STATE) {
					str_set(&w->rec.state, rv);
					b = w->rec.state;
				} else if (f == F_ARCHIVED) {
					w->rec.archived = rv[0] == '1';
					bbuf[0] = rv[0];
				} else {
					str_set(&w->rec.delegate, rv);
					w->rec.delegate_id = w->r_delegate_id;
					b = w->rec.delegate;
				}
				w->dirty = 1;
				w->tags = 1;
			}
			if (known || run_polled_ok(r, w->rec.project_id)) {
				w->out.sent_fields &= ~out_bit(f);
				w->out_dirty = 1;
			}
		}
		a = merge_field(b, l, rv);
		if (a == MERGE_NONE || a == MERGE_TAKE_REMOTE || a == MERGE_AGREE)
			out_drop_field(w, f);
		if (a == MERGE_NONE)
			continue;
		if (a == MERGE_CONFLICT) {
			r->res->conflicts++;
			if (cfg->conflict == CONFLICT_PATCHWORK) {
				run_report(r, "conflict: patch %u %s %s: notmuch says %s, Patchwork says %s; "
					  "Patchwork's value kept (pwnm.conflict=patchwork)",
				       w->rec.patch_id, w->project, w->rec.msgid,
				       f == F_ARCHIVED ? flag_str(l[0] == '1') : (*l ? l : "(none)"),
				       f == F_ARCHIVED ? flag_str(rv[0] == '1') : (*rv ? rv : "(none)"));
				out_drop_field(w, f);
				a = MERGE_TAKE_REMOTE;
			} else if (cfg->conflict == CONFLICT_NOTMUCH) {
				run_report(r, "conflict: patch %u %s %s: notmuch says %s, Patchwork says %s; "
					  "notmuch's value pushed (pwnm.conflict=notmuch)",
				       w->rec.patch_id, w->project, w->rec.msgid,
				       f == F_ARCHIVED ? flag_str(l[0] == '1') : (*l ? l : "(none)"),
				       f == F_ARCHIVED ? flag_str(rv[0] == '1') : (*rv ? rv : "(none)"));
			} else {
				run_report(r, "conflict: patch %u %s %s: notmuch says %s, Patchwork says %s; "
					  "tagged pw/conflict: set the tag you want, or remove pw/conflict "
					  "to push yours",
				       w->rec.patch_id, w->project, w->rec.msgid,
				       f == F_ARCHIVED ? flag_str(l[0] == '1') : (*l ? l : "(none)"),
				       f == F_ARCHIVED ? flag_str(rv[0] == '1') : (*rv ? rv : "(none)"));
				w->rec.flags |= PATCH_F_CONFLICT;
				free(w->rec.note);
				w->rec.note = xasprintf("conflict on %s: Patchwork says %s",
							f == F_STATE ? "state" : f == F_ARCHIVED ? "archived" : "delegate",
							f == F_ARCHIVED ? flag_str(rv[0] == '1') : rv);
			}
		}
		if (a == MERGE_TAKE_REMOTE || a == MERGE_AGREE || a == MERGE_CONFLICT) {
			/* The server's value is the new agreed one. */
			if (a != MERGE_AGREE && !pulled) {
				r->res->pulled++;
				pulled = 1;
			}
			if (a == MERGE_TAKE_REMOTE)
				run_describe(r, w, "patchwork", name, f == F_ARCHIVED ? flag_str(b[0] == '1') : b,
					 f == F_ARCHIVED ? flag_str(rv[0] == '1') : rv);
			if (f == F_STATE)
				str_set(&w->rec.state, rv);
			else if (f == F_ARCHIVED)
				w->rec.archived = rv[0] == '1';
			else {
				str_set(&w->rec.delegate, rv);
				w->rec.delegate_id = w->r_delegate_id;
			}
			w->remote_applied |= f;
			w->dirty = 1;
			w->tags = 1;
			if (a != MERGE_CONFLICT && (w->rec.flags & PATCH_F_CONFLICT) && !w->has_out) {
				w->rec.flags &= ~PATCH_F_CONFLICT;
				str_set(&w->rec.note, "");
			}
		}
		if (a == MERGE_PUSH_LOCAL || (a == MERGE_CONFLICT && cfg->conflict != CONFLICT_PATCHWORK)) {
			int held = a == MERGE_CONFLICT && cfg->conflict == CONFLICT_REPORT;
			int same = 0;

			out_ensure(w);
			if (f == F_STATE) {
				same = (w->out.fields & OUT_STATE) && strcmp(w->out.state, l) == 0;
				w->out.fields |= OUT_STATE;
				str_set(&w->out.state, l);
			} else if (f == F_ARCHIVED) {
				same = (w->out.fields & OUT_ARCHIVED) && w->out.archived == (l[0] == '1');
				w->out.fields |= OUT_ARCHIVED;
				w->out.archived = l[0] == '1';
			} else {
				same = (w->out.fields & OUT_DELEGATE) && strcmp(w->out.delegate, l) == 0;
				w->out.fields |= OUT_DELEGATE;
				str_set(&w->out.delegate, l);
				w->out.delegate_id = *l ? run_user_id(r, l) : 0;
			}
			if (!same) {
				w->out.attempts = 0;
				w->out.next_try = held ? HELD_FOREVER : 0;
				w->out.queued_at = now_unix();
				str_set(&w->out.last_error, held ? "held: conflict" : "");
			}
			w->out_dirty = 1;
			if (held)
				w->tags = 1;
		}
	}
	/* A held conflict is released when the user removes pw/conflict. */
	if ((w->rec.flags & PATCH_F_CONFLICT) && w->scanned && !w->l_conflict_tag &&
	    !(w->remote_applied)) {
		w->rec.flags &= ~PATCH_F_CONFLICT;
		str_set(&w->rec.note, "");
		if (w->has_out && w->out.next_try == HELD_FOREVER) {
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

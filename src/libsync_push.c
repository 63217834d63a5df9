/* libsync_push.c - step 5 of a run: local changes sent to the server, their answers applied */
#include "libsync_p.h"
#include "liburl.h"

#include <stdlib.h>
#include <string.h>

#include "libutil.h"

static int64_t
backoff(uint32_t attempts, long retry_after)
{
	int64_t d = 60;
	uint32_t i;

	for (i = 1; i < attempts && d < 6 * 3600; i++)
		d *= 2;
	if (d > 6 * 3600)
		d = 6 * 3600;
	if (retry_after > d)
		d = retry_after;
	return now_unix() + d;
}

static void
revert(struct run *r, struct work *w, const char *why, int denied)
{
	/* Refused: nothing of it landed. */
	w->out.sent_fields &= ~w->out.fields;
	w->out.fields = 0;
	w->out_dirty = 1;
	w->tags = 1;
	w->dirty = 1;
	if (denied)
		w->rec.flags |= PATCH_F_DENIED;
	free(w->rec.note);
	w->rec.note = xstrdup(why);
	run_report(r, "denied: patch %u %s %s: %s; tags reverted to '%s'", w->rec.patch_id, w->project,
	       w->rec.msgid, why, w->rec.state);
}

static int
run_poll_failed(const struct run *r, uint32_t project_id)
{
	long i = run_project_index(r, project_id);

	return i >= 0 && r->poll_failed[i];
}

/* Store the agreed values of the fields found landed, leaving the rest of the record as stored. */
static pwnm_status_t
record_landed(pwnm_txn_t *txn, const struct work *w)
{
	struct patch_rec stored;
	pwnm_status_t rc = state_patch_get(txn, w->rec.project_id, w->rec.patch_id, &stored);
	size_t i;

	if (rc)
		return rc == PWNM_STATUS_NOT_FOUND ? PWNM_STATUS_SUCCESS : rc;
	for (i = 0; i < FIELD_COUNT; i++)
		if (w->landed & FIELD_BIT(i))
			field_set_agreed(&field_table[i], &stored, field_agreed(&field_table[i], &w->rec));
	rc = state_patch_put(txn, &stored);
	patch_rec_free(&stored);
	return rc;
}

/* The API token, read only when something is to be pushed. */
static const char *
get_token(struct run *r)
{
	char *err = NULL;

	if (r->token || r->token_tried)
		return r->token;
	r->token_tried = 1;
	if (config_token(r->cfg, &r->token_owned, &err) ||
	    (r->token_owned && (err = url_token_refusal(r->cfg->url, r->cfg->allow_insecure)))) {
		run_error(r, PWNM_STATUS_CONFIG, "%s", err);
		free(err);
		return NULL;
	}
	r->token = r->token_owned;
	return r->token;
}

/* Select: every pending change that may go now (the others are counted as queued or left held). */
static size_t
push_select(struct run *r, struct work ***out)
{
	struct work **list = NULL;
	size_t n = 0, cap = 0, i;
	int64_t now = now_unix();

	for (i = 0; i < r->wcap; i++) {
		struct work *w;

		for (w = r->wtab[i]; w; w = w->hnext) {
			if (!w->has_out || !w->out.fields || w->deleted || !work_tracked(r, w))
				continue;
			if (run_poll_failed(r, w->rec.project_id)) {
				/* Without the server's news a push could overwrite a change unseen. */
				r->res->queued++;
				continue;
			}
			/*
			 * Backoff paces the automatic runs while the server is away;
			 * a run by hand, or one that has just heard from the server,
			 * tries now.
			 */
			if (w->out.next_try == OUTBOX_HELD ||
			    (r->o->hook && w->out.next_try > now && !(r->res->polled && !r->first_error)))
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				list = xreallocarray(list, cap, sizeof(*list));
			}
			list[n++] = w;
		}
	}
	*out = list;
	return n;
}

/* --dry-run: each change that would be sent, counted as pushed for the summary. */
static void
push_dry_run(struct run *r, struct work **list, size_t n)
{
	size_t i, k;

	r->res->pushed += (unsigned)n;
	for (i = 0; i < n; i++) {
		struct work *w = list[i];

		for (k = 0; k < FIELD_COUNT; k++) {
			const struct field *f = &field_table[k];

			if (!(w->out.fields & FIELD_BIT(k)))
				continue;
			run_report(r, "patch %u %s %s: notmuch %s%s%s -> %s", w->rec.patch_id, w->project,
				   w->rec.msgid, f->label, *f->label ? " " : "",
				   field_show(f, field_agreed(f, &w->rec)),
				   field_show(f, field_wanted(f, &w->out)));
		}
	}
}

/*
 * Gate: may these n changes be sent by this run (asked to push, a token,
 * under pwnm.push_limit, a client)?  When not, they are counted as
 * queued (or held) and the reason is said once.
 */
static int
push_gate(struct run *r, struct work **list, size_t n)
{
	size_t i;

	if (!r->o->push) {
		r->res->queued += (unsigned)n;
		return 0;
	}
	run_note_known(r, NOTE_TOKEN);
	run_note_known(r, NOTE_PUSH_LIMIT);
	if (!get_token(r)) {
		r->res->queued += (unsigned)n;
		if (r->token_tried && r->first_error && r->worst == PWNM_STATUS_CONFIG)
			return 0;
		run_note(r, NOTE_TOKEN, "pwnm: %zu local change%s wait%s to be pushed: no API token (set "
			      "$PWNM_TOKEN, pwnm.token_command, or a token file '%s' with mode 0600)",
			   n, n == 1 ? "" : "s", n == 1 ? "s" : "", r->cfg->token_file);
		return 0;
	}
	if (r->cfg->push_limit > 0 && (int64_t)n > r->cfg->push_limit && !r->o->force) {
		run_note(r, NOTE_PUSH_LIMIT, "pwnm: %zu changes to push, more than pwnm.push_limit (%lld): nothing "
			      "pushed. Check them with 'pwnm push --dry-run', then run 'pwnm push "
			      "--force', or revert the tags",
			   n, (long long)r->cfg->push_limit);
		/*
		 * Nothing of these changes is recorded and their mails are left
		 * as the user has them; the notmuch revision is not advanced, so
		 * the next run sees them again: pushed with --force, or gone
		 * when the tags are reverted.
		 */
		for (i = 0; i < n; i++)
			list[i]->held = 1;
		r->held_limit = 1;
		r->res->queued += (unsigned)n;
		return 0;
	}
	if (remote_client_ready(r)) {
		r->res->queued += (unsigned)n;
		return 0;
	}
	/* The client was set up before the token was known. */
	http_set_token(r->http, r->token);
	return 1;
}

/*
 * The PATCH for one change.  A delegate pwnm has never seen on the
 * server has no user id to send: the change is refused here (reverted,
 * counted as denied) and 0 returned.
 */
static int
push_request(struct run *r, struct work *w, struct pw_update *u)
{
	size_t k;

	memset(u, 0, sizeof(*u));
	u->patch_id = w->rec.patch_id;
	field_update_init(u);
	for (k = 0; k < FIELD_COUNT; k++) {
		const struct field *f = &field_table[k];
		struct field_value v;

		if (!(w->out.fields & FIELD_BIT(k)))
			continue;
		v = field_wanted(f, &w->out);
		if (f->type == FIELD_USER && *v.s && !v.id) {
			v.id = run_user_id(r, v.s);
			if (v.id)
				field_set_wanted(f, &w->out, v);
		}
		if (f->type == FIELD_USER && *v.s && !v.id) {
			char *why = xasprintf("no Patchwork user '%s' is known to pwnm (a user becomes "
					      "known once a patch is delegated to them)",
					      v.s);

			revert(r, w, why, 0);
			free(why);
			r->res->denied++;
			return 0;
		}
	}
	for (k = 0; k < FIELD_COUNT; k++)
		if (w->out.fields & FIELD_BIT(k))
			field_put_update(&field_table[k], u, field_wanted(&field_table[k], &w->out));
	return 1;
}

/*
 * Record the intent before sending: when the reply is lost (or the
 * process killed), the next run knows the value may have landed and does
 * not take it for a change made on Patchwork.  With it goes the
 * project's event cursor as this run read it (when it read the news):
 * the events after it are those after the send, which tell the next run
 * whether the PATCH landed when the server shows another value.  The
 * records are written from copies and the run's own are marked only once
 * committed: when the intent cannot be recorded, nothing is sent and the
 * changes stay queued as they were.
 */
static void
mark_sent(const struct run *r, struct outbox_rec *o)
{
	long p = run_project_index(r, o->project_id);
	size_t k;

	o->attempts++;
	o->sent_fields |= o->fields;
	for (k = 0; k < FIELD_COUNT; k++)
		if (o->fields & FIELD_BIT(k))
			field_set_sent(&field_table[k], o, field_wanted(&field_table[k], o));
	o->sent_events = p >= 0 && r->polled_ok[p];
	o->sent_event_id = o->sent_events ? r->projects[p].event_last_id : 0;
	str_set(&o->sent_event_date, o->sent_events ? r->projects[p].event_cursor : "");
}

static pwnm_status_t
push_record_intent(struct run *r, struct work **sw, size_t ns)
{
	struct outbox_rec *next = xcalloc(ns, sizeof(*next));
	pwnm_txn_t *txn = NULL;
	pwnm_status_t rc;
	size_t i;

	for (i = 0; i < ns; i++) {
		outbox_rec_copy(&next[i], &sw[i]->out);
		mark_sent(r, &next[i]);
	}
	rc = state_txn_begin(r->st, 1, &txn);
	for (i = 0; i < ns && !rc; i++) {
		rc = state_outbox_put(txn, &next[i]);
		/*
		 * An earlier push found landed is the server's value: recorded
		 * as agreed now, with the outbox that no longer remembers it as
		 * sent.
		 */
		if (!rc && sw[i]->landed)
			rc = record_landed(txn, sw[i]);
	}
	if (rc && txn)
		state_txn_abort(txn);
	else if (!rc)
		rc = state_txn_commit(txn);
	/* The wanted values stay where the requests point to. */
	for (i = 0; i < ns; i++) {
		if (!rc)
			mark_sent(r, &sw[i]->out);
		outbox_rec_free(&next[i]);
	}
	free(next);
	if (rc) {
		run_error(r, rc, "cannot record the changes to push in the state database (%s): nothing "
			      "sent, %zu change%s kept for the next run",
			  state_last_error(r->st), ns, ns == 1 ? "" : "s");
		r->res->queued += (unsigned)ns;
	}
	return rc;
}

/* Send: one first, alone, so a refused token costs one request, not one per waiting change. */
static void
push_send(struct run *r, struct pw_update *send, size_t ns)
{
	size_t i;

	if (ns > 1) {
		pw_update_patches(r->client, send, 1);
		if (send[0].status == PWNM_STATUS_AUTH) {
			for (i = 1; i < ns; i++) {
				send[i].status = PWNM_STATUS_AUTH;
				send[i].error = xstrdup(send[0].error ? send[0].error : "token refused");
			}
		} else {
			pw_update_patches(r->client, send + 1, ns - 1);
		}
	} else if (ns) {
		pw_update_patches(r->client, send, ns);
	}
}

/*
 * The server has no such state (its 400 answer listed the states, and
 * the one sent is not among them): said in one short line with the
 * nearest state, not counted as denied.  The state change is dropped
 * (the mail shows the agreed state again, and the tag step leaves the
 * misspelt tag for the user to fix); the other fields of the change go
 * again.  Returns 1 when something is left to send.
 */
static int
push_no_such_state(struct run *r, struct work *w)
{
	long i = run_project_index(r, w->rec.project_id);
	char *tag = merge_state_tag(w->project, w->out.state);
	char *hint = sync_state_hint(&r->projects[i], w->out.state);

	run_report_tag(r, tag ? tag : w->out.state, w->nmid ? w->nmid : w->rec.msgid, hint);
	free(tag);
	free(w->rec.note);
	w->rec.note = hint;
	w->out.fields &= ~OUT_STATE;
	w->out.sent_fields &= ~OUT_STATE;
	str_set(&w->out.state, "");
	str_set(&w->out.sent_state, "");
	w->out_dirty = 1;
	w->dirty = 1;
	w->tags = 1;
	return w->out.fields != 0;
}

/* Apply the server's answer to one change; 1 when part of it is to be sent again now. */
static int
push_apply(struct run *r, struct work *w, struct pw_update *x, int *auth_failed)
{
	size_t k;

	switch (x->status) {
	case PWNM_STATUS_SUCCESS:
		for (k = 0; k < FIELD_COUNT; k++) {
			const struct field *f = &field_table[k];

			if (!(w->out.fields & FIELD_BIT(k)))
				continue;
			field_set_agreed(f, &w->rec, field_remote(f, &x->result));
			if (k == FIELD_STATE)
				run_state_seen(r, w->rec.project_id, w->rec.state);
			run_describe(r, w, "pushed", f, field_copy_value(&w->orig[k]),
				     field_agreed(f, &w->rec));
		}
		w->out.sent_fields &= ~w->out.fields;
		w->out.fields = 0;
		w->out_dirty = 1;
		w->rec.flags &= ~(PATCH_F_DENIED | PATCH_F_CONFLICT);
		str_set(&w->rec.note, "");
		w->dirty = 1;
		w->tags = 1;
		r->res->pushed++;
		break;
	case PWNM_STATUS_AUTH:
		if (!*auth_failed)
			run_error(r, PWNM_STATUS_AUTH,
				  "%s; local changes are kept and pushed once a valid token is set",
				  x->error ? x->error : "the server refused the API token");
		*auth_failed = 1;
		str_set(&w->out.last_error, x->error ? x->error : "token refused");
		w->out_dirty = 1;
		r->res->queued++;
		break;
	case PWNM_STATUS_FORBIDDEN:
		revert(r, w, x->error ? x->error : "permission denied", 1);
		r->res->denied++;
		break;
	case PWNM_STATUS_INVALID_VALUE:
		if (x->valid_states) {
			run_states_listed(r, w->rec.project_id, x->valid_states);
			if ((w->out.fields & OUT_STATE) && run_state_typo(r, w->rec.project_id, w->out.state))
				return push_no_such_state(r, w);
		}
		{
			char *why = xasprintf("%s%s%s", x->error ? x->error : "value refused",
					      x->valid_states ? "; valid states: " : "",
					      x->valid_states ? x->valid_states : "");

			revert(r, w, why, 0);
			free(why);
		}
		r->res->denied++;
		break;
	case PWNM_STATUS_NOT_FOUND:
		run_report(r, "gone: patch %u %s %s is no longer on the server; its tags are removed",
			   w->rec.patch_id, w->project, w->rec.msgid);
		w->deleted = 1;
		w->tags = 1;
		break;
	default:
		/* Temporary (or a server that ignored the body): retry later. */
		w->out.next_try = backoff(w->out.attempts, x->retry_after);
		str_set(&w->out.last_error, x->error ? x->error : pwnm_status_to_string(x->status));
		w->out_dirty = 1;
		r->res->queued++;
		if (!r->first_error || !pwnm_status_is_temporary(r->worst))
			run_error(r, x->status, "%s; kept for the next run",
				  x->error ? x->error : pwnm_status_to_string(x->status));
		break;
	}
	return 0;
}

static pwnm_status_t
push_changes(struct run *r)
{
	struct work **list = NULL, **sw = NULL;
	struct pw_update *send = NULL;
	size_t n, ns = 0, i;
	int auth_failed = 0, round;
	pwnm_status_t rc = PWNM_STATUS_SUCCESS;

	n = push_select(r, &list);
	if (n == 0) {
		/* Nothing waits: no note on why it waits. */
		if (r->o->push) {
			run_note_known(r, NOTE_TOKEN);
			run_note_known(r, NOTE_PUSH_LIMIT);
		}
		goto out;
	}
	if (r->o->dry_run) {
		push_dry_run(r, list, n);
		goto out;
	}
	if (!push_gate(r, list, n))
		goto out;
	/* Only the changes left with something to send. */
	send = xcalloc(n, sizeof(*send));
	sw = xcalloc(n, sizeof(*sw));
	for (i = 0; i < n; i++) {
		if (push_request(r, list[i], &send[ns]) && list[i]->out.fields)
			sw[ns++] = list[i];
	}
	/*
	 * A second round only for the changes whose state the server does
	 * not have: their other fields go without it.
	 */
	for (round = 0; round < 2 && ns; round++) {
		size_t again = 0;

		rc = push_record_intent(r, sw, ns);
		if (rc)
			goto out;
		if (round == 0)
			run_crash_point(r, "after-outbox-write");
		push_send(r, send, ns);
		if (round == 0)
			run_crash_point(r, "after-push");
		for (i = 0; i < ns; i++) {
			if (push_apply(r, sw[i], &send[i], &auth_failed))
				sw[again++] = sw[i];
			pw_update_clear(&send[i]);
		}
		ns = 0;
		for (i = 0; i < again; i++)
			if (push_request(r, sw[i], &send[ns]) && sw[i]->out.fields)
				sw[ns++] = sw[i];
	}
out:
	free(send);
	free(sw);
	free(list);
	return rc;
}

/* Changes held until the user acts are waiting too. */
static void
count_held(struct run *r)
{
	size_t i;

	for (i = 0; i < r->wcap; i++) {
		struct work *w;

		for (w = r->wtab[i]; w; w = w->hnext)
			if (w->has_out && w->out.fields && !w->deleted && w->out.next_try == OUTBOX_HELD)
				r->res->queued++;
	}
}

/*
 * The push's first gate, checked before any request of the run: a token
 * would go in clear to another host.  Said as the run's first error, and
 * no token is read this run (the changes wait).
 */
void
push_refuse_insecure(struct run *r)
{
	char *refusal;

	if (!r->o->push || r->o->dry_run || !config_has_token(r->cfg))
		return;
	refusal = url_token_refusal(r->cfg->url, r->cfg->allow_insecure);
	if (!refusal)
		return;
	run_error(r, PWNM_STATUS_CONFIG, "%s", refusal);
	free(refusal);
	r->token_tried = 1;
}

/*
 * Step 5: select the changes that may go now, gate them (asked to push,
 * token, pwnm.push_limit), build the requests, record the intent, send,
 * apply the answers.  A change that fails stays in the outbox with its
 * reason; the run goes on either way.
 */
pwnm_status_t
sync_push(struct run *r)
{
	int64_t t = now_ms();
	pwnm_status_t rc = push_changes(r);

	count_held(r);
	debug("sync", "phase push %lld ms (%u pushed)", (long long)(now_ms() - t), r->res->pushed);
	return rc;
}

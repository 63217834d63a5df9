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

	if (rc)
		return rc == PWNM_STATUS_NOT_FOUND ? PWNM_STATUS_SUCCESS : rc;
	if (w->landed & F_STATE)
		str_set(&stored.state, w->rec.state);
	if (w->landed & F_ARCHIVED)
		stored.archived = w->rec.archived;
	if (w->landed & F_DELEGATE) {
		str_set(&stored.delegate, w->rec.delegate);
		stored.delegate_id = w->rec.delegate_id;
	}
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

void
sync_push(struct run *r)
{
	struct work **list = NULL;
	struct pw_update *u = NULL;
	size_t n = 0, cap = 0, i;
	int64_t now = now_unix();
	pwnm_status_t rc;
	int auth_failed = 0;

	for (i = 0; i < r->wcap; i++) {
		struct work *w;

		for (w = r->wtab[i]; w; w = w->hnext) {
			if (!w->has_out || !w->out.fields || w->deleted)
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
			if (w->out.next_try == HELD_FOREVER ||
			    (r->o->hook && w->out.next_try > now && !(r->res->polled && !r->first_error)))
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				list = xreallocarray(list, cap, sizeof(*list));
			}
			list[n++] = w;
		}
	}
	if (n == 0)
		goto out;
	if (r->o->dry_run) {
		for (i = 0; i < n; i++) {
			struct work *w = list[i];

			if (w->out.fields & OUT_STATE)
				run_report(r, "patch %u %s %s: notmuch %s -> %s", w->rec.patch_id, w->project,
				       w->rec.msgid, w->rec.state, w->out.state);
			if (w->out.fields & OUT_ARCHIVED)
				run_report(r, "patch %u %s %s: notmuch %s -> %s", w->rec.patch_id, w->project,
				       w->rec.msgid, flag_str(w->rec.archived), flag_str(w->out.archived));
			if (w->out.fields & OUT_DELEGATE)
				run_report(r, "patch %u %s %s: notmuch delegate %s -> %s", w->rec.patch_id,
				       w->project, w->rec.msgid, *w->rec.delegate ? w->rec.delegate : "(none)",
				       *w->out.delegate ? w->out.delegate : "(none)");
		}
		goto out;
	}
	if (!r->o->push) {
		r->res->queued += (unsigned)n;
		goto out;
	}
	if (!get_token(r)) {
		if (r->token_tried && r->first_error && r->worst == PWNM_STATUS_CONFIG) {
			r->res->queued += (unsigned)n;
			goto out;
		}
		run_report(r, "pwnm: %zu local change%s wait%s to be pushed: no API token (set $PWNM_TOKEN, "
			  "pwnm.token_command, or a token file '%s' with mode 0600)",
		       n, n == 1 ? "" : "s", n == 1 ? "s" : "", r->cfg->token_file);
		r->res->queued += (unsigned)n;
		goto out;
	}
	if (r->cfg->push_limit > 0 && (int64_t)n > r->cfg->push_limit && !r->o->force) {
		run_report(r, "pwnm: %zu changes to push, more than pwnm.push_limit (%lld): nothing pushed. "
			  "Check them with 'pwnm push --dry-run', then run 'pwnm push --force', or revert "
			  "the tags",
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
		goto out;
	}
	if (remote_client_ready(r)) {
		r->res->queued += (unsigned)n;
		goto out;
	}
	/* The client was set up before the token was known. */
	http_set_token(r->http, r->token);
	u = xcalloc(n, sizeof(*u));
	for (i = 0; i < n; i++) {
		struct work *w = list[i];

		u[i].patch_id = w->rec.patch_id;
		u[i].state = (w->out.fields & OUT_STATE) ? w->out.state : NULL;
		u[i].archived = (w->out.fields & OUT_ARCHIVED) ? w->out.archived : -1;
		u[i].delegate_id = -1;
		if (w->out.fields & OUT_DELEGATE) {
			if (*w->out.delegate && !w->out.delegate_id)
				w->out.delegate_id = run_user_id(r, w->out.delegate);
			if (*w->out.delegate && !w->out.delegate_id) {
				/* Unknown user: cannot be sent. */
				u[i].delegate_id = -2;
			} else {
				u[i].delegate_id = (long)w->out.delegate_id;
			}
		}
	}
	/* Unknown delegates are reverted before sending anything. */
	for (i = 0; i < n; i++) {
		if (u[i].delegate_id == -2) {
			char *why = xasprintf("no Patchwork user '%s' is known to pwnm (a user becomes "
					      "known once a patch is delegated to them)",
					      list[i]->out.delegate);

			revert(r, list[i], why, 0);
			free(why);
			u[i].delegate_id = -1;
			u[i].state = NULL;
			u[i].archived = -1;
			r->res->denied++;
		}
	}
	{
		/* Send only the ones left with something to change. */
		struct pw_update *send = xcalloc(n, sizeof(*send));
		struct work **sw = xcalloc(n, sizeof(*sw));
		size_t ns = 0;

		for (i = 0; i < n; i++) {
			if (!list[i]->out.fields)
				continue;
			send[ns] = u[i];
			sw[ns++] = list[i];
		}
		/*
		 * Record the attempt before sending: when the reply is lost (or
		 * the process killed), the next run knows the value may have
		 * landed and does not take it for a change made on Patchwork.
		 */
		if (ns) {
			pwnm_txn_t *otxn;

			for (i = 0; i < ns; i++) {
				struct outbox_rec *o = &sw[i]->out;

				o->attempts++;
				o->sent_fields |= o->fields;
				if (o->fields & OUT_STATE)
					str_set(&o->sent_state, o->state);
				if (o->fields & OUT_ARCHIVED)
					o->sent_archived = o->archived;
				if (o->fields & OUT_DELEGATE)
					str_set(&o->sent_delegate, o->delegate);
			}
			if (state_txn_begin(r->st, 1, &otxn) == PWNM_STATUS_SUCCESS) {
				pwnm_status_t orc = PWNM_STATUS_SUCCESS;

				for (i = 0; i < ns && !orc; i++) {
					orc = state_outbox_put(otxn, &sw[i]->out);
					/*
					 * An earlier push found landed is the server's value:
					 * recorded as agreed now, with the outbox that no
					 * longer remembers it as sent.
					 */
					if (!orc && sw[i]->landed)
						orc = record_landed(otxn, sw[i]);
				}
				if (orc)
					state_txn_abort(otxn);
				else
					state_txn_commit(otxn);
			}
			run_crash_point(r, "after-outbox-write");
		}
		/*
		 * One first, alone: a refused token then costs one request, not
		 * one per waiting change.
		 */
		if (ns > 1) {
			rc = pw_update_patches(r->client, send, 1);
			if (send[0].status == PWNM_STATUS_AUTH) {
				for (i = 1; i < ns; i++) {
					send[i].status = PWNM_STATUS_AUTH;
					send[i].error = xstrdup(send[0].error ? send[0].error : "token refused");
				}
			} else {
				rc = pw_update_patches(r->client, send + 1, ns - 1);
			}
		} else {
			rc = ns ? pw_update_patches(r->client, send, ns) : PWNM_STATUS_SUCCESS;
		}
		(void)rc;
		if (ns)
			run_crash_point(r, "after-push");
		for (i = 0; i < ns; i++) {
			struct work *w = sw[i];
			struct pw_update *x = &send[i];

			switch (x->status) {
			case PWNM_STATUS_SUCCESS:
				if (w->out.fields & OUT_STATE)
					str_set(&w->rec.state, x->result.state);
				if (w->out.fields & OUT_ARCHIVED)
					w->rec.archived = x->result.archived;
				if (w->out.fields & OUT_DELEGATE) {
					str_set(&w->rec.delegate, x->result.delegate);
					w->rec.delegate_id = x->result.delegate_id;
				}
				if (w->out.fields & OUT_STATE)
					run_describe(r, w, "pushed", "", w->orig_state ? w->orig_state : "",
						 w->rec.state);
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
				if (!auth_failed)
					run_error(r, PWNM_STATUS_AUTH,
						  "%s; local changes are kept and pushed once a valid token is "
						  "set",
						  x->error ? x->error : "the server refused the API token");
				auth_failed = 1;
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
					char *s = xstrdup(x->valid_states), *p, *save = NULL;

					for (p = strtok_r(s, ";", &save); p; p = strtok_r(NULL, ";", &save))
						run_state_seen(r, w->rec.project_id, p);
					free(s);
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
			pw_update_clear(x);
		}
		free(send);
		free(sw);
	}
out:
	free(u);
	free(list);
}

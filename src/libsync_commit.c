/* libsync_commit.c - step 7 of a run: agreed values, outbox, cursors and revision in one state transaction */
#include "libsync_p.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>

#include "libutil.h"

/*
 * A reason to ask the server (new mail from a tracked list, checks whose
 * listing failed, now or kept from before) stays in the store until a run
 * has read the news of every project; a run that tried and failed makes
 * the next hook wait a little longer (libwork.h).
 */
static pwnm_status_t
commit_reason(struct run *r, pwnm_txn_t *txn)
{
	int all_ok = r->o->pull && !r->o->project && !r->checks_failed, failed = r->checks_failed;
	size_t i;

	if (!r->new_mail && !r->reason.since && !r->checks_failed)
		return PWNM_STATUS_SUCCESS;
	for (i = 0; i < r->nprojects; i++) {
		if (!r->poll[i])
			continue;
		if (!r->polled_ok[i])
			all_ok = 0;
		if (r->poll_failed[i])
			failed = 1;
	}
	if (all_ok)
		return reason_clear(txn);
	if (failed)
		return reason_keep(txn, &r->reason, 1, now_unix());
	if (!r->reason.since)
		return reason_keep(txn, NULL, 0, now_unix());
	return PWNM_STATUS_SUCCESS; /* kept as it was: its backoff is not over */
}

/* A state transaction that could not be written, said. */
static pwnm_status_t
commit_failed(struct run *r, pwnm_status_t rc)
{
	if (rc == PWNM_STATUS_STATE_FULL)
		run_error(r, rc, "the state database is full (%s); free disk space, or raise "
			  "PWNM_STATE_MAPSIZE, and run 'pwnm sync' again", state_last_error(r->st));
	else
		run_error(r, rc, "cannot write the state database: %s", state_last_error(r->st));
	return rc;
}

static pwnm_status_t
commit(struct run *r, const char *result)
{
	pwnm_txn_t *txn;
	pwnm_status_t rc;
	size_t i;

	if ((rc = state_txn_begin(r->st, 1, &txn)))
		goto fail;
	for (i = 0; i < r->wcap && !rc; i++) {
		struct work *w;

		for (w = r->wtab[i]; w && !rc; w = w->hnext) {
			if (w->deleted) {
				rc = state_patch_del(txn, w->rec.project_id, w->rec.patch_id);
				continue;
			}
			if (!w->in_store && !*w->rec.state && !(w->r_set & FIELD_BIT(FIELD_STATE)))
				continue; /* nothing known of it yet */
			if (!w->in_store && w->abandoned)
				continue; /* its mail was not written: it comes again as new */
			if (w->held) {
				if (w->dirty)
					rc = state_patch_put(txn, &w->rec);
				continue;
			}
			if (w->dirty || !w->in_store)
				rc = state_patch_put(txn, &w->rec);
			if (!rc && w->has_out && w->out_dirty) {
				if (w->out.fields || w->out.sent_fields)
					rc = state_outbox_put(txn, &w->out);
				else
					rc = state_outbox_del(txn, w->rec.project_id, w->rec.patch_id);
			}
		}
	}
	if (!rc)
		rc = series_commit(r, txn);
	for (i = 0; i < r->nprojects && !rc; i++)
		if (r->proj_dirty[i])
			rc = state_project_put(txn, &r->projects[i]);
	for (i = 0; i < r->nseen && !rc; i++) {
		/* with the cursor they go with */
		long k = run_project_index(r, r->seen[i].project_id);
		char *key;

		if (k < 0 || !r->proj_dirty[k])
			continue;
		key = xasprintf("%s%u", META_EVENTS_SEEN, r->seen[i].project_id);
		rc = r->seen[i].ids ? state_meta_put(txn, key, r->seen[i].ids) : state_meta_del(txn, key);
		free(key);
	}
	if (!rc) {
		/* Every patch flagged for a recheck is in the run (loaded at its start). */
		struct buf b = { 0 };

		for (i = 0; i < r->wcap; i++) {
			struct work *w;

			for (w = r->wtab[i]; w; w = w->hnext)
				if (!w->deleted && (w->rec.flags & PATCH_F_RECHECK))
					buf_printf(&b, "%s%u:%u", b.len ? ";" : "", w->rec.project_id,
						   w->rec.patch_id);
		}
		rc = b.len ? state_meta_put(txn, META_RECHECK, b.data) : state_meta_del(txn, META_RECHECK);
		buf_free(&b);
	}
	if (!rc && r->strays_swept && !r->strays_swept_before)
		rc = state_meta_put(txn, META_STRAYS_SWEPT, "1");
	if (!rc)
		rc = commit_reason(r, txn);
	if (!rc)
		rc = run_users_commit(r, txn);
	if (!rc)
		rc = run_notes_commit(r, txn);
	/* the client's version: it discovers again when the stored one went away */
	if (!rc && (r->client || r->api_version))
		rc = state_meta_put(txn, META_API_VERSION,
				    r->client ? pw_client_version(r->client) : r->api_version);
	if (!rc && r->lists_dirty)
		rc = state_meta_put(txn, META_LISTS, r->lists);
	if (!rc && r->write_rev && !r->held_limit) {
		rc = state_meta_put(txn, META_UUID, r->uuid);
		if (!rc)
			rc = state_meta_put_i64(txn, META_REVISION, (int64_t)r->store_rev);
	}
	if (!rc)
		rc = state_meta_put(txn, META_URL, r->cfg->url ? r->cfg->url : "");
	if (!rc)
		rc = state_meta_put_i64(txn, META_LAST_SYNC_TIME, now_unix());
	if (!rc)
		rc = state_meta_put(txn, META_LAST_SYNC_RESULT, result);
	if (rc) {
		state_txn_abort(txn);
		goto fail;
	}
	run_crash_point(r, "before-state-commit");
	rc = state_txn_commit(txn);
	if (!rc) {
		run_crash_point(r, "after-state-commit");
		return PWNM_STATUS_SUCCESS;
	}
fail:
	return commit_failed(r, rc);
}

/* Step 7: everything the run learnt, in one state transaction, with the run's result for `pwnm status`. */
pwnm_status_t
sync_commit(struct run *r)
{
	const struct sync_result *res = r->res;
	int64_t t = now_ms();
	char *result = r->first_error ? xasprintf("error: %s", r->first_error)
				      : xasprintf("ok: %u pulled, %u new, %u pushed, %u queued, "
						  "%u denied, %u conflict%s",
						  res->pulled, res->new_patches, res->pushed,
						  res->queued, res->denied, res->conflicts,
						  res->conflicts == 1 ? "" : "s");
	pwnm_status_t rc = commit(r, result);

	free(result);
	debug("sync", "phase commit %lld ms", (long long)(now_ms() - t));
	return rc;
}

/*
 * The agreed values of one window of a full list whose tags were just
 * written (libsync_pipe.c), in a state transaction of their own: a run
 * killed later keeps them.  A project of its patches new to the store
 * (a window may hold patches of several) is stored with its name only
 * (so the patches name it); its cursors, the revision,
 * series and users wait for sync_commit, so the next run lists again.
 * A failure is not said here: the items stay in the run, and
 * sync_commit writes them again (and says why it could not).
 */
pwnm_status_t
sync_commit_window(struct run *r, struct work **ws, size_t n)
{
	pwnm_txn_t *txn;
	pwnm_status_t rc;
	uint32_t last = 0;
	size_t i;

	if ((rc = state_txn_begin(r->st, 1, &txn)))
		return rc;
	/* the projects of its patches (a window may hold several), each in the store */
	for (i = 0; i < n && !rc; i++) {
		long k = run_project_index(r, ws[i]->rec.project_id);
		struct project_rec stored;

		if (k < 0 || ws[i]->rec.project_id == last)
			continue;
		last = ws[i]->rec.project_id;
		rc = state_project_get(txn, last, &stored);
		if (rc == PWNM_STATUS_SUCCESS) {
			project_rec_free(&stored);
		} else if (rc == PWNM_STATUS_NOT_FOUND) {
			/* A project new to the store: its name, and nothing of a sync done yet. */
			const struct project_rec *p = &r->projects[k];
			struct project_rec blank = { 0 };

			blank.id = p->id;
			blank.link_name = p->link_name;
			blank.web_url = p->web_url;
			blank.event_cursor = blank.states_seen = (char *)(uintptr_t)"";
			rc = state_project_put(txn, &blank);
		}
	}
	for (i = 0; i < n && !rc; i++) {
		struct work *w = ws[i];

		if (!w->in_store && !*w->rec.state && !(w->r_set & FIELD_BIT(FIELD_STATE)))
			continue; /* nothing known of it yet */
		if (w->dirty || !w->in_store)
			rc = state_patch_put(txn, &w->rec);
	}
	if (rc)
		state_txn_abort(txn);
	else
		rc = state_txn_commit(txn);
	if (!rc)
		run_crash_point(r, "list-batch");
#ifdef __GLIBC__
	/* the free room the window's items and pages left inside the heaps goes back too */
	malloc_trim(0);
#endif
	return rc; /* a failure is said by sync_commit, which tries them again */
}

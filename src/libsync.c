/* libsync.c - one sync run, step by step (pwnm(1), "One run"), and the run lock */
#include "libsync.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "libnm.h"
#include "libsync_p.h"
#include "liburl.h"
#include "libutil.h"

/* ---- lock ---- */

pwnm_status_t
sync_lock(const char *state_dir, int wait, int *fd, char **err)
{
	char *path;
	int lfd;

	*fd = -1;
	*err = NULL;
	if (mkdir_p(state_dir, 0700) < 0) {
		*err = xasprintf("cannot create state directory '%s': %s", state_dir, strerror(errno));
		return PWNM_STATUS_STATE;
	}
	path = xasprintf("%s/lock", state_dir);
	lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0) {
		*err = xasprintf("cannot open lock file '%s': %s", path, strerror(errno));
		free(path);
		return PWNM_STATUS_STATE;
	}
	if (flock(lfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK || !wait) {
			*err = xasprintf("another pwnm run holds '%s'; try again later", path);
			free(path);
			close(lfd);
			return PWNM_STATUS_LOCKED;
		}
		warn("waiting for another pwnm run to finish (%s)", path);
		if (flock(lfd, LOCK_EX) < 0) {
			*err = xasprintf("cannot lock '%s': %s", path, strerror(errno));
			free(path);
			close(lfd);
			return PWNM_STATUS_LOCKED;
		}
	}
	free(path);
	*fd = lfd;
	return PWNM_STATUS_SUCCESS;
}

/* ---- the run ---- */

static int
load_outbox_cb(const struct outbox_rec *o, void *data)
{
	void **d = data;
	struct run *r = d[0];
	pwnm_txn_t *txn = d[1];

	work_get(r, txn, o->project_id, o->patch_id);
	return 0;
}

/* Patches to ask the server about one by one are listed in meta "recheck" ("proj:patch;..."). */
static void
load_recheck(struct run *r, pwnm_txn_t *txn)
{
	char *v = NULL, *p, *save = NULL;

	if (state_meta_get(txn, "recheck", &v) != PWNM_STATUS_SUCCESS || !v)
		return;
	for (p = strtok_r(v, ";", &save); p; p = strtok_r(NULL, ";", &save)) {
		unsigned proj, patch;

		if (sscanf(p, "%u:%u", &proj, &patch) == 2)
			work_get(r, txn, proj, patch);
	}
	free(v);
}

static void
run_free(struct run *r)
{
	size_t i;

	for (i = 0; i < r->wcap; i++) {
		struct work *w = r->wtab[i], *next;

		for (; w; w = next) {
			next = w->hnext;
			work_free(w);
		}
	}
	free(r->wtab);
	state_project_list_free(r->projects, r->nprojects);
	free(r->poll);
	free(r->proj_dirty);
	free(r->poll_failed);
	free(r->polled_ok);
	for (i = 0; i < r->nusers; i++)
		free(r->users[i].name);
	free(r->users);
	if (r->client)
		pw_client_free(r->client);
	if (r->http) {
		r->res->requests = (unsigned long)http_requests_sent(r->http);
		http_free(r->http);
	}
	free(r->api_version);
	free(r->lists);
	free(r->uuid);
	if (r->token_owned) {
		memset(r->token_owned, 0, strlen(r->token_owned));
		free(r->token_owned);
	}
	free(r->first_error);
}

pwnm_status_t
sync_run(const struct pwnm_config *cfg, const char *token, pwnm_state_t *st,
	 const struct sync_opts *o, struct sync_result *res, char **err)
{
	struct run run = { 0 }, *r = &run;
	pwnm_txn_t *txn = NULL;
	notmuch_database_t *db = NULL;
	char *stored_uuid = NULL, *msg = NULL, *refusal;
	int64_t stored_rev = 0;
	enum scan_mode mode;
	pwnm_status_t rc;
	const char *uuid = NULL;
	size_t i;
	int pending;
	int64_t t;

	memset(res, 0, sizeof(*res));
	*err = NULL;
	r->cfg = cfg;
	r->o = o;
	r->st = st;
	r->res = res;
	r->out = o->out ? o->out : stdout;
	r->token = token;
	r->topts.archived = cfg->tag_archived;
	r->topts.delegate = cfg->tag_delegate;

	/* What the store knows. */
	if ((rc = state_txn_begin(st, 0, &txn)))
		goto state_fail;
	if ((rc = state_meta_get(txn, "uuid", &stored_uuid)) ||
	    (rc = state_meta_get_i64(txn, "revision", 0, &stored_rev)) ||
	    (rc = state_project_list(txn, &r->projects, &r->nprojects))) {
		state_txn_abort(txn);
		goto state_fail;
	}
	r->poll = xcalloc(r->nprojects + 1, sizeof(int));
	r->proj_dirty = xcalloc(r->nprojects + 1, sizeof(int));
	r->poll_failed = xcalloc(r->nprojects + 1, sizeof(int));
	r->polled_ok = xcalloc(r->nprojects + 1, sizeof(int));
	run_users_load(r, txn);
	state_meta_get(txn, "lists", &r->lists);
	{
		void *d[2] = { r, txn };

		rc = state_outbox_foreach(txn, load_outbox_cb, d);
		if (!rc)
			load_recheck(r, txn);
	}
	state_txn_abort(txn);
	txn = NULL;
	if (rc)
		goto state_fail;
	r->stored_rev = (unsigned long)stored_rev;

	/* Step 2: what changed in notmuch since the last run. */
	if (o->db) {
		db = o->db;
	} else {
		rc = nm_open(o->nm_config, o->nm_profile, 0, 0, &db, &msg);
		if (rc) {
			*err = msg;
			goto done;
		}
	}
	r->rev = notmuch_database_get_revision(db, &uuid);
	r->uuid = xstrdup(uuid);
	if (!stored_uuid || !*stored_uuid) {
		mode = SCAN_ALL;
	} else if (strcmp(stored_uuid, r->uuid) != 0 || r->stored_rev > r->rev) {
		mode = SCAN_ALL;
		r->restore_only = 1;
		run_report(r, "pwnm: the notmuch database is not the one last synced (new UUID or older "
			  "revision): tags are restored from the state database, nothing is pushed");
	} else if (o->full) {
		mode = SCAN_ALL;
	} else if (r->stored_rev == r->rev) {
		mode = SCAN_NONE;
	} else {
		mode = SCAN_RANGE;
	}
	t = now_ms();
	rc = sync_scan(r, db, mode);
	notmuch_database_destroy(db);
	db = NULL;
	debug("sync", "phase scan %lld ms (%s, revision %lu..%lu, %zu patches touched)",
	      (long long)(now_ms() - t), mode == SCAN_NONE ? "none" : mode == SCAN_RANGE ? "range" : "all",
	      r->stored_rev, r->rev, r->wn);
	if (rc)
		goto done;
	t = now_ms();

	/* A token would go in clear to another host: say so before anything else. */
	if (o->push && !o->dry_run && config_has_token(cfg) &&
	    (refusal = url_token_refusal(cfg->url, cfg->allow_insecure))) {
		run_error(r, PWNM_STATUS_CONFIG, "%s", refusal);
		free(refusal);
		r->token_tried = 1; /* no token this run: changes wait */
	}

	/* Step 3: the server. */
	if (o->hook && r->nprojects == 0) {
		/* Never synced: a first sync is too long for a hook. */
		run_report(r, "pwnm: not synced yet; run 'pwnm sync' once");
		goto done;
	}
	rc = remote_resolve_projects(r, o->pull && !o->hook);
	if (rc && !o->push)
		goto done;
	pending = run_has_pending(r);
	if (o->pull) {
		for (i = 0; i < r->nprojects; i++) {
			if (!r->poll[i])
				continue;
			if (o->deadline_ms && now_ms() >= o->deadline_ms) {
				run_error(r, PWNM_STATUS_TIMEOUT,
					  "time budget used up before polling %s; the next run continues",
					  r->projects[i].link_name);
				break;
			}
			remote_poll_project(r, i, r->new_mail || pending, 0);
		}
		remote_recheck(r);
	} else if (o->push && pending && !r->first_error) {
		/*
		 * A push without a poll (pre-new, push --quick) still asks for the
		 * events since the cursor of each project with a change to send,
		 * so a change made on Patchwork meanwhile is a conflict, not
		 * silently overwritten.
		 */
		int *mine = xcalloc(r->nprojects + 1, sizeof(int));

		for (i = 0; i < r->wcap; i++) {
			struct work *w;

			for (w = r->wtab[i]; w; w = w->hnext) {
				long k = run_project_index(r, w->rec.project_id);

				if (k >= 0 && (w->scanned || w->has_out))
					mine[k] = 1;
			}
		}
		for (i = 0; i < r->nprojects; i++)
			if (mine[i] && r->poll[i])
				remote_poll_project(r, i, 1, 1);
		free(mine);
	}

	run_crash_point(r, "after-remote");
	debug("sync", "phase remote %lld ms (%zu patches touched)", (long long)(now_ms() - t), r->wn);
	t = now_ms();

	/* Step 4: merge. */
	for (i = 0; i < r->wcap; i++) {
		struct work *w;

		for (w = r->wtab[i]; w; w = w->hnext) {
			if (o->project && strcmp(w->project, o->project) != 0) {
				/*
				 * Another project's patch: left as it is, and the
				 * revision is kept so a full run still sees it.
				 */
				w->held = 1;
				r->held_limit = 1;
				continue;
			}
			sync_merge_work(r, w);
		}
	}

	debug("sync", "phase merge %lld ms", (long long)(now_ms() - t));
	t = now_ms();

	/* Step 5: push. */
	sync_push(r);
	debug("sync", "phase push %lld ms (%u pushed)", (long long)(now_ms() - t), res->pushed);
	for (i = 0; i < r->wcap; i++) {
		struct work *w;

		for (w = r->wtab[i]; w; w = w->hnext)
			if (w->has_out && w->out.fields && !w->deleted &&
			    w->out.next_try == OUTBOX_HELD)
				res->queued++;
	}
	if (o->dry_run)
		goto done;

	/* Step 6: tags; step 7: the store. */
	t = now_ms();
	sync_tags(r);
	run_crash_point(r, "after-tags");
	debug("sync", "phase tags %lld ms (%u mails written)", (long long)(now_ms() - t),
	      res->messages_written);
	t = now_ms();
	{
		char *result = r->first_error ? xasprintf("error: %s", r->first_error)
					      : xasprintf("ok: %u pulled, %u new, %u pushed, %u queued, "
							  "%u denied, %u conflicts",
							  res->pulled, res->new_patches, res->pushed,
							  res->queued, res->denied, res->conflicts);

		sync_commit(r, result);
		free(result);
	}
	debug("sync", "phase commit %lld ms", (long long)(now_ms() - t));
done:
	if (!*err && r->first_error) {
		*err = xstrdup(r->first_error);
		rc = r->worst;
	} else if (!rc && r->first_error) {
		rc = r->worst;
	}
	free(stored_uuid);
	run_free(r);
	return rc;
state_fail:
	if (o->db)
		notmuch_database_destroy(o->db);
	*err = xasprintf("cannot read the state database: %s", state_last_error(st));
	free(stored_uuid);
	run_free(r);
	return rc;
}

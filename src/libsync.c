/* libsync.c - one sync run, step by step (pwnm(1), "One run"), and the run lock */
#include "libsync.h"

#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
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
	if (private_dir(state_dir, err) < 0)
		return PWNM_STATUS_STATE;
	path = xasprintf("%s/lock", state_dir);
	if (private_file_check(path, err) < 0) {
		free(path);
		return PWNM_STATUS_STATE;
	}
	lfd = open_private(path, O_RDWR | O_CREAT, 0600);
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

/* ---- step 1: what the store knows ---- */

static int
load_outbox_cb(const struct outbox_rec *o, void *data)
{
	void **d = data;
	struct run *r = d[0];
	pwnm_txn_t *txn = d[1];

	work_get(r, txn, o->project_id, o->patch_id);
	return 0;
}

/* The patches listed in META_RECHECK ("project:patch;..."). */
static void
load_recheck(struct run *r, pwnm_txn_t *txn)
{
	char *v = NULL, *p, *save = NULL;

	if (state_meta_get(txn, META_RECHECK, &v) != PWNM_STATUS_SUCCESS || !v)
		return;
	for (p = strtok_r(v, ";", &save); p; p = strtok_r(NULL, ";", &save)) {
		unsigned proj, patch;

		if (sscanf(p, "%u:%u", &proj, &patch) == 2)
			work_get(r, txn, proj, patch);
	}
	free(v);
}

/*
 * Step 1: the last run's UUID and revision, the projects, the users, and
 * a work item for every change waiting in the outbox and every patch to
 * recheck, and the series whose checks are still to be listed.
 */
static pwnm_status_t
run_load(struct run *r)
{
	pwnm_txn_t *txn = NULL;
	int64_t stored_rev = 0;
	pwnm_status_t rc;

	if ((rc = state_txn_begin(r->st, 0, &txn)))
		goto fail;
	if ((rc = state_meta_get(txn, META_UUID, &r->stored_uuid)) ||
	    (rc = state_meta_get_i64(txn, META_REVISION, 0, &stored_rev)) ||
	    (rc = state_project_list(txn, &r->projects, &r->nprojects))) {
		state_txn_abort(txn);
		goto fail;
	}
	r->stored_rev = (unsigned long)stored_rev;
	r->poll = xcalloc(r->nprojects + 1, sizeof(int));
	r->proj_dirty = xcalloc(r->nprojects + 1, sizeof(int));
	r->poll_failed = xcalloc(r->nprojects + 1, sizeof(int));
	r->polled_ok = xcalloc(r->nprojects + 1, sizeof(int));
	rc = run_users_load(r, txn);
	state_meta_get(txn, META_LISTS, &r->lists);
	reason_get(txn, &r->reason);
	{
		char *swept = NULL;

		if (state_meta_get(txn, META_STRAYS_SWEPT, &swept) == PWNM_STATUS_SUCCESS && swept)
			r->strays_swept_before = 1;
		free(swept);
	}
	if (!rc) {
		void *d[2] = { r, txn };

		rc = state_outbox_foreach(txn, load_outbox_cb, d);
		if (!rc) {
			load_recheck(r, txn);
			series_load_checks(r, txn);
		}
		run_users_fix_outbox(r);
	}
	state_txn_abort(txn);
	if (!rc)
		return PWNM_STATUS_SUCCESS;
fail:
	run_error(r, rc, "cannot read the state database: %s", state_last_error(r->st));
	return rc;
}

/* ---- the run ---- */

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
	free(r->tw);
	free(r->counted);
	tagset_free(&r->busy);
	tagset_free(&r->said);
	series_free_all(r);
	state_project_list_free(r->projects, r->nprojects);
	free(r->poll);
	free(r->proj_dirty);
	free(r->poll_failed);
	free(r->polled_ok);
	for (i = 0; i < r->nseen; i++)
		free(r->seen[i].ids);
	free(r->seen);
	for (i = 0; i < r->nmissing; i++)
		free(r->missing[i]);
	free(r->missing);
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
	for (i = 0; i < NOTE_COUNT; i++)
		free(r->note[i]);
	free(r->uuid);
	free(r->stored_uuid);
	if (r->db)
		notmuch_database_destroy(r->db);
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
	pwnm_status_t rc;

	memset(res, 0, sizeof(*res));
	*err = NULL;
#if defined(__GLIBC__) && defined(M_MMAP_THRESHOLD)
	/*
	 * Each body of a list page (a few hundred KiB) in a mapping of its
	 * own, given back when it is freed: glibc would raise its threshold
	 * after the first such free and take the later bodies from the heap,
	 * whose freed room between live blocks stays resident, so a long list
	 * would keep the memory of its largest moment.
	 */
	(void)mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
	r->cfg = cfg;
	r->o = o;
	r->st = st;
	r->res = res;
	r->out = o->out ? o->out : stdout;
	r->token = token;
	r->db = o->db;
	r->topts.archived = cfg->tag_archived;
	r->topts.delegate = cfg->tag_delegate;
	r->topts.check = cfg->tag_checks;

	if ((rc = run_load(r)))            /* 1. what the store knows */
		goto out;
	if ((rc = sync_scan(r)))           /* 2. what changed in notmuch */
		goto out;
	push_refuse_insecure(r);           /*    no token in clear to another host, before any request */
	if (o->hook && r->nprojects == 0) {
		/* Never synced: a first sync is too long for a hook.  Said by the first hook only. */
		pwnm_txn_t *txn;

		run_note(r, NOTE_UNSYNCED, "pwnm: not synced yet; run 'pwnm sync' once");
		if (!o->dry_run && state_txn_begin(st, 1, &txn) == PWNM_STATUS_SUCCESS) {
			if (run_notes_commit(r, txn) == PWNM_STATUS_SUCCESS)
				state_txn_commit(txn);
			else
				state_txn_abort(txn);
		}
		goto out;
	}
	run_note_known(r, NOTE_UNSYNCED); /* the run's commit ends the note */
	if ((rc = sync_remote(r)))         /* 3. what changed on the server */
		goto out;
	sync_merge(r);                     /* 4. three-way merge per patch and field */
	rc = sync_push(r);                 /* 5. local changes sent (failures stay queued) */
	rc = sync_tags(r);                 /* 6. tags written where they differ (--dry-run: listed) */
	if (o->dry_run)
		goto out;
	rc = sync_commit(r);               /* 7. agreed values, outbox, cursors, revision */
	remote_report_projects(r, rc == PWNM_STATUS_SUCCESS);
out:
	debug("sync", "work items: at most %zu held at once", r->wpeak);
	debug("sync", "series: at most %zu held at once", r->speak);
	/* Every failure went through run_error: the first one decides. */
	rc = r->first_error ? r->worst : PWNM_STATUS_SUCCESS;
	if (r->first_error)
		*err = xstrdup(r->first_error);
	run_free(r);
	return rc;
}

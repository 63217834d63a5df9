/* libsync_tags.c - step 6 of a run: the tags each mail should show, written where they differ */
#include "libsync_p.h"

#include <stdlib.h>
#include <string.h>

#include "libnm.h"
#include "libutil.h"

struct patch_view {
	uint32_t project_id;
	const char *project;
	uint32_t patch_id;
	struct pw_values v;
	uint32_t flags;
	int deleted;
};

/*
 * A name of the server's whose tag would be longer than notmuch takes:
 * said once a run (said holds those said), and listed by `pwnm status`
 * for as long as a patch has it.
 */
static void
report_refused(struct run *r, const char *project, const char *what, enum merge_name kind,
	       const char *name, struct tagset *said)
{
	char *key, *shown, *enc;

	if (!merge_name_refused(project, kind, name))
		return;
	key = xasprintf("%s/%s/%s", what, project, name);
	if (!tagset_has(said, key)) {
		tagset_add(said, key);
		shown = merge_name_shown(name);
		enc = merge_project_tag(project);
		run_report(r, "pwnm: %s: %s '%s' makes a tag longer than notmuch's %d bytes: not "
			   "shown, its mail keeps %s and its other tags; rename it on Patchwork",
			   project, what, shown, MERGE_TAG_MAX, enc ? enc : "no tag");
		free(shown);
		free(enc);
	}
	free(key);
}

/*
 * A state tag naming no state of project (pw/alpha/acepted, while pwnm
 * knows its states: run_state_typo) stays on the mail for the user to
 * fix; the scan reads past it and names it.
 */
static void
keep_typo_tags(struct run *r, const struct tagset *cur, const char *project, struct tagset *want)
{
	size_t i, k;

	for (k = 0; k < r->nprojects && strcmp(r->projects[k].link_name, project) != 0; k++)
		;
	if (k == r->nprojects)
		return;
	for (i = 0; i < cur->n; i++) {
		char *st = merge_state_of_tag(cur->v[i], project);

		if (st && run_state_typo(r, r->projects[k].id, st))
			tagset_add(want, cur->v[i]);
		free(st);
	}
}

/* The tags a mail should carry, given its patches; starts from cur to keep foreign pw/ tags. */
static void
wanted_tags(struct run *r, const struct tagset *cur, const struct patch_view *pv, size_t n,
	    struct tagset *want, struct tagset *said)
{
	size_t i;
	int conflict = 0, denied = 0;

	tagset_copy(want, cur);
	tagset_del(want, "pw/conflict");
	tagset_del(want, "pw/denied");
	for (i = 0; i < n; i++)
		merge_drop_project_tags(want, pv[i].project);
	for (i = 0; i < n; i++)
		keep_typo_tags(r, cur, pv[i].project, want);
	for (i = 0; i < n; i++) {
		if (pv[i].deleted)
			continue;
		if (!merge_patch_tags(pv[i].project, &pv[i].v, &r->topts, want)) {
			/* every name has its tag */
		} else if (merge_name_refused(NULL, MERGE_NAME_PROJECT, pv[i].project)) {
			report_refused(r, pv[i].project, "project", MERGE_NAME_PROJECT, pv[i].project,
				       said);
		} else {
			report_refused(r, pv[i].project, "state", MERGE_NAME_STATE, pv[i].v.state,
				       said);
			if (r->topts.delegate)
				report_refused(r, pv[i].project, "delegate", MERGE_NAME_USER,
					       pv[i].v.delegate, said);
		}
		if ((pv[i].flags & PATCH_F_NEWER) && merge_state_open(pv[i].v.state) &&
		    !pv[i].v.archived) {
			char *t = merge_newer_tag(pv[i].project);

			if (t)
				tagset_add(want, t);
			free(t);
		}
		conflict |= (pv[i].flags & PATCH_F_CONFLICT) != 0;
		denied |= (pv[i].flags & PATCH_F_DENIED) != 0;
	}
	if (conflict)
		tagset_add(want, "pw/conflict");
	if (denied)
		tagset_add(want, "pw/denied");
}

/* Messages changed by someone else after revision `since` (the scan's, or our last batch's). */
static void
changed_since(notmuch_database_t *db, unsigned long since, struct tagset *ids)
{
	char *qs;
	notmuch_query_t *q;
	notmuch_messages_t *msgs = NULL;

	if (notmuch_database_get_revision(db, NULL) <= since)
		return;
	qs = xasprintf("lastmod:%lu..", since + 1);
	q = notmuch_query_create(db, qs);
	free(qs);
	notmuch_query_set_omit_excluded(q, NOTMUCH_EXCLUDE_FALSE);
	if (notmuch_query_search_messages(q, &msgs) == NOTMUCH_STATUS_SUCCESS) {
		for (; notmuch_messages_valid(msgs); notmuch_messages_move_to_next(msgs)) {
			notmuch_message_t *m = notmuch_messages_get(msgs);

			tagset_add(ids, notmuch_message_get_message_id(m));
			notmuch_message_destroy(m);
		}
	}
	notmuch_query_destroy(q);
}

static void
work_undo_remote(struct work *w)
{
	/* The mail changed under us: keep the old agreed value and ask again next time. */
	size_t i;

	for (i = 0; i < FIELD_COUNT; i++)
		if (w->remote_applied & FIELD_BIT(i))
			field_set_agreed(&field_table[i], &w->rec, field_copy_value(&w->orig[i]));
	if (w->remote_applied) {
		w->rec.flags |= PATCH_F_RECHECK;
		w->dirty = 1;
	}
}

struct pair {
	const char *nmid;
	struct work *w;
};

static int
cmp_pair(const void *a, const void *b)
{
	return strcmp(((const struct pair *)a)->nmid, ((const struct pair *)b)->nmid);
}

/*
 * Its tags are not written this run: the old values and marks stay, the
 * server is asked again.  A patch first seen this run has no old values:
 * it is not stored at all (the commit skips it), or the next run would
 * find the server's values agreed and never write its mail.
 */
static void
work_abandon(struct work *w)
{
	const uint32_t kept = PATCH_F_RECHECK | PATCH_F_TAGGED;

	work_undo_remote(w);
	w->rec.flags = (w->rec.flags & ~kept) | (w->orig_flags & kept);
	w->abandoned = 1;
}

/*
 * Nothing more can be written to notmuch: the mails from pairs[from] on
 * (every work item when pairs is NULL) forget what came from the server,
 * so it comes again: the cursors stay, the next run lists again.  The
 * batches committed before stand.
 */
static void
run_abandon_remote(struct run *r, const struct pair *pairs, size_t from, size_t np)
{
	size_t i;

	if (pairs) {
		for (i = from; i < np; i++)
			work_abandon(pairs[i].w);
	} else {
		for (i = 0; i < r->wcap; i++) {
			struct work *w;

			for (w = r->wtab[i]; w; w = w->hnext)
				work_abandon(w);
		}
	}
	for (i = 0; i < r->nprojects; i++)
		r->proj_dirty[i] = 0;
}

/* Every patch of one mail, as the tags should show it. */
static void
mail_views(struct run *r, pwnm_txn_t *txn, const char *nmid, struct work **ws, size_t nws,
	   struct patch_view **out, size_t *nout, struct patch_rec **recs, struct outbox_rec **outs,
	   size_t *nrecs)
{
	struct patch_key *keys = NULL;
	size_t nk = 0, i, n = 0;
	struct patch_view *pv;

	*recs = NULL;
	*outs = NULL;
	*nrecs = 0;
	if (state_msgid_lookup(txn, nmid, &keys, &nk) != PWNM_STATUS_SUCCESS) {
		keys = NULL;
		nk = 0;
	}
	pv = xcalloc(nk + nws + 1, sizeof(*pv));
	*recs = xcalloc(nk + 1, sizeof(**recs));
	*outs = xcalloc(nk + 1, sizeof(**outs));
	for (i = 0; i < nk; i++) {
		struct work *w = work_find(r, keys[i].project_id, keys[i].patch_id);
		struct pw_values v;
		size_t k;

		for (k = 0; w && k < nws; k++)
			if (ws[k] == w)
				break;
		if (w && k < nws)
			continue; /* taken below from the run's own view */
		if (w) {
			/* the run holds it, its mail is written with another window: shown as the run has it */
			if ((w->rec.flags & PATCH_F_TAGGED) && !w->deleted && w->project) {
				shown_values(&w->rec, &w->out, w->has_out, &pv[n].v);
				pv[n].project_id = w->rec.project_id;
				pv[n].patch_id = w->rec.patch_id;
				pv[n].project = w->project;
				pv[n].flags = w->rec.flags;
				n++;
			}
			continue;
		}
		if (state_patch_get(txn, keys[i].project_id, keys[i].patch_id, &(*recs)[*nrecs]))
			continue;
		{
			struct patch_rec *rec = &(*recs)[*nrecs];
			struct outbox_rec *o = &(*outs)[*nrecs];
			int has_out = state_outbox_get(txn, rec->project_id, rec->patch_id, o) ==
				      PWNM_STATUS_SUCCESS;
			const char *pname = run_project_name(r, rec->project_id);

			if (!has_out)
				memset(o, 0, sizeof(*o));
			(*nrecs)++;
			if (!(rec->flags & PATCH_F_TAGGED) || !pname)
				continue;
			shown_values(rec, o, has_out, &v);
			pv[n].project_id = rec->project_id;
			pv[n].patch_id = rec->patch_id;
			pv[n].project = pname;
			pv[n].v = v;
			pv[n].flags = rec->flags;
			n++;
		}
	}
	free(keys);
	/* Every patch of this mail that the run holds (touched or not). */
	for (i = 0; i < nws; i++) {
		struct work *w = ws[i];

		shown_values(&w->rec, &w->out, w->has_out, &pv[n].v);
		pv[n].project_id = w->rec.project_id;
		pv[n].patch_id = w->rec.patch_id;
		pv[n].project = w->project;
		pv[n].flags = w->rec.flags;
		pv[n].deleted = w->deleted;
		n++;
	}
	*out = pv;
	*nout = n;
}

/*
 * A patch new to the store whose mail already carries another state tag
 * (a rebuilt store, or tags from elsewhere): Patchwork's value is taken,
 * and the difference is said, so nothing changes silently.
 */
static void
report_stale_tags(struct run *r, const struct work *w, const struct tagset *cur)
{
	size_t i;

	for (i = 0; i < cur->n; i++) {
		char *st = merge_state_of_tag(cur->v[i], w->project), *shown;

		if (st && strcmp(st, w->rec.state) != 0) {
			shown = text_escape(st);
			run_report(r, "patch %u %s %s: the mail said %s, Patchwork says %s; Patchwork's "
				   "value taken (change the tag again to push yours)",
				   w->rec.patch_id, w->project, w->rec.msgid, shown, w->rec.state);
			free(shown);
		}
		free(st);
	}
}

/*
 * A patch new to the store whose mail is also another patch of its
 * project (Patchwork Message-IDs that differ only in blanks are one
 * notmuch mail): said once, when the mail is first tagged so, with what
 * a state tag on it means (the scan gives it to every one of them).
 */
static void
report_shared_mail(struct run *r, const char *nmid, const struct work *w, const struct patch_view *pv,
		   size_t npv)
{
	uint32_t *v = xcalloc(npv + 1, sizeof(*v));
	struct buf ids = { 0 };
	size_t i, k, n = 0;
	char *id;

	for (i = 0; i < npv; i++) {
		if (pv[i].deleted || strcmp(pv[i].project, w->project) != 0)
			continue;
		/* in increasing order */
		for (k = n++; k > 0 && v[k - 1] > pv[i].patch_id; k--)
			v[k] = v[k - 1];
		v[k] = pv[i].patch_id;
	}
	for (i = 0; i < n; i++)
		buf_printf(&ids, "%s%u", i ? ", " : "", v[i]);
	free(v);
	if (n > 1) {
		id = text_escape(nmid);
		run_report(r, "note: <%s> is one mail for %zu patches of %s (%s: their Message-IDs differ "
			      "only in blanks); a state tag set on it goes to %s",
			   id, n, w->project, ids.data, n == 2 ? "both" : "all of them");
		free(id);
	}
	buf_free(&ids);
}

/* --dry-run: the change of one mail's tags, said instead of written. */
void
report_dry_tags(struct run *r, const char *nmid, const struct tagset *cur, const struct tagset *want)
{
	struct buf b = { 0 };
	size_t i;

	for (i = 0; i < want->n; i++)
		if (!tagset_has(cur, want->v[i]))
			buf_printf(&b, " +%s", want->v[i]);
	for (i = 0; i < cur->n; i++)
		if (!tagset_has(want, cur->v[i]))
			buf_printf(&b, " -%s", cur->v[i]);
	if (strpbrk(nmid, " \"()")) {
		/* Quoted as notmuch reads it, so the line can be pasted into a search. */
		struct buf q = { 0 };
		const char *c;

		for (c = nmid; *c; c++)
			buf_printf(&q, "%s%c", *c == '"' ? "\"" : "", *c);
		run_report(r, "tag id:\"%s\":%s", q.data, b.data ? b.data : "");
		buf_free(&q);
	} else {
		run_report(r, "tag id:%s:%s", nmid, b.data ? b.data : "");
	}
	buf_free(&b);
}

/* Every work item with a mail, sorted by mail (a mail's patches side by side); NULL when no mail wants writing. */
static struct pair *
collect_pairs(struct run *r, size_t *np_out)
{
	struct pair *pairs = NULL;
	size_t np = 0, cap = 0, i;
	int need = 0;

	for (i = 0; i < r->wcap; i++) {
		struct work *w;

		for (w = r->wtab[i]; w; w = w->hnext) {
			if (!w->nmid || !work_tracked(r, w))
				continue;
			if (np == cap) {
				cap = cap ? cap * 2 : 1024;
				pairs = xreallocarray(pairs, cap, sizeof(*pairs));
			}
			pairs[np].nmid = w->nmid;
			pairs[np].w = w;
			need |= w->tags;
			np++;
		}
	}
	if (!need) {
		free(pairs);
		*np_out = 0;
		return NULL;
	}
	qsort(pairs, np, sizeof(*pairs), cmp_pair);
	*np_out = np;
	return pairs;
}

/*
 * The notmuch database open for one batch of tag writes (read-only and a
 * single batch under --dry-run).  Between two batches the write lock is
 * let go; what others wrote meanwhile joins the busy set, so those mails
 * are skipped as those changed during the run are.
 */
struct tag_writer {
	notmuch_database_t *db;
	unsigned long first_open; /* revision at the first open */
	unsigned long last_close; /* revision after our last batch */
	int others;               /* someone else wrote between two of our batches */
	int64_t started;          /* now_ms() when this batch began */
	unsigned mails;           /* mails written in this batch */
	unsigned batches;
};

/*
 * Open notmuch read-write for the next batch within the run's budget
 * (--dry-run: read-only, without waiting for a writer).  On failure *err
 * says why (caller frees).
 */
static pwnm_status_t
writer_open(struct run *r, struct tag_writer *tw, struct tagset *busy, char **err)
{
	int dry = r->o->dry_run;
	int64_t wait_ms = 60000;
	unsigned long rev;
	notmuch_status_t nst;
	pwnm_status_t rc;

	if (r->o->deadline_ms) {
		wait_ms = r->o->deadline_ms - now_ms();
		if (wait_ms < 200)
			wait_ms = 200;
	}
	if (!dry && nm_wait_unlocked(r->cfg->db_path, wait_ms) < 0) {
		*err = xasprintf("the notmuch database is locked by another writer (waited %lld ms)",
				 (long long)wait_ms);
		return PWNM_STATUS_NOTMUCH_LOCKED;
	}
	if ((rc = nm_open(r->o->nm_config, r->o->nm_profile, !dry, wait_ms, &tw->db, err)))
		return rc;
	rev = notmuch_database_get_revision(tw->db, NULL);
	if (tw->batches == 0) {
		tw->first_open = rev;
		changed_since(tw->db, r->rev, busy);
	} else if (rev != tw->last_close) {
		tw->others = 1;
		changed_since(tw->db, tw->last_close, busy);
	}
	tw->batches++;
	tw->started = now_ms();
	tw->mails = 0;
	nst = dry ? NOTMUCH_STATUS_SUCCESS : notmuch_database_begin_atomic(tw->db);
	if (nst) {
		notmuch_database_destroy(tw->db);
		tw->db = NULL;
		*err = xasprintf("cannot write tags to the notmuch database: %s",
				 notmuch_status_to_string(nst));
		return PWNM_STATUS_NOTMUCH;
	}
	return PWNM_STATUS_SUCCESS;
}

/* End the batch: commit it and let the write lock go. */
static notmuch_status_t
writer_close(struct run *r, struct tag_writer *tw)
{
	notmuch_status_t nst =
		r->o->dry_run ? NOTMUCH_STATUS_SUCCESS : notmuch_database_end_atomic(tw->db);

	tw->last_close = notmuch_database_get_revision(tw->db, NULL);
	if (!nst)
		nst = notmuch_database_close(tw->db);
	notmuch_database_destroy(tw->db);
	tw->db = NULL;
	return nst;
}

/*
 * The tags of one mail, whose patches in the run are ws[0..nws).  Returns
 * 1 when the mail was written (or found to need nothing), 0 when it was
 * left alone: held, changed by someone else during the run (*skipped), or
 * not in notmuch.
 */
static int
write_mail(struct run *r, notmuch_database_t *db, pwnm_txn_t *txn, const struct tagset *busy,
	   const char *nmid, struct work **ws, size_t nws, int *skipped, struct tagset *said)
{
	struct patch_view *pv = NULL;
	struct patch_rec *recs = NULL;
	struct outbox_rec *outs = NULL;
	size_t npv = 0, nrecs = 0, k;
	int held = 0, changed = 0;
	notmuch_message_t *m = NULL;
	struct tagset cur = { 0 }, want = { 0 };
	char *err = NULL;
	pwnm_status_t rc;

	for (k = 0; k < nws; k++)
		held |= ws[k]->held;
	if (held || tagset_has(busy, nmid)) {
		for (k = 0; k < nws; k++)
			work_undo_remote(ws[k]);
		if (!held) {
			r->res->skipped++;
			*skipped = 1;
		}
		return 0;
	}
	if (notmuch_database_find_message(db, nmid, &m) || !m) {
		for (k = 0; k < nws; k++) {
			if (!(ws[k]->rec.flags & PATCH_F_NOMAIL)) {
				ws[k]->rec.flags |= PATCH_F_NOMAIL;
				ws[k]->dirty = 1;
			}
			r->res->missing++;
		}
		return 0;
	}
	mail_views(r, txn, nmid, ws, nws, &pv, &npv, &recs, &outs, &nrecs);
	nm_message_pw_tags(m, &cur);
	for (k = 0; k < nws; k++)
		if (!ws[k]->in_store)
			report_stale_tags(r, ws[k], &cur);
	for (k = 0; k < nws; k++) {
		size_t e;
		int first = 1;

		/* Once per mail and project: at the first of its new patches. */
		for (e = 0; e < k && first; e++)
			first = !(!ws[e]->in_store && ws[e]->rec.project_id == ws[k]->rec.project_id);
		if (!ws[k]->in_store && !ws[k]->deleted && first)
			report_shared_mail(r, nmid, ws[k], pv, npv);
	}
	wanted_tags(r, &cur, pv, npv, &want, said);
	if (r->o->dry_run) {
		changed = !tagset_equal(&cur, &want);
		if (changed)
			report_dry_tags(r, nmid, &cur, &want);
		rc = PWNM_STATUS_SUCCESS;
	} else {
		rc = nm_message_set_pw_tags(m, &cur, &want, &changed, &err);
	}
	if (rc) {
		run_error(r, rc, "%s", err);
		free(err);
		for (k = 0; k < nws; k++)
			work_undo_remote(ws[k]);
	} else {
		if (changed) {
			/* counted once, though a window of each project may write it */
			int seen = 0;

			for (k = 0; k < npv && !seen; k++)
				seen = run_counted(r, pv[k].project_id, pv[k].patch_id);
			if (!seen)
				r->res->messages_written++;
			for (k = 0; k < nws; k++)
				run_counted_add(r, ws[k]->rec.project_id, ws[k]->rec.patch_id);
		}
		for (k = 0; k < nws; k++) {
			uint32_t fl = ws[k]->rec.flags;

			ws[k]->rec.flags = (fl | PATCH_F_TAGGED) & ~PATCH_F_NOMAIL;
			if (ws[k]->rec.flags != fl)
				ws[k]->dirty = 1;
		}
	}
	notmuch_message_destroy(m);
	tagset_free(&cur);
	tagset_free(&want);
	for (k = 0; k < nrecs; k++) {
		patch_rec_free(&recs[k]);
		outbox_rec_free(&outs[k]);
	}
	free(recs);
	free(outs);
	free(pv);
	return 1;
}

/* Batches of PWNM_DEBUG_TAG_BATCH mails (tests), else of TAG_BATCH. */
static unsigned
batch_limit(void)
{
	const char *dbg = getenv("PWNM_DEBUG_TAG_BATCH");
	uint64_t u;

	if (dbg && parse_u64(dbg, &u) == 0 && u > 0 && u < TAG_BATCH)
		return (unsigned)u;
	return TAG_BATCH;
}

/* A batch could not be committed: said, and its mails (from pairs[from] on) given up. */
static pwnm_status_t
write_failed(struct run *r, struct pair *pairs, size_t from, size_t np, notmuch_status_t nst)
{
	run_error(r, PWNM_STATUS_NOTMUCH, "cannot write tags to the notmuch database: %s",
		  notmuch_status_to_string(nst));
	run_abandon_remote(r, r->tw->batches > 1 ? pairs : NULL, from, np);
	r->tags_failed = 1;
	return PWNM_STATUS_NOTMUCH;
}

/*
 * Write the mails of pairs[0..np) (sorted by mail) in batches, each one
 * committed when full; the last one is left open (r->tw->db) for the
 * caller to add to and close, and *from says where it began.  On a
 * failure it is said, the mails not written forget what came from the
 * server, and nothing more is written this run (r->tags_failed).
 */
static pwnm_status_t
write_pairs(struct run *r, pwnm_txn_t *txn, struct pair *pairs, size_t np, size_t *from)
{
	struct tag_writer *tw = r->tw;
	int dry = r->o->dry_run;
	size_t i, j, k;
	unsigned batch_mails = batch_limit();
	notmuch_status_t nst;
	pwnm_status_t rc;
	char *err = NULL;

	*from = 0;
	for (i = 0; i < np; i = j) {
		struct work **ws;
		int need = 0;

		for (j = i; j < np && strcmp(pairs[j].nmid, pairs[i].nmid) == 0; j++)
			need |= pairs[j].w->tags;
		if (!need)
			continue;
		if (!tw->db) {
			/* A batch begins: take the write lock (again). */
			if ((rc = writer_open(r, tw, &r->busy, &err))) {
				if (tw->batches == 0)
					run_error(r, rc, "%s; tags not written, the next run retries", err);
				else
					run_error(r, rc, "%s; %zu of %zu mails not written, the next run "
						  "retries", err, np - i, np);
				free(err);
				run_abandon_remote(r, tw->batches ? pairs : NULL, i, np);
				r->tags_failed = 1;
				return rc;
			}
			*from = i;
		}
		ws = xcalloc(j - i, sizeof(*ws));
		for (k = 0; k < j - i; k++)
			ws[k] = pairs[i + k].w;
		need = write_mail(r, tw->db, txn, &r->busy, pairs[i].nmid, ws, j - i, &r->any_skip,
				  &r->said);
		free(ws);
		if (!need)
			continue;
		if (r->nmails++ == 1)
			run_crash_point(r, "mid-tags");
		if (!dry && j < np &&
		    (++tw->mails >= batch_mails || now_ms() - tw->started >= TAG_BATCH_MS)) {
			/* The batch is full: commit it and let other writers in. */
			if ((nst = writer_close(r, tw)))
				return write_failed(r, pairs, *from, np, nst);
			run_crash_point(r, "tag-batch");
		}
	}
	return PWNM_STATUS_SUCCESS;
}

pwnm_status_t
sync_tags_window(struct run *r, struct work **ws, size_t n)
{
	struct pair *pairs = xcalloc(n + 1, sizeof(*pairs));
	size_t np = 0, i, from = 0;
	pwnm_txn_t *txn = NULL;
	pwnm_status_t rc;
	int64_t t = now_ms();

	if (!r->tw)
		r->tw = xcalloc(1, sizeof(*r->tw));
	if (!r->tags_failed && (rc = state_txn_begin(r->st, 0, &txn))) {
		run_error(r, rc, "cannot read the state database: %s", state_last_error(r->st));
		r->tags_failed = 1;
	}
	if (r->tags_failed) {
		for (i = 0; i < n; i++)
			work_abandon(ws[i]);
		free(pairs);
		return PWNM_STATUS_NOTMUCH;
	}
	for (i = 0; i < n; i++) {
		struct work *w = ws[i];

		if (w->tags && w->rec.series_id && !w->held) {
			/* its series' cover letter may show another state (written at the end) */
			struct series_work *s = series_get(r, txn, w->rec.series_id);

			if (s)
				s->cover = 1;
		}
		if (w->nmid) {
			pairs[np].nmid = w->nmid;
			pairs[np].w = w;
			np++;
		}
	}
	if (np > 1)
		qsort(pairs, np, sizeof(*pairs), cmp_pair);
	rc = write_pairs(r, txn, pairs, np, &from);
	if (!rc && series_covers_known(r)) {
		/* the cover letters whose series' patches changed, in the window's last batch */
		char *err = NULL;

		if (!r->tw->db && writer_open(r, r->tw, &r->busy, &err) != PWNM_STATUS_SUCCESS)
			free(err); /* they stay marked: the run's tag step writes them */
		else
			series_write_covers_window(r, r->tw->db, txn, &r->busy);
	}
	if (!rc && r->tw->db) {
		notmuch_status_t nst = writer_close(r, r->tw);

		if (nst)
			rc = write_failed(r, pairs, from, np, nst);
	}
	state_txn_abort(txn);
	free(pairs);
	r->tags_ms += now_ms() - t;
	r->tags_ms_listing += now_ms() - t;
	return rc;
}

static pwnm_status_t
write_tags(struct run *r)
{
	struct pair *pairs;
	size_t np = 0, from = 0;
	pwnm_txn_t *txn = NULL;
	struct tag_writer *tw;
	pwnm_status_t rc;
	char *err = NULL;
	int covers;
	notmuch_status_t nst = NOTMUCH_STATUS_SUCCESS;

	if (!r->tw)
		r->tw = xcalloc(1, sizeof(*r->tw));
	tw = r->tw;
	if (r->tags_failed) {
		/* A window of a full list could not be written: nothing more is this run. */
		run_abandon_remote(r, NULL, 0, 0);
		r->write_rev = 0;
		return PWNM_STATUS_NOTMUCH;
	}
	/* Cover letters whose series' patches change, stray state tags (libsync_series.c). */
	series_mark_covers(r);
	covers = series_covers_pending(r);
	pairs = collect_pairs(r, &np);
	if (!pairs && !covers) {
		/* No mail to write (now): the revision read at the scan is handled. */
		goto done;
	}
	if ((rc = state_txn_begin(r->st, 0, &txn))) {
		run_error(r, rc, "cannot read the state database: %s", state_last_error(r->st));
		run_abandon_remote(r, NULL, 0, 0);
		r->write_rev = 0;
		free(pairs);
		return rc;
	}
	if ((rc = write_pairs(r, txn, pairs, np, &from))) {
		state_txn_abort(txn);
		r->write_rev = 0;
		free(pairs);
		return rc;
	}
	if (covers) {
		/* The cover letters and the mails with stray state tags, in the last batch. */
		if (!tw->db && (rc = writer_open(r, tw, &r->busy, &err))) {
			run_error(r, rc, "%s; cover letters not written, the next run retries", err);
			free(err);
		}
		if (tw->db)
			series_write_covers(r, tw->db, txn, &r->busy);
	}
	state_txn_abort(txn);
	if (tw->db && (nst = writer_close(r, tw))) {
		rc = write_failed(r, pairs, from, np, nst);
		r->write_rev = 0;
		free(pairs);
		return rc;
	}
	free(pairs);
done:
	/* Our own writes are not the user's: skip them next time, unless others wrote too. */
	r->write_rev = 1;
	r->store_rev = (tw->batches && tw->first_open == r->rev && !tw->others && r->busy.n == 0 &&
			!r->any_skip)
			       ? tw->last_close
			       : r->rev;
	debug("sync", "tags: %d mails in %u batches", r->nmails, tw->batches);
	return PWNM_STATUS_SUCCESS;
}

/*
 * Step 6: notmuch opened read-write, briefly; each mail that needs it
 * gets the tags its patches should show, where they differ, skipping the
 * mails changed by someone else during the run.  When nothing could be
 * written the values taken from the server are given up (asked again
 * next run) and the revision is not advanced.
 */
pwnm_status_t
sync_tags(struct run *r)
{
	int64_t t = now_ms();
	pwnm_status_t rc = write_tags(r);

	run_crash_point(r, "after-tags");
	r->tags_ms += now_ms() - t;
	debug("sync", "phase tags %lld ms (%u mails written; %lld ms of it while a list downloaded)",
	      (long long)r->tags_ms, r->res->messages_written, (long long)r->tags_ms_listing);
	return rc;
}

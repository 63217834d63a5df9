/* libsync_series.c - series: membership pulled with the patches, the server's series records, cover letters' tags, and a state set on a cover letter */
#include "libsync_p.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libnm.h"
#include "libutil.h"

/* ---- the run's table of series ---- */

struct rev_index;
static void rev_index_free(struct rev_index *ix);

static size_t
series_bucket(uint32_t id, size_t cap)
{
	uint64_t k = (uint64_t)id * 0x9e3779b97f4a7c15ULL;

	return (size_t)(k >> 32) & (cap - 1);
}

static void
stab_grow(struct run *r)
{
	size_t ncap = r->scap ? r->scap * 2 : 256, i;
	struct series_work **nt = xcalloc(ncap, sizeof(*nt));

	for (i = 0; i < r->scap; i++) {
		struct series_work *s = r->stab[i], *next;

		for (; s; s = next) {
			size_t b = series_bucket(s->rec.series_id, ncap);

			next = s->hnext;
			s->hnext = nt[b];
			nt[b] = s;
		}
	}
	free(r->stab);
	r->stab = nt;
	r->scap = ncap;
}

struct series_work *
series_find(struct run *r, uint32_t id)
{
	struct series_work *s;

	if (!r->scap)
		return NULL;
	for (s = r->stab[series_bucket(id, r->scap)]; s; s = s->hnext)
		if (s->rec.series_id == id)
			return s;
	return NULL;
}

static struct series_work *
series_insert(struct run *r, const struct series_rec *rec, int in_store)
{
	struct series_work *s = xcalloc(1, sizeof(*s));
	size_t b;

	s->rec = *rec;
	s->rec.patches = xcalloc(rec->npatches + 1, sizeof(uint32_t));
	if (rec->npatches)
		memcpy(s->rec.patches, rec->patches, rec->npatches * sizeof(uint32_t));
	s->rec.name = xstrdup(rec->name ? rec->name : "");
	s->rec.date = xstrdup(rec->date ? rec->date : "");
	s->rec.cover_msgid = xstrdup(rec->cover_msgid ? rec->cover_msgid : "");
	s->rec.cover_state = xstrdup(rec->cover_state ? rec->cover_state : "");
	s->loaded = 1;
	s->in_store = in_store;
	s->project = run_project_name(r, rec->project_id);
	if (r->sn + 1 > r->scap * 3 / 4)
		stab_grow(r);
	b = series_bucket(rec->series_id, r->scap);
	s->hnext = r->stab[b];
	r->stab[b] = s;
	r->sn++;
	if (r->sn > r->speak)
		r->speak = r->sn;
	return s;
}

/* Take s out of the run's table and free it (its record is in the store). */
static void
series_drop(struct run *r, struct series_work *s)
{
	struct series_work **pp = &r->stab[series_bucket(s->rec.series_id, r->scap)];

	while (*pp && *pp != s)
		pp = &(*pp)->hnext;
	if (!*pp)
		return;
	*pp = s->hnext;
	series_rec_free(&s->rec);
	free(s);
	r->sn--;
}

/* The series, from the run or the store; NULL when neither knows it. */
struct series_work *
series_get(struct run *r, pwnm_txn_t *txn, uint32_t id)
{
	struct series_work *s = series_find(r, id);
	struct series_rec rec;

	if (s)
		return s;
	if (!txn || state_series_get(txn, id, &rec) != PWNM_STATUS_SUCCESS)
		return NULL;
	s = series_insert(r, &rec, 1);
	series_rec_free(&rec);
	return s;
}

void
series_free_all(struct run *r)
{
	size_t i;

	for (i = 0; i < r->scap; i++) {
		struct series_work *s = r->stab[i], *next;

		for (; s; s = next) {
			next = s->hnext;
			series_rec_free(&s->rec);
			free(s);
		}
	}
	free(r->stab);
	r->stab = NULL;
	r->scap = r->sn = 0;
	rev_index_free(r->revix);
	r->revix = NULL;
	free(r->older_now);
	r->older_now = NULL;
	r->nolder_now = 0;
	for (i = 0; i < r->nstrays; i++)
		free(r->strays[i].nmid);
	free(r->strays);
	r->strays = NULL;
	r->nstrays = 0;
}

static int
series_has_patch(const struct series_work *s, uint32_t patch_id)
{
	size_t i;

	for (i = 0; i < s->rec.npatches; i++)
		if (s->rec.patches[i] == patch_id)
			return 1;
	return 0;
}

/* Add a patch id, keeping the list ascending; 1 when it was not there. */
static int
series_add_patch(struct series_work *s, uint32_t patch_id)
{
	size_t i;

	if (series_has_patch(s, patch_id))
		return 0;
	s->rec.patches = xreallocarray(s->rec.patches, s->rec.npatches + 2, sizeof(uint32_t));
	for (i = s->rec.npatches; i > 0 && s->rec.patches[i - 1] > patch_id; i--)
		s->rec.patches[i] = s->rec.patches[i - 1];
	s->rec.patches[i] = patch_id;
	s->rec.npatches++;
	return 1;
}

/* ---- step 3: membership from the patches, records from the server ---- */

/*
 * A patch as the server sent it (a list, a recheck): its series is noted,
 * and asked for when it is new to pwnm, or incomplete and this patch is
 * new to it.  txn NULL: a read transaction of its own.
 */
void
series_observe_patch(struct run *r, pwnm_txn_t *txn, struct work *w, const struct pw_patch *p)
{
	struct series_work *s;

	if (!p->series_id)
		return;
	if (w->rec.series_id != p->series_id) {
		w->rec.series_id = p->series_id;
		w->dirty = 1;
	}
	s = series_find(r, p->series_id);
	if (!s && txn) {
		s = series_get(r, txn, p->series_id);
	} else if (!s) {
		pwnm_txn_t *own = NULL;

		if (state_txn_begin(r->st, 0, &own) == PWNM_STATUS_SUCCESS) {
			s = series_get(r, own, p->series_id);
			state_txn_abort(own);
		}
	}
	if (!s) {
		struct series_rec rec = { 0 };

		rec.series_id = p->series_id;
		rec.project_id = p->project_id;
		rec.version = p->series_version;
		rec.name = p->series_name;
		rec.date = p->series_date;
		s = series_insert(r, &rec, 0);
		s->need_info = 1;
		s->dirty = 1;
	}
	if (series_add_patch(s, p->id)) {
		s->dirty = 1;
		if (!(s->rec.flags & SERIES_F_COMPLETE))
			s->need_info = 1;
	}
	if (!(s->rec.flags & SERIES_F_INFO))
		s->need_info = 1;
}

/* The server's record of a series pwnm asked for. */
static void
series_apply_info(struct series_work *s, const struct pw_series *ps)
{
	size_t i;

	if (strcmp(s->rec.cover_msgid, ps->cover_msgid) != 0) {
		str_set(&s->rec.cover_msgid, ps->cover_msgid);
		s->rec.flags &= ~SERIES_F_COVER_TAGGED;
		str_set(&s->rec.cover_state, "");
	}
	str_set(&s->rec.name, ps->name);
	str_set(&s->rec.date, ps->date);
	s->rec.version = ps->version;
	s->rec.total = ps->total;
	s->rec.received_total = ps->received_total;
	s->rec.submitter_id = ps->submitter_id;
	s->rec.cover_id = ps->cover_id;
	s->rec.flags |= SERIES_F_INFO;
	if (ps->received_all)
		s->rec.flags |= SERIES_F_COMPLETE;
	else
		s->rec.flags &= ~SERIES_F_COMPLETE;
	for (i = 0; i < ps->npatches; i++)
		series_add_patch(s, ps->patches[i]);
	s->need_info = 0;
	s->dirty = 1;
	s->cover = 1;
	s->info_now = 1;
}

/* Is o an older revision of s: same project, name and submitter, a lower version? */
static int
older_revision(const struct series_rec *o, const struct series_rec *s)
{
	return o->series_id != s->series_id && o->project_id == s->project_id && *s->name &&
	       strcmp(o->name, s->name) == 0 && s->submitter_id && o->submitter_id == s->submitter_id &&
	       o->version < s->version;
}

/*
 * The series that may be older revisions of another, by what revisions
 * share: project, submitter and name (hashed), with their version.  Built
 * once a run from the store and the run's new series, so looking for the
 * older revisions of every series read costs a lookup each, not a walk
 * of every series known.  A first sync's series list adds each series
 * as it is read (series_take_page), marked now.
 */
struct rev_entry {
	uint64_t key;
	uint32_t series_id;
	uint32_t version;
	uint32_t next;          /* 1 + the index of the next entry of its bucket, 0 none */
	int now;                /* read from the server this run */
};

struct rev_index {
	struct rev_entry *v;
	size_t n, cap;
	uint32_t *head;         /* per bucket, 1 + the index of its first entry, 0 none */
	size_t nhead;           /* a power of two */
};

static uint64_t
revision_key(const struct series_rec *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	const unsigned char *c;

	h = (h ^ s->project_id) * 1099511628211ULL;
	h = (h ^ s->submitter_id) * 1099511628211ULL;
	for (c = (const unsigned char *)s->name; c && *c; c++)
		h = (h ^ *c) * 1099511628211ULL;
	return h;
}

static size_t
rev_bucket(uint64_t key, size_t nhead)
{
	return (size_t)(key ^ (key >> 32)) & (nhead - 1);
}

static void
rev_index_link(struct rev_index *ix, size_t i)
{
	size_t b = rev_bucket(ix->v[i].key, ix->nhead);

	ix->v[i].next = ix->head[b];
	ix->head[b] = (uint32_t)(i + 1);
}

/* o as a candidate (now: read this run); a series without name or submitter has no revisions. */
static void
rev_index_put(struct rev_index *ix, const struct series_rec *o, int now)
{
	size_t i;

	if (!o->name || !*o->name || !o->submitter_id)
		return;
	if (ix->n == ix->cap) {
		ix->cap = ix->cap ? ix->cap * 2 : 256;
		ix->v = xreallocarray(ix->v, ix->cap, sizeof(*ix->v));
	}
	ix->v[ix->n].key = revision_key(o);
	ix->v[ix->n].series_id = o->series_id;
	ix->v[ix->n].version = o->version;
	ix->v[ix->n].now = now;
	ix->n++;
	if (ix->n > ix->nhead) {
		/* more entries than buckets: twice the buckets, every entry linked again */
		free(ix->head);
		ix->nhead = ix->nhead ? ix->nhead * 2 : 256;
		ix->head = xcalloc(ix->nhead, sizeof(*ix->head));
		for (i = 0; i < ix->n; i++)
			rev_index_link(ix, i);
	} else {
		rev_index_link(ix, ix->n - 1);
	}
}

/* The first entry with key (then rev_next), NULL none. */
static struct rev_entry *
rev_first(struct rev_index *ix, uint64_t key)
{
	uint32_t i = ix->nhead ? ix->head[rev_bucket(key, ix->nhead)] : 0;

	while (i && ix->v[i - 1].key != key)
		i = ix->v[i - 1].next;
	return i ? &ix->v[i - 1] : NULL;
}

static struct rev_entry *
rev_next(struct rev_index *ix, struct rev_entry *e)
{
	uint32_t i = e->next;

	while (i && ix->v[i - 1].key != e->key)
		i = ix->v[i - 1].next;
	return i ? &ix->v[i - 1] : NULL;
}

static int
rev_index_add(const struct series_rec *o, void *data)
{
	if (!(o->flags & (SERIES_F_NEWER | SERIES_F_DISMISSED)))
		rev_index_put(data, o, 0);
	return 0;
}

static void
rev_index_free(struct rev_index *ix)
{
	if (!ix)
		return;
	free(ix->v);
	free(ix->head);
	free(ix);
}

/* The candidates: every series of the store, and those new to it this run. */
static pwnm_status_t
rev_index_build(struct run *r, pwnm_txn_t *txn, struct rev_index *ix)
{
	pwnm_status_t rc = state_series_foreach(txn, rev_index_add, ix);
	size_t b;

	for (b = 0; b < r->scap && !rc; b++) {
		struct series_work *o;

		for (o = r->stab[b]; o; o = o->hnext)
			if (!o->in_store)
				rev_index_add(&o->rec, ix);
	}
	return rc;
}

/* Series marked older this run (r->older_now, ascending): their patches passing a window are too. */
static void
older_now_add(struct run *r, uint32_t id)
{
	size_t lo = 0, hi = r->nolder_now;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->older_now[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < r->nolder_now && r->older_now[lo] == id)
		return;
	r->older_now = xreallocarray(r->older_now, r->nolder_now + 1, sizeof(*r->older_now));
	memmove(r->older_now + lo + 1, r->older_now + lo,
		(r->nolder_now - lo) * sizeof(*r->older_now));
	r->older_now[lo] = id;
	r->nolder_now++;
}

static int
older_now_has(const struct run *r, uint32_t id)
{
	size_t lo = 0, hi = r->nolder_now;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->older_now[mid] < id)
			lo = mid + 1;
		else if (r->older_now[mid] > id)
			hi = mid;
		else
			return 1;
	}
	return 0;
}

/* Can w show the suggestion tag: in the store, open, not archived? */
static int
newer_applies(const struct work *w)
{
	return !w->deleted && !w->rec.archived && merge_state_open(w->rec.state);
}

/* s is a later revision of o: o marked, its open patches tagged; said when any is. */
static void
mark_older(struct run *r, pwnm_txn_t *txn, struct series_work *s, struct series_work *o)
{
	size_t marked = 0, j;

	o->rec.flags |= SERIES_F_NEWER;
	o->rec.newer_id = s->rec.series_id;
	o->dirty = 1;
	older_now_add(r, o->rec.series_id);
	for (j = 0; j < o->rec.npatches; j++) {
		struct work *w = work_get(r, txn, o->rec.project_id, o->rec.patches[j]);

		if (!w || !newer_applies(w))
			continue;
		w->rec.flags |= PATCH_F_NEWER;
		w->dirty = 1;
		w->tags = 1;
		marked++;
	}
	if (marked)
		run_report(r, "series %u %s \"%s\" v%u: v%u was posted (series %u); its %zu "
			   "open patch%s tagged pw/%s/series/newer ('pwnm supersede %u' "
			   "marks them superseded)",
			   o->rec.series_id, s->project, o->rec.name, o->rec.version,
			   s->rec.version, s->rec.series_id, marked, marked == 1 ? "" : "es",
			   s->project, o->rec.series_id);
}

/*
 * A series read from the server this run may be a later revision of
 * series pwnm has: their patches that are still open get the suggestion
 * tag (never pushed; `pwnm supersede` sends it, removing the tag drops
 * it).
 */
static void
series_newer_revisions(struct run *r)
{
	pwnm_txn_t *txn = NULL;
	struct rev_index ix = { 0 };
	struct series_work **now = NULL;
	size_t nnow = 0, b, i;

	/* the series read this run (a series marked below joins the table: listed first) */
	for (b = 0; b < r->scap; b++) {
		struct series_work *s;

		for (s = r->stab[b]; s; s = s->hnext) {
			if (!s->info_now || !s->project)
				continue;
			s->info_now = 0;
			now = xreallocarray(now, nnow + 1, sizeof(*now));
			now[nnow++] = s;
		}
	}
	if (!nnow || state_txn_begin(r->st, 0, &txn) != PWNM_STATUS_SUCCESS ||
	    rev_index_build(r, txn, &ix) != PWNM_STATUS_SUCCESS)
		goto out;
	for (i = 0; i < nnow; i++) {
		struct series_work *s = now[i];
		struct rev_entry *e;

		if (!*s->rec.name || !s->rec.submitter_id)
			continue;
		for (e = rev_first(&ix, revision_key(&s->rec)); e; e = rev_next(&ix, e)) {
			struct series_work *o;

			if (e->series_id == s->rec.series_id || e->version >= s->rec.version)
				continue;
			o = series_get(r, txn, e->series_id);
			if (!o || (o->rec.flags & (SERIES_F_NEWER | SERIES_F_DISMISSED)) ||
			    !older_revision(&o->rec, &s->rec))
				continue;
			mark_older(r, txn, s, o);
		}
	}
out:
	if (txn)
		state_txn_abort(txn);
	free(ix.v);
	free(ix.head);
	free(now);
}

/*
 * The patches of the series whose checks changed (check-created events
 * name one check; the combined state is the patch's): one listing per
 * series, run together, whatever the number of events.  The events that
 * named them are behind the cursor once the run commits, so a series
 * stays marked until its listing worked: the commit keeps the marked ones
 * (META_CHECKS) and a reason to ask again (checks_failed), and the next
 * run lists them.
 */
static void
remote_check_series(struct run *r)
{
	struct series_work **ss = NULL;
	uint32_t *ids = NULL;
	size_t n = 0, b, i;
	pwnm_status_t rc;

	for (b = 0; b < r->scap; b++) {
		struct series_work *s;

		for (s = r->stab[b]; s; s = s->hnext) {
			long k = run_project_index(r, s->rec.project_id);

			if (!s->checks || k < 0 || !r->poll[k] || r->poll_failed[k])
				continue;
			ids = xreallocarray(ids, n + 1, sizeof(*ids));
			ss = xreallocarray(ss, n + 1, sizeof(*ss));
			ss[n] = s;
			ids[n++] = s->rec.series_id;
		}
	}
	if (!n)
		return;
	rc = pw_list_series_patches(r->client, ids, n, remote_observe_patches, r);
	if (rc) {
		r->checks_failed = 1;
		run_error(r, rc, "the checks of %zu series: %s; listed again by the next run", n,
			  pw_client_error(r->client));
	} else {
		for (i = 0; i < n; i++)
			ss[i]->checks = 0;
	}
	free(ids);
	free(ss);
}

/*
 * The series the run must ask about: one listing per project
 * (?project=&since=, since the oldest of them), never a request per
 * patch or per series, and none when no series is new or incomplete.
 */
void
remote_series(struct run *r)
{
	size_t i, b;

	if (!r->client)
		return;
	remote_check_series(r);
	for (i = 0; i < r->nprojects; i++) {
		const char *since = NULL;
		int any = 0, all_dated = 1;
		struct pw_series *a = NULL;
		size_t n = 0, k;
		pwnm_status_t rc;

		if (!r->poll[i] || r->poll_failed[i])
			continue;
		for (b = 0; b < r->scap; b++) {
			struct series_work *s;

			for (s = r->stab[b]; s; s = s->hnext) {
				if (!s->need_info || s->rec.project_id != r->projects[i].id)
					continue;
				any = 1;
				if (!*s->rec.date)
					all_dated = 0;
				else if (!since || strcmp(s->rec.date, since) < 0)
					since = s->rec.date;
			}
		}
		if (!any)
			continue;
		rc = pw_list_series(r->client, r->projects[i].id, all_dated ? since : NULL, &a, &n);
		if (rc) {
			run_error(r, rc, "%s: %s", r->projects[i].link_name, pw_client_error(r->client));
			continue;
		}
		for (k = 0; k < n; k++) {
			struct series_work *s = series_find(r, a[k].id);

			if (s && s->need_info && a[k].project_id == s->rec.project_id)
				series_apply_info(s, &a[k]);
		}
		pw_series_array_free(a, n);
	}
	series_newer_revisions(r);
}

/* ---- a first sync's series list, taken in as it comes (libsync_pipe.c) ---- */

/*
 * s was just read from a first sync's series list: the series it is a
 * later revision of, and (among those read this run) the ones it is an
 * older revision of, are marked, as series_newer_revisions does at the
 * end of a run for the series read then.
 */
static void
series_revisions_streamed(struct run *r, pwnm_txn_t *txn, struct series_work *s)
{
	struct rev_index *ix = r->revix;
	struct rev_entry *e;

	if (!*s->rec.name || !s->rec.submitter_id)
		return;
	for (e = rev_first(ix, revision_key(&s->rec)); e; e = rev_next(ix, e)) {
		uint32_t id = e->series_id, version = e->version;
		int now = e->now;
		struct series_work *o;

		if (id == s->rec.series_id || version == s->rec.version)
			continue;
		if (version > s->rec.version && !now)
			continue;
		o = series_get(r, txn, id);
		if (!o)
			continue;
		if (version < s->rec.version) {
			if (!(o->rec.flags & (SERIES_F_NEWER | SERIES_F_DISMISSED)) &&
			    older_revision(&o->rec, &s->rec))
				mark_older(r, txn, s, o);
		} else if (!(s->rec.flags & (SERIES_F_NEWER | SERIES_F_DISMISSED)) &&
			   older_revision(&s->rec, &o->rec)) {
			mark_older(r, txn, o, s);
		}
	}
}

/*
 * After a page of series or a window: the series changed are written to
 * the store, and those nothing in the run waits for (their record, their
 * cover letter, their checks) are dropped; so the series held at once
 * stay about a window's and a page's, whatever their number.  A store
 * that cannot be written keeps them for the run's commit.
 */
void
series_settle(struct run *r)
{
	pwnm_txn_t *txn = NULL;
	pwnm_status_t rc = PWNM_STATUS_SUCCESS;
	size_t b, dirty = 0;

	for (b = 0; b < r->scap; b++) {
		struct series_work *s;

		for (s = r->stab[b]; s; s = s->hnext)
			dirty += s->dirty;
	}
	if (dirty && (rc = state_txn_begin(r->st, 1, &txn)) == PWNM_STATUS_SUCCESS) {
		for (b = 0; b < r->scap && !rc; b++) {
			struct series_work *s;

			for (s = r->stab[b]; s && !rc; s = s->hnext)
				if (s->dirty)
					rc = state_series_put(txn, &s->rec);
		}
		if (rc)
			state_txn_abort(txn);
		else
			rc = state_txn_commit(txn);
	}
	if (rc)
		return;
	for (b = 0; b < r->scap; b++) {
		struct series_work *s, *next;

		for (s = r->stab[b]; s; s = next) {
			next = s->hnext;
			s->dirty = 0;
			s->in_store = 1;
			if (s->need_info || s->checks || s->info_now)
				continue;
			/* a cover letter to write waits for it (none known: none to wait for) */
			if (s->cover && s->project && *s->rec.cover_msgid)
				continue;
			if (s->cover && s->project && !(s->rec.flags & SERIES_F_INFO))
				continue;
			series_drop(r, s);
		}
	}
}

pwnm_status_t
series_take_page(struct run *r, const struct pw_series *a, size_t n)
{
	pwnm_txn_t *txn = NULL;
	pwnm_status_t rc;
	size_t i;

	if ((rc = state_txn_begin(r->st, 0, &txn))) {
		run_error(r, rc, "cannot read the state database: %s", state_last_error(r->st));
		return rc;
	}
	if (!r->revix) {
		r->revix = xcalloc(1, sizeof(*r->revix));
		if ((rc = rev_index_build(r, txn, r->revix))) {
			state_txn_abort(txn);
			run_error(r, rc, "cannot read the state database: %s", state_last_error(r->st));
			return rc;
		}
	}
	for (i = 0; i < n; i++) {
		const struct pw_series *ps = &a[i];
		struct series_work *s;
		int cover;

		if (run_project_index(r, ps->project_id) < 0)
			continue;
		s = series_get(r, txn, ps->id);
		if (!s) {
			struct series_rec rec = { 0 };

			if (!ps->npatches)
				continue; /* no patch yet: nothing of pwnm's names it */
			rec.series_id = ps->id;
			rec.project_id = ps->project_id;
			s = series_insert(r, &rec, 0);
		} else if (s->rec.project_id != ps->project_id) {
			continue;
		}
		cover = s->cover;
		series_apply_info(s, ps);
		s->info_now = 0; /* its revisions now, not at the end of the run */
		if (!s->in_store)
			s->cover = cover; /* a new series' cover letter: when its patches are tagged */
		series_revisions_streamed(r, txn, s);
		rev_index_put(r->revix, &s->rec, 1);
	}
	state_txn_abort(txn);
	series_settle(r);
	return PWNM_STATUS_SUCCESS;
}

/*
 * w is in a window of a full list, merged: when its series was marked as
 * replaced by a later revision this run (before w was known), w gets the
 * suggestion tag as mark_older gives it.
 */
void
series_window_patch(struct run *r, struct work *w)
{
	if (!w->rec.series_id || (w->rec.flags & PATCH_F_NEWER) ||
	    !older_now_has(r, w->rec.series_id) || !newer_applies(w))
		return;
	w->rec.flags |= PATCH_F_NEWER;
	w->dirty = 1;
	w->tags = 1;
}

/* ---- step 2: a state tag on a cover letter ---- */

/* The state the user put on a cover letter: the one state tag that is not what pwnm wrote.  Caller frees. */
static char *
cover_new_state(const struct series_work *s, const struct tagset *tags)
{
	char *found = NULL;
	size_t i, n = 0;

	for (i = 0; i < tags->n; i++) {
		char *st = merge_state_of_tag(tags->v[i], s->project);

		if (!st || strcmp(st, s->rec.cover_state) == 0) {
			free(st);
			continue;
		}
		free(found);
		found = st;
		n++;
	}
	if (n == 1)
		return found;
	free(found);
	return NULL;
}

/*
 * The state the user chose for a set of patches (a series, a thread)
 * becomes each one's local value, unless the patch's own tags say
 * otherwise; their mails are rewritten to show it.  Returns how many
 * patches take it.
 */
static size_t
apply_state(struct run *r, notmuch_database_t *db, struct work **ws, size_t n, const char *state)
{
	size_t i, taken = 0;

	for (i = 0; i < n; i++) {
		struct work *w = ws[i];
		struct pw_values shown;
		struct field_value v = { state, 0 };
		unsigned bit = FIELD_BIT(FIELD_STATE);

		if (w->deleted || run_state_typo(r, w->rec.project_id, state))
			continue; /* a misspelt state (named by the scan) goes to no patch */
		if (!w->scanned)
			scan_observe_mail(r, db, w);
		shown_values(&w->rec, &w->out, w->has_out, &shown);
		if ((w->l_set & bit) && strcmp(w->l[FIELD_STATE].s ? w->l[FIELD_STATE].s : "",
					       shown.state ? shown.state : "") != 0)
			continue; /* the patch's own tags changed it: they win */
		field_copy_set(&w->l[FIELD_STATE], v);
		w->l_set |= bit;
		w->tags = 1;
		taken++;
	}
	return taken;
}

struct cover_change {
	struct series_work *s;
	char *state;
	struct work **ws;
	size_t nws;
};

/* The notmuch ids of every mail in nmid's thread; *n 0 when the mail is not found. */
static char **
thread_mails(notmuch_database_t *db, const char *nmid, size_t *n)
{
	notmuch_message_t *m = NULL;
	notmuch_query_t *q;
	notmuch_messages_t *msgs = NULL;
	char **v = NULL, *qs;
	size_t cap = 0;

	*n = 0;
	if (notmuch_database_find_message(db, nmid, &m) != NOTMUCH_STATUS_SUCCESS || !m)
		return NULL;
	qs = xasprintf("thread:%s", notmuch_message_get_thread_id(m));
	notmuch_message_destroy(m);
	q = notmuch_query_create(db, qs);
	free(qs);
	if (!q)
		fatal("out of memory");
	notmuch_query_set_omit_excluded(q, NOTMUCH_EXCLUDE_FALSE);
	if (notmuch_query_search_messages(q, &msgs) == NOTMUCH_STATUS_SUCCESS) {
		for (; notmuch_messages_valid(msgs); notmuch_messages_move_to_next(msgs)) {
			notmuch_message_t *t = notmuch_messages_get(msgs);

			if (*n == cap) {
				cap = cap ? cap * 2 : 16;
				v = xreallocarray(v, cap, sizeof(*v));
			}
			v[(*n)++] = xstrdup(notmuch_message_get_message_id(t));
			notmuch_message_destroy(t);
		}
	}
	notmuch_query_destroy(q);
	return v;
}

/*
 * A state tag on a mail that is no patch and no tracked cover letter (a
 * reply, the cover letter of a series pwnm does not track): it means the
 * patches of that project in the mail's thread.  They take it; the mail
 * loses it in the tag step.
 */
static void
scan_thread_mail(struct run *r, notmuch_database_t *db, const char *nmid,
		 const struct tagset *tags, int *handled)
{
	size_t i, p;

	for (p = 0; p < r->nprojects; p++) {
		const char *project = r->projects[p].link_name;
		char **ids, *state = NULL;
		size_t nids = 0, k, nws = 0, taken;
		struct work **ws = NULL;
		pwnm_txn_t *txn = NULL;
		int several = 0;

		for (i = 0; i < tags->n; i++) {
			char *st = merge_state_of_tag(tags->v[i], project);

			if (st && state && strcmp(st, state) != 0)
				several = 1;
			if (st) {
				free(state);
				state = st;
			}
		}
		if (!state)
			continue;
		*handled = 1;
		r->strays = xreallocarray(r->strays, r->nstrays + 1, sizeof(*r->strays));
		r->strays[r->nstrays].nmid = xstrdup(nmid);
		r->strays[r->nstrays].project = project;
		r->nstrays++;
		if (r->restore_only || several) {
			if (several && !r->restore_only)
				run_report(r, "note: %s: several %s state tags on a mail that is no patch; "
					   "none taken, they are removed", nmid, project);
			free(state);
			continue;
		}
		ids = thread_mails(db, nmid, &nids);
		if (state_txn_begin(r->st, 0, &txn) == PWNM_STATUS_SUCCESS) {
			for (k = 0; k < nids; k++) {
				struct patch_key *keys = NULL;
				size_t nk = 0, j;

				if (state_msgid_lookup(txn, ids[k], &keys, &nk) != PWNM_STATUS_SUCCESS)
					continue;
				for (j = 0; j < nk; j++) {
					struct work *w;

					if (keys[j].project_id != r->projects[p].id)
						continue;
					w = work_get(r, txn, keys[j].project_id, keys[j].patch_id);
					if (!w)
						continue;
					ws = xreallocarray(ws, nws + 1, sizeof(*ws));
					ws[nws++] = w;
				}
				free(keys);
			}
			state_txn_abort(txn);
		}
		for (k = 0; k < nids; k++)
			free(ids[k]);
		free(ids);
		taken = apply_state(r, db, ws, nws, state);
		if (nws == 0)
			run_report(r, "note: %s: pw/%s/%s on a mail that is no patch, and no patch of %s "
				   "in its thread; removed", nmid, project, state, project);
		else if (r->o->verbose || r->o->dry_run)
			run_report(r, "%s: pw/%s/%s on a mail that is no patch: set on the %zu patch%s of "
				   "its thread", nmid, project, state, taken, taken == 1 ? "" : "es");
		free(ws);
		free(state);
	}
}

/*
 * A mail the scan found changed that is no patch.  When it is the cover
 * letter of a tracked series, its tags are rewritten and a state tag the
 * user put on it is applied to the series' patches; any other mail with a
 * state tag means the patches of its thread.  *handled is set when the
 * mail was one of these (it is then no reason to ask the server).
 */
void
series_scan_mail(struct run *r, notmuch_database_t *db, const char *nmid,
		 const struct tagset *tags, int *handled)
{
	pwnm_txn_t *txn = NULL;
	uint32_t *ids = NULL;
	size_t n = 0, i, j, nch = 0;
	struct cover_change *ch;

	*handled = 0;
	if (state_txn_begin(r->st, 0, &txn) != PWNM_STATUS_SUCCESS)
		return;
	if (state_cover_lookup(txn, nmid, &ids, &n) != PWNM_STATUS_SUCCESS || n == 0) {
		state_txn_abort(txn);
		free(ids);
		scan_thread_mail(r, db, nmid, tags, handled);
		return;
	}
	*handled = 1;
	ch = xcalloc(n, sizeof(*ch));
	for (i = 0; i < n; i++) {
		struct series_work *s = series_get(r, txn, ids[i]);
		char *st;

		if (!s || !s->project)
			continue;
		s->cover = 1;
		if (r->restore_only || !(s->rec.flags & SERIES_F_COVER_TAGGED))
			continue;
		st = cover_new_state(s, tags);
		if (!st)
			continue;
		ch[nch].s = s;
		ch[nch].state = st;
		ch[nch].ws = xcalloc(s->rec.npatches + 1, sizeof(struct work *));
		for (j = 0; j < s->rec.npatches; j++) {
			struct work *w = work_get(r, txn, s->rec.project_id, s->rec.patches[j]);

			if (w)
				ch[nch].ws[ch[nch].nws++] = w;
		}
		nch++;
	}
	state_txn_abort(txn);
	for (i = 0; i < nch; i++) {
		struct series_work *s = ch[i].s;
		size_t taken = apply_state(r, db, ch[i].ws, ch[i].nws, ch[i].state);

		if (r->o->verbose || r->o->dry_run)
			run_report(r, "series %u %s \"%s\" v%u: %s set on its cover letter, for %zu of "
				   "its patches", s->rec.series_id, s->project, s->rec.name,
				   s->rec.version, ch[i].state, taken);
		if ((s->rec.flags & SERIES_F_INFO) &&
		    (!(s->rec.flags & SERIES_F_COMPLETE) || s->rec.npatches < s->rec.total))
			run_report(r, "series %u %s \"%s\" v%u: only %zu of %u patches received; %s "
				   "applies to those, set it on the others when they arrive",
				   s->rec.series_id, s->project, s->rec.name, s->rec.version,
				   s->rec.npatches, s->rec.total, ch[i].state);
		free(ch[i].state);
		free(ch[i].ws);
	}
	free(ch);
	free(ids);
}

/* ---- step 2: state tags left on mails that are no patch ---- */

/* The stray list gets nmid for project p (the tag step removes p's state tags from it). */
static void
stray_add(struct run *r, const char *nmid, const char *project)
{
	r->strays = xreallocarray(r->strays, r->nstrays + 1, sizeof(*r->strays));
	r->strays[r->nstrays].nmid = xstrdup(nmid);
	r->strays[r->nstrays].project = project;
	r->nstrays++;
}

static int
is_stray(const struct run *r, const char *nmid)
{
	size_t i;

	for (i = 0; i < r->nstrays; i++)
		if (strcmp(r->strays[i].nmid, nmid) == 0)
			return 1;
	return 0;
}

static void
query_add_tag(struct buf *q, const char *tag)
{
	const char *p;

	buf_adds(q, "tag:\"");
	for (p = tag; *p; p++) {
		if (*p == '"')
			buf_addc(q, '"');
		buf_addc(q, *p);
	}
	buf_addc(q, '"');
}

/*
 * The mails with a state tag of project and without pw/<project> (so no
 * patch pwnm tagged, and no cover letter it tagged), as a query; NULL
 * when no mail has a state tag of project.  all: the database's pw/ tags.
 */
static char *
stray_query(const struct tagset *all, const char *project)
{
	struct buf q = { 0 };
	char *own;
	size_t i, n = 0;

	for (i = 0; i < all->n; i++) {
		char *st = merge_state_of_tag(all->v[i], project);

		if (!st)
			continue;
		free(st);
		buf_adds(&q, n++ ? " or " : "(");
		query_add_tag(&q, all->v[i]);
	}
	if (!n)
		return NULL;
	buf_adds(&q, ") and not ");
	own = merge_project_tag(project);
	query_add_tag(&q, own);
	free(own);
	return buf_release(&q);
}

struct swept {
	char *nmid;
	struct tagset tags; /* its pw/ tags */
};

/* The mails matching qs not in seen yet: added to seen, and to *v with their pw/ tags when v. */
static void
query_mails(notmuch_database_t *db, const char *qs, struct tagset *seen, struct swept **v,
	    size_t *n)
{
	notmuch_query_t *q = notmuch_query_create(db, qs);
	notmuch_messages_t *msgs = NULL;

	if (!q)
		fatal("out of memory");
	notmuch_query_set_omit_excluded(q, NOTMUCH_EXCLUDE_FALSE);
	if (notmuch_query_search_messages(q, &msgs) == NOTMUCH_STATUS_SUCCESS) {
		for (; notmuch_messages_valid(msgs); notmuch_messages_move_to_next(msgs)) {
			notmuch_message_t *m = notmuch_messages_get(msgs);
			const char *id = notmuch_message_get_message_id(m);

			if (!tagset_has(seen, id)) {
				tagset_add(seen, id);
				if (v) {
					*v = xreallocarray(*v, *n + 1, sizeof(**v));
					(*v)[*n].nmid = xstrdup(id);
					memset(&(*v)[*n].tags, 0, sizeof((*v)[*n].tags));
					nm_message_pw_tags(m, &(*v)[*n].tags);
					(*n)++;
				}
			}
			notmuch_message_destroy(m);
		}
	}
	notmuch_query_destroy(q);
}

/* What a mail with state tags that is no patch mail is to the sweep. */
enum swept_kind { SWEPT_SKIP, SWEPT_COVER, SWEPT_FRESH, SWEPT_OLD };

/*
 * A --full run, and the first run that has this sweep (META_STRAYS_SWEPT
 * unset), look for state tags on mails that are no patch, which a run
 * sees otherwise only when such a mail changes.  One added since the last
 * run and not read by this run's scan (a --full scan reads only patch
 * mail) goes to the patches of its thread as series_scan_mail says; an
 * older one (left from before thread tagging, or on a database restored
 * from a dump) is no recent decision: it is only removed, and the patches
 * keep their states.  The cover letter of a tracked series is rewritten.
 * range_scanned: the scan read the mail changed since the last run.
 */
void
series_sweep_strays(struct run *r, notmuch_database_t *db, int range_scanned)
{
	struct tagset all = { 0 }, found = { 0 }, changed = { 0 };
	struct swept *v = NULL;
	enum swept_kind *kind = NULL;
	notmuch_tags_t *nt;
	pwnm_txn_t *txn = NULL;
	size_t p, i, j, n = 0, old = 0;
	int since_last = !range_scanned && !r->restore_only && r->stored_uuid &&
			 r->rev > r->stored_rev;

	if (!r->nprojects)
		return; /* nothing known yet: the first run that knows a project sweeps */
	for (nt = notmuch_database_get_all_tags(db); nt && notmuch_tags_valid(nt);
	     notmuch_tags_move_to_next(nt))
		if (strncmp(notmuch_tags_get(nt), "pw/", 3) == 0)
			tagset_add(&all, notmuch_tags_get(nt));
	if (nt)
		notmuch_tags_destroy(nt);
	for (p = 0; p < r->nprojects; p++) {
		char *qs = stray_query(&all, r->projects[p].link_name);

		if (!qs)
			continue;
		query_mails(db, qs, &found, &v, &n);
		if (since_last) {
			char *cq = xasprintf("lastmod:%lu..%lu and (%s)", r->stored_rev + 1, r->rev, qs);

			query_mails(db, cq, &changed, NULL, NULL);
			free(cq);
		}
		free(qs);
	}
	r->strays_swept = 1;
	if (!n)
		goto out;
	if (state_txn_begin(r->st, 0, &txn) != PWNM_STATUS_SUCCESS) {
		r->strays_swept = 0; /* the next run looks again */
		goto out;
	}
	kind = xcalloc(n, sizeof(*kind));
	for (i = 0; i < n; i++) {
		struct patch_key *keys = NULL;
		uint32_t *ids = NULL;
		size_t nk = 0, nc = 0;

		kind[i] = SWEPT_SKIP;
		if (is_stray(r, v[i].nmid))
			continue; /* the scan took it */
		if (state_msgid_lookup(txn, v[i].nmid, &keys, &nk) != PWNM_STATUS_SUCCESS || nk) {
			free(keys);
			continue; /* a patch: its tags are its own */
		}
		if (state_cover_lookup(txn, v[i].nmid, &ids, &nc) == PWNM_STATUS_SUCCESS && nc) {
			for (j = 0; j < nc; j++) {
				struct series_work *s = series_get(r, txn, ids[j]);

				if (s)
					s->cover = 1;
			}
			kind[i] = SWEPT_COVER;
		} else {
			kind[i] = tagset_has(&changed, v[i].nmid) ? SWEPT_FRESH : SWEPT_OLD;
		}
		free(ids);
	}
	state_txn_abort(txn);
	for (i = 0; i < n; i++) {
		int handled = 0;

		if (kind[i] == SWEPT_FRESH) {
			series_scan_mail(r, db, v[i].nmid, &v[i].tags, &handled);
			continue;
		}
		if (kind[i] != SWEPT_OLD)
			continue;
		old++;
		for (p = 0; p < r->nprojects; p++) {
			const char *project = r->projects[p].link_name;
			int has = 0;

			for (j = 0; j < v[i].tags.n; j++) {
				char *st = merge_state_of_tag(v[i].tags.v[j], project);

				if (!st)
					continue;
				if (r->o->verbose || r->o->dry_run) {
					char *shown = text_escape(v[i].tags.v[j]), *id = text_escape(v[i].nmid);

					run_report(r, "%s: %s on a mail that is no patch, from before the last "
						   "run: removed, the patches keep their states", id, shown);
					free(shown);
					free(id);
				}
				free(st);
				has = 1;
			}
			if (has)
				stray_add(r, v[i].nmid, project);
		}
	}
	if (old)
		run_report(r, "pwnm: state tags from before the last run removed from %zu mail%s that %s "
			   "no patch (replies, reviews); the patches keep their states%s", old,
			   old == 1 ? "" : "s", old == 1 ? "is" : "are",
			   r->o->verbose || r->o->dry_run ? "" : " (-v lists them)");
out:
	for (i = 0; i < n; i++) {
		free(v[i].nmid);
		tagset_free(&v[i].tags);
	}
	free(v);
	free(kind);
	tagset_free(&all);
	tagset_free(&found);
	tagset_free(&changed);
}

/* ---- step 6: the cover letters' tags ---- */

/* Every series with a patch whose mail is rewritten: its cover letter may show another state. */
void
series_mark_covers(struct run *r)
{
	pwnm_txn_t *txn = NULL;
	size_t i;

	if (state_txn_begin(r->st, 0, &txn) != PWNM_STATUS_SUCCESS)
		return;
	for (i = 0; i < r->wcap; i++) {
		struct work *w;

		for (w = r->wtab[i]; w; w = w->hnext) {
			struct series_work *s;

			if (!w->tags || !w->rec.series_id || w->held)
				continue;
			s = series_get(r, txn, w->rec.series_id);
			if (s)
				s->cover = 1;
		}
	}
	state_txn_abort(txn);
}

/* Is there a cover letter, or a mail with stray state tags, to write? */
int
series_covers_pending(struct run *r)
{
	return r->nstrays || series_covers_known(r);
}

/* The state every patch of the series shows, or NULL when they differ (or none is known). */
static const char *
series_common_state(struct run *r, pwnm_txn_t *txn, const struct series_work *s, char **owned)
{
	size_t i;
	char *common = NULL;
	int mixed = 0;

	*owned = NULL;
	for (i = 0; i < s->rec.npatches && !mixed; i++) {
		struct work *w = work_find(r, s->rec.project_id, s->rec.patches[i]);
		struct pw_values v;
		struct patch_rec rec;
		struct outbox_rec out;
		int has_out;

		if (w) {
			if (w->deleted)
				continue;
			shown_values(&w->rec, &w->out, w->has_out, &v);
			if (!common)
				common = xstrdup(v.state);
			else
				mixed = strcmp(common, v.state) != 0;
			continue;
		}
		if (state_patch_get(txn, s->rec.project_id, s->rec.patches[i], &rec))
			continue;
		has_out = state_outbox_get(txn, rec.project_id, rec.patch_id, &out) ==
			  PWNM_STATUS_SUCCESS;
		shown_values(&rec, &out, has_out, &v);
		if (!common)
			common = xstrdup(v.state);
		else
			mixed = strcmp(common, v.state) != 0;
		patch_rec_free(&rec);
		if (has_out)
			outbox_rec_free(&out);
	}
	if (mixed || !common || !*common) {
		free(common);
		return NULL;
	}
	*owned = common;
	return common;
}

/*
 * Write the tags of every cover letter marked: pw/<project>, the cover
 * mark, and the series' state when all its patches show the same one.
 * Mails changed since the scan (busy) are left for the next run.
 */
/* Take the state tags off the mails that are no patch (their patches took them). */
static void
write_strays(struct run *r, notmuch_database_t *db, const struct tagset *busy)
{
	size_t i, k;

	for (i = 0; i < r->nstrays; i++) {
		notmuch_message_t *m = NULL;
		struct tagset cur = { 0 }, want = { 0 };
		char *err = NULL;
		int changed = 0;

		if (tagset_has(busy, r->strays[i].nmid) ||
		    notmuch_database_find_message(db, r->strays[i].nmid, &m) || !m)
			continue;
		nm_message_pw_tags(m, &cur);
		tagset_copy(&want, &cur);
		for (k = 0; k < cur.n; k++) {
			char *st = merge_state_of_tag(cur.v[k], r->strays[i].project);

			if (st)
				tagset_del(&want, cur.v[k]);
			free(st);
		}
		if (r->o->dry_run) {
			if (!tagset_equal(&cur, &want))
				report_dry_tags(r, r->strays[i].nmid, &cur, &want);
		} else if (nm_message_set_pw_tags(m, &cur, &want, &changed, &err)) {
			run_error(r, PWNM_STATUS_NOTMUCH, "%s", err);
			free(err);
		} else if (changed) {
			r->res->messages_written++;
		}
		tagset_free(&cur);
		tagset_free(&want);
		notmuch_message_destroy(m);
	}
}

/*
 * The cover letters of the series marked (cover) whose record is known.
 * window (a window of a full list): each one looked at loses its mark,
 * so its series need not wait for the run's end.
 */
static void
write_cover_letters(struct run *r, notmuch_database_t *db, pwnm_txn_t *txn,
		    const struct tagset *busy, int window)
{
	size_t b;

	for (b = 0; b < r->scap; b++) {
		struct series_work *s;

		for (s = r->stab[b]; s; s = s->hnext) {
			notmuch_message_t *m = NULL;
			struct tagset cur = { 0 }, want = { 0 };
			char *nmid, *owned = NULL, *t, *err = NULL;
			const char *common;
			long k;
			int changed = 0;

			if (!s->cover || !*s->rec.cover_msgid || !s->project)
				continue;
			if (window)
				s->cover = 0;
			k = run_project_index(r, s->rec.project_id);
			if (k < 0 || !r->poll[k])
				continue;
			nmid = msgid_to_notmuch(s->rec.cover_msgid);
			if (!nmid || tagset_has(busy, nmid) ||
			    notmuch_database_find_message(db, nmid, &m) || !m) {
				free(nmid);
				continue;
			}
			common = series_common_state(r, txn, s, &owned);
			nm_message_pw_tags(m, &cur);
			tagset_copy(&want, &cur);
			merge_drop_project_tags(&want, s->project);
			t = merge_project_tag(s->project);
			if (t)
				tagset_add(&want, t);
			free(t);
			t = merge_cover_tag(s->project);
			if (t)
				tagset_add(&want, t);
			free(t);
			if (common && (t = merge_state_tag(s->project, common))) {
				tagset_add(&want, t);
				free(t);
			}
			if (r->o->dry_run) {
				if (!tagset_equal(&cur, &want))
					report_dry_tags(r, nmid, &cur, &want);
			} else if (nm_message_set_pw_tags(m, &cur, &want, &changed, &err)) {
				run_error(r, PWNM_STATUS_NOTMUCH, "%s", err);
				free(err);
			} else {
				if (changed)
					r->res->messages_written++;
				if (!(s->rec.flags & SERIES_F_COVER_TAGGED) ||
				    strcmp(s->rec.cover_state, common ? common : "") != 0) {
					s->rec.flags |= SERIES_F_COVER_TAGGED;
					str_set(&s->rec.cover_state, common ? common : "");
					s->dirty = 1;
				}
			}
			free(owned);
			free(nmid);
			tagset_free(&cur);
			tagset_free(&want);
			notmuch_message_destroy(m);
		}
	}
}

void
series_write_covers(struct run *r, notmuch_database_t *db, pwnm_txn_t *txn,
		    const struct tagset *busy)
{
	write_strays(r, db, busy);
	write_cover_letters(r, db, txn, busy, 0);
}

int
series_covers_known(struct run *r)
{
	size_t b;

	for (b = 0; b < r->scap; b++) {
		struct series_work *s;

		for (s = r->stab[b]; s; s = s->hnext)
			if (s->cover && *s->rec.cover_msgid && s->project)
				return 1;
	}
	return 0;
}

void
series_write_covers_window(struct run *r, notmuch_database_t *db, pwnm_txn_t *txn,
			   const struct tagset *busy)
{
	write_cover_letters(r, db, txn, busy, 1);
}

/* ---- step 1 ---- */

void
series_load_checks(struct run *r, pwnm_txn_t *txn)
{
	char *v = NULL, *p, *save = NULL;

	if (state_meta_get(txn, META_CHECKS, &v) != PWNM_STATUS_SUCCESS || !v)
		return;
	for (p = strtok_r(v, ";", &save); p; p = strtok_r(NULL, ";", &save)) {
		struct series_work *s;
		unsigned id;

		if (sscanf(p, "%u", &id) == 1 && (s = series_get(r, txn, id)))
			s->checks = 1;
	}
	free(v);
}

/* ---- step 7 ---- */

pwnm_status_t
series_commit(struct run *r, pwnm_txn_t *txn)
{
	pwnm_status_t rc = PWNM_STATUS_SUCCESS;
	struct buf pending = { 0 };
	size_t b;

	for (b = 0; b < r->scap && !rc; b++) {
		struct series_work *s;

		for (s = r->stab[b]; s && !rc; s = s->hnext) {
			if (s->dirty)
				rc = state_series_put(txn, &s->rec);
			if (s->checks)
				buf_printf(&pending, "%s%u", pending.len ? ";" : "", s->rec.series_id);
		}
	}
	/* the series whose checks are still to be listed (the run loaded every one kept) */
	if (!rc)
		rc = pending.len ? state_meta_put(txn, META_CHECKS, pending.data)
				 : state_meta_del(txn, META_CHECKS);
	buf_free(&pending);
	return rc;
}

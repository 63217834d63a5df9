/* libsync_pipe.c - the full patch lists taken in while they download: each window merged, tagged, committed, dropped */
#include "libsync_p.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "libutil.h"

/*
 * A first sync or --full lists every patch of its projects; its tag
 * writes are bound by Xapian and its listing by the server, so the two
 * overlap: a thread of its own runs the listings of every project at once
 * (pw_list_full: libpw's pages, kept in flight by the HTTP layer) and
 * queues each decoded page with its project, while the run's thread takes
 * the pages in as they came, whatever their project (a window may hold
 * patches of several), and once a window of PIPE_WINDOW patches is there
 * merges them, writes their tags in batches (the notmuch write lock held
 * per batch only) and commits their agreed values to the store.  Work
 * items then settled are dropped, so memory does not grow with the list.
 *
 * A thread rather than writes between polls of the transfers: a tag batch
 * ends in a Xapian commit that takes a while and cannot be cut into
 * steps, and the listing's thread needs nothing of the run but its HTTP
 * client, which the run's thread does not touch until the list has ended.
 * Only the queue below is shared.
 *
 * A page that cannot be taken in (the store cannot be read) ends the
 * taking in of its project only; the listing stops when every project's
 * has ended so.
 *
 * A project's first sync lists its series too, in the same batches: a
 * page of series is applied as it comes (series_take_page), and after it
 * and after each window the series changed are stored and those nothing
 * waits for are dropped (series_settle); a window writes the cover
 * letters of the series its patches changed.  So neither the patches nor
 * the series pile up.
 *
 * Cursors, the revision, the project records and users are written by
 * the run's own commit at its end: a run killed in the middle keeps
 * every window committed (and the series stored), and the next run lists
 * again.
 */

/* Pages decoded and not yet taken in: the listing waits beyond it. */
#define PIPE_QUEUE 16
/* Patches of a window (a test's PWNM_DEBUG_TAG_BATCH makes it smaller). */
#define PIPE_WINDOW TAG_BATCH

struct page {
	size_t proj;            /* index in the pipe's projects */
	struct pw_patch *a;     /* a page of patches, or */
	size_t n;
	struct pw_series *s;    /* one of series */
	size_t ns;
	struct page *next;
};

static void
page_free(struct page *pg)
{
	pw_patch_array_free(pg->a, pg->n);
	pw_series_array_free(pg->s, pg->ns);
	free(pg);
}

struct pipe;

/* What a sink call knows: its pipe and project. */
struct pipe_sink_data {
	struct pipe *pp;
	size_t proj;
};

struct pipe {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct page *head, *tail;
	size_t queued;
	int done;          /* the listing ended, each list's status in lists[] */
	int drop;          /* the run's thread takes nothing more in: pages are freed */
	int threaded;      /* else the listing runs in the caller's thread, unbounded */
	/* the listing */
	pw_client_t *client;
	struct pw_full_list *lists;
	struct pipe_sink_data *sd;
	size_t n;
};

static char *
dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* A deep copy of a decoded patch (the listing frees its own). */
static void
patch_dup(struct pw_patch *d, const struct pw_patch *s)
{
	*d = *s;
	d->project = dup_or_null(s->project);
	d->msgid = dup_or_null(s->msgid);
	d->state = dup_or_null(s->state);
	d->delegate = dup_or_null(s->delegate);
	d->date = dup_or_null(s->date);
	d->name = dup_or_null(s->name);
	d->web_url = dup_or_null(s->web_url);
	d->commit_ref = dup_or_null(s->commit_ref);
	d->hash = dup_or_null(s->hash);
	d->series_name = dup_or_null(s->series_name);
	d->series_date = dup_or_null(s->series_date);
	d->check = dup_or_null(s->check);
}

/* Queue pg (the listing's thread), after waiting for room; freed when the run takes no more. */
static void
pipe_queue(struct pipe *pp, struct page *pg)
{
	pthread_mutex_lock(&pp->mu);
	while (pp->threaded && pp->queued >= PIPE_QUEUE && !pp->drop)
		pthread_cond_wait(&pp->cv, &pp->mu);
	if (pp->drop) {
		pthread_mutex_unlock(&pp->mu);
		page_free(pg);
		return;
	}
	if (pp->tail)
		pp->tail->next = pg;
	else
		pp->head = pg;
	pp->tail = pg;
	pp->queued++;
	pthread_cond_broadcast(&pp->cv);
	pthread_mutex_unlock(&pp->mu);
}

/* The listing's sink for a project's patches (its thread). */
static void
pipe_sink(const struct pw_patch *a, size_t n, void *data)
{
	struct pipe_sink_data *sd = data;
	struct page *pg = xcalloc(1, sizeof(*pg));
	size_t i;

	pg->proj = sd->proj;
	pg->a = xcalloc(n + 1, sizeof(*pg->a));
	pg->n = n;
	for (i = 0; i < n; i++)
		patch_dup(&pg->a[i], &a[i]);
	pipe_queue(sd->pp, pg);
}

/* The listing's sink for a project's series (its thread). */
static void
pipe_series_sink(const struct pw_series *a, size_t n, void *data)
{
	struct pipe_sink_data *sd = data;
	struct page *pg = xcalloc(1, sizeof(*pg));
	size_t i;

	pg->proj = sd->proj;
	pg->s = xcalloc(n + 1, sizeof(*pg->s));
	pg->ns = n;
	for (i = 0; i < n; i++) {
		struct pw_series *d = &pg->s[i];

		*d = a[i];
		d->name = dup_or_null(a[i].name);
		d->date = dup_or_null(a[i].date);
		d->cover_msgid = dup_or_null(a[i].cover_msgid);
		d->patches = xcalloc(a[i].npatches + 1, sizeof(*d->patches));
		if (a[i].npatches)
			memcpy(d->patches, a[i].patches, a[i].npatches * sizeof(*d->patches));
	}
	pipe_queue(sd->pp, pg);
}

static void *
pipe_list(void *data)
{
	struct pipe *pp = data;

	pw_list_full(pp->client, pp->lists, pp->n);
	pthread_mutex_lock(&pp->mu);
	pp->done = 1;
	pthread_cond_broadcast(&pp->cv);
	pthread_mutex_unlock(&pp->mu);
	return NULL;
}

/* Its mail has nothing the user changed: the merge needs nothing the push could change. */
static int
local_unchanged(const struct work *w)
{
	size_t i;

	if (w->l_repair || w->l_note || w->l_conflict_tag || w->l_denied_tag ||
	    (w->rec.flags & (PATCH_F_CONFLICT | PATCH_F_DENIED)))
		return 0;
	for (i = 0; i < FIELD_COUNT; i++)
		if ((w->l_set & FIELD_BIT(i)) &&
		    !field_value_equal(field_copy_value(&w->l[i]),
				       field_agreed(&field_table[i], &w->rec)))
			return 0;
	return 1;
}

/*
 * Can w be settled within its window: merged now, its tags written and
 * its values committed?  Not when a push may still change it (a pending
 * change, a local one), nor when it is held, or waits for a recheck.
 */
static int
settles_now(struct run *r, struct work *w)
{
	if (w->piped || w->merged || w->held || w->deleted || w->has_out ||
	    (w->rec.flags & PATCH_F_RECHECK) || !work_tracked(r, w))
		return 0;
	if (r->o->project && strcmp(w->project, r->o->project) != 0)
		return 0;
	return !w->scanned || local_unchanged(w);
}

/* After its window's commit: w is what the store holds, as if just loaded from it. */
static void
work_stored(struct work *w)
{
	size_t i;

	w->in_store = 1;
	w->dirty = 0;
	w->tags = 0;
	w->merged = 0;
	w->piped = 0;
	w->remote_applied = 0;
	w->r_set = 0;
	for (i = 0; i < FIELD_COUNT; i++) {
		field_copy_set(&w->orig[i], field_agreed(&field_table[i], &w->rec));
		field_copy_free(&w->r[i]);
	}
	w->orig_flags = w->rec.flags;
}

struct window {
	struct work **ws;
	size_t n, cap;
};

/* Merge, write and commit one window; drop what is settled. */
static void
pipe_window(struct run *r, struct window *win)
{
	size_t i;
	pwnm_status_t rc;

	for (i = 0; i < win->n; i++) {
		merge_item(r, win->ws[i]);
		series_window_patch(r, win->ws[i]);
	}
	rc = sync_tags_window(r, win->ws, win->n);
	for (i = 0; i < win->n; i++) {
		win->ws[i]->tags = 0; /* written, or given up for this run */
		win->ws[i]->piped = 0;
	}
	if (!rc && !(rc = sync_commit_window(r, win->ws, win->n))) {
		/* what the window read and wrote of the store does not stay resident */
		state_release_map(r->st);
		for (i = 0; i < win->n; i++) {
			struct work *w = win->ws[i];

			work_stored(w);
			/* one the user changed meanwhile keeps its recheck for the run's end */
			if (!(w->rec.flags & PATCH_F_RECHECK))
				work_drop(r, w);
		}
		series_settle(r); /* their series, and cover letters, written */
	} else if (rc && !r->tags_failed) {
		/* Not committed: the run's own commit writes them at its end. */
		r->pipe_off = 1;
	}
	win->n = 0;
}

/* A page of project pj->p taken in; its patches that settle now join the window. */
static void
pipe_take(struct run *r, struct pipe_project *pj, struct page *pg, struct window *win)
{
	size_t i;

	if (pj->failed)
		return;
	if (pg->s) {
		if (series_take_page(r, pg->s, pg->ns))
			pj->failed = 1;
		return;
	}
	if (remote_take_page(r, pj->p, pg->a, pg->n)) {
		pj->failed = 1;
		return;
	}
	for (i = 0; i < pg->n && !r->pipe_off; i++) {
		struct work *w = work_find(r, pg->a[i].project_id, pg->a[i].id);

		if (!w || !settles_now(r, w))
			continue;
		w->piped = 1;
		if (win->n == win->cap) {
			win->cap = win->cap ? win->cap * 2 : 256;
			win->ws = xreallocarray(win->ws, win->cap, sizeof(*win->ws));
		}
		win->ws[win->n++] = w;
	}
}

void
pipe_full_lists(struct run *r, struct pipe_project *pj, size_t n, pw_progress_cb progress)
{
	struct pipe pp;
	struct window win = { 0 };
	pthread_t th;
	size_t window = TAG_BATCH, i;
	const char *dbg = getenv("PWNM_DEBUG_TAG_BATCH"); /* tests: small windows, as small batches */
	uint64_t u;
	int done = 0;

	if (dbg && parse_u64(dbg, &u) == 0 && u > 0 && u < PIPE_WINDOW)
		window = (size_t)u;
	memset(&pp, 0, sizeof(pp));
	pthread_mutex_init(&pp.mu, NULL);
	pthread_cond_init(&pp.cv, NULL);
	pp.client = r->client;
	pp.n = n;
	pp.lists = xcalloc(n + 1, sizeof(*pp.lists));
	pp.sd = xcalloc(n + 1, sizeof(*pp.sd));
	for (i = 0; i < n; i++) {
		pj[i].failed = 0;
		pp.sd[i].pp = &pp;
		pp.sd[i].proj = i;
		pp.lists[i].project_id = pj[i].p->id;
		pp.lists[i].since = pj[i].since;
		pp.lists[i].sink = pipe_sink;
		pp.lists[i].sdata = &pp.sd[i];
		pp.lists[i].progress = progress;
		pp.lists[i].pdata = (void *)pj[i].p->link_name;
		if (pj[i].series) {
			pp.lists[i].series_sink = pipe_series_sink;
			pp.lists[i].series_data = &pp.sd[i];
			pp.lists[i].series_since = pj[i].since;
		}
	}
	pp.threaded = pthread_create(&th, NULL, pipe_list, &pp) == 0;
	if (!pp.threaded)
		pipe_list(&pp); /* no thread: the whole list first, then the windows */
	while (!done) {
		struct page *pg, *next;
		int all_failed = 1;

		pthread_mutex_lock(&pp.mu);
		while (!pp.head && !pp.done)
			pthread_cond_wait(&pp.cv, &pp.mu);
		pg = pp.head;
		pp.head = pp.tail = NULL;
		pp.queued = 0;
		done = pp.done;
		pthread_cond_broadcast(&pp.cv);
		pthread_mutex_unlock(&pp.mu);
		/* the pages in the order they came, whatever their project */
		for (; pg; pg = next) {
			next = pg->next;
			pipe_take(r, &pj[pg->proj], pg, &win);
			page_free(pg);
			if (win.n >= window)
				pipe_window(r, &win);
		}
		for (i = 0; i < n; i++)
			all_failed &= pj[i].failed;
		if (all_failed && !pp.drop) {
			pthread_mutex_lock(&pp.mu);
			pp.drop = 1;
			pthread_cond_broadcast(&pp.cv);
			pthread_mutex_unlock(&pp.mu);
		}
	}
	if (pp.threaded)
		pthread_join(th, NULL);
	/* The last window: the listing ended (a failed one too: what came is kept, as before). */
	if (win.n)
		pipe_window(r, &win);
	free(win.ws);
	for (i = 0; i < n; i++) {
		pj[i].rc = pp.lists[i].status ? pp.lists[i].status
					      : pj[i].failed ? PWNM_STATUS_STATE : PWNM_STATUS_SUCCESS;
		pj[i].error = pp.lists[i].error;
	}
	free(pp.lists);
	free(pp.sd);
	pthread_cond_destroy(&pp.cv);
	pthread_mutex_destroy(&pp.mu);
}

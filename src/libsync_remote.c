/* libsync_remote.c - step 3 of a run: the server's news (events, new patches, full lists) and rechecks */
#include "libsync_p.h"
#include "libnet.h"
#include "liburl.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libutil.h"
#include "libwork.h"

static struct work *
work_new(struct run *r, uint32_t project_id, uint32_t patch_id, const char *msgid, const char *date)
{
	struct patch_rec rec = { 0 };

	rec.project_id = project_id;
	rec.patch_id = patch_id;
	rec.msgid = (char *)(uintptr_t)(msgid ? msgid : "");
	rec.date = date ? iso_to_unix(date) : 0;
	return work_insert(r, &rec, 0);
}

/* The server's value of field i for w; what it names is learnt (states seen, users). */
static void
observe_value(struct run *r, struct work *w, size_t i, struct field_value v)
{
	const struct field *f = &field_table[i];

	w->r_set |= FIELD_BIT(i);
	field_copy_set(&w->r[i], v);
	if (f->type == FIELD_USER)
		run_user_learn(r, v.s, v.id);
	else if (f->type == FIELD_SLUG)
		run_state_seen(r, w->rec.project_id, v.s);
}

/* A decoded patch: every field's value is the server's. */
static void
observe_patch_values(struct run *r, pwnm_txn_t *txn, struct work *w, const struct pw_patch *p)
{
	size_t i;

	for (i = 0; i < FIELD_COUNT; i++)
		observe_value(r, w, i, field_remote(&field_table[i], p));
	w->rec.flags &= ~PATCH_F_RECHECK;
	series_observe_patch(r, txn, w, p);
}

static void
observe_remote_patch(struct run *r, pwnm_txn_t *txn, const struct pw_patch *p)
{
	struct work *w;

	if (run_project_index(r, p->project_id) < 0)
		return; /* a patch of a project not tracked: ignored */
	w = work_get(r, txn, p->project_id, p->id);
	if (!w)
		w = work_new(r, p->project_id, p->id, p->msgid, p->date);
	observe_patch_values(r, txn, w, p);
}

/*
 * The work item of the patch an event names, made when pwnm does not
 * track it yet (*made set; NULL when the event names none, or no msgid).
 */
static struct work *
event_work(struct run *r, pwnm_txn_t *txn, const struct pw_event *e, int *made)
{
	struct work *w;

	*made = 0;
	if (!e->patch_id || run_project_index(r, e->project_id) < 0)
		return NULL; /* no patch, or one of a project not tracked */
	w = work_get(r, txn, e->project_id, e->patch_id);
	if (!w && e->msgid && *e->msgid) {
		w = work_new(r, e->project_id, e->patch_id, e->msgid,
			     e->patch_date && *e->patch_date ? e->patch_date : NULL);
		*made = 1;
	}
	return w;
}

static void
observe_remote_event(struct run *r, pwnm_txn_t *txn, const struct pw_event *e)
{
	int made;
	struct work *w;
	size_t i;

	if (e->category && strcmp(e->category, "check-created") == 0) {
		/*
		 * One check, not the patch's combined state: its series is listed
		 * again (remote_series).  A patch pwnm does not track: its checks
		 * do not matter.
		 */
		struct series_work *s;

		w = e->patch_id ? work_get(r, txn, e->project_id, e->patch_id) : NULL;
		if (!w)
			return;
		s = w->rec.series_id ? series_get(r, txn, w->rec.series_id) : NULL;
		if (s)
			s->checks = 1;
		else
			w->rec.flags |= PATCH_F_RECHECK;
		return;
	}
	w = event_work(r, txn, e, &made);
	if (!w)
		return;
	if (made)
		w->rec.flags |= PATCH_F_RECHECK; /* the event does not carry every field: fetch the patch */
	for (i = 0; i < FIELD_COUNT; i++) {
		struct field_value v;

		if (field_event(&field_table[i], e, &v)) {
			observe_value(r, w, i, v);
			merge_event(w, i, e, v);
		}
	}
}

/* ---- event cursors, bounded by the server's clock ---- */

/*
 * Event dates are the server's clock, without a time zone; the Date
 * header of each answer is the same clock (in UTC).  An event dated more
 * than CLOCK_SLACK past the server's Date (the widest time-zone offset,
 * 14 hours, and some) is dated in the future: its date cannot be a
 * cursor (every later event would sort before it and be missed), and its
 * values cannot be trusted to be the newest, so its patch is fetched
 * instead.  A stored cursor past the server's clock (a clock set back, or
 * a cursor from a future-dated event) is repaired by a full list.  Event
 * ids are only compared for equality: an id far above the others is not
 * taken to mean that every smaller id was seen.
 */
#define CLOCK_SLACK (14 * 3600 + 600)

static int
date_in_future(const char *date, int64_t server_now)
{
	return server_now > 0 && date && *date && iso_to_unix(date) > server_now + CLOCK_SLACK;
}

/* Events in the server's order: by date (whole seconds, then the text for its fraction), then id. */
static int
cmp_event_date(const void *a, const void *b)
{
	const struct pw_event *x = a, *y = b;

	return pw_event_order(x->date, x->id, y->date, y->id);
}

/* A future-dated event names this patch: fetch it (remote_recheck) rather than trust the event. */
static void
recheck_event_patch(struct run *r, pwnm_txn_t *txn, const struct pw_event *e)
{
	int made;
	struct work *w = event_work(r, txn, e, &made);

	if (w)
		w->rec.flags |= PATCH_F_RECHECK;
}

/* Two server dates in the server's order (<0, 0, >0). */
static int
cmp_date(const char *a, const char *b)
{
	return pw_event_order(a, 0, b, 0);
}

/*
 * The project's newest page of events not dated in the future (*n 0:
 * none), newest first; *more as pw_newest_events.
 */
static pwnm_status_t
newest_trusted_events(struct run *r, uint32_t project_id, struct pw_event **ev, size_t *n,
		      int *more)
{
	pwnm_status_t rc = pw_newest_events(r->client, project_id, NULL, ev, n, more);
	int64_t server_now = pw_server_time(r->client);
	char *before;

	if (rc || !*n || !date_in_future((*ev)[0].date, server_now))
		return rc;
	pw_event_array_free(*ev, *n);
	before = unix_to_iso(server_now + CLOCK_SLACK);
	rc = pw_newest_events(r->client, project_id, before, ev, n, more);
	free(before);
	return rc;
}

/*
 * Events dated before the cursor: an event can reach the list after
 * others dated later (a transaction that committed late, a clock stepped
 * back a little), and a list from the cursor on would never show it.
 * So a stretch of the events before the cursor is kept with it
 * (META_EVENTS_SEEN, "@<from>;<id>;<id>..."): where it starts, and the
 * ids of every event dated from there up to the cursor.  The events
 * poll lists from that start; an event in the stretch whose id is not
 * kept reached the list late, and is taken in without moving the cursor
 * back.
 *
 * The stretch reaches EVENT_OVERLAP back from the cursor, but never
 * before the start of the stretch it was made from (events older than
 * that were not listed, so a late one among them cannot be told from
 * one taken in before), and it holds at most a page of the server's
 * events, less one (a short page, so one request): after a burst (an
 * admin's script changing thousands of patches) it is the newest page
 * of events before the cursor, not the whole burst.  So an idle poll
 * costs one events request whatever came before, and a poll after new
 * events lists those and a page.  A late event dated before the
 * stretch, or more than EVENT_OVERLAP before the cursor, is seen only
 * by the next full list (pwnm.reconcile_interval).  A full list keeps
 * the stretch from the newest page of events it takes its cursor from.
 * With no stretch stored (a store of an older version, or a page whose
 * every event bears one date) the poll lists from the cursor itself,
 * the events up to the cursor's own counting as seen; ids stored
 * without a start (the format before) start EVENT_OVERLAP before the
 * cursor.
 */
#define EVENT_OVERLAP (10 * 60)

struct seen_ids {
	uint64_t *v;            /* the stretch's ids, sorted */
	size_t n;
	int stored;             /* a stretch is kept: else every event up to the cursor counts */
	char *from;             /* where the events list starts (owned) */
	char *raw;              /* as stored (owned), or NULL */
};

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
seen_free(struct seen_ids *s)
{
	free(s->v);
	free(s->from);
	free(s->raw);
	memset(s, 0, sizeof(*s));
}

/* The ids of text ("id;id..."), sorted; garbage ends them. */
static void
seen_parse_ids(struct seen_ids *s, const char *text)
{
	const char *p;
	char *end;

	for (p = text; *p;) {
		unsigned long long id = strtoull(p, &end, 10);

		if (end == p)
			break;
		s->v = xreallocarray(s->v, s->n + 1, sizeof(*s->v));
		s->v[s->n++] = id;
		p = *end == ';' ? end + 1 : end;
	}
	if (s->n > 1)
		qsort(s->v, s->n, sizeof(*s->v), cmp_u64);
}

/* Project p's kept stretch, and where its events list starts; nonzero (said) when the store fails. */
static pwnm_status_t
seen_load(struct run *r, const struct project_rec *p, struct seen_ids *s)
{
	char *key = xasprintf("%s%u", META_EVENTS_SEEN, p->id);
	pwnm_txn_t *txn;
	pwnm_status_t rc = state_txn_begin(r->st, 0, &txn);

	memset(s, 0, sizeof(*s));
	if (!rc) {
		rc = state_meta_get(txn, key, &s->raw);
		state_txn_abort(txn);
	}
	free(key);
	if (rc) {
		run_error(r, rc, "cannot read the state database: %s", state_last_error(r->st));
		return rc;
	}
	if (s->raw && s->raw[0] == '@') {
		const char *semi = strchr(s->raw, ';');
		size_t len = semi ? (size_t)(semi - s->raw - 1) : strlen(s->raw + 1);

		s->from = xstrndup(s->raw + 1, len);
		if (iso_to_unix(s->from) >= 0 && cmp_date(s->from, p->event_cursor) <= 0) {
			s->stored = 1;
			if (semi)
				seen_parse_ids(s, semi + 1);
			return PWNM_STATUS_SUCCESS;
		}
		free(s->from); /* not a start before the cursor: as if none were kept */
		s->from = NULL;
	} else if (s->raw) {
		s->stored = 1;
		s->from = unix_to_iso(iso_to_unix(p->event_cursor) - EVENT_OVERLAP);
		seen_parse_ids(s, s->raw);
		return PWNM_STATUS_SUCCESS;
	}
	s->from = xstrdup(p->event_cursor);
	return PWNM_STATUS_SUCCESS;
}

static int
seen_has(const struct seen_ids *s, uint64_t id)
{
	return s->n && bsearch(&id, s->v, s->n, sizeof(*s->v), cmp_u64) != NULL;
}

/* The project's stretch for the commit (ids NULL: none kept); replaces one recorded before. */
static void
seen_record(struct run *r, uint32_t project_id, char *ids)
{
	size_t i;

	for (i = 0; i < r->nseen; i++) {
		if (r->seen[i].project_id == project_id) {
			free(r->seen[i].ids);
			r->seen[i].ids = ids;
			return;
		}
	}
	r->seen = xreallocarray(r->seen, r->nseen + 1, sizeof(*r->seen));
	r->seen[r->nseen].project_id = project_id;
	r->seen[r->nseen].ids = ids;
	r->nseen++;
}

/*
 * The stretch kept with cursor, as stored: ev (sorted, cmp_event_date)
 * holds every event dated from `known` on (NULL: every event there is
 * up to the cursor), of which at most keep are kept.  NULL: none
 * (every event in reach bears the date of the newest).
 */
static char *
stretch_text(const struct pw_event *ev, size_t nev, const char *known, const char *cursor,
	     int64_t server_now, size_t keep)
{
	char *back = unix_to_iso(iso_to_unix(cursor) - EVENT_OVERLAP);
	const char *from = known && cmp_date(known, back) > 0 ? known : back;
	const struct pw_event **w = xcalloc(nev + 1, sizeof(*w));
	uint64_t *v;
	struct buf b = { 0 };
	size_t i, n = 0, j = 0;

	for (i = 0; i < nev; i++)
		if (!date_in_future(ev[i].date, server_now) && cmp_date(ev[i].date, from) >= 0)
			w[n++] = &ev[i];
	if (keep < 1)
		keep = 1;
	if (n > keep) {
		/* the newest keep, less those sharing a date with the one before them */
		for (j = n - keep; j < n && cmp_date(w[j]->date, w[j - 1]->date) == 0; j++)
			;
		if (j == n) {
			free(w);
			free(back);
			return NULL;
		}
		from = w[j]->date;
	}
	buf_printf(&b, "@%s", from);
	free(back);
	v = xcalloc(n - j + 1, sizeof(*v));
	for (i = j; i < n; i++)
		v[i - j] = w[i]->id;
	free(w);
	if (n - j > 1)
		qsort(v, n - j, sizeof(*v), cmp_u64);
	for (i = 0; i < n - j; i++)
		if (!i || v[i] != v[i - 1])
			buf_printf(&b, ";%llu", (unsigned long long)v[i]);
	free(v);
	return buf_release(&b);
}

/* The stretch after a poll that listed ev (sorted) from old->from, recorded when it changed. */
static void
seen_update(struct run *r, const struct project_rec *p, const struct pw_event *ev, size_t nev,
	    int64_t server_now, size_t page, const struct seen_ids *old)
{
	char *text;

	if (!*p->event_cursor)
		return;
	/* less one: the list from the stretch's start is a short page */
	text = stretch_text(ev, nev, old->from, p->event_cursor, server_now, page - 1);
	if (old->stored ? text && strcmp(old->raw, text) == 0 : !text) {
		free(text);
		return; /* unchanged: nothing to write */
	}
	seen_record(r, p->id, text);
}

/*
 * A full list's cursor and stretch, from the project's newest page of
 * events (ev, newest first; n 0: no cursor, no stretch): the cursor is
 * the newest; with more events than the page held, those bearing the
 * date of the page's oldest may have others beyond the page, so the
 * stretch starts after them.
 */
struct full_start {
	uint64_t id;
	char *date;             /* the cursor, or NULL */
	char *stretch;          /* as stored, or NULL */
};

static void
full_start_make(struct run *r, struct pw_event *ev, size_t n, int more, struct full_start *fs)
{
	const char *known = NULL;
	size_t j = 1;

	memset(fs, 0, sizeof(*fs));
	if (!n)
		return;
	if (n > 1)
		qsort(ev, n, sizeof(*ev), cmp_event_date);
	fs->id = ev[n - 1].id;
	fs->date = xstrdup(ev[n - 1].date ? ev[n - 1].date : "");
	if (more) {
		while (j < n && cmp_date(ev[j].date, ev[0].date) == 0)
			j++;
		if (j == n)
			return;
		known = ev[j].date;
	}
	fs->stretch = stretch_text(ev, n, known, fs->date, pw_server_time(r->client), n);
}
/* ---- end of event cursors ---- */

/* Patches from a listing that is no project's full list (the patches of a series). */
void
remote_observe_patches(const struct pw_patch *a, size_t n, void *data)
{
	struct run *r = data;
	pwnm_txn_t *txn;
	size_t i;

	if (state_txn_begin(r->st, 0, &txn) != PWNM_STATUS_SUCCESS) {
		run_error(r, PWNM_STATUS_STATE, "cannot read the state database: %s",
			  state_last_error(r->st));
		return;
	}
	for (i = 0; i < n; i++)
		observe_remote_patch(r, txn, &a[i]);
	state_txn_abort(txn);
}

struct page_sink {
	struct run *r;
	struct project_rec *p;
	int failed;             /* a page could not be merged (the store could not be read) */
};

pwnm_status_t
remote_take_page(struct run *r, struct project_rec *p, const struct pw_patch *a, size_t n)
{
	pwnm_txn_t *txn;
	size_t i;

	run_fault_point(r, "observe-page");
	if (state_txn_begin(r->st, 0, &txn) != PWNM_STATUS_SUCCESS) {
		run_error(r, PWNM_STATUS_STATE, "cannot read the state database: %s",
			  state_last_error(r->st));
		return PWNM_STATUS_STATE;
	}
	for (i = 0; i < n; i++) {
		observe_remote_patch(r, txn, &a[i]);
		if (a[i].id > p->max_patch_id)
			p->max_patch_id = a[i].id;
	}
	state_txn_abort(txn);
	return PWNM_STATUS_SUCCESS;
}

static void
observe_page(const struct pw_patch *a, size_t n, void *data)
{
	struct page_sink *ps = data;

	if (!ps->failed && remote_take_page(ps->r, ps->p, a, n))
		ps->failed = 1;
}

static void
progress_cb(unsigned done, unsigned total, void *data)
{
	const char *name = data;

	fprintf(stderr, "\rpwnm: %s: page %u/%u", name, done, total);
	if (done >= total)
		fputc('\n', stderr);
	fflush(stderr);
}

pwnm_status_t
remote_client_ready(struct run *r)
{
	struct http_options ho = { 0 };
	pwnm_status_t rc;
	pwnm_txn_t *txn;
	char *ver = NULL, *origin;
	const char *v = NULL;

	if (r->client)
		return PWNM_STATUS_SUCCESS;
	origin = url_origin(r->cfg->url);
	if (!origin) {
		run_error(r, PWNM_STATUS_CONFIG, "pwnm.url '%s' is not an http(s) URL", r->cfg->url);
		return PWNM_STATUS_CONFIG;
	}
	net_http_options(r->cfg, &ho);
	ho.token = r->token;
	ho.max_parallel = r->o->jobs > 0 ? r->o->jobs : r->cfg->jobs;
	ho.wait_note = !r->o->quiet && isatty(2); /* "waiting for <host>..." on a terminal */
	ho.max_retries = r->o->hook ? 1 : 3;
	ho.deadline_ms = r->o->deadline_ms;
	if (r->o->hook) {
		ho.connect_timeout_ms = 3000;
		ho.timeout_ms = 10000;
		ho.retry_max_ms = 2000;
	}
	rc = http_new(&ho, &r->http);
	free(origin);
	if (rc) {
		run_error(r, rc, "cannot set up HTTP");
		return rc;
	}
	r->client = pw_client_new(r->http, r->cfg->url);
	if ((rc = state_txn_begin(r->st, 0, &txn)) == PWNM_STATUS_SUCCESS) {
		state_meta_get(txn, META_API_VERSION, &ver);
		state_txn_abort(txn);
	}
	if (ver && *ver) {
		pw_set_version(r->client, ver);
		r->api_version = ver;
		return PWNM_STATUS_SUCCESS;
	}
	free(ver);
	rc = pw_discover(r->client, &v);
	if (rc) {
		run_error(r, rc, "%s", pw_client_error(r->client));
		pw_client_free(r->client);
		r->client = NULL;
		return rc;
	}
	r->api_version = xstrdup(v);
	return PWNM_STATUS_SUCCESS;
}

/*
 * A name in pwnm.projects that the server does not have: said with the
 * nearest name it has, or the names it has when none is near, and kept
 * for remote_report_projects.
 */
static void
remote_no_such_project(struct run *r, const char *name, const struct pw_project *pl, size_t npl)
{
	const char **names = xcalloc(npl + 1, sizeof(*names));
	struct buf known = { 0 };
	char *shown = text_escape(name);
	size_t j;
	long near;

	for (j = 0; j < npl; j++) {
		names[j] = pl[j].link_name;
		buf_printf(&known, "%s%s", j ? ", " : "", pl[j].link_name);
	}
	near = nearest_name(name, names, npl);
	if (near >= 0)
		run_error(r, PWNM_STATUS_CONFIG,
			  "%s: no such project on %s; did you mean %s? fix pwnm.projects", shown,
			  r->cfg->url, names[near]);
	else
		run_error(r, PWNM_STATUS_CONFIG,
			  "%s: no such project on %s (it has: %s); fix pwnm.projects", shown,
			  r->cfg->url, known.data ? known.data : "none");
	r->missing = xreallocarray(r->missing, r->nmissing + 1, sizeof(*r->missing));
	r->missing[r->nmissing++] = xstrdup(name);
	buf_free(&known);
	free(shown);
	free(names);
}

/*
 * After a run in which a name of pwnm.projects was not on the server:
 * one line with the projects that were synced and those that were not,
 * since the run's status (1) alone does not say the others were.
 */
void
remote_report_projects(struct run *r, int committed)
{
	struct buf ok = { 0 }, not = { 0 };
	size_t i;

	if (!r->nmissing || r->o->quiet)
		return;
	for (i = 0; i < r->nprojects; i++) {
		if (!r->poll[i])
			continue;
		buf_printf(committed && r->polled_ok[i] ? &ok : &not, "%s%s",
			   (committed && r->polled_ok[i] ? ok.len : not.len) ? ", " : "",
			   r->projects[i].link_name);
	}
	for (i = 0; i < r->nmissing; i++) {
		char *shown = text_escape(r->missing[i]);

		buf_printf(&not, "%s%s", not.len ? ", " : "", shown);
		free(shown);
	}
	warn("projects synced: %s; not synced: %s", ok.len ? ok.data : "none", not.data);
	buf_free(&ok);
	buf_free(&not);
}

/* Make sure every configured project is known (id, link_name); asks the server for new ones. */
static pwnm_status_t
remote_resolve_projects(struct run *r, int may_ask)
{
	const struct pwnm_config *cfg = r->cfg;
	struct pw_project *pl = NULL;
	size_t npl = 0, i, j;
	int asked = 0;
	pwnm_status_t rc = PWNM_STATUS_SUCCESS;

	for (i = 0; i < cfg->nprojects; i++) {
		const char *name = cfg->projects[i];
		int found = 0;

		if (r->o->project && strcmp(r->o->project, name) != 0)
			continue;
		for (j = 0; j < r->nprojects; j++) {
			if (strcmp(r->projects[j].link_name, name) == 0) {
				r->poll[j] = 1;
				found = 1;
			}
		}
		if ((found && r->lists) || !may_ask)
			continue;
		if (!asked) {
			asked = 1;
			if ((rc = remote_client_ready(r)))
				return rc;
			rc = pw_list_projects(r->client, &pl, &npl);
			if (rc) {
				run_error(r, rc, "%s", pw_client_error(r->client));
				return rc;
			}
		}
		if (found)
			continue;
		for (j = 0; j < npl; j++) {
			if (strcmp(pl[j].link_name, name) == 0) {
				struct project_rec *p;

				r->projects = xreallocarray(r->projects, r->nprojects + 1, sizeof(*r->projects));
				r->poll = xreallocarray(r->poll, r->nprojects + 1, sizeof(int));
				r->proj_dirty = xreallocarray(r->proj_dirty, r->nprojects + 1, sizeof(int));
				r->poll_failed = xreallocarray(r->poll_failed, r->nprojects + 1, sizeof(int));
				r->polled_ok = xreallocarray(r->polled_ok, r->nprojects + 1, sizeof(int));
				p = &r->projects[r->nprojects];
				memset(p, 0, sizeof(*p));
				p->id = pl[j].id;
				p->link_name = xstrdup(pl[j].link_name);
				p->web_url = xstrdup(pl[j].web_url ? pl[j].web_url : "");
				p->event_cursor = xstrdup("");
				p->states_seen = xstrdup("");
				r->poll[r->nprojects] = 1;
				r->proj_dirty[r->nprojects] = 1;
				r->poll_failed[r->nprojects] = 0;
				r->polled_ok[r->nprojects] = 0;
				r->nprojects++;
				found = 1;
				break;
			}
		}
		if (!found)
			remote_no_such_project(r, name, pl, npl);
	}
	if (asked) {
		/* The List-Ids of the tracked projects, to recognise their new mail. */
		struct buf b = { 0 };

		for (i = 0; i < cfg->nprojects; i++)
			for (j = 0; j < npl; j++)
				if (strcmp(pl[j].link_name, cfg->projects[i]) == 0 && pl[j].list_id &&
				    *pl[j].list_id && !strchr(pl[j].list_id, ';'))
					buf_printf(&b, "%s%s", b.len ? ";" : "", pl[j].list_id);
		free(r->lists);
		r->lists = buf_release(&b);
		r->lists_dirty = 1;
	}
	if (r->o->project) {
		int any = 0;

		for (j = 0; j < r->nprojects; j++)
			any |= r->poll[j];
		if (!any && !r->first_error)
			run_error(r, PWNM_STATUS_USAGE, "project '%s' is not in pwnm.projects",
				  r->o->project);
	}
	pw_project_array_free(pl, npl);
	return PWNM_STATUS_SUCCESS;
}

static int
run_has_pending(struct run *r)
{
	size_t i;

	for (i = 0; i < r->wcap; i++) {
		struct work *w;

		for (w = r->wtab[i]; w; w = w->hnext)
			if (w->scanned || (w->has_out && has_work_outbox(&w->out)))
				return 1;
	}
	return 0;
}

/* What of project idx waits for the next run, in words ("its news and 2 changes wait ..."). */
static const char *
waiting_text(struct run *r, size_t idx)
{
	static char text[96];
	unsigned n = 0;
	size_t i;

	for (i = 0; i < r->wcap; i++) {
		struct work *w;

		for (w = r->wtab[i]; w; w = w->hnext)
			if (w->rec.project_id == r->projects[idx].id &&
			    (w->scanned || (w->has_out && has_work_outbox(&w->out))))
				n++;
	}
	if (n)
		snprintf(text, sizeof(text), "its news and %u patch%s with local changes wait for the next run",
			 n, n == 1 ? "" : "es");
	else
		snprintf(text, sizeof(text), "its news wait for the next run");
	return text;
}

/* How a project is polled. */
enum poll_kind {
	POLL_NONE,        /* not now */
	POLL_EVENTS,      /* the events since the cursor, and the patches above the highest seen */
	POLL_EVENTS_ONLY, /* a push without a poll: the events only, to see conflicts */
	POLL_FULL,        /* the whole patch list of pwnm.window (archiving has no event) */
};

/*
 * The first run, --full, a run by hand past pwnm.reconcile_interval: a
 * full list.  A hook never makes a first sync (it says so), and polls
 * only when a reason forces it or the poll is due.
 */
static enum poll_kind
poll_kind(struct run *r, const struct project_rec *p, int force_poll, int events_only, int64_t now)
{
	const struct sync_opts *o = r->o;
	int first = !*p->event_cursor && p->last_reconcile == 0;
	int full = first || o->full;

	if (events_only)
		return first ? POLL_NONE : POLL_EVENTS_ONLY;
	if (!o->hook && !full && r->cfg->reconcile_interval &&
	    now - p->last_reconcile >= r->cfg->reconcile_interval)
		full = 1;
	if (o->hook && first) {
		run_report(r, "pwnm: project %s has never been synced; run 'pwnm sync' once", p->link_name);
		return POLL_NONE;
	}
	if (o->hook && !full && !force_poll && !has_work_poll(p, now, r->cfg->poll_interval) &&
	    !reason_due(&r->reason, now))
		return POLL_NONE;
	return full ? POLL_FULL : POLL_EVENTS;
}

/*
 * The news of an incremental poll (pw_poll_projects) taken in: every
 * event since the cursor, the cursor's own event included (since is
 * inclusive): when that event is gone (*gone CURSOR_GONE) the server has
 * dropped history pwnm has not seen, and only a full list is safe; so it
 * is when the cursor is ahead of the server's clock (CURSOR_AHEAD).
 * Events at or before the cursor's own, in the server's order, were
 * handled before, except one that reached the list late (in the kept
 * stretch, listed from its start, seen, with an id not among its own).
 * Then the patches above the highest id seen.
 */
enum { CURSOR_OK, CURSOR_GONE, CURSOR_AHEAD };

static pwnm_status_t
poll_take(struct run *r, struct project_rec *p, struct pw_poll *pl, const struct seen_ids *seen,
	  int *gone)
{
	struct pw_event *ev = pl->ev;
	size_t nev = pl->nev, skip = 0, i;
	pwnm_txn_t *txn = NULL;
	pwnm_status_t rc;
	int64_t server_now = pw_server_time(r->client);

	*gone = CURSOR_OK;
	if (date_in_future(p->event_cursor, server_now)) {
		*gone = CURSOR_AHEAD;
		return PWNM_STATUS_SUCCESS;
	}
	if (nev > 1)
		qsort(ev, nev, sizeof(*ev), cmp_event_date);
	if (p->event_last_id && *p->event_cursor) {
		int found = 0;

		for (skip = 0; skip < nev && !found; skip++)
			found = ev[skip].id == p->event_last_id;
		/* skip: past the cursor's own event and what sorts before it (the overlap) */
		if (!found) {
			*gone = CURSOR_GONE;
			return PWNM_STATUS_SUCCESS;
		}
	}
	run_fault_point(r, "observe-events");
	rc = state_txn_begin(r->st, 0, &txn);
	if (rc) {
		/* The news were read but not taken in: the cursor stays, the project is not polled. */
		run_error(r, rc, "cannot read the state database: %s", state_last_error(r->st));
		return PWNM_STATUS_STATE;
	}
	for (i = 0; i < nev; i++) {
		if (i < skip) {
			/* at or before the cursor's own: new only when dated late (above) */
			if (!seen->stored || i + 1 == skip || seen_has(seen, ev[i].id) ||
			    cmp_date(ev[i].date, seen->from) < 0)
				continue;
			debug("sync", "%s: event %llu dated %s, before the cursor: taken in",
			      p->link_name, (unsigned long long)ev[i].id, ev[i].date);
			observe_remote_event(r, txn, &ev[i]);
			continue;
		}
		if (date_in_future(ev[i].date, server_now)) {
			/* sorts last: the cursor stays on the last event dated in time */
			recheck_event_patch(r, txn, &ev[i]);
			continue;
		}
		observe_remote_event(r, txn, &ev[i]);
		p->event_last_id = ev[i].id;
		str_set(&p->event_cursor, ev[i].date);
	}
	for (i = 0; i < pl->n; i++) {
		observe_remote_patch(r, txn, &pl->patches[i]);
		if (pl->patches[i].id > p->max_patch_id)
			p->max_patch_id = pl->patches[i].id;
	}
	state_txn_abort(txn);
	seen_update(r, p, ev, nev, server_now, pl->ev_page, seen);
	return PWNM_STATUS_SUCCESS;
}

/* A project not asked because the server gave no answer to another: one line saying what waits. */
static void
remote_not_asked(struct run *r, size_t idx)
{
	r->poll_failed[idx] = 1;
	run_error(r, PWNM_STATUS_NETWORK, "%s: not asked, the server did not answer; %s",
		  r->projects[idx].link_name, waiting_text(r, idx));
}

/* Polling project idx failed with rc (text err): marked poll_failed, and said. */
static void
remote_poll_failed(struct run *r, size_t idx, pwnm_status_t rc, const char *err)
{
	struct project_rec *p = &r->projects[idx];

	r->poll_failed[idx] = 1;
	if (rc == PWNM_STATUS_NETWORK || rc == PWNM_STATUS_TIMEOUT) {
		/* No answer at all: the other projects are not asked this run either. */
		r->server_silent = 1;
		run_error(r, rc, "%s: %s; %s", p->link_name, err, waiting_text(r, idx));
		return;
	}
	if (rc != PWNM_STATUS_STATE) /* the store's failures were said where they happened */
		run_error(r, rc, "%s: %s", p->link_name, err);
}

static void
remote_polled(struct run *r, size_t idx, int64_t now)
{
	r->projects[idx].last_poll = now;
	r->proj_dirty[idx] = 1;
	r->polled_ok[idx] = !r->poll_failed[idx];
}

/*
 * The full lists of the projects at[0..n) (a first sync, --full, a
 * reconcile): each project's newest event first, then every patch list
 * of pwnm.window at once (pw_list_full: pwnm.jobs requests in flight),
 * each page merged as it comes; unless --dry-run its tags are written
 * and its values committed while the next pages download
 * (libsync_pipe.c).  A project whose list worked has its event cursor
 * moved to that newest event and is polled; one that failed is said
 * (remote_poll_failed), its cursor and reconcile time stay.
 */
static void
poll_full(struct run *r, const size_t *at, size_t n, int64_t now)
{
	struct pipe_project *pj = xcalloc(n + 1, sizeof(*pj));
	struct full_start *fs = xcalloc(n + 1, sizeof(*fs));
	size_t *idx = xcalloc(n + 1, sizeof(*idx));
	char *since = NULL;
	size_t i, np = 0;
	pw_progress_cb progress = r->o->progress ? progress_cb : NULL;

	if (!r->o->all_history && r->cfg->window > 0)
		since = unix_to_iso(now - r->cfg->window);
	for (i = 0; i < n; i++) {
		struct pw_event *newest = NULL;
		size_t nnewest = 0;
		int more = 0;
		pwnm_status_t rc;

		if (r->server_silent) {
			remote_not_asked(r, at[i]);
			continue;
		}
		/*
		 * Before the list (an event during it is taken in by the next run):
		 * the newest page of events, the cursor and the stretch kept before it.
		 */
		rc = newest_trusted_events(r, r->projects[at[i]].id, &newest, &nnewest, &more);
		if (rc) {
			remote_poll_failed(r, at[i], rc, pw_client_error(r->client));
			continue;
		}
		full_start_make(r, newest, nnewest, more, &fs[np]);
		merge_events_unconfirmed(r, newest, nnewest); /* pushes whose answer was lost */
		pw_event_array_free(newest, nnewest);
		pj[np].p = &r->projects[at[i]];
		pj[np].since = since;
		/* a first sync needs every series: listed with the patches (later, only those new) */
		pj[np].series = !*pj[np].p->event_cursor && pj[np].p->last_reconcile == 0;
		idx[np++] = at[i];
	}
	if (np && !r->o->dry_run) {
		pipe_full_lists(r, pj, np, progress);
	} else if (np) {
		/* --dry-run: every page merged into the run as it comes, nothing written */
		struct pw_full_list *fl = xcalloc(np, sizeof(*fl));
		struct page_sink *ps = xcalloc(np, sizeof(*ps));

		for (i = 0; i < np; i++) {
			ps[i].r = r;
			ps[i].p = pj[i].p;
			fl[i].project_id = pj[i].p->id;
			fl[i].since = since;
			fl[i].sink = observe_page;
			fl[i].sdata = &ps[i];
			fl[i].progress = progress;
			fl[i].pdata = (void *)pj[i].p->link_name;
		}
		pw_list_full(r->client, fl, np);
		for (i = 0; i < np; i++) {
			/* a page not taken in: neither cursor nor reconcile time move */
			pj[i].rc = fl[i].status ? fl[i].status : ps[i].failed ? PWNM_STATUS_STATE : 0;
			pj[i].error = fl[i].error;
		}
		free(fl);
		free(ps);
	}
	free(since);
	for (i = 0; i < np; i++) {
		struct project_rec *p = pj[i].p;

		if (pj[i].rc) {
			remote_poll_failed(r, idx[i], pj[i].rc, pj[i].error ? pj[i].error : "");
			free(fs[i].date);
			free(fs[i].stretch);
		} else {
			if (fs[i].date) {
				p->event_last_id = fs[i].id;
				str_set(&p->event_cursor, fs[i].date);
				free(fs[i].date);
			}
			seen_record(r, p->id, fs[i].stretch);
			p->last_reconcile = now;
			remote_polled(r, idx[i], now);
		}
		free(pj[i].error);
	}
	free(pj);
	free(fs);
	free(idx);
}

/*
 * Poll the projects whose kind[i] is not POLL_NONE.  The incremental
 * polls (events and new patches) go to the server together
 * (pw_poll_projects: concurrently, pwnm.jobs requests in flight) and are
 * taken in project by project, in pwnm.projects order; then the full
 * lists, together too (poll_full; a cursor the server no longer
 * knows, or one ahead of its clock, turns an incremental poll into a
 * full one, except for a push's events_only poll).  A project whose poll
 * fails is marked poll_failed; success marks it polled (polled_ok).  A
 * server that gives no answer at all is not asked for the other
 * projects: each says so in one line (remote_not_asked).
 */
static void
remote_poll(struct run *r, enum poll_kind *kind, int64_t now)
{
	struct pw_poll *polls = xcalloc(r->nprojects + 1, sizeof(*polls));
	struct seen_ids *seen = xcalloc(r->nprojects + 1, sizeof(*seen));
	size_t *at = xcalloc(r->nprojects + 1, sizeof(*at));
	size_t i, k, np = 0;

	for (i = 0; i < r->nprojects; i++) {
		pwnm_status_t rc;

		if (kind[i] == POLL_NONE)
			continue;
		if (r->o->deadline_ms && now_ms() >= r->o->deadline_ms) {
			run_error(r, PWNM_STATUS_TIMEOUT,
				  "time budget used up before polling %s; the next run continues",
				  r->projects[i].link_name);
			r->poll_failed[i] = 1;
			for (; i < r->nprojects; i++)
				kind[i] = POLL_NONE;
			break;
		}
		if (r->server_silent) {
			remote_not_asked(r, i);
			kind[i] = POLL_NONE;
			continue;
		}
		if ((rc = remote_client_ready(r))) {
			/* said by remote_client_ready; an API root that does not answer ends the asking */
			r->poll_failed[i] = 1;
			if (rc == PWNM_STATUS_NETWORK || rc == PWNM_STATUS_TIMEOUT)
				r->server_silent = 1;
			kind[i] = POLL_NONE;
			continue;
		}
		r->res->polled = 1;
		if (kind[i] == POLL_FULL)
			continue;
		/* from the kept stretch's start: events that reached the list late */
		if (*r->projects[i].event_cursor && seen_load(r, &r->projects[i], &seen[np])) {
			seen_free(&seen[np]);
			r->poll_failed[i] = 1;
			kind[i] = POLL_NONE;
			continue;
		}
		polls[np].project_id = r->projects[i].id;
		polls[np].since = seen[np].from;
		polls[np].events_only = kind[i] == POLL_EVENTS_ONLY;
		polls[np].above_id = r->projects[i].max_patch_id;
		at[np++] = i;
	}
	if (np)
		pw_poll_projects(r->client, polls, np);
	for (k = 0; k < np; k++) {
		struct project_rec *p = &r->projects[at[k]];
		pwnm_status_t rc;
		int gone = 0;

		i = at[k];
		if (!polls[k].asked) {
			r->server_silent = 1;
			remote_not_asked(r, i);
			kind[i] = POLL_NONE;
			continue;
		}
		if (polls[k].status) {
			remote_poll_failed(r, i, polls[k].status, polls[k].error ? polls[k].error : "");
			kind[i] = POLL_NONE;
			pw_poll_clear(&polls[k]);
			continue;
		}
		rc = poll_take(r, p, &polls[k], &seen[k], &gone);
		pw_poll_clear(&polls[k]);
		if (rc) {
			remote_poll_failed(r, i, rc, "");
			kind[i] = POLL_NONE;
			continue;
		}
		if (gone && kind[i] == POLL_EVENTS_ONLY) {
			kind[i] = POLL_NONE;
			continue;
		}
		if (gone == CURSOR_GONE)
			run_report(r, "pwnm: %s: the server no longer has the event pwnm stopped at "
				      "(#%llu); listing every patch instead",
				   p->link_name, (unsigned long long)p->event_last_id);
		else if (gone == CURSOR_AHEAD)
			run_report(r, "pwnm: %s: the event cursor (%s) is ahead of the server's clock; "
				      "listing every patch instead", p->link_name, p->event_cursor);
		if (gone) {
			kind[i] = POLL_FULL;
			continue;
		}
		remote_polled(r, i, now);
		kind[i] = POLL_NONE;
	}
	for (k = 0; k < np; k++)
		seen_free(&seen[k]);
	free(seen);
	for (i = 0, np = 0; i < r->nprojects; i++)
		if (kind[i] == POLL_FULL)
			at[np++] = i;
	if (np)
		poll_full(r, at, np, now);
	free(polls);
	free(at);
}

/*
 * Patches the server must be asked about by id (an event named a patch
 * pwnm does not track, or one dated in the future, or its mail could not
 * take the server's value), at most RECHECK_MAX in a run: the rest keep
 * their flag for the next run.  A project with RECHECK_LIST_MIN or more
 * of them whose submission dates are known has them looked for first in
 * its list since the oldest date (pw_find_patches_in_lists: only while
 * that costs fewer requests than asking by id); the rest are asked for
 * by id in batches of RECHECK_BATCH, concurrently.
 */
#define RECHECK_BATCH 250
#define RECHECK_MAX 2000
#define RECHECK_LIST_MIN 4

static int
cmp_work_project(const void *a, const void *b)
{
	const struct work *x = *(struct work *const *)a, *y = *(struct work *const *)b;

	if (x->rec.project_id != y->rec.project_id)
		return x->rec.project_id < y->rec.project_id ? -1 : 1;
	return x->rec.patch_id < y->rec.patch_id ? -1 : x->rec.patch_id > y->rec.patch_id;
}

/*
 * The rechecks ws[0..n) (sorted by project) looked for in their
 * projects' lists; those found are taken in and set to NULL in ws.
 * Nonzero when the server gave no answer (nothing more is asked).
 */
static int
recheck_in_lists(struct run *r, struct work **ws, size_t n)
{
	struct pw_want *want = NULL;
	size_t nw = 0, i, j, k;
	int silent = 0;

	for (i = 0; i < n; i = j) {
		size_t dated = 0;
		int64_t oldest = 0;

		for (j = i; j < n && ws[j]->rec.project_id == ws[i]->rec.project_id; j++) {
			if (ws[j]->rec.date <= 0)
				continue;
			if (!dated++ || ws[j]->rec.date < oldest)
				oldest = ws[j]->rec.date;
		}
		if (dated < RECHECK_LIST_MIN)
			continue;
		want = xreallocarray(want, nw + 1, sizeof(*want));
		memset(&want[nw], 0, sizeof(*want));
		want[nw].project_id = ws[i]->rec.project_id;
		want[nw].since = unix_to_iso(oldest);
		{
			uint32_t *ids = xcalloc(dated, sizeof(*ids));

			for (k = i; k < j; k++)
				if (ws[k]->rec.date > 0)
					ids[want[nw].n++] = ws[k]->rec.patch_id;
			want[nw].ids = ids;
		}
		want[nw].out = xcalloc(dated, sizeof(*want[nw].out));
		want[nw].found = xcalloc(dated, sizeof(*want[nw].found));
		nw++;
	}
	if (!nw)
		return 0;
	pw_find_patches_in_lists(r->client, want, nw);
	for (i = 0, k = 0; i < nw; i++) {
		struct pw_want *w = &want[i];
		size_t got = 0;

		for (j = 0; j < w->n; j++) {
			if (!w->found[j])
				continue;
			while (k < n && (!ws[k] || ws[k]->rec.project_id != w->project_id ||
					 ws[k]->rec.patch_id != w->ids[j]))
				k++;
			if (k == n) { /* not reached: ids are in ws's order */
				pw_patch_free(&w->out[j]);
				continue;
			}
			observe_patch_values(r, NULL, ws[k], &w->out[j]);
			ws[k]->dirty = 1;
			ws[k] = NULL;
			pw_patch_free(&w->out[j]);
			got++;
		}
		debug("sync", "project %u: %zu of %zu patches found in %u list pages", w->project_id,
		      got, w->n, w->pages);
		if (w->status == PWNM_STATUS_NETWORK || w->status == PWNM_STATUS_TIMEOUT) {
			if (!silent)
				run_error(r, w->status, "%s", w->error ? w->error : "");
			silent = 1;
		}
		free((char *)(uintptr_t)w->since);
		free((void *)(uintptr_t)w->ids);
		free(w->out);
		free(w->found);
		free(w->error);
	}
	free(want);
	return silent;
}

static void
remote_recheck(struct run *r)
{
	struct work **ws = NULL;
	size_t i, n = 0, cap = 0, from;

	if (!r->client)
		return;
	for (i = 0; i < r->wcap && n < RECHECK_MAX; i++) {
		struct work *w;

		for (w = r->wtab[i]; w && n < RECHECK_MAX; w = w->hnext) {
			long k;

			if (!(w->rec.flags & PATCH_F_RECHECK))
				continue;
			k = run_project_index(r, w->rec.project_id);
			if (k < 0 || !r->poll[k])
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				ws = xreallocarray(ws, cap, sizeof(*ws));
			}
			ws[n++] = w;
		}
	}
	if (n > 1)
		qsort(ws, n, sizeof(*ws), cmp_work_project);
	if (recheck_in_lists(r, ws, n)) {
		free(ws);
		return;
	}
	for (i = 0, from = 0; i < n; i++) /* those found in lists are done */
		if (ws[i])
			ws[from++] = ws[i];
	n = from;
	for (from = 0; from < n; from += RECHECK_BATCH) {
		size_t m = n - from < RECHECK_BATCH ? n - from : RECHECK_BATCH;
		uint32_t *ids = xcalloc(m, sizeof(*ids));
		struct pw_patch *pp = xcalloc(m, sizeof(*pp));
		pwnm_status_t *st = xcalloc(m, sizeof(*st)), rc;

		if (r->o->deadline_ms && now_ms() >= r->o->deadline_ms) {
			free(ids);
			free(pp);
			free(st);
			break; /* the rest keep their flag */
		}
		for (i = 0; i < m; i++)
			ids[i] = ws[from + i]->rec.patch_id;
		rc = pw_get_patches(r->client, ids, m, pp, st);
		for (i = 0; i < m; i++) {
			struct work *w = ws[from + i];

			if (st[i] == PWNM_STATUS_NOT_FOUND) {
				w->deleted = 1;
				w->tags = 1;
			} else if (st[i] == PWNM_STATUS_SUCCESS &&
				   pp[i].project_id != w->rec.project_id) {
				/* Moved to another project: no longer one of this project's patches. */
				if (w->in_store)
					run_report(r, "gone: patch %u %s %s moved to another project; its tags "
						   "are removed", w->rec.patch_id, w->project ? w->project : "?",
						   w->rec.msgid);
				w->deleted = 1;
				w->tags = 1;
				pw_patch_free(&pp[i]);
			} else if (st[i] == PWNM_STATUS_SUCCESS) {
				observe_patch_values(r, NULL, w, &pp[i]);
				w->dirty = 1;
				pw_patch_free(&pp[i]);
			}
		}
		free(ids);
		free(pp);
		free(st);
		if (rc) {
			run_error(r, rc, "%s", pw_client_error(r->client));
			break;
		}
	}
	free(ws);
}

/* A push without a poll (pre-new, push --quick): the events of each project with a change to send. */
static void
poll_for_push(struct run *r)
{
	enum poll_kind *kind = xcalloc(r->nprojects + 1, sizeof(*kind));
	int64_t now = now_unix();
	size_t i;

	for (i = 0; i < r->wcap; i++) {
		struct work *w;

		for (w = r->wtab[i]; w; w = w->hnext) {
			long k = run_project_index(r, w->rec.project_id);

			if (k >= 0 && (w->scanned || w->has_out))
				kind[k] = POLL_EVENTS_ONLY;
		}
	}
	for (i = 0; i < r->nprojects; i++)
		if (kind[i] != POLL_NONE)
			kind[i] = r->poll[i] ? poll_kind(r, &r->projects[i], 1, 1, now) : POLL_NONE;
	remote_poll(r, kind, now);
	free(kind);
}

/*
 * Step 3: the server, with notmuch closed.  The configured projects are
 * resolved, then each is polled (events and new patches, or a full list)
 * when this run pulls; a push without a pull still reads the events of
 * the projects it pushes to, so a change made on Patchwork meanwhile is a
 * conflict, not silently overwritten.  A project whose news could not be
 * read is marked (poll_failed) and the run goes on; the step fails only
 * when the projects cannot be resolved and there is nothing to push.
 */
pwnm_status_t
sync_remote(struct run *r)
{
	const struct sync_opts *o = r->o;
	int64_t t = now_ms();
	pwnm_status_t rc;
	size_t i;
	int pending;

	rc = remote_resolve_projects(r, o->pull && !o->hook);
	if (rc && !o->push)
		return rc;
	pending = run_has_pending(r);
	if (o->pull) {
		enum poll_kind *kind = xcalloc(r->nprojects + 1, sizeof(*kind));
		int64_t now = now_unix();

		for (i = 0; i < r->nprojects; i++)
			if (r->poll[i])
				kind[i] = poll_kind(r, &r->projects[i], r->new_mail || pending, 0, now);
		remote_poll(r, kind, now);
		free(kind);
		if (!r->server_silent) {
			remote_recheck(r);
			remote_series(r);
		}
	} else if (o->push && pending && !r->first_error) {
		poll_for_push(r);
		remote_series(r); /* the checks its events named */
	}
	run_crash_point(r, "after-remote");
	debug("sync", "phase remote %lld ms (%zu patches touched)", (long long)(now_ms() - t), r->wn);
	return PWNM_STATUS_SUCCESS;
}

/* libsync.c - one sync run: local scan, remote poll, three-way merge, push, tag writes, state commit */
#include "libsync.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <notmuch.h>

#include "libhttp.h"
#include "libmerge.h"
#include "libnm.h"
#include "libpw.h"
#include "libutil.h"

#define F_STATE    0x1u
#define F_ARCHIVED 0x2u
#define F_DELEGATE 0x4u

/* Patch flag kept in the store: fetch this patch again on the next poll. */
#define PATCH_F_RECHECK 0x10u

#define HELD_FOREVER INT64_MAX
#define TAG_BATCH 500

/* One patch touched by this run. */
struct work {
	struct patch_rec rec;   /* agreed values: from the store, updated by the merge */
	/* the agreed values as read from the store (NULL strings: empty) */
	char *orig_state;
	char *orig_delegate;
	uint32_t orig_delegate_id;
	uint32_t orig_flags;
	int orig_archived;
	int in_store;
	int dirty;              /* rec must be written back */
	int deleted;            /* forget the patch (the server answered 404) */
	int tags;               /* its mail's tags must be rewritten */
	unsigned remote_applied; /* F_* fields whose agreed value came from the server this run */
	unsigned landed;        /* F_* fields whose earlier push was found landed this run */
	const char *project;    /* link_name (borrowed from the run's project list) */
	char *nmid;             /* notmuch form of rec.msgid, NULL when empty */
	/* pending local change (outbox) */
	int has_out;
	int out_dirty;
	struct outbox_rec out;
	/* remote observation */
	unsigned r_set;         /* F_* */
	char *r_state;
	int r_archived;
	char *r_delegate;
	uint32_t r_delegate_id;
	/* local observation from the mail's tags */
	int scanned;
	unsigned l_set;         /* F_* read from tags */
	char *l_state;
	int l_archived;
	char *l_delegate;
	int l_repair;
	const char *l_note;
	int l_conflict_tag, l_denied_tag;
	int held;               /* its push was held back (pwnm.push_limit): nothing of it is written */
	struct work *hnext;
};

struct user {
	char *name;
	uint32_t id;
};

struct run {
	const struct pwnm_config *cfg;
	const struct sync_opts *o;
	pwnm_state_t *st;
	struct sync_result *res;
	FILE *out;
	struct tag_opts topts;
	struct project_rec *projects; /* every project in the store (+ new ones) */
	size_t nprojects;
	int *poll;                     /* per project: configured (to be polled) */
	int *proj_dirty;
	int *poll_failed;              /* per project: asking the server failed this run */
	int *polled_ok;                /* per project: the server's news were read this run */
	struct work **wtab;
	size_t wcap, wn;
	struct user *users;
	size_t nusers;
	int users_dirty;
	char *seen_states_dirty;
	http_t *http;
	pw_client_t *client;
	char *api_version;
	const char *token;
	char *token_owned;       /* loaded on first need (config_token) */
	int token_tried;
	/* local */
	char *uuid;
	unsigned long rev;
	unsigned long stored_rev;
	int restore_only;        /* the notmuch database changed identity: tags are restored, nothing pushed */
	int new_mail;            /* the scan saw new mail from a tracked list */
	char *lists;             /* meta "lists": ';'-separated List-Ids of the tracked projects, or NULL */
	int lists_dirty;
	int scanned_all;
	unsigned long store_rev; /* revision to record */
	int write_rev;
	int held_limit;          /* pushes held by pwnm.push_limit: the revision is not advanced */
	char *first_error;
	pwnm_status_t worst;
};

static void
report(struct run *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(r->out, fmt, ap);
	va_end(ap);
	fputc('\n', r->out);
	fflush(r->out);
}

static void
run_error(struct run *r, pwnm_status_t rc, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (!r->o->quiet)
		warn("%s", msg);
	if (!r->first_error) {
		r->first_error = msg;
		r->worst = rc;
	} else {
		free(msg);
	}
}

/*
 * Crash points for the crash-safety tests: when PWNM_DEBUG_CRASH_AT (read
 * by main into o->crash_at) names this point, the process kills itself
 * with SIGKILL right here, as kill -9 would.  They are in every build so
 * that the tests exercise the binary that is installed.
 */
static void
crash_point(const struct run *r, const char *name)
{
	if (r->o->crash_at && strcmp(r->o->crash_at, name) == 0) {
		fflush(NULL);
		raise(SIGKILL);
	}
}

/* ---- hash tables ---- */

static uint64_t
hash_key(uint32_t project, uint32_t patch)
{
	uint64_t k = ((uint64_t)project << 32) | patch;

	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return k;
}

static void
wtab_grow(struct run *r)
{
	size_t ncap = r->wcap ? r->wcap * 2 : 1024, i;
	struct work **nt = xcalloc(ncap, sizeof(*nt));

	for (i = 0; i < r->wcap; i++) {
		struct work *w = r->wtab[i], *next;

		for (; w; w = next) {
			size_t b = hash_key(w->rec.project_id, w->rec.patch_id) & (ncap - 1);

			next = w->hnext;
			w->hnext = nt[b];
			nt[b] = w;
		}
	}
	free(r->wtab);
	r->wtab = nt;
	r->wcap = ncap;
}

static struct work *
work_find(struct run *r, uint32_t project, uint32_t patch)
{
	struct work *w;

	if (!r->wcap)
		return NULL;
	for (w = r->wtab[hash_key(project, patch) & (r->wcap - 1)]; w; w = w->hnext)
		if (w->rec.project_id == project && w->rec.patch_id == patch)
			return w;
	return NULL;
}

/* Index of the project with this id in the run's list, or -1. */
static long
project_index(const struct run *r, uint32_t id)
{
	size_t i;

	for (i = 0; i < r->nprojects; i++)
		if (r->projects[i].id == id)
			return (long)i;
	return -1;
}

static const char *
project_name(struct run *r, uint32_t id)
{
	long i = project_index(r, id);

	return i < 0 ? NULL : r->projects[i].link_name;
}

static void
copy_rec(struct patch_rec *dst, const struct patch_rec *src)
{
	*dst = *src;
	dst->msgid = xstrdup(src->msgid ? src->msgid : "");
	dst->state = xstrdup(src->state ? src->state : "");
	dst->delegate = xstrdup(src->delegate ? src->delegate : "");
	dst->note = xstrdup(src->note ? src->note : "");
}

static void
copy_out(struct outbox_rec *dst, const struct outbox_rec *src)
{
	*dst = *src;
	dst->state = xstrdup(src->state ? src->state : "");
	dst->delegate = xstrdup(src->delegate ? src->delegate : "");
	dst->last_error = xstrdup(src->last_error ? src->last_error : "");
	dst->sent_state = xstrdup(src->sent_state ? src->sent_state : "");
	dst->sent_delegate = xstrdup(src->sent_delegate ? src->sent_delegate : "");
}

static struct work *
work_insert(struct run *r, const struct patch_rec *rec, int in_store)
{
	struct work *w = xcalloc(1, sizeof(*w));
	size_t b;

	copy_rec(&w->rec, rec);
	w->orig_state = rec->state && *rec->state ? xstrdup(rec->state) : NULL;
	w->orig_delegate = rec->delegate && *rec->delegate ? xstrdup(rec->delegate) : NULL;
	w->orig_delegate_id = rec->delegate_id;
	w->orig_flags = rec->flags;
	w->orig_archived = rec->archived;
	w->in_store = in_store;
	w->project = project_name(r, rec->project_id);
	if (!w->project)
		w->project = "unknown";
	w->nmid = msgid_to_notmuch(rec->msgid);
	if (r->wn + 1 > r->wcap * 3 / 4)
		wtab_grow(r);
	b = hash_key(rec->project_id, rec->patch_id) & (r->wcap - 1);
	w->hnext = r->wtab[b];
	r->wtab[b] = w;
	r->wn++;
	return w;
}

/* The work item of a patch, loaded from the store when it is there; NULL when unknown. */
static struct work *
work_get(struct run *r, pwnm_txn_t *txn, uint32_t project, uint32_t patch)
{
	struct work *w = work_find(r, project, patch);
	struct patch_rec rec;
	struct outbox_rec out;

	if (w)
		return w;
	if (state_patch_get(txn, project, patch, &rec) != PWNM_STATUS_SUCCESS)
		return NULL;
	w = work_insert(r, &rec, 1);
	patch_rec_free(&rec);
	if (state_outbox_get(txn, project, patch, &out) == PWNM_STATUS_SUCCESS) {
		w->has_out = 1;
		copy_out(&w->out, &out);
		outbox_rec_free(&out);
	}
	return w;
}

static void
work_free(struct work *w)
{
	patch_rec_free(&w->rec);
	free(w->orig_state);
	free(w->orig_delegate);
	if (w->has_out)
		outbox_rec_free(&w->out);
	free(w->nmid);
	free(w->r_state);
	free(w->r_delegate);
	free(w->l_state);
	free(w->l_delegate);
	free(w);
}

/* ---- users (delegates) ---- */

static uint32_t
user_id(struct run *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nusers; i++)
		if (strcmp(r->users[i].name, name) == 0)
			return r->users[i].id;
	return 0;
}

static void
user_learn(struct run *r, const char *name, uint32_t id)
{
	size_t i;

	if (!name || !*name || !id)
		return;
	for (i = 0; i < r->nusers; i++) {
		if (strcmp(r->users[i].name, name) == 0) {
			if (r->users[i].id != id) {
				r->users[i].id = id;
				r->users_dirty = 1;
			}
			return;
		}
	}
	r->users = xreallocarray(r->users, r->nusers + 1, sizeof(*r->users));
	r->users[r->nusers].name = xstrdup(name);
	r->users[r->nusers].id = id;
	r->nusers++;
	r->users_dirty = 1;
}

/* Users are kept in meta "users" as "name=id;name=id". */
static void
users_load(struct run *r, pwnm_txn_t *txn)
{
	char *v = NULL, *p, *save = NULL;

	if (state_meta_get(txn, "users", &v) != PWNM_STATUS_SUCCESS || !v)
		return;
	for (p = strtok_r(v, ";", &save); p; p = strtok_r(NULL, ";", &save)) {
		char *eq = strrchr(p, '=');
		uint64_t id;

		if (!eq)
			continue;
		*eq = '\0';
		if (parse_u64(eq + 1, &id) == 0 && id > 0 && id <= UINT32_MAX)
			user_learn(r, p, (uint32_t)id);
	}
	free(v);
	r->users_dirty = 0;
}

static char *
users_join(struct run *r)
{
	struct buf b = { 0 };
	size_t i;

	for (i = 0; i < r->nusers; i++)
		buf_printf(&b, "%s%s=%u", i ? ";" : "", r->users[i].name, r->users[i].id);
	return buf_release(&b);
}

static void
state_seen(struct run *r, uint32_t project_id, const char *slug)
{
	long i = project_index(r, project_id);
	struct project_rec *p;
	const char *s;
	size_t n;
	char *ns;

	if (i < 0 || !slug || !*slug || strchr(slug, ';'))
		return;
	p = &r->projects[i];
	n = strlen(slug);
	for (s = p->states_seen; s && *s;) {
		size_t len = strcspn(s, ";");

		if (len == n && strncmp(s, slug, n) == 0)
			return;
		s += len;
		if (*s == ';')
			s++;
	}
	ns = xasprintf("%s%s%s", p->states_seen, *p->states_seen ? ";" : "", slug);
	free(p->states_seen);
	p->states_seen = ns;
	r->proj_dirty[i] = 1;
}

/* ---- values shown by the tags ---- */

/* The values the mail's tags should show for w: agreed, overridden by a pending local change. */
static void
display_values(const struct patch_rec *rec, const struct outbox_rec *out, int has_out,
	       struct pw_values *v)
{
	v->state = rec->state;
	v->archived = rec->archived;
	v->delegate = rec->delegate;
	if (!has_out)
		return;
	if (out->fields & OUT_STATE)
		v->state = out->state;
	if (out->fields & OUT_ARCHIVED)
		v->archived = out->archived;
	if (out->fields & OUT_DELEGATE)
		v->delegate = out->delegate;
}

/* Replace *dst by a copy of src (which may point into *dst). */
static void
set_str(char **dst, const char *src)
{
	char *copy = xstrdup(src ? src : "");

	free(*dst);
	*dst = copy;
}

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

/* ---- step 2: local scan ---- */

enum scan_mode { SCAN_NONE, SCAN_RANGE, SCAN_ALL };

struct scanned {
	char *nmid;
	struct tagset tags;
};

static void
observe_local(struct run *r, struct work *w, const struct tagset *tags)
{
	struct pw_values base = { w->rec.state, w->rec.archived, w->rec.delegate }, lv;
	struct pw_values shown;
	int repair = 0;

	w->scanned = 1;
	w->l_conflict_tag = tagset_has(tags, "pw/conflict");
	w->l_denied_tag = tagset_has(tags, "pw/denied");
	if (!(w->rec.flags & PATCH_F_TAGGED) || r->restore_only) {
		/* Never tagged by pwnm, or another database: not a user's change. */
		w->l_repair = 1;
		return;
	}
	/* A pending change is what the tags were left showing. */
	display_values(&w->rec, &w->out, w->has_out, &shown);
	base = shown;
	merge_local_values(tags, w->project, &base, &r->topts, &lv, &repair, &w->l_note);
	w->l_repair = repair;
	w->l_set = F_STATE | (r->topts.archived ? F_ARCHIVED : 0) | (r->topts.delegate ? F_DELEGATE : 0);
	set_str(&w->l_state, lv.state);
	w->l_archived = lv.archived;
	set_str(&w->l_delegate, lv.delegate);
}

struct nmid_list {
	char **v;
	size_t n, cap;
};

static int
collect_nmid(const struct patch_rec *p, void *data)
{
	struct nmid_list *l = data;
	char *id = msgid_to_notmuch(p->msgid);

	if (!id)
		return 0;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->v = xreallocarray(l->v, l->cap, sizeof(char *));
	}
	l->v[l->n++] = id;
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Is this mail from one of the tracked lists (its List-Id names one)?
 * Without the list of List-Ids (an older store), any unknown mail counts.
 */
static int
from_tracked_list(struct run *r, notmuch_database_t *db, const char *nmid)
{
	notmuch_message_t *m = NULL;
	const char *h, *p;
	int hit = 0;

	if (!r->lists || !*r->lists)
		return 1;
	if (notmuch_database_find_message(db, nmid, &m) || !m)
		return 0;
	h = notmuch_message_get_header(m, "List-Id");
	for (p = r->lists; h && *h && *p && !hit;) {
		size_t len = strcspn(p, ";");
		char *id = xstrndup(p, len);

		hit = len > 0 && strcasestr(h, id) != NULL;
		free(id);
		p += len;
		if (*p == ';')
			p++;
	}
	notmuch_message_destroy(m);
	return hit;
}

static pwnm_status_t
local_scan(struct run *r, notmuch_database_t *db, enum scan_mode mode)
{
	struct scanned *list = NULL;
	size_t n = 0, cap = 0, i, j, nunknown = 0, *unknown = NULL;
	pwnm_txn_t *txn = NULL;
	pwnm_status_t rc = PWNM_STATUS_SUCCESS;

	if (mode == SCAN_RANGE) {
		char *qs = xasprintf("lastmod:%lu..%lu", r->stored_rev + 1, r->rev);
		notmuch_query_t *q = notmuch_query_create(db, qs);
		notmuch_messages_t *msgs = NULL;
		notmuch_status_t nst;

		free(qs);
		if (!q)
			fatal("out of memory");
		notmuch_query_set_omit_excluded(q, NOTMUCH_EXCLUDE_FALSE);
		nst = notmuch_query_search_messages(q, &msgs);
		if (nst) {
			notmuch_query_destroy(q);
			run_error(r, PWNM_STATUS_NOTMUCH, "cannot search the notmuch database: %s",
				  notmuch_status_to_string(nst));
			return PWNM_STATUS_NOTMUCH;
		}
		for (; notmuch_messages_valid(msgs); notmuch_messages_move_to_next(msgs)) {
			notmuch_message_t *m = notmuch_messages_get(msgs);

			if (n == cap) {
				cap = cap ? cap * 2 : 256;
				list = xreallocarray(list, cap, sizeof(*list));
			}
			list[n].nmid = xstrdup(notmuch_message_get_message_id(m));
			memset(&list[n].tags, 0, sizeof(list[n].tags));
			nm_message_pw_tags(m, &list[n].tags);
			n++;
			notmuch_message_destroy(m);
		}
		notmuch_query_destroy(q);
	} else if (mode == SCAN_ALL) {
		struct nmid_list ids = { 0 };

		if ((rc = state_txn_begin(r->st, 0, &txn)))
			goto out;
		rc = state_patch_foreach(txn, 0, collect_nmid, &ids);
		state_txn_abort(txn);
		txn = NULL;
		if (rc)
			goto out;
		if (ids.n > 1)
			qsort(ids.v, ids.n, sizeof(char *), cmp_str);
		for (i = 0; i < ids.n; i++) {
			notmuch_message_t *m = NULL;

			if (i > 0 && strcmp(ids.v[i], ids.v[i - 1]) == 0)
				continue;
			if (notmuch_database_find_message(db, ids.v[i], &m) || !m)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 256;
				list = xreallocarray(list, cap, sizeof(*list));
			}
			list[n].nmid = xstrdup(ids.v[i]);
			memset(&list[n].tags, 0, sizeof(list[n].tags));
			nm_message_pw_tags(m, &list[n].tags);
			n++;
			notmuch_message_destroy(m);
		}
		for (i = 0; i < ids.n; i++)
			free(ids.v[i]);
		free(ids.v);
	}
	if (n == 0)
		goto out;
	unknown = xcalloc(n, sizeof(*unknown));
	if ((rc = state_txn_begin(r->st, 0, &txn)))
		goto out;
	for (i = 0; i < n; i++) {
		struct patch_key *keys = NULL;
		size_t nk = 0;

		if ((rc = state_msgid_lookup(txn, list[i].nmid, &keys, &nk)))
			break;
		if (nk == 0) {
			unknown[nunknown++] = i;
			continue;
		}
		for (j = 0; j < nk; j++) {
			struct work *w = work_get(r, txn, keys[j].project_id, keys[j].patch_id);

			if (w)
				observe_local(r, w, &list[i].tags);
		}
		free(keys);
	}
	state_txn_abort(txn);
	/* Mail pwnm does not know: a reason to ask the server when it is from a tracked list. */
	for (i = 0; i < nunknown && !r->new_mail; i++)
		r->new_mail = from_tracked_list(r, db, list[unknown[i]].nmid);
out:
	for (i = 0; i < n; i++) {
		free(list[i].nmid);
		tagset_free(&list[i].tags);
	}
	free(list);
	free(unknown);
	if (rc)
		run_error(r, rc, "cannot read the state database: %s", state_last_error(r->st));
	return rc;
}

/* ---- step 3: remote ---- */

static struct work *
new_work(struct run *r, uint32_t project_id, uint32_t patch_id, const char *msgid, const char *date)
{
	struct patch_rec rec = { 0 };

	rec.project_id = project_id;
	rec.patch_id = patch_id;
	rec.msgid = (char *)(uintptr_t)(msgid ? msgid : "");
	rec.state = (char *)(uintptr_t)"";
	rec.delegate = (char *)(uintptr_t)"";
	rec.note = (char *)(uintptr_t)"";
	rec.date = date ? iso_to_unix(date) : 0;
	return work_insert(r, &rec, 0);
}

static void
observe_remote_patch(struct run *r, pwnm_txn_t *txn, const struct pw_patch *p)
{
	struct work *w = work_get(r, txn, p->project_id, p->id);

	if (!w)
		w = new_work(r, p->project_id, p->id, p->msgid, p->date);
	w->r_set = F_STATE | F_ARCHIVED | F_DELEGATE;
	set_str(&w->r_state, p->state);
	w->r_archived = p->archived ? 1 : 0;
	set_str(&w->r_delegate, p->delegate);
	w->r_delegate_id = p->delegate_id;
	w->rec.flags &= ~PATCH_F_RECHECK;
	user_learn(r, p->delegate, p->delegate_id);
	state_seen(r, p->project_id, p->state);
}

static void
observe_remote_event(struct run *r, pwnm_txn_t *txn, const struct pw_event *e)
{
	struct work *w;

	if (!e->patch_id)
		return;
	w = work_get(r, txn, e->project_id, e->patch_id);
	if (!w) {
		if (!e->msgid || !*e->msgid)
			return;
		w = new_work(r, e->project_id, e->patch_id, e->msgid, NULL);
		/* The event does not carry every field: fetch the patch. */
		w->rec.flags |= PATCH_F_RECHECK;
	}
	if (strcmp(e->category, "patch-state-changed") == 0 && e->current_state && *e->current_state) {
		w->r_set |= F_STATE;
		set_str(&w->r_state, e->current_state);
		state_seen(r, e->project_id, e->current_state);
	} else if (strcmp(e->category, "patch-delegated") == 0 && e->has_delegate) {
		w->r_set |= F_DELEGATE;
		set_str(&w->r_delegate, e->current_delegate);
		w->r_delegate_id = e->current_delegate_id;
		user_learn(r, e->current_delegate, e->current_delegate_id);
	}
}

struct page_sink {
	struct run *r;
	struct project_rec *p;
};

static void
observe_page(const struct pw_patch *a, size_t n, void *data)
{
	struct page_sink *ps = data;
	pwnm_txn_t *txn;
	size_t i;

	if (state_txn_begin(ps->r->st, 0, &txn) != PWNM_STATUS_SUCCESS) {
		run_error(ps->r, PWNM_STATUS_STATE, "cannot read the state database: %s",
			  state_last_error(ps->r->st));
		return;
	}
	for (i = 0; i < n; i++) {
		observe_remote_patch(ps->r, txn, &a[i]);
		if (a[i].id > ps->p->max_patch_id)
			ps->p->max_patch_id = a[i].id;
	}
	state_txn_abort(txn);
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

static pwnm_status_t
client_ready(struct run *r)
{
	struct http_options ho = { 0 };
	pwnm_status_t rc;
	pwnm_txn_t *txn;
	char *ver = NULL, *origin;
	const char *v = NULL;

	if (r->client)
		return PWNM_STATUS_SUCCESS;
	origin = http_origin_of(r->cfg->url);
	if (!origin) {
		run_error(r, PWNM_STATUS_CONFIG, "pwnm.url '%s' is not an http(s) URL", r->cfg->url);
		return PWNM_STATUS_CONFIG;
	}
	ho.origin = origin;
	ho.token = r->token;
	ho.max_parallel = r->o->jobs > 0 ? r->o->jobs : r->cfg->jobs;
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
		state_meta_get(txn, "api_version", &ver);
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

/* Make sure every configured project is known (id, link_name); asks the server for new ones. */
static pwnm_status_t
resolve_projects(struct run *r, int may_ask)
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
			if ((rc = client_ready(r)))
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
		if (!found) {
			struct buf known = { 0 };

			for (j = 0; j < npl; j++)
				buf_printf(&known, "%s%s", j ? ", " : "", pl[j].link_name);
			run_error(r, PWNM_STATUS_CONFIG,
				  "project '%s' is not on %s (known: %s); fix pwnm.projects", name,
				  cfg->url, known.data ? known.data : "none");
			buf_free(&known);
		}
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
has_pending(struct run *r)
{
	size_t i;

	for (i = 0; i < r->wcap; i++) {
		struct work *w;

		for (w = r->wtab[i]; w; w = w->hnext)
			if (w->scanned || (w->has_out && w->out.fields && w->out.next_try != HELD_FOREVER))
				return 1;
	}
	return 0;
}

static void
poll_project(struct run *r, size_t idx, int force_poll, int events_only)
{
	struct project_rec *p = &r->projects[idx];
	const struct sync_opts *o = r->o;
	int64_t now = now_unix();
	int first = !*p->event_cursor && p->last_reconcile == 0;
	int reconcile = first || o->full;

	if (events_only) {
		/* A quick push: only what changed on the server, to see conflicts. */
		if (first)
			return;
		reconcile = 0;
		force_poll = 1;
	}
	pwnm_status_t rc;
	pwnm_txn_t *txn = NULL;
	size_t i, n = 0;

	if (!o->hook && !events_only && !reconcile && r->cfg->reconcile_interval &&
	    now - p->last_reconcile >= r->cfg->reconcile_interval)
		reconcile = 1;
	if (o->hook && first) {
		report(r, "pwnm: project %s has never been synced; run 'pwnm sync' once", p->link_name);
		return;
	}
	if (o->hook && !reconcile && !force_poll && now - p->last_poll < r->cfg->poll_interval)
		return;
	if (client_ready(r))
		return;
	r->res->polled = 1;
	if (!reconcile) {
		struct pw_event *ev = NULL;
		struct pw_patch *pl = NULL;
		size_t nev = 0, skip = 0;

		/*
		 * Every event since the cursor, the cursor's own event included
		 * (since is inclusive): when that event is gone the server has
		 * dropped history we have not seen, and only a full list is safe.
		 */
		rc = pw_list_events(r->client, p->id, NULL, *p->event_cursor ? p->event_cursor : NULL,
				    p->event_last_id ? p->event_last_id - 1 : 0, &ev, &nev);
		if (rc)
			goto fail;
		if (p->event_last_id && *p->event_cursor && (nev == 0 || ev[0].id != p->event_last_id)) {
			if (events_only) {
				pw_event_array_free(ev, nev);
				return;
			}
			report(r, "pwnm: %s: the server no longer has the event pwnm stopped at (#%llu); "
				  "listing every patch instead",
			       p->link_name, (unsigned long long)p->event_last_id);
			pw_event_array_free(ev, nev);
			reconcile = 1;
			goto full;
		}
		if (nev && ev[0].id == p->event_last_id)
			skip = 1;
		if (!events_only)
			rc = pw_list_patches_above(r->client, p->id, p->max_patch_id, &pl, &n);
		if (rc) {
			pw_event_array_free(ev, nev);
			goto fail;
		}
		if ((rc = state_txn_begin(r->st, 0, &txn)) == PWNM_STATUS_SUCCESS) {
			for (i = skip; i < nev; i++) {
				observe_remote_event(r, txn, &ev[i]);
				if (ev[i].id > p->event_last_id) {
					p->event_last_id = ev[i].id;
					set_str(&p->event_cursor, ev[i].date);
				}
			}
			for (i = 0; i < n; i++) {
				observe_remote_patch(r, txn, &pl[i]);
				if (pl[i].id > p->max_patch_id)
					p->max_patch_id = pl[i].id;
			}
			state_txn_abort(txn);
		}
		pw_event_array_free(ev, nev);
		pw_patch_array_free(pl, n);
	}
full:
	if (reconcile) {
		struct pw_event newest = { 0 };
		struct pw_patch *pl = NULL;
		char *since = NULL;

		rc = pw_newest_event(r->client, p->id, &newest);
		if (rc)
			goto fail;
		if (!o->all_history && r->cfg->window > 0)
			since = unix_to_iso(now - r->cfg->window);
		{
			struct page_sink ps = { r, p };

			/* Each page is merged into the run as it comes, then freed. */
			rc = pw_list_patches_pages(r->client, p->id, since,
						   o->progress ? progress_cb : NULL,
						   (void *)p->link_name, observe_page, &ps, &pl, &n);
		}
		free(since);
		if (rc) {
			pw_event_free(&newest);
			goto fail;
		}
		if (newest.id) {
			p->event_last_id = newest.id;
			set_str(&p->event_cursor, newest.date);
		}
		pw_event_free(&newest);
		p->last_reconcile = now;
	}
	p->last_poll = now;
	r->proj_dirty[idx] = 1;
	r->polled_ok[idx] = !r->poll_failed[idx];
	return;
fail:
	r->poll_failed[idx] = 1;
	run_error(r, rc, "%s: %s", p->link_name, pw_client_error(r->client));
}

/* Patches the server must be asked about one by one (rare: a race or an event on an unknown patch). */
static void
recheck(struct run *r)
{
	size_t i;

	if (!r->client)
		return;
	for (i = 0; i < r->wcap; i++) {
		struct work *w;

		for (w = r->wtab[i]; w; w = w->hnext) {
			struct pw_patch p;
			pwnm_status_t rc;
			long k;

			if (!(w->rec.flags & PATCH_F_RECHECK))
				continue;
			k = project_index(r, w->rec.project_id);
			if (k < 0 || !r->poll[k])
				continue;
			rc = pw_get_patch(r->client, w->rec.patch_id, &p);
			if (rc == PWNM_STATUS_NOT_FOUND) {
				w->deleted = 1;
				w->tags = 1;
				continue;
			}
			if (rc) {
				run_error(r, rc, "%s", pw_client_error(r->client));
				return;
			}
			w->r_set = F_STATE | F_ARCHIVED | F_DELEGATE;
			set_str(&w->r_state, p.state);
			w->r_archived = p.archived;
			set_str(&w->r_delegate, p.delegate);
			w->r_delegate_id = p.delegate_id;
			w->rec.flags &= ~PATCH_F_RECHECK;
			w->dirty = 1;
			user_learn(r, p.delegate, p.delegate_id);
			pw_patch_free(&p);
		}
	}
}

/* ---- step 4: merge ---- */

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

static void
describe(struct run *r, const struct work *w, const char *side, const char *field, const char *from,
	 const char *to)
{
	if (!r->o->verbose && !r->o->dry_run)
		return;
	report(r, "patch %u %s %s: %s %s%s%s -> %s", w->rec.patch_id, w->project, w->rec.msgid, side,
	       field, *field ? " " : "", *from ? from : "(none)", *to ? to : "(none)");
}

static const char *
bool_str(int b)
{
	return b ? "archived" : "unarchived";
}

static unsigned
out_bit(unsigned f)
{
	return f == F_STATE ? OUT_STATE : f == F_ARCHIVED ? OUT_ARCHIVED : OUT_DELEGATE;
}

static int
project_polled_ok(const struct run *r, uint32_t project_id)
{
	long i = project_index(r, project_id);

	return i >= 0 && r->polled_ok[i];
}

static void
merge_work(struct run *r, struct work *w)
{
	const struct pwnm_config *cfg = r->cfg;
	unsigned f;
	int pulled = 0;

	if (!w->in_store) {
		/* First seen: the server's values are agreed. */
		if (w->r_set & F_STATE)
			set_str(&w->rec.state, w->r_state);
		if (w->r_set & F_ARCHIVED)
			w->rec.archived = w->r_archived;
		if (w->r_set & F_DELEGATE) {
			set_str(&w->rec.delegate, w->r_delegate);
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
		report(r, "note: patch %u %s %s: %s", w->rec.patch_id, w->project, w->rec.msgid,
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

		display_values(&w->rec, &w->out, w->has_out, &shown);
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
					set_str(&w->rec.state, rv);
					b = w->rec.state;
				} else if (f == F_ARCHIVED) {
					w->rec.archived = rv[0] == '1';
					bbuf[0] = rv[0];
				} else {
					set_str(&w->rec.delegate, rv);
					w->rec.delegate_id = w->r_delegate_id;
					b = w->rec.delegate;
				}
				w->dirty = 1;
				w->tags = 1;
			}
			if (known || project_polled_ok(r, w->rec.project_id)) {
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
				report(r, "conflict: patch %u %s %s: notmuch says %s, Patchwork says %s; "
					  "Patchwork's value kept (pwnm.conflict=patchwork)",
				       w->rec.patch_id, w->project, w->rec.msgid,
				       f == F_ARCHIVED ? bool_str(l[0] == '1') : (*l ? l : "(none)"),
				       f == F_ARCHIVED ? bool_str(rv[0] == '1') : (*rv ? rv : "(none)"));
				out_drop_field(w, f);
				a = MERGE_TAKE_REMOTE;
			} else if (cfg->conflict == CONFLICT_NOTMUCH) {
				report(r, "conflict: patch %u %s %s: notmuch says %s, Patchwork says %s; "
					  "notmuch's value pushed (pwnm.conflict=notmuch)",
				       w->rec.patch_id, w->project, w->rec.msgid,
				       f == F_ARCHIVED ? bool_str(l[0] == '1') : (*l ? l : "(none)"),
				       f == F_ARCHIVED ? bool_str(rv[0] == '1') : (*rv ? rv : "(none)"));
			} else {
				report(r, "conflict: patch %u %s %s: notmuch says %s, Patchwork says %s; "
					  "tagged pw/conflict: set the tag you want, or remove pw/conflict "
					  "to push yours",
				       w->rec.patch_id, w->project, w->rec.msgid,
				       f == F_ARCHIVED ? bool_str(l[0] == '1') : (*l ? l : "(none)"),
				       f == F_ARCHIVED ? bool_str(rv[0] == '1') : (*rv ? rv : "(none)"));
				w->rec.flags |= PATCH_F_CONFLICT;
				free(w->rec.note);
				w->rec.note = xasprintf("conflict on %s: Patchwork says %s",
							f == F_STATE ? "state" : f == F_ARCHIVED ? "archived" : "delegate",
							f == F_ARCHIVED ? bool_str(rv[0] == '1') : rv);
			}
		}
		if (a == MERGE_TAKE_REMOTE || a == MERGE_AGREE || a == MERGE_CONFLICT) {
			/* The server's value is the new agreed one. */
			if (a != MERGE_AGREE && !pulled) {
				r->res->pulled++;
				pulled = 1;
			}
			if (a == MERGE_TAKE_REMOTE)
				describe(r, w, "patchwork", name, f == F_ARCHIVED ? bool_str(b[0] == '1') : b,
					 f == F_ARCHIVED ? bool_str(rv[0] == '1') : rv);
			if (f == F_STATE)
				set_str(&w->rec.state, rv);
			else if (f == F_ARCHIVED)
				w->rec.archived = rv[0] == '1';
			else {
				set_str(&w->rec.delegate, rv);
				w->rec.delegate_id = w->r_delegate_id;
			}
			w->remote_applied |= f;
			w->dirty = 1;
			w->tags = 1;
			if (a != MERGE_CONFLICT && (w->rec.flags & PATCH_F_CONFLICT) && !w->has_out) {
				w->rec.flags &= ~PATCH_F_CONFLICT;
				set_str(&w->rec.note, "");
			}
		}
		if (a == MERGE_PUSH_LOCAL || (a == MERGE_CONFLICT && cfg->conflict != CONFLICT_PATCHWORK)) {
			int held = a == MERGE_CONFLICT && cfg->conflict == CONFLICT_REPORT;
			int same = 0;

			out_ensure(w);
			if (f == F_STATE) {
				same = (w->out.fields & OUT_STATE) && strcmp(w->out.state, l) == 0;
				w->out.fields |= OUT_STATE;
				set_str(&w->out.state, l);
			} else if (f == F_ARCHIVED) {
				same = (w->out.fields & OUT_ARCHIVED) && w->out.archived == (l[0] == '1');
				w->out.fields |= OUT_ARCHIVED;
				w->out.archived = l[0] == '1';
			} else {
				same = (w->out.fields & OUT_DELEGATE) && strcmp(w->out.delegate, l) == 0;
				w->out.fields |= OUT_DELEGATE;
				set_str(&w->out.delegate, l);
				w->out.delegate_id = *l ? user_id(r, l) : 0;
			}
			if (!same) {
				w->out.attempts = 0;
				w->out.next_try = held ? HELD_FOREVER : 0;
				w->out.queued_at = now_unix();
				set_str(&w->out.last_error, held ? "held: conflict" : "");
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
		set_str(&w->rec.note, "");
		if (w->has_out && w->out.next_try == HELD_FOREVER) {
			w->out.next_try = 0;
			set_str(&w->out.last_error, "");
			w->out_dirty = 1;
		}
		w->dirty = 1;
		w->tags = 1;
	}
	if (w->has_out && w->out.fields == 0 && (w->rec.flags & PATCH_F_CONFLICT)) {
		w->rec.flags &= ~PATCH_F_CONFLICT;
		set_str(&w->rec.note, "");
		w->dirty = 1;
		w->tags = 1;
	}
}

/* ---- step 5: push ---- */

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
	report(r, "denied: patch %u %s %s: %s; tags reverted to '%s'", w->rec.patch_id, w->project,
	       w->rec.msgid, why, w->rec.state);
}

static int
poll_failed(const struct run *r, uint32_t project_id)
{
	long i = project_index(r, project_id);

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
		set_str(&stored.state, w->rec.state);
	if (w->landed & F_ARCHIVED)
		stored.archived = w->rec.archived;
	if (w->landed & F_DELEGATE) {
		set_str(&stored.delegate, w->rec.delegate);
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
	if (config_token(r->cfg, &r->token_owned, &err)) {
		run_error(r, PWNM_STATUS_CONFIG, "%s", err);
		free(err);
		return NULL;
	}
	r->token = r->token_owned;
	return r->token;
}

static void
push_all(struct run *r)
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
			if (poll_failed(r, w->rec.project_id)) {
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
				report(r, "patch %u %s %s: notmuch %s -> %s", w->rec.patch_id, w->project,
				       w->rec.msgid, w->rec.state, w->out.state);
			if (w->out.fields & OUT_ARCHIVED)
				report(r, "patch %u %s %s: notmuch %s -> %s", w->rec.patch_id, w->project,
				       w->rec.msgid, bool_str(w->rec.archived), bool_str(w->out.archived));
			if (w->out.fields & OUT_DELEGATE)
				report(r, "patch %u %s %s: notmuch delegate %s -> %s", w->rec.patch_id,
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
		report(r, "pwnm: %zu local change%s wait%s to be pushed: no API token (set $PWNM_TOKEN, "
			  "pwnm.token_command, or a token file '%s' with mode 0600)",
		       n, n == 1 ? "" : "s", n == 1 ? "s" : "", r->cfg->token_file);
		r->res->queued += (unsigned)n;
		goto out;
	}
	if (r->cfg->push_limit > 0 && (int64_t)n > r->cfg->push_limit && !r->o->force) {
		report(r, "pwnm: %zu changes to push, more than pwnm.push_limit (%lld): nothing pushed. "
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
	if (client_ready(r)) {
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
				w->out.delegate_id = user_id(r, w->out.delegate);
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
					set_str(&o->sent_state, o->state);
				if (o->fields & OUT_ARCHIVED)
					o->sent_archived = o->archived;
				if (o->fields & OUT_DELEGATE)
					set_str(&o->sent_delegate, o->delegate);
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
			crash_point(r, "after-outbox-write");
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
			crash_point(r, "after-push");
		for (i = 0; i < ns; i++) {
			struct work *w = sw[i];
			struct pw_update *x = &send[i];

			switch (x->status) {
			case PWNM_STATUS_SUCCESS:
				if (w->out.fields & OUT_STATE)
					set_str(&w->rec.state, x->result.state);
				if (w->out.fields & OUT_ARCHIVED)
					w->rec.archived = x->result.archived;
				if (w->out.fields & OUT_DELEGATE) {
					set_str(&w->rec.delegate, x->result.delegate);
					w->rec.delegate_id = x->result.delegate_id;
				}
				if (w->out.fields & OUT_STATE)
					describe(r, w, "pushed", "", w->orig_state ? w->orig_state : "",
						 w->rec.state);
				w->out.sent_fields &= ~w->out.fields;
				w->out.fields = 0;
				w->out_dirty = 1;
				w->rec.flags &= ~(PATCH_F_DENIED | PATCH_F_CONFLICT);
				set_str(&w->rec.note, "");
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
				set_str(&w->out.last_error, x->error ? x->error : "token refused");
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
						state_seen(r, w->rec.project_id, p);
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
				report(r, "gone: patch %u %s %s is no longer on the server; its tags are removed",
				       w->rec.patch_id, w->project, w->rec.msgid);
				w->deleted = 1;
				w->tags = 1;
				break;
			default:
				/* Temporary (or a server that ignored the body): retry later. */
				w->out.next_try = backoff(w->out.attempts, x->retry_after);
				set_str(&w->out.last_error, x->error ? x->error : pwnm_status_to_string(x->status));
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

/* ---- step 6: tags ---- */

struct patch_view {
	const char *project;
	struct pw_values v;
	uint32_t flags;
	int deleted;
};

/* The tags a mail should carry, given its patches; starts from cur to keep foreign pw/ tags. */
static void
wanted_tags(struct run *r, const struct tagset *cur, const struct patch_view *pv, size_t n,
	    struct tagset *want)
{
	size_t i;
	int conflict = 0, denied = 0;

	tagset_copy(want, cur);
	tagset_del(want, "pw/conflict");
	tagset_del(want, "pw/denied");
	for (i = 0; i < n; i++)
		merge_drop_project_tags(want, pv[i].project);
	for (i = 0; i < n; i++) {
		if (pv[i].deleted)
			continue;
		merge_patch_tags(pv[i].project, &pv[i].v, &r->topts, want);
		conflict |= (pv[i].flags & PATCH_F_CONFLICT) != 0;
		denied |= (pv[i].flags & PATCH_F_DENIED) != 0;
	}
	if (conflict)
		tagset_add(want, "pw/conflict");
	if (denied)
		tagset_add(want, "pw/denied");
}

/* Messages changed by someone else since the snapshot revision. */
static void
changed_since(struct run *r, notmuch_database_t *db, struct tagset *ids)
{
	char *qs;
	notmuch_query_t *q;
	notmuch_messages_t *msgs = NULL;

	if (notmuch_database_get_revision(db, NULL) <= r->rev)
		return;
	qs = xasprintf("lastmod:%lu..", r->rev + 1);
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
undo_remote(struct work *w)
{
	/* The mail changed under us: keep the old agreed value and ask again next time. */
	if (w->remote_applied & F_STATE)
		set_str(&w->rec.state, w->orig_state);
	if (w->remote_applied & F_ARCHIVED)
		w->rec.archived = w->orig_archived;
	if (w->remote_applied & F_DELEGATE) {
		set_str(&w->rec.delegate, w->orig_delegate);
		w->rec.delegate_id = w->orig_delegate_id;
	}
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

/* Nothing could be written to notmuch: forget what came from the server, so it comes again. */
static void
abandon_remote(struct run *r)
{
	size_t i;

	for (i = 0; i < r->wcap; i++) {
		struct work *w;

		for (w = r->wtab[i]; w; w = w->hnext) {
			undo_remote(w);
			w->rec.flags &= ~PATCH_F_RECHECK;
			w->rec.flags |= w->orig_flags & PATCH_F_RECHECK;
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

		if (w)
			continue; /* taken below from the run's own view */
		if (state_patch_get(txn, keys[i].project_id, keys[i].patch_id, &(*recs)[*nrecs]))
			continue;
		{
			struct patch_rec *rec = &(*recs)[*nrecs];
			struct outbox_rec *o = &(*outs)[*nrecs];
			int has_out = state_outbox_get(txn, rec->project_id, rec->patch_id, o) ==
				      PWNM_STATUS_SUCCESS;
			const char *pname = project_name(r, rec->project_id);

			if (!has_out)
				memset(o, 0, sizeof(*o));
			(*nrecs)++;
			if (!(rec->flags & PATCH_F_TAGGED) || !pname)
				continue;
			display_values(rec, o, has_out, &v);
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

		display_values(&w->rec, &w->out, w->has_out, &pv[n].v);
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
	char *prefix = xasprintf("pw/%s/", w->project);
	size_t i, n = strlen(prefix);

	for (i = 0; i < cur->n; i++) {
		const char *rest = cur->v[i] + n;

		if (strncmp(cur->v[i], prefix, n) != 0 || strchr(rest, '/') ||
		    strcmp(rest, "archived") == 0 || strcmp(rest, w->rec.state) == 0)
			continue;
		report(r, "patch %u %s %s: the mail said %s, Patchwork says %s; Patchwork's value "
			  "taken (change the tag again to push yours)",
		       w->rec.patch_id, w->project, w->rec.msgid, rest, w->rec.state);
	}
	free(prefix);
}

static pwnm_status_t
apply_tags(struct run *r)
{
	struct pair *pairs = NULL;
	size_t np = 0, cap = 0, i, j, k;
	pwnm_txn_t *txn = NULL;
	notmuch_database_t *db = NULL;
	struct tagset busy = { 0 };
	pwnm_status_t rc = PWNM_STATUS_SUCCESS;
	char *err = NULL;
	unsigned long rev_open, rev_after;
	int batch = 0, any_skip = 0;
	int64_t wait_ms = 60000;
	notmuch_status_t nst;

	/* Every work item whose mail needs writing, plus the other patches of the same mails. */
	for (i = 0; i < r->wcap; i++) {
		struct work *w;

		for (w = r->wtab[i]; w; w = w->hnext) {
			if (!w->nmid)
				continue;
			if (np == cap) {
				cap = cap ? cap * 2 : 1024;
				pairs = xreallocarray(pairs, cap, sizeof(*pairs));
			}
			pairs[np].nmid = w->nmid;
			pairs[np].w = w;
			np++;
		}
	}
	if (np == 0) {
		r->store_rev = r->rev;
		r->write_rev = 1;
		goto out;
	}
	qsort(pairs, np, sizeof(*pairs), cmp_pair);
	/* Any group with a work item that wants its tags written? */
	{
		int need = 0;

		for (i = 0; i < np && !need; i++)
			need = pairs[i].w->tags;
		if (!need) {
			r->store_rev = r->rev;
			r->write_rev = 1;
			goto out;
		}
	}
	if (r->o->deadline_ms) {
		wait_ms = r->o->deadline_ms - now_ms();
		if (wait_ms < 200)
			wait_ms = 200;
	}
	if (nm_wait_unlocked(r->cfg->db_path, wait_ms) < 0) {
		rc = PWNM_STATUS_NOTMUCH_LOCKED;
		err = xasprintf("the notmuch database is locked by another writer (waited %lld ms)",
				(long long)wait_ms);
	} else {
		rc = nm_open(r->o->nm_config, r->o->nm_profile, 1, wait_ms, &db, &err);
	}
	if (rc) {
		run_error(r, rc, "%s; tags not written, the next run retries", err);
		free(err);
		abandon_remote(r);
		r->write_rev = 0;
		goto out;
	}
	rev_open = notmuch_database_get_revision(db, NULL);
	changed_since(r, db, &busy);
	if ((rc = state_txn_begin(r->st, 0, &txn))) {
		run_error(r, rc, "cannot read the state database: %s", state_last_error(r->st));
		notmuch_database_destroy(db);
		abandon_remote(r);
		r->write_rev = 0;
		goto out;
	}
	nst = notmuch_database_begin_atomic(db);
	for (i = 0; i < np && !nst; i = j) {
		struct work **ws;
		struct patch_view *pv = NULL;
		struct patch_rec *recs = NULL;
		struct outbox_rec *outs = NULL;
		size_t npv = 0, nrecs = 0, nws;
		int need = 0, changed = 0;
		notmuch_message_t *m = NULL;
		struct tagset cur = { 0 }, want = { 0 };

		for (j = i; j < np && strcmp(pairs[j].nmid, pairs[i].nmid) == 0; j++)
			need |= pairs[j].w->tags;
		if (!need)
			continue;
		nws = j - i;
		ws = xcalloc(nws, sizeof(*ws));
		for (k = 0; k < nws; k++)
			ws[k] = pairs[i + k].w;
		{
			int held = 0;

			for (k = 0; k < nws; k++)
				held |= ws[k]->held;
			if (held) {
				for (k = 0; k < nws; k++)
					undo_remote(ws[k]);
				free(ws);
				continue;
			}
		}
		if (tagset_has(&busy, pairs[i].nmid)) {
			for (k = 0; k < nws; k++)
				undo_remote(ws[k]);
			r->res->skipped++;
			any_skip = 1;
			free(ws);
			continue;
		}
		if (notmuch_database_find_message(db, pairs[i].nmid, &m) || !m) {
			for (k = 0; k < nws; k++) {
				if (!(ws[k]->rec.flags & PATCH_F_NOMAIL)) {
					ws[k]->rec.flags |= PATCH_F_NOMAIL;
					ws[k]->dirty = 1;
				}
				r->res->missing++;
			}
			free(ws);
			continue;
		}
		mail_views(r, txn, pairs[i].nmid, ws, nws, &pv, &npv, &recs, &outs, &nrecs);
		nm_message_pw_tags(m, &cur);
		for (k = 0; k < nws; k++)
			if (!ws[k]->in_store)
				report_stale_tags(r, ws[k], &cur);
		wanted_tags(r, &cur, pv, npv, &want);
		rc = nm_message_set_pw_tags(m, &cur, &want, r->cfg->sync_maildir_flags, &changed, &err);
		if (rc) {
			run_error(r, rc, "%s", err);
			free(err);
			err = NULL;
			for (k = 0; k < nws; k++)
				undo_remote(ws[k]);
		} else {
			if (changed)
				r->res->messages_written++;
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
			if (outs[k].state || outs[k].delegate || outs[k].last_error)
				outbox_rec_free(&outs[k]);
		}
		free(recs);
		free(outs);
		free(pv);
		free(ws);
		if (batch == 1)
			crash_point(r, "mid-tags");
		if (++batch % TAG_BATCH == 0) {
			nst = notmuch_database_end_atomic(db);
			if (!nst)
				nst = notmuch_database_begin_atomic(db);
		}
	}
	state_txn_abort(txn);
	if (!nst)
		nst = notmuch_database_end_atomic(db);
	rev_after = notmuch_database_get_revision(db, NULL);
	if (!nst)
		nst = notmuch_database_close(db);
	notmuch_database_destroy(db);
	if (nst) {
		run_error(r, PWNM_STATUS_NOTMUCH, "cannot write tags to the notmuch database: %s",
			  notmuch_status_to_string(nst));
		abandon_remote(r);
		r->write_rev = 0;
		rc = PWNM_STATUS_NOTMUCH;
		goto out;
	}
	/* Our own writes are not the user's: skip them next time, unless others wrote too. */
	r->write_rev = 1;
	r->store_rev = (rev_open == r->rev && busy.n == 0 && !any_skip) ? rev_after : r->rev;
	rc = PWNM_STATUS_SUCCESS;
out:
	tagset_free(&busy);
	free(pairs);
	return rc;
}

/* ---- step 7: commit ---- */

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
			if (!w->in_store && !*w->rec.state && !(w->r_set & F_STATE))
				continue; /* nothing known of it yet */
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
	for (i = 0; i < r->nprojects && !rc; i++)
		if (r->proj_dirty[i])
			rc = state_project_put(txn, &r->projects[i]);
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
		rc = b.len ? state_meta_put(txn, "recheck", b.data) : state_meta_del(txn, "recheck");
		buf_free(&b);
	}
	if (!rc && r->users_dirty) {
		char *u = users_join(r);

		rc = state_meta_put(txn, "users", u);
		free(u);
	}
	if (!rc && r->api_version)
		rc = state_meta_put(txn, "api_version", r->api_version);
	if (!rc && r->lists_dirty)
		rc = state_meta_put(txn, "lists", r->lists);
	if (!rc && r->write_rev && !r->held_limit) {
		rc = state_meta_put(txn, "uuid", r->uuid);
		if (!rc)
			rc = state_meta_put_i64(txn, "revision", (int64_t)r->store_rev);
	}
	if (!rc)
		rc = state_meta_put(txn, "url", r->cfg->url ? r->cfg->url : "");
	if (!rc)
		rc = state_meta_put_i64(txn, "last_sync_time", now_unix());
	if (!rc)
		rc = state_meta_put(txn, "last_sync_result", result);
	if (rc) {
		state_txn_abort(txn);
		goto fail;
	}
	crash_point(r, "before-state-commit");
	rc = state_txn_commit(txn);
	if (!rc) {
		crash_point(r, "after-state-commit");
		return PWNM_STATUS_SUCCESS;
	}
fail:
	if (rc == PWNM_STATUS_STATE_FULL)
		run_error(r, rc, "the state database is full (%s); free disk space, or raise "
			  "PWNM_STATE_MAPSIZE, and run 'pwnm sync' again", state_last_error(r->st));
	else
		run_error(r, rc, "cannot write the state database: %s", state_last_error(r->st));
	return rc;
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
	char *stored_uuid = NULL, *msg = NULL;
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
	users_load(r, txn);
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
		report(r, "pwnm: the notmuch database is not the one last synced (new UUID or older "
			  "revision): tags are restored from the state database, nothing is pushed");
	} else if (o->full) {
		mode = SCAN_ALL;
	} else if (r->stored_rev == r->rev) {
		mode = SCAN_NONE;
	} else {
		mode = SCAN_RANGE;
	}
	t = now_ms();
	rc = local_scan(r, db, mode);
	notmuch_database_destroy(db);
	db = NULL;
	debug("sync", "phase scan %lld ms (%s, revision %lu..%lu, %zu patches touched)",
	      (long long)(now_ms() - t), mode == SCAN_NONE ? "none" : mode == SCAN_RANGE ? "range" : "all",
	      r->stored_rev, r->rev, r->wn);
	if (rc)
		goto done;
	t = now_ms();

	/* A token would go in clear to another host: say so before anything else. */
	if (o->push && !o->dry_run && config_insecure_url(cfg) && config_has_token(cfg)) {
		run_error(r, PWNM_STATUS_CONFIG,
			  "refusing to send the API token over plain http to '%s': use https, or set "
			  "pwnm.allow_insecure_http=true",
			  cfg->url);
		r->token_tried = 1; /* no token this run: changes wait */
	}

	/* Step 3: the server. */
	if (o->hook && r->nprojects == 0) {
		/* Never synced: a first sync is too long for a hook. */
		report(r, "pwnm: not synced yet; run 'pwnm sync' once");
		goto done;
	}
	rc = resolve_projects(r, o->pull && !o->hook);
	if (rc && !o->push)
		goto done;
	pending = has_pending(r);
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
			poll_project(r, i, r->new_mail || pending, 0);
		}
		recheck(r);
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
				long k = project_index(r, w->rec.project_id);

				if (k >= 0 && (w->scanned || w->has_out))
					mine[k] = 1;
			}
		}
		for (i = 0; i < r->nprojects; i++)
			if (mine[i] && r->poll[i])
				poll_project(r, i, 1, 1);
		free(mine);
	}

	crash_point(r, "after-remote");
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
			merge_work(r, w);
		}
	}

	debug("sync", "phase merge %lld ms", (long long)(now_ms() - t));
	t = now_ms();

	/* Step 5: push. */
	push_all(r);
	debug("sync", "phase push %lld ms (%u pushed)", (long long)(now_ms() - t), res->pushed);
	for (i = 0; i < r->wcap; i++) {
		struct work *w;

		for (w = r->wtab[i]; w; w = w->hnext)
			if (w->has_out && w->out.fields && !w->deleted &&
			    w->out.next_try == HELD_FOREVER)
				res->queued++;
	}
	if (o->dry_run)
		goto done;

	/* Step 6: tags; step 7: the store. */
	t = now_ms();
	apply_tags(r);
	crash_point(r, "after-tags");
	debug("sync", "phase tags %lld ms (%u mails written)", (long long)(now_ms() - t),
	      res->messages_written);
	t = now_ms();
	{
		char *result = r->first_error ? xasprintf("error: %s", r->first_error)
					      : xasprintf("ok: %u pulled, %u new, %u pushed, %u queued, "
							  "%u denied, %u conflicts",
							  res->pulled, res->new_patches, res->pushed,
							  res->queued, res->denied, res->conflicts);

		commit(r, result);
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

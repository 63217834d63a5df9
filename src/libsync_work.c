/* libsync_work.c - the sync run's services (reports, errors, crash points) and its work items, users and states */
#include "libsync_p.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "libutil.h"

void
run_report(struct run *r, const char *fmt, ...)
{
	va_list ap;
	struct buf b = { 0 };
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	buf_add_escaped(&b, msg);
	buf_addc(&b, '\n');
	fputs(b.data, r->out);
	fflush(r->out);
	buf_free(&b);
	free(msg);
}

/* "pwnm: TAG on <MSGID>: WHAT", both names escaped: a tag of the user's named with its mail. */
void
run_report_tag(struct run *r, const char *tag, const char *nmid, const char *what)
{
	char *shown = text_escape(tag), *id = text_escape(nmid);

	run_report(r, "pwnm: %s on <%s>: %s", shown, id, what);
	free(id);
	free(shown);
}

static const char *const note_keys[NOTE_COUNT] = { META_NOTE_TOKEN, META_NOTE_PUSH_LIMIT,
						    META_NOTE_UNSYNCED };

void
run_note_known(struct run *r, enum run_note_kind k)
{
	r->note_known[k] = 1;
}

void
run_note(struct run *r, enum run_note_kind k, const char *fmt, ...)
{
	va_list ap;
	char *raw, *msg, *stored = NULL;
	pwnm_txn_t *txn;

	va_start(ap, fmt);
	raw = xvasprintf(fmt, ap);
	va_end(ap);
	msg = text_escape(raw); /* stored for pwnm status, which prints it as it is */
	free(raw);
	r->note_known[k] = 1;
	if (state_txn_begin(r->st, 0, &txn) == PWNM_STATUS_SUCCESS) {
		state_meta_get(txn, note_keys[k], &stored);
		state_txn_abort(txn);
	}
	if (!stored || strcmp(stored, msg) != 0 || r->o->dry_run || r->o->verbose)
		run_report(r, "%s", msg);
	free(stored);
	free(r->note[k]);
	r->note[k] = msg;
}

pwnm_status_t
run_notes_commit(struct run *r, pwnm_txn_t *txn)
{
	pwnm_status_t rc = PWNM_STATUS_SUCCESS;
	size_t k;

	for (k = 0; k < NOTE_COUNT && !rc; k++) {
		if (!r->note_known[k])
			continue;
		rc = r->note[k] ? state_meta_put(txn, note_keys[k], r->note[k])
				: state_meta_del(txn, note_keys[k]);
	}
	return rc;
}

void
run_error(struct run *r, pwnm_status_t rc, const char *fmt, ...)
{
	va_list ap;
	char *raw, *msg;

	va_start(ap, fmt);
	raw = xvasprintf(fmt, ap);
	va_end(ap);
	msg = text_escape(raw); /* kept: it goes to the store, status and the hook log */
	free(raw);
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
void
run_crash_point(const struct run *r, const char *name)
{
	const char *pause = getenv("PWNM_DEBUG_PAUSE_AT"); /* tests: stop here until SIGCONT */

	if (r->o->crash_at && strcmp(r->o->crash_at, name) == 0) {
		fflush(NULL);
		raise(SIGKILL);
	}
	if (pause && strcmp(pause, name) == 0) {
		fflush(NULL);
		raise(SIGSTOP);
	}
}

/*
 * Fault points for the tests of storage failures: when PWNM_DEBUG_FAIL_AT
 * names this point, the store's next read transaction fails, as one that
 * LMDB refuses would (state_fail_next_read).
 */
void
run_fault_point(const struct run *r, const char *name)
{
	const char *at = getenv("PWNM_DEBUG_FAIL_AT");

	if (at && strcmp(at, name) == 0)
		state_fail_next_read(r->st);
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

struct work *
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
long
run_project_index(const struct run *r, uint32_t id)
{
	size_t i;

	for (i = 0; i < r->nprojects; i++)
		if (r->projects[i].id == id)
			return (long)i;
	return -1;
}

const char *
run_project_name(struct run *r, uint32_t id)
{
	long i = run_project_index(r, id);

	return i < 0 ? NULL : r->projects[i].link_name;
}

struct work *
work_insert(struct run *r, const struct patch_rec *rec, int in_store)
{
	struct work *w = xcalloc(1, sizeof(*w));
	size_t b, i;

	patch_rec_copy(&w->rec, rec);
	for (i = 0; i < FIELD_COUNT; i++)
		field_copy_set(&w->orig[i], field_agreed(&field_table[i], rec));
	w->orig_flags = rec->flags;
	w->in_store = in_store;
	w->project = run_project_name(r, rec->project_id); /* NULL: see work_tracked */
	w->nmid = msgid_to_notmuch(rec->msgid);
	if (r->wn + 1 > r->wcap * 3 / 4)
		wtab_grow(r);
	b = hash_key(rec->project_id, rec->patch_id) & (r->wcap - 1);
	w->hnext = r->wtab[b];
	r->wtab[b] = w;
	if (++r->wn > r->wpeak)
		r->wpeak = r->wn;
	return w;
}

int
work_tracked(struct run *r, struct work *w)
{
	if (!w->project)
		w->project = run_project_name(r, w->rec.project_id);
	return w->project != NULL;
}

void
work_drop(struct run *r, struct work *w)
{
	struct work **pp = &r->wtab[hash_key(w->rec.project_id, w->rec.patch_id) & (r->wcap - 1)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == w) {
			*pp = w->hnext;
			r->wn--;
			work_free(w);
			return;
		}
	}
}

/* The work item of a patch, loaded from the store when it is there; NULL when unknown. */
struct work *
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
		outbox_rec_copy(&w->out, &out);
		outbox_rec_free(&out);
	}
	return w;
}

void
work_free(struct work *w)
{
	size_t i;

	patch_rec_free(&w->rec);
	for (i = 0; i < FIELD_COUNT; i++) {
		field_copy_free(&w->orig[i]);
		field_copy_free(&w->r[i]);
		field_copy_free(&w->l[i]);
	}
	if (w->has_out)
		outbox_rec_free(&w->out);
	free(w->nmid);
	free(w);
}

static uint64_t
counted_key(uint32_t project, uint32_t patch)
{
	return ((uint64_t)project << 32 | patch) + 1; /* never 0 */
}

int
run_counted(const struct run *r, uint32_t project, uint32_t patch)
{
	uint64_t k = counted_key(project, patch);
	size_t i;

	if (!r->ccap)
		return 0;
	for (i = hash_key(project, patch) & (r->ccap - 1); r->counted[i]; i = (i + 1) & (r->ccap - 1))
		if (r->counted[i] == k)
			return 1;
	return 0;
}

static void
counted_put(uint64_t *tab, size_t cap, uint64_t k)
{
	size_t i = hash_key((uint32_t)((k - 1) >> 32), (uint32_t)(k - 1)) & (cap - 1);

	while (tab[i] && tab[i] != k)
		i = (i + 1) & (cap - 1);
	tab[i] = k;
}

void
run_counted_add(struct run *r, uint32_t project, uint32_t patch)
{
	size_t i;

	if (run_counted(r, project, patch))
		return;
	if (r->ncounted + 1 > r->ccap / 2) {
		size_t ncap = r->ccap ? r->ccap * 2 : 1024;
		uint64_t *nt = xcalloc(ncap, sizeof(*nt));

		for (i = 0; i < r->ccap; i++)
			if (r->counted[i])
				counted_put(nt, ncap, r->counted[i]);
		free(r->counted);
		r->counted = nt;
		r->ccap = ncap;
	}
	counted_put(r->counted, r->ccap, counted_key(project, patch));
	r->ncounted++;
}

/* ---- users (delegates) ---- */

uint32_t
run_user_id(struct run *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nusers; i++)
		if (strcmp(r->users[i].name, name) == 0)
			return r->users[i].id;
	return 0;
}

void
run_user_learn(struct run *r, const char *name, uint32_t id)
{
	size_t i;

	if (!name || !*name || !id || strlen(name) > STATE_USER_NAME_MAX)
		return;
	for (i = 0; i < r->nusers; i++) {
		if (strcmp(r->users[i].name, name) == 0) {
			if (r->users[i].id != id) {
				r->users[i].id = id;
				r->users[i].dirty = 1;
				r->users_dirty = 1;
			}
			return;
		}
	}
	r->users = xreallocarray(r->users, r->nusers + 1, sizeof(*r->users));
	r->users[r->nusers].name = xstrdup(name);
	r->users[r->nusers].id = id;
	r->users[r->nusers].dirty = 1;
	r->nusers++;
	r->users_dirty = 1;
}

static int
users_load_cb(const char *name, uint32_t id, void *data)
{
	struct run *r = data;
	size_t n = r->nusers;

	run_user_learn(r, name, id);
	if (r->nusers > n)
		r->users[n].dirty = 0;
	return 0;
}

/* A delegate the store agreed on with the server: its name and id came together. */
static int
users_rebuild_cb(const struct patch_rec *p, void *data)
{
	if (p->delegate && *p->delegate && p->delegate_id)
		run_user_learn(data, p->delegate, p->delegate_id);
	return 0;
}

/*
 * The users are records of the store's user database.  A store from
 * before it has them in meta "users" as one joined string, which a name
 * with ';' or '=' garbled beyond repair: that string is not read but
 * replaced by the delegates of the patch records, whose name and id
 * were agreed with the server together, and deleted at the commit
 * (r->users_rebuilt; run_users_fix_outbox settles the queued changes).
 */
pwnm_status_t
run_users_load(struct run *r, pwnm_txn_t *txn)
{
	char *old = NULL;
	pwnm_status_t rc;

	rc = state_user_foreach(txn, users_load_cb, r);
	if (!rc)
		rc = state_meta_get(txn, META_USERS, &old);
	if (!rc && old) {
		rc = state_patch_foreach(txn, 0, users_rebuild_cb, r);
		r->users_rebuilt = 1;
	}
	free(old);
	r->users_dirty = r->users_rebuilt;
	return rc;
}

/*
 * After a rebuild, a queued delegation's id may have come from the
 * garbled string: it is looked up again by name (0 when unknown, which
 * the push resolves or refuses with a line).
 */
void
run_users_fix_outbox(struct run *r)
{
	size_t i;
	struct work *w;

	if (!r->users_rebuilt)
		return;
	for (i = 0; i < r->wcap; i++)
		for (w = r->wtab[i]; w; w = w->hnext)
			if (w->has_out && (w->out.fields & OUT_DELEGATE) && w->out.delegate &&
			    *w->out.delegate &&
			    w->out.delegate_id != run_user_id(r, w->out.delegate)) {
				w->out.delegate_id = run_user_id(r, w->out.delegate);
				w->out_dirty = 1;
			}
}

/* The users learnt or changed this run, one record each; the old joined string goes. */
pwnm_status_t
run_users_commit(struct run *r, pwnm_txn_t *txn)
{
	pwnm_status_t rc = PWNM_STATUS_SUCCESS;
	size_t i;

	if (!r->users_dirty)
		return rc;
	for (i = 0; !rc && i < r->nusers; i++)
		if (r->users[i].dirty)
			rc = state_user_put(txn, r->users[i].name, r->users[i].id);
	if (!rc && r->users_rebuilt)
		rc = state_meta_del(txn, META_USERS);
	return rc;
}

void
run_state_seen(struct run *r, uint32_t project_id, const char *slug)
{
	long i = run_project_index(r, project_id);
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

/* A 400 answer listed the project's states: each is learnt, and the list is complete now. */
void
run_states_listed(struct run *r, uint32_t project_id, const char *list)
{
	long i = run_project_index(r, project_id);
	char *s, *p, *save = NULL;

	if (i < 0 || !list || !*list)
		return;
	s = xstrdup(list);
	for (p = strtok_r(s, ";", &save); p; p = strtok_r(NULL, ";", &save))
		run_state_seen(r, project_id, p);
	free(s);
	r->projects[i].states_listed = now_unix();
	r->proj_dirty[i] = 1;
}

/*
 * Is slug a state the project does not have, as far as pwnm can tell
 * (its list complete, sync_state_unknown)?  A typo: never sent.
 */
int
run_state_typo(const struct run *r, uint32_t project_id, const char *slug)
{
	long i = run_project_index(r, project_id);

	return i >= 0 && sync_state_unknown(&r->projects[i], slug, now_unix());
}

/* ---- values shown by the tags ---- */

/* The values the mail's tags should show: agreed, overridden by a pending local change. */
void
shown_values(const struct patch_rec *rec, const struct outbox_rec *out, int has_out,
	     struct pw_values *v)
{
	size_t i;

	for (i = 0; i < FIELD_COUNT; i++) {
		const struct field *f = &field_table[i];

		if (has_out && (out->fields & FIELD_BIT(i)))
			field_set_shown(f, v, field_wanted(f, out));
		else
			field_set_shown(f, v, field_agreed(f, rec));
	}
}

/* Replace *dst by a copy of src (which may point into *dst). */
void
str_set(char **dst, const char *src)
{
	char *copy = xstrdup(src ? src : "");

	free(*dst);
	*dst = copy;
}

/* tst_state.c - unit tests of the LMDB state store (libstate) */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

#include "libstate.h"
#include "libstatus.h"
#include "libutil.h"
#include "tap.h"

static char *tmpdir;

/* ---- helpers ---- */

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
rm_rf(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static pwnm_state_t *
open_ok(const char *dir, size_t mapsize)
{
	pwnm_state_t *st = NULL;
	char *err = NULL;
	pwnm_status_t s = state_open(dir, mapsize, &st, &err);

	if (s != PWNM_STATUS_SUCCESS)
		fatal("state_open '%s': %s", dir, err ? err : "?");
	return st;
}

static pwnm_txn_t *
begin(pwnm_state_t *st, int write)
{
	pwnm_txn_t *t = NULL;

	if (state_txn_begin(st, write, &t) != PWNM_STATUS_SUCCESS)
		fatal("state_txn_begin: %s", state_last_error(st));
	return t;
}

static void
commit(pwnm_txn_t *t)
{
	if (state_txn_commit(t) != PWNM_STATUS_SUCCESS)
		fatal("state_txn_commit failed");
}

static int
copy_file(const char *from, const char *to, off_t len)
{
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	char buf[4096];
	off_t done = 0;
	size_t n, want;
	int rc = 0;

	if (!in || !out) {
		rc = -1;
		goto out;
	}
	while (done < len) {
		want = (size_t)(len - done) < sizeof(buf) ? (size_t)(len - done) : sizeof(buf);
		n = fread(buf, 1, want, in);
		if (n == 0)
			break;
		if (fwrite(buf, 1, n, out) != n) {
			rc = -1;
			goto out;
		}
		done += (off_t)n;
	}
out:
	if (in)
		fclose(in);
	if (out && fclose(out) != 0)
		rc = -1;
	return rc;
}

static off_t
file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) < 0 ? -1 : sb.st_size;
}

static struct patch_rec
mkpatch(uint32_t project, uint32_t id, const char *msgid)
{
	struct patch_rec p;

	memset(&p, 0, sizeof(p));
	p.project_id = project;
	p.patch_id = id;
	p.msgid = (char *)(uintptr_t)msgid;
	p.state = (char *)(uintptr_t)"new";
	p.date = 1700000000 + (int64_t)id;
	return p;
}

static int
has_key(const struct patch_key *keys, size_t n, uint32_t project, uint32_t patch)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (keys[i].project_id == project && keys[i].patch_id == patch)
			return 1;
	return 0;
}

static size_t
lookup_n(pwnm_txn_t *t, const char *nm, struct patch_key *first)
{
	struct patch_key *keys = NULL;
	size_t n = 99;

	if (state_msgid_lookup(t, nm, &keys, &n) != PWNM_STATUS_SUCCESS)
		return 1000;
	if (first) {
		memset(first, 0, sizeof(*first));
		if (n > 0)
			*first = keys[0];
	}
	if ((n == 0) != (keys == NULL))
		n = 2000;
	free(keys);
	return n;
}

struct collect {
	uint32_t ids[64];
	uint32_t projects[64];
	size_t n;
	size_t stop_after; /* 0: never */
	int bad_strings;
};

static int
collect_patch(const struct patch_rec *p, void *data)
{
	struct collect *c = data;

	if (!p->msgid || !p->state || !p->delegate || !p->note)
		c->bad_strings++;
	if (c->n < 64) {
		c->ids[c->n] = p->patch_id;
		c->projects[c->n] = p->project_id;
	}
	c->n++;
	if (c->stop_after && c->n >= c->stop_after)
		return 42;
	return 0;
}

static int
collect_outbox(const struct outbox_rec *o, void *data)
{
	struct collect *c = data;

	if (!o->state || !o->delegate || !o->last_error)
		c->bad_strings++;
	if (c->n < 64) {
		c->ids[c->n] = o->patch_id;
		c->projects[c->n] = o->project_id;
	}
	c->n++;
	return 0;
}

struct del_ctx {
	pwnm_txn_t *txn;
	int failures;
	size_t seen;
};

static int
delete_each(const struct patch_rec *p, void *data)
{
	struct del_ctx *d = data;

	d->seen++;
	if (state_patch_del(d->txn, p->project_id, p->patch_id) != PWNM_STATUS_SUCCESS)
		d->failures++;
	return 0;
}

struct touch_ctx {
	pwnm_txn_t *txn;
	int failures;
	size_t seen;
};

/* Rewrites the record it is handed, with a longer note. */
static int
touch_each(const struct patch_rec *p, void *data)
{
	struct touch_ctx *d = data;
	struct patch_rec np = *p;

	d->seen++;
	np.note = (char *)(uintptr_t)"a much longer note than before, to move things around";
	np.flags |= PATCH_F_CONFLICT;
	if (state_patch_put(d->txn, &np) != PWNM_STATUS_SUCCESS)
		d->failures++;
	return 0;
}

/* ---- tests ---- */

static void
test_open_and_meta(const char *dir)
{
	pwnm_state_t *st;
	pwnm_txn_t *t, *t2 = NULL;
	char *v = (char *)1, *path;
	int64_t i = 5;
	struct stat sb;

	st = open_ok(dir, 0);
	ok(stat(dir, &sb) == 0 && (sb.st_mode & 0777) == 0700, "state directory created 0700");
	path = xasprintf("%s/data.mdb", dir);
	ok(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600, "data.mdb is 0600");
	free(path);

	t = begin(st, 0);
	is_int(state_meta_get(t, "schema_version", &v), PWNM_STATUS_SUCCESS, "meta get schema_version");
	is_str(v, "4", "schema_version written at creation");
	free(v);
	v = (char *)1;
	is_int(state_meta_get(t, "uuid", &v), PWNM_STATUS_SUCCESS, "meta get absent: SUCCESS");
	ok(v == NULL, "meta get absent: NULL");
	is_int(state_meta_get_i64(t, "revision", -7, &i), PWNM_STATUS_SUCCESS, "meta i64 absent");
	is_int(i, -7, "meta i64 absent gives the default");
	is_int(state_meta_put(t, "uuid", "x"), PWNM_STATUS_STATE, "meta put in a read txn refused");
	ok(strstr(state_last_error(st), "read transaction") != NULL, "last_error says why: %s",
	   state_last_error(st));
	is_int(state_txn_commit(t), PWNM_STATUS_SUCCESS, "commit of a read txn");

	t = begin(st, 1);
	is_int(state_txn_begin(st, 1, &t2), PWNM_STATUS_STATE, "second write txn refused");
	ok(t2 == NULL, "second write txn: NULL out");
	t2 = begin(st, 0);
	ok(t2 != NULL, "read txn while the write txn is open");
	state_txn_abort(t2);
	is_int(state_meta_put(t, "uuid", "1234-ab"), PWNM_STATUS_SUCCESS, "meta put");
	is_int(state_meta_put(t, "url", "https://patchwork.example/ é"), PWNM_STATUS_SUCCESS,
	       "meta put non-ASCII");
	is_int(state_meta_put(t, "empty", NULL), PWNM_STATUS_SUCCESS, "meta put NULL value");
	is_int(state_meta_put_i64(t, "revision", INT64_MAX), PWNM_STATUS_SUCCESS, "meta put i64");
	is_int(state_meta_put_i64(t, "neg", INT64_MIN), PWNM_STATUS_SUCCESS, "meta put i64 min");
	is_int(state_meta_put(t, "", "x"), PWNM_STATUS_STATE, "meta put empty key refused");
	commit(t);

	t = begin(st, 1);
	is_int(state_meta_put(t, "uuid", "discarded"), PWNM_STATUS_SUCCESS, "meta put then abort");
	state_txn_abort(t);

	t = begin(st, 0);
	state_meta_get(t, "uuid", &v);
	is_str(v, "1234-ab", "meta round trip; aborted change gone");
	free(v);
	state_meta_get(t, "url", &v);
	is_str(v, "https://patchwork.example/ é", "meta non-ASCII round trip");
	free(v);
	state_meta_get(t, "empty", &v);
	is_str(v, "", "meta NULL stored as empty");
	free(v);
	state_meta_get_i64(t, "revision", 0, &i);
	ok(i == INT64_MAX, "meta i64 max round trip");
	state_meta_get_i64(t, "neg", 0, &i);
	ok(i == INT64_MIN, "meta i64 min round trip");
	i = 3;
	is_int(state_meta_get_i64(t, "uuid", 0, &i), PWNM_STATUS_STATE, "meta i64 of non-number");
	is_int(i, 0, "meta i64 of non-number: 0");
	state_txn_abort(t);

	t = begin(st, 1);
	is_int(state_meta_del(t, "uuid"), PWNM_STATUS_SUCCESS, "meta del");
	is_int(state_meta_del(t, "uuid"), PWNM_STATUS_SUCCESS, "meta del absent");
	v = (char *)1;
	state_meta_get(t, "uuid", &v);
	ok(v == NULL, "meta del removed it");
	commit(t);
	state_close(st);
}

static void
test_projects(pwnm_state_t *st)
{
	pwnm_txn_t *t;
	struct project_rec p, g, *list = (struct project_rec *)1;
	size_t n = 9;
	static const uint32_t ids[3] = { 30, 2, 70000 };
	size_t i;

	t = begin(st, 0);
	is_int(state_project_list(t, &list, &n), PWNM_STATUS_SUCCESS, "empty project list");
	ok(list == NULL && n == 0, "empty project list: NULL, 0");
	state_txn_abort(t);

	t = begin(st, 1);
	for (i = 0; i < 3; i++) {
		memset(&p, 0, sizeof(p));
		p.id = ids[i];
		p.link_name = xasprintf("proj-%u", ids[i]);
		p.web_url = i == 1 ? NULL : (char *)(uintptr_t)"https://example.org/p/ü";
		p.event_cursor = (char *)(uintptr_t)"2024-01-02T03:04:05.123456";
		p.event_last_id = UINT64_MAX - i;
		p.max_patch_id = UINT32_MAX - (uint32_t)i;
		p.last_reconcile = INT64_MIN + (int64_t)i;
		p.last_poll = INT64_MAX - (int64_t)i;
		p.states_seen = i == 2 ? (char *)(uintptr_t)"" : (char *)(uintptr_t)"new;accepted";
		p.states_listed = i == 0 ? 0 : 1700000000 + (int64_t)i;
		is_int(state_project_put(t, &p), PWNM_STATUS_SUCCESS, "project put %u", ids[i]);
		free(p.link_name);
	}
	commit(t);

	t = begin(st, 0);
	is_int(state_project_get(t, 30, &g), PWNM_STATUS_SUCCESS, "project get");
	is_str(g.link_name, "proj-30", "project link_name");
	is_str(g.web_url, "https://example.org/p/ü", "project web_url non-ASCII");
	is_str(g.event_cursor, "2024-01-02T03:04:05.123456", "project event_cursor");
	ok(g.event_last_id == UINT64_MAX, "project event_last_id");
	ok(g.max_patch_id == UINT32_MAX, "project max_patch_id");
	ok(g.last_reconcile == INT64_MIN, "project last_reconcile");
	ok(g.last_poll == INT64_MAX, "project last_poll");
	is_str(g.states_seen, "new;accepted", "project states_seen");
	ok(g.states_listed == 0, "project states_listed 0: never listed");
	ok(g.id == 30, "project id");
	project_rec_free(&g);
	ok(g.link_name == NULL, "project_rec_free clears the pointers");
	state_project_get(t, 2, &g);
	is_str(g.web_url, "", "project NULL string stored as empty");
	project_rec_free(&g);
	state_project_get(t, 70000, &g);
	is_str(g.states_seen, "", "project empty string");
	ok(g.states_listed == 1700000002, "project states_listed kept");
	project_rec_free(&g);
	is_int(state_project_get(t, 5, &g), PWNM_STATUS_NOT_FOUND, "project get absent: NOT_FOUND");
	ok(g.link_name == NULL && g.id == 0, "project get absent: zeroed");
	is_int(state_project_list(t, &list, &n), PWNM_STATUS_SUCCESS, "project list");
	is_int(n, 3, "project list length");
	ok(n == 3 && list[0].id == 2 && list[1].id == 30 && list[2].id == 70000,
	   "project list ordered by id (numeric, big-endian keys)");
	is_str(n == 3 ? list[2].link_name : NULL, "proj-70000", "project list strings");
	ok(n == 3 && list[0].states_listed == 1700000001 && list[1].states_listed == 0 &&
		   list[2].states_listed == 1700000002,
	   "project list: each project's states_listed");
	state_project_list_free(list, n);
	state_txn_abort(t);

	t = begin(st, 1);
	is_int(state_project_del(t, 70000), PWNM_STATUS_SUCCESS, "project del");
	is_int(state_project_del(t, 70000), PWNM_STATUS_SUCCESS, "project del absent");
	is_int(state_project_get(t, 70000, &g), PWNM_STATUS_NOT_FOUND, "project gone");
	{
		char *v = NULL;

		state_meta_get(t, META_STATES_LISTED "70000", &v);
		ok(v == NULL, "project del: its states_listed goes too");
		free(v);
	}
	memset(&p, 0, sizeof(p));
	p.id = 2;
	p.link_name = (char *)(uintptr_t)"proj-2";
	is_int(state_project_put(t, &p), PWNM_STATUS_SUCCESS, "project put, states_listed 0");
	state_project_get(t, 2, &g);
	ok(g.states_listed == 0, "a put with states_listed 0 clears it");
	project_rec_free(&g);
	commit(t);
}

static void
test_patches(pwnm_state_t *st)
{
	pwnm_txn_t *t;
	struct patch_rec p, g;
	struct collect c;
	size_t n = 9, i;
	pwnm_status_t s;

	t = begin(st, 1);
	memset(&p, 0, sizeof(p));
	p.project_id = 2;
	p.patch_id = 0xfffffffeu;
	p.flags = PATCH_F_TAGGED | PATCH_F_DENIED;
	p.archived = 1;
	p.delegate_id = 4242;
	p.date = -86400;
	p.msgid = (char *)(uintptr_t)"<odd \"id\" 1@x>";
	p.state = (char *)(uintptr_t)"changes-requested";
	p.delegate = (char *)(uintptr_t)"Jörg Müller";
	p.note = (char *)(uintptr_t)"403: you may not \"change\" this";
	is_int(state_patch_put(t, &p), PWNM_STATUS_SUCCESS, "patch put, all fields");
	memset(&p, 0, sizeof(p));
	p.project_id = 2;
	p.patch_id = 7;
	is_int(state_patch_put(t, &p), PWNM_STATUS_SUCCESS, "patch put, NULL strings");
	for (i = 1; i <= 5; i++) {
		char *m = xasprintf("<p30-%zu@example.org>", i);

		p = mkpatch(30, (uint32_t)(100 - i), m);
		s = state_patch_put(t, &p);
		free(m);
		if (s != PWNM_STATUS_SUCCESS)
			break;
	}
	is_int(s, PWNM_STATUS_SUCCESS, "patch put 5 in project 30");
	p = mkpatch(1, 1, "<p1@x>");
	state_patch_put(t, &p);
	p = mkpatch(3, 1, "<p3@x>");
	state_patch_put(t, &p);
	commit(t);

	t = begin(st, 0);
	is_int(state_patch_get(t, 2, 0xfffffffeu, &g), PWNM_STATUS_SUCCESS, "patch get");
	ok(g.project_id == 2 && g.patch_id == 0xfffffffeu, "patch ids");
	is_int(g.flags, PATCH_F_TAGGED | PATCH_F_DENIED, "patch flags");
	is_int(g.archived, 1, "patch archived");
	is_int(g.delegate_id, 4242, "patch delegate_id");
	is_int(g.date, -86400, "patch date (negative)");
	is_str(g.msgid, "<odd \"id\" 1@x>", "patch msgid with quotes and spaces");
	is_str(g.state, "changes-requested", "patch state");
	is_str(g.delegate, "Jörg Müller", "patch delegate non-ASCII");
	is_str(g.note, "403: you may not \"change\" this", "patch note");
	patch_rec_free(&g);
	state_patch_get(t, 2, 7, &g);
	ok(g.msgid && g.state && g.delegate && g.note && !*g.msgid && !*g.state && !*g.delegate &&
		   !*g.note,
	   "patch NULL strings come back empty, never NULL");
	ok(g.archived == 0 && g.flags == 0 && g.date == 0, "patch zero fields");
	patch_rec_free(&g);
	is_int(state_patch_get(t, 2, 8, &g), PWNM_STATUS_NOT_FOUND, "patch get absent");
	ok(g.msgid == NULL, "patch get absent: NULL strings");
	is_int(state_patch_get(t, 4, 7, &g), PWNM_STATUS_NOT_FOUND, "patch get other project");

	is_int(state_patch_count(t, 0, &n), PWNM_STATUS_SUCCESS, "patch count all");
	is_int(n, 9, "patch count all = 9");
	state_patch_count(t, 30, &n);
	is_int(n, 5, "patch count project 30");
	state_patch_count(t, 2, &n);
	is_int(n, 2, "patch count project 2");
	state_patch_count(t, 1, &n);
	is_int(n, 1, "patch count project 1");
	state_patch_count(t, 29, &n);
	is_int(n, 0, "patch count empty project");
	state_patch_count(t, 999, &n);
	is_int(n, 0, "patch count project past the last");

	memset(&c, 0, sizeof(c));
	is_int(state_patch_foreach(t, 30, collect_patch, &c), PWNM_STATUS_SUCCESS,
	       "foreach project 30");
	is_int(c.n, 5, "foreach project 30 visits 5");
	ok(c.n == 5 && c.ids[0] == 95 && c.ids[4] == 99 && c.projects[0] == 30 &&
		   c.projects[4] == 30,
	   "foreach project 30 in key order, only project 30");
	memset(&c, 0, sizeof(c));
	state_patch_foreach(t, 2, collect_patch, &c);
	ok(c.n == 2 && c.ids[0] == 7 && c.ids[1] == 0xfffffffeu, "foreach project 2");
	is_int(c.bad_strings, 0, "foreach strings never NULL");
	memset(&c, 0, sizeof(c));
	state_patch_foreach(t, 0, collect_patch, &c);
	is_int(c.n, 9, "foreach all");
	ok(c.n == 9 && c.projects[0] == 1 && c.projects[1] == 2 && c.projects[3] == 3 &&
		   c.projects[8] == 30,
	   "foreach all in (project, patch) order");
	memset(&c, 0, sizeof(c));
	state_patch_foreach(t, 29, collect_patch, &c);
	is_int(c.n, 0, "foreach empty project");
	memset(&c, 0, sizeof(c));
	c.stop_after = 2;
	is_int(state_patch_foreach(t, 30, collect_patch, &c), 42, "foreach stops with cb value");
	is_int(c.n, 2, "foreach stopped after 2");
	state_txn_abort(t);

	/* Rewriting records from inside a foreach of a write txn. */
	t = begin(st, 1);
	{
		struct touch_ctx d = { t, 0, 0 };

		is_int(state_patch_foreach(t, 30, touch_each, &d), PWNM_STATUS_SUCCESS,
		       "foreach rewriting each record");
		ok(d.seen == 5 && d.failures == 0, "foreach rewrite visited 5 (%zu)", d.seen);
	}
	state_patch_get(t, 30, 97, &g);
	ok(g.flags == PATCH_F_CONFLICT && strncmp(g.note, "a much longer", 13) == 0 &&
		   strcmp(g.msgid, "<p30-3@example.org>") == 0,
	   "foreach rewrite stored");
	patch_rec_free(&g);
	is_int(lookup_n(t, "p30-3@example.org", NULL), 1, "index kept by rewrite");
	state_txn_abort(t);
}

static void
test_msgid(pwnm_state_t *st)
{
	pwnm_txn_t *t;
	struct patch_rec p;
	struct patch_key k, *keys = (struct patch_key *)1;
	size_t n = 7;
	char *a, *b;

	t = begin(st, 0);
	is_int(lookup_n(t, "odd\"id\"1@x", &k), 1, "lookup msgid with quotes/spaces (nm form)");
	ok(k.project_id == 2 && k.patch_id == 0xfffffffeu, "lookup gives the pair");
	is_int(lookup_n(t, "<odd \"id\" 1@x>", NULL), 0, "lookup wants the notmuch form");
	is_int(state_msgid_lookup(t, "nobody@x", &keys, &n), PWNM_STATUS_SUCCESS, "lookup unknown");
	ok(keys == NULL && n == 0, "lookup unknown: NULL, 0");
	is_int(lookup_n(t, "", NULL), 0, "lookup empty");
	state_txn_abort(t);

	t = begin(st, 1);
	/* Cross-post: the same mail in projects 1 and 3 and twice in 5. */
	p = mkpatch(1, 50, "<cross@lists>");
	state_patch_put(t, &p);
	p = mkpatch(3, 51, " < cross@lists > ");
	state_patch_put(t, &p);
	p = mkpatch(5, 52, "<cross@lists>");
	state_patch_put(t, &p);
	p = mkpatch(5, 53, "<cross@lists>");
	state_patch_put(t, &p);
	commit(t);

	t = begin(st, 0);
	keys = NULL;
	n = 0;
	is_int(state_msgid_lookup(t, "cross@lists", &keys, &n), PWNM_STATUS_SUCCESS,
	       "lookup cross-post");
	is_int(n, 4, "cross-post gives every pair");
	ok(has_key(keys, n, 1, 50) && has_key(keys, n, 3, 51) && has_key(keys, n, 5, 52) &&
		   has_key(keys, n, 5, 53),
	   "cross-post pairs");
	free(keys);
	state_txn_abort(t);

	/* Changing a msgid moves its index entry. */
	t = begin(st, 1);
	p = mkpatch(5, 53, "<other@lists>");
	is_int(state_patch_put(t, &p), PWNM_STATUS_SUCCESS, "patch put with a new msgid");
	is_int(lookup_n(t, "cross@lists", NULL), 3, "old msgid entry removed");
	is_int(lookup_n(t, "other@lists", &k), 1, "new msgid entry added");
	ok(k.project_id == 5 && k.patch_id == 53, "new msgid entry points to the patch");
	p = mkpatch(5, 53, "<other@lists>");
	p.state = (char *)(uintptr_t)"accepted";
	state_patch_put(t, &p);
	is_int(lookup_n(t, "other@lists", NULL), 1, "same msgid put twice: one entry");
	p = mkpatch(5, 53, "");
	state_patch_put(t, &p);
	is_int(lookup_n(t, "other@lists", NULL), 0, "msgid cleared: entry removed");
	p = mkpatch(5, 53, "<other@lists>");
	state_patch_put(t, &p);
	is_int(lookup_n(t, "other@lists", NULL), 1, "msgid set again: entry back");
	commit(t);

	/* 2 KiB msgids sharing their first 480+ bytes. */
	a = xmalloc(2049);
	b = xmalloc(2049);
	memset(a, 'a', 2048);
	a[0] = '<';
	a[2047] = '>';
	a[2048] = '\0';
	memcpy(b, a, 2049);
	a[1500] = 'X';
	b[1500] = 'Y';
	t = begin(st, 1);
	p = mkpatch(7, 1, a);
	is_int(state_patch_put(t, &p), PWNM_STATUS_SUCCESS, "patch put 2 KiB msgid A");
	p = mkpatch(7, 2, b);
	is_int(state_patch_put(t, &p), PWNM_STATUS_SUCCESS, "patch put 2 KiB msgid B");
	commit(t);
	t = begin(st, 0);
	a[2047] = '\0';
	b[2047] = '\0';
	is_int(lookup_n(t, a + 1, &k), 1, "long msgid A: one match despite shared key");
	ok(k.project_id == 7 && k.patch_id == 1, "long msgid A: the right patch");
	is_int(lookup_n(t, b + 1, &k), 1, "long msgid B: one match");
	ok(k.project_id == 7 && k.patch_id == 2, "long msgid B: the right patch");
	a[STATE_MSGID_KEY_MAX + 1] = '\0';
	is_int(lookup_n(t, a + 1, NULL), 0, "the bare 480-byte prefix matches nothing");
	state_txn_abort(t);
	free(a);
	free(b);
}

static int
users_cb(const char *name, uint32_t id, void *data)
{
	buf_printf(data, "[%s]%u ", name, id);
	return 0;
}

/* Users are records keyed by name: a name with ';', '=' or blanks stays one name. */
static void
test_users(pwnm_state_t *st)
{
	struct buf b = { 0 };
	char *longname = xmalloc(STATE_USER_NAME_MAX + 2);
	pwnm_txn_t *t;

	memset(longname, 'u', STATE_USER_NAME_MAX + 1);
	longname[STATE_USER_NAME_MAX + 1] = '\0';
	t = begin(st, 1);
	is_int(state_user_put(t, "maint", 2), PWNM_STATUS_SUCCESS, "user put");
	is_int(state_user_put(t, "x;maint", 7), PWNM_STATUS_SUCCESS, "user put: a name with ';'");
	is_int(state_user_put(t, "a=b c", 8), PWNM_STATUS_SUCCESS, "user put: '=' and a blank");
	is_int(state_user_put(t, "maint", 3), PWNM_STATUS_SUCCESS, "user put again: a new id");
	is_int(state_user_put(t, "", 4), PWNM_STATUS_STATE, "user put: an empty name refused");
	is_int(state_user_put(t, "zero", 0), PWNM_STATUS_STATE, "user put: id 0 refused");
	is_int(state_user_put(t, longname, 5), PWNM_STATUS_STATE, "user put: a name too long refused");
	commit(t);
	longname[STATE_USER_NAME_MAX] = '\0';
	t = begin(st, 1);
	is_int(state_user_put(t, longname, 5), PWNM_STATUS_SUCCESS, "user put: the longest name");
	state_txn_abort(t);
	t = begin(st, 0);
	is_int(state_user_foreach(t, users_cb, &b), PWNM_STATUS_SUCCESS, "user foreach");
	is_str(b.data, "[a=b c]8 [maint]3 [x;maint]7 ", "users: each its own record, by name");
	is_int(state_user_put(t, "w", 1), PWNM_STATUS_STATE, "user put in a read txn refused");
	state_txn_abort(t);
	buf_free(&b);
	free(longname);
}

static void
test_outbox(pwnm_state_t *st)
{
	pwnm_txn_t *t;
	struct outbox_rec o, g;
	struct collect c;
	size_t n = 9;

	t = begin(st, 0);
	is_int(state_outbox_count(t, &n), PWNM_STATUS_SUCCESS, "outbox count empty");
	is_int(n, 0, "outbox empty");
	is_int(state_outbox_get(t, 1, 1, &g), PWNM_STATUS_NOT_FOUND, "outbox get absent");
	state_txn_abort(t);

	t = begin(st, 1);
	memset(&o, 0, sizeof(o));
	o.project_id = 30;
	o.patch_id = 97;
	o.fields = OUT_STATE | OUT_ARCHIVED | OUT_DELEGATE;
	o.archived = 1;
	o.delegate_id = 9;
	o.attempts = 3;
	o.queued_at = 1700000001;
	o.next_try = -1;
	o.state = (char *)(uintptr_t)"under-review";
	o.delegate = (char *)(uintptr_t)"renée";
	o.last_error = (char *)(uintptr_t)"HTTP 503: \"busy\"";
	o.sent_events = 1;
	o.sent_event_id = (uint64_t)1 << 53;
	o.sent_event_date = (char *)(uintptr_t)"2026-12-01T14:30:00.123456";
	is_int(state_outbox_put(t, &o), PWNM_STATUS_SUCCESS, "outbox put");
	memset(&o, 0, sizeof(o));
	o.project_id = 2;
	o.patch_id = 7;
	o.fields = OUT_ARCHIVED;
	is_int(state_outbox_put(t, &o), PWNM_STATUS_SUCCESS, "outbox put NULL strings");
	o.project_id = 1;
	o.patch_id = 1;
	state_outbox_put(t, &o);
	commit(t);

	t = begin(st, 0);
	is_int(state_outbox_get(t, 30, 97, &g), PWNM_STATUS_SUCCESS, "outbox get");
	ok(g.project_id == 30 && g.patch_id == 97, "outbox ids");
	is_int(g.fields, OUT_STATE | OUT_ARCHIVED | OUT_DELEGATE, "outbox fields");
	is_int(g.archived, 1, "outbox archived");
	is_int(g.delegate_id, 9, "outbox delegate_id");
	is_int(g.attempts, 3, "outbox attempts");
	is_int(g.queued_at, 1700000001, "outbox queued_at");
	is_int(g.next_try, -1, "outbox next_try");
	is_str(g.state, "under-review", "outbox state");
	is_str(g.delegate, "renée", "outbox delegate");
	is_str(g.last_error, "HTTP 503: \"busy\"", "outbox last_error");
	ok(g.sent_events == 1 && g.sent_event_id == (uint64_t)1 << 53,
	   "outbox: the event cursor of the send");
	is_str(g.sent_event_date, "2026-12-01T14:30:00.123456", "outbox: its date");
	outbox_rec_free(&g);
	state_outbox_get(t, 2, 7, &g);
	ok(g.state && g.delegate && g.last_error && !*g.state && !*g.delegate && !*g.last_error,
	   "outbox NULL strings come back empty");
	ok(g.sent_events == 0 && g.sent_event_id == 0 && g.sent_event_date && !*g.sent_event_date,
	   "outbox: no event cursor of a send");
	outbox_rec_free(&g);
	state_outbox_count(t, &n);
	is_int(n, 3, "outbox count 3");
	memset(&c, 0, sizeof(c));
	is_int(state_outbox_foreach(t, collect_outbox, &c), PWNM_STATUS_SUCCESS, "outbox foreach");
	ok(c.n == 3 && c.projects[0] == 1 && c.projects[1] == 2 && c.projects[2] == 30,
	   "outbox foreach in key order");
	is_int(c.bad_strings, 0, "outbox foreach strings never NULL");
	state_txn_abort(t);

	t = begin(st, 1);
	is_int(state_outbox_del(t, 1, 1), PWNM_STATUS_SUCCESS, "outbox del");
	is_int(state_outbox_del(t, 1, 1), PWNM_STATUS_SUCCESS, "outbox del absent");
	state_outbox_count(t, &n);
	is_int(n, 2, "outbox count after del");

	/* patch_del takes the index entry and the outbox entry along. */
	is_int(lookup_n(t, "p30-3@example.org", NULL), 1, "patch 30/97 indexed");
	is_int(state_patch_del(t, 30, 97), PWNM_STATUS_SUCCESS, "patch del");
	is_int(state_patch_get(t, 30, 97, &(struct patch_rec){ 0 }), PWNM_STATUS_NOT_FOUND,
	       "patch del: record gone");
	is_int(lookup_n(t, "p30-3@example.org", NULL), 0, "patch del: index entry gone");
	is_int(state_outbox_get(t, 30, 97, &g), PWNM_STATUS_NOT_FOUND, "patch del: outbox gone");
	is_int(state_patch_del(t, 30, 97), PWNM_STATUS_SUCCESS, "patch del absent: SUCCESS");
	is_int(state_patch_del(t, 5, 53), PWNM_STATUS_SUCCESS, "patch del 5/53");
	is_int(lookup_n(t, "cross@lists", NULL), 3, "patch del leaves other cross-posts indexed");
	is_int(lookup_n(t, "other@lists", NULL), 0, "patch del 5/53: its entry gone");
	commit(t);
}

/* Number of msgid index entries under key (raw, without the record check). */
static long
raw_index_count(const char *dir, const char *key)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_dbi dbi;
	MDB_val k = { strlen(key), (void *)(uintptr_t)key }, v;
	size_t n = 0;
	int rc;

	rc = mdb_env_create(&env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(env, 8);
	if (rc == 0)
		rc = mdb_env_open(env, dir, MDB_RDONLY, 0600);
	if (rc == 0)
		rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "msgid", 0, &dbi);
	if (rc == 0)
		rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
	if (rc == 0)
		rc = mdb_cursor_count(cur, &n);
	if (cur)
		mdb_cursor_close(cur);
	if (txn)
		mdb_txn_abort(txn);
	mdb_env_close(env);
	if (rc == MDB_NOTFOUND)
		return 0;
	return rc == 0 ? (long)n : -1;
}

static void
test_reopen(const char *dir)
{
	pwnm_state_t *st = open_ok(dir, 0);
	pwnm_txn_t *t = begin(st, 0);
	struct patch_rec g;
	struct project_rec pr;
	size_t n = 0;
	char *v = NULL;

	state_patch_count(t, 0, &n);
	is_int(n, 13, "reopen: patch count persists");
	is_int(state_patch_get(t, 2, 0xfffffffeu, &g), PWNM_STATUS_SUCCESS, "reopen: patch there");
	is_str(g.delegate, "Jörg Müller", "reopen: patch fields");
	patch_rec_free(&g);
	is_int(state_project_get(t, 30, &pr), PWNM_STATUS_SUCCESS, "reopen: project there");
	project_rec_free(&pr);
	state_outbox_count(t, &n);
	is_int(n, 1, "reopen: outbox persists");
	is_int(lookup_n(t, "cross@lists", NULL), 3, "reopen: index persists");
	state_meta_get(t, "url", &v);
	is_str(v, "https://patchwork.example/ é", "reopen: meta persists");
	free(v);
	state_txn_abort(t);
	state_close(st);

	/* The index itself, not filtered by the record check of lookups. */
	is_int(raw_index_count(dir, "cross@lists"), 3, "raw index: cross-post entries");
	is_int(raw_index_count(dir, "other@lists"), 0, "raw index: deleted patch's entry gone");
	is_int(raw_index_count(dir, "p30-3@example.org"), 0, "raw index: patch_del removed entry");
	is_int(raw_index_count(dir, "p30-2@example.org"), 1, "raw index: kept entry");
	is_int(raw_index_count(dir, "aa"), 0, "raw index: no entry for an absent key");
}

/* Put raw values into a named database of the environment in dir. */
static int
raw_put(const char *dir, const char *db, const void *key, size_t klen, const void *val,
	size_t vlen)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	MDB_val k = { klen, (void *)(uintptr_t)key }, v = { vlen, (void *)(uintptr_t)val };
	int rc;

	rc = mdb_env_create(&env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(env, 8);
	if (rc == 0)
		rc = mdb_env_set_mapsize(env, (size_t)64 << 20);
	if (rc == 0)
		rc = mdb_env_open(env, dir, 0, 0600);
	if (rc == 0)
		rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, db, 0, &dbi);
	if (rc == 0)
		rc = mdb_put(txn, dbi, &k, &v, 0);
	if (rc == 0) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (txn)
		mdb_txn_abort(txn);
	mdb_env_close(env);
	return rc;
}

/* state_open refuses the store at dir with a message naming what. */
static void
open_refused(const char *dir, const char *what, const char *name)
{
	pwnm_state_t *st = NULL;
	char *err = NULL;

	is_int(state_open(dir, 0, &st, &err), PWNM_STATUS_STATE, "%s: the open refuses the store",
	       name);
	ok(!st && err && strstr(err, "cannot open state database") && strstr(err, what),
	   "%s: the error names it: '%s'", name, err ? err : "(none)");
	state_close(st);
	free(err);
}

static int
count_series(const struct series_rec *s, void *data)
{
	(void)s;
	(*(size_t *)data)++;
	return 0;
}

static void
test_series(void)
{
	char *dir = xasprintf("%s/series", tmpdir);
	pwnm_state_t *st;
	pwnm_txn_t *t;
	struct patch_rec p = mkpatch(1, 5, "<s5@x>"), g;
	struct series_rec s, got;
	uint32_t patches[3] = { 5, 6, 7 }, *ids = NULL;
	size_t n = 0;
	char *v = NULL;

	st = open_ok(dir, 0);
	t = begin(st, 1);
	p.series_id = 40;
	p.check = (char *)(uintptr_t)"fail";
	is_int(state_patch_put(t, &p), PWNM_STATUS_SUCCESS, "patch with a series put");
	memset(&s, 0, sizeof(s));
	s.series_id = 40;
	s.project_id = 1;
	s.flags = SERIES_F_INFO | SERIES_F_COMPLETE;
	s.version = 2;
	s.total = 3;
	s.received_total = 3;
	s.submitter_id = 9;
	s.cover_id = 400;
	s.patches = patches;
	s.npatches = 3;
	s.name = (char *)(uintptr_t)"feature";
	s.date = (char *)(uintptr_t)"2026-11-01T10:00:00";
	s.cover_msgid = (char *)(uintptr_t)"<cover 40@x>";
	s.cover_state = (char *)(uintptr_t)"new";
	is_int(state_series_put(t, &s), PWNM_STATUS_SUCCESS, "series put");
	commit(t);

	t = begin(st, 0);
	is_int(state_patch_get(t, 1, 5, &g), PWNM_STATUS_SUCCESS, "patch with a series get");
	ok(g.series_id == 40 && strcmp(g.check, "fail") == 0, "series id and check kept");
	patch_rec_free(&g);
	is_int(state_series_get(t, 40, &got), PWNM_STATUS_SUCCESS, "series get");
	ok(got.version == 2 && got.total == 3 && got.submitter_id == 9 && got.cover_id == 400 &&
	   got.flags == (SERIES_F_INFO | SERIES_F_COMPLETE), "series numbers kept");
	ok(got.npatches == 3 && got.patches[2] == 7, "series patch list kept");
	is_str(got.cover_msgid, "<cover 40@x>", "series cover msgid kept");
	is_str(got.cover_state, "new", "series cover state kept");
	series_rec_free(&got);
	is_int(state_series_get(t, 41, &got), PWNM_STATUS_NOT_FOUND, "unknown series: NOT_FOUND");
	is_int(state_cover_lookup(t, "cover40@x", &ids, &n), PWNM_STATUS_SUCCESS, "cover lookup");
	ok(n == 1 && ids[0] == 40, "the cover letter's mail names its series");
	free(ids);
	n = 0;
	state_series_foreach(t, count_series, &n);
	is_int((long long)n, 1, "series foreach");
	state_txn_abort(t);

	t = begin(st, 1);
	s.cover_msgid = (char *)(uintptr_t)"<other@x>";
	is_int(state_series_put(t, &s), PWNM_STATUS_SUCCESS, "series put with another cover");
	commit(t);
	t = begin(st, 0);
	state_cover_lookup(t, "cover40@x", &ids, &n);
	ok(n == 0 && ids == NULL, "the old cover letter no longer names it");
	state_cover_lookup(t, "other@x", &ids, &n);
	ok(n == 1 && ids[0] == 40, "the new one does");
	free(ids);
	state_txn_abort(t);

	/* A store of schema 1 is read and marked 2. */
	t = begin(st, 1);
	state_meta_put(t, "schema_version", "1");
	commit(t);
	state_close(st);
	st = open_ok(dir, 0);
	t = begin(st, 0);
	state_meta_get(t, "schema_version", &v);
	is_str(v, "4", "a schema 1 store is marked 4 at open");
	free(v);
	is_int(state_series_get(t, 40, &got), PWNM_STATUS_SUCCESS, "and keeps its records");
	series_rec_free(&got);
	state_txn_abort(t);
	state_close(st);
	free(dir);
}

static void
test_corrupt_records(void)
{
	char *dir = xasprintf("%s/corrupt", tmpdir);
	pwnm_state_t *st;
	pwnm_txn_t *t;
	struct patch_rec p, g;
	struct collect c;
	size_t i;
	const unsigned char key[8] = { 0, 0, 0, 9, 0, 0, 0, 1 };
	const unsigned char pkey[4] = { 0, 0, 0, 9 };
	/* valid: v1, flags, archived, delegate_id, date, 4 strings "a" "" "" "" */
	const unsigned char good[] = { 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
				       0, 0, 0, 1, 'a', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
				       0, 0, 0, 0, 0 };
	struct {
		const char *what;
		unsigned char v[64];
		size_t len;
	} bad[] = {
		{ "empty value", { 0 }, 0 },
		{ "version only", { 1 }, 1 },
		{ "unknown version", { 2 }, 0 },
		{ "length past the end", { 0 }, 0 },
		{ "huge length", { 0 }, 0 },
		{ "missing NUL", { 0 }, 0 },
		{ "trailing bytes", { 0 }, 0 },
		{ "truncated last string", { 0 }, 0 },
	};

	st = open_ok(dir, 0);
	t = begin(st, 1);
	p = mkpatch(9, 2, "<fine@x>");
	state_patch_put(t, &p);
	commit(t);
	state_close(st);

	memcpy(bad[2].v, good, sizeof(good));
	bad[2].v[0] = 2;
	bad[2].len = sizeof(good);
	memcpy(bad[3].v, good, sizeof(good));
	bad[3].v[21] = 60; /* msgid length 60 */
	bad[3].len = sizeof(good);
	memcpy(bad[4].v, good, sizeof(good));
	memset(bad[4].v + 18, 0xff, 4);
	bad[4].len = sizeof(good);
	memcpy(bad[5].v, good, sizeof(good));
	bad[5].v[23] = 'b';
	bad[5].len = sizeof(good);
	memcpy(bad[6].v, good, sizeof(good));
	bad[6].len = sizeof(good) + 1;
	memcpy(bad[7].v, good, sizeof(good));
	bad[7].len = sizeof(good) - 1;

	ok(raw_put(dir, "patch", key, 8, good, sizeof(good)) == 0, "raw put of a valid record");
	st = open_ok(dir, 0);
	t = begin(st, 0);
	is_int(state_patch_get(t, 9, 1, &g), PWNM_STATUS_SUCCESS, "hand-encoded record decodes");
	is_str(g.msgid, "a", "hand-encoded record: msgid");
	ok(g.series_id == 0 && g.check && !*g.check, "a schema 1 record: no series, no check");
	patch_rec_free(&g);
	state_txn_abort(t);
	state_close(st);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (raw_put(dir, "patch", key, 8, bad[i].v, bad[i].len) != 0) {
			ok(0, "raw put %s", bad[i].what);
			continue;
		}
		st = open_ok(dir, 0);
		t = begin(st, 0);
		is_int(state_patch_get(t, 9, 1, &g), PWNM_STATUS_STATE, "corrupt patch (%s): STATE",
		       bad[i].what);
		ok(g.msgid == NULL, "corrupt patch (%s): NULL strings", bad[i].what);
		memset(&c, 0, sizeof(c));
		is_int(state_patch_foreach(t, 9, collect_patch, &c), PWNM_STATUS_STATE,
		       "corrupt patch (%s): foreach STATE", bad[i].what);
		state_txn_abort(t);
		state_close(st);
	}
	/* A corrupt record is replaced by a put. */
	st = open_ok(dir, 0);
	ok(state_last_error(st) != NULL, "last_error never NULL");
	t = begin(st, 1);
	p = mkpatch(9, 1, "<repaired@x>");
	is_int(state_patch_put(t, &p), PWNM_STATUS_SUCCESS, "put over a corrupt record");
	is_int(state_patch_get(t, 9, 1, &g), PWNM_STATUS_SUCCESS, "repaired record reads");
	patch_rec_free(&g);
	commit(t);
	state_close(st);

	/*
	 * Every run reads all projects and the outbox first: a corrupt one
	 * makes the open refuse the store, naming the record.
	 */
	ok(raw_put(dir, "outbox", key, 8, "\1", 1) == 0, "raw put of a bad outbox entry");
	open_refused(dir, "corrupt outbox record 9/1", "corrupt outbox");
	ok(raw_put(dir, "project", pkey, 4, "\1\0", 2) == 0, "raw put of a bad project");
	open_refused(dir, "corrupt project record 9", "corrupt project");
	free(dir);
	dir = xasprintf("%s/corrupt-key", tmpdir);
	st = open_ok(dir, 0);
	state_close(st);
	ok(raw_put(dir, "project", "\0\0\1", 3, good, sizeof(good)) == 0, "raw put of a bad key");
	open_refused(dir, "corrupt project record (3-byte key)", "a project's bad key");
	free(dir);
}

static void
test_schema(void)
{
	char *dir = xasprintf("%s/schema", tmpdir), *err = NULL, *want;
	pwnm_state_t *st;
	pwnm_txn_t *t;

	st = open_ok(dir, 0);
	t = begin(st, 1);
	state_meta_put(t, "schema_version", "5");
	commit(t);
	state_close(st);

	st = (pwnm_state_t *)1;
	is_int(state_open(dir, 0, &st, &err), PWNM_STATUS_STATE, "newer schema: STATE");
	ok(st == NULL, "newer schema: NULL handle");
	want = xasprintf("state database '%s' has schema version 5, newer than this pwnm (4)", dir);
	is_str(err, want, "newer schema: message");
	free(want);
	free(err);
	err = NULL;

	is_int(raw_put(dir, "meta", "schema_version", 14, "x1", 2), 0, "raw put of a bad version");
	is_int(state_open(dir, 0, &st, &err), PWNM_STATUS_STATE, "unreadable schema: STATE");
	ok(err && strstr(err, dir) && strstr(err, "'x1'"), "unreadable schema: message '%s'",
	   err ? err : "");
	free(err);
	is_int(state_open(dir, 0, &st, NULL), PWNM_STATUS_STATE, "err may be NULL");
	free(dir);
}

/* Append a schema-1 string (u32 BE length, bytes, NUL) to b. */
static void
v1_str(struct buf *b, const char *s)
{
	size_t n = strlen(s);
	unsigned char len[4] = { (unsigned char)(n >> 24), (unsigned char)(n >> 16),
				 (unsigned char)(n >> 8), (unsigned char)n };

	buf_add(b, len, 4);
	buf_add(b, s, n + 1);
}

/* A store written by schema 1 (records without commit_ref) opens, reads, and is version 2 after. */
static void
test_schema1(void)
{
	char *dir = xasprintf("%s/schema1", tmpdir), *v = NULL;
	static const unsigned char key[8] = { 0, 0, 0, 1, 0, 0, 0, 2 };
	static const unsigned char key3[8] = { 0, 0, 0, 1, 0, 0, 0, 4 };
	static const unsigned char pfix[] = { 1, 0, 0, 0, PATCH_F_TAGGED, 1, 0, 0, 0, 7,
					      0, 0, 0, 0, 0x65, 0x53, 0xf1, 0x00 };
	static const unsigned char ofix[] = { 1, 0, 0, 0, OUT_STATE, 0, 0, 0, 0, 0, 0, 0, 0, 3,
					      /* queued_at, next_try, sent_fields, sent_archived */
					      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
					      0, 0, 0, 0, 0 };
	struct buf pv = { 0 }, ov = { 0 };
	struct patch_rec p;
	struct outbox_rec o;
	pwnm_state_t *st;
	pwnm_txn_t *t;

	st = open_ok(dir, 0);
	t = begin(st, 1);
	state_meta_put(t, "schema_version", "1");
	commit(t);
	state_close(st);
	buf_add(&pv, pfix, sizeof(pfix));
	v1_str(&pv, "<v1@example.org>");
	v1_str(&pv, "new");
	v1_str(&pv, "maint");
	v1_str(&pv, "");
	is_int(raw_put(dir, "patch", key, 8, pv.data, pv.len), 0, "schema 1: raw patch record");
	buf_add(&ov, ofix, sizeof(ofix));
	v1_str(&ov, "accepted");
	v1_str(&ov, "");
	v1_str(&ov, "");
	v1_str(&ov, "");
	v1_str(&ov, "");
	is_int(raw_put(dir, "outbox", key, 8, ov.data, ov.len), 0, "schema 1: raw outbox record");
	/* a schema 3 one: sent, its commit_ref strings, no event cursor of the send */
	buf_free(&ov);
	buf_add(&ov, ofix, sizeof(ofix));
	ov.data[33] = (char)OUT_STATE; /* the last byte of sent_fields */
	v1_str(&ov, "accepted");
	v1_str(&ov, "");
	v1_str(&ov, "");
	v1_str(&ov, "accepted");
	v1_str(&ov, "");
	v1_str(&ov, "");
	v1_str(&ov, "");
	is_int(raw_put(dir, "outbox", key3, 8, ov.data, ov.len), 0, "schema 3: raw outbox record");

	st = open_ok(dir, 0);
	t = begin(st, 0);
	memset(&p, 0, sizeof(p));
	memset(&o, 0, sizeof(o));
	is_int(state_patch_get(t, 1, 2, &p), PWNM_STATUS_SUCCESS, "schema 1 patch record reads");
	ok(p.msgid && strcmp(p.msgid, "<v1@example.org>") == 0 && strcmp(p.state, "new") == 0 &&
		   strcmp(p.delegate, "maint") == 0 && p.delegate_id == 7 && p.archived == 1 &&
		   p.flags == PATCH_F_TAGGED,
	   "schema 1 patch record: its values");
	is_str(p.commit_ref, "", "schema 1 patch record: no commit_ref");
	patch_rec_free(&p);
	is_int(state_outbox_get(t, 1, 2, &o), PWNM_STATUS_SUCCESS, "schema 1 outbox record reads");
	ok(o.state && o.fields == OUT_STATE && strcmp(o.state, "accepted") == 0 && o.attempts == 3,
	   "schema 1 outbox record: its values");
	ok(o.commit_ref && strcmp(o.commit_ref, "") == 0 && strcmp(o.sent_commit_ref, "") == 0,
	   "schema 1 outbox record: no commit_ref");
	ok(o.sent_events == 0 && o.sent_event_date && !*o.sent_event_date,
	   "schema 1 outbox record: the events of its send not known");
	outbox_rec_free(&o);
	is_int(state_outbox_get(t, 1, 4, &o), PWNM_STATUS_SUCCESS, "schema 3 outbox record reads");
	ok(o.sent_fields == OUT_STATE && strcmp(o.sent_state, "accepted") == 0 && o.sent_events == 0 &&
		   o.sent_event_id == 0 && o.sent_event_date && !*o.sent_event_date,
	   "schema 3 outbox record: sent, the events of its send not known");
	outbox_rec_free(&o);
	state_meta_get(t, "schema_version", &v);
	is_str(v, "4", "a schema 1 store is version 4 once opened");
	free(v);
	state_txn_abort(t);

	/* A record written now carries the commit_ref. */
	t = begin(st, 1);
	memset(&p, 0, sizeof(p));
	p.project_id = 1;
	p.patch_id = 3;
	p.msgid = xstrdup("<v2@example.org>");
	p.state = xstrdup("accepted");
	p.commit_ref = xstrdup("0123456789abcdef0123456789abcdef01234567");
	is_int(state_patch_put(t, &p), PWNM_STATUS_SUCCESS, "put a patch with a commit_ref");
	patch_rec_free(&p);
	commit(t);
	t = begin(st, 0);
	is_int(state_patch_get(t, 1, 3, &p), PWNM_STATUS_SUCCESS, "and get it");
	is_str(p.commit_ref, "0123456789abcdef0123456789abcdef01234567", "commit_ref kept");
	patch_rec_free(&p);
	state_txn_abort(t);
	state_close(st);
	buf_free(&pv);
	buf_free(&ov);
	free(dir);
}

static void
test_garbage(const char *realdir)
{
	char *dir = xasprintf("%s/garbage", tmpdir), *path, *src, *err = NULL, *want;
	pwnm_state_t *st;
	FILE *f;
	off_t size, cuts[6];
	size_t i;
	int fd;

	mkdir(dir, 0700);
	path = xasprintf("%s/data.mdb", dir);
	f = fopen(path, "wb");
	for (i = 0; f && i < 20000; i++)
		fputc((int)((i * 7919u) >> 3 & 0xff), f);
	if (f)
		fclose(f);
	st = (pwnm_state_t *)1;
	is_int(state_open(dir, 0, &st, &err), PWNM_STATUS_STATE, "garbage data.mdb: STATE");
	ok(st == NULL, "garbage data.mdb: NULL handle");
	want = xasprintf("cannot open state database '%s': ", dir);
	ok(err && strncmp(err, want, strlen(want)) == 0 && strlen(err) > strlen(want),
	   "garbage data.mdb: message '%s'", err ? err : "");
	free(err);

	/* Truncated copies of a real data file. */
	src = xasprintf("%s/data.mdb", realdir);
	size = file_size(src);
	ok(size > 8 * 4096, "real data.mdb has some pages (%lld bytes)", (long long)size);
	cuts[0] = 100;
	cuts[1] = 4096;
	cuts[2] = 8192;
	cuts[3] = 8192 + 100;
	cuts[4] = size / 2;
	cuts[5] = size - 4096;
	for (i = 0; i < 6; i++) {
		unlink(path);
		if (copy_file(src, path, cuts[i]) < 0 || file_size(path) != cuts[i]) {
			ok(0, "truncated copy of %lld bytes", (long long)cuts[i]);
			continue;
		}
		err = NULL;
		st = (pwnm_state_t *)1;
		is_int(state_open(dir, 0, &st, &err), PWNM_STATUS_STATE,
		       "data.mdb truncated to %lld bytes: STATE", (long long)cuts[i]);
		ok(st == NULL && err && strncmp(err, want, strlen(want)) == 0,
		   "truncated: message '%s'", err ? err : "");
		if (st && st != (pwnm_state_t *)1)
			state_close(st);
		free(err);
	}
	/* An empty data.mdb is a new store. */
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0)
		close(fd);
	st = NULL;
	is_int(state_open(dir, 0, &st, NULL), PWNM_STATUS_SUCCESS, "empty data.mdb: a new store");
	state_close(st);
	free(want);
	free(src);
	free(path);
	free(dir);
}

/* Fill a store of the given map size until it is full (at a put or at commit). */
static void
test_map_full(const char *name, size_t mapsize)
{
	char *dir = xasprintf("%s/%s", tmpdir, name), note[1500];
	pwnm_state_t *st;
	pwnm_txn_t *t;
	struct patch_rec p, g;
	pwnm_status_t s = PWNM_STATUS_SUCCESS;
	uint32_t id = 0, committed = 0, round, j;
	size_t n = 0;
	char *msgid;

	memset(note, 'n', sizeof(note) - 1);
	note[sizeof(note) - 1] = '\0';
	st = open_ok(dir, mapsize);
	for (round = 0; round < 1000 && s == PWNM_STATUS_SUCCESS; round++) {
		t = begin(st, 1);
		for (j = 0; j < 4 && s == PWNM_STATUS_SUCCESS; j++) {
			msgid = xasprintf("<full-%u@x>", ++id);
			p = mkpatch(1, id, msgid);
			p.note = note;
			s = state_patch_put(t, &p);
			free(msgid);
		}
		if (s == PWNM_STATUS_SUCCESS) {
			s = state_txn_commit(t);
			if (s == PWNM_STATUS_SUCCESS)
				committed = id;
		} else {
			/* A failed put poisons the txn: commit must not store half of it. */
			is_int(state_txn_commit(t), PWNM_STATUS_STATE_FULL,
			       "%s: commit after a failed put: STATE_FULL", name);
		}
	}
	is_int(s, PWNM_STATUS_STATE_FULL, "%s: map fills up: STATE_FULL", name);
	ok(strstr(state_last_error(st), "MDB_MAP_FULL") != NULL, "%s: last_error: %s", name,
	   state_last_error(st));
	ok(committed >= 4, "%s: some transactions committed before (%u patches)", name,
	   committed);
	t = begin(st, 0);
	state_patch_count(t, 0, &n);
	is_int(n, committed, "%s: same handle: only committed patches", name);
	state_txn_abort(t);
	state_close(st);

	st = open_ok(dir, 0);
	t = begin(st, 0);
	state_patch_count(t, 0, &n);
	is_int(n, committed, "%s: reopened larger: committed patches intact", name);
	is_int(state_patch_get(t, 1, committed, &g), PWNM_STATUS_SUCCESS, "last committed patch");
	is_str(g.note, note, "last committed patch: contents");
	patch_rec_free(&g);
	is_int(state_patch_get(t, 1, committed + 1, &g), PWNM_STATUS_NOT_FOUND,
	       "first failed patch absent");
	msgid = xasprintf("full-%u@x", committed);
	is_int(lookup_n(t, msgid, NULL), 1, "index of the last committed patch");
	free(msgid);
	msgid = xasprintf("full-%u@x", committed + 1);
	is_int(lookup_n(t, msgid, NULL), 0, "no index entry of the failed transaction");
	free(msgid);
	state_txn_abort(t);
	t = begin(st, 1);
	p = mkpatch(1, committed + 1, "<after@x>");
	p.note = note;
	is_int(state_patch_put(t, &p), PWNM_STATUS_SUCCESS, "reopened larger: writes again");
	is_int(state_txn_commit(t), PWNM_STATUS_SUCCESS, "reopened larger: commit");
	state_close(st);
	free(dir);
}

static void
test_clear(const char *dir)
{
	pwnm_state_t *st = open_ok(dir, 0);
	pwnm_txn_t *t;
	struct project_rec *list = NULL;
	size_t n = 9, pn = 9;
	char *v = NULL;

	t = begin(st, 0);
	is_int(state_clear(t), PWNM_STATUS_STATE, "clear in a read txn refused");
	state_txn_abort(t);

	t = begin(st, 1);
	is_int(state_clear(t), PWNM_STATUS_SUCCESS, "state_clear");
	commit(t);
	t = begin(st, 0);
	state_patch_count(t, 0, &n);
	is_int(n, 0, "clear: no patches");
	state_outbox_count(t, &n);
	is_int(n, 0, "clear: no outbox");
	state_project_list(t, &list, &pn);
	ok(list == NULL && pn == 0, "clear: no projects");
	is_int(lookup_n(t, "cross@lists", NULL), 0, "clear: no index");
	state_meta_get(t, "url", &v);
	ok(v == NULL, "clear: meta emptied");
	{
		struct buf b = { 0 };

		state_user_foreach(t, users_cb, &b);
		ok(b.len == 0, "clear: no users");
		buf_free(&b);
	}
	state_meta_get(t, "schema_version", &v);
	is_str(v, "4", "clear: schema_version kept");
	free(v);
	state_txn_abort(t);
	state_close(st);

	st = open_ok(dir, 0);
	t = begin(st, 0);
	state_patch_count(t, 0, &n);
	is_int(n, 0, "clear persists");
	state_txn_abort(t);
	state_close(st);
}

static void
test_foreach_delete(void)
{
	char *dir = xasprintf("%s/fdel", tmpdir);
	pwnm_state_t *st = open_ok(dir, 0);
	pwnm_txn_t *t;
	struct patch_rec p;
	struct del_ctx d = { NULL, 0, 0 };
	uint32_t i;
	size_t n = 9;
	char *m;

	t = begin(st, 1);
	for (i = 1; i <= 500; i++) {
		m = xasprintf("<del-%u@x>", i);
		p = mkpatch(i % 3 + 1, i, m);
		state_patch_put(t, &p);
		free(m);
	}
	commit(t);
	t = begin(st, 1);
	d.txn = t;
	is_int(state_patch_foreach(t, 2, delete_each, &d), PWNM_STATUS_SUCCESS,
	       "foreach deleting each visited patch");
	is_int(d.seen, 167, "foreach with deletes visits each patch once");
	is_int(d.failures, 0, "deletes inside foreach succeed");
	state_patch_count(t, 2, &n);
	is_int(n, 0, "project 2 emptied");
	state_patch_count(t, 0, &n);
	is_int(n, 333, "other projects untouched");
	is_int(lookup_n(t, "del-1@x", NULL), 0, "deleted patch not indexed");
	is_int(lookup_n(t, "del-2@x", NULL), 1, "kept patch indexed");
	commit(t);
	state_close(st);
	free(dir);
}

static int
count_each(const struct patch_rec *p, void *data)
{
	(void)p;
	(*(size_t *)data)++;
	return 0;
}

/* The store's pages a read maps stay resident until state_release_map lets them go. */
static void
test_release_map(void)
{
	char *dir = xasprintf("%s/release", tmpdir);
	pwnm_state_t *st = open_ok(dir, 0);
	pwnm_txn_t *t;
	struct patch_rec p;
	char note[400], *m;
	size_t seen = 0;
	uint32_t i;
	long before, read_kb, after;

	memset(note, 'n', sizeof(note) - 1);
	note[sizeof(note) - 1] = '\0';
	t = begin(st, 1);
	for (i = 1; i <= 20000; i++) {
		m = xasprintf("<release-%u@x>", i);
		p = mkpatch(7, i, m);
		p.note = note;
		state_patch_put(t, &p);
		free(m);
	}
	commit(t);
	state_release_map(st);
	before = state_map_resident_kb(st);
	t = begin(st, 0);
	state_patch_foreach(t, 7, count_each, &seen);
	state_txn_abort(t);
	read_kb = state_map_resident_kb(st);
	state_release_map(st);
	after = state_map_resident_kb(st);
	is_int(seen, 20000, "every record read through the map");
	ok(before >= 0 && before < 256, "released before the read: %ld kB resident", before);
	ok(read_kb > 4096, "reading 20000 records maps them: %ld kB resident", read_kb);
	ok(after >= 0 && after < 256, "released after the read: %ld kB resident", after);
	seen = 0;
	t = begin(st, 0);
	state_patch_foreach(t, 7, count_each, &seen);
	state_txn_abort(t);
	is_int(seen, 20000, "the records read again after the release");
	read_kb = state_map_resident_kb(st);
	t = begin(st, 1);
	p = mkpatch(7, 20001, "<release-20001@x>");
	state_patch_put(t, &p);
	commit(t);
	after = state_map_resident_kb(st);
	ok(read_kb > 4096 && after >= 0 && after < 256,
	   "a write transaction's commit releases them too: %ld kB, then %ld kB resident", read_kb,
	   after);
	state_close(st);
	free(dir);
}

int
main(int argc, char **argv)
{
	char tmpl[] = "/tmp/tst_state.XXXXXX";
	char *dir;
	pwnm_state_t *st;
	pwnm_txn_t *t;
	struct patch_rec p;
	uint32_t i;
	char note[200];

	(void)argc;
	util_set_progname(argv[0]);
	umask(022);
	tmpdir = mkdtemp(tmpl);
	if (!tmpdir)
		fatal("mkdtemp:");
	dir = xasprintf("%s/a/b/state", tmpdir);

	test_open_and_meta(dir);
	st = open_ok(dir, 0);
	test_projects(st);
	test_patches(st);
	test_msgid(st);
	test_outbox(st);
	test_users(st);
	state_close(st);
	test_reopen(dir);
	test_corrupt_records();
	test_series();
	test_schema();
	test_schema1();

	/* Grow the main store so a truncated copy cuts through real pages. */
	st = open_ok(dir, 0);
	memset(note, 'z', sizeof(note) - 1);
	note[sizeof(note) - 1] = '\0';
	t = begin(st, 1);
	for (i = 1; i <= 2000; i++) {
		p = mkpatch(100, i, "<bulk@x>");
		p.note = note;
		state_patch_put(t, &p);
	}
	commit(t);
	t = begin(st, 1);
	for (i = 1; i <= 2000; i++)
		state_patch_del(t, 100, i);
	commit(t);
	state_close(st);
	test_garbage(dir);

	test_map_full("full-put", 64 << 10);
	test_map_full("full-commit", 256 << 10);
	test_foreach_delete();
	test_release_map();
	test_clear(dir);

	free(dir);
	rm_rf(tmpdir);
	ok(access(tmpl, F_OK) < 0 && errno == ENOENT, "temp directory removed");
	return tap_done();
}

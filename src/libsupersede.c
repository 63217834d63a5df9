/* libsupersede.c - pwnm supersede: the open patches of a series replaced by a later revision, marked superseded */
#include "libsupersede.h"

#include <stdlib.h>
#include <string.h>

#include "libmerge.h"
#include "libnm.h"
#include "libutil.h"

#define SUPERSEDED "superseded"

/* A patch to mark, with its mail and project. */
struct mark {
	char *nmid;
	char *project;
};

struct target {
	uint32_t *ids;
	size_t n;
};

static void
target_add(struct target *t, uint32_t id)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->ids[i] == id)
			return;
	t->ids = xreallocarray(t->ids, t->n + 1, sizeof(*t->ids));
	t->ids[t->n++] = id;
}

/* The older revisions replaced by series id (or id itself when it is one). */
struct by_newer {
	uint32_t newer;
	struct target *t;
};

static int
collect_replaced(const struct series_rec *s, void *data)
{
	struct by_newer *b = data;

	if ((s->flags & SERIES_F_NEWER) && s->newer_id == b->newer)
		target_add(b->t, s->series_id);
	return 0;
}

static void
resolve_series(pwnm_txn_t *txn, uint32_t id, struct target *t)
{
	struct series_rec s;

	if (state_series_get(txn, id, &s) != PWNM_STATUS_SUCCESS)
		return;
	if (s.flags & SERIES_F_NEWER) {
		target_add(t, id);
	} else {
		struct by_newer b = { id, t };

		state_series_foreach(txn, collect_replaced, &b);
	}
	series_rec_free(&s);
}

static const char *
project_name(const struct project_rec *pl, size_t np, uint32_t id)
{
	size_t i;

	for (i = 0; i < np; i++)
		if (pl[i].id == id)
			return pl[i].link_name;
	return NULL;
}

pwnm_status_t
supersede_run(const struct pwnm_config *cfg, pwnm_state_t *st, const char *what,
	      const struct sync_opts *so, FILE *out, char **err)
{
	struct target t = { 0 };
	struct mark *marks = NULL;
	struct project_rec *pl = NULL;
	size_t nmarks = 0, np = 0, i, j;
	pwnm_txn_t *txn;
	pwnm_status_t rc;
	uint64_t num;
	notmuch_database_t *db = NULL;
	struct sync_result sr;
	char *serr = NULL;

	*err = NULL;
	if ((rc = state_txn_begin(st, 0, &txn))) {
		*err = xasprintf("cannot read the state database: %s", state_last_error(st));
		return rc;
	}
	state_project_list(txn, &pl, &np);
	if (parse_u64(what, &num) == 0 && num > 0 && num <= UINT32_MAX) {
		resolve_series(txn, (uint32_t)num, &t);
	} else {
		const char *id = strncmp(what, "id:", 3) == 0 ? what + 3 : what;
		char *nmid = msgid_to_notmuch(id);
		struct patch_key *keys = NULL;
		uint32_t *covers = NULL;
		size_t nk = 0, nc = 0;

		if (nmid) {
			state_msgid_lookup(txn, nmid, &keys, &nk);
			state_cover_lookup(txn, nmid, &covers, &nc);
		}
		for (i = 0; i < nk; i++) {
			struct patch_rec p;

			if (state_patch_get(txn, keys[i].project_id, keys[i].patch_id, &p))
				continue;
			if (p.series_id)
				resolve_series(txn, p.series_id, &t);
			patch_rec_free(&p);
		}
		for (i = 0; i < nc; i++)
			resolve_series(txn, covers[i], &t);
		free(keys);
		free(covers);
		free(nmid);
	}
	for (i = 0; i < t.n; i++) {
		struct series_rec s;
		size_t before = nmarks;
		const char *pname;

		if (state_series_get(txn, t.ids[i], &s))
			continue;
		pname = project_name(pl, np, s.project_id);
		for (j = 0; pname && j < s.npatches; j++) {
			struct patch_rec p;

			if (state_patch_get(txn, s.project_id, s.patches[j], &p))
				continue;
			if ((p.flags & PATCH_F_NEWER) && !p.archived && merge_state_open(p.state)) {
				marks = xreallocarray(marks, nmarks + 1, sizeof(*marks));
				marks[nmarks].nmid = msgid_to_notmuch(p.msgid);
				marks[nmarks].project = xstrdup(pname);
				nmarks++;
			}
			patch_rec_free(&p);
		}
		fprintf(out, "series %u %s \"%s\" v%u: %zu open patch%s marked superseded\n",
			s.series_id, text_arg(pname ? pname : "?"), text_arg(s.name), s.version, nmarks - before,
			nmarks - before == 1 ? "" : "es");
		series_rec_free(&s);
	}
	state_txn_abort(txn);
	state_project_list_free(pl, np);
	if (t.n == 0) {
		*err = xasprintf("'%s' names no series replaced by a later revision that pwnm knows "
				 "(see 'pwnm explain %s')", what, what);
		rc = PWNM_STATUS_USAGE;
		goto out;
	}
	if (nmarks == 0)
		goto out;
	rc = nm_open(so->nm_config, so->nm_profile, 1, 10000, &db, err);
	if (rc)
		goto out;
	for (i = 0; i < nmarks && !rc; i++) {
		notmuch_message_t *m = NULL;
		struct tagset cur = { 0 }, want = { 0 };
		char *tag;
		size_t k;
		int changed = 0;

		if (!marks[i].nmid || notmuch_database_find_message(db, marks[i].nmid, &m) || !m)
			continue; /* no mail: nothing to tag (the tag change is what is pushed) */
		nm_message_pw_tags(m, &cur);
		tagset_copy(&want, &cur);
		for (k = 0; k < cur.n; k++) {
			char *slug = merge_state_of_tag(cur.v[k], marks[i].project);

			if (slug)
				tagset_del(&want, cur.v[k]);
			free(slug);
		}
		tag = merge_state_tag(marks[i].project, SUPERSEDED);
		if (tag)
			tagset_add(&want, tag);
		free(tag);
		rc = nm_message_set_pw_tags(m, &cur, &want, &changed, err);
		tagset_free(&cur);
		tagset_free(&want);
		notmuch_message_destroy(m);
	}
	if (notmuch_database_destroy(db) != NOTMUCH_STATUS_SUCCESS && !rc) {
		*err = xstrdup("cannot close the notmuch database after writing tags");
		rc = PWNM_STATUS_NOTMUCH;
	}
	if (rc)
		goto out;
	rc = sync_run(cfg, NULL, st, so, &sr, &serr);
	/* The run printed its errors as they happened. */
	free(serr);
out:
	for (i = 0; i < nmarks; i++) {
		free(marks[i].nmid);
		free(marks[i].project);
	}
	free(marks);
	free(t.ids);
	return rc;
}

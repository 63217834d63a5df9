/* libsync_scan.c - step 2 of a run: the mail changed in notmuch since the last run, read back as values */
#include "libsync_p.h"

#include <stdlib.h>
#include <string.h>

#include "libnm.h"
#include "libutil.h"

/* What the scan reads: nothing (revision unchanged), the mail changed since, or every known mail. */
enum scan_mode { SCAN_NONE, SCAN_RANGE, SCAN_ALL };

struct scanned {
	char *nmid;
	struct tagset tags;
};

/*
 * The tags without the typo state tags of w's project (a state pwnm knows
 * the project does not have, run_state_typo): they are no word of the
 * user's on the state, so they are not read, and the tag step leaves them
 * on the mail.  The state the tags show or agree on is never one.
 * Returns 0 when there is none (view left empty).
 */
static int
typo_view(const struct run *r, const struct work *w, const struct tagset *tags,
	  const struct pw_values *shown, struct tagset *view)
{
	size_t i;
	int any = 0;

	for (i = 0; i < tags->n; i++) {
		char *st = merge_state_of_tag(tags->v[i], w->project);
		int typo = st && strcmp(st, shown->state ? shown->state : "") != 0 &&
			   strcmp(st, w->rec.state) != 0 && run_state_typo(r, w->rec.project_id, st);

		free(st);
		if (typo)
			any = 1;
		else
			tagset_add(view, tags->v[i]);
	}
	if (!any)
		tagset_free(view);
	return any;
}

static void
observe_local(struct run *r, struct work *w, const struct tagset *tags)
{
	struct tagset typos_out = { 0 };
	struct pw_values shown, lv;
	struct tagset names = { 0 };
	int repair = 0;
	size_t i;

	w->scanned = 1;
	if (!work_tracked(r, w))
		return; /* its tags are no project's pwnm knows */
	w->l_conflict_tag = tagset_has(tags, "pw/conflict");
	w->l_denied_tag = tagset_has(tags, "pw/denied");
	if ((w->rec.flags & PATCH_F_NEWER) && (w->rec.flags & PATCH_F_TAGGED) && !r->restore_only) {
		/* The suggestion tag removed: dismissed. */
		char *t = merge_newer_tag(w->project);

		if (t && !tagset_has(tags, t)) {
			shown_values(&w->rec, &w->out, w->has_out, &shown);
			if (merge_state_open(shown.state) && !shown.archived) {
				w->rec.flags &= ~PATCH_F_NEWER;
				w->dirty = 1;
			}
		}
		free(t);
	}
	if (!(w->rec.flags & PATCH_F_TAGGED) || r->restore_only) {
		/* Never tagged by pwnm, or another database: not a user's change. */
		w->l_repair = 1;
		return;
	}
	/* A pending change is what the tags were left showing. */
	shown_values(&w->rec, &w->out, w->has_out, &shown);
	if (typo_view(r, w, tags, &shown, &typos_out))
		tags = &typos_out;
	merge_local_values(tags, w->project, &shown, &r->topts, &lv, &names, &repair, &w->l_note);
	if (tags == &typos_out && w->l_note && strncmp(w->l_note, "no state tag", 12) == 0)
		w->l_note = NULL; /* the misspelt tag is named on its own line (scan_typos) */
	w->l_repair = repair;
	for (i = 0; i < FIELD_COUNT; i++) {
		const struct field *f = &field_table[i];

		if (!field_in_tags(f, &r->topts))
			continue;
		w->l_set |= FIELD_BIT(i);
		field_copy_set(&w->l[i], field_shown(f, &lv));
	}
	tagset_free(&names);
	tagset_free(&typos_out);
}

/*
 * The tags of one mail as patch w of it reads them, when the mail is
 * also other patches of w's project (Patchwork Message-IDs that differ
 * only in blanks are one notmuch mail): the state tags that only its
 * siblings show are no change of w's own, so they are left out; when
 * that leaves no state tag of the project, the user has set the state
 * of every patch of the mail, and w reads the tags as they are.  So each
 * patch follows the user's state tag, and a tag change that is no state
 * change (+flagged) leaves them all as they were.
 */
static void
shared_view(const struct work *w, struct work *const *ws, size_t n, const struct tagset *tags,
	    struct tagset *view)
{
	struct pw_values own, sib;
	size_t i, k, left = 0, all = 0;

	shown_values(&w->rec, &w->out, w->has_out, &own);
	for (i = 0; i < tags->n; i++) {
		char *st = merge_state_of_tag(tags->v[i], w->project);
		int theirs = 0;

		if (!st) {
			tagset_add(view, tags->v[i]);
			continue;
		}
		all++;
		for (k = 0; k < n && !theirs; k++) {
			if (ws[k] == w || ws[k]->rec.project_id != w->rec.project_id)
				continue;
			shown_values(&ws[k]->rec, &ws[k]->out, ws[k]->has_out, &sib);
			theirs = strcmp(st, sib.state ? sib.state : "") == 0 &&
				 strcmp(st, own.state ? own.state : "") != 0;
		}
		free(st);
		if (!theirs) {
			tagset_add(view, tags->v[i]);
			left++;
		}
	}
	if (all && !left) {
		tagset_free(view);
		tagset_copy(view, tags);
	}
}

/* Every patch of one mail (keys[0..nk)) reads its tags. */
static void
observe_mail(struct run *r, pwnm_txn_t *txn, const struct patch_key *keys, size_t nk,
	     const struct tagset *tags)
{
	struct work **ws = xcalloc(nk + 1, sizeof(*ws));
	size_t n = 0, i, k;

	for (i = 0; i < nk; i++)
		if ((ws[n] = work_get(r, txn, keys[i].project_id, keys[i].patch_id)) &&
		    work_tracked(r, ws[n]))
			n++;
	for (i = 0; i < n; i++) {
		int shared = 0;

		for (k = 0; k < n && !shared; k++)
			shared = k != i && ws[k]->rec.project_id == ws[i]->rec.project_id;
		if (shared) {
			struct tagset view = { 0 };

			shared_view(ws[i], ws, n, tags, &view);
			observe_local(r, ws[i], &view);
			tagset_free(&view);
		} else {
			observe_local(r, ws[i], tags);
		}
	}
	free(ws);
}

/* Read the tags of w's mail as the scan would have (a state set for its series or thread). */
void
scan_observe_mail(struct run *r, notmuch_database_t *db, struct work *w)
{
	notmuch_message_t *m = NULL;
	struct tagset tags = { 0 };

	if (w->nmid && notmuch_database_find_message(db, w->nmid, &m) == NOTMUCH_STATUS_SUCCESS && m) {
		nm_message_pw_tags(m, &tags);
		notmuch_message_destroy(m);
		observe_local(r, w, &tags);
		tagset_free(&tags);
		return;
	}
	/* No mail: nothing was read, so no mark is released. */
	w->scanned = 1;
	w->l_conflict_tag = (w->rec.flags & PATCH_F_CONFLICT) != 0;
	w->l_denied_tag = (w->rec.flags & PATCH_F_DENIED) != 0;
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

/* The notmuch query for the mails carrying tag (quoted as notmuch reads it); caller frees. */
static char *
tag_query(const char *tag)
{
	struct buf q = { 0 };
	const char *p;

	buf_adds(&q, "tag:\"");
	for (p = tag; *p; p++) {
		if (*p == '"')
			buf_addc(&q, '"');
		buf_addc(&q, *p);
	}
	buf_addc(&q, '"');
	return buf_release(&q);
}

char *
sync_stray_hint(const char *tag, const struct pwnm_config *cfg)
{
	const char *name, *rest;
	char *comp, *hint;
	size_t i, len;
	long near;

	if (strncmp(tag, "pw/", 3) != 0)
		return NULL;
	name = tag + 3;
	len = strcspn(name, "/");
	rest = name + len;
	if (!*rest && (strcmp(name, "conflict") == 0 || strcmp(name, "denied") == 0))
		return NULL;
	comp = xstrndup(name, len);
	for (i = 0; i < cfg->nprojects; i++) {
		/* A project's name as its tags spell it (merge_name_encode). */
		char *enc = merge_name_encode(MERGE_NAME_PROJECT, cfg->projects[i]);
		int same = strcmp(enc, comp) == 0;

		free(enc);
		if (same) {
			free(comp);
			return NULL;
		}
	}
	near = nearest_name(comp, (const char *const *)cfg->projects, cfg->nprojects);
	if (near >= 0) {
		char *enc = merge_name_encode(MERGE_NAME_PROJECT, cfg->projects[near]);

		hint = xasprintf("no such project in pwnm.projects; did you mean pw/%s%s?", enc, rest);
		free(enc);
	} else {
		struct buf b = { 0 };

		for (i = 0; i < cfg->nprojects; i++)
			buf_printf(&b, "%s%s", i ? ", " : "", cfg->projects[i]);
		hint = xasprintf("no such project in pwnm.projects (%s); retag the mail",
				 b.len ? b.data : "none");
		buf_free(&b);
	}
	free(comp);
	return hint;
}

size_t
sync_stray_tags(void *vdb, const struct pwnm_config *cfg, char ***lines)
{
	notmuch_database_t *db = vdb;
	notmuch_tags_t *tags = notmuch_database_get_all_tags(db);
	size_t n = 0;

	*lines = NULL;
	for (; tags && notmuch_tags_valid(tags); notmuch_tags_move_to_next(tags)) {
		const char *tag = notmuch_tags_get(tags);
		char *hint = sync_stray_hint(tag, cfg), *shown, *qs;
		notmuch_query_t *query;
		unsigned count = 0;

		if (!hint)
			continue;
		qs = tag_query(tag);
		query = notmuch_query_create(db, qs);
		if (query) {
			notmuch_query_set_omit_excluded(query, NOTMUCH_EXCLUDE_FALSE);
			if (notmuch_query_count_messages(query, &count) != NOTMUCH_STATUS_SUCCESS)
				count = 0;
			notmuch_query_destroy(query);
		}
		free(qs);
		shown = text_escape(tag);
		*lines = xreallocarray(*lines, n + 1, sizeof(**lines));
		(*lines)[n++] = xasprintf("%s (%u mail%s): %s", shown, count, count == 1 ? "" : "s",
					  hint);
		free(shown);
		free(hint);
	}
	if (tags)
		notmuch_tags_destroy(tags);
	return n;
}

int
sync_state_unknown(const struct project_rec *p, const char *slug, int64_t now)
{
	const char *s;
	size_t n = strlen(slug);

	if (!p->states_listed || now - p->states_listed > SYNC_STATES_FRESH || !*slug)
		return 0;
	for (s = p->states_seen; s && *s;) {
		size_t len = strcspn(s, ";");

		if (len == n && strncmp(s, slug, n) == 0)
			return 0;
		s += len;
		if (*s == ';')
			s++;
	}
	return 1;
}

char *
sync_state_hint(const struct project_rec *p, const char *slug)
{
	char *list = xstrdup(p->states_seen ? p->states_seen : ""), *tok, *save = NULL, *hint;
	const char **names = NULL;
	size_t n = 0;
	long near;

	for (tok = strtok_r(list, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = tok;
	}
	near = nearest_name(slug, names, n);
	if (near >= 0)
	{
		char *tag = merge_state_tag(p->link_name, names[near]);

		hint = xasprintf("no such state in %s; did you mean %s?", p->link_name,
				 tag ? tag : names[near]);
		free(tag);
	}
	else
		hint = xasprintf("no such state in %s; 'pwnm states %s' lists them", p->link_name,
				 p->link_name);
	free(names);
	free(list);
	return hint;
}

/* "on <id>", or "on N mails (<a>, <b>, <c>, ...)": the mails carrying tag.  Caller frees. */
static char *
tag_mails(notmuch_database_t *db, const char *tag)
{
	char *qs = tag_query(tag), *id;
	notmuch_query_t *query = notmuch_query_create(db, qs);
	notmuch_messages_t *msgs = NULL;
	struct buf ids = { 0 };
	unsigned count = 0;

	free(qs);
	if (query) {
		notmuch_query_set_omit_excluded(query, NOTMUCH_EXCLUDE_FALSE);
		if (notmuch_query_search_messages(query, &msgs) == NOTMUCH_STATUS_SUCCESS) {
			for (; notmuch_messages_valid(msgs); notmuch_messages_move_to_next(msgs)) {
				notmuch_message_t *m = notmuch_messages_get(msgs);

				if (count < 3) {
					id = text_escape(notmuch_message_get_message_id(m));
					buf_printf(&ids, "%s<%s>", count ? ", " : "", id);
					free(id);
				} else if (count == 3) {
					buf_adds(&ids, ", ...");
				}
				count++;
				notmuch_message_destroy(m);
			}
		}
		notmuch_query_destroy(query);
	}
	if (count == 1)
		id = xasprintf("on %s", ids.data);
	else
		id = xasprintf("on %u mails (%s)", count, ids.data ? ids.data : "");
	buf_free(&ids);
	return id;
}

size_t
sync_typo_tags(void *vdb, const struct project_rec *pl, size_t np, char ***lines)
{
	notmuch_database_t *db = vdb;
	notmuch_tags_t *tags = notmuch_database_get_all_tags(db);
	int64_t now = now_unix();
	size_t n = 0, i;

	*lines = NULL;
	for (; tags && notmuch_tags_valid(tags); notmuch_tags_move_to_next(tags)) {
		const char *tag = notmuch_tags_get(tags);

		for (i = 0; i < np; i++) {
			char *st = merge_state_of_tag(tag, pl[i].link_name);
			char *hint, *shown, *mails;

			if (!st || !sync_state_unknown(&pl[i], st, now)) {
				free(st);
				continue;
			}
			hint = sync_state_hint(&pl[i], st);
			shown = text_escape(tag);
			mails = tag_mails(db, tag);
			*lines = xreallocarray(*lines, n + 1, sizeof(**lines));
			(*lines)[n++] = xasprintf("%s %s: %s", shown, mails, hint);
			free(st);
			free(mails);
			free(shown);
			free(hint);
		}
	}
	if (tags)
		notmuch_tags_destroy(tags);
	return n;
}

static int
tracked(const struct pwnm_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nprojects; i++)
		if (strcmp(cfg->projects[i], name) == 0)
			return 1;
	return 0;
}

/* A state tag naming no state of its tracked project (pw/alpha/acepted) on a mail the run reads. */
static void
scan_typos(struct run *r, const char *nmid, const struct tagset *tags)
{
	size_t i, k;

	for (i = 0; i < tags->n; i++) {
		for (k = 0; k < r->nprojects; k++) {
			char *st = merge_state_of_tag(tags->v[i], r->projects[k].link_name);
			char *hint;

			if (!st || !run_state_typo(r, r->projects[k].id, st) ||
			    !tracked(r->cfg, r->projects[k].link_name)) {
				free(st);
				continue;
			}
			hint = sync_state_hint(&r->projects[k], st);
			run_report_tag(r, tags->v[i], nmid, hint);
			free(st);
			free(hint);
		}
	}
}

/* A pw/ tag naming no tracked project on a mail the run reads: said once per tag and run. */
static void
scan_stray(struct run *r, const char *nmid, const struct tagset *tags, struct tagset *said)
{
	size_t i;

	for (i = 0; i < tags->n; i++) {
		char *hint;

		if (tagset_has(said, tags->v[i]) || !(hint = sync_stray_hint(tags->v[i], r->cfg)))
			continue;
		tagset_add(said, tags->v[i]);
		run_report_tag(r, tags->v[i], nmid, hint);
		free(hint);
	}
}

static pwnm_status_t
scan_mails(struct run *r, notmuch_database_t *db, enum scan_mode mode)
{
	struct scanned *list = NULL;
	size_t n = 0, cap = 0, i, nunknown = 0, *unknown = NULL;
	struct tagset stray_said = { 0 };
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

		scan_stray(r, list[i].nmid, &list[i].tags, &stray_said);
		scan_typos(r, list[i].nmid, &list[i].tags);

		if ((rc = state_msgid_lookup(txn, list[i].nmid, &keys, &nk)))
			break;
		if (nk == 0) {
			unknown[nunknown++] = i;
			continue;
		}
		observe_mail(r, txn, keys, nk, &list[i].tags);
		free(keys);
	}
	state_txn_abort(txn);
	txn = NULL;
	/*
	 * Mail that is no patch: a cover letter (its state tag means the
	 * series); else a reason to ask the server when it is from a tracked
	 * list.
	 */
	for (i = 0; i < nunknown; i++) {
		int handled = 0;

		if (mode == SCAN_RANGE)
			series_scan_mail(r, db, list[unknown[i]].nmid, &list[unknown[i]].tags, &handled);
		if (!handled && !r->new_mail)
			r->new_mail = from_tracked_list(r, db, list[unknown[i]].nmid);
	}
out:
	for (i = 0; i < n; i++) {
		free(list[i].nmid);
		tagset_free(&list[i].tags);
	}
	free(list);
	free(unknown);
	tagset_free(&stray_said);
	if (rc)
		run_error(r, rc, "cannot read the state database: %s", state_last_error(r->st));
	return rc;
}

/*
 * Step 2: open notmuch read-only (or take the caller's handle), decide
 * what to read by the stored UUID and revision, read the pw/ tags of
 * those mails into the run's work items, and close notmuch again.
 */
pwnm_status_t
sync_scan(struct run *r)
{
	notmuch_database_t *db = r->db;
	const char *uuid = NULL;
	enum scan_mode mode;
	char *msg = NULL;
	pwnm_status_t rc;
	int64_t t = now_ms();

	r->db = NULL;
	if (!db) {
		rc = nm_open(r->o->nm_config, r->o->nm_profile, 0, 0, &db, &msg);
		if (rc) {
			run_error(r, rc, "%s", msg);
			free(msg);
			return rc;
		}
	}
	r->rev = notmuch_database_get_revision(db, &uuid);
	r->uuid = xstrdup(uuid);
	if (!r->stored_uuid || !*r->stored_uuid) {
		mode = SCAN_ALL;
	} else if (strcmp(r->stored_uuid, r->uuid) != 0 || r->stored_rev > r->rev) {
		mode = SCAN_ALL;
		r->restore_only = 1;
		run_report(r, "pwnm: the notmuch database is not the one last synced (new UUID or older "
			      "revision): tags are restored from the state database, nothing is pushed");
	} else if (r->o->full) {
		mode = SCAN_ALL;
	} else if (r->stored_rev == r->rev) {
		mode = SCAN_NONE;
	} else {
		mode = SCAN_RANGE;
	}
	rc = scan_mails(r, db, mode);
	if (!rc && (r->o->full || r->restore_only || !r->strays_swept_before))
		series_sweep_strays(r, db, mode == SCAN_RANGE);
	notmuch_database_destroy(db);
	debug("sync", "phase scan %lld ms (%s, revision %lu..%lu, %zu patches touched)",
	      (long long)(now_ms() - t), mode == SCAN_NONE ? "none" : mode == SCAN_RANGE ? "range" : "all",
	      r->stored_rev, r->rev, r->wn);
	return rc;
}

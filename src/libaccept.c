/* libaccept.c - pwnm accept: match git commits to patches, record the accept as a local change, push it */
#include "libaccept.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <notmuch.h>

#include "libdiffhash.h"
#include "libfield.h"
#include "libgit.h"
#include "libhttp.h"
#include "libnm.h"
#include "libpw.h"
#include "libsync.h"
#include "libtagset.h"
#include "libtrailer.h"
#include "liburl.h"
#include "libutil.h"

/* Patchwork's hash of a diff without a line it counts: the SHA-1 of nothing. */
#define EMPTY_HASH "da39a3ee5e6b4b0d3255bfef95601890afd80709"

/* How a patch was found. */
enum how {
	HOW_STORE,  /* a trailer's Message-ID, known to the state database */
	HOW_SERVER, /* a trailer's Message-ID, found by asking the server */
	HOW_HASH,   /* Patchwork's hash of the commit's diff */
};

/* What became of one matched patch. */
enum outcome {
	OC_TODO,     /* to be changed */
	OC_WOULD,    /* --dry-run: would be changed */
	OC_SKIPPED,  /* already in the state, with this commit */
	OC_ACCEPTED, /* the server has the change */
	OC_REFUSED,  /* the server refused it (detail says why) */
	OC_WAITING,  /* left in the outbox (detail says why) */
	OC_NOT_SET,  /* the run kept another value (a conflict Patchwork won; detail says) */
};

struct cand {
	struct pw_patch p; /* the server's view of the patch (owned) */
	enum how how;
	enum outcome oc;
	char *detail;      /* refusal or wait reason, or NULL */
};

enum kind {
	K_OPEN,      /* not decided yet */
	K_MATCHED,   /* one patch per project (one or more projects) */
	K_UNMATCHED, /* no patch of a tracked project */
	K_AMBIGUOUS, /* more than one patch in a project, or a patch another commit matched */
	K_FAILED,    /* a lookup failed */
};

struct cwork {
	const struct git_commit *gc;
	char *subject;
	char **ids;          /* trailer Message-IDs, notmuch form */
	size_t nids;
	int ids_known;       /* the store knew at least one of them */
	char hash[41];       /* diff hash, "" when not computed */
	struct cand *c;
	size_t nc;
	enum kind kind;
	char *note;          /* ambiguity or failure text */
};

struct acc {
	const struct pwnm_config *cfg;
	const struct accept_opts *o;
	pwnm_state_t *st;
	struct accept_result *res;
	FILE *out;
	const char *want_state;
	struct cwork *cw;
	size_t ncw;
	struct project_rec *projects; /* the store's */
	size_t nprojects;
	http_t *http;
	pw_client_t *client;
	char *api_version;            /* the server's REST API version ("1.3") */
	int no_hash;                  /* the API has no ?hash= (before 1.2): no lookup by diff */
};

/* ---- helpers ---- */

static int
tracked_name(const struct acc *a, const char *link_name)
{
	size_t i;

	if (!link_name)
		return 0;
	if (a->o->project && strcmp(a->o->project, link_name) != 0)
		return 0;
	for (i = 0; i < a->cfg->nprojects; i++)
		if (strcmp(a->cfg->projects[i], link_name) == 0)
			return 1;
	return 0;
}

static const char *
store_project_name(const struct acc *a, uint32_t id)
{
	size_t i;

	for (i = 0; i < a->nprojects; i++)
		if (a->projects[i].id == id)
			return a->projects[i].link_name;
	return NULL;
}

static char *
first_line(const char *s)
{
	size_t n = strcspn(s, "\r\n");

	return xstrndup(s, n);
}

/* Take a copy of p as a candidate of w (once per patch); returns it, or NULL when w has it already. */
static struct cand *
add_cand(struct cwork *w, const struct pw_patch *p, enum how how)
{
	struct cand *c;
	size_t i;

	for (i = 0; i < w->nc; i++)
		if (w->c[i].p.id == p->id && w->c[i].p.project_id == p->project_id)
			return NULL;
	w->c = xreallocarray(w->c, w->nc + 1, sizeof(*w->c));
	c = &w->c[w->nc++];
	memset(c, 0, sizeof(*c));
	c->p.id = p->id;
	c->p.project_id = p->project_id;
	c->p.project = xstrdup(p->project ? p->project : "");
	c->p.msgid = xstrdup(p->msgid ? p->msgid : "");
	c->p.state = xstrdup(p->state ? p->state : "");
	c->p.archived = p->archived;
	c->p.delegate_id = p->delegate_id;
	c->p.delegate = xstrdup(p->delegate ? p->delegate : "");
	c->p.date = xstrdup(p->date ? p->date : "");
	c->p.name = xstrdup(p->name ? p->name : "");
	c->p.web_url = xstrdup(p->web_url ? p->web_url : "");
	c->p.commit_ref = xstrdup(p->commit_ref ? p->commit_ref : "");
	c->p.hash = xstrdup(p->hash ? p->hash : "");
	c->how = how;
	return c;
}

static void
cwork_free(struct cwork *w)
{
	size_t i;

	for (i = 0; i < w->nc; i++) {
		pw_patch_free(&w->c[i].p);
		free(w->c[i].detail);
	}
	free(w->c);
	trailer_ids_free(w->ids, w->nids);
	free(w->subject);
	free(w->note);
}

static void
set_note(struct cwork *w, enum kind k, char *note)
{
	w->kind = k;
	free(w->note);
	w->note = note;
}

/* ---- lookups ---- */

static pwnm_status_t
client_ready(struct acc *a)
{
	struct http_options ho = { 0 };
	pwnm_txn_t *txn;
	char *origin, *ver = NULL;
	const char *v;
	pwnm_status_t rc;

	if (a->client)
		return PWNM_STATUS_SUCCESS;
	origin = url_origin(a->cfg->url);
	ho.origin = origin;
	ho.max_parallel = a->o->jobs > 0 ? a->o->jobs : a->cfg->jobs;
	ho.max_retries = 2;
	rc = http_new(&ho, &a->http);
	free(origin);
	if (rc)
		return rc;
	a->client = pw_client_new(a->http, a->cfg->url);
	if (state_txn_begin(a->st, 0, &txn) == PWNM_STATUS_SUCCESS) {
		state_meta_get(txn, META_API_VERSION, &ver);
		state_txn_abort(txn);
	}
	if (ver) {
		pw_set_version(a->client, ver);
		a->api_version = ver;
	} else {
		rc = pw_discover(a->client, &v);
		if (rc)
			return rc;
		a->api_version = xstrdup(v);
	}
	/* "1.0" .. "1.9": the filter came with 1.2 */
	a->no_hash = strncmp(a->api_version, "1.", 2) == 0 && strlen(a->api_version) == 3 &&
		     a->api_version[2] < '2';
	return PWNM_STATUS_SUCCESS;
}

/* One lookup sent, and the commit it is for. */
struct ask {
	struct pw_lookup l;
	size_t commit;
	enum how how;
	char *value; /* owned query value */
};

/*
 * The patch answers the ask: the server's filter is checked here too,
 * as an API version without it (?hash= came with 1.2) lists every patch.
 */
static int
answers(const struct ask *k, const struct pw_patch *p)
{
	char *nm;
	int same;

	if (k->l.patch_id)
		return p->id == k->l.patch_id;
	if (strcmp(k->l.param, "hash") == 0)
		return p->hash && strcasecmp(p->hash, k->value) == 0;
	nm = msgid_to_notmuch(p->msgid);
	same = nm && strcmp(nm, k->value) == 0;
	free(nm);
	return same;
}

/* Send the asks concurrently and take the patches of tracked projects that answer them as candidates. */
static void
run_asks(struct acc *a, struct ask *asks, size_t n)
{
	struct pw_lookup *ls;
	size_t i, j;

	if (n == 0)
		return;
	ls = xcalloc(n, sizeof(*ls));
	for (i = 0; i < n; i++)
		ls[i] = asks[i].l;
	pw_lookup_patches(a->client, ls, n);
	for (i = 0; i < n; i++) {
		struct cwork *w = &a->cw[asks[i].commit];

		if (ls[i].status == PWNM_STATUS_NOT_FOUND) {
			/* a patch the store knows, gone from the server */
		} else if (ls[i].status) {
			if (w->kind != K_FAILED)
				set_note(w, K_FAILED, xstrdup(ls[i].error ? ls[i].error : "lookup failed"));
		} else {
			for (j = 0; j < ls[i].n; j++)
				if (answers(&asks[i], &ls[i].patches[j]) &&
				    tracked_name(a, ls[i].patches[j].project) &&
				    store_project_name(a, ls[i].patches[j].project_id))
					add_cand(w, &ls[i].patches[j], asks[i].how);
		}
		pw_lookup_clear(&ls[i]);
	}
	free(ls);
}

static void
asks_free(struct ask *asks, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(asks[i].value);
	free(asks);
}

static struct ask *
ask_add(struct ask **asks, size_t *n, size_t commit, enum how how)
{
	struct ask *k;

	*asks = xreallocarray(*asks, *n + 1, sizeof(**asks));
	k = &(*asks)[(*n)++];
	memset(k, 0, sizeof(*k));
	k->commit = commit;
	k->how = how;
	return k;
}

/* Round one: trailer ids through the store (then the patch itself from the server), or the server's msgid filter. */
static pwnm_status_t
match_msgids(struct acc *a)
{
	struct ask *asks = NULL;
	size_t nasks = 0, i, j, k;
	pwnm_txn_t *txn;
	pwnm_status_t rc;

	if ((rc = state_txn_begin(a->st, 0, &txn)))
		return rc;
	for (i = 0; i < a->ncw; i++) {
		struct cwork *w = &a->cw[i];

		for (j = 0; j < w->nids; j++) {
			struct patch_key *keys = NULL;
			size_t nk = 0;

			if (state_msgid_lookup(txn, w->ids[j], &keys, &nk))
				continue;
			for (k = 0; k < nk; k++) {
				struct ask *q;

				if (!tracked_name(a, store_project_name(a, keys[k].project_id)))
					continue;
				w->ids_known = 1;
				q = ask_add(&asks, &nasks, i, HOW_STORE);
				q->l.patch_id = keys[k].patch_id;
			}
			free(keys);
		}
		if (!w->ids_known) {
			for (j = 0; j < w->nids; j++) {
				struct ask *q = ask_add(&asks, &nasks, i, HOW_SERVER);

				q->value = xstrdup(w->ids[j]);
				q->l.param = "msgid";
				q->l.value = q->value;
			}
		}
	}
	state_txn_abort(txn);
	run_asks(a, asks, nasks);
	asks_free(asks, nasks);
	return PWNM_STATUS_SUCCESS;
}

/* Round two: the commits still without a candidate, by their diff's hash. */
static pwnm_status_t
match_hashes(struct acc *a, char **err)
{
	struct ask *asks = NULL;
	size_t nasks = 0, i;

	for (i = 0; i < a->ncw; i++) {
		struct cwork *w = &a->cw[i];
		struct buf diff = { 0 };
		struct ask *q;
		pwnm_status_t rc;

		if (w->nc || w->kind == K_FAILED)
			continue;
		rc = git_commit_diff(a->o->git_dir, w->gc->id, &diff, err);
		if (rc) {
			buf_free(&diff);
			asks_free(asks, nasks);
			return rc;
		}
		pw_diff_hash(diff.data ? diff.data : "", diff.len, w->hash);
		buf_free(&diff);
		/* No line of a diff (an empty commit, a mode change): nothing to look up. */
		if (a->no_hash || strcmp(w->hash, EMPTY_HASH) == 0)
			continue;
		q = ask_add(&asks, &nasks, i, HOW_HASH);
		q->value = xstrdup(w->hash);
		q->l.param = "hash";
		q->l.value = q->value;
	}
	run_asks(a, asks, nasks);
	asks_free(asks, nasks);
	return PWNM_STATUS_SUCCESS;
}

/* ---- decisions ---- */

static void
decide(struct acc *a)
{
	size_t i, j, k;

	for (i = 0; i < a->ncw; i++) {
		struct cwork *w = &a->cw[i];
		struct buf b = { 0 };

		if (w->kind == K_FAILED)
			continue;
		if (w->nc == 0) {
			w->kind = K_UNMATCHED;
			continue;
		}
		/* Two patches of one project: which one this commit applied is not known. */
		for (j = 0; j < w->nc && !b.len; j++)
			for (k = j + 1; k < w->nc && !b.len; k++)
				if (w->c[j].p.project_id == w->c[k].p.project_id)
					buf_printf(&b, "more than one patch in %s", w->c[j].p.project);
		/* A patch an earlier commit of the range matched. */
		for (j = 0; j < w->nc && !b.len; j++) {
			size_t e;

			for (e = 0; e < i && !b.len; e++) {
				const struct cwork *x = &a->cw[e];

				if (x->kind != K_MATCHED)
					continue;
				for (k = 0; k < x->nc; k++)
					if (x->c[k].p.id == w->c[j].p.id &&
					    x->c[k].p.project_id == w->c[j].p.project_id)
						buf_printf(&b, "%s #%u matches commit %.12s too", w->c[j].p.project,
							   w->c[j].p.id, x->gc->id);
			}
		}
		if (b.len) {
			set_note(w, K_AMBIGUOUS, buf_release(&b));
			continue;
		}
		w->kind = K_MATCHED;
		for (j = 0; j < w->nc; j++) {
			struct cand *c = &w->c[j];

			if (strcmp(c->p.state, a->want_state) == 0 && strcmp(c->p.commit_ref, w->gc->id) == 0)
				c->oc = OC_SKIPPED;
			else
				c->oc = a->o->dry_run ? OC_WOULD : OC_TODO;
		}
	}
}

/* ---- the report ---- */

static const char *
how_str(enum how h)
{
	switch (h) {
	case HOW_STORE: return "by Message-ID";
	case HOW_SERVER: return "by Message-ID, from the server";
	case HOW_HASH: return "by diff hash";
	}
	return "";
}

/*
 * One line per commit: its short id, then for each patch it matched
 * what became of it, or why it matched none.
 */
static void
report_commit(struct acc *a, const struct cwork *w)
{
	FILE *f = a->out;
	size_t j;

	fprintf(f, "%.12s ", w->gc->id);
	switch (w->kind) {
	case K_UNMATCHED:
		fprintf(f, "no match: \"%s\" (", text_arg(w->subject));
		if (w->nids)
			fprintf(f, "%zu Message-ID%s unknown, ", w->nids, w->nids == 1 ? "" : "s");
		if (strcmp(w->hash, EMPTY_HASH) == 0)
			fprintf(f, "no diff to look up)\n");
		else if (a->no_hash)
			fprintf(f, "diff hash %.12s not looked up: the server's API %s has no hash filter, "
				   "which Patchwork 2.2 brought)\n",
				w->hash, a->api_version);
		else
			fprintf(f, "diff hash %.12s not in a tracked project)\n", w->hash);
		return;
	case K_FAILED:
		fprintf(f, "not looked up: \"%s\": %s\n", text_arg(w->subject), text_arg(w->note));
		return;
	case K_AMBIGUOUS:
		fprintf(f, "more than one match, nothing done: \"%s\": %s:", text_arg(w->subject),
			text_arg(w->note));
		for (j = 0; j < w->nc; j++)
			fprintf(f, "%s %s #%u \"%s\" (%s)", j ? "," : "", text_arg(w->c[j].p.project),
				w->c[j].p.id, text_arg(w->c[j].p.name), how_str(w->c[j].how));
		fprintf(f, "\n");
		return;
	case K_MATCHED:
	case K_OPEN:
		break;
	}
	for (j = 0; j < w->nc; j++) {
		const struct cand *c = &w->c[j];

		if (j)
			fprintf(f, "; ");
		switch (c->oc) {
		case OC_SKIPPED:
			fprintf(f, "skipped, already %s with this commit: ", a->want_state);
			break;
		case OC_WOULD:
			fprintf(f, "would be %s (now %s): ", a->want_state, text_arg(c->p.state));
			break;
		case OC_ACCEPTED:
			fprintf(f, "%s: ", a->want_state);
			break;
		case OC_REFUSED:
			fprintf(f, "refused: ");
			break;
		case OC_TODO:
		case OC_WAITING:
			fprintf(f, "waiting: ");
			break;
		case OC_NOT_SET:
			fprintf(f, "not set: ");
			break;
		}
		fprintf(f, "%s #%u \"%s\" (%s)", text_arg(c->p.project), c->p.id, text_arg(c->p.name),
			how_str(c->how));
		if (c->detail)
			fprintf(f, ": %s", text_arg(c->detail));
	}
	fprintf(f, "\n");
}

static void
count(struct acc *a)
{
	size_t i, j;

	a->res->commits = (unsigned)a->ncw;
	for (i = 0; i < a->ncw; i++) {
		const struct cwork *w = &a->cw[i];

		if (w->kind == K_UNMATCHED)
			a->res->unmatched++;
		else if (w->kind == K_AMBIGUOUS)
			a->res->ambiguous++;
		else if (w->kind == K_FAILED)
			a->res->failed++;
		if (w->kind != K_MATCHED)
			continue;
		for (j = 0; j < w->nc; j++) {
			switch (w->c[j].oc) {
			case OC_SKIPPED: a->res->skipped++; break;
			case OC_ACCEPTED: case OC_WOULD: a->res->accepted++; break;
			case OC_REFUSED: a->res->refused++; break;
			case OC_TODO: case OC_WAITING: a->res->waiting++; break;
			case OC_NOT_SET: a->res->refused++; break;
			}
		}
	}
}

static void
summary(struct acc *a)
{
	const struct accept_result *r = a->res;

	fprintf(a->out,
		"pwnm accept: %s%u commit%s: %u patch%s %s %s, %u already (skipped), %u without a match, "
		"%u with more than one match, %u refused, %u waiting%s\n",
		a->o->dry_run ? "dry run: " : "", r->commits, r->commits == 1 ? "" : "s", r->accepted,
		r->accepted == 1 ? "" : "es", a->o->dry_run ? "would be set" : "set", a->want_state,
		r->skipped, r->unmatched, r->ambiguous, r->refused, r->waiting,
		r->failed ? ", some commits not looked up" : "");
}

/* ---- the change: recorded as a local change, pushed by a sync run ---- */

static struct field_value
fv(const char *s)
{
	struct field_value v = { s, 0 };

	return v;
}

/*
 * The outbox entries (state and commit_ref wanted) in one transaction;
 * a patch the store does not know yet (found on the server only) is
 * recorded first with the server's values as agreed.
 */
static pwnm_status_t
record_outbox(struct acc *a)
{
	const struct field *fs = &field_table[FIELD_STATE], *fc = &field_table[FIELD_COMMIT_REF];
	pwnm_txn_t *txn;
	pwnm_status_t rc;
	size_t i, j, k;

	if ((rc = state_txn_begin(a->st, 1, &txn)))
		return rc;
	for (i = 0; i < a->ncw && !rc; i++) {
		struct cwork *w = &a->cw[i];

		for (j = 0; j < w->nc && !rc && w->kind == K_MATCHED; j++) {
			struct cand *c = &w->c[j];
			struct patch_rec rec;
			struct outbox_rec out;

			if (c->oc != OC_TODO)
				continue;
			rc = state_patch_get(txn, c->p.project_id, c->p.id, &rec);
			if (rc == PWNM_STATUS_NOT_FOUND) {
				int64_t t = iso_to_unix(c->p.date);

				memset(&rec, 0, sizeof(rec));
				rec.project_id = c->p.project_id;
				rec.patch_id = c->p.id;
				rec.date = t < 0 ? 0 : t;
				rec.msgid = xstrdup(c->p.msgid);
				for (k = 0; k < FIELD_COUNT; k++)
					field_set_agreed(&field_table[k], &rec,
							 field_remote(&field_table[k], &c->p));
				rc = state_patch_put(txn, &rec);
			}
			if (rc == PWNM_STATUS_SUCCESS)
				patch_rec_free(&rec);
			if (rc)
				break;
			rc = state_outbox_get(txn, c->p.project_id, c->p.id, &out);
			if (rc == PWNM_STATUS_NOT_FOUND) {
				memset(&out, 0, sizeof(out));
				out.project_id = c->p.project_id;
				out.patch_id = c->p.id;
				out.queued_at = now_unix();
				rc = PWNM_STATUS_SUCCESS;
			}
			if (rc)
				break;
			field_set_wanted(fs, &out, fv(a->want_state));
			field_set_wanted(fc, &out, fv(w->gc->id));
			out.fields |= FIELD_BIT(FIELD_STATE) | FIELD_BIT(FIELD_COMMIT_REF);
			out.attempts = 0;
			out.next_try = 0;
			free(out.last_error);
			out.last_error = xstrdup("");
			rc = state_outbox_put(txn, &out);
			outbox_rec_free(&out);
		}
	}
	if (rc) {
		state_txn_abort(txn);
		return rc;
	}
	return state_txn_commit(txn);
}

/*
 * The mail's tags show the change as a tag change would: its state tag
 * of the project swapped for the new state's (so the next scan reads
 * the same value the outbox holds).  A mail not in notmuch is left to
 * the run, which tags it when it arrives.
 */
static pwnm_status_t
write_tags(struct acc *a, char **err)
{
	notmuch_database_t *db = NULL;
	pwnm_status_t rc;
	size_t i, j;

	rc = nm_open(a->o->nm_config, a->o->nm_profile, 1, 10000, &db, err);
	if (rc)
		return rc;
	for (i = 0; i < a->ncw && !rc; i++) {
		struct cwork *w = &a->cw[i];

		for (j = 0; j < w->nc && !rc && w->kind == K_MATCHED; j++) {
			struct cand *c = &w->c[j];
			char *nmid = msgid_to_notmuch(c->p.msgid), *prefix, *tag;
			notmuch_message_t *msg = NULL;
			struct tagset cur = { 0 }, want = { 0 };
			size_t k, plen;
			int changed;

			if (c->oc != OC_TODO || !nmid ||
			    notmuch_database_find_message(db, nmid, &msg) != NOTMUCH_STATUS_SUCCESS ||
			    !msg) {
				free(nmid);
				continue;
			}
			tag = merge_project_tag(c->p.project);
			if (!tag) {
				notmuch_message_destroy(msg);
				free(nmid);
				continue; /* a name too long for a tag: the mail has none of the project */
			}
			nm_message_pw_tags(msg, &cur);
			tagset_copy(&want, &cur);
			prefix = xasprintf("%s/", tag);
			plen = strlen(prefix);
			for (k = 0; k < cur.n; k++) {
				const char *rest = cur.v[k] + plen;

				if (strncmp(cur.v[k], prefix, plen) == 0 && strcmp(rest, "archived") != 0 &&
				    strncmp(rest, "delegate/", 9) != 0)
					tagset_del(&want, cur.v[k]);
			}
			tagset_add(&want, tag);
			free(tag);
			if ((tag = merge_state_tag(c->p.project, a->want_state)))
				tagset_add(&want, tag);
			free(tag);
			rc = nm_message_set_pw_tags(msg, &cur, &want, &changed,
						    err);
			free(prefix);
			tagset_free(&cur);
			tagset_free(&want);
			notmuch_message_destroy(msg);
			free(nmid);
		}
	}
	if (notmuch_database_destroy(db) != NOTMUCH_STATUS_SUCCESS && !rc) {
		*err = xstrdup("cannot close the notmuch database after writing tags");
		rc = PWNM_STATUS_NOTMUCH;
	}
	return rc;
}

/* What the run made of each change, read back from the store. */
static void
read_results(struct acc *a)
{
	pwnm_txn_t *txn;
	size_t i, j;

	if (state_txn_begin(a->st, 0, &txn))
		return;
	for (i = 0; i < a->ncw; i++) {
		struct cwork *w = &a->cw[i];

		for (j = 0; j < w->nc && w->kind == K_MATCHED; j++) {
			struct cand *c = &w->c[j];
			struct outbox_rec out;
			struct patch_rec rec;

			if (c->oc != OC_TODO)
				continue;
			if (state_outbox_get(txn, c->p.project_id, c->p.id, &out) == PWNM_STATUS_SUCCESS) {
				enum outbox_status os = state_outbox_status(&out);

				if (os != OUTBOX_DONE) {
					c->oc = OC_WAITING;
					c->detail = xstrdup(os == OUTBOX_HELD_CONFLICT
								    ? "held as a conflict (pw/conflict)"
							    : *out.last_error ? out.last_error
									      : "not sent (see above)");
					outbox_rec_free(&out);
					continue;
				}
				outbox_rec_free(&out);
			}
			if (state_patch_get(txn, c->p.project_id, c->p.id, &rec) != PWNM_STATUS_SUCCESS) {
				c->oc = OC_NOT_SET;
				c->detail = xstrdup("the patch is gone from the server");
				continue;
			}
			if (rec.flags & PATCH_F_DENIED) {
				c->oc = OC_REFUSED;
				c->detail = xstrdup(*rec.note ? rec.note : "refused by the server");
			} else if (strcmp(rec.state, a->want_state) == 0 &&
				   strcmp(rec.commit_ref, w->gc->id) == 0) {
				c->oc = OC_ACCEPTED;
			} else {
				c->oc = OC_NOT_SET;
				c->detail = xasprintf("Patchwork has %s, commit %s%s%s", rec.state,
						      *rec.commit_ref ? rec.commit_ref : "none",
						      *rec.note ? ": " : "", rec.note);
			}
			patch_rec_free(&rec);
		}
	}
	state_txn_abort(txn);
}

/* The sync options of the runs accept makes (their reports go to stderr). */
static void
sync_opts_of(const struct acc *a, struct sync_opts *so, int push)
{
	memset(so, 0, sizeof(*so));
	so->pull = 1;
	so->push = push;
	so->jobs = a->o->jobs;
	so->verbose = a->o->verbose;
	so->project = a->o->project;
	so->nm_config = a->o->nm_config;
	so->nm_profile = a->o->nm_profile;
	so->crash_at = a->o->crash_at;
	so->out = stderr;
}

/*
 * A pull before the lookups: what changed on Patchwork since the last
 * run becomes the agreed value, so the accept (decided on the server's
 * current values) is a local change made after it, not a conflict with
 * it.  Local changes are recorded, sent by the push that follows.
 */
static pwnm_status_t
pull_first(struct acc *a)
{
	struct sync_opts so;
	struct sync_result sr;
	char *serr = NULL;
	pwnm_status_t rc;

	sync_opts_of(a, &so, 0);
	rc = sync_run(a->cfg, NULL, a->st, &so, &sr, &serr);
	/* Its errors were printed as they happened; the lookups say what they can. */
	free(serr);
	return rc;
}

/* Record the changes, write the tags, run a sync that pushes them; SUCCESS or the run's status. */
static pwnm_status_t
apply(struct acc *a, char **err)
{
	struct sync_opts so = { 0 };
	struct sync_result sr;
	char *serr = NULL;
	pwnm_status_t rc;
	size_t i, j, todo = 0;

	for (i = 0; i < a->ncw; i++)
		for (j = 0; j < a->cw[i].nc; j++)
			todo += a->cw[i].kind == K_MATCHED && a->cw[i].c[j].oc == OC_TODO;
	if (!todo)
		return PWNM_STATUS_SUCCESS;
	if ((rc = record_outbox(a))) {
		*err = xasprintf("cannot record the changes: %s", state_last_error(a->st));
		return rc;
	}
	if ((rc = write_tags(a, err)))
		return rc;
	sync_opts_of(a, &so, 1);
	rc = sync_run(a->cfg, NULL, a->st, &so, &sr, &serr);
	/* Its errors were printed as they happened. */
	free(serr);
	read_results(a);
	return rc;
}

/* ---- the run ---- */

pwnm_status_t
accept_run(const struct pwnm_config *cfg, pwnm_state_t *st, const struct accept_opts *o,
	   struct accept_result *res, char **err)
{
	struct acc acc = { 0 }, *a = &acc;
	struct git_commit *commits = NULL;
	size_t ncommits = 0, i;
	pwnm_txn_t *txn;
	pwnm_status_t rc;

	memset(res, 0, sizeof(*res));
	*err = NULL;
	a->cfg = cfg;
	a->o = o;
	a->st = st;
	a->res = res;
	a->out = o->out ? o->out : stdout;
	a->want_state = o->state ? o->state : cfg->accept_state;

	if ((rc = git_check_repo(o->git_dir, err)))
		return rc;
	if ((rc = git_commits(o->git_dir, o->revs, o->nrevs, &commits, &ncommits, err)))
		return rc;
	if (ncommits == 0) {
		fprintf(a->out, "pwnm accept: no commits in the range (merges are left out)\n");
		return PWNM_STATUS_SUCCESS;
	}

	if ((rc = state_txn_begin(st, 0, &txn)) == PWNM_STATUS_SUCCESS) {
		rc = state_project_list(txn, &a->projects, &a->nprojects);
		state_txn_abort(txn);
	}
	if (rc) {
		*err = xasprintf("cannot read the state database: %s", state_last_error(st));
		goto out;
	}
	for (i = 0; i < a->nprojects; i++)
		if (tracked_name(a, a->projects[i].link_name))
			break;
	if (i == a->nprojects) {
		*err = xasprintf("%s not synced yet: run 'pwnm sync' first",
				 o->project ? "this project is" : "the tracked projects are");
		rc = PWNM_STATUS_CONFIG;
		goto out;
	}

	a->cw = xcalloc(ncommits, sizeof(*a->cw));
	a->ncw = ncommits;
	for (i = 0; i < ncommits; i++) {
		a->cw[i].gc = &commits[i];
		a->cw[i].subject = first_line(commits[i].message);
		trailer_msgids(commits[i].message, &a->cw[i].ids, &a->cw[i].nids);
	}
	if (!o->dry_run)
		pull_first(a);
	if ((rc = client_ready(a))) {
		*err = xasprintf("cannot reach '%s': %s", cfg->url,
				 a->client ? pw_client_error(a->client) : pwnm_status_to_string(rc));
		goto out;
	}
	if ((rc = match_msgids(a))) {
		*err = xasprintf("cannot read the state database: %s", state_last_error(st));
		goto out;
	}
	if ((rc = match_hashes(a, err)))
		goto out;
	decide(a);
	if (!o->dry_run)
		rc = apply(a, err);
	for (i = 0; i < a->ncw; i++)
		report_commit(a, &a->cw[i]);
	count(a);
	summary(a);
	if (!rc && res->refused)
		rc = PWNM_STATUS_FORBIDDEN;
	if (!rc && res->failed)
		rc = PWNM_STATUS_NETWORK;
out:
	for (i = 0; i < a->ncw; i++)
		cwork_free(&a->cw[i]);
	free(a->cw);
	git_commits_free(commits, ncommits);
	state_project_list_free(a->projects, a->nprojects);
	if (a->client)
		pw_client_free(a->client);
	if (a->http)
		http_free(a->http);
	free(a->api_version);
	return rc;
}

/* libstate.c - pwnm's LMDB state store: meta, projects, patches, msgid index, outbox */
#include "libstate.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <lmdb.h>

#include "libutil.h"

/*
 * Record encoding (all integers big-endian, fixed width):
 *
 *   u8 record version (REC_VERSION), then the record's fixed fields in
 *   the order below, then its strings, each as u32 length, the bytes
 *   and a terminating NUL (so a string can be used in place).  The key
 *   holds the ids; they are not repeated in the value.
 *
 *   project: u64 event_last_id, u32 max_patch_id, i64 last_reconcile,
 *            i64 last_poll; link_name, web_url, event_cursor, states_seen
 *            (its states_listed is a meta key, META_STATES_LISTED<id>)
 *   patch:   u32 flags, u8 archived, u32 delegate_id, i64 date;
 *            msgid, state, delegate, note, commit_ref; then (schema 3)
 *            u32 series_id, check
 *   user:    u32 id (the key is the username's bytes)
 *   series:  u32 project_id, u32 flags, u32 version, u32 total,
 *            u32 received_total, u32 submitter_id, u32 cover_id,
 *            u32 newer_id, u32 npatches, npatches × u32 patch id;
 *            name, date, cover_msgid, cover_state (schema 3)
 *   outbox:  u32 fields, u8 archived, u32 delegate_id, u32 attempts,
 *            i64 queued_at, i64 next_try, u32 sent_fields, u8 sent_archived;
 *            state, delegate, last_error, sent_state, sent_delegate,
 *            commit_ref, sent_commit_ref; then (schema 4) u8 sent_events,
 *            u64 sent_event_id, sent_event_date
 *
 * The strings after note (patch) and sent_delegate (outbox) came with
 * schema version 2: a record written by version 1 ends before them and
 * reads as "".  An outbox record written before schema 4 ends before
 * sent_events and reads as not knowing them (0).
 *
 * A value whose version, lengths, terminators or total size do not add
 * up is corrupt (PWNM_STATUS_STATE); the decoder never reads past it.
 */
#define REC_VERSION 1
#define STATE_MAXDBS 8
#define ERRBUF_SIZE 1024

#define PROJECT_FIXED (1 + 8 + 4 + 8 + 8)
#define PATCH_FIXED (1 + 4 + 1 + 4 + 8)
#define OUTBOX_FIXED (1 + 4 + 1 + 4 + 4 + 8 + 8 + 4 + 1)

struct pwnm_state {
	MDB_env *env;
	MDB_dbi meta, project, patch, msgid, outbox, user, series, cover;
	char *dir;
	int writing; /* the write transaction is open */
	int sound;   /* the data file was found sound at open: commits keep the stamp */
	int fail_read; /* the next read transaction fails (state_fail_next_read) */
	char err[ERRBUF_SIZE];
};

struct pwnm_txn {
	MDB_txn *txn;
	pwnm_state_t *st;
	int write;
	/* First failed LMDB write: LMDB refuses to commit after it, so do we. */
	pwnm_status_t failed;
};

/* A string inside an LMDB value: len bytes then a NUL at s[len]. */
struct sref {
	const char *s;
	size_t len;
};

/* Reusable string storage for the records handed to foreach callbacks. */
struct scratch {
	char *data;
	size_t cap;
};

/* ---- big-endian integers ---- */

static void
be32_put(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static void
be64_put(unsigned char *p, uint64_t v)
{
	be32_put(p, (uint32_t)(v >> 32));
	be32_put(p + 4, (uint32_t)v);
}

static uint32_t
be32_get(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t
be64_get(const unsigned char *p)
{
	return (uint64_t)be32_get(p) << 32 | be32_get(p + 4);
}

static void
pair_key(unsigned char k[8], uint32_t project_id, uint32_t patch_id)
{
	be32_put(k, project_id);
	be32_put(k + 4, patch_id);
}

/* ---- errors ---- */

static void ATTR_PRINTF(2, 3)
set_err(pwnm_state_t *st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->err, sizeof(st->err), fmt, ap);
	va_end(ap);
	debug("state", "%s", st->err);
}

static pwnm_status_t
rc_status(int rc)
{
	return rc == MDB_MAP_FULL ? PWNM_STATUS_STATE_FULL : PWNM_STATUS_STATE;
}

/* An LMDB call failed with rc while doing what (a short phrase). */
static pwnm_status_t
lmdb_fail(pwnm_txn_t *t, int rc, const char *what)
{
	pwnm_status_t status = rc_status(rc);

	set_err(t->st, "%s in '%s': %s", what, t->st->dir, mdb_strerror(rc));
	if (t->write && t->failed == PWNM_STATUS_SUCCESS)
		t->failed = status;
	return status;
}

static pwnm_status_t
corrupt(pwnm_txn_t *t, const char *what, const MDB_val *key, const MDB_val *val)
{
	char kbuf[40];
	const unsigned char *k = key->mv_data;

	if (key->mv_size == 8)
		snprintf(kbuf, sizeof(kbuf), "%" PRIu32 "/%" PRIu32, be32_get(k), be32_get(k + 4));
	else if (key->mv_size == 4)
		snprintf(kbuf, sizeof(kbuf), "%" PRIu32, be32_get(k));
	else
		snprintf(kbuf, sizeof(kbuf), "(%zu-byte key)", key->mv_size);
	set_err(t->st, "corrupt %s record %s (%zu bytes) in '%s'", what, kbuf,
		val ? val->mv_size : (size_t)0, t->st->dir);
	return PWNM_STATUS_STATE;
}

static pwnm_status_t
need_write(pwnm_txn_t *t, const char *what)
{
	if (t->write)
		return PWNM_STATUS_SUCCESS;
	set_err(t->st, "%s: not allowed in a read transaction", what);
	return PWNM_STATUS_STATE;
}

const char *
state_last_error(pwnm_state_t *st)
{
	return st ? st->err : "";
}

/* ---- encoding ---- */

struct wr {
	unsigned char *p;
	size_t off;
};

static void
w_u8(struct wr *w, unsigned v)
{
	w->p[w->off++] = (unsigned char)v;
}

static void
w_u32(struct wr *w, uint32_t v)
{
	be32_put(w->p + w->off, v);
	w->off += 4;
}

static void
w_u64(struct wr *w, uint64_t v)
{
	be64_put(w->p + w->off, v);
	w->off += 8;
}

static void
w_str(struct wr *w, const struct sref *s)
{
	w_u32(w, (uint32_t)s->len);
	memcpy(w->p + w->off, s->s, s->len);
	w->off += s->len;
	w->p[w->off++] = '\0';
}

/* Fill refs from C strings (NULL is ""); add their encoded size to *size. */
static int
strs_prepare(struct sref *refs, const char *const *strs, size_t n, size_t *size)
{
	size_t i;

	for (i = 0; i < n; i++) {
		refs[i].s = strs[i] ? strs[i] : "";
		refs[i].len = strlen(refs[i].s);
		if (refs[i].len > UINT32_MAX - 1 || refs[i].len > SIZE_MAX / 2 - *size)
			return -1;
		*size += 4 + refs[i].len + 1;
	}
	return 0;
}

/* ---- decoding ---- */

struct rd {
	const unsigned char *p;
	size_t len, off;
	int bad;
};

static int
rd_have(struct rd *r, size_t n)
{
	if (r->bad || r->len - r->off < n) {
		r->bad = 1;
		return 0;
	}
	return 1;
}

static unsigned
rd_u8(struct rd *r)
{
	if (!rd_have(r, 1))
		return 0;
	return r->p[r->off++];
}

static uint32_t
rd_u32(struct rd *r)
{
	uint32_t v;

	if (!rd_have(r, 4))
		return 0;
	v = be32_get(r->p + r->off);
	r->off += 4;
	return v;
}

static uint64_t
rd_u64(struct rd *r)
{
	uint64_t v;

	if (!rd_have(r, 8))
		return 0;
	v = be64_get(r->p + r->off);
	r->off += 8;
	return v;
}

static void
rd_str(struct rd *r, struct sref *s)
{
	size_t len = rd_u32(r);

	s->s = "";
	s->len = 0;
	/* len bytes and the NUL; written so that len + 1 cannot wrap. */
	if (r->bad || len >= r->len - r->off) {
		r->bad = 1;
		return;
	}
	s->s = (const char *)r->p + r->off;
	/* The terminator must be there and be the first NUL. */
	if (s->s[len] != '\0' || memchr(s->s, '\0', len)) {
		r->bad = 1;
		s->s = "";
		return;
	}
	s->len = len;
	r->off += len + 1;
}

static void
rd_init(struct rd *r, const MDB_val *val)
{
	r->p = val->mv_data;
	r->len = val->mv_size;
	r->off = 0;
	r->bad = 0;
	if (rd_u8(r) != REC_VERSION)
		r->bad = 1;
}

static int
rd_done(const struct rd *r)
{
	return !r->bad && r->off == r->len;
}

/*
 * Give the n strings in refs to *dst[i]: separately allocated copies
 * when sc is NULL (caller frees), else copies in sc (borrowed).
 */
static void
strs_give(const struct sref *refs, char **const *dst, size_t n, struct scratch *sc)
{
	size_t i, total = 0, off = 0;

	if (!sc) {
		for (i = 0; i < n; i++) {
			*dst[i] = xmalloc(refs[i].len + 1);
			memcpy(*dst[i], refs[i].s, refs[i].len + 1);
		}
		return;
	}
	for (i = 0; i < n; i++)
		total += refs[i].len + 1;
	if (total > sc->cap) {
		sc->cap = total > 2 * sc->cap ? total : 2 * sc->cap;
		sc->data = xrealloc(sc->data, sc->cap);
	}
	for (i = 0; i < n; i++) {
		memcpy(sc->data + off, refs[i].s, refs[i].len + 1);
		*dst[i] = sc->data + off;
		off += refs[i].len + 1;
	}
}

/* ---- records ---- */

void
project_rec_free(struct project_rec *p)
{
	if (!p)
		return;
	free(p->link_name);
	free(p->web_url);
	free(p->event_cursor);
	free(p->states_seen);
	p->link_name = p->web_url = p->event_cursor = p->states_seen = NULL;
}

void
patch_rec_free(struct patch_rec *p)
{
	if (!p)
		return;
	free(p->msgid);
	free(p->state);
	free(p->delegate);
	free(p->note);
	free(p->commit_ref);
	free(p->check);
	p->msgid = p->state = p->delegate = p->note = p->commit_ref = p->check = NULL;
}

enum outbox_status
state_outbox_status(const struct outbox_rec *o)
{
	if (!o->fields)
		return OUTBOX_DONE;
	if (o->next_try == OUTBOX_HELD)
		return OUTBOX_HELD_CONFLICT;
	if (o->last_error && *o->last_error)
		return OUTBOX_RETRY;
	return OUTBOX_WAITING;
}

void
outbox_rec_free(struct outbox_rec *o)
{
	if (!o)
		return;
	free(o->state);
	free(o->delegate);
	free(o->last_error);
	free(o->sent_state);
	free(o->sent_delegate);
	free(o->commit_ref);
	free(o->sent_commit_ref);
	free(o->sent_event_date);
	o->state = o->delegate = o->last_error = NULL;
	o->sent_state = o->sent_delegate = NULL;
	o->commit_ref = o->sent_commit_ref = o->sent_event_date = NULL;
}

void
patch_rec_copy(struct patch_rec *dst, const struct patch_rec *src)
{
	*dst = *src;
	dst->msgid = xstrdup(src->msgid ? src->msgid : "");
	dst->state = xstrdup(src->state ? src->state : "");
	dst->delegate = xstrdup(src->delegate ? src->delegate : "");
	dst->note = xstrdup(src->note ? src->note : "");
	dst->commit_ref = xstrdup(src->commit_ref ? src->commit_ref : "");
	dst->check = xstrdup(src->check ? src->check : "");
}

void
outbox_rec_copy(struct outbox_rec *dst, const struct outbox_rec *src)
{
	*dst = *src;
	dst->state = xstrdup(src->state ? src->state : "");
	dst->delegate = xstrdup(src->delegate ? src->delegate : "");
	dst->last_error = xstrdup(src->last_error ? src->last_error : "");
	dst->sent_state = xstrdup(src->sent_state ? src->sent_state : "");
	dst->sent_delegate = xstrdup(src->sent_delegate ? src->sent_delegate : "");
	dst->commit_ref = xstrdup(src->commit_ref ? src->commit_ref : "");
	dst->sent_commit_ref = xstrdup(src->sent_commit_ref ? src->sent_commit_ref : "");
	dst->sent_event_date = xstrdup(src->sent_event_date ? src->sent_event_date : "");
}

static int
project_decode(const MDB_val *key, const MDB_val *val, struct project_rec *out,
	       struct scratch *sc)
{
	struct rd r;
	struct sref refs[4];
	char **const dst[4] = { &out->link_name, &out->web_url, &out->event_cursor,
				&out->states_seen };
	size_t i;

	if (key->mv_size != 4)
		return -1;
	rd_init(&r, val);
	out->id = be32_get(key->mv_data);
	out->event_last_id = rd_u64(&r);
	out->max_patch_id = rd_u32(&r);
	out->last_reconcile = (int64_t)rd_u64(&r);
	out->last_poll = (int64_t)rd_u64(&r);
	for (i = 0; i < 4; i++)
		rd_str(&r, &refs[i]);
	if (!rd_done(&r))
		return -1;
	strs_give(refs, dst, 4, sc);
	return 0;
}

static int
patch_decode(const MDB_val *key, const MDB_val *val, struct patch_rec *out, struct scratch *sc)
{
	struct rd r;
	struct sref refs[6];
	char **const dst[6] = { &out->msgid, &out->state, &out->delegate, &out->note,
				&out->commit_ref, &out->check };
	size_t i;

	if (key->mv_size != 8)
		return -1;
	rd_init(&r, val);
	out->project_id = be32_get(key->mv_data);
	out->patch_id = be32_get((const unsigned char *)key->mv_data + 4);
	out->flags = rd_u32(&r);
	out->archived = rd_u8(&r) != 0;
	out->delegate_id = rd_u32(&r);
	out->date = (int64_t)rd_u64(&r);
	for (i = 0; i < 4; i++)
		rd_str(&r, &refs[i]);
	/* schema 1 records end here, schema 2 ones after commit_ref */
	refs[4].s = refs[5].s = "";
	refs[4].len = refs[5].len = 0;
	if (!r.bad && r.off < r.len)
		rd_str(&r, &refs[4]);
	if (!r.bad && r.off < r.len) {
		out->series_id = rd_u32(&r);
		rd_str(&r, &refs[5]);
	}
	if (!rd_done(&r))
		return -1;
	strs_give(refs, dst, 6, sc);
	return 0;
}

/* The msgid of an encoded patch record, in place (borrowed from val); NULL if corrupt. */
static const char *
patch_msgid_ref(const MDB_val *val)
{
	struct rd r;
	struct sref s;

	rd_init(&r, val);
	r.off = PATCH_FIXED;
	if (r.bad || r.len < PATCH_FIXED)
		return NULL;
	rd_str(&r, &s);
	return r.bad ? NULL : s.s;
}

static int
outbox_decode(const MDB_val *key, const MDB_val *val, struct outbox_rec *out,
	      struct scratch *sc)
{
	struct rd r;
	struct sref refs[8];
	char **const dst[8] = { &out->state,	  &out->delegate,   &out->last_error,
				&out->sent_state, &out->sent_delegate, &out->commit_ref,
				&out->sent_commit_ref, &out->sent_event_date };
	size_t i;

	if (key->mv_size != 8)
		return -1;
	rd_init(&r, val);
	out->project_id = be32_get(key->mv_data);
	out->patch_id = be32_get((const unsigned char *)key->mv_data + 4);
	out->fields = rd_u32(&r);
	out->archived = rd_u8(&r) != 0;
	out->delegate_id = rd_u32(&r);
	out->attempts = rd_u32(&r);
	out->queued_at = (int64_t)rd_u64(&r);
	out->next_try = (int64_t)rd_u64(&r);
	out->sent_fields = rd_u32(&r);
	out->sent_archived = rd_u8(&r) != 0;
	for (i = 0; i < 5; i++)
		rd_str(&r, &refs[i]);
	/* schema 1 records end here, schema 2 and 3 ones after sent_commit_ref */
	for (i = 5; i < 8; i++) {
		refs[i].s = "";
		refs[i].len = 0;
	}
	out->sent_events = 0;
	out->sent_event_id = 0;
	if (!r.bad && r.off < r.len) {
		rd_str(&r, &refs[5]);
		rd_str(&r, &refs[6]);
	}
	if (!r.bad && r.off < r.len) {
		out->sent_events = rd_u8(&r) != 0;
		out->sent_event_id = rd_u64(&r);
		rd_str(&r, &refs[7]);
	}
	if (!rd_done(&r))
		return -1;
	strs_give(refs, dst, 8, sc);
	return 0;
}

/* mdb_put with MDB_RESERVE: *dst is where the size bytes of the value go. */
static pwnm_status_t
put_reserve(pwnm_txn_t *t, MDB_dbi dbi, MDB_val *key, size_t size, unsigned char **dst,
	    const char *what)
{
	MDB_val val = { size, NULL };
	int rc;

	*dst = NULL;
	rc = mdb_put(t->txn, dbi, key, &val, MDB_RESERVE);
	if (rc != MDB_SUCCESS)
		return lmdb_fail(t, rc, what);
	*dst = val.mv_data;
	return PWNM_STATUS_SUCCESS;
}

static pwnm_status_t
too_long(pwnm_txn_t *t, const char *what)
{
	set_err(t->st, "%s: a string field is too long", what);
	return PWNM_STATUS_STATE;
}

/* ---- open / close ---- */

/*
 * liblmdb trusts its data file: a page number, node offset or size that
 * a damaged file gets wrong makes it read outside its map (SIGSEGV or
 * SIGBUS), and a wrong flag makes it take a value for a page.  So before
 * pwnm reads the store, check_store walks the snapshot a read transaction
 * sees, in a private read-only map of data.mdb: its meta page, then every
 * page reachable from the free list, the main database and the named
 * databases.  Each page must lie inside the file (a file cut short fails
 * here), carry its own number and the kind its parent expects, be reached
 * once, and hold its nodes inside itself, or in overflow pages inside the
 * file; each named database must be one of pwnm's, with its flags; each
 * free-list entry must name pages of the snapshot.  This is LMDB's data
 * format version 1 (liblmdb 0.9) in the machine's byte order and word
 * size.  Each page is read once: milliseconds for 100,000 patches.
 */
#define LM_MAGIC 0xBEEFC0DEu
#define LM_VERSION 1u
#define LM_W sizeof(size_t)      /* the size of pgno_t, txnid_t and size_t */
#define LM_HDR (LM_W + 8)        /* page header: pgno, pad, flags, lower, upper */
#define LM_DBSIZE (8 + 5 * LM_W) /* MDB_db: pad, flags, depth, 4 counts, root */
#define LM_NODE 8                /* node header: lo, hi, flags, ksize */
#define LM_P_BRANCH 0x01
#define LM_P_LEAF 0x02
#define LM_P_OVERFLOW 0x04
#define LM_P_META 0x08
#define LM_P_LEAF2 0x20
#define LM_P_SUBP 0x40
#define LM_P_KIND (LM_P_BRANCH | LM_P_LEAF | LM_P_OVERFLOW | LM_P_META | LM_P_LEAF2)
#define LM_F_BIGDATA 0x01
#define LM_F_SUBDATA 0x02
#define LM_F_DUPDATA 0x04
#define LM_MAXDEPTH 32 /* liblmdb's cursor stack */

/* What a tree holds, which decides what its leaves may contain. */
enum lm_kind { LM_FREE, LM_MAIN, LM_PLAIN, LM_DUPS, LM_DUPVALUES };

/* pwnm's databases: their names, flags and handles in pwnm_state. */
static const struct {
	const char *name;
	unsigned flags;
	size_t off;
} state_dbs[] = {
	{ "meta", 0, offsetof(struct pwnm_state, meta) },
	{ "project", 0, offsetof(struct pwnm_state, project) },
	{ "patch", 0, offsetof(struct pwnm_state, patch) },
	{ "msgid", MDB_DUPSORT | MDB_DUPFIXED, offsetof(struct pwnm_state, msgid) },
	{ "outbox", 0, offsetof(struct pwnm_state, outbox) },
	{ "user", 0, offsetof(struct pwnm_state, user) },
	{ "series", 0, offsetof(struct pwnm_state, series) },
	{ "cover", MDB_DUPSORT | MDB_DUPFIXED, offsetof(struct pwnm_state, cover) },
};

struct lm_check {
	const unsigned char *map;
	size_t psize;
	size_t limit;        /* pages of the snapshot (its last page + 1) */
	size_t npages;       /* of those, the ones inside the file */
	size_t file_size;
	unsigned char *seen; /* a bit a page */
	char *msg;
	size_t msgsz;
};

static size_t
lm_word(const unsigned char *p)
{
	size_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static unsigned
lm_u16(const unsigned char *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t
lm_u32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static int ATTR_PRINTF(2, 3)
lm_bad(struct lm_check *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->msg, c->msgsz, fmt, ap);
	va_end(ap);
	return -1;
}

/* Mark page pgno reached; -1 when it is outside the snapshot or the file, or reached before. */
static int
lm_reach(struct lm_check *c, size_t pgno)
{
	if (pgno < 2 || pgno >= c->limit)
		return lm_bad(c, "page %zu is outside the database (%zu pages)", pgno, c->limit);
	if (pgno >= c->npages)
		return lm_bad(c, "data.mdb is truncated (%zu bytes, page %zu is needed)",
			      c->file_size, pgno);
	if (c->seen[pgno / 8] & (1u << (pgno % 8)))
		return lm_bad(c, "page %zu is reached twice", pgno);
	c->seen[pgno / 8] |= (unsigned char)(1u << (pgno % 8));
	return 0;
}

/* Page pgno, reached for the first time and numbered so. */
static const unsigned char *
lm_page(struct lm_check *c, size_t pgno)
{
	const unsigned char *p;

	if (lm_reach(c, pgno) < 0)
		return NULL;
	p = c->map + pgno * c->psize;
	if (lm_word(p) != pgno) {
		lm_bad(c, "page %zu is numbered %zu", pgno, lm_word(p));
		return NULL;
	}
	return p;
}

/*
 * The nodes of a page (or sub-page) p of size bytes: their count, or -1
 * when the header or a node's offset, key or (unless big) value is not
 * inside it.  A big value holds one page number.  The keys of a page of
 * fixed-size duplicates are ks bytes each.
 */
static long
lm_nodes(struct lm_check *c, const unsigned char *p, size_t size, size_t ks, size_t pgno)
{
	size_t lower = lm_u16(p + LM_W + 4), upper = lm_u16(p + LM_W + 6), n, i;

	if (lower < LM_HDR || lower > upper || upper > size || (lower - LM_HDR) % 2)
		return lm_bad(c, "page %zu has a broken header", pgno);
	n = (lower - LM_HDR) / 2;
	if (lm_u16(p + LM_W + 2) & LM_P_LEAF2) {
		/* fixed-size keys of ks bytes, packed after the header */
		if (LM_HDR + n * ks > size)
			return lm_bad(c, "page %zu holds more than fits", pgno);
		return (long)n;
	}
	for (i = 0; i < n; i++) {
		size_t off = lm_u16(p + LM_HDR + 2 * i), end;
		const unsigned char *nd = p + off;

		if (off < lower || off + LM_NODE > size)
			return lm_bad(c, "page %zu has a node outside it", pgno);
		end = off + LM_NODE + lm_u16(nd + 6);
		if (lm_u16(p + LM_W + 2) & LM_P_BRANCH)
			; /* the value is the child's page number, in the header */
		else if (lm_u16(nd + 4) & LM_F_BIGDATA)
			end += LM_W;
		else
			end += lm_u16(nd) | (size_t)lm_u16(nd + 2) << 16;
		if (end > size)
			return lm_bad(c, "page %zu has a node reaching past it", pgno);
	}
	return (long)n;
}

static const unsigned char *
lm_node(const unsigned char *p, long i)
{
	return p + lm_u16(p + LM_HDR + 2 * (size_t)i);
}

/* A free-list entry (n bytes): a count, then that many page numbers of the snapshot. */
static int
lm_freelist(struct lm_check *c, const unsigned char *d, size_t n, size_t pgno)
{
	size_t count, i;

	if (n < LM_W || (count = lm_word(d)) > n / LM_W - 1)
		return lm_bad(c, "a free-list entry on page %zu is broken", pgno);
	for (i = 1; i <= count; i++) {
		size_t pg = lm_word(d + i * LM_W);

		if (pg < 2 || pg >= c->limit)
			return lm_bad(c, "a free-list entry on page %zu names page %zu", pgno, pg);
	}
	return 0;
}

/* The overflow pages holding a big value of n bytes; its bytes, or NULL. */
static const unsigned char *
lm_overflow(struct lm_check *c, size_t pgno, size_t n)
{
	const unsigned char *p = lm_page(c, pgno);
	size_t pages, i;

	if (!p)
		return NULL;
	pages = lm_u32(p + LM_W + 4);
	if ((lm_u16(p + LM_W + 2) & LM_P_KIND) != LM_P_OVERFLOW || pages < 1 ||
	    pages > c->npages - pgno || n > pages * c->psize - LM_HDR) {
		lm_bad(c, "overflow page %zu is broken", pgno);
		return NULL;
	}
	for (i = 1; i < pages; i++)
		if (lm_reach(c, pgno + i) < 0)
			return NULL;
	return p + LM_HDR;
}

/* A sub-page of duplicates (n bytes inside a node). */
static int
lm_subpage(struct lm_check *c, const unsigned char *sp, size_t n, int fixed, size_t pgno)
{
	unsigned f;
	long k, i;

	if (n < LM_HDR)
		return lm_bad(c, "a sub-page on page %zu is too short", pgno);
	f = lm_u16(sp + LM_W + 2);
	if (!(f & LM_P_SUBP) || (f & LM_P_KIND) != (fixed ? LM_P_LEAF | LM_P_LEAF2 : LM_P_LEAF))
		return lm_bad(c, "a sub-page on page %zu is of the wrong kind", pgno);
	/* LMDB takes the size of its fixed-size keys from the sub-page itself */
	if ((k = lm_nodes(c, sp, n, lm_u16(sp + LM_W), pgno)) < 0)
		return -1;
	for (i = 0; !fixed && i < k; i++)
		if (lm_u16(lm_node(sp, i) + 4) != 0)
			return lm_bad(c, "a sub-page on page %zu has a node of the wrong kind", pgno);
	return 0;
}

static int lm_tree(struct lm_check *c, const unsigned char *db, enum lm_kind kind);

/* The leaf nodes of page pgno, in a tree of the given kind. */
static int
lm_leaf(struct lm_check *c, const unsigned char *p, long n, enum lm_kind kind, int fixed,
	size_t pgno)
{
	long i;

	for (i = 0; i < n; i++) {
		const unsigned char *nd = lm_node(p, i), *d = nd + LM_NODE + lm_u16(nd + 6);
		unsigned nf = lm_u16(nd + 4);
		size_t ds = lm_u16(nd) | (size_t)lm_u16(nd + 2) << 16, j;

		if (nf & ~(unsigned)(LM_F_BIGDATA | LM_F_SUBDATA | LM_F_DUPDATA))
			return lm_bad(c, "page %zu has a node of an unknown kind", pgno);
		if ((nf & LM_F_BIGDATA) && (nf != LM_F_BIGDATA || (kind != LM_FREE && kind != LM_PLAIN)))
			return lm_bad(c, "page %zu has a big value where none belongs", pgno);
		if (nf & LM_F_BIGDATA) {
			d = lm_overflow(c, lm_word(d), ds);
			if (!d)
				return -1;
		}
		switch (kind) {
		case LM_FREE:
			if (lm_u16(nd + 6) != LM_W || lm_freelist(c, d, ds, pgno) < 0)
				return lm_bad(c, "a free-list entry on page %zu is broken", pgno);
			break;
		case LM_MAIN:
			if (nf != LM_F_SUBDATA || ds != LM_DBSIZE)
				return lm_bad(c, "the main database holds a record that is no database");
			for (j = 0; j < sizeof(state_dbs) / sizeof(*state_dbs); j++)
				if (strlen(state_dbs[j].name) == lm_u16(nd + 6) &&
				    memcmp(state_dbs[j].name, nd + LM_NODE, lm_u16(nd + 6)) == 0)
					break;
			if (j == sizeof(state_dbs) / sizeof(*state_dbs))
				return lm_bad(c, "the store holds a database that is not pwnm's");
			if (lm_u16(d + 4) != state_dbs[j].flags)
				return lm_bad(c, "database '%s' has the wrong flags", state_dbs[j].name);
			if (lm_tree(c, d, (state_dbs[j].flags & MDB_DUPSORT) ? LM_DUPS : LM_PLAIN) < 0)
				return -1;
			break;
		case LM_PLAIN:
			if (nf & ~(unsigned)LM_F_BIGDATA)
				return lm_bad(c, "page %zu has a node of the wrong kind", pgno);
			break;
		case LM_DUPS:
			if (nf == (LM_F_DUPDATA | LM_F_SUBDATA)) {
				/* the duplicates' own tree, fixed-size as its database's */
				if (ds != LM_DBSIZE ||
				    lm_u16(d + 4) != (fixed ? (unsigned)MDB_DUPFIXED : 0))
					return lm_bad(c, "page %zu has a broken sub-database", pgno);
				if (lm_tree(c, d, LM_DUPVALUES) < 0)
					return -1;
			} else if (nf == LM_F_DUPDATA) {
				if (lm_subpage(c, d, ds, fixed, pgno) < 0)
					return -1;
			} else if (nf != 0) {
				return lm_bad(c, "page %zu has a node of the wrong kind", pgno);
			}
			break;
		case LM_DUPVALUES:
			if (nf != 0)
				return lm_bad(c, "page %zu has a node of the wrong kind", pgno);
			break;
		}
	}
	return 0;
}

/* The subtree at page pgno, depth pages below its database's record. */
static int
lm_walk(struct lm_check *c, size_t pgno, enum lm_kind kind, int fixed, size_t ks, int depth)
{
	const unsigned char *p;
	unsigned f;
	long n, i;

	if (depth > LM_MAXDEPTH)
		return lm_bad(c, "the trees are deeper than LMDB can follow");
	if (!(p = lm_page(c, pgno)))
		return -1;
	f = lm_u16(p + LM_W + 2) & LM_P_KIND;
	if (f == LM_P_BRANCH) {
		if ((n = lm_nodes(c, p, c->psize, 0, pgno)) < 1)
			return n < 0 ? -1 : lm_bad(c, "branch page %zu is empty", pgno);
		for (i = 0; i < n; i++) {
			const unsigned char *nd = lm_node(p, i);
			size_t child = lm_u16(nd) | (size_t)lm_u16(nd + 2) << 16;

			if (LM_W > 4)
				child |= (size_t)lm_u16(nd + 4) << 16 << 16;
			if (lm_walk(c, child, kind, fixed, ks, depth + 1) < 0)
				return -1;
		}
		return 0;
	}
	if (f == (LM_P_LEAF | LM_P_LEAF2) && kind == LM_DUPVALUES && fixed)
		return lm_nodes(c, p, c->psize, ks, pgno) < 0 ? -1 : 0;
	if (f != LM_P_LEAF || (kind == LM_DUPVALUES && fixed))
		return lm_bad(c, "page %zu is of the wrong kind", pgno);
	if ((n = lm_nodes(c, p, c->psize, 0, pgno)) < 0)
		return -1;
	return lm_leaf(c, p, n, kind, fixed, pgno);
}

/* The tree of the database record db (an MDB_db: pad, flags, depth, counts, root). */
static int
lm_tree(struct lm_check *c, const unsigned char *db, enum lm_kind kind)
{
	size_t root = lm_word(db + 8 + 4 * LM_W);

	if (root == (size_t)-1)
		return 0; /* empty */
	/* the pad of a tree of fixed-size duplicates is their size */
	return lm_walk(c, root, kind, (lm_u16(db + 4) & MDB_DUPFIXED) != 0, lm_u32(db), 1);
}

/* Check the snapshot whose meta page has transaction id txnid; 0 when sound. */
static int
lm_check_snapshot(struct lm_check *c, size_t txnid)
{
	const unsigned char *m = NULL, *dbs;
	size_t i;
	int rc;

	for (i = 0; i < 2; i++) {
		const unsigned char *p = c->map + i * c->psize, *mi = p + LM_HDR;

		if (!(lm_u16(p + LM_W + 2) & LM_P_META) || lm_u32(mi) != LM_MAGIC ||
		    lm_u32(mi + 4) != LM_VERSION)
			return lm_bad(c, "meta page %zu is broken", i);
		if (lm_word(mi + 8 + 2 * LM_W + 2 * LM_DBSIZE + LM_W) == txnid)
			m = mi;
	}
	if (!m)
		return 1; /* a writer moved on: try again */
	dbs = m + 8 + 2 * LM_W;
	c->limit = lm_word(dbs + 2 * LM_DBSIZE) + 1;
	if (c->limit < 2 || c->limit > lm_word(m + 8 + LM_W) / c->psize)
		return lm_bad(c, "the meta page gives %zu pages", c->limit);
	c->npages = c->file_size / c->psize < c->limit ? c->file_size / c->psize : c->limit;
	if (lm_u16(dbs + 4) != MDB_INTEGERKEY || lm_u16(dbs + LM_DBSIZE + 4) != 0)
		return lm_bad(c, "the meta page has the wrong database flags");
	c->seen = xcalloc(c->npages / 8 + 1, 1);
	rc = lm_tree(c, dbs, LM_FREE);
	if (rc == 0)
		rc = lm_tree(c, dbs + LM_DBSIZE, LM_MAIN);
	free(c->seen);
	c->seen = NULL;
	return rc;
}

/*
 * Before liblmdb opens data.mdb (path): it takes the page size from the
 * meta page with the newest transaction, and a wrong one there makes it
 * read outside the file at once (SIGBUS), before check_store can look.
 * So both meta pages must give the page size of the first.  0, or -1
 * with msg; a file too short for two meta pages (new, or cut short) is
 * left to liblmdb and check_store.
 */
static int
check_meta_sizes(const char *path, char *msg, size_t msgsz)
{
	unsigned char hdr[LM_HDR + 8 + 2 * LM_W + 4];
	uint32_t psize[2] = { 0, 0 };
	size_t i;
	int fd = open_private(path, O_RDONLY, 0), bad = 0;

	if (fd < 0)
		return 0; /* none yet, or said by liblmdb */
	for (i = 0; i < 2 && !bad; i++) {
		off_t at = i ? (off_t)psize[0] : 0;

		if (pread(fd, hdr, sizeof(hdr), at) != (ssize_t)sizeof(hdr))
			break;
		psize[i] = lm_u32(hdr + LM_HDR + 8 + 2 * LM_W);
		if (lm_u32(hdr + LM_HDR) != LM_MAGIC)
			break; /* no meta page: liblmdb says the file is invalid */
		bad = psize[i] < 512 || psize[i] > 65536 || (psize[i] & (psize[i] - 1)) ||
		      (i && psize[i] != psize[0]);
	}
	close(fd);
	if (bad)
		snprintf(msg, msgsz, "data.mdb has a broken meta page (page size %u)", psize[i - 1]);
	return bad ? -1 : 0;
}

/* Check the store of env (in dir) before anything reads it; 0, or -1 with msg. */
static int
check_store(MDB_env *env, const char *dir, char *msg, size_t msgsz)
{
	struct lm_check c = { .msg = msg, .msgsz = msgsz };
	char *path = xasprintf("%s/data.mdb", dir);
	struct stat sb;
	void *map = MAP_FAILED;
	int fd, rc = -1, tries;

	msg[0] = '\0';
	fd = open_private(path, O_RDONLY, 0);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		snprintf(msg, msgsz, "%s: %s", path, strerror(errno));
		goto out;
	}
	c.file_size = (size_t)sb.st_size;
	if (c.file_size >= 2 * 512) /* two meta pages of the smallest size */
		map = mmap(NULL, c.file_size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (map == MAP_FAILED) {
		snprintf(msg, msgsz, "data.mdb cannot be read (%zu bytes)", c.file_size);
		goto out;
	}
	c.map = map;
	/* The page size is in the first meta page (its free database's pad). */
	c.psize = lm_u32(c.map + LM_HDR + 8 + 2 * LM_W);
	if (c.psize < 512 || c.psize > 65536 || (c.psize & (c.psize - 1)) ||
	    c.file_size < 2 * c.psize) {
		snprintf(msg, msgsz, "data.mdb has a broken meta page");
		goto out;
	}
	/*
	 * A read transaction fixes the snapshot: no writer reuses its pages
	 * while it is open.  Its meta page is the one with its id.
	 */
	for (tries = 0; tries < 3; tries++) {
		MDB_txn *txn;

		if (mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != MDB_SUCCESS) {
			snprintf(msg, msgsz, "cannot begin a transaction");
			break;
		}
		rc = lm_check_snapshot(&c, mdb_txn_id(txn));
		mdb_txn_abort(txn);
		if (rc <= 0)
			break;
	}
	if (rc > 0) {
		snprintf(msg, msgsz, "its meta pages do not match the transaction");
		rc = -1;
	}
out:
	if (map != MAP_FAILED)
		munmap(map, c.file_size);
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

static int
check_outbox_cb(const struct outbox_rec *o, void *data)
{
	(void)o;
	(void)data;
	return 0;
}

/*
 * The few records every run decodes before anything else (the projects
 * and the outbox) must decode; a run would otherwise stop at them.
 */
static pwnm_status_t
check_records(pwnm_state_t *st, char *msg, size_t msgsz)
{
	pwnm_txn_t *txn;
	struct project_rec *pl = NULL;
	size_t np = 0;
	pwnm_status_t rc = state_txn_begin(st, 0, &txn);

	if (rc == PWNM_STATUS_SUCCESS) {
		rc = state_project_list(txn, &pl, &np);
		if (rc == PWNM_STATUS_SUCCESS)
			rc = state_outbox_foreach(txn, check_outbox_cb, NULL);
		state_project_list_free(pl, np);
		state_txn_abort(txn);
	}
	if (rc != PWNM_STATUS_SUCCESS) {
		/* st->err ends in " in 'DIR'", which msg says first */
		const char *in = strstr(st->err, " in '");
		int len = in ? (int)(in - st->err) : (int)strlen(st->err);

		snprintf(msg, msgsz, "cannot open state database '%s': %.*s", st->dir,
			 len < 200 ? len : 200, st->err);
	}
	return rc;
}

/*
 * The walk reads the whole file, so its verdict is remembered in the
 * state directory's "checked" file: the data file's device, inode, size,
 * modification and change times when it was last found sound.  An open
 * that finds data.mdb as recorded there skips the walk (an idle hook at
 * 100,000 patches would pay milliseconds for it); any other writer of the
 * file changes its change time at least (but on a file system with coarse
 * times, a write within the clock tick of pwnm's last commit could pass
 * unseen).  pwnm's own commits, which write only pages LMDB made from
 * checked ones, record the file as it is after them.
 */
#define STAMP_SIZE 160

/* The stamp of the data file in dir, into buf; -1 when it cannot be read. */
static int
stamp_of(const char *dir, char buf[STAMP_SIZE])
{
	char *path = xasprintf("%s/data.mdb", dir);
	struct stat sb;
	int rc = lstat(path, &sb);

	free(path);
	if (rc < 0 || !S_ISREG(sb.st_mode))
		return -1;
	snprintf(buf, STAMP_SIZE, "pwnm-checked 1 %ju %ju %jd %jd.%09ld %jd.%09ld\n",
		 (uintmax_t)sb.st_dev, (uintmax_t)sb.st_ino, (intmax_t)sb.st_size,
		 (intmax_t)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec, (intmax_t)sb.st_ctim.tv_sec,
		 sb.st_ctim.tv_nsec);
	return 0;
}

/* 1 when the "checked" file of dir holds stamp. */
static int
stamp_matches(const char *dir, const char *stamp)
{
	char *path = xasprintf("%s/checked", dir), buf[STAMP_SIZE];
	int fd = open_private(path, O_RDONLY, 0);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	free(path);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strcmp(buf, stamp) == 0;
}

/* Record stamp as the data file last found sound (best effort: a miss costs a walk). */
static void
stamp_write(const char *dir, const char *stamp)
{
	char *path = xasprintf("%s/checked", dir);
	int fd = open_private(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd >= 0) {
		ssize_t w = write(fd, stamp, strlen(stamp));

		(void)w;
		close(fd);
	}
	free(path);
}

/* Check the data file unless it is as last found sound; 0, or -1 with msg. */
static int
check_store_once(pwnm_state_t *st, char *msg, size_t msgsz)
{
	char stamp[STAMP_SIZE];
	int have = stamp_of(st->dir, stamp) == 0;

	if (have && stamp_matches(st->dir, stamp)) {
		debug("state", "'%s': data.mdb unchanged since it was checked", st->dir);
		st->sound = 1;
		return 0;
	}
	if (check_store(st->env, st->dir, msg, msgsz) < 0)
		return -1;
	debug("state", "'%s': data.mdb checked", st->dir);
	/* the stamp taken before the walk: a commit since then makes it stale, never wrong */
	if (have)
		stamp_write(st->dir, stamp);
	st->sound = 1;
	return 0;
}

/* meta/schema_version = STATE_SCHEMA_VERSION; an LMDB return code. */
static int
put_schema_version(MDB_txn *txn, MDB_dbi meta, MDB_val *key)
{
	char vbuf[32];
	MDB_val val;

	snprintf(vbuf, sizeof(vbuf), "%d", STATE_SCHEMA_VERSION);
	val.mv_size = strlen(vbuf);
	val.mv_data = vbuf;
	return mdb_put(txn, meta, key, &val, 0);
}

/* Open the named databases and check or write the schema version. */
static pwnm_status_t
open_dbs(pwnm_state_t *st, char *msg, size_t msgsz)
{
	MDB_txn *txn = NULL;
	MDB_val key = { sizeof(META_SCHEMA_VERSION) - 1, (void *)(uintptr_t)META_SCHEMA_VERSION };
	MDB_val val;
	char vbuf[32];
	uint64_t version;
	size_t i;
	int rc;

	rc = mdb_txn_begin(st->env, NULL, 0, &txn);
	if (rc != MDB_SUCCESS)
		goto lmdb_err;
	for (i = 0; rc == MDB_SUCCESS && i < sizeof(state_dbs) / sizeof(*state_dbs); i++)
		rc = mdb_dbi_open(txn, state_dbs[i].name, MDB_CREATE | state_dbs[i].flags,
				  (MDB_dbi *)(void *)((char *)st + state_dbs[i].off));
	if (rc != MDB_SUCCESS)
		goto lmdb_err;

	rc = mdb_get(txn, st->meta, &key, &val);
	if (rc == MDB_NOTFOUND) {
		rc = put_schema_version(txn, st->meta, &key);
		if (rc != MDB_SUCCESS)
			goto lmdb_err;
	} else if (rc != MDB_SUCCESS) {
		goto lmdb_err;
	} else {
		snprintf(vbuf, sizeof(vbuf), "%.*s",
			 (int)(val.mv_size < sizeof(vbuf) ? val.mv_size : sizeof(vbuf) - 1),
			 (const char *)val.mv_data);
		if (val.mv_size >= sizeof(vbuf) || parse_u64(vbuf, &version) < 0 ||
		    version == 0) {
			snprintf(msg, msgsz,
				 "state database '%s' has an unreadable schema version '%s' "
				 "(this pwnm has %d)",
				 st->dir, vbuf, STATE_SCHEMA_VERSION);
			mdb_txn_abort(txn);
			return PWNM_STATUS_STATE;
		}
		if (version > STATE_SCHEMA_VERSION) {
			snprintf(msg, msgsz,
				 "state database '%s' has schema version %" PRIu64
				 ", newer than this pwnm (%d)",
				 st->dir, version, STATE_SCHEMA_VERSION);
			mdb_txn_abort(txn);
			return PWNM_STATUS_STATE;
		}
		if (version < STATE_SCHEMA_VERSION) {
			/* Older records read as they are (see the encoding); later ones are new. */
			rc = put_schema_version(txn, st->meta, &key);
			if (rc != MDB_SUCCESS)
				goto lmdb_err;
		}
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != MDB_SUCCESS)
		goto lmdb_err;
	return PWNM_STATUS_SUCCESS;

lmdb_err:
	if (txn)
		mdb_txn_abort(txn);
	snprintf(msg, msgsz, "cannot open state database '%s': %s", st->dir, mdb_strerror(rc));
	return rc_status(rc);
}

pwnm_status_t
state_open(const char *dir, size_t mapsize, pwnm_state_t **out, char **err)
{
	pwnm_state_t *st;
	pwnm_status_t status = PWNM_STATUS_STATE;
	char msg[ERRBUF_SIZE], detail[512], *why = NULL;
	char *data = xasprintf("%s/data.mdb", dir), *lock = xasprintf("%s/lock.mdb", dir);
	int rc;

	*out = NULL;
	if (err)
		*err = NULL;
	msg[0] = '\0';
	st = xcalloc(1, sizeof(*st));
	st->dir = xstrdup(dir);

	/* pwnm's own directory; LMDB would follow a link planted for one of its files. */
	if (private_dir(dir, &why) < 0 || private_file_check(data, &why) < 0 ||
	    private_file_check(lock, &why) < 0) {
		snprintf(msg, sizeof(msg), "%s", why);
		free(why);
		status = PWNM_STATUS_IO;
		goto fail;
	}
	rc = mdb_env_create(&st->env);
	if (rc != MDB_SUCCESS) {
		st->env = NULL;
		goto lmdb_err;
	}
	rc = mdb_env_set_maxdbs(st->env, STATE_MAXDBS);
	if (rc == MDB_SUCCESS)
		rc = mdb_env_set_mapsize(st->env, mapsize ? mapsize : STATE_DEFAULT_MAPSIZE);
	if (rc != MDB_SUCCESS)
		goto lmdb_err;
	if (check_meta_sizes(data, detail, sizeof(detail)) < 0) {
		snprintf(msg, sizeof(msg), "cannot open state database '%s': %s", dir, detail);
		goto fail;
	}
	/* MDB_NOTLS: a read transaction may be open while another one begins. */
	rc = mdb_env_open(st->env, dir, MDB_NOTLS, 0600);
	if (rc != MDB_SUCCESS)
		goto lmdb_err;
	/* A damaged data file would make LMDB read outside its map: refuse it. */
	if (check_store_once(st, detail, sizeof(detail)) < 0) {
		snprintf(msg, sizeof(msg), "cannot open state database '%s': %s", dir, detail);
		goto fail;
	}
	rc = mdb_reader_check(st->env, NULL);
	if (rc != MDB_SUCCESS)
		goto lmdb_err;
	status = open_dbs(st, msg, sizeof(msg));
	if (status == PWNM_STATUS_SUCCESS)
		status = check_records(st, msg, sizeof(msg));
	if (status != PWNM_STATUS_SUCCESS)
		goto fail;
	debug("state", "opened '%s'", dir);
	*out = st;
	free(data);
	free(lock);
	return PWNM_STATUS_SUCCESS;

lmdb_err:
	snprintf(msg, sizeof(msg), "cannot open state database '%s': %s", dir, mdb_strerror(rc));
	status = rc_status(rc);
fail:
	debug("state", "%s", msg);
	if (err)
		*err = xstrdup(msg);
	if (st->env)
		mdb_env_close(st->env);
	free(st->dir);
	free(st);
	free(data);
	free(lock);
	return status;
}

void
state_close(pwnm_state_t *st)
{
	if (!st)
		return;
	mdb_env_close(st->env);
	free(st->dir);
	free(st);
}

/* ---- transactions ---- */

pwnm_status_t
state_txn_begin(pwnm_state_t *st, int write, pwnm_txn_t **txn)
{
	MDB_txn *mt = NULL;
	pwnm_txn_t *t;
	int rc;

	*txn = NULL;
	if (write && st->writing) {
		set_err(st, "a write transaction is already open on '%s'", st->dir);
		return PWNM_STATUS_STATE;
	}
	if (!write && st->fail_read) {
		st->fail_read = 0;
		set_err(st, "cannot begin a transaction on '%s': failure injected by the test suite "
			    "(PWNM_DEBUG_FAIL_AT)", st->dir);
		return PWNM_STATUS_STATE;
	}
	rc = mdb_txn_begin(st->env, NULL, write ? 0 : MDB_RDONLY, &mt);
	if (rc == MDB_MAP_RESIZED) {
		/* Another process grew the map: adopt its size and retry. */
		rc = mdb_env_set_mapsize(st->env, 0);
		if (rc == MDB_SUCCESS)
			rc = mdb_txn_begin(st->env, NULL, write ? 0 : MDB_RDONLY, &mt);
	}
	if (rc != MDB_SUCCESS) {
		set_err(st, "cannot begin a transaction on '%s': %s", st->dir, mdb_strerror(rc));
		return PWNM_STATUS_STATE;
	}
	t = xmalloc(sizeof(*t));
	t->txn = mt;
	t->st = st;
	t->write = write != 0;
	t->failed = PWNM_STATUS_SUCCESS;
	if (t->write)
		st->writing = 1;
	*txn = t;
	return PWNM_STATUS_SUCCESS;
}

void
state_fail_next_read(pwnm_state_t *st)
{
	st->fail_read = 1;
}

static void
txn_free(pwnm_txn_t *t)
{
	if (t->write)
		t->st->writing = 0;
	free(t);
}

pwnm_status_t
state_txn_commit(pwnm_txn_t *txn)
{
	pwnm_status_t status = PWNM_STATUS_SUCCESS;
	int rc;

	if (!txn)
		return PWNM_STATUS_STATE;
	if (txn->failed != PWNM_STATUS_SUCCESS) {
		/* The error text of the failed write stays in last_error. */
		mdb_txn_abort(txn->txn);
		status = txn->failed;
		goto out;
	}
	rc = mdb_txn_commit(txn->txn);
	if (rc != MDB_SUCCESS) {
		set_err(txn->st, "cannot commit to '%s': %s", txn->st->dir, mdb_strerror(rc));
		status = rc_status(rc);
	} else if (txn->write) {
		char stamp[STAMP_SIZE];

		if (txn->st->sound && stamp_of(txn->st->dir, stamp) == 0)
			stamp_write(txn->st->dir, stamp);
		/* what it read and copied of the store stops counting in our memory */
		state_release_map(txn->st);
	}
out:
	txn_free(txn);
	return status;
}

void
state_txn_abort(pwnm_txn_t *txn)
{
	if (!txn)
		return;
	mdb_txn_abort(txn->txn);
	txn_free(txn);
}

uint64_t
state_txn_id(pwnm_txn_t *txn)
{
	return (uint64_t)mdb_txn_id(txn->txn);
}

/* ---- meta ---- */

static pwnm_status_t
meta_key(pwnm_txn_t *t, const char *key, MDB_val *k)
{
	size_t len = key ? strlen(key) : 0;

	if (len == 0 || len > (size_t)mdb_env_get_maxkeysize(t->st->env)) {
		set_err(t->st, "invalid meta key '%s'", key ? key : "(null)");
		return PWNM_STATUS_STATE;
	}
	k->mv_size = len;
	k->mv_data = (void *)(uintptr_t)key;
	return PWNM_STATUS_SUCCESS;
}

pwnm_status_t
state_meta_get(pwnm_txn_t *txn, const char *key, char **val)
{
	MDB_val k, v;
	pwnm_status_t status;
	int rc;

	*val = NULL;
	status = meta_key(txn, key, &k);
	if (status != PWNM_STATUS_SUCCESS)
		return status;
	rc = mdb_get(txn->txn, txn->st->meta, &k, &v);
	if (rc == MDB_NOTFOUND)
		return PWNM_STATUS_SUCCESS;
	if (rc != MDB_SUCCESS)
		return lmdb_fail(txn, rc, "mdb_get(meta)");
	*val = xmalloc(v.mv_size + 1);
	memcpy(*val, v.mv_data, v.mv_size);
	(*val)[v.mv_size] = '\0';
	return PWNM_STATUS_SUCCESS;
}

pwnm_status_t
state_meta_put(pwnm_txn_t *txn, const char *key, const char *val)
{
	MDB_val k, v;
	pwnm_status_t status;
	int rc;

	status = need_write(txn, "state_meta_put");
	if (status == PWNM_STATUS_SUCCESS)
		status = meta_key(txn, key, &k);
	if (status != PWNM_STATUS_SUCCESS)
		return status;
	if (!val)
		val = "";
	v.mv_size = strlen(val);
	v.mv_data = (void *)(uintptr_t)val;
	rc = mdb_put(txn->txn, txn->st->meta, &k, &v, 0);
	if (rc != MDB_SUCCESS)
		return lmdb_fail(txn, rc, "mdb_put(meta)");
	return PWNM_STATUS_SUCCESS;
}

pwnm_status_t
state_meta_del(pwnm_txn_t *txn, const char *key)
{
	MDB_val k;
	pwnm_status_t status;
	int rc;

	status = need_write(txn, "state_meta_del");
	if (status == PWNM_STATUS_SUCCESS)
		status = meta_key(txn, key, &k);
	if (status != PWNM_STATUS_SUCCESS)
		return status;
	rc = mdb_del(txn->txn, txn->st->meta, &k, NULL);
	if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
		return lmdb_fail(txn, rc, "mdb_del(meta)");
	return PWNM_STATUS_SUCCESS;
}

pwnm_status_t
state_meta_get_i64(pwnm_txn_t *txn, const char *key, int64_t dflt, int64_t *val)
{
	char *s = NULL, *end;
	long long v;
	pwnm_status_t status;

	*val = 0;
	status = state_meta_get(txn, key, &s);
	if (status != PWNM_STATUS_SUCCESS)
		return status;
	if (!s) {
		*val = dflt;
		return PWNM_STATUS_SUCCESS;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (!*s || *end || errno != 0 || end == s) {
		set_err(txn->st, "meta '%s' in '%s' is not an integer: '%s'", key, txn->st->dir, s);
		status = PWNM_STATUS_STATE;
	} else {
		*val = (int64_t)v;
	}
	free(s);
	return status;
}

pwnm_status_t
state_meta_put_i64(pwnm_txn_t *txn, const char *key, int64_t val)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRId64, val);
	return state_meta_put(txn, key, buf);
}

/* ---- projects ---- */

/*
 * A project's states_listed lives in meta (META_STATES_LISTED plus its
 * id), so the project record keeps its layout.  A value that is no
 * number reads as 0: the list is asked for again.
 */
static void
states_listed_key(char *buf, size_t n, uint32_t id)
{
	snprintf(buf, n, "%s%" PRIu32, META_STATES_LISTED, id);
}

static pwnm_status_t
project_read_listed(pwnm_txn_t *txn, struct project_rec *p)
{
	char key[64], *s = NULL, *end;
	pwnm_status_t status;
	long long v;

	states_listed_key(key, sizeof(key), p->id);
	p->states_listed = 0;
	status = state_meta_get(txn, key, &s);
	if (status != PWNM_STATUS_SUCCESS || !s)
		return status;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s && !*end && errno == 0 && v > 0)
		p->states_listed = (int64_t)v;
	free(s);
	return PWNM_STATUS_SUCCESS;
}

pwnm_status_t
state_project_get(pwnm_txn_t *txn, uint32_t id, struct project_rec *out)
{
	unsigned char kb[4];
	MDB_val k = { 4, kb }, v;
	int rc;

	memset(out, 0, sizeof(*out));
	be32_put(kb, id);
	rc = mdb_get(txn->txn, txn->st->project, &k, &v);
	if (rc == MDB_NOTFOUND) {
		set_err(txn->st, "project %" PRIu32 " not found", id);
		return PWNM_STATUS_NOT_FOUND;
	}
	if (rc != MDB_SUCCESS)
		return lmdb_fail(txn, rc, "mdb_get(project)");
	if (project_decode(&k, &v, out, NULL) < 0) {
		memset(out, 0, sizeof(*out));
		return corrupt(txn, "project", &k, &v);
	}
	return project_read_listed(txn, out);
}

pwnm_status_t
state_project_put(pwnm_txn_t *txn, const struct project_rec *p)
{
	unsigned char kb[4], *dst;
	MDB_val k = { 4, kb };
	const char *const strs[4] = { p->link_name, p->web_url, p->event_cursor, p->states_seen };
	struct sref refs[4];
	char key[64];
	struct wr w;
	size_t size = PROJECT_FIXED, i;
	pwnm_status_t status;

	status = need_write(txn, "state_project_put");
	if (status != PWNM_STATUS_SUCCESS)
		return status;
	if (strs_prepare(refs, strs, 4, &size) < 0)
		return too_long(txn, "state_project_put");
	be32_put(kb, p->id);
	status = put_reserve(txn, txn->st->project, &k, size, &dst, "mdb_put(project)");
	if (status != PWNM_STATUS_SUCCESS)
		return status;
	w.p = dst;
	w.off = 0;
	w_u8(&w, REC_VERSION);
	w_u64(&w, p->event_last_id);
	w_u32(&w, p->max_patch_id);
	w_u64(&w, (uint64_t)p->last_reconcile);
	w_u64(&w, (uint64_t)p->last_poll);
	for (i = 0; i < 4; i++)
		w_str(&w, &refs[i]);
	states_listed_key(key, sizeof(key), p->id);
	if (p->states_listed > 0)
		return state_meta_put_i64(txn, key, p->states_listed);
	return state_meta_del(txn, key);
}

pwnm_status_t
state_project_del(pwnm_txn_t *txn, uint32_t id)
{
	unsigned char kb[4];
	char key[64];
	MDB_val k = { 4, kb };
	pwnm_status_t status;
	int rc;

	status = need_write(txn, "state_project_del");
	if (status != PWNM_STATUS_SUCCESS)
		return status;
	be32_put(kb, id);
	rc = mdb_del(txn->txn, txn->st->project, &k, NULL);
	if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
		return lmdb_fail(txn, rc, "mdb_del(project)");
	states_listed_key(key, sizeof(key), id);
	return state_meta_del(txn, key);
}

void
state_project_list_free(struct project_rec *list, size_t n)
{
	size_t i;

	if (!list)
		return;
	for (i = 0; i < n; i++)
		project_rec_free(&list[i]);
	free(list);
}

pwnm_status_t
state_project_list(pwnm_txn_t *txn, struct project_rec **out, size_t *n)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	struct project_rec *list = NULL;
	size_t len = 0, cap = 0;
	pwnm_status_t status = PWNM_STATUS_SUCCESS;
	int rc;

	*out = NULL;
	*n = 0;
	rc = mdb_cursor_open(txn->txn, txn->st->project, &cur);
	if (rc != MDB_SUCCESS)
		return lmdb_fail(txn, rc, "mdb_cursor_open(project)");
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (len == cap) {
			cap = cap ? 2 * cap : 8;
			list = xreallocarray(list, cap, sizeof(*list));
		}
		memset(&list[len], 0, sizeof(*list));
		if (project_decode(&k, &v, &list[len], NULL) < 0) {
			status = corrupt(txn, "project", &k, &v);
			goto fail;
		}
		len++;
		if ((status = project_read_listed(txn, &list[len - 1])))
			goto fail;
	}
	if (rc != MDB_NOTFOUND) {
		status = lmdb_fail(txn, rc, "mdb_cursor_get(project)");
		goto fail;
	}
	mdb_cursor_close(cur);
	*out = list;
	*n = len;
	return PWNM_STATUS_SUCCESS;

fail:
	mdb_cursor_close(cur);
	state_project_list_free(list, len);
	return status;
}

/* ---- patches and the msgid index ---- */

/* Index key of a notmuch-form msgid: its first STATE_MSGID_KEY_MAX bytes. */
static void
msgid_key(MDB_val *k, const char *nm)
{
	size_t len = strlen(nm);

	k->mv_size = len > STATE_MSGID_KEY_MAX ? STATE_MSGID_KEY_MAX : len;
	k->mv_data = (void *)(uintptr_t)nm;
}

static pwnm_status_t
index_del(pwnm_txn_t *t, const char *nm, unsigned char pk[8])
{
	MDB_val k, v = { 8, pk };
	int rc;

	if (!nm)
		return PWNM_STATUS_SUCCESS;
	msgid_key(&k, nm);
	rc = mdb_del(t->txn, t->st->msgid, &k, &v);
	if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
		return lmdb_fail(t, rc, "mdb_del(msgid)");
	return PWNM_STATUS_SUCCESS;
}

static pwnm_status_t
index_add(pwnm_txn_t *t, const char *nm, unsigned char pk[8])
{
	MDB_val k, v = { 8, pk };
	int rc;

	if (!nm)
		return PWNM_STATUS_SUCCESS;
	msgid_key(&k, nm);
	rc = mdb_put(t->txn, t->st->msgid, &k, &v, MDB_NODUPDATA);
	if (rc != MDB_SUCCESS && rc != MDB_KEYEXIST)
		return lmdb_fail(t, rc, "mdb_put(msgid)");
	return PWNM_STATUS_SUCCESS;
}

pwnm_status_t
state_patch_get(pwnm_txn_t *txn, uint32_t project_id, uint32_t patch_id, struct patch_rec *out)
{
	unsigned char kb[8];
	MDB_val k = { 8, kb }, v;
	int rc;

	memset(out, 0, sizeof(*out));
	pair_key(kb, project_id, patch_id);
	rc = mdb_get(txn->txn, txn->st->patch, &k, &v);
	if (rc == MDB_NOTFOUND) {
		set_err(txn->st, "patch %" PRIu32 "/%" PRIu32 " not found", project_id, patch_id);
		return PWNM_STATUS_NOT_FOUND;
	}
	if (rc != MDB_SUCCESS)
		return lmdb_fail(txn, rc, "mdb_get(patch)");
	if (patch_decode(&k, &v, out, NULL) < 0) {
		memset(out, 0, sizeof(*out));
		return corrupt(txn, "patch", &k, &v);
	}
	return PWNM_STATUS_SUCCESS;
}

pwnm_status_t
state_patch_put(pwnm_txn_t *txn, const struct patch_rec *p)
{
	unsigned char kb[8], *dst;
	MDB_val k = { 8, kb }, old;
	const char *const strs[6] = { p->msgid, p->state, p->delegate, p->note, p->commit_ref,
				      p->check };
	struct sref refs[6];
	struct wr w;
	size_t size = PATCH_FIXED + 4, i;
	const char *old_msgid = NULL;
	char *old_nm = NULL, *new_nm = NULL;
	pwnm_status_t status;
	int rc;

	status = need_write(txn, "state_patch_put");
	if (status != PWNM_STATUS_SUCCESS)
		return status;
	if (strs_prepare(refs, strs, 6, &size) < 0)
		return too_long(txn, "state_patch_put");
	pair_key(kb, p->project_id, p->patch_id);

	rc = mdb_get(txn->txn, txn->st->patch, &k, &old);
	if (rc == MDB_SUCCESS) {
		/* A corrupt old record is simply replaced; lookups verify hits. */
		old_msgid = patch_msgid_ref(&old);
	} else if (rc != MDB_NOTFOUND) {
		return lmdb_fail(txn, rc, "mdb_get(patch)");
	}
	/* Same msgid as stored: the index entry is already there. */
	if (!old_msgid || strcmp(old_msgid, refs[0].s) != 0) {
		/* Convert before any write: old points into the page. */
		old_nm = old_msgid ? msgid_to_notmuch(old_msgid) : NULL;
		new_nm = msgid_to_notmuch(refs[0].s);
		if (!old_nm || !new_nm || strcmp(old_nm, new_nm) != 0) {
			status = index_del(txn, old_nm, kb);
			if (status == PWNM_STATUS_SUCCESS)
				status = index_add(txn, new_nm, kb);
			if (status != PWNM_STATUS_SUCCESS)
				goto out;
		}
	}

	status = put_reserve(txn, txn->st->patch, &k, size, &dst, "mdb_put(patch)");
	if (status != PWNM_STATUS_SUCCESS)
		goto out;
	w.p = dst;
	w.off = 0;
	w_u8(&w, REC_VERSION);
	w_u32(&w, p->flags);
	w_u8(&w, p->archived ? 1 : 0);
	w_u32(&w, p->delegate_id);
	w_u64(&w, (uint64_t)p->date);
	for (i = 0; i < 5; i++)
		w_str(&w, &refs[i]);
	w_u32(&w, p->series_id);
	w_str(&w, &refs[5]);
out:
	free(old_nm);
	free(new_nm);
	return status;
}

pwnm_status_t
state_patch_del(pwnm_txn_t *txn, uint32_t project_id, uint32_t patch_id)
{
	unsigned char kb[8];
	MDB_val k = { 8, kb }, old;
	const char *old_msgid;
	char *old_nm = NULL;
	pwnm_status_t status;
	int rc;

	status = need_write(txn, "state_patch_del");
	if (status != PWNM_STATUS_SUCCESS)
		return status;
	pair_key(kb, project_id, patch_id);
	rc = mdb_get(txn->txn, txn->st->patch, &k, &old);
	if (rc == MDB_SUCCESS) {
		old_msgid = patch_msgid_ref(&old);
		old_nm = old_msgid ? msgid_to_notmuch(old_msgid) : NULL;
		status = index_del(txn, old_nm, kb);
		if (status != PWNM_STATUS_SUCCESS)
			goto out;
		rc = mdb_del(txn->txn, txn->st->patch, &k, NULL);
		if (rc != MDB_SUCCESS) {
			status = lmdb_fail(txn, rc, "mdb_del(patch)");
			goto out;
		}
	} else if (rc != MDB_NOTFOUND) {
		status = lmdb_fail(txn, rc, "mdb_get(patch)");
		goto out;
	}
	rc = mdb_del(txn->txn, txn->st->outbox, &k, NULL);
	if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
		status = lmdb_fail(txn, rc, "mdb_del(outbox)");
out:
	free(old_nm);
	return status;
}

pwnm_status_t
state_patch_foreach(pwnm_txn_t *txn, uint32_t project_id, state_patch_cb cb, void *data)
{
	unsigned char kb[8];
	MDB_val k = { 8, kb }, v;
	MDB_cursor *cur = NULL;
	struct scratch sc = { NULL, 0 };
	struct patch_rec rec;
	pwnm_status_t status = PWNM_STATUS_SUCCESS;
	int rc, r;

	rc = mdb_cursor_open(txn->txn, txn->st->patch, &cur);
	if (rc != MDB_SUCCESS)
		return lmdb_fail(txn, rc, "mdb_cursor_open(patch)");
	pair_key(kb, project_id, 0);
	rc = mdb_cursor_get(cur, &k, &v, project_id ? MDB_SET_RANGE : MDB_FIRST);
	for (; rc == MDB_SUCCESS; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (project_id && (k.mv_size < 4 || be32_get(k.mv_data) != project_id))
			break;
		memset(&rec, 0, sizeof(rec));
		if (patch_decode(&k, &v, &rec, &sc) < 0) {
			status = corrupt(txn, "patch", &k, &v);
			goto out;
		}
		r = cb(&rec, data);
		if (r != 0) {
			status = (pwnm_status_t)r;
			goto out;
		}
	}
	if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
		status = lmdb_fail(txn, rc, "mdb_cursor_get(patch)");
out:
	mdb_cursor_close(cur);
	free(sc.data);
	return status;
}

pwnm_status_t
state_patch_count(pwnm_txn_t *txn, uint32_t project_id, size_t *n)
{
	unsigned char kb[8];
	MDB_val k = { 8, kb }, v;
	MDB_cursor *cur = NULL;
	MDB_stat ms;
	size_t count = 0;
	int rc;

	*n = 0;
	if (project_id == 0) {
		rc = mdb_stat(txn->txn, txn->st->patch, &ms);
		if (rc != MDB_SUCCESS)
			return lmdb_fail(txn, rc, "mdb_stat(patch)");
		*n = ms.ms_entries;
		return PWNM_STATUS_SUCCESS;
	}
	rc = mdb_cursor_open(txn->txn, txn->st->patch, &cur);
	if (rc != MDB_SUCCESS)
		return lmdb_fail(txn, rc, "mdb_cursor_open(patch)");
	pair_key(kb, project_id, 0);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == MDB_SUCCESS;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < 4 || be32_get(k.mv_data) != project_id)
			break;
		count++;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
		return lmdb_fail(txn, rc, "mdb_cursor_get(patch)");
	*n = count;
	return PWNM_STATUS_SUCCESS;
}

/* Does patch pk exist with a msgid whose notmuch form is nm? */
static pwnm_status_t
patch_has_msgid(pwnm_txn_t *t, const unsigned char pk[8], const char *nm, int *yes)
{
	MDB_val k = { 8, (void *)(uintptr_t)pk }, v;
	const char *raw;
	char *conv;
	int rc;

	*yes = 0;
	rc = mdb_get(t->txn, t->st->patch, &k, &v);
	if (rc == MDB_NOTFOUND)
		return PWNM_STATUS_SUCCESS;
	if (rc != MDB_SUCCESS)
		return lmdb_fail(t, rc, "mdb_get(patch)");
	raw = patch_msgid_ref(&v);
	if (!raw)
		return corrupt(t, "patch", &k, &v);
	conv = msgid_to_notmuch(raw);
	*yes = conv && strcmp(conv, nm) == 0;
	free(conv);
	return PWNM_STATUS_SUCCESS;
}

pwnm_status_t
state_msgid_lookup(pwnm_txn_t *txn, const char *nm_msgid, struct patch_key **out, size_t *n)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	size_t dups;
	struct patch_key *list = NULL;
	size_t len = 0;
	pwnm_status_t status = PWNM_STATUS_SUCCESS;
	int rc, yes;

	*out = NULL;
	*n = 0;
	if (!nm_msgid || !*nm_msgid)
		return PWNM_STATUS_SUCCESS;
	rc = mdb_cursor_open(txn->txn, txn->st->msgid, &cur);
	if (rc != MDB_SUCCESS)
		return lmdb_fail(txn, rc, "mdb_cursor_open(msgid)");
	msgid_key(&k, nm_msgid);
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
	if (rc == MDB_NOTFOUND)
		goto out;
	if (rc == MDB_SUCCESS)
		rc = mdb_cursor_count(cur, &dups);
	if (rc != MDB_SUCCESS) {
		status = lmdb_fail(txn, rc, "mdb_cursor_get(msgid)");
		goto out;
	}
	list = xreallocarray(NULL, dups, sizeof(*list));
	for (; rc == MDB_SUCCESS; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
		if (v.mv_size != 8) {
			status = corrupt(txn, "msgid index", &k, &v);
			goto out;
		}
		status = patch_has_msgid(txn, v.mv_data, nm_msgid, &yes);
		if (status != PWNM_STATUS_SUCCESS)
			goto out;
		if (!yes)
			continue;
		list[len].project_id = be32_get(v.mv_data);
		list[len].patch_id = be32_get((const unsigned char *)v.mv_data + 4);
		len++;
	}
	if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
		status = lmdb_fail(txn, rc, "mdb_cursor_get(msgid)");
out:
	mdb_cursor_close(cur);
	if (status != PWNM_STATUS_SUCCESS || len == 0) {
		free(list);
		return status;
	}
	*out = list;
	*n = len;
	return PWNM_STATUS_SUCCESS;
}

/* ---- outbox ---- */

pwnm_status_t
state_outbox_get(pwnm_txn_t *txn, uint32_t project_id, uint32_t patch_id, struct outbox_rec *out)
{
	unsigned char kb[8];
	MDB_val k = { 8, kb }, v;
	int rc;

	memset(out, 0, sizeof(*out));
	pair_key(kb, project_id, patch_id);
	rc = mdb_get(txn->txn, txn->st->outbox, &k, &v);
	if (rc == MDB_NOTFOUND) {
		set_err(txn->st, "outbox entry %" PRIu32 "/%" PRIu32 " not found", project_id,
			patch_id);
		return PWNM_STATUS_NOT_FOUND;
	}
	if (rc != MDB_SUCCESS)
		return lmdb_fail(txn, rc, "mdb_get(outbox)");
	if (outbox_decode(&k, &v, out, NULL) < 0) {
		memset(out, 0, sizeof(*out));
		return corrupt(txn, "outbox", &k, &v);
	}
	return PWNM_STATUS_SUCCESS;
}

pwnm_status_t
state_outbox_put(pwnm_txn_t *txn, const struct outbox_rec *o)
{
	unsigned char kb[8], *dst;
	MDB_val k = { 8, kb };
	const char *const strs[8] = { o->state,	       o->delegate,   o->last_error,
				      o->sent_state,   o->sent_delegate, o->commit_ref,
				      o->sent_commit_ref, o->sent_event_date };
	struct sref refs[8];
	struct wr w;
	size_t size = OUTBOX_FIXED + 1 + 8, i;
	pwnm_status_t status;

	status = need_write(txn, "state_outbox_put");
	if (status != PWNM_STATUS_SUCCESS)
		return status;
	if (strs_prepare(refs, strs, 8, &size) < 0)
		return too_long(txn, "state_outbox_put");
	pair_key(kb, o->project_id, o->patch_id);
	status = put_reserve(txn, txn->st->outbox, &k, size, &dst, "mdb_put(outbox)");
	if (status != PWNM_STATUS_SUCCESS)
		return status;
	w.p = dst;
	w.off = 0;
	w_u8(&w, REC_VERSION);
	w_u32(&w, o->fields);
	w_u8(&w, o->archived ? 1 : 0);
	w_u32(&w, o->delegate_id);
	w_u32(&w, o->attempts);
	w_u64(&w, (uint64_t)o->queued_at);
	w_u64(&w, (uint64_t)o->next_try);
	w_u32(&w, o->sent_fields);
	w_u8(&w, o->sent_archived ? 1 : 0);
	for (i = 0; i < 7; i++)
		w_str(&w, &refs[i]);
	w_u8(&w, o->sent_events ? 1 : 0);
	w_u64(&w, o->sent_event_id);
	w_str(&w, &refs[7]);
	return PWNM_STATUS_SUCCESS;
}

pwnm_status_t
state_outbox_del(pwnm_txn_t *txn, uint32_t project_id, uint32_t patch_id)
{
	unsigned char kb[8];
	MDB_val k = { 8, kb };
	pwnm_status_t status;
	int rc;

	status = need_write(txn, "state_outbox_del");
	if (status != PWNM_STATUS_SUCCESS)
		return status;
	pair_key(kb, project_id, patch_id);
	rc = mdb_del(txn->txn, txn->st->outbox, &k, NULL);
	if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
		return lmdb_fail(txn, rc, "mdb_del(outbox)");
	return PWNM_STATUS_SUCCESS;
}

pwnm_status_t
state_outbox_foreach(pwnm_txn_t *txn, state_outbox_cb cb, void *data)
{
	MDB_val k, v;
	MDB_cursor *cur = NULL;
	struct scratch sc = { NULL, 0 };
	struct outbox_rec rec;
	pwnm_status_t status = PWNM_STATUS_SUCCESS;
	int rc, r;

	rc = mdb_cursor_open(txn->txn, txn->st->outbox, &cur);
	if (rc != MDB_SUCCESS)
		return lmdb_fail(txn, rc, "mdb_cursor_open(outbox)");
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		memset(&rec, 0, sizeof(rec));
		if (outbox_decode(&k, &v, &rec, &sc) < 0) {
			status = corrupt(txn, "outbox", &k, &v);
			goto out;
		}
		r = cb(&rec, data);
		if (r != 0) {
			status = (pwnm_status_t)r;
			goto out;
		}
	}
	if (rc != MDB_NOTFOUND)
		status = lmdb_fail(txn, rc, "mdb_cursor_get(outbox)");
out:
	mdb_cursor_close(cur);
	free(sc.data);
	return status;
}

pwnm_status_t
state_outbox_count(pwnm_txn_t *txn, size_t *n)
{
	MDB_stat ms;
	int rc;

	*n = 0;
	rc = mdb_stat(txn->txn, txn->st->outbox, &ms);
	if (rc != MDB_SUCCESS)
		return lmdb_fail(txn, rc, "mdb_stat(outbox)");
	*n = ms.ms_entries;
	return PWNM_STATUS_SUCCESS;
}

/* ---- users ---- */

#define USER_SIZE (1 + 4)

static pwnm_status_t
user_key(pwnm_txn_t *t, const char *name, MDB_val *k)
{
	size_t len = name ? strlen(name) : 0;

	if (len == 0 || len > STATE_USER_NAME_MAX) {
		set_err(t->st, "a username of %zu bytes cannot be stored (1 to %d)", len,
			STATE_USER_NAME_MAX);
		return PWNM_STATUS_STATE;
	}
	k->mv_size = len;
	k->mv_data = (void *)(uintptr_t)name;
	return PWNM_STATUS_SUCCESS;
}

pwnm_status_t
state_user_put(pwnm_txn_t *txn, const char *name, uint32_t id)
{
	unsigned char *dst;
	MDB_val k;
	pwnm_status_t status;
	struct wr w;

	status = need_write(txn, "state_user_put");
	if (status == PWNM_STATUS_SUCCESS)
		status = user_key(txn, name, &k);
	if (status != PWNM_STATUS_SUCCESS)
		return status;
	if (id == 0) {
		set_err(txn->st, "state_user_put: user id 0");
		return PWNM_STATUS_STATE;
	}
	status = put_reserve(txn, txn->st->user, &k, USER_SIZE, &dst, "mdb_put(user)");
	if (status != PWNM_STATUS_SUCCESS)
		return status;
	w.p = dst;
	w.off = 0;
	w_u8(&w, REC_VERSION);
	w_u32(&w, id);
	return PWNM_STATUS_SUCCESS;
}

pwnm_status_t
state_user_foreach(pwnm_txn_t *txn, state_user_cb cb, void *data)
{
	MDB_val k, v;
	MDB_cursor *cur = NULL;
	pwnm_status_t status = PWNM_STATUS_SUCCESS;
	char *name = NULL;
	int rc, r;

	rc = mdb_cursor_open(txn->txn, txn->st->user, &cur);
	if (rc != MDB_SUCCESS)
		return lmdb_fail(txn, rc, "mdb_cursor_open(user)");
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct rd rr;
		uint32_t id;

		rd_init(&rr, &v);
		id = rd_u32(&rr);
		if (!rd_done(&rr) || id == 0 || k.mv_size == 0 || k.mv_size > STATE_USER_NAME_MAX ||
		    memchr(k.mv_data, '\0', k.mv_size)) {
			status = corrupt(txn, "user", &k, &v);
			goto out;
		}
		free(name);
		name = xstrndup(k.mv_data, k.mv_size);
		r = cb(name, id, data);
		if (r != 0) {
			status = (pwnm_status_t)r;
			goto out;
		}
	}
	if (rc != MDB_NOTFOUND)
		status = lmdb_fail(txn, rc, "mdb_cursor_get(user)");
out:
	mdb_cursor_close(cur);
	free(name);
	return status;
}

/* ---- series and the cover index ---- */

#define SERIES_FIXED (1 + 9 * 4)

void
series_rec_free(struct series_rec *s)
{
	if (!s)
		return;
	free(s->patches);
	free(s->name);
	free(s->date);
	free(s->cover_msgid);
	free(s->cover_state);
	s->patches = NULL;
	s->npatches = 0;
	s->name = s->date = s->cover_msgid = s->cover_state = NULL;
}

/* Decode a series record; the strings and the patch list are allocated (caller frees). */
static int
series_decode(const MDB_val *key, const MDB_val *val, struct series_rec *out)
{
	struct rd r;
	struct sref refs[4];
	char **const dst[4] = { &out->name, &out->date, &out->cover_msgid, &out->cover_state };
	uint32_t n;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (key->mv_size != 4)
		return -1;
	rd_init(&r, val);
	out->series_id = be32_get(key->mv_data);
	out->project_id = rd_u32(&r);
	out->flags = rd_u32(&r);
	out->version = rd_u32(&r);
	out->total = rd_u32(&r);
	out->received_total = rd_u32(&r);
	out->submitter_id = rd_u32(&r);
	out->cover_id = rd_u32(&r);
	out->newer_id = rd_u32(&r);
	n = rd_u32(&r);
	if (r.bad || n > (r.len - r.off) / 4)
		return -1;
	out->patches = xcalloc((size_t)n + 1, sizeof(uint32_t));
	out->npatches = n;
	for (i = 0; i < n; i++)
		out->patches[i] = rd_u32(&r);
	for (i = 0; i < 4; i++)
		rd_str(&r, &refs[i]);
	if (!rd_done(&r)) {
		free(out->patches);
		out->patches = NULL;
		out->npatches = 0;
		return -1;
	}
	strs_give(refs, dst, 4, NULL);
	return 0;
}

static pwnm_status_t
cover_index(pwnm_txn_t *t, const char *msgid, const unsigned char sk[4], int add)
{
	char *nm = *msgid ? msgid_to_notmuch(msgid) : NULL;
	MDB_val k, v = { 4, (void *)(uintptr_t)sk };
	int rc;

	if (!nm)
		return PWNM_STATUS_SUCCESS;
	msgid_key(&k, nm);
	if (add)
		rc = mdb_put(t->txn, t->st->cover, &k, &v, MDB_NODUPDATA);
	else
		rc = mdb_del(t->txn, t->st->cover, &k, &v);
	free(nm);
	if (rc != MDB_SUCCESS && rc != MDB_KEYEXIST && rc != MDB_NOTFOUND)
		return lmdb_fail(t, rc, add ? "mdb_put(cover)" : "mdb_del(cover)");
	return PWNM_STATUS_SUCCESS;
}

pwnm_status_t
state_series_get(pwnm_txn_t *txn, uint32_t series_id, struct series_rec *out)
{
	unsigned char kb[4];
	MDB_val k = { 4, kb }, v;
	int rc;

	memset(out, 0, sizeof(*out));
	be32_put(kb, series_id);
	rc = mdb_get(txn->txn, txn->st->series, &k, &v);
	if (rc == MDB_NOTFOUND) {
		set_err(txn->st, "series %" PRIu32 " not found", series_id);
		return PWNM_STATUS_NOT_FOUND;
	}
	if (rc != MDB_SUCCESS)
		return lmdb_fail(txn, rc, "mdb_get(series)");
	if (series_decode(&k, &v, out) < 0)
		return corrupt(txn, "series", &k, &v);
	return PWNM_STATUS_SUCCESS;
}

pwnm_status_t
state_series_put(pwnm_txn_t *txn, const struct series_rec *s)
{
	unsigned char kb[4], *dst;
	MDB_val k = { 4, kb }, old;
	const char *const strs[4] = { s->name, s->date, s->cover_msgid, s->cover_state };
	struct sref refs[4];
	struct series_rec prev;
	struct wr w;
	size_t size = SERIES_FIXED, i;
	pwnm_status_t status;
	int rc;

	status = need_write(txn, "state_series_put");
	if (status != PWNM_STATUS_SUCCESS)
		return status;
	if (s->npatches > UINT32_MAX / 8 || strs_prepare(refs, strs, 4, &size) < 0)
		return too_long(txn, "state_series_put");
	size += 4 * s->npatches;
	be32_put(kb, s->series_id);
	rc = mdb_get(txn->txn, txn->st->series, &k, &old);
	if (rc == MDB_SUCCESS && series_decode(&k, &old, &prev) == 0) {
		if (strcmp(prev.cover_msgid, s->cover_msgid ? s->cover_msgid : "") != 0)
			status = cover_index(txn, prev.cover_msgid, kb, 0);
		series_rec_free(&prev);
		if (status != PWNM_STATUS_SUCCESS)
			return status;
	} else if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
		return lmdb_fail(txn, rc, "mdb_get(series)");
	}
	status = cover_index(txn, s->cover_msgid ? s->cover_msgid : "", kb, 1);
	if (status != PWNM_STATUS_SUCCESS)
		return status;
	status = put_reserve(txn, txn->st->series, &k, size, &dst, "mdb_put(series)");
	if (status != PWNM_STATUS_SUCCESS)
		return status;
	w.p = dst;
	w.off = 0;
	w_u8(&w, REC_VERSION);
	w_u32(&w, s->project_id);
	w_u32(&w, s->flags);
	w_u32(&w, s->version);
	w_u32(&w, s->total);
	w_u32(&w, s->received_total);
	w_u32(&w, s->submitter_id);
	w_u32(&w, s->cover_id);
	w_u32(&w, s->newer_id);
	w_u32(&w, (uint32_t)s->npatches);
	for (i = 0; i < s->npatches; i++)
		w_u32(&w, s->patches[i]);
	for (i = 0; i < 4; i++)
		w_str(&w, &refs[i]);
	return PWNM_STATUS_SUCCESS;
}

pwnm_status_t
state_series_foreach(pwnm_txn_t *txn, state_series_cb cb, void *data)
{
	MDB_val k, v;
	MDB_cursor *cur = NULL;
	struct series_rec rec;
	pwnm_status_t status = PWNM_STATUS_SUCCESS;
	int rc, r;

	rc = mdb_cursor_open(txn->txn, txn->st->series, &cur);
	if (rc != MDB_SUCCESS)
		return lmdb_fail(txn, rc, "mdb_cursor_open(series)");
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (series_decode(&k, &v, &rec) < 0) {
			status = corrupt(txn, "series", &k, &v);
			goto out;
		}
		r = cb(&rec, data);
		series_rec_free(&rec);
		if (r != 0) {
			status = (pwnm_status_t)r;
			goto out;
		}
	}
	if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
		status = lmdb_fail(txn, rc, "mdb_cursor_get(series)");
out:
	mdb_cursor_close(cur);
	return status;
}

pwnm_status_t
state_cover_lookup(pwnm_txn_t *txn, const char *nm_msgid, uint32_t **out, size_t *n)
{
	MDB_val k, v;
	MDB_cursor *cur = NULL;
	uint32_t *ids = NULL;
	size_t len = 0, cap = 0;
	pwnm_status_t status = PWNM_STATUS_SUCCESS;
	int rc;

	*out = NULL;
	*n = 0;
	msgid_key(&k, nm_msgid);
	rc = mdb_cursor_open(txn->txn, txn->st->cover, &cur);
	if (rc != MDB_SUCCESS)
		return lmdb_fail(txn, rc, "mdb_cursor_open(cover)");
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY); rc == MDB_SUCCESS;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
		struct series_rec s;
		char *nm;
		uint32_t id;

		if (v.mv_size != 4)
			continue;
		id = be32_get(v.mv_data);
		/* A key matched by truncation only: compare the whole msgid. */
		if (state_series_get(txn, id, &s) != PWNM_STATUS_SUCCESS)
			continue;
		nm = msgid_to_notmuch(s.cover_msgid);
		if (nm && strcmp(nm, nm_msgid) == 0) {
			if (len == cap) {
				cap = cap ? cap * 2 : 4;
				ids = xreallocarray(ids, cap, sizeof(*ids));
			}
			ids[len++] = id;
		}
		free(nm);
		series_rec_free(&s);
	}
	if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
		status = lmdb_fail(txn, rc, "mdb_cursor_get(cover)");
	mdb_cursor_close(cur);
	if (status) {
		free(ids);
		return status;
	}
	*out = ids;
	*n = len;
	return PWNM_STATUS_SUCCESS;
}

/* ---- clear ---- */

pwnm_status_t
state_clear(pwnm_txn_t *txn)
{
	const MDB_dbi dbis[] = { txn->st->meta, txn->st->project, txn->st->patch,
				 txn->st->msgid, txn->st->outbox, txn->st->user, txn->st->series,
				 txn->st->cover };
	pwnm_status_t status;
	size_t i;
	int rc;

	status = need_write(txn, "state_clear");
	if (status != PWNM_STATUS_SUCCESS)
		return status;
	for (i = 0; i < sizeof(dbis) / sizeof(*dbis); i++) {
		rc = mdb_drop(txn->txn, dbis[i], 0);
		if (rc != MDB_SUCCESS)
			return lmdb_fail(txn, rc, "mdb_drop");
	}
	return state_meta_put_i64(txn, META_SCHEMA_VERSION, STATE_SCHEMA_VERSION);
}

/*
 * The data file's mapping in this process, found in /proc/self/maps (or
 * smaps, whose Rss lines then add up its resident kB): LMDB does not say
 * where it mapped the file (MDB_envinfo.me_mapaddr is set only for a map
 * at a fixed address).  The mapping is the one of the data file's device
 * and inode, else of its path.  Returns 0 when found.
 */
static int
map_find(pwnm_state_t *st, int smaps, uintptr_t *lo, uintptr_t *hi, long *rss_kb)
{
	struct stat sb;
	char line[4096], *data, *real;
	unsigned long a, b, ino;
	unsigned maj, min;
	int fd, in = 0, found = 0, pos;
	FILE *f;

	*lo = *hi = 0;
	if (rss_kb)
		*rss_kb = 0;
	if (mdb_env_get_fd(st->env, &fd) != MDB_SUCCESS || fstat(fd, &sb) < 0)
		return -1;
	f = fopen(smaps ? "/proc/self/smaps" : "/proc/self/maps", "re");
	if (!f)
		return -1;
	data = xasprintf("%s/data.mdb", st->dir);
	real = realpath(data, NULL);
	free(data);
	while (fgets(line, sizeof(line), f)) {
		long kb;

		if (sscanf(line, "%lx-%lx %*s %*s %x:%x %lu %n", &a, &b, &maj, &min, &ino, &pos) == 5) {
			char *path = line + pos;

			path[strcspn(path, "\n")] = '\0';
			in = (ino == (unsigned long)sb.st_ino && maj == major(sb.st_dev) &&
			      min == minor(sb.st_dev)) ||
			     (real && strcmp(path, real) == 0);
			if (in && !found) {
				*lo = a;
				*hi = b;
				found = 1;
			} else if (in && a == *hi) {
				*hi = b; /* one map in several pieces */
			}
		} else if (in && rss_kb && sscanf(line, "Rss: %ld kB", &kb) == 1) {
			*rss_kb += kb;
		}
	}
	fclose(f);
	free(real);
	return found ? 0 : -1;
}

/*
 * The pages of the data file mapped so far stop counting in this
 * process's memory: they stay in the page cache, and a later read maps
 * them again.  A long run that reads and writes much of a big store (a
 * first sync, window after window) calls it between transactions, so its
 * resident size does not grow with the store; every write transaction's
 * commit calls it too.
 */
void
state_release_map(pwnm_state_t *st)
{
	uintptr_t lo, hi;

	if (st && map_find(st, 0, &lo, &hi, NULL) == 0)
		(void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

long
state_map_resident_kb(pwnm_state_t *st)
{
	uintptr_t lo, hi;
	long kb;

	return st && map_find(st, 1, &lo, &hi, &kb) == 0 ? kb : -1;
}

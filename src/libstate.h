/* libstate.h - pwnm's LMDB state store: meta, projects, patches, msgid index, outbox */
#ifndef PWNM_LIBSTATE_H
#define PWNM_LIBSTATE_H

#include <stddef.h>
#include <stdint.h>

#include "libstatus.h"

/*
 * One LMDB environment per notmuch database (a directory holding
 * data.mdb and lock.mdb).  Named databases:
 *
 *   meta     string key -> string value (the META_* keys below)
 *   project  u32 BE project id -> project record
 *   patch    (u32 BE project id, u32 BE patch id) -> patch record
 *   msgid    notmuch-form msgid (truncated to STATE_MSGID_KEY_MAX bytes)
 *            -> (u32 BE project id, u32 BE patch id), MDB_DUPSORT|MDB_DUPFIXED
 *   outbox   (u32 BE project id, u32 BE patch id) -> outbox record
 *   user     username (its bytes, 1 to STATE_USER_NAME_MAX) -> user id
 *   series   u32 BE series id -> series record (schema 3)
 *   cover    notmuch-form msgid of a cover letter (truncated like msgid)
 *            -> u32 BE series id, MDB_DUPSORT|MDB_DUPFIXED (schema 3)
 *
 * Rules: transactions are short and never held across HTTP or notmuch
 * calls; everything read out of a transaction is copied (records handed
 * out are owned by the caller and freed with the matching _free()).
 */

/*
 * The meta keys.  Integers are decimal strings (state_meta_get_i64).
 * Who writes each: the sync run's commit, unless said otherwise.
 */
#define META_SCHEMA_VERSION "schema_version"     /* STATE_SCHEMA_VERSION (state_open, state_clear) */
#define META_UUID "uuid"                         /* notmuch database UUID of the last run */
#define META_REVISION "revision"                 /* notmuch revision handled (pwnm's own writes included) */
#define META_URL "url"                           /* pwnm.url of the last run */
#define META_API_VERSION "api_version"           /* the server's REST API version, as discovered */
#define META_USERS "users"                       /* before the user database: delegates seen as
						  * "name=id;name=id", which a name holding ';' or
						  * '=' garbled; read by no one, deleted when the
						  * users are rebuilt (libsync_work.c) */
#define META_LISTS "lists"                       /* List-Ids of the tracked projects, ';'-separated */
#define META_RECHECK "recheck"                   /* patches to fetch one by one: "project:patch;..." */
#define META_EVENTS_SEEN "events_seen."           /* + project id: the stretch of events kept before
						  * its cursor, "@<from>;id;id...": where the events
						  * list starts and the ids of every event dated from
						  * there up to the cursor (libsync_remote.c); none
						  * stored: listed from the cursor, those up to its
						  * own count as seen; "id;id..." without "@" (an
						  * older version): from EVENT_OVERLAP before it */
#define META_STRAYS_SWEPT "strays_swept"         /* "1": a run looked for state tags on mails that
						  * are no patch (libsync_series.c); until then
						  * every run does */
#define META_CHECKS "checks"                     /* series whose patches' checks must be listed again
						  * (a check-created event named one, and the listing
						  * has not succeeded yet): "series;series..." */
#define META_LAST_SYNC_TIME "last_sync_time"     /* unix seconds of the last run's commit */
#define META_LAST_SYNC_RESULT "last_sync_result" /* "ok: <counts>" or "error: <first error>" */
#define META_LAST_HOOK_ERROR "last_hook_error"   /* the last hook's problem (pwnm hook); cleared by a
						  * clean hook run that reached the server */
#define META_LAST_HOOK_ERROR_TIME "last_hook_error_time" /* unix seconds of it (pwnm hook) */
/* Notes on a lasting situation, said when it begins or changes, kept until it ends (the sync run) */
#define META_NOTE_TOKEN "note.token"             /* changes wait: no API token */
#define META_NOTE_PUSH_LIMIT "note.push_limit"   /* changes held: more than pwnm.push_limit */
#define META_NOTE_UNSYNCED "note.unsynced"       /* a hook found no first sync done */
#define META_NOTE_SETTINGS "note.settings"       /* the invalid setting the hooks said (pwnm hook);
						  * cleared by a hook that read valid settings */
#define META_STATES_LISTED "states_listed." /* + project id: its project_rec.states_listed
						  * (state_project_put writes it) */
/* The user's Patchwork account found from notmuch's addresses (pwnm sync, when pwnm.user is unset) */
#define META_ME "me"                             /* its username; "" none found */
#define META_ME_ID "me_id"                       /* its user id */
#define META_ME_FROM "me_from"                   /* the address it was found from */
#define META_ME_ASKED "me_asked"                 /* the addresses asked about, ';'-separated */
#define META_ME_URL "me_url"                     /* the pwnm.url they were asked of */
#define META_POLL_REASON "poll_reason"           /* a reason to ask the server not yet acted on:
						  * "<since> <failures> <next_try>" (libwork.h) */

/*
 * 2: commit_ref in patch and outbox records.
 * 3: patch records end with the series id and the combined check; the
 *    series and cover databases.
 * 4: outbox records end with the event cursor of the send (sent_events).
 * A store of an older schema is read as it is (its records lack only the
 * later members) and marked with this version at open.
 */
#define STATE_SCHEMA_VERSION 4
#define STATE_MSGID_KEY_MAX 480
#define STATE_USER_NAME_MAX 480
#define STATE_DEFAULT_MAPSIZE ((size_t)4 << 30) /* 4 GiB, sparse */

typedef struct pwnm_state pwnm_state_t;
typedef struct pwnm_txn pwnm_txn_t;

/*
 * Open (creating if needed, mode 0700 directory, 0600 files) the store
 * in directory dir.  mapsize 0 means STATE_DEFAULT_MAPSIZE.  Clears
 * stale readers.  Checks meta/schema_version: a newer or unreadable
 * store is PWNM_STATUS_STATE with a message.  On failure *out is NULL
 * and *err (if err is not NULL) gets a one-line message naming the
 * directory; caller frees it.
 */
pwnm_status_t state_open(const char *dir, size_t mapsize, pwnm_state_t **out, char **err);
/* The store's pages read so far stop counting in the process's resident memory (they stay
 * in the page cache); a long run calls it between transactions so it does not grow with the
 * store.  The commit of a write transaction does it too. */
void state_release_map(pwnm_state_t *st);
/* kB of the store's pages resident in this process now, -1 unknown (no /proc). */
long state_map_resident_kb(pwnm_state_t *st);
void state_close(pwnm_state_t *st);
/* Detail of the last failure on this handle (LMDB text, path).  Borrowed. */
const char *state_last_error(pwnm_state_t *st);

/*
 * Transactions.  A read transaction (write == 0) or the single write
 * transaction.  Commit or abort always frees *txn.  A commit that runs
 * out of map space returns PWNM_STATUS_STATE_FULL and leaves the store
 * as it was before the transaction.
 */
pwnm_status_t state_txn_begin(pwnm_state_t *st, int write, pwnm_txn_t **txn);
pwnm_status_t state_txn_commit(pwnm_txn_t *txn);
void state_txn_abort(pwnm_txn_t *txn);
/*
 * For the test suite (a named fault point, PWNM_DEBUG_FAIL_AT): the next
 * read transaction begun on st fails as a refused LMDB read would.
 */
void state_fail_next_read(pwnm_state_t *st);
/* The transaction id a read transaction sees (LMDB's; every write commit moves it). */
uint64_t state_txn_id(pwnm_txn_t *txn);

/* meta: *val NULL (and SUCCESS) when absent; caller frees. */
pwnm_status_t state_meta_get(pwnm_txn_t *txn, const char *key, char **val);
pwnm_status_t state_meta_put(pwnm_txn_t *txn, const char *key, const char *val);
pwnm_status_t state_meta_del(pwnm_txn_t *txn, const char *key);
/* Integers stored as decimal strings; *val = dflt when absent. */
pwnm_status_t state_meta_get_i64(pwnm_txn_t *txn, const char *key, int64_t dflt, int64_t *val);
pwnm_status_t state_meta_put_i64(pwnm_txn_t *txn, const char *key, int64_t val);

/* Per-project record. */
struct project_rec {
	uint32_t id;
	char *link_name;      /* Patchwork link_name */
	char *web_url;        /* project web page, may be "" */
	char *event_cursor;   /* server date of the newest event handled, "" none */
	uint64_t event_last_id; /* highest event id handled */
	uint32_t max_patch_id; /* highest patch id seen */
	int64_t last_reconcile; /* unix seconds of the last full list, 0 never */
	int64_t last_poll;      /* unix seconds of the last remote poll, 0 never */
	char *states_seen;    /* ';'-separated state slugs seen on the server's patches, and those a
			       * 400 answer listed; "" none */
	int64_t states_listed; /* unix seconds of the last 400 answer that listed every state of
				* the server, 0 never: states_seen was complete then */
};
void project_rec_free(struct project_rec *p); /* frees the strings, not p */
/* NOT_FOUND when absent. */
pwnm_status_t state_project_get(pwnm_txn_t *txn, uint32_t id, struct project_rec *out);
pwnm_status_t state_project_put(pwnm_txn_t *txn, const struct project_rec *p);
pwnm_status_t state_project_del(pwnm_txn_t *txn, uint32_t id);
/* All projects, ordered by id.  *out caller frees with state_project_list_free. */
pwnm_status_t state_project_list(pwnm_txn_t *txn, struct project_rec **out, size_t *n);
void state_project_list_free(struct project_rec *list, size_t n);

/* Patch flags. */
#define PATCH_F_TAGGED   0x01u /* its mail carried pw tags written by pwnm */
#define PATCH_F_NOMAIL   0x02u /* its mail was not in notmuch at the last try */
#define PATCH_F_CONFLICT 0x04u /* both sides changed differently; pw/conflict */
#define PATCH_F_DENIED   0x08u /* the server refused our change; pw/denied */
#define PATCH_F_RECHECK  0x10u /* fetch this patch by id on the next poll (an event named it
				* without every field, or its mail could not take the server's
				* value); listed in META_RECHECK too */
#define PATCH_F_NEWER    0x20u /* a later revision of its series was posted: while the patch
				* is open its mail gets the suggestion tag (merge_state_open);
				* cleared when the user removes that tag */

/* Per-patch record: the values both sides last agreed on. */
struct patch_rec {
	uint32_t project_id;
	uint32_t patch_id;
	uint32_t flags;       /* PATCH_F_* */
	int archived;         /* agreed archived flag (0/1) */
	uint32_t delegate_id; /* agreed delegate user id, 0 none */
	int64_t date;         /* submission date, unix seconds */
	char *msgid;          /* msgid as Patchwork has it, with brackets */
	char *state;          /* agreed state slug */
	char *delegate;       /* agreed delegate username, "" none */
	char *note;           /* last problem (denied/conflict text), "" none */
	char *commit_ref;     /* agreed commit_ref (the commit that applied it), "" none */
	uint32_t series_id;   /* the series it was sent in, 0 none or unknown */
	char *check;          /* combined CI state as the server last said, "" unknown */
};
void patch_rec_free(struct patch_rec *p); /* frees the strings, not p */
void patch_rec_copy(struct patch_rec *dst, const struct patch_rec *src); /* dst: a deep copy */
/* NOT_FOUND when absent. */
pwnm_status_t state_patch_get(pwnm_txn_t *txn, uint32_t project_id, uint32_t patch_id,
			      struct patch_rec *out);
/* Insert or replace; keeps the msgid index in step (old msgid entry removed). */
pwnm_status_t state_patch_put(pwnm_txn_t *txn, const struct patch_rec *p);
/* Remove the patch, its msgid index entry and its outbox entry; SUCCESS if absent. */
pwnm_status_t state_patch_del(pwnm_txn_t *txn, uint32_t project_id, uint32_t patch_id);
/*
 * Call cb for every patch of project_id (0: all projects) in key order.
 * The record is borrowed for the call.  A non-zero return from cb stops
 * the walk and is returned as the status.
 */
typedef int (*state_patch_cb)(const struct patch_rec *p, void *data);
pwnm_status_t state_patch_foreach(pwnm_txn_t *txn, uint32_t project_id, state_patch_cb cb,
				  void *data);
/* Number of patches of project_id (0: all). */
pwnm_status_t state_patch_count(pwnm_txn_t *txn, uint32_t project_id, size_t *n);

/* (project, patch) pair. */
struct patch_key {
	uint32_t project_id;
	uint32_t patch_id;
};
/*
 * Patches whose msgid, in notmuch form (msgid_to_notmuch), equals
 * nm_msgid: one mail may be several patches (cross-posts).  Entries
 * whose index key matched only by truncation are filtered out by
 * comparing the full msgid of the patch record.  *out NULL and *n 0
 * when none; caller frees *out.
 */
pwnm_status_t state_msgid_lookup(pwnm_txn_t *txn, const char *nm_msgid, struct patch_key **out,
				 size_t *n);

/* Series flags. */
#define SERIES_F_INFO      0x01u /* the server's series record was read (cover, totals, patches) */
#define SERIES_F_COMPLETE  0x02u /* received_all: every announced patch has arrived */
#define SERIES_F_COVER_TAGGED 0x04u /* its cover letter's mail carries the tags pwnm wrote */
#define SERIES_F_NEWER     0x08u /* a later revision exists: its open patches get the suggestion tag */
#define SERIES_F_DISMISSED 0x10u /* the user removed the suggestion tag: not offered again */

/* A series pwnm tracks (one of its patches is tracked). */
struct series_rec {
	uint32_t series_id;
	uint32_t project_id;
	uint32_t flags;        /* SERIES_F_* */
	uint32_t version;
	uint32_t total;
	uint32_t received_total;
	uint32_t submitter_id; /* person id, 0 unknown */
	uint32_t cover_id;     /* 0: none */
	uint32_t newer_id;     /* the later revision's series id (SERIES_F_NEWER), 0 none */
	uint32_t *patches;     /* patch ids of the series pwnm knows, ascending */
	size_t npatches;
	char *name;
	char *date;            /* the series' date as the server sends it */
	char *cover_msgid;     /* with brackets, "" none */
	char *cover_state;     /* the state tag pwnm last wrote on the cover letter, "" none */
};
void series_rec_free(struct series_rec *s); /* frees the members, not s */
/* NOT_FOUND when absent. */
pwnm_status_t state_series_get(pwnm_txn_t *txn, uint32_t series_id, struct series_rec *out);
/* Insert or replace; keeps the cover index in step. */
pwnm_status_t state_series_put(pwnm_txn_t *txn, const struct series_rec *s);
typedef int (*state_series_cb)(const struct series_rec *s, void *data);
/* Every series, by id; the record is borrowed for the call. */
pwnm_status_t state_series_foreach(pwnm_txn_t *txn, state_series_cb cb, void *data);
/* Series whose cover letter is the mail nm_msgid (notmuch form).  *out caller frees. */
pwnm_status_t state_cover_lookup(pwnm_txn_t *txn, const char *nm_msgid, uint32_t **out, size_t *n);

/*
 * Outbox: a change waiting to be accepted by the server.  The OUT_* bits
 * are the fields' bits of libfield.h (FIELD_BIT(FIELD_STATE) ...).
 */
#define OUT_STATE    0x1u
#define OUT_ARCHIVED 0x2u
#define OUT_DELEGATE 0x4u
#define OUT_COMMIT_REF 0x8u
/*
 * next_try of a change held until the user acts: a conflict under
 * pwnm.conflict=report (last_error then says "held: conflict").  It is
 * never retried by time, and it is released when the user removes
 * pw/conflict or sets the value they want.
 */
#define OUTBOX_HELD INT64_MAX
struct outbox_rec {
	uint32_t project_id;
	uint32_t patch_id;
	uint32_t fields;      /* OUT_* bits: which values below are wanted */
	int archived;
	uint32_t delegate_id; /* 0: no delegate */
	uint32_t attempts;
	int64_t queued_at;    /* unix seconds the change was recorded */
	int64_t next_try;     /* unix seconds; 0 = as soon as possible */
	char *state;          /* wanted state slug, "" when !(fields & OUT_STATE) */
	char *delegate;       /* wanted delegate username, "" none */
	char *last_error;     /* "" none */
	/*
	 * Values sent to the server whose landing is not confirmed (the
	 * reply was lost, or the run killed): a server value equal to one
	 * of them is that push landing, not a change made on Patchwork.
	 */
	uint32_t sent_fields; /* OUT_* */
	int sent_archived;
	char *sent_state;     /* "" when !(sent_fields & OUT_STATE) */
	char *sent_delegate;
	char *commit_ref;     /* wanted commit_ref, "" none or unchanged (fields & OUT_COMMIT_REF says) */
	char *sent_commit_ref;
	/*
	 * Where the project's events stood when the sent_* values went: the
	 * sending run's event cursor, the date (as the server wrote it) and
	 * id of the newest event it had taken in ("" and 0: the project had
	 * none).  An event sorting after it happened after the send, so a
	 * state event there making the patch the value sent, followed by one
	 * moving it away, is the push having landed and Patchwork changing
	 * the patch since.  sent_events 0: not known (a record of schema 3
	 * or older, or nothing sent).
	 */
	int sent_events;
	uint64_t sent_event_id;
	char *sent_event_date;
};
void outbox_rec_free(struct outbox_rec *o);
void outbox_rec_copy(struct outbox_rec *dst, const struct outbox_rec *src); /* dst: a deep copy */
/* Where an outbox entry stands; decided by its fields and next_try, never by its message. */
enum outbox_status {
	OUTBOX_DONE,    /* nothing to send: values sent, waiting only to see them land */
	OUTBOX_WAITING, /* to be sent at the next run that may push */
	OUTBOX_RETRY,   /* failed before (last_error), sent again after next_try */
	OUTBOX_HELD_CONFLICT, /* held: see OUTBOX_HELD */
};
enum outbox_status state_outbox_status(const struct outbox_rec *o);
pwnm_status_t state_outbox_get(pwnm_txn_t *txn, uint32_t project_id, uint32_t patch_id,
			       struct outbox_rec *out);
pwnm_status_t state_outbox_put(pwnm_txn_t *txn, const struct outbox_rec *o);
pwnm_status_t state_outbox_del(pwnm_txn_t *txn, uint32_t project_id, uint32_t patch_id);
typedef int (*state_outbox_cb)(const struct outbox_rec *o, void *data);
pwnm_status_t state_outbox_foreach(pwnm_txn_t *txn, state_outbox_cb cb, void *data);
pwnm_status_t state_outbox_count(pwnm_txn_t *txn, size_t *n);

/*
 * Users (delegates seen), one record per username, so that any name,
 * with ';', '=' or blanks in it, is kept as it is.  A name longer than
 * STATE_USER_NAME_MAX or an id 0 is refused (PWNM_STATUS_STATE).
 */
pwnm_status_t state_user_put(pwnm_txn_t *txn, const char *name, uint32_t id);
/* cb for every user in name order (name borrowed for the call); non-zero stops, as a status. */
typedef int (*state_user_cb)(const char *name, uint32_t id, void *data);
pwnm_status_t state_user_foreach(pwnm_txn_t *txn, state_user_cb cb, void *data);

/* Drop every record of every named database (a rebuild); meta keeps schema_version. */
pwnm_status_t state_clear(pwnm_txn_t *txn);

#endif

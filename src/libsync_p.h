/* libsync_p.h - the sync engine's private shared parts: the run, its work items, the steps' entry points */
#ifndef PWNM_LIBSYNC_P_H
#define PWNM_LIBSYNC_P_H

#include <stdint.h>
#include <stdio.h>

#include <notmuch.h>

#include "libconfig.h"
#include "libhttp.h"
#include "libmerge.h"
#include "libpw.h"
#include "libwork.h"
#include "libstate.h"
#include "libstatus.h"
#include "libsync.h"

#include "libfield.h"
#include "libtagset.h"

/*
 * The tag step writes in batches, each one atomic section under the
 * notmuch write lock, which is released between batches (notmuch new and
 * other clients' tag writes get in): a batch ends after TAG_BATCH mails or
 * TAG_BATCH_MS of writing, whichever comes first.
 */
#ifndef TAG_BATCH
#define TAG_BATCH 2000
#endif
#ifndef TAG_BATCH_MS
#define TAG_BATCH_MS 1000
#endif

/*
 * One patch touched by this run: loaded from the store when the scan,
 * the server, the outbox or a recheck names it, and written back by the
 * commit.  Its flags, each with who sets it, who reads it, and when it
 * is cleared (every flag lives for one run; the store keeps only rec and
 * out):
 */
struct work {
	/* Agreed values: from the store (or the server, first seen); the merge, the push's
	 * answers and a landed push move them; the tag step moves them back (work_undo_remote)
	 * when the mail could not take them. */
	struct patch_rec rec;
	/* rec's fields as the store had them: what work_undo_remote restores. */
	struct field_copy orig[FIELD_COUNT];
	uint32_t orig_flags;    /* rec.flags as stored: its PATCH_F_RECHECK survives an abandoned run */
	int in_store;           /* set at load: rec came from the store (else: first seen this run) */
	int dirty;              /* rec differs from the store: set by merge, push, tags; read by commit */
	int deleted;            /* the server answered 404: set by recheck and push; tags drop the
				 * patch's tags, commit deletes it */
	int tags;               /* its mail's tags must be rewritten: set by merge, push, recheck;
				 * read by the tag step */
	unsigned remote_applied; /* FIELD_BITs whose agreed value came from the server this run: set by
				  * merge; read by the conflict release and work_undo_remote */
	unsigned landed;        /* FIELD_BITs whose earlier push was found landed: set by merge; read
				 * by the push, which records them with the next intent */
	/* FIELD_BITs of the values sent unconfirmed (out.sent_*) that the server's events, after
	 * the send (out.sent_event_*), show: ev_took, an event making the field the value sent;
	 * ev_moved, a later one moving it away.  Set by merge_event as the events are taken in, in
	 * the server's order; read by the merge (the push landed, then Patchwork changed it). */
	unsigned ev_took, ev_moved;
	const char *project;    /* link_name (borrowed from the run's project list); NULL when the
				 * project is in no list (work_tracked) */
	char *nmid;             /* notmuch form of rec.msgid, NULL when empty */
	/* The pending local change: loaded with rec, written by merge (queue, drop, hold, release)
	 * and push (intent, answers); commit stores it when out_dirty, deletes it when empty. */
	int has_out;
	int out_dirty;
	struct outbox_rec out;
	/* What the server says (remote step: patch lists, events, rechecks): r[i] is valid for the
	 * FIELD_BITs in r_set.  Read by the merge. */
	unsigned r_set;
	struct field_copy r[FIELD_COUNT];
	/* What the mail's tags say (scan step): l[i] valid for the FIELD_BITs in l_set.  Read by the
	 * merge; scanned says the mail was read at all (a reason to push, and to clear marks). */
	int scanned;
	unsigned l_set;
	struct field_copy l[FIELD_COUNT];
	int l_repair;           /* the tags are incomplete or ambiguous: merge asks for a rewrite */
	const char *l_note;     /* why, static text; merge reports it */
	int l_conflict_tag, l_denied_tag; /* pw/conflict, pw/denied on the mail: merge releases marks */
	/* Nothing of it is written this run: set by the push (pwnm.push_limit) and by the run for
	 * another project's patch under --project; read by tags and commit. */
	int held;
	/* A full list taken in while it downloads (libsync_pipe.c): piped, the item waits in the
	 * current window; merged, sync_merge has nothing more to do for it (set by merge_item,
	 * cleared when the window's commit makes it a stored item again). */
	int piped;
	int merged;
	/* Its tags could not be written this run (work_abandon): one first seen this run is not
	 * stored, so that the next run takes it as new again and tags its mail. */
	int abandoned;
	struct work *hnext;     /* hash chain of the run's work table */
};

/*
 * One series named by the run (a patch of it was seen, its cover letter
 * was tagged, or its cover needs new tags): loaded from the store by
 * series_load, written back by the commit when dirty.
 */
struct series_work {
	struct series_rec rec;
	int loaded;            /* looked up in the store (series_load) */
	int in_store;          /* rec came from the store */
	int need_info;         /* ask the server for it: new, or a patch of an incomplete one arrived */
	int dirty;             /* rec differs from the store: read by commit */
	int cover;             /* its cover letter's tags must be rewritten: read by the tag step */
	int checks;            /* a check-created event named one of its patches: set by the events
				* (or loaded from META_CHECKS), read by remote_series, which lists
				* its patches again and clears it only when that listing worked;
				* the commit keeps the ones still set in META_CHECKS */
	int info_now;          /* its record came from the server this run: remote_series looks
				* for the older revisions it replaces */
	const char *project;   /* link_name, borrowed from the run's project list */
	struct series_work *hnext;
};

struct user {
	char *name;
	uint32_t id;
	int dirty;              /* learnt or changed this run: commit writes its record */
};

/*
 * Lasting situations a run notes (META_NOTE_*): a note is printed when it
 * is new or its text changed since the one stored (always with --dry-run
 * or -v), so pre-new, post-new and every sync do not repeat it; `pwnm
 * status` shows the stored ones.
 */
enum run_note_kind { NOTE_TOKEN, NOTE_PUSH_LIMIT, NOTE_UNSYNCED, NOTE_COUNT };

/* One run: what it was asked, what it has learnt, and what it must write at the end. */
struct run {
	const struct pwnm_config *cfg;
	const struct sync_opts *o;
	pwnm_state_t *st;
	struct sync_result *res;
	FILE *out;
	struct tag_opts topts;
	/* Every project in the store, plus the new ones found by the remote step; the arrays
	 * beside it have one entry per project. */
	struct project_rec *projects;
	size_t nprojects;
	int *poll;                     /* configured (and --project): set by resolve; read by remote */
	int *proj_dirty;               /* the record changed: set by remote; read by commit; cleared when
					* the tags could not be written */
	int *poll_failed;              /* asking the server failed this run: set by remote; read by push
					* (nothing is pushed blind) */
	int server_silent;             /* a poll got no answer at all (network, time-out): set by remote,
					* which then asks nothing more this run */
	int checks_failed;             /* the listing of series whose checks changed failed: set by
					* remote_series; the commit keeps a reason to ask (META_POLL_REASON) */
	int *polled_ok;                /* the server's news were read this run: set by remote; read by
					* merge (an unconfirmed push is settled) */
	/* A project's new stretch of events kept before its cursor (META_EVENTS_SEEN): set by the
	 * events poll when it changed and by a full list (ids NULL: delete it); the commit writes it
	 * with the project's record (proj_dirty). */
	struct events_seen { uint32_t project_id; char *ids; } *seen;
	size_t nseen;
	struct work **wtab;            /* the work items, hashed by (project, patch) */
	size_t wcap, wn;
	struct series_work **stab;     /* the series named by the run, hashed by id */
	size_t scap, sn;
	size_t speak;                  /* the most series held at once (PWNM_DEBUG=sync) */
	/* A first sync's series list taken in as it comes (series_take_page): the candidates for
	 * older revisions, built on its first page, and the series marked older this run, whose
	 * patches get the suggestion tag as their window passes (ascending ids). */
	struct rev_index *revix;
	uint32_t *older_now;
	size_t nolder_now;
	/* Mails that are no patch with a state tag the user put there (series_scan_mail): the tag
	 * step removes those tags; project borrowed from the run's project list. */
	struct stray { char *nmid; const char *project; } *strays;
	size_t nstrays;
	int strays_swept_before;       /* META_STRAYS_SWEPT was set: only --full sweeps (step 1) */
	int strays_swept;              /* this run swept (series_sweep_strays): the commit sets it */
	struct user *users;            /* delegates seen (the store's user records), for ids in a PATCH */
	size_t nusers;
	int users_dirty;               /* a user was learnt: commit writes the dirty ones */
	char **missing;                /* names of pwnm.projects the server does not have (remote) */
	size_t nmissing;
	int users_rebuilt;             /* the old joined meta "users" was found: rebuilt, then deleted */
	http_t *http;                  /* set up on first need (remote_client_ready) */
	pw_client_t *client;
	char *api_version;
	const char *token;
	char *token_owned;       /* loaded on first need (config_token) */
	int token_tried;         /* the token was looked for (or refused): not again this run */
	/* local */
	notmuch_database_t *db;  /* the caller's read-only handle (sync_opts.db) until the scan takes it */
	char *stored_uuid;       /* notmuch UUID of the last run (meta), NULL never synced */
	char *uuid;
	unsigned long rev;       /* notmuch revision at the scan */
	unsigned long stored_rev; /* revision handled by the last run */
	int restore_only;        /* the notmuch database changed identity: tags are restored, nothing pushed */
	int new_mail;            /* the scan saw new mail from a tracked list: a reason to poll */
	struct poll_reason reason; /* the reason kept by an earlier run (META_POLL_REASON); the commit
				    * keeps it, with new_mail, until every project's news were read */
	char *lists;             /* meta "lists": ';'-separated List-Ids of the tracked projects, or NULL */
	int lists_dirty;
	unsigned long store_rev; /* revision to record: set by the tag step */
	int write_rev;           /* record store_rev: set by the tag step when the tags were written */
	int held_limit;          /* something was held (push limit, --project): the revision is kept */
	/* The tag writes, over the windows of a full list and the tag step (libsync_tags.c). */
	struct tag_writer *tw;   /* batches, revisions seen; NULL until the first write */
	struct tagset busy;      /* mails others changed during the run: left alone */
	struct tagset said;      /* names left out of the tags, said once a run */
	int any_skip;            /* a mail was skipped for that */
	int nmails;              /* mails written or found right */
	int tags_failed;         /* notmuch could not be written: nothing more is tried this run */
	int64_t tags_ms;         /* time spent writing tags */
	int64_t tags_ms_listing; /* of it, while a list was downloading */
	int pipe_off;            /* a window could not be committed: the rest waits for the end */
	size_t wpeak;            /* the most work items held at once (PWNM_DEBUG=sync) */
	/* (project, patch) keys of the patches whose mail was counted as tagged this run: a mail
	 * written with two windows (a patch of two projects) is counted once.  Open addressing,
	 * 0 free. */
	uint64_t *counted;
	size_t ncounted, ccap;
	char *first_error;       /* the first error of the run, said once; it decides the status */
	char *note[NOTE_COUNT];  /* this run's note on each lasting situation, NULL none: run_note */
	int note_known[NOTE_COUNT]; /* the run looked at that situation: commit keeps note[] or clears it */
	pwnm_status_t worst;
};

/* libsync_work.c: the run's services and its table of work items */
/* One line on the run's output, escaped as a whole (text_escape): it may quote server text as it is. */
void run_report(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "pwnm: TAG on <MSGID>: WHAT" (tag and id escaped): a tag on a mail that needs the user. */
void run_report_tag(struct run *r, const char *tag, const char *nmid, const char *what);
/* The situation k was looked at; with run_note it holds, without it has ended. */
void run_note_known(struct run *r, enum run_note_kind k);
void run_note(struct run *r, enum run_note_kind k, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Store (or clear) the notes of the situations the run looked at. */
pwnm_status_t run_notes_commit(struct run *r, pwnm_txn_t *txn);
void run_error(struct run *r, pwnm_status_t rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void run_crash_point(const struct run *r, const char *name);
/* PWNM_DEBUG_FAIL_AT names this point: the store's next read fails (tests only). */
void run_fault_point(const struct run *r, const char *name);
struct work *work_find(struct run *r, uint32_t project, uint32_t patch);
struct work *work_insert(struct run *r, const struct patch_rec *rec, int in_store);
struct work *work_get(struct run *r, pwnm_txn_t *txn, uint32_t project, uint32_t patch);
/*
 * Is w's project in the run's list?  w->project is set when it is (also
 * for a project the remote step added after w was made).  A patch of no
 * project in the list (its project record lost with a run that could
 * write no tag, or named by a server for a project never tracked) is
 * not read from the mail, merged, pushed or tagged: no tag is made up
 * for it.
 */
int work_tracked(struct run *r, struct work *w);
void work_free(struct work *w);
/* Take w out of the run's table and free it (its values are in the store). */
void work_drop(struct run *r, struct work *w);
/* The mail of patch (project, patch) was counted as tagged this run: mark it, ask it. */
void run_counted_add(struct run *r, uint32_t project, uint32_t patch);
int run_counted(const struct run *r, uint32_t project, uint32_t patch);
long run_project_index(const struct run *r, uint32_t id);
const char *run_project_name(struct run *r, uint32_t id);
uint32_t run_user_id(struct run *r, const char *name);
void run_user_learn(struct run *r, const char *name, uint32_t id);
pwnm_status_t run_users_load(struct run *r, pwnm_txn_t *txn);
void run_users_fix_outbox(struct run *r);
pwnm_status_t run_users_commit(struct run *r, pwnm_txn_t *txn);
void run_state_seen(struct run *r, uint32_t project_id, const char *slug);
/* A 400 answer's ';'-list of the project's states: learnt, and the list counts as complete. */
void run_states_listed(struct run *r, uint32_t project_id, const char *list);
/* slug is no state of the project (its list known complete): a typo, never sent. */
int run_state_typo(const struct run *r, uint32_t project_id, const char *slug);
void shown_values(const struct patch_rec *rec, const struct outbox_rec *out, int has_out,
		  struct pw_values *v);
void str_set(char **dst, const char *src);

/* libsync_series.c: series, their cover letters, and state tags on mails that are no patch */
struct series_work *series_find(struct run *r, uint32_t id);
struct series_work *series_get(struct run *r, pwnm_txn_t *txn, uint32_t id);
void series_observe_patch(struct run *r, pwnm_txn_t *txn, struct work *w, const struct pw_patch *p);
void remote_series(struct run *r);
void remote_observe_patches(const struct pw_patch *a, size_t n, void *data);
void series_scan_mail(struct run *r, notmuch_database_t *db, const char *nmid,
		      const struct tagset *tags, int *handled);
/* Step 2 of a --full run or the first with it: state tags on mails that are no patch (pwnm(1)). */
void series_sweep_strays(struct run *r, notmuch_database_t *db, int range_scanned);
void series_mark_covers(struct run *r);
int series_covers_pending(struct run *r);
void series_write_covers(struct run *r, notmuch_database_t *db, pwnm_txn_t *txn,
			 const struct tagset *busy);
/*
 * A window of a full list (libsync_pipe.c, libsync_tags.c): is a cover
 * letter marked whose record is known; write those (their marks
 * cleared); a series read is applied at once (a page of a first sync's
 * series list); the series changed are stored and those nothing waits
 * for dropped; a merged patch of a series marked older this run gets the
 * suggestion tag.
 */
int series_covers_known(struct run *r);
void series_write_covers_window(struct run *r, notmuch_database_t *db, pwnm_txn_t *txn,
				const struct tagset *busy);
pwnm_status_t series_take_page(struct run *r, const struct pw_series *a, size_t n);
void series_settle(struct run *r);
void series_window_patch(struct run *r, struct work *w);
/* libsync_tags.c: --dry-run's line for a mail whose tags would change */
void report_dry_tags(struct run *r, const char *nmid, const struct tagset *cur,
		     const struct tagset *want);
pwnm_status_t series_commit(struct run *r, pwnm_txn_t *txn);
/* Step 1: the series whose checks an earlier run could not list (META_CHECKS). */
void series_load_checks(struct run *r, pwnm_txn_t *txn);
void series_free_all(struct run *r);

/*
 * The steps of a run, in order (sync_run in libsync.c).  A step returns
 * SUCCESS to go on; anything else stops the run, the error already said
 * through run_error (the first one decides the run's status).
 */

/* libsync.c: step 1, what the store knows (projects, users, outbox, rechecks, uuid, revision) */

/* libsync_scan.c: step 2, the local scan */
pwnm_status_t sync_scan(struct run *r);
void scan_observe_mail(struct run *r, notmuch_database_t *db, struct work *w);

/* libsync_remote.c: step 3, the server's news; remote_client_ready also serves the push */
pwnm_status_t sync_remote(struct run *r);
pwnm_status_t remote_client_ready(struct run *r);
/* One page of project p's full list taken into the run's work items (said on failure). */
pwnm_status_t remote_take_page(struct run *r, struct project_rec *p, const struct pw_patch *a,
			       size_t n);

/*
 * libsync_pipe.c: the full lists of a first sync or --full, of every
 * project in pj at once, taken in while they download: the pages in the
 * order they come, whatever their project; each window merged, its tags
 * written and its values committed, then its settled work items dropped.
 * Cursors and revision wait for the end of the run.  Each pj[i].rc says
 * how its project's list went: the listing's failure (pj[i].error, one
 * line, caller frees), or PWNM_STATUS_STATE when a page could not be
 * taken in (said then).
 */
struct pipe_project {
	struct project_rec *p;  /* in */
	const char *since;      /* in: ISO date, NULL all */
	int series;             /* in: its series listed too, from since, taken in as they come */
	pwnm_status_t rc;       /* out */
	char *error;            /* out */
	int failed;             /* a page of it could not be taken in: its others are not */
};
void pipe_full_lists(struct run *r, struct pipe_project *pj, size_t n, pw_progress_cb progress);
void remote_report_projects(struct run *r, int committed);

/* libsync_merge.c: step 4, the three-way merge (cannot fail); merge_item merges one item */
void sync_merge(struct run *r);
void merge_item(struct run *r, struct work *w);
void out_ensure(struct work *w);
/* A patch event's value v of field i, in the server's order (struct work, ev_took). */
void merge_event(struct work *w, size_t i, const struct pw_event *e, struct field_value v);
/*
 * A full list's newest page of events (any order), read only for the
 * changes sent unconfirmed (merge_event): the events after their send
 * that the list itself does not show.
 */
void merge_events_unconfirmed(struct run *r, const struct pw_event *ev, size_t n);
void run_describe(struct run *r, const struct work *w, const char *side, const struct field *f,
		  struct field_value from, struct field_value to);

/* libsync_push.c: step 5, the push; push_refuse_insecure is its gate checked before any request */
void push_refuse_insecure(struct run *r);
pwnm_status_t sync_push(struct run *r);

/* libsync_tags.c: step 6, the tag writes; sync_tags_window writes one window of a full list */
pwnm_status_t sync_tags(struct run *r);
pwnm_status_t sync_tags_window(struct run *r, struct work **ws, size_t n);

/* libsync_commit.c: step 7, the state commit; sync_commit_window commits one window's patches */
pwnm_status_t sync_commit(struct run *r);
pwnm_status_t sync_commit_window(struct run *r, struct work **ws, size_t n);

#endif

/* libwork.h - is there work for a run: the reasons shared by pwnm-hook (without the HTTP stack) and the sync run */
#ifndef PWNM_LIBWORK_H
#define PWNM_LIBWORK_H

#include <stdint.h>

#include "libconfig.h"
#include "libstate.h"
#include "libstatus.h"

/*
 * The reasons a run has something to do.  pwnm-hook asks has_work()
 * before it hands over to `pwnm hook`, so an idle notmuch new never loads
 * the HTTP stack; the sync run applies the same rules to each outbox
 * entry (has_work_outbox) and each project (has_work_poll).  This module
 * does no HTTP (pwnm-hook links it; tests/T420 checks that it links no
 * libcurl).
 */
enum work_reason {
	WORK_NONE,        /* idle: nothing the hook would do */
	WORK_UNSYNCED,    /* no run recorded, or another notmuch database (UUID) */
	WORK_LOCAL,       /* notmuch changed since the revision the last run handled */
	WORK_OUTBOX,      /* a change waits to be pushed */
	WORK_RECHECK,     /* patches wait to be fetched one by one */
	WORK_NEW_PROJECT, /* a configured project the store does not know yet */
	WORK_POLL_DUE,    /* a project's last poll is older than pwnm.poll_interval */
	WORK_KEPT_REASON, /* an earlier run could not act on a reason to ask the server (below) */
	WORK_SETTINGS_NOTE, /* the hooks said a setting was invalid: pwnm hook clears that once
			     * it reads valid settings (pwnm-hook's own check, not has_work's) */
};

/* A short name for debug output ("outbox", "poll-due", ...).  Static. */
const char *work_reason_name(enum work_reason w);

/* An outbox entry is work: it has something to send and is not held (OUTBOX_HELD). */
int has_work_outbox(const struct outbox_rec *o);

/* When a project's poll falls due under pwnm.poll_interval (unix seconds). */
int64_t poll_due_at(const struct project_rec *p, int64_t poll_interval);
/* A project's poll is due at now (unix seconds): now >= poll_due_at(). */
int has_work_poll(const struct project_rec *p, int64_t now, int64_t poll_interval);

/*
 * A reason to ask the server that a run could not act on (new mail from
 * a tracked list while the server did not answer, mail added by notmuch
 * insert, whose hook asks nothing) is kept in the store
 * (META_POLL_REASON) until a run has read every project's news, so the next notmuch new after the server is back asks
 * again instead of waiting for pwnm.poll_interval.  A failed try backs
 * off (2, 4, 8 ... seconds, at most REASON_BACKOFF_MAX).
 */

#define REASON_BACKOFF_MAX 60

struct poll_reason {
	int64_t since;     /* unix seconds the reason was first kept; 0: none kept */
	uint32_t failures; /* runs that tried to act on it and could not read the news */
	int64_t next_try;  /* unix seconds before which a hook does not try again */
};

/* The kept reason, zeroed when none (or unreadable: then none is assumed). */
pwnm_status_t reason_get(pwnm_txn_t *txn, struct poll_reason *out);
/*
 * Keep a reason (write transaction): old is what the run started with
 * (since 0: none); failed says the run tried to read the news and could
 * not (the backoff grows), else the next hook may try at once.
 */
pwnm_status_t reason_keep(pwnm_txn_t *txn, const struct poll_reason *old, int failed, int64_t now);
pwnm_status_t reason_clear(pwnm_txn_t *txn);
/* Seconds a hook waits after the n-th failed try: 2^n, at most REASON_BACKOFF_MAX. */
int64_t reason_backoff(uint32_t failures);
/* Does the reason ask for a poll at now (kept, and its backoff over)? */
int reason_due(const struct poll_reason *why, int64_t now);

/*
 * Is there work for `pwnm hook which` (pre-new, post-new, post-insert),
 * given the notmuch database's uuid and revision now and the store read
 * through txn?  post-insert works only on a notmuch change; pre-new also
 * on a waiting push; post-new also on rechecks, new projects, due
 * polls and a kept reason whose backoff is over.  A store that cannot be
 * read counts as work (pwnm hook then says what is wrong).  When idle
 * and until is not NULL, *until is the earliest time at which the answer
 * may change with nothing else changing (a poll falling due, a kept
 * reason's backoff ending; INT64_MAX when none): the idle stamp
 * (libstamp.h) holds until then.  A rule that depends on the clock must
 * lower it.
 */
enum work_reason has_work(pwnm_txn_t *txn, const struct pwnm_config *cfg, const char *which,
			  const char *uuid, unsigned long rev, int64_t now, int64_t *until);

#endif

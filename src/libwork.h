/* libwork.h - is there work for a run: the reasons shared by pwnm-hook (without the HTTP stack) and the sync run */
#ifndef PWNM_LIBWORK_H
#define PWNM_LIBWORK_H

#include <stdint.h>

#include "libconfig.h"
#include "libstate.h"

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
 * Is there work for `pwnm hook which` (pre-new, post-new, post-insert),
 * given the notmuch database's uuid and revision now and the store read
 * through txn?  post-insert works only on a notmuch change; pre-new also
 * on a waiting push; post-new also on rechecks, new projects and due
 * polls.  A store that cannot be read counts as work (pwnm hook then
 * says what is wrong).  When idle and until is not NULL, *until is the
 * earliest time at which the answer may change with nothing else
 * changing (a poll falling due; INT64_MAX when none): the idle stamp
 * (libstamp.h) holds until then.  A rule that depends on the clock must
 * lower it.
 */
enum work_reason has_work(pwnm_txn_t *txn, const struct pwnm_config *cfg, const char *which,
			  const char *uuid, unsigned long rev, int64_t now, int64_t *until);

#endif

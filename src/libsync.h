/* libsync.h - one sync run (local scan, remote poll, merge, push, tag writes, state commit) and the run lock */
#ifndef PWNM_LIBSYNC_H
#define PWNM_LIBSYNC_H

#include <stdint.h>
#include <stdio.h>

#include "libconfig.h"
#include "libstate.h"
#include "libstatus.h"

struct sync_opts {
	int pull;               /* ask the server for remote changes */
	int push;               /* send local changes */
	int full;               /* re-list every patch in the window and rescan all known mail */
	int all_history;        /* with full: ignore pwnm.window */
	int dry_run;            /* print what would change; write and send nothing */
	int force;              /* push even past pwnm.push_limit */
	int hook;               /* inside a notmuch hook: no first sync, poll only when due */
	int jobs;               /* requests in flight (0: cfg->jobs) */
	int verbose;            /* report lines for every change */
	int progress;           /* progress lines on stderr (a terminal) */
	int quiet;              /* errors only returned (and logged by the caller), not printed */
	const char *project;    /* only this project, or NULL */
	const char *nm_config;  /* --config for libnotmuch, or NULL */
	const char *nm_profile; /* --profile, or NULL */
	int64_t deadline_ms;    /* absolute now_ms() budget end; 0 none */
	FILE *out;              /* report lines; NULL: stdout */
	const char *crash_at;   /* crash point name for tests (PWNM_DEBUG_CRASH_AT), or NULL */
	void *db;               /* notmuch_database_t opened read-only by the caller, or NULL;
				 * taken over (destroyed) by sync_run */
};

struct sync_result {
	unsigned pulled;        /* remote changes applied to tags */
	unsigned new_patches;   /* patches first seen */
	unsigned pushed;        /* changes accepted by the server */
	unsigned queued;        /* changes left in the outbox */
	unsigned denied;        /* changes refused (403/400), tags reverted */
	unsigned conflicts;     /* both sides changed differently */
	unsigned messages_written; /* mails whose tags were changed */
	unsigned skipped;       /* mails changed by the user during the run (next run takes them) */
	unsigned missing;       /* patches whose mail is not in notmuch */
	unsigned long requests; /* HTTP attempts made */
	int polled;             /* the server was asked */
};

/*
 * Take the run lock (state_dir/lock, flock).  wait: block until free
 * (printing a note once on stderr when it has to wait); else
 * PWNM_STATUS_LOCKED at once.  *fd is the open lock file (close to
 * release).
 */
pwnm_status_t sync_lock(const char *state_dir, int wait, int *fd, char **err);

/*
 * pw/ tags that name no project of pwnm.projects (a typo such as
 * pw/alpah/accepted, or a project no longer tracked), found among every
 * tag of the notmuch database db (a notmuch_database_t): one line each
 * in *lines (caller frees each and the array), with the number of mails
 * that carry it and what to do, e.g. "pw/alpah/accepted (1 mail): no
 * such project in pwnm.projects; did you mean pw/alpha/accepted?".
 * Returns the number of lines.  `pwnm status` lists them; a sync names
 * those on the mail it reads (sync_stray_hint).
 */
size_t sync_stray_tags(void *db, const struct pwnm_config *cfg, char ***lines);
/*
 * The hint for one tag: NULL when it names a tracked project (or is
 * pw/conflict or pw/denied), else "no such project in pwnm.projects;
 * did you mean pw/alpha/accepted?" (or the projects when none is near).
 * Caller frees.
 */
char *sync_stray_hint(const char *tag, const struct pwnm_config *cfg);

/*
 * The states of a project: those seen on its patches, and those a 400
 * answer to a PATCH listed (project_rec.states_seen).  The list counts as
 * complete for SYNC_STATES_FRESH seconds after such an answer; while it
 * is, a state tag naming a state not in it is a typo: it is not sent,
 * and the sync names it on each mail it reads (sync_state_hint).  Once
 * the list is older, or before any answer listed it, an unknown state is
 * sent once: the server's answer accepts it or lists the states again.
 */
#define SYNC_STATES_FRESH (7 * 24 * 3600)
/* slug is not among p's states while the list is complete at now. */
int sync_state_unknown(const struct project_rec *p, const char *slug, int64_t now);
/*
 * "no such state in alpha; did you mean pw/alpha/accepted?" (or "...;
 * 'pwnm states alpha' lists them" when none is near).  Caller frees.
 */
char *sync_state_hint(const struct project_rec *p, const char *slug);
/*
 * The state tags of the projects pl[0..np) that name no state of theirs
 * (sync_state_unknown), found among every tag of the notmuch database db
 * (a notmuch_database_t): one line each in *lines with the mail that
 * carries it (or their number and the first ones) and the hint, e.g.
 * "pw/alpha/acepted on <x@example.org>: no such state in alpha; did you
 * mean pw/alpha/accepted?".  Returns the number of lines; caller frees
 * each and the array.  `pwnm status` lists them.
 */
size_t sync_typo_tags(void *db, const struct project_rec *pl, size_t np, char ***lines);

/*
 * Run one sync with the store st open, step by step (pwnm(1), "One
 * run"; the steps are in src/libsync*.c).  token: the API token, or NULL
 * to have the run read it (config_token) only when something is to be
 * pushed; without one, changes wait in the outbox with a message.  The
 * status is that of the run's first failure, each failure said as it
 * happens unless o->quiet; *err is then that first failure's one-line
 * message (caller frees).  Partial progress that is safe to keep is
 * committed (e.g. one project's pull failed, another's worked).
 */
pwnm_status_t sync_run(const struct pwnm_config *cfg, const char *token, pwnm_state_t *st,
		       const struct sync_opts *o, struct sync_result *res, char **err);

#endif

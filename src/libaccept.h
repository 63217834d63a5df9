/* libaccept.h - pwnm accept: the patches a range of git commits applied, set accepted with their commit */
#ifndef PWNM_LIBACCEPT_H
#define PWNM_LIBACCEPT_H

#include <stddef.h>
#include <stdio.h>

#include "libconfig.h"
#include "libstate.h"
#include "libstatus.h"

struct accept_opts {
	const char *git_dir;     /* -C DIR, or NULL: the current directory */
	const char *const *revs; /* the revision range, as git rev-list takes it */
	size_t nrevs;
	const char *state;       /* the state to set; NULL: cfg->accept_state */
	const char *project;     /* only patches of this project, or NULL */
	int dry_run;             /* report what would change; write and send nothing */
	int verbose;
	int jobs;                /* requests in flight; 0: cfg->jobs */
	FILE *out;               /* the report; NULL: stdout.  The sync runs report on stderr. */
	const char *nm_config;   /* --config for libnotmuch, or NULL */
	const char *nm_profile;  /* --profile, or NULL */
	const char *crash_at;    /* crash point name for tests, or NULL */
};

/* Counts for the summary: commits, and patches for the outcomes of a matched commit. */
struct accept_result {
	unsigned commits;    /* commits in the range (merges left out) */
	unsigned accepted;   /* patches the server now has in the state with the commit */
	unsigned skipped;    /* patches that already had both: nothing sent */
	unsigned unmatched;  /* commits that match no patch of a tracked project */
	unsigned ambiguous;  /* commits with more than one candidate patch in a project: nothing done */
	unsigned refused;    /* patches the server refused to change (403, 400) */
	unsigned waiting;    /* patches whose change waits in the outbox (no token, network, push limit) */
	unsigned failed;     /* commits that could not be looked up (network) */
};

/*
 * One accept run with the store st open and the run lock held.  It
 * pulls first (not with dry_run), so the store agrees with the server
 * before the change is recorded.  For each commit of the range (oldest
 * first): the Message-IDs of its
 * Link: / Message-Id: trailers are looked up in the store's msgid
 * index, then on the server (?msgid=) when the store knows none of
 * them; a commit none of whose ids matches is looked up by Patchwork's
 * hash of its diff (?hash=).  Only patches of tracked projects count.
 * The change (state, and commit_ref = the full commit id) is recorded
 * in the outbox as a local change is and pushed by a sync run, so the
 * outbox, merge, conflict and denied rules of a tag change apply and
 * the mails' tags follow.  Lookups run concurrently, jobs at a time.
 *
 * Writes one report line per commit and a summary to o->out.  Returns
 * SUCCESS when nothing failed (commits without a match are not a
 * failure); FORBIDDEN when the server refused a change; the sync run's
 * status when it failed (a temporary one leaves the changes waiting);
 * NETWORK when lookups failed; USAGE for a bad range or a directory
 * outside git, IO when git cannot run, CONFIG before a first sync, with
 * *err set (caller frees).  On an API before 1.2 (no ?hash=) commits
 * are matched by Message-ID only.
 */
pwnm_status_t accept_run(const struct pwnm_config *cfg, pwnm_state_t *st, const struct accept_opts *o,
			 struct accept_result *res, char **err);

#endif

/* libstamp.h - the hooks' idle stamp: proof that nothing an idle answer rests on has changed */
#ifndef PWNM_LIBSTAMP_H
#define PWNM_LIBSTAMP_H

#include <stdint.h>

/*
 * notmuch runs its hooks on every `notmuch new`, mostly when nothing
 * changed.  When pwnm-hook finds a hook idle it leaves a stamp: the exact
 * versions of everything its answer was read from, taken before reading,
 *
 *   - the environment notmuch and pwnm read their settings through
 *     (NOTMUCH_CONFIG, which notmuch sets for its hooks, NOTMUCH_PROFILE,
 *     HOME, the XDG directories, ...), verbatim;
 *   - the notmuch configuration file: its size and a hash of its bytes;
 *   - the Xapian database's version file (iamglass), which Xapian
 *     rewrites on every commit (tags, new mail, settings stored in the
 *     database), verbatim;
 *   - the last transaction id of the state database (LMDB), which every
 *     write transaction moves;
 *
 * and the time until which the answer holds by the clock (a poll falls
 * due).  pwnm-hook-idle, the hooks' entry point, recomputes those
 * versions (a few small reads, no notmuch library) and ends at once when
 * they are all equal and the time has not come; anything else makes it
 * run pwnm-hook, which decides afresh.  So the stamp only ever repeats an
 * answer pwnm-hook gave for the same inputs: it never decides anything.
 *
 * This module needs libc and LMDB only (pwnm-hook-idle loads nothing else).
 */

struct stamp {
	char *db_path;   /* notmuch database path the Xapian versions are read under */
	char *text;      /* what stamp_text gave for db_path */
	char *state_dir; /* state database */
	uint64_t txn;    /* its last transaction id */
	int64_t until;   /* unix seconds; the stamp holds while now < until */
};

/* The hooks pwnm has: "pre-new", "post-new", "post-insert". */
int stamp_hook_name(const char *name);

/*
 * Read the stamp left for hook `which` (0), or -1 when there is none, it
 * cannot be read, it is a symbolic link, or it is for another environment.
 */
int stamp_load(const char *which, struct stamp *s);

/*
 * The versions of the environment, the configuration file and the Xapian
 * database under db_path, as text.  NULL when they cannot be stamped (no
 * NOTMUCH_CONFIG or HOME, a newline in a value, no Xapian version file).
 * Caller frees.
 */
char *stamp_text(const char *db_path);

/* The last transaction id of the state database in state_dir (0 and -1 when it cannot be read). */
int stamp_store_txn(const char *state_dir, uint64_t *txn);

/*
 * Does the stamp still hold at now: stamp_text gives the same text, the
 * state database is at the same transaction, and now < until?
 */
int stamp_holds(const struct stamp *s, int64_t now);

/*
 * Write s as the stamp of hook `which` (atomically: a stamp is whole or
 * absent; a new file renamed over the old one or over a link in its place,
 * never written through a link).  s->text must have been taken before the answer was read, and
 * s->txn be the transaction the answer was read in.  0, or -1 when the
 * stamp could not be written (no harm: the next hook decides afresh).
 */
int stamp_save(const char *which, const struct stamp *s);

/* Take a stamp away (an answer that is no longer idle). */
void stamp_remove(const char *which);

void stamp_free(struct stamp *s);

#endif

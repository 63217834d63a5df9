/* pwnm-hook.c - the notmuch hooks' first step: finish at once when pwnm has nothing to do */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <notmuch.h>

#include "libconfig.h"
#include "libnm.h"
#include "libstamp.h"
#include "libstate.h"
#include "libutil.h"
#include "libwork.h"

/*
 * notmuch runs its hooks on every `notmuch new`, mostly when nothing
 * changed.  This program answers that case without loading the HTTP
 * stack: it reads the settings, the notmuch revision and the state
 * store, and only when there is work (a notmuch change, a waiting push,
 * a poll that is due, anything unusual) hands over to `pwnm hook NAME`,
 * which does the work and all the reporting.  It never fails notmuch new
 * by itself.  An idle answer leaves a stamp (libstamp.h) of what it was
 * read from, so that the hooks' entry point, pwnm-hook-idle, can give the
 * same answer without this program while none of it changes.
 */

static void
hand_over(const char *which)
{
	const char *env = getenv("PWNM");
	char *pwnm = env && *env ? xstrdup(env) : self_sibling("pwnm");

	if (pwnm && access(pwnm, X_OK) == 0)
		execl(pwnm, "pwnm", "hook", which, (char *)NULL);
	execlp("pwnm", "pwnm", "hook", which, (char *)NULL);
	warn("cannot run 'pwnm hook %s':", which);
	exit(0);
}

/* What an idle answer was read from, and until when it holds by the clock. */
struct idle_facts {
	char *db_path;
	char *state_dir;
	uint64_t txn;  /* the state transaction the answer was read in */
	int64_t until; /* the earliest time the answer may change with nothing else changing */
};

/*
 * 1 when `pwnm hook which` has something to do, 0 when it would be idle
 * (then *f says what the answer was read from).
 */
static int
hook_has_work(const char *which, struct idle_facts *f)
{
	notmuch_database_t *db = NULL;
	struct pwnm_config cfg;
	pwnm_state_t *st = NULL;
	pwnm_txn_t *txn = NULL;
	char *err = NULL;
	const char *uuid = NULL;
	unsigned long rev;
	enum work_reason why = WORK_UNSYNCED;

	if (nm_open(NULL, NULL, 0, 0, &db, &err)) {
		free(err);
		return 1;
	}
	if (config_load(db, 1, &cfg, &err)) {
		free(err);
		notmuch_database_destroy(db);
		return 1; /* pwnm hook decides what to say (or not) */
	}
	f->until = INT64_MAX;
	if (cfg.hook_mode == HOOK_OFF) {
		/* Nothing runs until the settings change; the state database is not read. */
		if (stamp_store_txn(cfg.state_dir, &f->txn) == 0)
			why = WORK_NONE;
		goto out;
	}
	/* A state directory pwnm cannot use is no reason to fail notmuch new. */
	if (private_dir(cfg.state_dir, &err) < 0) {
		warn("%s; pwnm did nothing in this notmuch new", err);
		why = WORK_NONE;
		goto out;
	}
	rev = notmuch_database_get_revision(db, &uuid);
	if (state_open(cfg.state_dir, 0, &st, &err) || state_txn_begin(st, 0, &txn))
		goto out;
	f->txn = state_txn_id(txn);
	why = has_work(txn, &cfg, which, uuid, rev, now_unix(), &f->until);
	if (why == WORK_NONE) {
		/* The settings were said to be wrong and are right again: pwnm hook forgets it. */
		char *note = NULL;

		if (state_meta_get(txn, META_NOTE_SETTINGS, &note) == PWNM_STATUS_SUCCESS && note)
			why = WORK_SETTINGS_NOTE;
		free(note);
	}
out:
	debug("hook", "%s: %s", which, work_reason_name(why));
	if (why == WORK_NONE) {
		f->db_path = xstrdup(cfg.db_path);
		f->state_dir = xstrdup(cfg.state_dir);
	}
	if (txn)
		state_txn_abort(txn);
	if (st)
		state_close(st);
	free(err);
	config_free(&cfg);
	notmuch_database_destroy(db);
	return why != WORK_NONE;
}

int
main(int argc, char **argv)
{
	const char *which;
	struct stamp old, s = { 0 };
	struct idle_facts f = { 0 };
	char *pre = NULL;

	util_set_progname("pwnm-hook");
	if (argc != 2 || (strcmp(argv[1], "pre-new") != 0 && strcmp(argv[1], "post-new") != 0 &&
			  strcmp(argv[1], "post-insert") != 0)) {
		fprintf(stderr, "usage: pwnm-hook pre-new|post-new|post-insert\n");
		return 2;
	}
	which = argv[1];
	debug_init(getenv("PWNM_DEBUG"));
	if (getenv("PWNM_HOOK_ALWAYS"))
		hand_over(which);
	/*
	 * The versions the stamp records are taken before anything is read,
	 * so a change made while this runs makes the stamp not hold.  The
	 * database path comes from the last stamp: until there is one, the
	 * stamp written only records the paths, and the next idle answer
	 * makes a stamp that holds.
	 */
	if (stamp_load(which, &old) == 0 && old.db_path)
		pre = stamp_text(old.db_path);
	if (hook_has_work(which, &f)) {
		stamp_free(&old);
		free(pre);
		hand_over(which);
	}
	s.state_dir = f.state_dir;
	s.txn = f.txn;
	s.until = f.until;
	if (pre && strcmp(old.db_path, f.db_path) == 0) {
		s.text = pre;
	} else {
		s.text = xasprintf("db %s\n", f.db_path);
		s.until = 0;
	}
	if (!strchr(f.db_path, '\n'))
		stamp_save(which, &s);
	debug("hook", "%s: idle%s", which, s.until ? "; stamped" : "; paths stamped");
	if (s.text != pre)
		free(s.text);
	free(pre);
	free(f.db_path);
	free(f.state_dir);
	stamp_free(&old);
	return 0;
}

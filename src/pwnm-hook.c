/* pwnm-hook.c - the notmuch hooks' first step: finish at once when pwnm has nothing to do */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <notmuch.h>

#include "libconfig.h"
#include "libnm.h"
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
 * by itself.
 */

static void
hand_over(const char *which)
{
	const char *env = getenv("PWNM");
	char self[PATH_MAX], *pwnm = NULL;
	ssize_t n;

	if (env && *env) {
		pwnm = xstrdup(env);
	} else {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n > 0) {
			char *slash;

			self[n] = '\0';
			slash = strrchr(self, '/');
			if (slash) {
				*slash = '\0';
				pwnm = xasprintf("%s/pwnm", self);
			}
		}
	}
	if (pwnm && access(pwnm, X_OK) == 0)
		execl(pwnm, "pwnm", "hook", which, (char *)NULL);
	execlp("pwnm", "pwnm", "hook", which, (char *)NULL);
	warn("cannot run 'pwnm hook %s':", which);
	exit(0);
}

/* 1 when `pwnm hook which` has something to do, 0 when it would be idle. */
static int
hook_has_work(const char *which)
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
	if (cfg.hook_mode == HOOK_OFF) {
		why = WORK_NONE;
		goto out;
	}
	rev = notmuch_database_get_revision(db, &uuid);
	if (state_open(cfg.state_dir, 0, &st, &err) || state_txn_begin(st, 0, &txn))
		goto out;
	why = has_work(txn, &cfg, which, uuid, rev, now_unix());
out:
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

	util_set_progname("pwnm-hook");
	if (argc != 2 || (strcmp(argv[1], "pre-new") != 0 && strcmp(argv[1], "post-new") != 0 &&
			  strcmp(argv[1], "post-insert") != 0)) {
		fprintf(stderr, "usage: pwnm-hook pre-new|post-new|post-insert\n");
		return 2;
	}
	which = argv[1];
	if (getenv("PWNM_HOOK_ALWAYS") || hook_has_work(which))
		hand_over(which);
	return 0;
}

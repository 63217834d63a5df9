/* pwnm-hook-idle.c - the notmuch hooks' entry point: ends at once while the idle stamp holds */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libstamp.h"
#include "libutil.h"

/*
 * notmuch runs this (through a link named pre-new, post-new or
 * post-insert, or as `pwnm-hook-idle NAME`) on every notmuch new.  It
 * loads neither libnotmuch nor any HTTP library: when the stamp that
 * pwnm-hook left after its last idle answer for this hook still holds
 * (libstamp.h), the answer is the same and it ends.  Otherwise it runs
 * pwnm-hook NAME, which decides, and hands over to `pwnm hook NAME`
 * when there is work.  It never fails notmuch new.
 */

int
main(int argc, char **argv)
{
	const char *which = argc == 2 ? argv[1] : strrchr(argv[0], '/');
	struct stamp s;
	char *next;

	if (argc != 2)
		which = which ? which + 1 : argv[0];
	util_set_progname("pwnm-hook-idle");
	if (argc > 2 || !stamp_hook_name(which)) {
		fprintf(stderr, "usage: pwnm-hook-idle pre-new|post-new|post-insert (or a link by that name)\n");
		return 2;
	}
	debug_init(getenv("PWNM_DEBUG"));
	if (!getenv("PWNM_HOOK_ALWAYS") && stamp_load(which, &s) == 0) {
		int holds = stamp_holds(&s, now_unix());

		stamp_free(&s);
		if (holds) {
			debug("hook", "%s: idle (the stamp holds)", which);
			return 0;
		}
	}
	next = self_sibling("pwnm-hook");
	if (next)
		execl(next, "pwnm-hook", which, (char *)NULL);
	execlp("pwnm-hook", "pwnm-hook", which, (char *)NULL);
	warn("cannot run 'pwnm-hook %s' (reinstall pwnm); the %s hook did nothing:", which, which);
	return 0;
}

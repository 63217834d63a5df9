/* libgit.h - git run as a subprocess: the commits of a range, their messages and diffs */
#ifndef PWNM_LIBGIT_H
#define PWNM_LIBGIT_H

#include <stddef.h>

#include "libstatus.h"
#include "libutil.h"

/*
 * Every call runs `git [-C dir] ARGS` from an argument vector (no shell;
 * dir NULL: the current directory), stdin from /dev/null, and collects
 * its standard output.  Failures set *err (caller frees) to one line:
 * PWNM_STATUS_IO when git cannot be started (not installed), USAGE
 * when git refused (not a repository, an unknown revision: git's own
 * first error line is quoted), IO for anything else.
 */

/*
 * Run git with args (a NULL-terminated list, without "git" itself).
 * SUCCESS only when git exits 0; *out gets its standard output either
 * way (NUL-terminated once anything arrived).
 */
pwnm_status_t git_run(const char *dir, const char *const *args, struct buf *out, char **err);

/* dir (NULL: the current directory) is inside a git repository; else USAGE with a message. */
pwnm_status_t git_check_repo(const char *dir, char **err);

struct git_commit {
	char *id;      /* full commit id (40 or 64 hex digits) */
	char *message; /* the commit message as git prints it (%B) */
};
void git_commits_free(struct git_commit *c, size_t n);

/*
 * The commits `git rev-list --reverse --no-merges REVS` names (oldest
 * first; merge commits carry no patch of their own), with their
 * messages.  revs are passed after --end-of-options, so none is read as
 * an option.  An unknown revision or range is USAGE, naming it.
 * *out NULL and *n 0 on failure or for an empty range; caller frees
 * with git_commits_free.
 */
pwnm_status_t git_commits(const char *dir, const char *const *revs, size_t nrevs,
			  struct git_commit **out, size_t *n, char **err);

/*
 * The diff of one commit against its parent, as `git show --format=
 * --no-color <id>` prints it, with the options that keep a user's git
 * configuration from changing its shape (a/ b/ prefixes, no external
 * diff or textconv, paths from the top of the tree).
 */
pwnm_status_t git_commit_diff(const char *dir, const char *id, struct buf *out, char **err);

#endif

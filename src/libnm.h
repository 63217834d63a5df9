/* libnm.h - notmuch glue: opening with lock waits, a mail's pw/ tags, diff-only tag writes */
#ifndef PWNM_LIBNM_H
#define PWNM_LIBNM_H

#include <stddef.h>
#include <stdint.h>

#include <notmuch.h>

#include "libstatus.h"
#include "libtagset.h"

/*
 * Open the notmuch database the way notmuch does (config_path NULL:
 * NOTMUCH_CONFIG or the default; profile NULL: NOTMUCH_PROFILE).  In
 * write mode a database locked by another writer is retried every 50 ms
 * until wait_ms has passed, then PWNM_STATUS_NOTMUCH_LOCKED.  On failure
 * *db is NULL and *err a one-line message (caller frees).
 */
pwnm_status_t nm_open(const char *config_path, const char *profile, int write, int64_t wait_ms,
		      notmuch_database_t **db, char **err);

/*
 * Wait until no other process holds the write lock of the Xapian database
 * under db_path (libnotmuch itself would block for as long as the other
 * writer keeps it).  0 when free (or the lock file is not found), -1 when
 * still held after wait_ms.  A writer that takes the lock just after this
 * returns still makes the open wait for it.
 */
int nm_wait_unlocked(const char *db_path, int64_t wait_ms);

/* The pw/ tags of a message into out (which must be empty). */
void nm_message_pw_tags(notmuch_message_t *msg, struct tagset *out);

/*
 * Make the pw/ tags of msg equal to want: only the differences are
 * written, inside freeze/thaw.  *changed is set when anything was
 * written.  Tags outside pw/ are never touched, so the mail's files are
 * not either: maildir flags follow only tags outside pw/ (draft, flagged,
 * passed, replied, unread), so no flag sync is asked of notmuch.
 */
pwnm_status_t nm_message_set_pw_tags(notmuch_message_t *msg, const struct tagset *cur,
				     const struct tagset *want, int *changed, char **err);

/* Quote a notmuch-form msgid as an id: query term (doubling quotes).  Caller frees. */
char *nm_id_query(const char *nm_msgid);

#endif

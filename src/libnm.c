/* libnm.c - notmuch glue: opening with lock waits, a mail's pw/ tags, diff-only tag writes */
#include "libnm.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libutil.h"

/* 1 when another process holds Xapian's write lock on flintlock, 0 when not or unknown. */
static int
write_locked(const char *flintlock)
{
	struct flock fl = { 0 };
	int fd = open(flintlock, O_RDWR | O_CLOEXEC), locked = 0;

	if (fd < 0)
		return 0;
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
		locked = 1;
	close(fd);
	return locked;
}

int
nm_wait_unlocked(const char *db_path, int64_t wait_ms)
{
	static const char *const where[] = { "%s/.notmuch/xapian/flintlock", "%s/xapian/flintlock" };
	int64_t until = now_ms() + wait_ms;
	char *lock = NULL;
	size_t i;

	for (i = 0; i < sizeof(where) / sizeof(*where) && !lock; i++) {
		char *p = xasprintf(where[i], db_path);

		if (access(p, F_OK) == 0)
			lock = p;
		else
			free(p);
	}
	if (!lock)
		return 0;
	while (write_locked(lock)) {
		if (now_ms() >= until) {
			free(lock);
			return -1;
		}
		nanosleep(&(struct timespec){ 0, 50 * 1000000L }, NULL);
	}
	free(lock);
	return 0;
}

static int
is_lock_error(notmuch_status_t st, const char *msg)
{
	return st == NOTMUCH_STATUS_XAPIAN_EXCEPTION && msg &&
	       (strstr(msg, "lock") || strstr(msg, "Lock"));
}

pwnm_status_t
nm_open(const char *config_path, const char *profile, int write, int64_t wait_ms,
	notmuch_database_t **db, char **err)
{
	int64_t until = now_ms() + wait_ms;
	notmuch_status_t st;
	char *msg = NULL;

	*db = NULL;
	*err = NULL;
	for (;;) {
		st = notmuch_database_open_with_config(
			NULL, write ? NOTMUCH_DATABASE_MODE_READ_WRITE : NOTMUCH_DATABASE_MODE_READ_ONLY,
			config_path, profile, db, &msg);
		if (st == NOTMUCH_STATUS_SUCCESS) {
			free(msg);
			return PWNM_STATUS_SUCCESS;
		}
		if (!write || !is_lock_error(st, msg) || now_ms() >= until)
			break;
		free(msg);
		msg = NULL;
		nanosleep(&(struct timespec){ 0, 50 * 1000000L }, NULL);
	}
	if (msg) {
		size_t n = strlen(msg);

		while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
			msg[--n] = '\0';
	}
	if (write && is_lock_error(st, msg)) {
		*err = xasprintf("the notmuch database is locked by another writer (waited %lld ms)",
				 (long long)wait_ms);
		free(msg);
		return PWNM_STATUS_NOTMUCH_LOCKED;
	}
	*err = xasprintf("cannot open the notmuch database: %s",
			 msg && *msg ? msg : notmuch_status_to_string(st));
	free(msg);
	return PWNM_STATUS_NOTMUCH;
}

void
nm_message_pw_tags(notmuch_message_t *msg, struct tagset *out)
{
	notmuch_tags_t *tags = notmuch_message_get_tags(msg);

	for (; notmuch_tags_valid(tags); notmuch_tags_move_to_next(tags)) {
		const char *t = notmuch_tags_get(tags);

		if (strncmp(t, "pw/", 3) == 0)
			tagset_add(out, t);
	}
	notmuch_tags_destroy(tags);
}

pwnm_status_t
nm_message_set_pw_tags(notmuch_message_t *msg, const struct tagset *cur, const struct tagset *want,
		       int *changed, char **err)
{
	notmuch_status_t st = NOTMUCH_STATUS_SUCCESS;
	size_t i;

	*changed = 0;
	*err = NULL;
	if (tagset_equal(cur, want))
		return PWNM_STATUS_SUCCESS;
	st = notmuch_message_freeze(msg);
	if (st)
		goto fail;
	for (i = 0; i < cur->n && !st; i++)
		if (!tagset_has(want, cur->v[i]))
			st = notmuch_message_remove_tag(msg, cur->v[i]);
	for (i = 0; i < want->n && !st; i++)
		if (!tagset_has(cur, want->v[i]))
			st = notmuch_message_add_tag(msg, want->v[i]);
	if (st) {
		notmuch_message_thaw(msg);
		goto fail;
	}
	st = notmuch_message_thaw(msg);
	if (st)
		goto fail;
	*changed = 1;
	return PWNM_STATUS_SUCCESS;
fail:
	*err = xasprintf("cannot change the tags of <%s>: %s", notmuch_message_get_message_id(msg),
			 notmuch_status_to_string(st));
	return PWNM_STATUS_NOTMUCH;
}

char *
nm_id_query(const char *nm_msgid)
{
	struct buf b = { 0 };
	const char *p;

	buf_adds(&b, "id:\"");
	for (p = nm_msgid; *p; p++) {
		if (*p == '"')
			buf_addc(&b, '"');
		buf_addc(&b, *p);
	}
	buf_addc(&b, '"');
	return buf_release(&b);
}

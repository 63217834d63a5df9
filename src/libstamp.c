/* libstamp.c - the hooks' idle stamp: proof that nothing an idle answer rests on has changed */
#include "libstamp.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#include "libutil.h"

#define STAMP_HEADER "pwnm hook stamp 1\n"
#define STAMP_MAX (64 * 1024)       /* a stamp file is a few hundred bytes */
#define CONFIG_MAX (4 * 1024 * 1024) /* a notmuch configuration file larger than this is not stamped */
#define XAPIAN_MAX 4096             /* Xapian's version file is about 100 bytes */

/* What notmuch and pwnm read their settings and paths through. */
static const char *const stamp_env[] = {
	"NOTMUCH_CONFIG", "NOTMUCH_PROFILE", "NOTMUCH_DATABASE", "MAILDIR",        "HOME",
	"XDG_CONFIG_HOME", "XDG_DATA_HOME",  "XDG_STATE_HOME",   "XDG_CACHE_HOME",
};

/* Where the Xapian database of a notmuch database path may be (as libnm's lock wait). */
static const char *const xapian_version[] = { "%s/.notmuch/xapian/iamglass", "%s/xapian/iamglass" };

int
stamp_hook_name(const char *name)
{
	return name && (strcmp(name, "pre-new") == 0 || strcmp(name, "post-new") == 0 ||
			strcmp(name, "post-insert") == 0);
}

/*
 * Up to max bytes of a file; -1 when it cannot be read or is larger (then
 * *len is 0).  flags adds to O_RDONLY (O_NOFOLLOW for pwnm's own files).
 */
static int
read_file(const char *path, int flags, size_t max, struct buf *b)
{
	char chunk[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | flags);

	buf_reset(b);
	if (fd < 0)
		return -1;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (b->len + (size_t)n > max) {
			n = -1;
			break;
		}
		buf_add(b, chunk, (size_t)n);
	}
	close(fd);
	if (n != 0) {
		buf_reset(b);
		return -1;
	}
	return 0;
}

static uint64_t
fnv1a(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 14695981039346656037ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* The environment lines; -1 when a value cannot be written on one line. */
static int
env_lines(struct buf *out)
{
	size_t i;

	for (i = 0; i < sizeof(stamp_env) / sizeof(stamp_env[0]); i++) {
		const char *v = getenv(stamp_env[i]);

		if (v && strchr(v, '\n'))
			return -1;
		if (v)
			buf_printf(out, "env %s=%s\n", stamp_env[i], v);
		else
			buf_printf(out, "env %s\n", stamp_env[i]);
	}
	return 0;
}

/* Where the stamp of hook `which` is for this environment; NULL when there is no place. */
static char *
stamp_path(const char *which)
{
	struct buf env = { 0 };
	const char *cache = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char *path = NULL;

	if (!getenv("NOTMUCH_CONFIG") || env_lines(&env) < 0)
		goto out;
	if (cache && *cache == '/')
		path = xasprintf("%s/pwnm/hooks/%s-%016" PRIx64, cache, which, fnv1a(env.data, env.len));
	else if (home && *home == '/')
		path = xasprintf("%s/.cache/pwnm/hooks/%s-%016" PRIx64, home, which,
				 fnv1a(env.data, env.len));
out:
	buf_free(&env);
	return path;
}

char *
stamp_text(const char *db_path)
{
	struct buf out = { 0 }, file = { 0 };
	const char *config = getenv("NOTMUCH_CONFIG");
	size_t i, j;
	int found = 0;

	if (!config || !db_path || strchr(db_path, '\n') || env_lines(&out) < 0)
		goto fail;
	if (read_file(config, 0, CONFIG_MAX, &file) < 0)
		goto fail;
	buf_printf(&out, "config %zu %016" PRIx64 "\n", file.len, fnv1a(file.data, file.len));
	buf_printf(&out, "db %s\n", db_path);
	for (i = 0; i < sizeof(xapian_version) / sizeof(xapian_version[0]); i++) {
		char *p = xasprintf(xapian_version[i], db_path);

		if (read_file(p, 0, XAPIAN_MAX, &file) == 0 && file.len > 0) {
			buf_printf(&out, "xapian %zu ", i);
			for (j = 0; j < file.len; j++)
				buf_printf(&out, "%02x", (unsigned char)file.data[j]);
			buf_addc(&out, '\n');
			found = 1;
		} else {
			buf_printf(&out, "xapian %zu -\n", i);
		}
		free(p);
	}
	if (!found)
		goto fail;
	buf_free(&file);
	return buf_release(&out);
fail:
	buf_free(&file);
	buf_free(&out);
	return NULL;
}

int
stamp_store_txn(const char *state_dir, uint64_t *txn)
{
	MDB_env *env = NULL;
	MDB_envinfo info;
	int rc;

	*txn = 0;
	if (mdb_env_create(&env) != MDB_SUCCESS)
		return -1;
	/* Only the meta pages are read: no reader slot, no lock file touched. */
	rc = mdb_env_open(env, state_dir, MDB_RDONLY | MDB_NOLOCK, 0600);
	if (rc == MDB_SUCCESS)
		rc = mdb_env_info(env, &info);
	mdb_env_close(env);
	if (rc != MDB_SUCCESS)
		return -1;
	*txn = (uint64_t)info.me_last_txnid;
	return 0;
}

void
stamp_free(struct stamp *s)
{
	free(s->db_path);
	free(s->text);
	free(s->state_dir);
	memset(s, 0, sizeof(*s));
}

/* The rest of the line after prefix at *p (moving *p past the line), or NULL. */
static char *
take_line(char **p, const char *prefix)
{
	size_t n = strlen(prefix);
	char *nl, *v;

	if (strncmp(*p, prefix, n) != 0 || !(nl = strchr(*p, '\n')))
		return NULL;
	v = xstrndup(*p + n, (size_t)(nl - *p) - n);
	*p = nl + 1;
	return v;
}

int
stamp_load(const char *which, struct stamp *s)
{
	struct buf b = { 0 };
	char *path = stamp_path(which), *p, *state, *v = NULL;
	uint64_t u;
	int rc = -1;

	memset(s, 0, sizeof(*s));
	/* a stamp is pwnm's own file: a link in its place is no stamp */
	if (!path || read_file(path, O_NOFOLLOW, STAMP_MAX, &b) < 0)
		goto out;
	buf_addc(&b, '\0');
	if (strncmp(b.data, STAMP_HEADER, strlen(STAMP_HEADER)) != 0)
		goto out;
	p = b.data + strlen(STAMP_HEADER);
	/* The text runs up to the state line; its db line names the database. */
	state = strstr(p - 1, "\nstate ");
	if (!state)
		goto out;
	s->text = xstrndup(p, (size_t)(state - p) + 1);
	{
		char *db = strncmp(s->text, "db ", 3) == 0 ? s->text : strstr(s->text, "\ndb ");

		if (db) {
			db += *db == '\n';
			s->db_path = take_line(&db, "db ");
		}
	}
	p = state + 1;
	if (!(s->state_dir = take_line(&p, "state ")))
		goto out;
	if (!(v = take_line(&p, "txn ")) || parse_u64(v, &s->txn) < 0)
		goto out;
	free(v);
	if (!(v = take_line(&p, "until ")) || parse_u64(v, &u) < 0 || u > INT64_MAX || *p)
		goto out;
	s->until = (int64_t)u;
	rc = 0;
out:
	free(v);
	free(path);
	buf_free(&b);
	if (rc)
		stamp_free(s);
	return rc;
}

int
stamp_holds(const struct stamp *s, int64_t now)
{
	char *text;
	uint64_t txn;
	int same;

	if (now >= s->until || !s->db_path) {
		debug("hook", "stamp: %s", s->until == 0 ? "paths only" : "its time has come");
		return 0;
	}
	text = stamp_text(s->db_path);
	same = text && strcmp(text, s->text) == 0;
	free(text);
	if (!same) {
		debug("hook", "stamp: the settings or the notmuch database changed");
		return 0;
	}
	if (stamp_store_txn(s->state_dir, &txn) < 0 || txn != s->txn) {
		debug("hook", "stamp: the state database changed");
		return 0;
	}
	return 1;
}

int
stamp_save(const char *which, const struct stamp *s)
{
	char *path = stamp_path(which), *tmp = NULL, *slash;
	struct buf b = { 0 };
	int fd = -1, rc = -1;
	size_t off = 0;

	if (!path || !s->text || !s->state_dir || strchr(s->state_dir, '\n'))
		goto out;
	buf_adds(&b, STAMP_HEADER);
	buf_adds(&b, s->text);
	buf_printf(&b, "state %s\ntxn %" PRIu64 "\nuntil %" PRId64 "\n", s->state_dir, s->txn,
		   s->until < 0 ? 0 : s->until);
	slash = strrchr(path, '/');
	*slash = '\0';
	if (mkdir_p(path, 0700) < 0)
		goto out;
	*slash = '/';
	tmp = xasprintf("%s.%ld.tmp", path, (long)getpid());
	/* a new file of its own: never through a link or into a file someone left there */
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		goto out;
	while (off < b.len) {
		ssize_t n = write(fd, b.data + off, b.len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		off += (size_t)n;
	}
	if (close(fd) < 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto out;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc && tmp)
		unlink(tmp);
	free(tmp);
	free(path);
	buf_free(&b);
	return rc;
}

void
stamp_remove(const char *which)
{
	char *path = stamp_path(which);

	if (path)
		unlink(path);
	free(path);
}

/* libgit.c - git run as a subprocess (posix_spawn, an argument vector, no shell) */
#include "libgit.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Bigger output than this from one git call is refused rather than held in memory. */
#define GIT_MAX_OUTPUT ((size_t)512 << 20)

/* The first line of git's error output with its "fatal: " / "error: " prefix dropped. */
static char *
first_error_line(const struct buf *e)
{
	const char *s = e->len ? e->data : "", *nl;
	size_t n;

	while (*s == '\n')
		s++;
	if (strncmp(s, "fatal: ", 7) == 0)
		s += 7;
	else if (strncmp(s, "error: ", 7) == 0)
		s += 7;
	nl = strchr(s, '\n');
	n = nl ? (size_t)(nl - s) : strlen(s);
	if (n > 300)
		n = 300;
	return xstrndup(s, n);
}

static void
set_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	if (fl >= 0)
		fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

/*
 * Read the child's stdout and stderr until both close (each closed and
 * set to -1 at its end).  0, or -1 (errno) on a read error or too much
 * output.
 */
static int
drain(int *ofd, int *efd, struct buf *out, struct buf *errb)
{
	struct pollfd p[2];
	char chunk[65536];
	int *fds[2] = { ofd, efd };

	p[0].fd = *ofd;
	p[1].fd = *efd;
	p[0].events = p[1].events = POLLIN;
	while (p[0].fd >= 0 || p[1].fd >= 0) {
		int i;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (i = 0; i < 2; i++) {
			ssize_t got;

			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			got = read(p[i].fd, chunk, sizeof(chunk));
			if (got < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (got <= 0) {
				close(p[i].fd);
				p[i].fd = *fds[i] = -1;
				continue;
			}
			if (i == 0) {
				if (out->len + (size_t)got > GIT_MAX_OUTPUT) {
					errno = EFBIG;
					return -1;
				}
				buf_add(out, chunk, (size_t)got);
			} else if (errb->len < 16384) {
				buf_add(errb, chunk, (size_t)got);
			}
		}
	}
	return 0;
}

pwnm_status_t
git_run(const char *dir, const char *const *args, struct buf *out, char **err)
{
	posix_spawn_file_actions_t fa;
	const char **argv;
	struct buf errb = { 0 };
	size_t n = 0, i = 0;
	int opipe[2] = { -1, -1 }, epipe[2] = { -1, -1 };
	int rc, wst = 0, drained;
	pid_t pid;
	pwnm_status_t st = PWNM_STATUS_SUCCESS;

	*err = NULL;
	while (args[n])
		n++;
	argv = xcalloc(n + 4, sizeof(*argv));
	argv[i++] = "git";
	if (dir) {
		argv[i++] = "-C";
		argv[i++] = dir;
	}
	memcpy(argv + i, args, n * sizeof(*argv));
	if (pipe(opipe) < 0 || pipe(epipe) < 0) {
		*err = xasprintf("cannot run git: pipe: %s", strerror(errno));
		st = PWNM_STATUS_IO;
		goto out_pipes;
	}
	set_cloexec(opipe[0]);
	set_cloexec(epipe[0]);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, opipe[1], 1);
	posix_spawn_file_actions_adddup2(&fa, epipe[1], 2);
	posix_spawn_file_actions_addclose(&fa, opipe[1]);
	posix_spawn_file_actions_addclose(&fa, epipe[1]);
	rc = posix_spawnp(&pid, "git", &fa, NULL, (char *const *)(uintptr_t)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(opipe[1]);
	close(epipe[1]);
	opipe[1] = epipe[1] = -1;
	if (rc != 0) {
		*err = xasprintf("cannot run git: %s%s", strerror(rc),
				 rc == ENOENT ? " (is git installed and on PATH?)" : "");
		st = PWNM_STATUS_IO;
		goto out_pipes;
	}
	drained = drain(&opipe[0], &epipe[0], out, &errb);
	if (drained < 0) {
		int e = errno;

		kill(pid, SIGTERM);
		for (i = 0; i < 2; i++) {
			int *fd = i ? &epipe[0] : &opipe[0];

			if (*fd >= 0)
				close(*fd);
			*fd = -1;
		}
		*err = xasprintf("reading the output of git %s: %s", args[0], strerror(e));
		st = PWNM_STATUS_IO;
	}
	while (waitpid(pid, &wst, 0) < 0) {
		if (errno != EINTR) {
			if (!*err)
				*err = xasprintf("waiting for git: %s", strerror(errno));
			st = PWNM_STATUS_IO;
			goto out_pipes;
		}
	}
	if (st)
		goto out_pipes;
	if (WIFEXITED(wst) && WEXITSTATUS(wst) == 0)
		goto out_pipes;
	if (WIFEXITED(wst) && WEXITSTATUS(wst) == 127 && !errb.len) {
		*err = xstrdup("cannot run git (exit 127)");
		st = PWNM_STATUS_IO;
	} else if (WIFEXITED(wst)) {
		*err = first_error_line(&errb);
		if (!**err) {
			free(*err);
			*err = xasprintf("git %s exited with status %d", args[0], WEXITSTATUS(wst));
		}
		st = PWNM_STATUS_USAGE;
	} else {
		*err = xasprintf("git %s was killed by signal %d", args[0],
				 WIFSIGNALED(wst) ? WTERMSIG(wst) : 0);
		st = PWNM_STATUS_IO;
	}
out_pipes:
	for (i = 0; i < 2; i++) {
		if (opipe[i] >= 0)
			close(opipe[i]);
		if (epipe[i] >= 0)
			close(epipe[i]);
	}
	buf_free(&errb);
	free(argv);
	return st;
}

pwnm_status_t
git_check_repo(const char *dir, char **err)
{
	static const char *const args[] = { "rev-parse", "--git-dir", NULL };
	struct buf out = { 0 };
	char *why = NULL;
	pwnm_status_t rc = git_run(dir, args, &out, &why);

	buf_free(&out);
	*err = NULL;
	if (rc == PWNM_STATUS_USAGE) {
		*err = xasprintf("'%s' is not in a git repository (%s); run this inside your tree, "
				 "or give -C DIR",
				 dir ? dir : ".", why);
		free(why);
	} else if (rc) {
		*err = why;
	} else {
		free(why);
	}
	return rc;
}

void
git_commits_free(struct git_commit *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(c[i].id);
		free(c[i].message);
	}
	free(c);
}

static int
is_hex_id(const char *s, size_t n)
{
	size_t i;

	if (n != 40 && n != 64)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

pwnm_status_t
git_commits(const char *dir, const char *const *revs, size_t nrevs, struct git_commit **out,
	    size_t *n, char **err)
{
	static const char *const fixed[] = { "rev-list",	   "--reverse",
					     "--no-merges",	   "--no-commit-header",
					     "--format=%x00%H%n%B", "--end-of-options" };
	const size_t nfixed = sizeof(fixed) / sizeof(*fixed);
	const char **args = xcalloc(nfixed + nrevs + 1, sizeof(*args));
	struct buf b = { 0 };
	struct git_commit *list = NULL;
	size_t cnt = 0, i;
	const char *p, *end;
	char *why = NULL;
	pwnm_status_t rc;

	*out = NULL;
	*n = 0;
	*err = NULL;
	memcpy(args, fixed, sizeof(fixed));
	for (i = 0; i < nrevs; i++)
		args[nfixed + i] = revs[i];
	rc = git_run(dir, args, &b, &why);
	free(args);
	if (rc == PWNM_STATUS_USAGE) {
		struct buf r = { 0 };

		for (i = 0; i < nrevs; i++)
			buf_printf(&r, "%s%s", i ? " " : "", revs[i]);
		*err = xasprintf("git cannot list the commits of '%s': %s", r.data ? r.data : "", why);
		buf_free(&r);
		free(why);
		buf_free(&b);
		return rc;
	}
	if (rc) {
		*err = why;
		buf_free(&b);
		return rc;
	}
	free(why);
	/* Records: NUL, the id, a newline, the message (up to the next NUL). */
	p = b.data;
	end = b.data + b.len;
	while (p && p < end) {
		const char *rec, *nl, *next;

		if (*p != '\0') {
			p = memchr(p, '\0', (size_t)(end - p));
			continue;
		}
		rec = p + 1;
		next = memchr(rec, '\0', (size_t)(end - rec));
		if (!next)
			next = end;
		nl = memchr(rec, '\n', (size_t)(next - rec));
		if (!nl)
			nl = next;
		if (is_hex_id(rec, (size_t)(nl - rec))) {
			list = xreallocarray(list, cnt + 1, sizeof(*list));
			list[cnt].id = xstrndup(rec, (size_t)(nl - rec));
			list[cnt].message = xstrndup(nl < next ? nl + 1 : nl,
						     (size_t)(next - (nl < next ? nl + 1 : nl)));
			cnt++;
		}
		p = next;
	}
	buf_free(&b);
	*out = list;
	*n = cnt;
	return PWNM_STATUS_SUCCESS;
}

pwnm_status_t
git_commit_diff(const char *dir, const char *id, struct buf *out, char **err)
{
	const char *args[] = { "show",		 "--format=",		"--no-color",
			       "--no-ext-diff",	 "--no-textconv",	"--no-relative",
			       "--src-prefix=a/", "--dst-prefix=b/",	"--no-show-signature",
			       id,		 "--",			NULL };
	char *why = NULL;
	pwnm_status_t rc = git_run(dir, args, out, &why);

	*err = NULL;
	if (rc) {
		*err = xasprintf("git show %s: %s", id, why);
		free(why);
	} else {
		free(why);
	}
	return rc;
}

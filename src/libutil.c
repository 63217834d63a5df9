/* libutil.c - allocation that never fails, messages, buffers, parsing helpers */
#include "libutil.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *progname = "pwnm";

void
util_set_progname(const char *argv0)
{
	const char *slash;

	if (!argv0 || !*argv0)
		return;
	slash = strrchr(argv0, '/');
	progname = slash ? slash + 1 : argv0;
}

const char *
util_progname(void)
{
	return progname;
}

static void
vwarn(const char *fmt, va_list ap)
{
	int saved = errno;
	size_t n = strlen(fmt);
	struct buf b = { 0 };
	char *msg = xvasprintf(fmt, ap);

	/* The message may quote a server or a mail: it is escaped as a whole. */
	buf_printf(&b, "%s: ", progname);
	buf_add_escaped(&b, msg);
	if (n > 0 && fmt[n - 1] == ':')
		buf_printf(&b, " %s", strerror(saved));
	buf_addc(&b, '\n');
	fputs(b.data, stderr);
	buf_free(&b);
	free(msg);
}

void
warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	exit(1);
}

static void ATTR_NORETURN
oom(void)
{
	fprintf(stderr, "%s: out of memory\n", progname);
	exit(1);
}

void *
xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (!p)
		oom();
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		oom();
	return p;
}

void *
xrealloc(void *p, size_t size)
{
	p = realloc(p, size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *
xreallocarray(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		oom();
	return xrealloc(p, n * size);
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

int
hex_digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *
xvasprintf(const char *fmt, va_list ap)
{
	va_list ap2;
	int n;
	char *p;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		oom();
	p = xmalloc((size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}

/* ---- debug ---- */

static char *debug_spec;

void
debug_init(const char *spec)
{
	free(debug_spec);
	debug_spec = spec && *spec ? xstrdup(spec) : NULL;
}

int
debug_on(const char *category)
{
	const char *p;
	size_t n = strlen(category);

	if (!debug_spec)
		return 0;
	for (p = debug_spec; *p;) {
		size_t len = strcspn(p, ",");

		if ((len == n && strncmp(p, category, n) == 0) ||
		    (len == 3 && strncmp(p, "all", 3) == 0))
			return 1;
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

void
debug(const char *category, const char *fmt, ...)
{
	va_list ap;
	struct buf b = { 0 };
	char *msg;

	if (!debug_on(category))
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	buf_printf(&b, "%s: [%s] ", progname, category);
	buf_add_escaped(&b, msg);
	buf_addc(&b, '\n');
	fputs(b.data, stderr);
	buf_free(&b);
	free(msg);
}

/* ---- buffers ---- */

static void
buf_grow(struct buf *b, size_t extra)
{
	size_t want;

	if (extra > SIZE_MAX - b->len - 1)
		oom();
	want = b->len + extra + 1;
	if (want <= b->cap)
		return;
	if (b->cap < 64)
		b->cap = 64;
	while (b->cap < want)
		b->cap = b->cap > SIZE_MAX / 2 ? want : b->cap * 2;
	b->data = xrealloc(b->data, b->cap);
}

void
buf_add(struct buf *b, const void *data, size_t len)
{
	buf_grow(b, len);
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_addc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	buf_adds(b, s);
	free(s);
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

char *
buf_release(struct buf *b)
{
	char *s = b->data ? b->data : xstrdup("");

	b->data = NULL;
	b->len = b->cap = 0;
	return s;
}

/* ---- time ---- */

/* Length of the UTF-8 sequence at p (1-4) and its code point; 0 when it is not valid UTF-8. */
static size_t
utf8_seq(const unsigned char *p, uint32_t *cp)
{
	size_t n, i;
	uint32_t c;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		c = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		c = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		c = p[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* Characters that change the order or visibility of the text around them. */
static int
is_format_char(uint32_t c)
{
	return (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c == 0x200e ||
	       c == 0x200f || c == 0x061c || (c >= 0x200b && c <= 0x200d) || c == 0x2060 ||
	       c == 0xfeff;
}

void
buf_add_escaped(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	buf_add(b, "", 0);
	while (*p) {
		uint32_t c = 0;
		size_t n = utf8_seq(p, &c);

		if (n == 0) {
			buf_printf(b, "\\x%02x", *p);
			p++;
			continue;
		}
		if (c == '\n')
			buf_adds(b, "\\n");
		else if (c == '\r')
			buf_adds(b, "\\r");
		else if (c == '\t')
			buf_adds(b, "\\t");
		else if (c < 0x20 || c == 0x7f)
			buf_printf(b, "\\x%02x", (unsigned)c);
		else if ((c >= 0x80 && c <= 0x9f) || is_format_char(c))
			buf_printf(b, "\\u{%04X}", (unsigned)c);
		else
			buf_add(b, p, n);
		p += n;
	}
}

char *
text_escape(const char *s)
{
	struct buf b = { 0 };

	buf_add_escaped(&b, s);
	return buf_release(&b);
}

const char *
text_arg(const char *s)
{
	static _Thread_local char *ring[TEXT_ARG_KEPT];
	static _Thread_local unsigned next;
	char **slot = &ring[next++ % TEXT_ARG_KEPT];

	free(*slot);
	*slot = text_escape(s);
	return *slot;
}

int
token_valid(const char *t)
{
	if (!t || !*t)
		return 0;
	for (; *t; t++)
		if ((unsigned char)*t < 0x21 || (unsigned char)*t > 0x7e)
			return 0;
	return 1;
}

int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
now_unix(void)
{
	return (int64_t)time(NULL);
}

/* ---- msgid ---- */

char *
msgid_to_notmuch(const char *msgid)
{
	const char *start, *end, *lt;
	struct buf b = { 0 };

	if (!msgid)
		return NULL;
	lt = strchr(msgid, '<');
	if (lt) {
		start = lt + 1;
		end = strchr(start, '>');
		if (!end)
			end = start + strlen(start);
	} else {
		start = msgid;
		end = msgid + strlen(msgid);
	}
	for (; start < end; start++) {
		if (*start == ' ' || *start == '\t' || *start == '\r' || *start == '\n')
			continue;
		buf_addc(&b, *start);
	}
	if (b.len == 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_release(&b);
}

/* ---- parsing ---- */

size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, d;
	/* three rows: i - 2, i - 1 and i, for the swap of neighbours */
	size_t *r2 = xcalloc(lb + 1, sizeof *r2);
	size_t *r1 = xcalloc(lb + 1, sizeof *r1);
	size_t *r0 = xcalloc(lb + 1, sizeof *r0);

	for (j = 0; j <= lb; j++)
		r1[j] = j;
	for (i = 1; i <= la; i++) {
		size_t *t;

		r0[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t best = r1[j - 1] + (a[i - 1] != b[j - 1]);

			if (r1[j] + 1 < best)
				best = r1[j] + 1;
			if (r0[j - 1] + 1 < best)
				best = r0[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    r2[j - 2] + 1 < best)
				best = r2[j - 2] + 1;
			r0[j] = best;
		}
		t = r2;
		r2 = r1;
		r1 = r0;
		r0 = t;
	}
	d = r1[lb];
	free(r0);
	free(r1);
	free(r2);
	return d;
}

long
nearest_name(const char *name, const char *const *names, size_t n)
{
	long best = -1;
	size_t i, bestd = 3;

	for (i = 0; i < n; i++) {
		size_t d;

		if (!names[i])
			continue;
		if (strcmp(name, names[i]) == 0)
			return -1;
		d = edit_distance(name, names[i]);
		if (d < bestd && 2 * d <= strlen(names[i])) {
			bestd = d;
			best = (long)i;
		}
	}
	return best;
}

int
parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

int
parse_bool(const char *s, int *out)
{
	static const char *const yes[] = { "true", "yes", "1", "on" };
	static const char *const no[] = { "false", "no", "0", "off" };
	size_t i;

	if (!s)
		return -1;
	for (i = 0; i < sizeof(yes) / sizeof(*yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

int
parse_duration(const char *s, int64_t *seconds)
{
	uint64_t v;
	char num[32];
	size_t n;
	int64_t mult = 1;

	if (!s)
		return -1;
	n = strspn(s, "0123456789");
	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, s, n);
	num[n] = '\0';
	if (parse_u64(num, &v) < 0)
		return -1;
	switch (s[n]) {
	case '\0':
	case 's': mult = 1; break;
	case 'm': mult = 60; break;
	case 'h': mult = 3600; break;
	case 'd': mult = 86400; break;
	case 'w': mult = 7 * 86400; break;
	default: return -1;
	}
	if (s[n] && s[n + 1])
		return -1;
	if (v > (uint64_t)INT64_MAX / (uint64_t)mult)
		return -1;
	*seconds = (int64_t)v * mult;
	return 0;
}

int64_t
iso_to_unix(const char *iso)
{
	struct tm tm = { 0 };
	int y, mo, d, h = 0, mi = 0, sec = 0;

	if (!iso || sscanf(iso, "%4d-%2d-%2d", &y, &mo, &d) != 3)
		return -1;
	if (strlen(iso) > 10 && (iso[10] == 'T' || iso[10] == ' ')) {
		if (sscanf(iso + 11, "%2d:%2d:%2d", &h, &mi, &sec) < 2)
			return -1;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	return (int64_t)timegm(&tm);
}

char *
unix_to_iso(int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;
	char s[64];

	gmtime_r(&tt, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	return xstrdup(s);
}

int
mkdir_p(const char *path, unsigned mode)
{
	char *p = xstrdup(path), *s;
	int rc = 0;

	for (s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			rc = -1;
			goto out;
		}
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		rc = -1;
out:
	free(p);
	return rc;
}

char *
self_sibling(const char *name)
{
	char self[PATH_MAX], *slash, *path;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return NULL;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	path = xasprintf("%s/%s", self, name);
	if (access(path, X_OK) == 0)
		return path;
	free(path);
	return NULL;
}

int
private_dir(const char *path, char **err)
{
	struct stat sb;

	*err = NULL;
	if (mkdir_p(path, 0700) < 0 || stat(path, &sb) < 0) {
		*err = xasprintf("cannot create state directory '%s': %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		*err = xasprintf("state directory '%s' is not a directory; remove it or set "
				 "pwnm.state_dir", path);
		return -1;
	}
	if (sb.st_uid != geteuid()) {
		*err = xasprintf("state directory '%s' belongs to user id %u, not to you; pwnm "
				 "keeps its state only in a directory of your own (set "
				 "pwnm.state_dir)", path, (unsigned)sb.st_uid);
		return -1;
	}
	if (sb.st_mode & (S_IWGRP | S_IWOTH)) {
		*err = xasprintf("state directory '%s' may be written by others (mode %04o); run "
				 "'chmod go-w %s'", path, (unsigned)(sb.st_mode & 07777), path);
		return -1;
	}
	return 0;
}

int
private_file_check(const char *path, char **err)
{
	struct stat sb;

	*err = NULL;
	if (lstat(path, &sb) < 0) {
		if (errno == ENOENT)
			return 0;
		*err = xasprintf("cannot check '%s': %s", path, strerror(errno));
		return -1;
	}
	if (S_ISLNK(sb.st_mode)) {
		*err = xasprintf("'%s' is a symbolic link, which pwnm does not follow in its state "
				 "directory; remove it", path);
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		*err = xasprintf("'%s' is not a regular file; remove it", path);
		return -1;
	}
	return 0;
}

int
open_private(const char *path, int flags, unsigned mode)
{
	struct stat sb;
	int fd = open(path, flags | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, (mode_t)mode);

	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	/* O_NONBLOCK only kept a FIFO from blocking the open; a file ignores it. */
	if (!(flags & O_NONBLOCK))
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

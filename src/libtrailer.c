/* libtrailer.c - Message-IDs from a commit message's Link: and Message-Id: trailers */
#include "libtrailer.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "libutil.h"

static int
blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* s[0..n) percent-decoded (a malformed escape stays as it is).  Caller frees. */
static char *
pct_decode(const char *s, size_t n)
{
	char *out = xmalloc(n + 1);
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		int hi = i + 2 < n && s[i] == '%' ? hex_digit_value(s[i + 1]) : -1;
		int lo = hi >= 0 ? hex_digit_value(s[i + 2]) : -1;

		if (lo >= 0 && hi * 16 + lo >= 0x20) {
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return out;
}

/*
 * id (without brackets) in notmuch's form when it looks like a
 * Message-ID (an '@' with text on both sides, no blanks, brackets or
 * control characters); else NULL.  Blanks are allowed only in a
 * bracketed header value, which notmuch's form drops.  Frees id.
 */
static char *
checked_id_(char *id, int blanks_ok)
{
	char *wrapped, *nm = NULL;
	const char *at;
	size_t i;

	for (i = 0; id[i]; i++)
		if (blank(id[i]) && !blanks_ok)
			goto out;
	wrapped = xasprintf("<%s>", id);
	nm = msgid_to_notmuch(wrapped);
	free(wrapped);
	if (!nm)
		goto out;
	at = strchr(nm, '@');
	if (!at || at == nm || !at[1])
		goto bad;
	for (i = 0; nm[i]; i++)
		if (blank(nm[i]) || nm[i] == '<' || nm[i] == '>' || (unsigned char)nm[i] < ' ')
			goto bad;
	goto out;
bad:
	free(nm);
	nm = NULL;
out:
	free(id);
	return nm;
}

static char *
checked_id(char *id)
{
	return checked_id_(id, 0);
}

static int
lore_view(const char *s, size_t n)
{
	static const char *const views[] = { "T", "t", "raw", "t.mbox.gz", "t.atom", NULL };
	size_t i;

	for (i = 0; views[i]; i++)
		if (strlen(views[i]) == n && memcmp(views[i], s, n) == 0)
			return 1;
	return 0;
}

static char *
url_msgid(const char *url, size_t n)
{
	const char *p, *end = url + n, *path, *last = NULL, *prev = NULL;
	size_t lastn = 0, prevn = 0;

	if (n > 8 && strncasecmp(url, "https://", 8) == 0)
		p = url + 8;
	else if (n > 7 && strncasecmp(url, "http://", 7) == 0)
		p = url + 7;
	else
		return NULL;
	path = memchr(p, '/', (size_t)(end - p));
	if (!path)
		return NULL;
	for (p = path; p < end; p++) {
		if (*p == '?' || *p == '#') {
			end = p;
			break;
		}
	}
	/* the last two non-empty components */
	for (p = path; p < end;) {
		const char *c;

		while (p < end && *p == '/')
			p++;
		if (p >= end)
			break;
		c = p;
		while (p < end && *p != '/')
			p++;
		prev = last;
		prevn = lastn;
		last = c;
		lastn = (size_t)(p - c);
	}
	if (!last)
		return NULL;
	if (lore_view(last, lastn) && prev) {
		last = prev;
		lastn = prevn;
	}
	return checked_id(pct_decode(last, lastn));
}

char *
trailer_link_msgid(const char *value)
{
	const char *s = value, *e;
	size_t n;

	while (*s && blank(*s))
		s++;
	if (*s == '<') {
		/* <url> or <message-id> */
		s++;
		e = strchr(s, '>');
		if (!e)
			return NULL;
		n = (size_t)(e - s);
		if (n > 7 && (strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0))
			return url_msgid(s, n);
		return checked_id(xstrndup(s, n));
	}
	for (e = s; *e && !blank(*e); e++)
		;
	return url_msgid(s, (size_t)(e - s));
}

/* The Message-ID of a "Message-Id:" value: inside its brackets, or the bare value. */
static char *
header_msgid(const char *value)
{
	const char *s = value, *lt = strchr(value, '<'), *e;

	if (lt) {
		s = lt + 1;
		e = strchr(s, '>');
		if (!e)
			return NULL;
		return checked_id_(xstrndup(s, (size_t)(e - s)), 1);
	}
	while (*s && blank(*s))
		s++;
	for (e = s; *e && !blank(*e); e++)
		;
	return checked_id(xstrndup(s, (size_t)(e - s)));
}

static void
add_id(char ***ids, size_t *n, char *id)
{
	size_t i;

	if (!id)
		return;
	for (i = 0; i < *n; i++) {
		if (strcmp((*ids)[i], id) == 0) {
			free(id);
			return;
		}
	}
	*ids = xreallocarray(*ids, *n + 1, sizeof(**ids));
	(*ids)[(*n)++] = id;
}

static int
blank_line(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!blank(s[i]))
			return 0;
	return 1;
}

void
trailer_msgids(const char *message, char ***out, size_t *n)
{
	const char *p, *para = message;

	*out = NULL;
	*n = 0;
	if (!message)
		return;
	/* The last paragraph: after the last blank line that has text after it. */
	for (p = message; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		const char *next = nl ? nl + 1 : p + len;

		if (blank_line(p, len) && *next && !blank_line(next, strcspn(next, "\n")))
			para = next;
		p = next;
	}
	for (p = para; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		const char *colon = memchr(p, ':', len);
		char *value;

		if (colon) {
			size_t klen = (size_t)(colon - p);

			value = xstrndup(colon + 1, len - klen - 1);
			if (klen == 4 && strncasecmp(p, "link", 4) == 0)
				add_id(out, n, trailer_link_msgid(value));
			else if (klen == 10 && strncasecmp(p, "message-id", 10) == 0)
				add_id(out, n, header_msgid(value));
			free(value);
		}
		p = nl ? nl + 1 : p + len;
	}
}

void
trailer_ids_free(char **ids, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

/* libdiffhash.c - SHA-1, and Patchwork's hash of a diff */
#include "libdiffhash.h"

#include <string.h>

#include "libutil.h"

/* ---- SHA-1 ---- */

static uint32_t
rol32(uint32_t x, unsigned n)
{
	return (x << n) | (x >> (32 - n));
}

static void
sha1_block(struct sha1_ctx *c, const unsigned char *p)
{
	uint32_t w[80], a, b, d, e, f, k, t, cc;
	unsigned i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
	for (i = 16; i < 80; i++)
		w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	a = c->h[0];
	b = c->h[1];
	cc = c->h[2];
	d = c->h[3];
	e = c->h[4];
	for (i = 0; i < 80; i++) {
		if (i < 20) {
			f = (b & cc) | (~b & d);
			k = 0x5a827999u;
		} else if (i < 40) {
			f = b ^ cc ^ d;
			k = 0x6ed9eba1u;
		} else if (i < 60) {
			f = (b & cc) | (b & d) | (cc & d);
			k = 0x8f1bbcdcu;
		} else {
			f = b ^ cc ^ d;
			k = 0xca62c1d6u;
		}
		t = rol32(a, 5) + f + e + k + w[i];
		e = d;
		d = cc;
		cc = rol32(b, 30);
		b = a;
		a = t;
	}
	c->h[0] += a;
	c->h[1] += b;
	c->h[2] += cc;
	c->h[3] += d;
	c->h[4] += e;
}

void
sha1_init(struct sha1_ctx *c)
{
	c->h[0] = 0x67452301u;
	c->h[1] = 0xefcdab89u;
	c->h[2] = 0x98badcfeu;
	c->h[3] = 0x10325476u;
	c->h[4] = 0xc3d2e1f0u;
	c->len = 0;
	c->nblk = 0;
}

void
sha1_update(struct sha1_ctx *c, const void *data, size_t len)
{
	const unsigned char *p = data;

	c->len += len;
	if (c->nblk) {
		size_t take = 64 - c->nblk < len ? 64 - c->nblk : len;

		memcpy(c->blk + c->nblk, p, take);
		c->nblk += take;
		p += take;
		len -= take;
		if (c->nblk < 64)
			return;
		sha1_block(c, c->blk);
		c->nblk = 0;
	}
	for (; len >= 64; p += 64, len -= 64)
		sha1_block(c, p);
	memcpy(c->blk, p, len);
	c->nblk = len;
}

void
sha1_final(struct sha1_ctx *c, unsigned char digest[20])
{
	uint64_t bits = c->len * 8;
	unsigned char tail[8];
	static const unsigned char pad[64] = { 0x80 };
	unsigned i;

	for (i = 0; i < 8; i++)
		tail[i] = (unsigned char)(bits >> (56 - 8 * i));
	/* 0x80, zeros up to 56 bytes into a block, then the length in bits */
	sha1_update(c, pad, c->nblk < 56 ? 56 - c->nblk : 120 - c->nblk);
	sha1_update(c, tail, 8);
	for (i = 0; i < 20; i++)
		digest[i] = (unsigned char)(c->h[i / 4] >> (24 - 8 * (i % 4)));
}

static void
to_hex(const unsigned char digest[20], char hex[41])
{
	static const char digits[] = "0123456789abcdef";
	unsigned i;

	for (i = 0; i < 20; i++) {
		hex[2 * i] = digits[digest[i] >> 4];
		hex[2 * i + 1] = digits[digest[i] & 0xf];
	}
	hex[40] = '\0';
}

void
sha1_hex(const void *data, size_t len, char hex[41])
{
	struct sha1_ctx c;
	unsigned char d[20];

	sha1_init(&c);
	sha1_update(&c, data, len);
	sha1_final(&c, d);
	to_hex(d, hex);
}

/* ---- Patchwork's diff hash ---- */

/*
 * The length of the white space character at s[0..n) (0: none), by
 * Python's str.isspace(), which Patchwork's strip() and \S follow: the
 * ASCII ones, 0x1c-0x1f, and in UTF-8 U+0085, U+00A0, U+1680,
 * U+2000-U+200A, U+2028, U+2029, U+202F, U+205F and U+3000.
 */
static size_t
space_len(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;

	if (n == 0)
		return 0;
	if (s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r') || (s[0] >= 0x1c && s[0] <= 0x1f))
		return 1;
	if (n >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0))
		return 2;
	if (n < 3)
		return 0;
	if (s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80)
		return 3;
	if (s[0] == 0xe2 && s[1] == 0x80 &&
	    (s[2] <= 0x8a || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf) && s[2] >= 0x80)
		return 3;
	if (s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f)
		return 3;
	if (s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80)
		return 3;
	return 0;
}

/* The length of a white space character that ends s[0..n) (0: none). */
static size_t
space_len_back(const char *s, size_t n)
{
	size_t k;

	for (k = 1; k <= 3 && k <= n; k++)
		if (space_len(s + n - k, k) == k)
			return k;
	return 0;
}

static int
is_digit(unsigned char ch)
{
	return ch >= '0' && ch <= '9';
}

static void
hash_line(struct sha1_ctx *c, const char *s, size_t n)
{
	sha1_update(c, s, n);
	sha1_update(c, "\n", 1);
}

/*
 * Digits at s[*i..] (at least one): the count without leading zeros
 * (so any length compares as the number it is) into out.
 */
static int
take_number(const char *s, size_t n, size_t *i, struct buf *out)
{
	size_t start = *i;

	while (*i < n && is_digit((unsigned char)s[*i]))
		(*i)++;
	if (*i == start)
		return -1;
	while (start + 1 < *i && s[start] == '0')
		start++;
	buf_add(out, s + start, *i - start);
	return 0;
}

/*
 * "<sign>start[,count]" at s[*i..]: the count (1 when missing) into
 * out, *i past it; -1 when it is not there.
 */
static int
take_range(const char *s, size_t n, size_t *i, char sign, struct buf *out)
{
	struct buf skip = { 0 };
	int rc = -1;

	if (*i >= n || s[*i] != sign)
		return -1;
	(*i)++;
	if (take_number(s, n, i, &skip) < 0)
		goto done;
	if (*i < n && s[*i] == ',') {
		(*i)++;
		if (take_number(s, n, i, out) < 0)
			goto done;
	} else {
		buf_addc(out, '1');
	}
	rc = 0;
done:
	buf_free(&skip);
	return rc;
}

/* "@@ -o[,n] +o[,m] @@" at the start of the line: "@@ -n +m @@" into out; -1 when it is not one. */
static int
hunk_header(const char *s, size_t n, struct buf *out)
{
	size_t i = 3;

	buf_reset(out);
	if (n < 3 || memcmp(s, "@@ ", 3) != 0)
		return -1;
	buf_adds(out, "@@ -");
	if (take_range(s, n, &i, '-', out) < 0 || i >= n || s[i] != ' ')
		return -1;
	i++;
	buf_adds(out, " +");
	if (take_range(s, n, &i, '+', out) < 0 || n - i < 3 || memcmp(s + i, " @@", 3) != 0)
		return -1;
	buf_adds(out, " @@");
	return 0;
}

/* "--- X" / "+++ X" with X non-blank: "--- a/<X minus its first component>" into out. */
static int
file_line(const char *s, size_t n, struct buf *out)
{
	size_t i = 4, end;
	const char *slash;

	if (n < 5 || (memcmp(s, "--- ", 4) != 0 && memcmp(s, "+++ ", 4) != 0) ||
	    space_len(s + 4, n - 4))
		return -1;
	for (end = i; end < n && !space_len(s + end, n - end); end++)
		;
	buf_reset(out);
	buf_adds(out, s[0] == '-' ? "--- a/" : "+++ b/");
	slash = memchr(s + i, '/', end - i);
	if (slash)
		buf_add(out, slash + 1, (size_t)(s + end - slash - 1));
	return 0;
}

void
pw_diff_hash(const char *diff, size_t len, char hex[41])
{
	struct sha1_ctx c;
	struct buf text = { 0 }, line = { 0 };
	unsigned char d[20];
	size_t i, start, end;

	for (i = 0; i < len; i++)
		if (diff[i] != '\r')
			buf_addc(&text, diff[i]);
	if (!text.data)
		buf_adds(&text, ""); /* so that text.data is a string, also for no input */
	start = 0;
	end = text.len;
	for (;;) {
		size_t k = space_len(text.data + start, end - start);

		if (!k)
			break;
		start += k;
	}
	for (;;) {
		size_t k = space_len_back(text.data + start, end - start);

		if (!k)
			break;
		end -= k;
	}
	sha1_init(&c);
	for (i = start; i < end;) {
		const char *s = text.data + i, *nl = memchr(s, '\n', end - i);
		size_t n = nl ? (size_t)(nl - s) : end - i;

		i += n + 1;
		if (n == 0)
			continue;
		if (file_line(s, n, &line) == 0 || hunk_header(s, n, &line) == 0)
			hash_line(&c, line.data, line.len);
		else if (s[0] == '-' || s[0] == '+' || s[0] == ' ')
			hash_line(&c, s, n);
	}
	sha1_final(&c, d);
	to_hex(d, hex);
	buf_free(&text);
	buf_free(&line);
}

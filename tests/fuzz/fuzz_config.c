/* fuzz_config.c - libFuzzer target: config value parsers, Message-IDs, URL origins and loopback */
#include <inttypes.h>
#include <strings.h>

#include "fuzz.h"
#include "libconfig.h"
#include "liburl.h"

/* 9999-12-31T23:59:59 + 1: the dates iso_to_unix can read back */
#define ISO_MAX 253402300800LL

static void
check_u64(const char *s)
{
	uint64_t v = 7;
	char back[32];

	if (parse_u64(s, &v) < 0)
		return;
	/* digits only: the value prints back as the input without leading zeros */
	while (s[0] == '0' && s[1])
		s++;
	snprintf(back, sizeof(back), "%" PRIu64, v);
	CHECK(strcmp(back, s) == 0);
}

static void
check_iso(const char *s)
{
	int64_t t = iso_to_unix(s);
	char *iso;

	if (t < 0 || t >= ISO_MAX)
		return;
	iso = unix_to_iso(t);
	CHECK(iso_to_unix(iso) == t);
	free(iso);
}

static void
check_msgid(const char *s)
{
	char *m = msgid_to_notmuch(s);
	const char *p;

	if (!m)
		return;
	CHECK(*m);
	for (p = m; *p; p++)
		CHECK(*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n');
	free(m);
}

/* host of an origin "scheme://host[:port]" is one of the loopback names */
static int
origin_is_loopback(const char *origin)
{
	const char *h = strstr(origin, "://") + 3;
	size_t n = strcspn(h, ":");

	if (*h == '[')
		return strcmp(h, "[::1]") == 0 || strncmp(h, "[::1]:", 6) == 0;
	if (n == 9 && strncasecmp(h, "localhost", 9) == 0)
		return 1;
	if (n < 4 || strncmp(h, "127.", 4) != 0)
		return 0;
	return strspn(h, "0123456789.") == n;
}

static void
check_url(const char *s)
{
	char *o = url_origin(s), *again;
	int loop = url_is_loopback(s);

	if (!o)
		return;
	CHECK(strncmp(o, "http://", 7) == 0 || strncmp(o, "https://", 8) == 0);
	again = url_origin(o);
	CHECK(again && strcmp(again, o) == 0);
	free(again);
	/* the token check trusts url_is_loopback: it must agree with the origin libcurl reads */
	if (loop)
		CHECK(origin_is_loopback(o));
	free(o);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size);
	int64_t secs = -1;
	int b = 7;

	if (parse_duration(s, &secs) == 0)
		CHECK(secs >= 0);
	if (parse_bool(s, &b) == 0)
		CHECK(b == 0 || b == 1);
	check_u64(s);
	check_iso(s);
	check_msgid(s);
	check_url(s);
	free(s);
	return 0;
}

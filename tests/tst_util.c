/* tst_util.c - msgid mapping, parsers, buffers, time helpers */
#include <stdlib.h>
#include <string.h>

#include "libstatus.h"
#include "libutil.h"
#include "tap.h"

static void
escaped(const char *in, const char *want, const char *what)
{
	char *got = text_escape(in);

	is_str(got, want, "escape: %s", what);
	free(got);
}

static void
msgid(const char *in, const char *want)
{
	char *got = msgid_to_notmuch(in);

	is_str(got, want, "msgid_to_notmuch(%s)", in);
	free(got);
}

int
main(void)
{
	int64_t secs;
	uint64_t u;
	int b;
	struct buf buf = { 0 };
	char *s;

	msgid("<a@b>", "a@b");
	msgid("<odd \"id\" 11@example.org>", "odd\"id\"11@example.org");
	msgid("  <tab\there@x>  ", "tabhere@x");
	msgid("no-brackets@x", "no-brackets@x");
	msgid("<unclosed@x", "unclosed@x");
	msgid("<>", NULL);
	msgid("", NULL);
	msgid("<a@b> <c@d>", "a@b");

	{
		static const char *const projects[] = { "alpha", "beta", NULL, "gamma" };
		static const char *const states[] = { "new", "accepted", "rejected" };

		ok(edit_distance("", "") == 0 && edit_distance("abc", "") == 3, "distance to empty");
		ok(edit_distance("alpah", "alpha") == 1, "a swap of neighbours is one edit");
		ok(edit_distance("kitten", "sitting") == 3, "kitten/sitting");
		ok(nearest_name("betta", projects, 4) == 1, "betta: beta");
		ok(nearest_name("alpah", projects, 4) == 0, "alpah: alpha");
		ok(nearest_name("gama", projects, 4) == 3, "a NULL entry is skipped");
		ok(nearest_name("beta", projects, 4) == -1, "an exact name is no typo");
		ok(nearest_name("zzz", projects, 4) == -1, "nothing near");
		ok(nearest_name("x", states, 3) == -1, "a one-letter name suggests nothing");
		ok(nearest_name("acepted", states, 3) == 1, "acepted: accepted");
		ok(nearest_name("neww", states, 3) == 0, "neww: new");
		ok(nearest_name("alpha", projects, 0) == -1, "no candidates");
	}
	ok(parse_duration("30", &secs) == 0 && secs == 30, "duration without unit is seconds");
	ok(parse_duration("5m", &secs) == 0 && secs == 300, "5m");
	ok(parse_duration("365d", &secs) == 0 && secs == 365 * 86400, "365d");
	ok(parse_duration("2w", &secs) == 0 && secs == 14 * 86400, "2w");
	ok(parse_duration("5x", &secs) < 0, "unknown unit refused");
	ok(parse_duration("5mm", &secs) < 0, "junk after the unit refused");
	ok(parse_duration("-5", &secs) < 0, "negative refused");
	ok(parse_duration("99999999999999999999d", &secs) < 0, "overflow refused");
	ok(parse_u64("18446744073709551615", &u) == 0 && u == UINT64_MAX, "u64 max");
	ok(parse_u64("18446744073709551616", &u) < 0, "u64 overflow refused");
	ok(parse_u64("12a", &u) < 0 && parse_u64("", &u) < 0, "junk refused");
	ok(parse_bool("Yes", &b) == 0 && b == 1 && parse_bool("off", &b) == 0 && b == 0, "booleans");
	ok(parse_bool("maybe", &b) < 0, "not a boolean");

	is_int(iso_to_unix("1970-01-01T00:00:00"), 0, "epoch");
	is_int(iso_to_unix("2026-11-25T00:40:56.479147"), 1795567256, "server event date");
	is_int(iso_to_unix("2023-11-14"), 1699920000, "a date alone");
	is_int(iso_to_unix("garbage"), -1, "garbage date");
	s = unix_to_iso(1795567256);
	is_str(s, "2026-11-25T00:40:56", "unix_to_iso");
	free(s);

	buf_adds(&buf, "a");
	buf_printf(&buf, "%d%s", 42, "b");
	buf_addc(&buf, 'c');
	is_str(buf.data, "a42bc", "buffer appends");
	buf_reset(&buf);
	is_str(buf.data, "", "buffer reset");
	s = buf_release(&buf);
	is_str(s, "", "release of an empty buffer");
	free(s);

	escaped("plain text, caf\xc3\xa9", "plain text, caf\xc3\xa9", "text and UTF-8 kept");
	escaped("a\x1b[2Jb\n\tc\x7f", "a\\x1b[2Jb\\n\\tc\\x7f", "controls");
	escaped("x\xe2\x80\xae" "evil\xe2\x81\xa6" "y", "x\\u{202E}evil\\u{2066}y", "bidi override and isolate");
	escaped("\xc2\x9b" "31m", "\\u{009B}31m", "C1 control (CSI)");
	escaped("bad\xff\xc3(\xed\xa0\x80", "bad\\xff\\xc3(\\xed\\xa0\\x80", "invalid UTF-8 and a surrogate");
	escaped("zw\xe2\x80\x8bsp\xef\xbb\xbf", "zw\\u{200B}sp\\u{FEFF}", "zero-width and BOM");
	escaped(NULL, "", "NULL");
	escaped("\\x1b\\u{202E}", "\\x1b\\u{202E}", "escaped text is left as it is");
	{
		const char *first = text_arg("\x1b[1m"), *kept = first;
		size_t i;

		for (i = 1; i < TEXT_ARG_KEPT; i++)
			kept = text_arg("x");
		is_str(first, "\\x1b[1m", "text_arg: kept for %d calls", TEXT_ARG_KEPT);
		ok(kept != first && strcmp(text_arg(NULL), "") == 0, "text_arg: one string a call, NULL empty");
	}

	is_int(pwnm_status_to_exit(PWNM_STATUS_SUCCESS), 0, "success exits 0");
	is_int(pwnm_status_to_exit(PWNM_STATUS_USAGE), 2, "usage exits 2");
	is_int(pwnm_status_to_exit(PWNM_STATUS_NETWORK), 75, "network exits 75");
	is_int(pwnm_status_to_exit(PWNM_STATUS_AUTH), 1, "a refused token exits 1");
	is_str(pwnm_status_to_string(PWNM_STATUS_LOCKED), "another pwnm run holds the lock", "strings");
	is_str(pwnm_status_to_string(PWNM_STATUS_LAST_STATUS), "unknown status", "out of range");
	return tap_done();
}

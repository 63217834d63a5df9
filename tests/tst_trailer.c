/* tst_trailer.c - Message-IDs from Link: and Message-Id: trailers */
#include <stdlib.h>
#include <string.h>

#include "libtrailer.h"
#include "libutil.h"
#include "tap.h"

static void
link(const char *value, const char *want)
{
	char *got = trailer_link_msgid(value);

	is_str(got, want, "Link: %s", value);
	free(got);
}

/* The ids of message joined by ' ', or "" */
static char *
ids_of(const char *message)
{
	char **ids;
	size_t n, i;
	struct buf b = { 0 };

	trailer_msgids(message, &ids, &n);
	for (i = 0; i < n; i++)
		buf_printf(&b, "%s%s", i ? " " : "", ids[i]);
	trailer_ids_free(ids, n);
	return buf_release(&b);
}

static void
msg(const char *message, const char *want, const char *what)
{
	char *got = ids_of(message);

	is_str(got, want, "%s", what);
	free(got);
}

int
main(void)
{
	link("https://lore.kernel.org/r/20200414062102.6798-3-dja@axtens.net",
	     "20200414062102.6798-3-dja@axtens.net");
	link("https://lore.kernel.org/r/20200414062102.6798-3-dja@axtens.net/",
	     "20200414062102.6798-3-dja@axtens.net");
	link("https://lore.kernel.org/linux-arm-kernel/abc.123@example.com/T/#u", "abc.123@example.com");
	link("https://lore.kernel.org/all/abc@example.com/raw", "abc@example.com");
	link("https://patch.msgid.link/20241201-fix-v2-1-deadbeef@kernel.org",
	     "20241201-fix-v2-1-deadbeef@kernel.org");
	link("http://mail.example.org/archive/msg%2Bplus%40x@host.example", "msg+plus@x@host.example");
	link("https://lists.example.org/pipermail/x/a@b?view=raw#top", "a@b");
	link("<https://lore.kernel.org/r/in-brackets@x>", "in-brackets@x");
	link("<bare-id@example.org>", "bare-id@example.org");
	link("https://lore.kernel.org/r/id@x # the v3", "id@x");
	link("https://bugzilla.kernel.org/show_bug.cgi?id=12345", NULL);
	link("https://github.com/owner/repo/issues/42", NULL);
	link("https://example.org", NULL);
	link("ftp://example.org/a@b", NULL);
	link("https://x.org/bad%00id@x", "bad%00id@x");
	link("https://x.org/@", NULL);
	link("https://x.org/name@", NULL);
	link("", NULL);

	msg("Fix a thing\n\nLong text.\n\nSigned-off-by: A <a@example.org>\n"
	    "Link: https://lore.kernel.org/r/p1@example.org\n",
	    "p1@example.org", "a Link: trailer");
	msg("Fix\n\nSigned-off-by: A <a@example.org>\nMessage-Id: <p2@example.org>\n", "p2@example.org",
	    "a Message-Id: trailer");
	msg("Fix\n\nmessage-ID:   <odd \"id\" 3@example.org>\n", "odd\"id\"3@example.org",
	    "key case, spaces in the id removed as notmuch does");
	msg("Fix\n\nLink: https://lore.kernel.org/r/a@x\nMessage-Id: <a@x>\n"
	    "Link: https://lore.kernel.org/r/b@x/\n",
	    "a@x b@x", "each id once, in order");
	msg("Fix\n\nLink: https://lore.kernel.org/r/early@x\n\nThe body goes on.\n", "",
	    "a Link: line outside the last paragraph is not a trailer");
	msg("Fix\n\nSee\nLink: https://lore.kernel.org/r/t@x\n\n\n", "t@x",
	    "trailing blank lines do not start a paragraph");
	msg("Fix\n\nLink: https://bugzilla.example.org/show_bug.cgi?id=1\nReviewed-by: R <r@x>\n", "",
	    "no Message-ID in a bug tracker link or other trailers");
	msg("Fix\n\n  Link: https://lore.kernel.org/r/indented@x\nXLink: https://lore.kernel.org/r/y@x\n",
	    "", "only lines that start with the key count");
	msg("Fix\n\nMessage-Id: <   @example.org>\n", "",
	    "a bracketed id that is only blanks before its '@' is none");
	msg("Fix\n\nMessage-Id: <a b@example.org>\n", "ab@example.org",
	    "blanks inside a bracketed id are dropped");
	msg("", "", "an empty message");
	msg("Subject only\n", "", "a subject line without trailers");
	msg("Link: https://lore.kernel.org/r/only@x", "only@x", "a message that is one trailer line");
	msg("Fix\r\n\r\nLink: https://lore.kernel.org/r/crlf@x\r\n", "crlf@x", "CRLF lines");
	return tap_done();
}

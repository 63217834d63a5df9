/* tst_diffhash.c - SHA-1 test vectors and Patchwork's diff hash; with --hash FILE..., the hash of each file */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libdiffhash.h"
#include "libutil.h"
#include "tap.h"

/*
 * Expected hashes computed by tests/pwhash.py, the reference written
 * from the description of Patchwork's hash.
 */
static const struct {
	const char *diff, *hash, *what;
} diffs[] = {
	{ "diff --git a/src/x.c b/src/x.c\nindex 1..2 100644\n--- a/src/x.c\n+++ b/src/x.c\n"
	  "@@ -1,3 +1,4 @@ int f(void)\n a\n-b\n+c\n+d\n e\n",
	  "914b3a9443ae797b16a43838b0a6d30d786b8e67", "a git diff: header lines skipped, context after @@ dropped" },
	{ "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new\n", "9f8b80ebcc93e7f2eb292560ab8b8475ed6faa12",
	  "missing hunk counts are 1" },
	{ "--- a/x\r\n+++ b/x\r\n@@ -1 +1 @@\r\n-old\r\n+new\r\n", "9f8b80ebcc93e7f2eb292560ab8b8475ed6faa12",
	  "carriage returns are dropped" },
	{ "\n\n  --- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new\n\n\n \t\n",
	  "9f8b80ebcc93e7f2eb292560ab8b8475ed6faa12", "white space around the text is stripped" },
	{ "--- /dev/null\n+++ b/deep/dir/file.txt\t2020-01-01\n@@ -0,0 +1,2 @@\n+x\n+y\n--- nofile\n+++ b/z\n",
	  "9a9711a27267214be733210fcca018b477f1c35e",
	  "file lines: /dev/null, a date after a tab, a path without a directory" },
	{ "--- a/x\n+++ b/x\n@@ -1,2 +1,1 @@\n-- foo\n--- bar baz\n context\n",
	  "a68011b09b403066c0a2a77d416310b895a099b9", "a removed line that looks like a file line is one" },
	{ "@@ -001,007 +1,0012345678901234567890 @@\n+q\n@@ -1, +2 @@\n@@ -x +1 @@\n@@ -1 +1@@\n",
	  "88929b0d9a145c7008cd5f8355a64ea936c2512f",
	  "hunk counts as numbers (leading zeros, beyond 64 bits); malformed headers skipped" },
	{ "Subject: hi\n\ncommit text\ndiff --git a/x b/x\nindex 0..1\nnew file mode 100644\n--- a/x\n"
	  "+++ b/x\n@@ -0,0 +1 @@\n+\xc3\xa9 \xc3\xbc\n\\ No newline at end of file\n",
	  "0dfb86c0e9c6f58356a4ca3d72bd3e4ff47360ec", "text and meta lines skipped, UTF-8 kept" },
	{ "", "da39a3ee5e6b4b0d3255bfef95601890afd80709", "an empty diff hashes nothing" },
	{ "---  a/two-spaces\n+++\n---\n+ \n- \n \n", "0492ac6e096c72899126665cde43e27072d8f773",
	  "short and blank-path file lines are kept as plain lines" },
};

static int
hash_files(int argc, char **argv)
{
	int i, rc = 0;

	for (i = 2; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		struct buf b = { 0 };
		char chunk[4096], hex[41];
		size_t n;

		if (!f) {
			perror(argv[i]);
			rc = 1;
			continue;
		}
		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
			buf_add(&b, chunk, n);
		fclose(f);
		pw_diff_hash(b.data ? b.data : "", b.len, hex);
		printf("%s\n", hex);
		buf_free(&b);
	}
	return rc;
}

int
main(int argc, char **argv)
{
	char hex[41];
	size_t i;

	if (argc > 1 && strcmp(argv[1], "--hash") == 0)
		return hash_files(argc, argv);

	sha1_hex("", 0, hex);
	is_str(hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709", "sha1 of nothing");
	sha1_hex("abc", 3, hex);
	is_str(hex, "a9993e364706816aba3e25717850c26c9cd0d89d", "sha1 abc");
	{
		const char *s = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

		sha1_hex(s, strlen(s), hex);
		is_str(hex, "84983e441c3bd26ebaae4aa1f95129e5e54670f1", "sha1 of the 448-bit vector");
	}
	{
		/* a million 'a', fed in uneven pieces across block boundaries */
		struct sha1_ctx c;
		unsigned char d[20];
		char a[1024];
		size_t done = 0, step = 1;
		static const char digits[] = "0123456789abcdef";

		memset(a, 'a', sizeof(a));
		sha1_init(&c);
		while (done < 1000000) {
			size_t n = step < 1000000 - done ? step : 1000000 - done;

			sha1_update(&c, a, n);
			done += n;
			step = step % 997 + 13;
		}
		sha1_final(&c, d);
		for (i = 0; i < 20; i++) {
			hex[2 * i] = digits[d[i] >> 4];
			hex[2 * i + 1] = digits[d[i] & 0xf];
		}
		hex[40] = '\0';
		is_str(hex, "34aa973cd4c4daa4f61eeb2bdbad27316534016f", "sha1 of a million 'a' in pieces");
	}
	for (i = 55; i <= 65; i++) {
		/* lengths around the padding boundary: incremental equals one-shot */
		char buf[130], h1[41], h2[41];
		struct sha1_ctx c;
		unsigned char d[20];
		size_t k;
		static const char digits[] = "0123456789abcdef";

		memset(buf, 'x', sizeof(buf));
		sha1_hex(buf, 2 * i, h1);
		sha1_init(&c);
		for (k = 0; k < 2 * i; k++)
			sha1_update(&c, buf + k, 1);
		sha1_final(&c, d);
		for (k = 0; k < 20; k++) {
			h2[2 * k] = digits[d[k] >> 4];
			h2[2 * k + 1] = digits[d[k] & 0xf];
		}
		h2[40] = '\0';
		is_str(h2, h1, "sha1 of %zu bytes, byte by byte", 2 * i);
	}
	sha1_hex("The quick brown fox jumps over the lazy dog", 43, hex);
	is_str(hex, "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12", "sha1 of the fox");

	for (i = 0; i < sizeof(diffs) / sizeof(*diffs); i++) {
		pw_diff_hash(diffs[i].diff, strlen(diffs[i].diff), hex);
		is_str(hex, diffs[i].hash, "diff hash: %s", diffs[i].what);
	}
	{
		/* a NUL inside the text is a byte like any other */
		static const char d[] = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n+a\0b\n";
		char h1[41];

		pw_diff_hash(d, sizeof(d) - 1, hex);
		pw_diff_hash(d, 30, h1);
		ok(strcmp(hex, h1) != 0, "diff hash reads the whole length, past a NUL");
	}
	return tap_done();
}

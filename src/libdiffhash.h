/* libdiffhash.h - SHA-1, and Patchwork's hash of a diff (what ?hash= looks patches up by) */
#ifndef PWNM_LIBDIFFHASH_H
#define PWNM_LIBDIFFHASH_H

#include <stddef.h>
#include <stdint.h>

/* SHA-1 (FIPS 180-4), incremental: init, any number of updates, final. */
struct sha1_ctx {
	uint32_t h[5];
	uint64_t len;           /* bytes hashed so far */
	unsigned char blk[64];  /* pending partial block */
	size_t nblk;
};
void sha1_init(struct sha1_ctx *c);
void sha1_update(struct sha1_ctx *c, const void *data, size_t len);
/* The digest; c must be initialised again before reuse. */
void sha1_final(struct sha1_ctx *c, unsigned char digest[20]);
/* The digest of data as 40 lowercase hex digits and a NUL in hex[41]. */
void sha1_hex(const void *data, size_t len, char hex[41]);

/*
 * Patchwork's hash of a diff (its patchwork/hasher.py), as 40 lowercase
 * hex digits and a NUL in hex[41].  The text has every '\r' dropped and
 * leading and trailing white space stripped, then each line counts only
 * when it is
 *   - a file line "--- X" or "+++ X": hashed as "--- a/" or "+++ b/"
 *     followed by X's path without its first component (X ends at the
 *     first white space);
 *   - a hunk header "@@ -o[,n] +o[,m] @@...": hashed as "@@ -n +m @@"
 *     (a missing count is 1);
 *   - any other line starting with '-', '+' or ' ': hashed as it is;
 * each followed by "\n".  Every other line (diff --git, index, mode
 * lines, the commit message) is skipped, so the diff `git show` prints
 * for a commit hashes the same as the diff of the mail it was applied
 * from.  White space is ASCII white space here; Patchwork (Python)
 * also counts non-ASCII space characters, which diffs do not carry at
 * their edges or inside file names in practice.
 */
void pw_diff_hash(const char *diff, size_t len, char hex[41]);

#endif

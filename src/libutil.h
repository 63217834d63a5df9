/* libutil.h - allocation that never fails, messages, growable buffers, small helpers */
#ifndef PWNM_LIBUTIL_H
#define PWNM_LIBUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define ATTR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define ATTR_NORETURN __attribute__((noreturn))

/*
 * Allocation: these never return NULL.  On failure they print
 * "<prog>: out of memory" and exit 1.  Caller frees with free().
 */
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* The value of one hex digit (either case), -1 for any other character. */
int hex_digit_value(char c);
char *xasprintf(const char *fmt, ...) ATTR_PRINTF(1, 2);
char *xvasprintf(const char *fmt, va_list ap) ATTR_PRINTF(1, 0);

/*
 * Messages on stderr, prefixed with the program name set by
 * util_set_progname().  A format ending in ':' gets ": strerror(errno)"
 * appended.  The formatted message is escaped (text_escape) as a
 * whole, so it may quote a server's or a mail's text as it is.  The name is the only process-wide value here; it is set
 * once from main.
 */
void util_set_progname(const char *argv0);
const char *util_progname(void);
void warn(const char *fmt, ...) ATTR_PRINTF(1, 2);
void fatal(const char *fmt, ...) ATTR_PRINTF(1, 2) ATTR_NORETURN;

/*
 * Debug output by category: PWNM_DEBUG=http,state,sync (or "all") is
 * read by main and handed to debug_init().  Escaped like warn's.
 */
void debug_init(const char *spec);
int debug_on(const char *category);
void debug(const char *category, const char *fmt, ...) ATTR_PRINTF(2, 3);

/* Growable byte buffer, always NUL-terminated once anything was added. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};
void buf_add(struct buf *b, const void *data, size_t len);
void buf_adds(struct buf *b, const char *s);
void buf_addc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) ATTR_PRINTF(2, 3);
void buf_reset(struct buf *b);  /* len = 0, keeps memory */
void buf_free(struct buf *b);   /* frees memory, zeroes the struct */
/* Detach the string; caller frees.  Never NULL (empty string if empty). */
char *buf_release(struct buf *b);

/*
 * Text from a server (names, states, error bodies, URLs) made safe to
 * print on a terminal or in a log: control characters (C0, DEL, C1)
 * become \n, \r, \t or \xNN, invalid UTF-8 bytes \xNN, and the
 * characters that reorder or hide text (bidi embeddings, overrides and
 * isolates, LRM/RLM/ALM, zero-width and BOM) \u{XXXX}.  Everything
 * else, including valid UTF-8, is kept.  text_escape: caller frees
 * (NULL gives ""); buf_add_escaped appends to b.
 */
char *text_escape(const char *s);
void buf_add_escaped(struct buf *b, const char *s);
/*
 * text_escape for a printf argument: printf("%s\n", text_arg(name)).
 * The string is kept by the calling thread until TEXT_ARG_KEPT later
 * calls of its own; the caller does not free it.
 */
#define TEXT_ARG_KEPT 16
const char *text_arg(const char *s);

/*
 * The one rule for an API token: non-empty, printable ASCII without
 * blanks (0x21-0x7e), so that it fits an HTTP header unchanged.
 */
int token_valid(const char *t);

/* Time. */
int64_t now_ms(void);     /* monotonic milliseconds */
int64_t now_unix(void);   /* wall clock seconds */

/*
 * Message-IDs.  Patchwork keeps the header as it came ("<odd "id" 1@x>");
 * notmuch stores what is inside the first <...> with every space and
 * tab removed.  msgid_to_notmuch() maps the former to the latter, the
 * way notmuch's lib/message-id.c does; without brackets it takes the
 * whole string, trimmed.  Returns NULL for an empty id.  Caller frees.
 */
char *msgid_to_notmuch(const char *msgid);

/*
 * Edit distance of a and b (insertions, deletions, substitutions, and a
 * swap of two neighbours each count one), in bytes.
 */
size_t edit_distance(const char *a, const char *b);
/*
 * For a name the user mistyped: the index in names[0..n) of the name it
 * most likely meant (the nearest by edit_distance, the first of equals),
 * or -1 when none is near: at most 2 edits, and at most half the
 * candidate's length, so "betta" gives "beta" but "x" gives nothing.
 * An exact match is not a typo and gives -1 too.
 */
long nearest_name(const char *name, const char *const *names, size_t n);

/* Parse an unsigned decimal without sign or junk; 0 on success, -1 otherwise. */
int parse_u64(const char *s, uint64_t *out);
/* Parse "true/false/yes/no/1/0/on/off"; 0 on success, -1 otherwise. */
int parse_bool(const char *s, int *out);
/*
 * Parse a duration: a number with an optional unit s, m, h, d, w
 * (seconds when none).  0 on success, -1 otherwise.
 */
int parse_duration(const char *s, int64_t *seconds);

/* ISO 8601 "YYYY-MM-DDTHH:MM:SS[.ffffff]" (UTC assumed) to unix seconds; -1 on error. */
int64_t iso_to_unix(const char *iso);
/* Unix seconds to "YYYY-MM-DDTHH:MM:SS" (UTC) in a caller-freed string. */
char *unix_to_iso(int64_t t);

/* Create a directory and its parents with the given mode; 0 or -1 with errno. */
int mkdir_p(const char *path, unsigned mode);

/*
 * The program `name` in the directory of the running executable (links
 * resolved), when it is there and executable; else NULL.  Caller frees.
 */
char *self_sibling(const char *name);

/*
 * pwnm's own directory (the state directory): created with its parents
 * (mode 0700) when missing, then refused unless it is a directory that
 * belongs to the user and that no one else may write to, since a file
 * planted there would be read or written as pwnm's own.  0, or -1 with
 * *err (caller frees): one line saying what is wrong and what to do.
 */
int private_dir(const char *path, char **err);
/*
 * A file in such a directory is a regular file or missing: 0, else -1
 * with *err (caller frees), e.g. for a symbolic link, which pwnm never
 * follows there.
 */
int private_file_check(const char *path, char **err);
/*
 * open(2) of a file in such a directory, never through a symbolic link
 * (fails with ELOOP) and only of a regular file (fails with EINVAL);
 * O_CLOEXEC and O_NOFOLLOW are added to flags.
 */
int open_private(const char *path, int flags, unsigned mode);

#endif

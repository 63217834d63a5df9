/* libtagset.h - sorted sets of tags, kept in memory (no I/O: the merge uses them without notmuch) */
#ifndef PWNM_LIBTAGSET_H
#define PWNM_LIBTAGSET_H

#include <stddef.h>

/* A sorted set of strings (tags).  Owned strings; tagset_free releases them. */
struct tagset {
	char **v;
	size_t n;
};
void tagset_add(struct tagset *s, const char *tag);
void tagset_del(struct tagset *s, const char *tag);
int tagset_has(const struct tagset *s, const char *tag);
int tagset_equal(const struct tagset *a, const struct tagset *b);
void tagset_copy(struct tagset *dst, const struct tagset *src); /* dst must be empty */
void tagset_free(struct tagset *s);
/* "a b c" (for messages and --dry-run); caller frees. */
char *tagset_join(const struct tagset *s, const char *sep);

#endif

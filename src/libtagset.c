/* libtagset.c - sorted sets of tags, kept in memory (no I/O) */
#include "libtagset.h"

#include <stdlib.h>
#include <string.h>

#include "libutil.h"

static size_t
tagset_find(const struct tagset *s, const char *tag, int *found)
{
	size_t lo = 0, hi = s->n;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(s->v[mid], tag);

		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void
tagset_add(struct tagset *s, const char *tag)
{
	int found;
	size_t i = tagset_find(s, tag, &found);

	if (found)
		return;
	s->v = xreallocarray(s->v, s->n + 1, sizeof(char *));
	memmove(s->v + i + 1, s->v + i, (s->n - i) * sizeof(char *));
	s->v[i] = xstrdup(tag);
	s->n++;
}

void
tagset_del(struct tagset *s, const char *tag)
{
	int found;
	size_t i = tagset_find(s, tag, &found);

	if (!found)
		return;
	free(s->v[i]);
	memmove(s->v + i, s->v + i + 1, (s->n - i - 1) * sizeof(char *));
	s->n--;
}

int
tagset_has(const struct tagset *s, const char *tag)
{
	int found;

	tagset_find(s, tag, &found);
	return found;
}

int
tagset_equal(const struct tagset *a, const struct tagset *b)
{
	size_t i;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return 0;
	return 1;
}

void
tagset_copy(struct tagset *dst, const struct tagset *src)
{
	size_t i;

	dst->v = src->n ? xcalloc(src->n, sizeof(char *)) : NULL;
	for (i = 0; i < src->n; i++)
		dst->v[i] = xstrdup(src->v[i]);
	dst->n = src->n;
}

void
tagset_free(struct tagset *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

char *
tagset_join(const struct tagset *s, const char *sep)
{
	struct buf b = { 0 };
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (i)
			buf_adds(&b, sep);
		buf_adds(&b, s->v[i]);
	}
	return buf_release(&b);
}

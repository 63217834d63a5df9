/* libmerge.c - tags of a patch, values read back from tags, three-way merge of one field */
#include "libmerge.h"

#include <stdlib.h>
#include <string.h>

#include "libutil.h"

void
merge_patch_tags(const char *project, const struct pw_values *v, const struct tag_opts *o,
		 struct tagset *out)
{
	char *t;

	t = xasprintf("pw/%s", project);
	tagset_add(out, t);
	free(t);
	if (v->state && *v->state) {
		t = xasprintf("pw/%s/%s", project, v->state);
		tagset_add(out, t);
		free(t);
	}
	if (o->archived && v->archived) {
		t = xasprintf("pw/%s/archived", project);
		tagset_add(out, t);
		free(t);
	}
	if (o->delegate && v->delegate && *v->delegate) {
		t = xasprintf("pw/%s/delegate/%s", project, v->delegate);
		tagset_add(out, t);
		free(t);
	}
	if (o->check && (t = merge_check_tag(project, v->check))) {
		tagset_add(out, t);
		free(t);
	}
}

char *
merge_check_tag(const char *project, const char *check)
{
	if (!check || (strcmp(check, "success") != 0 && strcmp(check, "warning") != 0 &&
		       strcmp(check, "fail") != 0))
		return NULL;
	return xasprintf("pw/%s/check/%s", project, check);
}

/* The part of tag after "pw/<project>/", or NULL; "" for the bare pw/<project>. */
static const char *
project_rest(const char *tag, const char *project)
{
	size_t n = strlen(project);

	if (strncmp(tag, "pw/", 3) != 0 || strncmp(tag + 3, project, n) != 0)
		return NULL;
	tag += 3 + n;
	if (*tag == '\0')
		return tag;
	if (*tag != '/')
		return NULL;
	return tag + 1;
}

char *
merge_cover_tag(const char *project)
{
	return xasprintf("pw/%s/series/cover", project);
}

char *
merge_newer_tag(const char *project)
{
	return xasprintf("pw/%s/series/newer", project);
}

const char *
merge_state_of_tag(const char *tag, const char *project)
{
	const char *rest = project_rest(tag, project);

	if (!rest || !*rest || strchr(rest, '/') || strcmp(rest, "archived") == 0)
		return NULL;
	return rest;
}

int
merge_state_open(const char *state)
{
	static const char *const closed[] = { "accepted", "rejected", "superseded", "not-applicable",
					      "handled-elsewhere" };
	size_t i;

	if (!state || !*state)
		return 0;
	for (i = 0; i < sizeof(closed) / sizeof(*closed); i++)
		if (strcmp(state, closed[i]) == 0)
			return 0;
	return 1;
}

void
merge_drop_project_tags(struct tagset *s, const char *project)
{
	size_t i = 0;

	while (i < s->n) {
		if (project_rest(s->v[i], project))
			tagset_del(s, s->v[i]);
		else
			i++;
	}
}

/*
 * Pick among n candidates: the only one, or the only one that differs
 * from base; NULL when there is none or no single answer.
 */
static const char *
pick(const char **cand, size_t n, const char *base, int *ambiguous)
{
	const char *diff = NULL;
	size_t i, ndiff = 0;

	*ambiguous = 0;
	if (n == 1)
		return cand[0];
	for (i = 0; i < n; i++) {
		if (strcmp(cand[i], base ? base : "") != 0) {
			diff = cand[i];
			ndiff++;
		}
	}
	*ambiguous = 1;
	return ndiff == 1 ? diff : NULL;
}

void
merge_local_values(const struct tagset *tags, const char *project, const struct pw_values *base,
		   const struct tag_opts *o, struct pw_values *out, int *repair, const char **note)
{
	const char **states = xcalloc(tags->n + 1, sizeof(char *));
	const char **delegates = xcalloc(tags->n + 1, sizeof(char *));
	size_t i, ns = 0, nd = 0, nproj = 0;
	int archived = 0, ambiguous;
	const char *p;

	*out = *base;
	*repair = 0;
	if (note)
		*note = NULL;
	for (i = 0; i < tags->n; i++) {
		const char *rest = project_rest(tags->v[i], project);

		if (!rest)
			continue;
		nproj++;
		if (*rest == '\0')
			continue;
		if (strcmp(rest, "archived") == 0)
			archived = 1;
		else if (strncmp(rest, "delegate/", 9) == 0 && rest[9])
			delegates[nd++] = rest + 9;
		else if (!strchr(rest, '/'))
			states[ns++] = rest;
	}
	if (nproj == 0) {
		/* Every tag of the project removed: put them back. */
		*repair = 1;
		if (note)
			*note = "the project's tags were removed; restored";
		goto out;
	}
	{
		char *bare = xasprintf("pw/%s", project);

		if (!tagset_has(tags, bare))
			*repair = 1;
		free(bare);
	}
	if (ns == 0) {
		*repair = 1;
		if (note)
			*note = "no state tag; the agreed state was restored";
	} else {
		p = pick(states, ns, base->state, &ambiguous);
		if (ambiguous) {
			*repair = 1;
			if (note)
				*note = p ? "several state tags; the newly added one wins"
					  : "several new state tags; none taken";
		}
		if (p)
			out->state = p;
	}
	if (o->archived)
		out->archived = archived;
	if (o->check) {
		/* The server's alone: a check tag other than the one shown is put right. */
		char *want = merge_check_tag(project, base->check);
		size_t k, nchecks = 0;

		for (k = 0; k < tags->n; k++) {
			const char *rest = project_rest(tags->v[k], project);

			if (rest && strncmp(rest, "check/", 6) == 0)
				nchecks++;
		}
		if (nchecks != (want ? 1u : 0u) || (want && !tagset_has(tags, want))) {
			*repair = 1;
			if (note && !*note)
				*note = "the check tag is Patchwork's; restored";
		}
		free(want);
	}
	if (o->delegate) {
		if (nd == 0) {
			out->delegate = "";
		} else {
			p = pick(delegates, nd, base->delegate, &ambiguous);
			if (ambiguous) {
				*repair = 1;
				if (note && !*note)
					*note = p ? "several delegate tags; the newly added one wins"
						  : "several new delegate tags; none taken";
			}
			if (p)
				out->delegate = p;
		}
	}
out:
	free(states);
	free(delegates);
}

enum merge_action
merge_field(const char *base, const char *local, const char *remote)
{
	int lmoved, rmoved;

	base = base ? base : "";
	local = local ? local : "";
	remote = remote ? remote : "";
	lmoved = strcmp(local, base) != 0;
	rmoved = strcmp(remote, base) != 0;
	if (!lmoved && !rmoved)
		return MERGE_NONE;
	if (!lmoved)
		return MERGE_TAKE_REMOTE;
	if (!rmoved)
		return MERGE_PUSH_LOCAL;
	if (strcmp(local, remote) == 0)
		return MERGE_AGREE;
	return MERGE_CONFLICT;
}

const char *
merge_action_name(enum merge_action a)
{
	switch (a) {
	case MERGE_NONE: return "none";
	case MERGE_TAKE_REMOTE: return "take-remote";
	case MERGE_PUSH_LOCAL: return "push-local";
	case MERGE_AGREE: return "agree";
	case MERGE_CONFLICT: return "conflict";
	}
	return "?";
}

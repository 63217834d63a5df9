/* libmerge.c - tags of a patch, values read back from tags, three-way merge of one field */
#include "libmerge.h"

#include <stdlib.h>
#include <string.h>

#include "libfield.h"
#include "libutil.h"

/* ---- names in tags ---- */

/* Bytes a name keeps as they are in a tag: ASCII letters and digits, and . _ - @ + */
static int
name_byte_safe(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-' || c == '@' || c == '+';
}

/*
 * The words a name of this kind must not be, as they are pwnm's own: a
 * state beside pw/<project>/archived, .../delegate/, .../check/ and
 * .../series/ (every word a field of libfield's table shows, and the
 * series marks), a project beside pw/conflict and pw/denied.
 */
static int
name_reserved(enum merge_name kind, const char *name)
{
	static const char *const global[] = { "conflict", "denied" };
	size_t i;

	if (kind == MERGE_NAME_PROJECT) {
		for (i = 0; i < sizeof(global) / sizeof(*global); i++)
			if (strcmp(name, global[i]) == 0)
				return 1;
		return 0;
	}
	if (kind != MERGE_NAME_STATE)
		return 0;
	if (strcmp(name, "series") == 0)
		return 1;
	for (i = 0; i < FIELD_COUNT; i++) {
		const struct field *f = &field_table[i];

		if (strcmp(name, f->name) == 0 || (f->on && strcmp(name, f->on) == 0) ||
		    (f->off && strcmp(name, f->off) == 0) || (f->label && strcmp(name, f->label) == 0))
			return 1;
	}
	return 0;
}

char *
merge_name_encode(enum merge_name kind, const char *name)
{
	struct buf b = { 0 };
	int reserved = name_reserved(kind, name);
	const unsigned char *p;

	buf_adds(&b, "");
	for (p = (const unsigned char *)name; *p; p++) {
		if (name_byte_safe(*p) && !(reserved && p == (const unsigned char *)name))
			buf_addc(&b, (char)*p);
		else
			buf_printf(&b, "%%%02X", *p);
	}
	return buf_release(&b);
}

char *
merge_name_decode(enum merge_name kind, const char *comp)
{
	struct buf b = { 0 };
	char *name, *again;
	const char *p;

	if (!comp || !*comp)
		return NULL;
	buf_adds(&b, "");
	for (p = comp; *p; p++) {
		if (*p == '%') {
			int hi = hex_digit_value(p[1]), lo = hi < 0 ? -1 : hex_digit_value(p[2]);

			if (lo < 0 || (hi == 0 && lo == 0)) {
				buf_free(&b);
				return NULL;
			}
			buf_addc(&b, (char)(hi * 16 + lo));
			p += 2;
		} else {
			buf_addc(&b, *p);
		}
	}
	name = buf_release(&b);
	/* Only the one spelling pwnm writes stands for the name. */
	again = merge_name_encode(kind, name);
	if (strcmp(again, comp) != 0) {
		free(name);
		name = NULL;
	}
	free(again);
	return name;
}

/* pw/<project> with the project's name encoded, whatever its length.  Caller frees. */
static char *
project_prefix(const char *project)
{
	char *enc = merge_name_encode(MERGE_NAME_PROJECT, project ? project : "");
	char *t = xasprintf("pw/%s", enc);

	free(enc);
	return t;
}

/* The longest of pwnm's own tags after pw/<project>: "/check/success" (and "/check/warning"). */
#define PROJECT_ROOM 14

/* The tag pw/<project>[/mid][/name of kind] (name NULL: none); NULL when it is too long for notmuch. */
static char *
tag_of(const char *project, const char *mid, enum merge_name kind, const char *name)
{
	char *pre, *enc = NULL, *t;

	if (!project || !*project)
		return NULL;
	pre = project_prefix(project);
	if (strlen(pre) + PROJECT_ROOM > MERGE_TAG_MAX) {
		/* A project is taken only with room for each of its own marks. */
		free(pre);
		return NULL;
	}
	if (name)
		enc = merge_name_encode(kind, name);
	t = xasprintf("%s%s%s%s%s", pre, mid ? "/" : "", mid ? mid : "", enc ? "/" : "",
		      enc ? enc : "");
	free(pre);
	free(enc);
	if (strlen(t) > MERGE_TAG_MAX) {
		free(t);
		return NULL;
	}
	return t;
}

char *
merge_project_tag(const char *project)
{
	return tag_of(project, NULL, MERGE_NAME_PROJECT, NULL);
}

char *
merge_state_tag(const char *project, const char *state)
{
	if (!state || !*state)
		return NULL;
	return tag_of(project, NULL, MERGE_NAME_STATE, state);
}

char *
merge_delegate_tag(const char *project, const char *user)
{
	if (!user || !*user)
		return NULL;
	return tag_of(project, "delegate", MERGE_NAME_USER, user);
}

int
merge_name_refused(const char *project, enum merge_name kind, const char *name)
{
	char *t;

	if (!name || !*name)
		return 0;
	if (kind == MERGE_NAME_PROJECT)
		t = merge_project_tag(name);
	else if (kind == MERGE_NAME_STATE)
		t = merge_state_tag(project, name);
	else
		t = merge_delegate_tag(project, name);
	free(t);
	return t == NULL;
}

char *
merge_name_shown(const char *name)
{
	size_t n = strlen(name), cut = n;
	char *head, *shown, *out;

	if (n > MERGE_NAME_SHOWN) {
		/* cut at a character's first byte */
		cut = MERGE_NAME_SHOWN;
		while (cut > 0 && ((unsigned char)name[cut] & 0xC0) == 0x80)
			cut--;
	}
	head = xstrndup(name, cut);
	shown = text_escape(head);
	out = cut < n ? xasprintf("%s... (%zu bytes)", shown, n) : xstrdup(shown);
	free(head);
	free(shown);
	return out;
}

/* Adds t (owned) to out; 1 when there was none (the name was refused). */
static int
add_owned(struct tagset *out, char *t)
{
	if (!t)
		return 1;
	tagset_add(out, t);
	free(t);
	return 0;
}

int
merge_patch_tags(const char *project, const struct pw_values *v, const struct tag_opts *o,
		 struct tagset *out)
{
	int refused;

	if (add_owned(out, merge_project_tag(project)))
		return 1; /* no tag of the project can be written */
	refused = v->state && *v->state ? add_owned(out, merge_state_tag(project, v->state)) : 0;
	if (o->archived && v->archived)
		add_owned(out, tag_of(project, "archived", MERGE_NAME_STATE, NULL));
	if (o->delegate && v->delegate && *v->delegate)
		refused += add_owned(out, merge_delegate_tag(project, v->delegate));
	if (o->check)
		add_owned(out, merge_check_tag(project, v->check));
	return refused;
}

char *
merge_check_tag(const char *project, const char *check)
{
	if (!check || (strcmp(check, "success") != 0 && strcmp(check, "warning") != 0 &&
		       strcmp(check, "fail") != 0))
		return NULL;
	return tag_of(project, "check", MERGE_NAME_STATE, check);
}

/* The part of tag after prefix ("pw/<project>", encoded) and a '/', or NULL; "" for the bare tag. */
static const char *
rest_of(const char *tag, const char *prefix, size_t n)
{
	if (strncmp(tag, prefix, n) != 0)
		return NULL;
	tag += n;
	if (*tag == '\0')
		return tag;
	if (*tag != '/')
		return NULL;
	return tag + 1;
}

/* The part of tag after "pw/<project>/", or NULL; "" for the bare pw/<project>. */
static const char *
project_rest(const char *tag, const char *project)
{
	char *pre = project_prefix(project);
	const char *rest = rest_of(tag, pre, strlen(pre));

	free(pre);
	return rest;
}

char *
merge_cover_tag(const char *project)
{
	return tag_of(project, "series", MERGE_NAME_STATE, "cover");
}

char *
merge_newer_tag(const char *project)
{
	return tag_of(project, "series", MERGE_NAME_STATE, "newer");
}

char *
merge_state_of_tag(const char *tag, const char *project)
{
	const char *rest = project_rest(tag, project);

	if (!rest || !*rest || strchr(rest, '/'))
		return NULL;
	return merge_name_decode(MERGE_NAME_STATE, rest);
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
	char *pre = project_prefix(project);
	size_t i = 0, n = strlen(pre);

	while (i < s->n) {
		if (rest_of(s->v[i], pre, n))
			tagset_del(s, s->v[i]);
		else
			i++;
	}
	free(pre);
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

/*
 * The name a picked tag component (encoded, as enc_base is base's)
 * stands for: base itself when it is base's, else the decoded name, kept
 * in names.
 */
static const char *
picked_name(enum merge_name kind, const char *comp, const char *base, const char *enc_base,
	    struct tagset *names)
{
	char *name;
	size_t i;

	if (strcmp(comp, enc_base) == 0)
		return base;
	name = merge_name_decode(kind, comp);
	if (!name)
		return base; /* cannot happen: only canonical components are candidates */
	tagset_add(names, name);
	for (i = 0; i < names->n && strcmp(names->v[i], name) != 0; i++)
		;
	free(name);
	return names->v[i];
}

/* A component pwnm reads as a name of this kind: the one spelling it writes. */
static int
is_name(enum merge_name kind, const char *comp)
{
	char *name = merge_name_decode(kind, comp);

	free(name);
	return name != NULL;
}

void
merge_local_values(const struct tagset *tags, const char *project, const struct pw_values *base,
		   const struct tag_opts *o, struct pw_values *out, struct tagset *names, int *repair,
		   const char **note)
{
	const char **states = xcalloc(tags->n + 1, sizeof(char *));
	const char **delegates = xcalloc(tags->n + 1, sizeof(char *));
	const char *bstate = base->state ? base->state : "";
	const char *bdeleg = base->delegate ? base->delegate : "";
	char *pre = project_prefix(project);
	char *enc_state = merge_name_encode(MERGE_NAME_STATE, bstate);
	char *enc_deleg = merge_name_encode(MERGE_NAME_USER, bdeleg);
	size_t i, ns = 0, nd = 0, nproj = 0, plen = strlen(pre);
	int archived = 0, ambiguous, legacy = *bstate && strcmp(bstate, enc_state) != 0;
	const char *p;

	*out = *base;
	*repair = 0;
	if (note)
		*note = NULL;
	for (i = 0; i < tags->n && legacy; i++) {
		const char *rest = rest_of(tags->v[i], pre, plen);

		/* With a state tag as pwnm writes it, no other tag is read as one. */
		if (rest && *rest && !strchr(rest, '/') && is_name(MERGE_NAME_STATE, rest))
			legacy = 0;
	}
	for (i = 0; i < tags->n; i++) {
		const char *rest = rest_of(tags->v[i], pre, plen);

		if (!rest)
			continue;
		nproj++;
		if (*rest == '\0')
			continue;
		if (legacy && strcmp(rest, bstate) == 0) {
			/*
			 * The agreed state as an older pwnm wrote it, unencoded
			 * (pw/alpha/archived for a state "archived"): read as
			 * that state, and rewritten.  It stands for the other
			 * fields only where they agree.
			 */
			states[ns++] = enc_state;
			*repair = 1;
			if (strcmp(rest, "archived") == 0 && base->archived)
				archived = 1;
			if (strncmp(rest, "delegate/", 9) == 0 && strcmp(rest + 9, enc_deleg) == 0)
				delegates[nd++] = rest + 9;
			continue;
		}
		if (strcmp(rest, "archived") == 0)
			archived = 1;
		else if (strncmp(rest, "delegate/", 9) == 0 && rest[9] &&
			 is_name(MERGE_NAME_USER, rest + 9))
			delegates[nd++] = rest + 9;
		else if (strncmp(rest, "delegate/", 9) == 0 && *bdeleg && strcmp(rest + 9, bdeleg) == 0) {
			delegates[nd++] = enc_deleg; /* the agreed delegate, unencoded by an older pwnm */
			*repair = 1;
		} else if (!strchr(rest, '/') && is_name(MERGE_NAME_STATE, rest))
			states[ns++] = rest;
	}
	if (nproj == 0) {
		/* Every tag of the project removed: put them back. */
		*repair = 1;
		if (note)
			*note = "the project's tags were removed; restored";
		goto out;
	}
	if (!tagset_has(tags, pre))
		*repair = 1;
	if (ns == 0 && *bstate && merge_name_refused(project, MERGE_NAME_STATE, bstate)) {
		/* A state too long for a tag shows none: the agreed state stands. */
	} else if (ns == 0) {
		*repair = 1;
		if (note)
			*note = "no state tag; the agreed state was restored";
	} else {
		p = pick(states, ns, enc_state, &ambiguous);
		if (ambiguous) {
			*repair = 1;
			if (note)
				*note = p ? "several state tags; the newly added one wins"
					  : "several new state tags; none taken";
		}
		if (p)
			out->state = picked_name(MERGE_NAME_STATE, p, base->state, enc_state, names);
	}
	if (o->archived)
		out->archived = archived;
	if (o->check) {
		/* The server's alone: a check tag other than the one shown is put right. */
		char *want = merge_check_tag(project, base->check);
		size_t k, nchecks = 0;

		for (k = 0; k < tags->n; k++) {
			const char *rest = rest_of(tags->v[k], pre, plen);

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
		if (nd == 0 && *bdeleg && merge_name_refused(project, MERGE_NAME_USER, bdeleg)) {
			/* A delegate too long for a tag shows none: the agreed one stands. */
		} else if (nd == 0) {
			out->delegate = "";
		} else {
			p = pick(delegates, nd, enc_deleg, &ambiguous);
			if (ambiguous) {
				*repair = 1;
				if (note && !*note)
					*note = p ? "several delegate tags; the newly added one wins"
						  : "several new delegate tags; none taken";
			}
			if (p)
				out->delegate =
					picked_name(MERGE_NAME_USER, p, base->delegate, enc_deleg, names);
		}
	}
out:
	free(states);
	free(delegates);
	free(pre);
	free(enc_state);
	free(enc_deleg);
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

/* libmerge.h - the pure parts of a sync: tags of a patch, values read back from tags, three-way merge */
#ifndef PWNM_LIBMERGE_H
#define PWNM_LIBMERGE_H

#include "libtagset.h"

/* The fields pwnm shows in tags.  Strings borrowed. */
struct pw_values {
	const char *state;    /* slug */
	int archived;
	const char *delegate; /* username, "" none */
	const char *check;    /* combined CI state (pending, success, warning, fail), "" unknown */
};

/* Which optional tags are written (pwnm.tag_archived, pwnm.tag_delegate, pwnm.tag_checks). */
struct tag_opts {
	int archived;
	int delegate;
	int check;
};

/*
 * Names from the server in tags.  A project's link name, a state's slug
 * and a username become one component of a tag each, written so that no
 * name reads back as another field or as pwnm's own marks:
 *   - every byte but the ASCII letters and digits and . _ - @ + is
 *     written %XX (upper-case hex): '/', '%', space, control characters,
 *     every byte of a non-ASCII character;
 *   - a name that is one of pwnm's own words in its place has its first
 *     byte written %XX: the states archived, unarchived, state, delegate,
 *     commit, commit_ref, check and series (pw/alpha/%61rchived is the
 *     state "archived", pw/alpha/archived the archived flag), and the
 *     projects conflict and denied (beside pw/conflict and pw/denied).
 * Ordinary names (new, under-review, linux-kernel, maint) are unchanged.
 * Decoding is the exact inverse, and only the one spelling pwnm writes
 * is read back: pw/alpha/%6Eew or pw/alpha/a%2Db is no name.  A tag
 * longer than notmuch's limit (MERGE_TAG_MAX bytes) is never written:
 * the name is refused, and its mail shows the rest.  A project is refused
 * unless each of pwnm's own tags of it (pw/<project>/check/success, the
 * longest) fits, so that no flag or mark of it is ever left out.
 */
#define MERGE_TAG_MAX 200 /* NOTMUCH_TAG_MAX */
enum merge_name { MERGE_NAME_PROJECT, MERGE_NAME_STATE, MERGE_NAME_USER };
/* The component for name; caller frees. */
char *merge_name_encode(enum merge_name kind, const char *name);
/* The name comp stands for; NULL when it is no component pwnm writes.  Caller frees. */
char *merge_name_decode(enum merge_name kind, const char *comp);
/* 1 when the tag of this name (a state or user of project, or a project) would be too long. */
int merge_name_refused(const char *project, enum merge_name kind, const char *name);
/* A name in a message: escaped (text_escape), a long one cut after MERGE_NAME_SHOWN bytes.  Caller frees. */
#define MERGE_NAME_SHOWN 40
char *merge_name_shown(const char *name);

/*
 * The tags of one name, NULL when the name is "" or its tag too long:
 * pw/<project>, pw/<project>/<state>, pw/<project>/delegate/<user>.
 * Caller frees.
 */
char *merge_project_tag(const char *project);
char *merge_state_tag(const char *project, const char *state);
char *merge_delegate_tag(const char *project, const char *user);

/*
 * Add the tags that show v for project to out: pw/<project>,
 * pw/<project>/<state>, and (when enabled) pw/<project>/archived,
 * pw/<project>/delegate/<username> and pw/<project>/check/<state> for a
 * check state of success, warning or fail (none while pending).  Returns
 * the number of names refused (their tag left out); a project refused
 * gets no tag at all.
 */
int merge_patch_tags(const char *project, const struct pw_values *v, const struct tag_opts *o,
		     struct tagset *out);

/*
 * pwnm's own marks in a project's namespace, beside the state tags (the
 * '/' keeps them apart from any state slug):
 *   pw/<project>/series/cover   the mail is the cover letter of a tracked series
 *   pw/<project>/series/newer   a later revision of the patch's series was posted
 * Caller frees; NULL when the project's tags are too long.
 */
char *merge_cover_tag(const char *project);
/* pw/<project>/check/<state> for success, warning and fail; NULL otherwise.  Caller frees. */
char *merge_check_tag(const char *project, const char *check);
char *merge_newer_tag(const char *project);

/*
 * The state a tag of project names (pw/<project>/<state>, decoded); NULL
 * when the tag is no state tag of project.  Caller frees.
 */
char *merge_state_of_tag(const char *tag, const char *project);

/*
 * Is a patch in this state still to be decided?  Every state but
 * accepted, rejected, superseded, not-applicable and handled-elsewhere
 * (the REST API does not say which states need action).
 */
int merge_state_open(const char *state);

/* Drop every tag of project (pw/<project> and pw/<project>/...) from s. */
void merge_drop_project_tags(struct tagset *s, const char *project);

/*
 * Read back the values the tags of one mail say for project, against
 * the agreed values base.  Fields whose tags are absent or ambiguous
 * keep the base value and set *repair (the tags should be rewritten):
 *   - no tag of the project at all (the user removed them): base, repair;
 *   - no state tag: base state, repair;
 *   - several state tags: the one that differs from base wins when it
 *     is the only one, else base; repair either way;
 *   - several delegate tags: likewise.
 * A state or delegate whose tag would be too long is shown by no tag:
 * none read back is the base value.  A tag an older pwnm wrote for the
 * base state or delegate before names were encoded (pw/alpha/archived
 * for the state "archived", with no encoded state tag beside it) is read
 * as that value and asks for a repair.  Strings in out point into base
 * or into names, which keeps the decoded names (the caller frees it with
 * tagset_free).  *note (may be NULL) is set to a static explanation when
 * something was ambiguous.
 */
void merge_local_values(const struct tagset *tags, const char *project, const struct pw_values *base,
			const struct tag_opts *o, struct pw_values *out, struct tagset *names,
			int *repair, const char **note);

enum merge_action {
	MERGE_NONE,        /* nobody moved */
	MERGE_TAKE_REMOTE, /* only Patchwork moved: tags follow */
	MERGE_PUSH_LOCAL,  /* only the tags moved: push */
	MERGE_AGREE,       /* both moved to the same value */
	MERGE_CONFLICT,    /* both moved differently */
};
/* One field, compared as strings (NULL is ""). */
enum merge_action merge_field(const char *base, const char *local, const char *remote);
const char *merge_action_name(enum merge_action a);

#endif

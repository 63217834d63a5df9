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
 * Add the tags that show v for project to out: pw/<project>,
 * pw/<project>/<state>, and (when enabled) pw/<project>/archived,
 * pw/<project>/delegate/<username> and pw/<project>/check/<state> for a
 * check state of success, warning or fail (none while pending).
 */
void merge_patch_tags(const char *project, const struct pw_values *v, const struct tag_opts *o,
		      struct tagset *out);

/*
 * pwnm's own marks in a project's namespace, beside the state tags (the
 * '/' keeps them apart from any state slug):
 *   pw/<project>/series/cover   the mail is the cover letter of a tracked series
 *   pw/<project>/series/newer   a later revision of the patch's series was posted
 * Caller frees.
 */
char *merge_cover_tag(const char *project);
/* pw/<project>/check/<state> for success, warning and fail; NULL otherwise.  Caller frees. */
char *merge_check_tag(const char *project, const char *check);
char *merge_newer_tag(const char *project);

/*
 * The state a tag of project names (pw/<project>/<state>), borrowed from
 * tag; NULL when the tag is no state tag of project.
 */
const char *merge_state_of_tag(const char *tag, const char *project);

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
 * Strings in out point into tags or base.  *note (may be NULL) is set
 * to a static explanation when something was ambiguous.
 */
void merge_local_values(const struct tagset *tags, const char *project, const struct pw_values *base,
			const struct tag_opts *o, struct pw_values *out, int *repair,
			const char **note);

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

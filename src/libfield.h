/* libfield.h - the fields pwnm keeps in step (state, archived, delegate, commit_ref), described once in a table */
#ifndef PWNM_LIBFIELD_H
#define PWNM_LIBFIELD_H

#include <stddef.h>
#include <stdint.h>

#include "libmerge.h"
#include "libpw.h"
#include "libstate.h"

/*
 * Every field of a patch that pwnm keeps in step has one entry in
 * field_table: where its agreed value lives in the patch record, its
 * wanted and sent values in the outbox record, the server's value in a
 * decoded patch and in an event, the member of a PATCH that carries it,
 * its value in the tags (struct pw_values) and the words that show it.
 * The merge, the push (intent, request, answer), the revert of a change
 * the mail could not take and `pwnm explain` loop over the table, so a
 * new field is a new entry (plus its members in those structures and in
 * the store's record encoding).
 *
 * A field's index is also its bit: FIELD_BIT(FIELD_STATE) is OUT_STATE
 * in the outbox's fields and sent_fields, and the run's masks of fields
 * observed, applied and landed use the same bits.
 */
enum field_id {
	FIELD_STATE,
	FIELD_ARCHIVED,
	FIELD_DELEGATE,
	FIELD_COMMIT_REF,
	FIELD_CHECK,     /* the server's alone: no outbox member, never pushed; its tag is restored */
	FIELD_COUNT
};
#define FIELD_BIT(i) (1u << (i))
#define FIELD_ALL (FIELD_BIT(FIELD_COUNT) - 1u)

enum field_type {
	FIELD_SLUG, /* one of the project's states; values seen are remembered (`pwnm states`) */
	FIELD_FLAG, /* 0 or 1, carried as the strings "0" and "1" */
	FIELD_USER, /* a username; the server takes its user id, learnt from what it sends */
	FIELD_TEXT, /* free text */
};

/* One value, borrowed: s is never NULL ("" none); id is the user id of a FIELD_USER (0: none or unknown). */
struct field_value {
	const char *s;
	uint32_t id;
};

/* An owned copy of a value. */
struct field_copy {
	char *s;     /* NULL: "" */
	uint32_t id;
};

/* "No such member" in the offsets below. */
#define FIELD_NO ((size_t)-1)

struct field {
	const char *name;   /* "state", "archived", "delegate": notes, explain, conflict notes */
	const char *label;  /* word before the value in -v and --dry-run lines ("" none) */
	const char *on;     /* FIELD_FLAG: the word for 1 ("archived") */
	const char *off;    /* FIELD_FLAG: the word for 0 ("unarchived") */
	const char *none;   /* what `pwnm explain` says for "" */
	enum field_type type;
	/* Where the value lives: offsetof() into each structure, FIELD_NO when it is not there. */
	size_t rec, rec_id;       /* struct patch_rec: the agreed value (char * / int; uint32_t id) */
	size_t want, want_id;     /* struct outbox_rec: the value to push */
	size_t sent;              /* struct outbox_rec: the value sent whose landing is unconfirmed */
	size_t remote, remote_id; /* struct pw_patch: the server's value */
	size_t update;            /* struct pw_update: const char * (NULL unchanged), int or long id (-1 unchanged) */
	size_t shown;             /* struct pw_values: the value the tags show; FIELD_NO: no tag */
	size_t tag_opt;           /* struct tag_opts: the int that turns its tags on; FIELD_NO: always on */
	/* An /api/events/ category that reports a new value, with the event's members holding it. */
	const char *event;        /* NULL: no event reports it (only patch lists do) */
	size_t ev, ev_id;         /* struct pw_event: the new value (and id) */
	size_t ev_has;            /* struct pw_event: int saying the event carries it; FIELD_NO: a non-empty ev */
};

extern const struct field field_table[FIELD_COUNT];

/* Values read from, and copied into, each structure.  Setters copy (the value may point into *dst). */
struct field_value field_agreed(const struct field *f, const struct patch_rec *p);
void field_set_agreed(const struct field *f, struct patch_rec *p, struct field_value v);
struct field_value field_wanted(const struct field *f, const struct outbox_rec *o);
void field_set_wanted(const struct field *f, struct outbox_rec *o, struct field_value v);
struct field_value field_sent(const struct field *f, const struct outbox_rec *o);
void field_set_sent(const struct field *f, struct outbox_rec *o, struct field_value v);
struct field_value field_remote(const struct field *f, const struct pw_patch *p);
/* The value an event reports for f; 0 when the event says nothing of f. */
int field_event(const struct field *f, const struct pw_event *e, struct field_value *v);

/* The value the tags show (pw_values); "" for a field with no tag.  The setter borrows v.s. */
struct field_value field_shown(const struct field *f, const struct pw_values *pv);
void field_set_shown(const struct field *f, struct pw_values *pv, struct field_value v);
/* True when f is read from and written to tags under these options. */
int field_in_tags(const struct field *f, const struct tag_opts *o);

/* A PATCH that changes nothing; then the fields to send, one by one (v.s borrowed). */
void field_update_init(struct pw_update *u);
void field_put_update(const struct field *f, struct pw_update *u, struct field_value v);

/* The value in a message: the flag's word, "(none)" for "", else the value itself.  Borrowed. */
const char *field_show(const struct field *f, struct field_value v);
/* The value in `pwnm explain`: like field_show, with the field's own word for "". */
const char *field_explain(const struct field *f, struct field_value v);
int field_value_equal(struct field_value a, struct field_value b);

void field_copy_set(struct field_copy *c, struct field_value v);
struct field_value field_copy_value(const struct field_copy *c);
void field_copy_free(struct field_copy *c);

#endif

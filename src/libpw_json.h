/* libpw_json.h - Patchwork REST API: JSON bodies decoded into records, and the PATCH body */
#ifndef PWNM_LIBPW_JSON_H
#define PWNM_LIBPW_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "libstatus.h"

/*
 * Pure functions of a body: no I/O, no libcurl, no notmuch (the fuzz
 * targets link this alone).
 */

/* ---- decoded records (all strings owned by the record) ---- */

struct pw_patch {
	uint32_t id;
	uint32_t project_id;
	char *project;        /* project link_name */
	char *msgid;          /* with angle brackets, as the server sends it */
	char *state;          /* slug */
	int archived;
	uint32_t delegate_id; /* 0: none */
	char *delegate;       /* username, "" none */
	char *date;           /* submission date, ISO, as sent */
	char *name;           /* subject */
	char *web_url;        /* "" when null */
	char *commit_ref;     /* the commit that applied it, "" when null or absent */
	char *hash;           /* Patchwork's hash of its diff, "" when null or absent */
	/* The first entry of series[] (a patch is in one series in practice): id 0 when none. */
	uint32_t series_id;
	uint32_t series_version;
	char *series_name;    /* "" when none */
	char *series_date;    /* the series' date, as sent; "" when none */
	char *check;          /* combined CI state: pending, success, warning, fail ("" absent) */
};
void pw_patch_free(struct pw_patch *p); /* frees the strings, not p */
void pw_patch_array_free(struct pw_patch *a, size_t n);

struct pw_event {
	uint64_t id;
	char *category;       /* "patch-state-changed", ... */
	char *date;           /* server time, ISO with microseconds, as sent */
	uint32_t project_id;
	uint32_t patch_id;    /* 0 when the event has no payload.patch */
	char *msgid;          /* payload.patch.msgid or "" */
	char *patch_date;     /* payload.patch.date (its submission date) or "" */
	char *previous_state; /* patch-state-changed, else "" */
	char *current_state;  /* patch-state-changed, else "" */
	int has_delegate;     /* patch-delegated */
	uint32_t current_delegate_id; /* 0: none */
	char *current_delegate;       /* username, "" none */
};
void pw_event_free(struct pw_event *e); /* frees the strings, not e */
void pw_event_array_free(struct pw_event *a, size_t n);
/*
 * The server's order of two events (<0, 0, >0): by date (whole seconds,
 * then the text for its fraction), then by id.
 */
int pw_event_order(const char *date_a, uint64_t id_a, const char *date_b, uint64_t id_b);

struct pw_project {
	uint32_t id;
	char *link_name;
	char *name;
	char *list_id;
	char *web_url;
};
void pw_project_array_free(struct pw_project *a, size_t n);

/* A series (GET /series/ and /series/<id>/): its cover letter and the patches received. */
struct pw_series {
	uint32_t id;
	uint32_t project_id;
	uint32_t version;
	uint32_t total;          /* patches announced ("n" of "[PATCH m/n]") */
	uint32_t received_total;
	int received_all;
	uint32_t submitter_id;   /* the person, 0 unknown */
	char *name;              /* "" when null */
	char *date;
	uint32_t cover_id;       /* 0: no cover letter */
	char *cover_msgid;       /* with angle brackets, "" none */
	uint32_t *patches;       /* ids of the patches received */
	size_t npatches;
};
void pw_series_array_free(struct pw_series *a, size_t n);

/* One CI check of a patch (GET /patches/<id>/checks/). */
struct pw_check {
	uint32_t id;
	char *context;
	char *state;             /* pending, success, warning, fail */
	char *target_url;        /* "" when null */
	char *description;       /* "" when null */
};
void pw_check_array_free(struct pw_check *a, size_t n);

/* A person (GET /people/, which needs a token): an address and the user account behind it. */
struct pw_person {
	uint32_t id;
	char *email;
	uint32_t user_id;        /* 0 when the address is linked to no user */
	char *username;          /* "" when the address is linked to no user */
};
void pw_person_array_free(struct pw_person *a, size_t n);
pwnm_status_t pw_people_from_json(const char *body, size_t len, struct pw_person **out, size_t *n,
				  char **err);

/*
 * Decoders: every field pwnm uses is checked for presence and type; a
 * missing or mistyped one is PWNM_STATUS_PROTOCOL with *err set to a
 * one-line message naming the field and the item's index ("item 3:
 * field 'state' is not a string").  *err is caller-freed; out arrays
 * are NULL/0 on failure.
 */
pwnm_status_t pw_patch_from_json(const char *body, size_t len, struct pw_patch *out, char **err);
pwnm_status_t pw_patches_from_json(const char *body, size_t len, struct pw_patch **out,
				   size_t *n, char **err);
pwnm_status_t pw_events_from_json(const char *body, size_t len, struct pw_event **out,
				  size_t *n, char **err);
pwnm_status_t pw_series_from_json(const char *body, size_t len, struct pw_series **out,
				  size_t *n, char **err);
pwnm_status_t pw_checks_from_json(const char *body, size_t len, struct pw_check **out, size_t *n,
				  char **err);
pwnm_status_t pw_projects_from_json(const char *body, size_t len, struct pw_project **out,
				    size_t *n, char **err);

/* "detail" text of an error body, or NULL.  Caller frees. */
char *pw_error_detail(const char *body, size_t len);
/*
 * The valid states named in a 400 body for an unknown state
 * ({"state": ["Invalid state bogus. Expected one of: new, ...."]}).
 * Returns a ';'-separated slug list, or NULL.  Caller frees.
 */
char *pw_valid_states_from_400(const char *body, size_t len);
/* "field: message" for the first error a 400 body names, or NULL (server text, unescaped).  Caller frees. */
char *pw_first_field_error(const char *body, size_t len);
/* True when body is an API root: an object with a "patches" link. */
int pw_is_api_root(const char *body, size_t len);

/*
 * PATCH body: state NULL = unchanged; archived -1 = unchanged;
 * delegate_id -1 = unchanged, 0 = null; commit_ref NULL = unchanged.
 */
char *pw_update_body(const char *state, int archived, long delegate_id, const char *commit_ref);

#endif

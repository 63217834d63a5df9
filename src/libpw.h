/* libpw.h - Patchwork REST API: JSON decoding, Link headers and the client calls */
#ifndef PWNM_LIBPW_H
#define PWNM_LIBPW_H

#include <stddef.h>
#include <stdint.h>

#include "libhttp.h"
#include "libstatus.h"

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
	char *previous_state; /* patch-state-changed, else "" */
	char *current_state;  /* patch-state-changed, else "" */
	int has_delegate;     /* patch-delegated */
	uint32_t current_delegate_id; /* 0: none */
	char *current_delegate;       /* username, "" none */
};
void pw_event_free(struct pw_event *e); /* frees the strings, not e */
void pw_event_array_free(struct pw_event *a, size_t n);

struct pw_project {
	uint32_t id;
	char *link_name;
	char *name;
	char *list_id;
	char *web_url;
};
void pw_project_array_free(struct pw_project *a, size_t n);

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

/* ---- Link header ---- */
struct pw_links {
	char *next, *prev, *first, *last; /* NULL when absent; owned */
};
/* Parse an RFC 8288 Link header value; unknown rels are ignored.  Never fails on junk: fields stay NULL. */
void pw_parse_links(const char *header, struct pw_links *out);
void pw_links_free(struct pw_links *l);
/* The "page" query parameter of url, or 0 when absent or invalid. */
unsigned pw_url_page(const char *url);
/* url with its page parameter set to page (added when absent).  Caller frees. */
char *pw_url_set_page(const char *url, unsigned page);

/* Percent-encode for a query value (RFC 3986 unreserved kept).  Caller frees. */
char *pw_urlencode(const char *s);

/* PATCH body: state NULL = unchanged; archived -1 = unchanged; delegate_id -1 = unchanged, 0 = null. */
char *pw_update_body(const char *state, int archived, long delegate_id);

/* ---- client ---- */

typedef struct pw_client pw_client_t;

/*
 * base_url is pwnm.url without the /api part ("https://patchwork.ozlabs.org").
 * The client uses http for every request.  Borrowed: http must outlive it.
 */
pw_client_t *pw_client_new(http_t *http, const char *base_url);
void pw_client_free(pw_client_t *c);
/* Last error text (names the URL).  Borrowed until the next call. */
const char *pw_client_error(pw_client_t *c);

/*
 * Find the newest API version the server offers: GET <base>/api/1.3/,
 * falling back to 1.2, 1.1, 1.0 on 404.  Sets the API root used by the
 * calls below; *version ("1.3") borrowed from the client.
 */
pwnm_status_t pw_discover(pw_client_t *c, const char **version);
/* Use this API version without asking (from the store). */
void pw_set_version(pw_client_t *c, const char *version);

/* All projects (all pages). */
pwnm_status_t pw_list_projects(pw_client_t *c, struct pw_project **out, size_t *n);

/*
 * Every patch of the project (by id), optionally only those submitted
 * since the ISO date `since` (NULL: all), ordered by id, 250 per page:
 * page 1 first, then the remaining pages (known from rel="last")
 * concurrently through the http handle.  progress (may be NULL) is
 * called after each page with pages done and pages total.
 */
typedef void (*pw_progress_cb)(unsigned done, unsigned total, void *data);
pwnm_status_t pw_list_patches(pw_client_t *c, uint32_t project_id, const char *since,
			      pw_progress_cb progress, void *pdata, struct pw_patch **out, size_t *n);

/*
 * The same, handing each decoded page to sink (borrowed for the call)
 * instead of collecting them, so memory does not grow with the list;
 * *out stays NULL.  A page may repeat an item of the one before it.
 */
typedef void (*pw_patches_cb)(const struct pw_patch *a, size_t n, void *data);
pwnm_status_t pw_list_patches_pages(pw_client_t *c, uint32_t project_id, const char *since,
				    pw_progress_cb progress, void *pdata, pw_patches_cb sink,
				    void *sdata, struct pw_patch **out, size_t *n);

/*
 * Patches of the project with id > above_id: pages of order=-id
 * followed by rel="next" until a page holds an id <= above_id.
 */
pwnm_status_t pw_list_patches_above(pw_client_t *c, uint32_t project_id, uint32_t above_id,
				    struct pw_patch **out, size_t *n);

/*
 * Events of the project in the given categories (NULL-terminated list;
 * one request chain per category, run concurrently) with date >= since
 * (ISO, NULL: all) and id > after_id, oldest first (order=date), all
 * pages.  Returned sorted by id ascending.
 */
pwnm_status_t pw_list_events(pw_client_t *c, uint32_t project_id, const char *const *categories,
			     const char *since, uint64_t after_id, struct pw_event **out, size_t *n);

/* The newest event of the project (any category), or *out zeroed (id 0) when there is none. */
pwnm_status_t pw_newest_event(pw_client_t *c, uint32_t project_id, struct pw_event *out);

/* One patch by id.  NOT_FOUND on 404. */
pwnm_status_t pw_get_patch(pw_client_t *c, uint32_t patch_id, struct pw_patch *out);

/*
 * A batch of updates, sent concurrently.  For each: the PATCH body
 * from pw_update_body; results per item:
 *   SUCCESS      200 and the returned patch carries the asked values (result filled)
 *   PROTOCOL     200 but a value differs (the server ignored the body)
 *   AUTH         403 "Invalid token." / no credentials
 *   FORBIDDEN    403 for any other detail (detail text in error)
 *   INVALID_VALUE 400 (valid_states filled when the body names them)
 *   NOT_FOUND    404
 *   SERVER/NETWORK/TIMEOUT  temporary, after the http layer's retries
 */
struct pw_update {
	/* in */
	uint32_t patch_id;
	const char *state;    /* NULL: unchanged */
	int archived;         /* -1: unchanged */
	long delegate_id;     /* -1: unchanged, 0: none */
	/* out */
	pwnm_status_t status;
	struct pw_patch result; /* on SUCCESS/PROTOCOL */
	char *error;          /* one line, caller frees (pw_update_clear) */
	char *valid_states;   /* ';'-list from a 400 body, or NULL */
	long retry_after;     /* seconds, -1 none */
};
pwnm_status_t pw_update_patches(pw_client_t *c, struct pw_update *u, size_t n);
void pw_update_clear(struct pw_update *u); /* frees out fields */

#endif

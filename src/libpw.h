/* libpw.h - Patchwork REST API: the client calls (over libhttp) */
#ifndef PWNM_LIBPW_H
#define PWNM_LIBPW_H

#include <stddef.h>
#include <stdint.h>

#include "libhttp.h"
#include "libpw_json.h"
#include "libpw_link.h"
#include "libstatus.h"

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
 * Find the newest API version the server offers: GET <base>/api/1.4/,
 * 1.3, 1.2, 1.1 and 1.0 at once, and take the newest that answers (a
 * failure other than 404 of a newer one is the answer).  Sets the API
 * root used by the calls below; *version ("1.3") borrowed from the client.
 */
pwnm_status_t pw_discover(pw_client_t *c, const char **version);
/*
 * Use this API version without asking (from the store).  A call that
 * answers 404 then checks the version's root once; when it answers 404
 * too (the instance was upgraded or downgraded), the client discovers
 * the version again and retries the call.
 */
void pw_set_version(pw_client_t *c, const char *version);
/* The API version in use ("1.3"); borrowed. */
const char *pw_client_version(pw_client_t *c);

/* All projects (all pages; those after the first at once when the server gives rel="last"). */
pwnm_status_t pw_list_projects(pw_client_t *c, struct pw_project **out, size_t *n);

/*
 * Every patch of the project (by id), optionally only those submitted
 * since the ISO date `since` (NULL: all), ordered by id, 250 per page:
 * page 1 first, then the remaining pages (known from rel="last")
 * a window at a time, concurrently through the http handle.  progress
 * (may be NULL) is called after each page or window with pages done and
 * pages total.  Each decoded page goes to sink (borrowed for the call)
 * instead of being collected, so memory does not grow with the list;
 * *out then stays NULL.  Without sink the patches are returned in *out.
 * A page may repeat an item of the one before it.
 */
typedef void (*pw_progress_cb)(unsigned done, unsigned total, void *data);
typedef void (*pw_patches_cb)(const struct pw_patch *a, size_t n, void *data);
pwnm_status_t pw_list_patches_pages(pw_client_t *c, uint32_t project_id, const char *since,
				    pw_progress_cb progress, void *pdata, pw_patches_cb sink,
				    void *sdata, struct pw_patch **out, size_t *n);

/*
 * The full lists of n projects at once: for each, every patch of the
 * project since `since` (as pw_list_patches_pages) to sink, and when
 * series_sink is set, its series since series_since (NULL: all) to
 * series_sink, page by page.  Every listing goes in the same batches, at
 * most the http handle's max_parallel requests in flight, the window of
 * numbered pages shared by the listings still going (so the bodies held
 * at once do not grow with the number of projects).  The sinks are
 * called in the caller's thread as each page is decoded; a page may
 * repeat an item of the one before it.  progress (may be NULL) is called
 * as for pw_list_patches_pages, for the patch list, with pdata.  A
 * failure of a patch list ends only its own project's listings: status
 * and error (one line naming the URL, caller frees); a failure of a
 * series list ends only that list (series_status: the caller asks for
 * the series it still needs some other way).  Returns the first failure
 * of a patch list (c's error set), or SUCCESS.
 */
typedef void (*pw_series_cb)(const struct pw_series *a, size_t n, void *data);
struct pw_full_list {
	/* in */
	uint32_t project_id;
	const char *since;
	pw_patches_cb sink;
	void *sdata;
	pw_series_cb series_sink; /* NULL: no series list */
	void *series_data;
	const char *series_since;
	pw_progress_cb progress;
	void *pdata;
	/* out */
	pwnm_status_t status;
	char *error;
	pwnm_status_t series_status;
};
pwnm_status_t pw_list_full(pw_client_t *c, struct pw_full_list *f, size_t n);

/*
 * The incremental poll of n projects at once: for each, its events
 * since the ISO date `since` (inclusive; NULL or "": every event),
 * oldest first, and unless events_only its patches with id >
 * above_id (a small newest-first page, then full pages when that was
 * not enough).  Every listing goes in the same batches, at most the
 * http handle's max_parallel requests in flight; a failure ends only
 * its own project's listings.  When nothing has answered this client
 * yet, the first project's first events page goes alone, and a server
 * that gives it no answer at all (NETWORK, TIMEOUT) is not asked the
 * rest: those polls are left with asked 0.  Results per poll: status
 * SUCCESS with ev (sorted by id) and patches (sorted by id ascending),
 * or the failure with error set; ev_page is the events a page of the
 * server: what the first page held when more followed, else the 250
 * asked for.  Returns the first failure (c's error set), or SUCCESS;
 * clear each poll with pw_poll_clear.
 */
struct pw_poll {
	/* in */
	uint32_t project_id;
	const char *since;
	int events_only;
	uint32_t above_id;
	/* out */
	int asked;              /* 0: not asked, the server gave no answer to the first request */
	pwnm_status_t status;
	char *error;            /* one line naming the URL, or NULL */
	struct pw_event *ev;
	size_t nev;
	size_t ev_page;         /* the server's page size for events, as far as this listing shows */
	struct pw_patch *patches;
	size_t n;
};
pwnm_status_t pw_poll_projects(pw_client_t *c, struct pw_poll *p, size_t n);
void pw_poll_clear(struct pw_poll *p);

/*
 * The newest page of the project's events (any category), newest first,
 * dated before the ISO date `before` when not NULL: 250, or fewer when
 * the server's pages are smaller; *n is 0 when there is none.  *more is
 * set when the server may have older ones (a rel="next" link, or no
 * Link header at all, which cannot tell).  Caller frees *out with
 * pw_event_array_free.
 */
pwnm_status_t pw_newest_events(pw_client_t *c, uint32_t project_id, const char *before,
			       struct pw_event **out, size_t *n, int *more);
/*
 * The server's clock: unix seconds of the latest Date header of a
 * successful answer to this client, 0 when none had one.
 */
int64_t pw_server_time(const pw_client_t *c);

/*
 * Series of the project whose date is >= since (ISO, NULL: all), every
 * page, ordered by id.  Caller frees *out with pw_series_array_free.
 */
pwnm_status_t pw_list_series(pw_client_t *c, uint32_t project_id, const char *since,
			     struct pw_series **out, size_t *n);

/*
 * The patches of each series in ids (one ?series= listing per series,
 * run together), every page; each decoded page goes to sink.
 */
pwnm_status_t pw_list_series_patches(pw_client_t *c, const uint32_t *ids, size_t nids,
				     pw_patches_cb sink, void *sdata);

/* The CI checks of one patch, every page.  Caller frees *out with pw_check_array_free. */
pwnm_status_t pw_list_checks(pw_client_t *c, uint32_t patch_id, struct pw_check **out, size_t *n);
/*
 * The people whose name or address contains text (GET people/?q=TEXT,
 * its first page, which holds them all unless a name is very common),
 * sent with the token: Patchwork answers it to token holders only (403
 * without).
 */
pwnm_status_t pw_find_people(pw_client_t *c, const char *text, struct pw_person **out, size_t *n);

/*
 * One patch by id.  NOT_FOUND on the API's 404 (with a JSON detail);
 * SERVER on a 404 without one (not the API's: no word on the patch);
 * PROTOCOL when the body is another patch.
 */
pwnm_status_t pw_get_patch(pw_client_t *c, uint32_t patch_id, struct pw_patch *out);
/*
 * Patches by id, asked for in one batch (concurrently, as many in flight
 * as the http handle allows).  For each ids[i], st[i] is SUCCESS (out[i]
 * filled; free it with pw_patch_free), NOT_FOUND (404) or the failure.
 * Returns SUCCESS when every one is SUCCESS or NOT_FOUND, else the first
 * other failure (pw_client_error names it).
 */
pwnm_status_t pw_get_patches(pw_client_t *c, const uint32_t *ids, size_t n, struct pw_patch *out,
			     pwnm_status_t *st);

/*
 * Patches wanted by id, looked for in their project's list where that is
 * cheaper than one GET each (Patchwork has no filter for a list of ids):
 * for each want, the list of the project's patches submitted since
 * `since` (the oldest submission date among them), by increasing id,
 * PW_PER_PAGE a page; every want's list in the same batches.  A list
 * stops when it holds every id, when a page ends past the highest id,
 * or as soon as its remaining pages would cost as many requests as the
 * ids still missing (the page count from rel="last"; without it, once
 * the pages read are as many as the ids still missing).  found[i] is 1
 * when out[i] was filled (free it with pw_patch_free); the ids not found
 * are for pw_get_patches.  A list that fails ends only itself (status,
 * error).  Returns the first failure, or SUCCESS.
 */
struct pw_want {
	/* in */
	uint32_t project_id;
	const char *since;        /* ISO date */
	const uint32_t *ids;
	size_t n;
	struct pw_patch *out;     /* n of them, filled where found */
	int *found;               /* n of them */
	/* out */
	unsigned pages;           /* list pages read */
	pwnm_status_t status;
	char *error;              /* caller frees, or NULL */
};
pwnm_status_t pw_find_patches_in_lists(pw_client_t *c, struct pw_want *w, size_t n);

/*
 * A batch of updates, sent concurrently.  For each: the PATCH body
 * from pw_update_body; results per item:
 *   SUCCESS      200 and the returned patch is the one sent and carries the asked values
 *                (result filled)
 *   PROTOCOL     200 but a value differs (the server ignored the body), or the body is
 *                another patch
 *   AUTH         403 "Invalid token." / no credentials
 *   FORBIDDEN    403 for any other detail (detail text in error)
 *   INVALID_VALUE 400 (valid_states filled when the body names them)
 *   NOT_FOUND    404 with a JSON detail, confirmed by GET of the patch (404 too)
 *   SERVER       also for a 404 that is not the API's (no JSON detail: a proxy's page) or
 *                that GET of the patch contradicts
 *   SERVER/NETWORK/TIMEOUT  temporary, after the http layer's retries
 */
struct pw_update {
	/* in */
	uint32_t patch_id;
	const char *state;    /* NULL: unchanged */
	int archived;         /* -1: unchanged */
	long delegate_id;     /* -1: unchanged, 0: none */
	const char *commit_ref; /* NULL: unchanged */
	/* out */
	pwnm_status_t status;
	struct pw_patch result; /* on SUCCESS/PROTOCOL */
	char *error;          /* one line, caller frees (pw_update_clear) */
	char *valid_states;   /* ';'-list from a 400 body, or NULL */
	long retry_after;     /* seconds, -1 none */
};
pwnm_status_t pw_update_patches(pw_client_t *c, struct pw_update *u, size_t n);
void pw_update_clear(struct pw_update *u); /* frees out fields */

/*
 * Lookups sent concurrently (at most the http handle's max_parallel in
 * flight), anonymously like every read.  Each is one patch by id
 * (patch_id set), or the first page (up to 250) of the patch list
 * filtered by one parameter, e.g. param "msgid" (a Message-ID without
 * brackets) or "hash" (a diff hash, API 1.2+).  Results per lookup:
 * status SUCCESS with patches[0..n) (caller clears with
 * pw_lookup_clear), NOT_FOUND for a patch id the server does not have,
 * else the failure with error set.  Returns the first failure other
 * than NOT_FOUND, or SUCCESS.
 */
struct pw_lookup {
	/* in */
	uint32_t patch_id;     /* one patch, or 0 */
	const char *param;     /* with patch_id 0: the filter's name */
	const char *value;     /* and its value (percent-encoded here) */
	/* out */
	pwnm_status_t status;
	struct pw_patch *patches;
	size_t n;
	char *error;           /* one line naming the URL, or NULL */
};
pwnm_status_t pw_lookup_patches(pw_client_t *c, struct pw_lookup *l, size_t n);
void pw_lookup_clear(struct pw_lookup *l);

#endif

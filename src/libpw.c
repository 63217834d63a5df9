/* libpw.c - Patchwork REST API: the client calls, one pagination driver for every list */
#include "libpw.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "liburl.h"
#include "libutil.h"

/* Pages fetched together in a full list (several times the requests in flight). */
#define PW_PAGE_WINDOW 32
/* Each listing's share of it when several go by number together, at least. */
#define PW_PAGE_WINDOW_MIN 4
#define PW_PER_PAGE 250
/* Page size of the first request of pw_list_patches_above: an idle check stays small. */
#define PW_PER_PAGE_PEEK 30
/* More pages than this in one listing is taken as a broken server, not data. */
#define PW_MAX_PAGES 100000u
/* Longest server text (detail) copied into an error message. */
#define PW_MAX_DETAIL 300

/* ==== client ==== */

struct pw_client {
	http_t *http;
	char *base;    /* without trailing '/' and "/api" */
	char *origin;  /* of base; NULL when base is not http(s) */
	char *version; /* "1.3" */
	char *root;    /* base/api/<version>/ */
	char *error;   /* last error, one line */
	int warned_no_link; /* the server's missing Link header was said once */
	int discovered;     /* the version was found by asking, not given by pw_set_version */
	int64_t server_time; /* the latest Date of a 2xx answer (the server's clock), 0 none */
	int answered;        /* a 2xx answer came back to this client */
};

static void
client_set_root(pw_client_t *c, const char *version)
{
	free(c->version);
	free(c->root);
	c->version = xstrdup(version);
	c->root = xasprintf("%s/api/%s/", c->base, version);
}

pw_client_t *
pw_client_new(http_t *http, const char *base_url)
{
	pw_client_t *c = xcalloc(1, sizeof(*c));
	size_t n;

	c->http = http;
	c->base = xstrdup(base_url ? base_url : "");
	n = strlen(c->base);
	while (n > 0 && c->base[n - 1] == '/')
		n--;
	if (n >= 4 && strncmp(c->base + n - 4, "/api", 4) == 0) {
		n -= 4;
		while (n > 0 && c->base[n - 1] == '/')
			n--;
	}
	c->base[n] = '\0';
	c->origin = url_origin(c->base);
	/* until pw_discover or pw_set_version says otherwise */
	client_set_root(c, "1.3");
	return c;
}

void
pw_client_free(pw_client_t *c)
{
	if (!c)
		return;
	free(c->base);
	free(c->origin);
	free(c->version);
	free(c->root);
	free(c->error);
	free(c);
}

const char *
pw_client_error(pw_client_t *c)
{
	return c->error ? c->error : "";
}

void
pw_set_version(pw_client_t *c, const char *version)
{
	client_set_root(c, version);
}

/* Hide the API token wherever a server echoed it (even in part) into s. */
static void
mask_secret(pw_client_t *c, char *s)
{
	if (s)
		http_mask_token(c->http, s);
}

static void ATTR_PRINTF(2, 3)
set_error(pw_client_t *c, const char *fmt, ...)
{
	va_list ap;

	free(c->error);
	va_start(ap, fmt);
	c->error = xvasprintf(fmt, ap);
	va_end(ap);
	mask_secret(c, c->error);
}

static void
take_error(pw_client_t *c, char *msg)
{
	free(c->error);
	c->error = msg;
	mask_secret(c, c->error);
}

/*
 * Server text s made safe to show and store: escaped (text_escape: one
 * line, no terminal controls or bidi overrides) and cut to at most
 * PW_MAX_DETAIL bytes; frees s.
 */
static char *
one_line(char *s)
{
	char *e;
	size_t n;

	if (!s)
		return NULL;
	e = text_escape(s);
	free(s);
	n = strlen(e);
	if (n > PW_MAX_DETAIL) {
		n = PW_MAX_DETAIL;
		/* do not cut a UTF-8 sequence */
		while (n > 0 && ((unsigned char)e[n] & 0xc0) == 0x80)
			n--;
		e[n] = '\0';
	}
	return e;
}

static int
is_token_detail(const char *d)
{
	return d && (strcmp(d, "Invalid token.") == 0 ||
		     strcmp(d, "Authentication credentials were not provided.") == 0);
}

/*
 * Status and one-line text for a failed request (r->status not
 * SUCCESS): 403 is AUTH for a token complaint, else FORBIDDEN; 404 is
 * NOT_FOUND; other statuses pass through.  The text names the method
 * and URL.  *err caller-freed.
 */
static pwnm_status_t
request_failure(const struct http_request *r, char **err)
{
	char *detail;
	pwnm_status_t st = r->status;

	if (r->status != PWNM_STATUS_HTTP) {
		if (r->error && strstr(r->error, r->url))
			*err = one_line(xstrdup(r->error));
		else if (r->error)
			*err = one_line(xasprintf("%s %s: %s", r->method, r->url, r->error));
		else
			*err = xasprintf("%s %s: %s", r->method, r->url,
					 pwnm_status_to_string(r->status));
		if (st == PWNM_STATUS_SUCCESS)
			st = PWNM_STATUS_PROTOCOL;
		return st;
	}
	detail = one_line(pw_error_detail(r->resp.data, r->resp.len));
	if (r->code == 403)
		st = is_token_detail(detail) ? PWNM_STATUS_AUTH : PWNM_STATUS_FORBIDDEN;
	else if (r->code == 404)
		st = PWNM_STATUS_NOT_FOUND;
	if (detail)
		*err = xasprintf("%s %s: HTTP %ld: %s", r->method, r->url, r->code, detail);
	else
		*err = xasprintf("%s %s: HTTP %ld", r->method, r->url, r->code);
	free(detail);
	return st;
}

static struct http_request *
new_get(const char *url)
{
	struct http_request *r = http_request_new("GET", url, NULL);

	r->auth = 0; /* reads are anonymous: a bad token makes even reads fail */
	return r;
}

/* The server's clock, from the Date header of an answer. */
static void
note_server_time(pw_client_t *c, const struct http_request *r)
{
	c->answered = 1;
	if (r->date > c->server_time)
		c->server_time = r->date;
}

int64_t
pw_server_time(const pw_client_t *c)
{
	return c->server_time;
}

/*
 * Run n anonymous GETs in one batch.  SUCCESS when all answered 2xx;
 * otherwise the mapped status of the first failure, with c->error set.
 */
static pwnm_status_t
run_gets(pw_client_t *c, struct http_request **reqs, size_t n)
{
	size_t i;

	http_run(c->http, reqs, n);
	for (i = 0; i < n; i++)
		if (reqs[i]->status == PWNM_STATUS_SUCCESS)
			note_server_time(c, reqs[i]);
	for (i = 0; i < n; i++) {
		if (reqs[i]->status != PWNM_STATUS_SUCCESS) {
			char *msg;
			pwnm_status_t st = request_failure(reqs[i], &msg);

			take_error(c, msg);
			return st;
		}
	}
	return PWNM_STATUS_SUCCESS;
}

static void
free_reqs(struct http_request **reqs, size_t n)
{
	size_t i;

	if (!reqs)
		return;
	for (i = 0; i < n; i++)
		http_request_free(reqs[i]);
	free(reqs);
}

/* A page link must stay on the configured origin. */
static pwnm_status_t
check_link(pw_client_t *c, const char *url)
{
	char *o = url_origin(url);
	int same = o && c->origin && strcmp(o, c->origin) == 0;

	free(o);
	if (!same) {
		char *shown = one_line(xstrdup(url));

		set_error(c, "refusing to follow a page link to another host: %s", shown);
		free(shown);
		return PWNM_STATUS_PROTOCOL;
	}
	return PWNM_STATUS_SUCCESS;
}

/* ---- growable result arrays ---- */

struct vec {
	char *v;
	size_t n, cap, size;
};

/* Copy n items to the end of v (the items' strings now belong to v). */
static void
vec_push(struct vec *v, const void *a, size_t n)
{
	if (v->n + n > v->cap) {
		size_t cap = v->cap ? v->cap : 16;

		while (cap < v->n + n)
			cap *= 2;
		v->v = xreallocarray(v->v, cap, v->size);
		v->cap = cap;
	}
	if (n)
		memcpy(v->v + v->n * v->size, a, n * v->size);
	v->n += n;
}

/*
 * Sort v by cmp and keep the first of each run of equal items, freeing
 * the others with release (a page boundary that moved while paging, or
 * two listings, show an item twice).
 */
static void
vec_sort_unique(struct vec *v, int (*cmp)(const void *, const void *), void (*release)(void *))
{
	size_t i, k = 0;

	if (v->n < 2)
		return;
	qsort(v->v, v->n, v->size, cmp);
	for (i = 0; i < v->n; i++) {
		char *item = v->v + i * v->size;

		if (k > 0 && cmp(v->v + (k - 1) * v->size, item) == 0) {
			release(item);
			continue;
		}
		if (k != i)
			memcpy(v->v + k * v->size, item, v->size);
		k++;
	}
	v->n = k;
}

static int
cmp_patch_id(const void *a, const void *b)
{
	uint32_t x = ((const struct pw_patch *)a)->id, y = ((const struct pw_patch *)b)->id;

	return x < y ? -1 : x > y;
}

static int
cmp_event_id(const void *a, const void *b)
{
	uint64_t x = ((const struct pw_event *)a)->id, y = ((const struct pw_event *)b)->id;

	return x < y ? -1 : x > y;
}

static void
patch_release(void *p)
{
	pw_patch_free(p);
}

static void
event_release(void *e)
{
	pw_event_free(e);
}

/* ---- the pagination driver ---- */

/* What a page held, as sent (before any filtering). */
struct page_info {
	size_t count;          /* items */
	uint64_t first, last;  /* ids of the first and last item; 0 when empty */
	int stop;              /* set by the page callback: no further page is wanted */
};

/*
 * One listing: where its first page is, what to do with each page, and
 * how it may go on.  paginate() runs several listings together; every
 * list of the client goes through it.
 *
 * How a listing goes on, after each page: by rel="next", which must stay
 * on the configured origin and point to a later page than the one it
 * came with (a link back is a cycle); at most a few pages past the
 * server's own rel="last"; a page holding exactly what the page before
 * it held (the same count, first and last id) ends the listing with an
 * error, as does a page link to the page itself.  Without any Link
 * header (a proxy may drop it; the server then gets one warning), the
 * next page number is asked for while pages come back as full as the
 * first one (its size is the server's page size, whatever was asked),
 * until a short or empty page or a 404.
 */
struct listing {
	/* in */
	char *url; /* the first page (owned) */
	/* Decode r's body and keep what it holds; fill *pi. */
	pwnm_status_t (*page)(pw_client_t *c, struct listing *l, const struct http_request *r,
			      struct page_info *pi);
	void *data;
	int by_number;      /* with rel="last", the pages up to it go concurrently by number */
	unsigned max_pages; /* stop after this many pages (more is then set); 0: no such limit */
	pw_progress_cb progress;
	void *pdata;
	/*
	 * group (not 0): a failure of this listing ends only the listings of
	 * its group, and is kept in status and error instead of ending every
	 * listing of the call.
	 */
	unsigned group;
	/* out */
	int more;           /* max_pages stopped the listing while the server had a next page */
	pwnm_status_t status; /* with group: SUCCESS, or the failure that ended the group */
	char *error;        /* with group: that failure's text (owned), or NULL */
	/* state */
	char *next;         /* the next page to fetch one at a time, or NULL */
	int next_guessed;   /* next is a page number asked for without a Link */
	unsigned pages;     /* pages decoded */
	unsigned last;      /* pages still to fetch by number go up to this; 0: none */
	unsigned count_last; /* the page count rel="last" gave on the first page; 0 unknown */
	size_t per_page;    /* items on the first page: the server's page size */
	struct page_info prev; /* the page before the current one */
	char **visited;     /* next links without a page number, for the cycle check */
	size_t nvisited;
	int done;
};

static void
listing_free(struct listing *l)
{
	size_t i;

	free(l->url);
	free(l->next);
	free(l->error);
	l->url = l->next = l->error = NULL;
	for (i = 0; i < l->nvisited; i++)
		free(l->visited[i]);
	free(l->visited);
	l->visited = NULL;
	l->nvisited = 0;
}

/* The page number of url, 1 for the listing's own first URL without one; 0 unknown. */
static unsigned
page_of(const struct listing *l, const char *url)
{
	unsigned p = pw_url_page(url);

	if (p == 0 && strcmp(url, l->url) == 0)
		p = 1;
	return p;
}

/* A next link that goes where the listing has been already; NULL when it does not. */
static const char *
cycle_of(struct listing *l, const struct http_request *r, const char *next, unsigned *back)
{
	unsigned np = page_of(l, next), cp = page_of(l, r->url);
	size_t i;

	*back = 0;
	if (np && cp) {
		if (np > cp)
			return NULL;
		*back = np;
		return "goes back";
	}
	for (i = 0; i < l->nvisited; i++)
		if (strcmp(l->visited[i], next) == 0)
			return "goes round";
	l->visited = xreallocarray(l->visited, l->nvisited + 1, sizeof(*l->visited));
	l->visited[l->nvisited++] = xstrdup(next);
	return NULL;
}

/* Say once per client that the server sends no Link header. */
static void
note_no_link(pw_client_t *c)
{
	if (c->warned_no_link)
		return;
	c->warned_no_link = 1;
	warn("%s sends no Link header (a proxy may drop it): pages are asked for by number "
	     "until a short one",
	     c->base);
}

/* What a listing does after r, its last page of a batch (pi: what it held). */
static pwnm_status_t
listing_continue(pw_client_t *c, struct listing *l, const struct http_request *r,
		 const struct page_info *pi)
{
	struct pw_links lk;
	pwnm_status_t st = PWNM_STATUS_SUCCESS;
	int repeats;

	free(l->next);
	l->next = NULL;
	l->next_guessed = 0;
	repeats = l->pages > 1 && pi->count == l->prev.count && pi->first == l->prev.first &&
		  pi->last == l->prev.last;
	l->prev = *pi;
	pw_parse_links(r->link, &lk);
	if (l->pages == 1) {
		l->per_page = pi->count;
		if (lk.last) {
			unsigned total;

			if ((st = check_link(c, lk.last)))
				goto out;
			total = pw_url_page(lk.last);
			if (total > PW_MAX_PAGES) {
				set_error(c, "GET %s: implausible page count %u in the Link header",
					  r->url, total);
				st = PWNM_STATUS_PROTOCOL;
				goto out;
			}
			l->count_last = total;
			/* a "last" of 1 with a "next" is no page count: one page at a time */
			if (l->by_number && total >= 1 && !(total == 1 && lk.next)) {
				l->last = total;
				if (total == 1)
					l->done = 1;
				goto out;
			}
		}
	}
	if (repeats) {
		set_error(c, "GET %s: page %u repeats page %u (the server's page links do not end)",
			  r->url, l->pages, l->pages - 1);
		st = PWNM_STATUS_PROTOCOL;
		goto out;
	}
	if (l->last > l->pages)
		goto out; /* the next window of numbered pages */
	if (lk.next) {
		const char *cycle;
		unsigned back;

		if ((st = check_link(c, lk.next)))
			goto out;
		if (strcmp(lk.next, r->url) == 0) {
			set_error(c, "GET %s: the next page link points to the same page", r->url);
			st = PWNM_STATUS_PROTOCOL;
			goto out;
		}
		if ((cycle = cycle_of(l, r, lk.next, &back))) {
			char *shown = one_line(xstrdup(lk.next));

			if (back)
				set_error(c, "GET %s: the next page link goes back to page %u (%s)",
					  r->url, back, shown);
			else
				set_error(c, "GET %s: the next page link goes round to a page already "
					     "read (%s)",
					  r->url, shown);
			free(shown);
			st = PWNM_STATUS_PROTOCOL;
			goto out;
		}
		if (l->count_last && l->pages >= l->count_last + 2 + l->count_last / 8) {
			set_error(c, "GET %s: the page links go on past page %u, the server's own last",
				  r->url, l->count_last);
			st = PWNM_STATUS_PROTOCOL;
			goto out;
		}
		if (l->max_pages && l->pages >= l->max_pages) {
			l->more = 1;
			l->done = 1;
			goto out;
		}
		if (l->pages >= PW_MAX_PAGES) {
			set_error(c, "GET %s: more than %u pages, giving up", r->url, PW_MAX_PAGES);
			st = PWNM_STATUS_PROTOCOL;
			goto out;
		}
		l->next = lk.next;
		lk.next = NULL;
		goto out;
	}
	if (!(r->link && *r->link)) {
		note_no_link(c);
		if (pi->count > 0 && (l->pages == 1 || pi->count >= l->per_page) &&
		    l->pages < PW_MAX_PAGES) {
			if (l->max_pages && l->pages >= l->max_pages) {
				l->more = 1;
				l->done = 1;
				goto out;
			}
			l->next = pw_url_set_page(l->url, l->pages + 1);
			l->next_guessed = 1;
			goto out;
		}
	}
	l->done = 1;
out:
	pw_links_free(&lk);
	if (st)
		l->done = 1;
	return st;
}

/* A request of a batch and the listing it belongs to. */
struct batch_item {
	struct listing *l;
	struct http_request *r;
	int guessed;
};

/*
 * Listing l of ls failed with st (text msg, taken; NULL: c->error).
 * Without a group, that is the call's failure: c->error is set and st
 * returned.  With one, the failure is kept in the group's first listing
 * still going (l) and every listing of the group ends; SUCCESS.
 */
static pwnm_status_t
listing_failed(pw_client_t *c, struct listing *ls, size_t n, struct listing *l, pwnm_status_t st,
	       char *msg)
{
	size_t i;

	if (!l->group) {
		if (msg)
			take_error(c, msg);
		return st;
	}
	l->status = st;
	free(l->error);
	l->error = msg ? msg : xstrdup(pw_client_error(c));
	for (i = 0; i < n; i++)
		if (ls[i].group == l->group)
			ls[i].done = 1;
	return PWNM_STATUS_SUCCESS;
}

/*
 * Run the n listings to their ends, or for max_batches batches (0: no
 * limit; a later call goes on where this one stopped): each batch holds
 * the next page of every listing still going, or a window of numbered
 * pages of one that knows its page count; bodies are decoded and freed
 * before the next batch, so memory does not grow with the page count.
 * SUCCESS, or the first failure of a listing without a group (c->error
 * set).
 */
static pwnm_status_t
paginate_batches(pw_client_t *c, struct listing *ls, size_t n, unsigned max_batches)
{
	struct batch_item *b = NULL;
	size_t cap = 0, nb, i, k;
	pwnm_status_t st = PWNM_STATUS_SUCCESS;
	unsigned batches = 0;

	for (; !max_batches || batches < max_batches; batches++) {
		unsigned window, numbered = 0;

		/* the listings going by number share the window: the bodies a batch holds stay bounded */
		for (i = 0; i < n; i++)
			if (!ls[i].done && ls[i].pages > 0 && ls[i].last > ls[i].pages)
				numbered++;
		window = numbered > 1 ? PW_PAGE_WINDOW / numbered : PW_PAGE_WINDOW;
		if (window < PW_PAGE_WINDOW_MIN)
			window = PW_PAGE_WINDOW_MIN;
		nb = 0;
		for (i = 0; i < n; i++) {
			struct listing *l = &ls[i];
			unsigned from, to, p;

			if (l->done)
				continue;
			if (l->pages > 0 && l->last > l->pages) {
				from = l->pages + 1;
				to = l->last - l->pages > window ? l->pages + window : l->last;
			} else {
				from = to = 0;
			}
			if (nb + (to - from + 1) > cap) {
				cap = nb + (to - from + 1) + 8;
				b = xreallocarray(b, cap, sizeof(*b));
			}
			if (from) {
				for (p = from; p <= to; p++) {
					char *pu = pw_url_set_page(l->url, p);

					b[nb].l = l;
					b[nb].r = new_get(pu);
					b[nb].guessed = 0;
					nb++;
					free(pu);
				}
			} else {
				b[nb].l = l;
				b[nb].r = new_get(l->pages ? l->next : l->url);
				b[nb].guessed = l->pages ? l->next_guessed : 0;
				nb++;
			}
		}
		if (nb == 0)
			break;
		{
			struct http_request **reqs = xcalloc(nb, sizeof(*reqs));

			for (k = 0; k < nb; k++)
				reqs[k] = b[k].r;
			http_run(c->http, reqs, nb);
			free(reqs);
		}
		for (k = 0; k < nb && st == PWNM_STATUS_SUCCESS; k++) {
			struct listing *l = b[k].l;
			struct http_request *r = b[k].r;
			struct page_info pi = { 0 };
			int last_of_batch = k + 1 == nb || b[k + 1].l != l;
			pwnm_status_t ls_st;

			if (l->done)
				continue;
			if (r->status != PWNM_STATUS_SUCCESS) {
				char *msg;
				pwnm_status_t rs = request_failure(r, &msg);

				if (b[k].guessed && rs == PWNM_STATUS_NOT_FOUND) {
					/* past the last page */
					free(msg);
					l->done = 1;
					continue;
				}
				st = listing_failed(c, ls, n, l, rs, msg);
				continue;
			}
			note_server_time(c, r);
			if ((ls_st = l->page(c, l, r, &pi))) {
				st = listing_failed(c, ls, n, l, ls_st, NULL);
				continue;
			}
			l->pages++;
			if (pi.stop)
				l->done = 1;
			else if (last_of_batch && (ls_st = listing_continue(c, l, r, &pi)))
				st = listing_failed(c, ls, n, l, ls_st, NULL);
			if (last_of_batch && l->progress) {
				unsigned total = l->last > l->pages ? l->last : l->pages;

				if (l->next && !l->next_guessed)
					total = l->pages + 1;
				l->progress(l->pages, total, l->pdata);
			}
			/* the body is decoded: free it now rather than with the batch */
			buf_free(&r->resp);
		}
		for (k = 0; k < nb; k++)
			http_request_free(b[k].r);
		if (st)
			break;
	}
	free(b);
	return st;
}

static pwnm_status_t
paginate(pw_client_t *c, struct listing *ls, size_t n)
{
	return paginate_batches(c, ls, n, 0);
}

/* ---- pages of each kind ---- */

static pwnm_status_t
decode_patches_page(pw_client_t *c, const struct http_request *r, struct pw_patch **a, size_t *n)
{
	char *why = NULL;
	pwnm_status_t st = pw_patches_from_json(r->resp.data, r->resp.len, a, n, &why);

	if (st != PWNM_STATUS_SUCCESS)
		set_error(c, "GET %s: %s", r->url, why);
	free(why);
	return st;
}

/* A page of patches decoded, and what it held in *pi. */
static pwnm_status_t
decode_patches_info(pw_client_t *c, const struct http_request *r, struct pw_patch **a, size_t *n,
		    struct page_info *pi)
{
	pwnm_status_t st = decode_patches_page(c, r, a, n);

	if (st)
		return st;
	pi->count = *n;
	if (*n) {
		pi->first = (*a)[0].id;
		pi->last = (*a)[*n - 1].id;
	}
	return PWNM_STATUS_SUCCESS;
}

static pwnm_status_t
decode_events_page(pw_client_t *c, const struct http_request *r, struct pw_event **a, size_t *n)
{
	char *why = NULL;
	pwnm_status_t st = pw_events_from_json(r->resp.data, r->resp.len, a, n, &why);

	if (st != PWNM_STATUS_SUCCESS)
		set_error(c, "GET %s: %s", r->url, why);
	free(why);
	return st;
}

/* Where the patches of a listing go. */
struct patch_pages {
	struct vec v;
	pw_patches_cb sink; /* when set, pages go here instead of into v */
	void *sink_data;
	int above;          /* keep only ids > above_id; a page with a smaller one ends the listing */
	uint32_t above_id;
};

static pwnm_status_t
patch_page(pw_client_t *c, struct listing *l, const struct http_request *r, struct page_info *pi)
{
	struct patch_pages *pp = l->data;
	struct pw_patch *a;
	size_t an, i, k = 0;
	pwnm_status_t st = decode_patches_info(c, r, &a, &an, pi);

	if (st)
		return st;
	if (pp->above) {
		for (i = 0; i < an; i++) {
			if (a[i].id > pp->above_id) {
				a[k++] = a[i];
			} else {
				pi->stop = 1;
				pw_patch_free(&a[i]);
			}
		}
		an = k;
	}
	if (pp->sink) {
		pp->sink(a, an, pp->sink_data);
		pw_patch_array_free(a, an);
	} else {
		vec_push(&pp->v, a, an);
		free(a);
	}
	return PWNM_STATUS_SUCCESS;
}

/* Events of a listing, those with id > after_id. */
struct event_pages {
	struct vec v;
	uint64_t after_id;
};

static pwnm_status_t
event_page(pw_client_t *c, struct listing *l, const struct http_request *r, struct page_info *pi)
{
	struct event_pages *ep = l->data;
	struct pw_event *ev;
	size_t an, k;
	pwnm_status_t st = decode_events_page(c, r, &ev, &an);

	if (st)
		return st;
	pi->count = an;
	if (an) {
		pi->first = ev[0].id;
		pi->last = ev[an - 1].id;
	}
	for (k = 0; k < an; k++) {
		if (ev[k].id > ep->after_id)
			vec_push(&ep->v, &ev[k], 1);
		else
			pw_event_free(&ev[k]);
	}
	free(ev);
	return PWNM_STATUS_SUCCESS;
}

/*
 * The end of a page of projects, series or checks: a decoding failure
 * said, or the page's items kept in the listing's vector with the ids
 * of its first and last.
 */
static pwnm_status_t
keep_page(pw_client_t *c, struct listing *l, const struct http_request *r, struct page_info *pi,
	  pwnm_status_t st, char *why, void *a, size_t an, uint32_t first, uint32_t last)
{
	if (st) {
		set_error(c, "GET %s: %s", r->url, why);
		free(why);
		return st;
	}
	pi->count = an;
	pi->first = first;
	pi->last = last;
	vec_push(l->data, a, an);
	free(a);
	return PWNM_STATUS_SUCCESS;
}

static pwnm_status_t
project_page(pw_client_t *c, struct listing *l, const struct http_request *r, struct page_info *pi)
{
	struct pw_project *a;
	size_t an;
	char *why = NULL;
	pwnm_status_t st = pw_projects_from_json(r->resp.data, r->resp.len, &a, &an, &why);

	return keep_page(c, l, r, pi, st, why, a, an, an ? a[0].id : 0, an ? a[an - 1].id : 0);
}

static pwnm_status_t
series_page(pw_client_t *c, struct listing *l, const struct http_request *r, struct page_info *pi)
{
	struct pw_series *a;
	size_t an;
	char *why = NULL;
	pwnm_status_t st = pw_series_from_json(r->resp.data, r->resp.len, &a, &an, &why);

	return keep_page(c, l, r, pi, st, why, a, an, an ? a[0].id : 0, an ? a[an - 1].id : 0);
}

static pwnm_status_t
check_page(pw_client_t *c, struct listing *l, const struct http_request *r, struct page_info *pi)
{
	struct pw_check *a;
	size_t an;
	char *why = NULL;
	pwnm_status_t st = pw_checks_from_json(r->resp.data, r->resp.len, &a, &an, &why);

	return keep_page(c, l, r, pi, st, why, a, an, an ? a[0].id : 0, an ? a[an - 1].id : 0);
}

/* ---- discovery ---- */

pwnm_status_t
pw_discover(pw_client_t *c, const char **version)
{
	static const char *const versions[] = { "1.4", "1.3", "1.2", "1.1", "1.0" };
	enum { NV = sizeof(versions) / sizeof(*versions) };
	struct http_request *reqs[NV];
	pwnm_status_t st = PWNM_STATUS_NOT_FOUND;
	size_t i, found = NV;

	*version = NULL;
	/* every version's root at once; the newest that answers is taken */
	for (i = 0; i < NV; i++) {
		char *url = xasprintf("%s/api/%s/", c->base, versions[i]);

		reqs[i] = new_get(url);
		free(url);
	}
	http_run(c->http, reqs, NV);
	for (i = 0; i < NV && found == NV; i++) {
		char *msg;

		if (reqs[i]->status != PWNM_STATUS_SUCCESS) {
			st = request_failure(reqs[i], &msg);
			take_error(c, msg);
			if (st == PWNM_STATUS_NOT_FOUND)
				continue;
			break;
		}
		note_server_time(c, reqs[i]);
		if (!pw_is_api_root(reqs[i]->resp.data, reqs[i]->resp.len)) {
			set_error(c, "GET %s: not a Patchwork API root (no 'patches' link)", reqs[i]->url);
			st = PWNM_STATUS_PROTOCOL;
			break;
		}
		st = PWNM_STATUS_SUCCESS;
		found = i;
	}
	for (i = 0; i < NV; i++)
		http_request_free(reqs[i]);
	if (st == PWNM_STATUS_NOT_FOUND) {
		set_error(c, "no Patchwork REST API at %s/api/ (versions 1.0 to 1.4 answer 404)", c->base);
		return st;
	}
	if (st != PWNM_STATUS_SUCCESS)
		return st;
	client_set_root(c, versions[found]);
	c->discovered = 1;
	free(c->error); /* the 404s of newer versions are not an error */
	c->error = NULL;
	*version = c->version;
	return PWNM_STATUS_SUCCESS;
}

const char *
pw_client_version(pw_client_t *c)
{
	return c->version;
}

/*
 * After a 404: when the API version was given (from the store) and its
 * root answers 404 too, the instance was upgraded or downgraded under
 * us: discover the version again.  True when the caller should retry;
 * otherwise c->error is left as the 404 set it.
 */
static int
rediscovered(pw_client_t *c)
{
	struct http_request *r;
	char *saved;
	const char *v;
	pwnm_status_t st;

	if (c->discovered)
		return 0;
	c->discovered = 1; /* once per client */
	saved = c->error ? xstrdup(c->error) : NULL;
	r = new_get(c->root);
	st = run_gets(c, &r, 1);
	http_request_free(r);
	if (st == PWNM_STATUS_NOT_FOUND && pw_discover(c, &v) == PWNM_STATUS_SUCCESS) {
		free(saved);
		return 1;
	}
	take_error(c, saved);
	return 0;
}

/* The first page of a project's list of kind ("patches", "series") by id, since the ISO date (NULL: all). */
static char *
project_list_url(pw_client_t *c, const char *kind, uint32_t project_id, const char *since)
{
	char *enc = since ? pw_urlencode(since) : NULL;
	char *url = xasprintf("%s%s/?project=%u&order=id&per_page=%d%s%s", c->root, kind, project_id,
			      PW_PER_PAGE, enc ? "&since=" : "", enc ? enc : "");

	free(enc);
	return url;
}

/* ---- projects ---- */

static pwnm_status_t
pw_list_projects_once(pw_client_t *c, struct pw_project **out, size_t *n)
{
	struct vec v = { .size = sizeof(struct pw_project) };
	struct listing l = { 0 };
	pwnm_status_t st;

	*out = NULL;
	*n = 0;
	l.url = xasprintf("%sprojects/?per_page=%d", c->root, PW_PER_PAGE);
	l.page = project_page;
	l.data = &v;
	l.by_number = 1;
	st = paginate(c, &l, 1);
	listing_free(&l);
	if (st) {
		pw_project_array_free((struct pw_project *)(void *)v.v, v.n);
		return st;
	}
	*out = (struct pw_project *)(void *)v.v;
	*n = v.n;
	return PWNM_STATUS_SUCCESS;
}

/* ---- patches ---- */

static pwnm_status_t
pw_list_patches_pages_once(pw_client_t *c, uint32_t project_id, const char *since,
		           pw_progress_cb progress, void *pdata, pw_patches_cb sink, void *sdata,
		           struct pw_patch **out, size_t *n)
{
	struct patch_pages pp = { .v = { .size = sizeof(struct pw_patch) }, .sink = sink,
				  .sink_data = sdata };
	struct listing l = { 0 };
	pwnm_status_t st;

	*out = NULL;
	*n = 0;
	l.url = project_list_url(c, "patches", project_id, since);
	l.page = patch_page;
	l.data = &pp;
	l.by_number = 1;
	l.progress = progress;
	l.pdata = pdata;
	st = paginate(c, &l, 1);
	listing_free(&l);
	if (st) {
		pw_patch_array_free((struct pw_patch *)(void *)pp.v.v, pp.v.n);
		return st;
	}
	*out = (struct pw_patch *)(void *)pp.v.v;
	*n = pp.v.n;
	return PWNM_STATUS_SUCCESS;
}

/* ---- full lists of several projects ---- */

/* Where the series of a full list go. */
struct series_pages {
	pw_series_cb sink;
	void *sink_data;
};

static pwnm_status_t
series_sink_page(pw_client_t *c, struct listing *l, const struct http_request *r,
		 struct page_info *pi)
{
	struct series_pages *sp = l->data;
	struct pw_series *a;
	size_t an;
	char *why = NULL;
	pwnm_status_t st = pw_series_from_json(r->resp.data, r->resp.len, &a, &an, &why);

	if (st) {
		set_error(c, "GET %s: %s", r->url, why);
		free(why);
		return st;
	}
	pi->count = an;
	pi->first = an ? a[0].id : 0;
	pi->last = an ? a[an - 1].id : 0;
	sp->sink(a, an, sp->sink_data);
	pw_series_array_free(a, an);
	return PWNM_STATUS_SUCCESS;
}

/* The lists of f[i] for the i with again[i] (NULL: all), patches as group i + 1, series n + i + 1. */
static void
list_full_once(pw_client_t *c, struct pw_full_list *f, size_t n, const int *again)
{
	struct listing *ls = xcalloc(2 * n + 1, sizeof(*ls));
	struct patch_pages *pp = xcalloc(n + 1, sizeof(*pp));
	struct series_pages *sp = xcalloc(n + 1, sizeof(*sp));
	size_t i, nl = 0, k;
	size_t *of = xcalloc(2 * n + 1, sizeof(*of));

	for (i = 0; i < n; i++) {
		if (again && !again[i])
			continue;
		f[i].status = f[i].series_status = PWNM_STATUS_SUCCESS;
		free(f[i].error);
		f[i].error = NULL;
		pp[i].v.size = sizeof(struct pw_patch);
		pp[i].sink = f[i].sink;
		pp[i].sink_data = f[i].sdata;
		ls[nl].url = project_list_url(c, "patches", f[i].project_id, f[i].since);
		ls[nl].page = patch_page;
		ls[nl].data = &pp[i];
		ls[nl].by_number = 1;
		ls[nl].progress = f[i].progress;
		ls[nl].pdata = f[i].pdata;
		ls[nl].group = (unsigned)i + 1;
		of[nl++] = i;
		if (!f[i].series_sink)
			continue;
		sp[i].sink = f[i].series_sink;
		sp[i].sink_data = f[i].series_data;
		ls[nl].url = project_list_url(c, "series", f[i].project_id, f[i].series_since);
		ls[nl].page = series_sink_page;
		ls[nl].data = &sp[i];
		ls[nl].by_number = 1;
		ls[nl].group = (unsigned)(n + i) + 1; /* its failure does not end the patches' */
		of[nl++] = i;
	}
	paginate(c, ls, nl);
	for (k = 0; k < nl; k++) {
		struct pw_full_list *fl = &f[of[k]];

		if (ls[k].page == series_sink_page) {
			fl->series_status = ls[k].status;
			listing_free(&ls[k]);
			continue;
		}
		if (ls[k].status && !fl->status) {
			fl->status = ls[k].status;
			fl->error = ls[k].error;
			ls[k].error = NULL;
			mask_secret(c, fl->error);
		}
		listing_free(&ls[k]);
	}
	free(of);
	free(ls);
	free(pp);
	free(sp);
}

pwnm_status_t
pw_list_full(pw_client_t *c, struct pw_full_list *f, size_t n)
{
	pwnm_status_t st = PWNM_STATUS_SUCCESS;
	int *again = xcalloc(n + 1, sizeof(*again));
	size_t i;
	int any = 0;

	for (i = 0; i < n; i++)
		f[i].error = NULL;
	list_full_once(c, f, n, NULL);
	/* a 404 may be the API version gone (rediscovered): those lists once more */
	for (i = 0; i < n; i++)
		any |= again[i] = f[i].status == PWNM_STATUS_NOT_FOUND;
	if (any && rediscovered(c))
		list_full_once(c, f, n, again);
	free(again);
	for (i = 0; i < n; i++) {
		if (f[i].status && st == PWNM_STATUS_SUCCESS) {
			st = f[i].status;
			set_error(c, "%s", f[i].error ? f[i].error : pwnm_status_to_string(st));
		}
	}
	return st;
}

/* ---- events: the incremental poll of several projects ---- */

/*
 * Every listing of the polls in one pagination: for poll i, the events
 * (listing 2i) and the first PW_PER_PAGE_PEEK patches above above_id
 * (listing 2i+1, unless events_only), as group i+1; then, for the polls
 * whose peek page was not enough, the patches above again at
 * PW_PER_PAGE a page, together.  When nothing has answered this client
 * yet, the first events page goes alone: a server that gives it no
 * answer at all (NETWORK, TIMEOUT) is not asked the rest.
 */
static void
poll_projects_once(pw_client_t *c, struct pw_poll *p, size_t n)
{
	struct listing *ls = xcalloc(2 * n, sizeof(*ls));
	struct event_pages *ep = xcalloc(n, sizeof(*ep));
	struct patch_pages *pp = xcalloc(n, sizeof(*pp));
	size_t i, nfull = 0;
	int probe = !c->answered;

	for (i = 0; i < n; i++) {
		char *since = p[i].since && *p[i].since ? pw_urlencode(p[i].since) : NULL;

		ep[i].v.size = sizeof(struct pw_event);
		pp[i].v.size = sizeof(struct pw_patch);
		pp[i].above = 1;
		pp[i].above_id = p[i].above_id;
		ls[2 * i].url = xasprintf("%sevents/?project=%u&order=date&per_page=%d%s%s", c->root,
					  p[i].project_id, PW_PER_PAGE, since ? "&since=" : "",
					  since ? since : "");
		ls[2 * i].page = event_page;
		ls[2 * i].data = &ep[i];
		ls[2 * i].group = (unsigned)i + 1;
		ls[2 * i + 1].url = xasprintf("%spatches/?project=%u&order=-id&per_page=%d", c->root,
					      p[i].project_id, PW_PER_PAGE_PEEK);
		ls[2 * i + 1].page = patch_page;
		ls[2 * i + 1].data = &pp[i];
		ls[2 * i + 1].group = (unsigned)i + 1;
		ls[2 * i + 1].max_pages = 1;
		ls[2 * i + 1].done = p[i].events_only;
		free(since);
		p[i].asked = 1;
	}
	if (probe && n) {
		paginate_batches(c, ls, 1, 1);
		if (ls[0].status)
			ls[1].done = 1;
		if (ls[0].status == PWNM_STATUS_NETWORK || ls[0].status == PWNM_STATUS_TIMEOUT) {
			for (i = 1; i < n; i++) {
				p[i].asked = 0;
				ls[2 * i].done = ls[2 * i + 1].done = 1;
			}
		}
	}
	paginate(c, ls, 2 * n);
	/* the peek page was not enough: the patches above again, in full pages */
	for (i = 0; i < n; i++) {
		struct listing *l = &ls[2 * i + 1];

		if (!l->more || ls[2 * i].status || l->status)
			continue;
		free(l->url);
		free(l->next);
		l->next = NULL;
		l->url = xasprintf("%spatches/?project=%u&order=-id&per_page=%d", c->root,
				   p[i].project_id, PW_PER_PAGE);
		l->more = l->done = 0;
		l->max_pages = 0;
		l->pages = l->last = l->count_last = 0;
		l->per_page = 0;
		memset(&l->prev, 0, sizeof(l->prev));
		nfull++;
	}
	if (nfull) {
		for (i = 0; i < n; i++)
			ls[2 * i].done = 1;
		paginate(c, ls, 2 * n);
	}
	for (i = 0; i < n; i++) {
		struct listing *l = ls[2 * i].status ? &ls[2 * i] : &ls[2 * i + 1];

		p[i].status = l->status;
		if (l->status) {
			p[i].error = l->error;
			l->error = NULL;
			mask_secret(c, p[i].error);
			pw_event_array_free((struct pw_event *)(void *)ep[i].v.v, ep[i].v.n);
			pw_patch_array_free((struct pw_patch *)(void *)pp[i].v.v, pp[i].v.n);
			continue;
		}
		if (!p[i].asked)
			continue;
		/* the first page was full when more came after it */
		p[i].ev_page = ls[2 * i].pages > 1 && ep[i].v.n > ls[2 * i].per_page &&
					       ls[2 * i].per_page
				       ? ls[2 * i].per_page
				       : PW_PER_PAGE;
		vec_sort_unique(&ep[i].v, cmp_event_id, event_release);
		vec_sort_unique(&pp[i].v, cmp_patch_id, patch_release);
		p[i].ev = (struct pw_event *)(void *)ep[i].v.v;
		p[i].nev = ep[i].v.n;
		p[i].patches = (struct pw_patch *)(void *)pp[i].v.v;
		p[i].n = pp[i].v.n;
	}
	for (i = 0; i < 2 * n; i++)
		listing_free(&ls[i]);
	free(ls);
	free(ep);
	free(pp);
}

pwnm_status_t
pw_poll_projects(pw_client_t *c, struct pw_poll *p, size_t n)
{
	pwnm_status_t st = PWNM_STATUS_SUCCESS;
	size_t i;

	for (i = 0; i < n; i++) {
		p[i].asked = 0;
		p[i].status = PWNM_STATUS_SUCCESS;
		p[i].error = NULL;
		p[i].ev = NULL;
		p[i].nev = 0;
		p[i].ev_page = 0;
		p[i].patches = NULL;
		p[i].n = 0;
	}
	poll_projects_once(c, p, n);
	/* a 404 may be the API version gone (rediscovered): then every poll once more */
	for (i = 0; i < n; i++) {
		if (p[i].status != PWNM_STATUS_NOT_FOUND)
			continue;
		if (rediscovered(c)) {
			for (i = 0; i < n; i++)
				pw_poll_clear(&p[i]);
			poll_projects_once(c, p, n);
		}
		break;
	}
	for (i = 0; i < n; i++) {
		if (p[i].status && st == PWNM_STATUS_SUCCESS) {
			st = p[i].status;
			set_error(c, "%s", p[i].error ? p[i].error : pwnm_status_to_string(st));
		}
	}
	return st;
}

void
pw_poll_clear(struct pw_poll *p)
{
	if (!p)
		return;
	pw_event_array_free(p->ev, p->nev);
	pw_patch_array_free(p->patches, p->n);
	free(p->error);
	p->ev = NULL;
	p->patches = NULL;
	p->nev = p->n = 0;
	p->error = NULL;
}

static pwnm_status_t
pw_newest_events_once(pw_client_t *c, uint32_t project_id, const char *before,
		      struct pw_event **out, size_t *n, int *more)
{
	char *enc = before ? pw_urlencode(before) : NULL;
	char *url = xasprintf("%sevents/?project=%u&per_page=%d%s%s", c->root, project_id,
			      PW_PER_PAGE, enc ? "&before=" : "", enc ? enc : "");
	struct http_request *r = new_get(url);
	pwnm_status_t st;

	*out = NULL;
	*n = 0;
	*more = 0;
	free(url);
	free(enc);
	st = run_gets(c, &r, 1);
	if (st == PWNM_STATUS_SUCCESS)
		st = decode_events_page(c, r, out, n);
	if (st == PWNM_STATUS_SUCCESS && *n > 0) {
		struct pw_links lk;

		pw_parse_links(r->link, &lk);
		*more = lk.next != NULL || !(r->link && *r->link);
		pw_links_free(&lk);
	}
	http_request_free(r);
	return st;
}

/* ---- series and checks ---- */

pwnm_status_t
pw_list_series(pw_client_t *c, uint32_t project_id, const char *since, struct pw_series **out,
	       size_t *n)
{
	struct vec v = { .size = sizeof(struct pw_series) };
	struct listing l = { 0 };
	pwnm_status_t st;

	*out = NULL;
	*n = 0;
	l.url = project_list_url(c, "series", project_id, since);
	l.page = series_page;
	l.data = &v;
	l.by_number = 1;
	st = paginate(c, &l, 1);
	listing_free(&l);
	if (st) {
		pw_series_array_free((struct pw_series *)(void *)v.v, v.n);
		return st;
	}
	*out = (struct pw_series *)(void *)v.v;
	*n = v.n;
	return PWNM_STATUS_SUCCESS;
}

pwnm_status_t
pw_list_series_patches(pw_client_t *c, const uint32_t *ids, size_t nids, pw_patches_cb sink,
		       void *sdata)
{
	struct patch_pages pp = { .v = { .size = sizeof(struct pw_patch) }, .sink = sink,
				  .sink_data = sdata };
	struct listing *ls;
	size_t i;
	pwnm_status_t st;

	if (nids == 0)
		return PWNM_STATUS_SUCCESS;
	ls = xcalloc(nids, sizeof(*ls));
	for (i = 0; i < nids; i++) {
		ls[i].url = xasprintf("%spatches/?series=%u&order=id&per_page=%d", c->root, ids[i],
				      PW_PER_PAGE);
		ls[i].page = patch_page;
		ls[i].data = &pp;
	}
	st = paginate(c, ls, nids);
	for (i = 0; i < nids; i++)
		listing_free(&ls[i]);
	free(ls);
	return st;
}

pwnm_status_t
pw_list_checks(pw_client_t *c, uint32_t patch_id, struct pw_check **out, size_t *n)
{
	struct vec v = { .size = sizeof(struct pw_check) };
	struct listing l = { 0 };
	pwnm_status_t st;

	*out = NULL;
	*n = 0;
	l.url = xasprintf("%spatches/%u/checks/?per_page=%d", c->root, patch_id, PW_PER_PAGE);
	l.page = check_page;
	l.data = &v;
	st = paginate(c, &l, 1);
	listing_free(&l);
	if (st) {
		pw_check_array_free((struct pw_check *)(void *)v.v, v.n);
		return st;
	}
	*out = (struct pw_check *)(void *)v.v;
	*n = v.n;
	return PWNM_STATUS_SUCCESS;
}

/* ---- people ---- */

/* s percent-encoded for a query value: every byte but A-Z a-z 0-9 - . _ ~ as %XX. */
static char *
query_value(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = xmalloc(strlen(s) * 3 + 1), *o = out;

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			*o++ = (char)ch;
		} else {
			*o++ = '%';
			*o++ = hex[ch >> 4];
			*o++ = hex[ch & 15];
		}
	}
	*o = '\0';
	return out;
}

pwnm_status_t
pw_find_people(pw_client_t *c, const char *text, struct pw_person **out, size_t *n)
{
	char *q = query_value(text), *url, *why = NULL, *msg;
	struct http_request *r;
	pwnm_status_t st;

	*out = NULL;
	*n = 0;
	url = xasprintf("%speople/?q=%s&per_page=%d", c->root, q, PW_PER_PAGE);
	free(q);
	r = http_request_new("GET", url, NULL);
	free(url);
	r->auth = 1; /* the one read Patchwork answers to token holders only */
	http_run(c->http, &r, 1);
	if (r->status != PWNM_STATUS_SUCCESS) {
		st = request_failure(r, &msg);
		take_error(c, msg);
	} else {
		note_server_time(c, r);
		st = pw_people_from_json(r->resp.data, r->resp.len, out, n, &why);
		if (st)
			set_error(c, "GET %s: %s", r->url, why);
		free(why);
	}
	http_request_free(r);
	return st;
}

/* ---- single patch ---- */

/*
 * What the answer r to GET patches/<patch_id>/ says: SUCCESS (out
 * filled), NOT_FOUND (the API's own 404), or a failure, with *msg the
 * one-line error (caller frees; NULL on SUCCESS).  A 404 without the
 * API's JSON detail (a proxy's page) says nothing of the patch: SERVER.
 * A 200 naming another patch is no answer either: PROTOCOL.
 */
static pwnm_status_t
patch_answer(pw_client_t *c, const struct http_request *r, uint32_t patch_id,
	     struct pw_patch *out, char **msg)
{
	pwnm_status_t st;
	char *why = NULL;

	memset(out, 0, sizeof(*out));
	*msg = NULL;
	if (r->status != PWNM_STATUS_SUCCESS) {
		st = request_failure(r, msg);
		if (st == PWNM_STATUS_NOT_FOUND && !(why = pw_error_detail(r->resp.data, r->resp.len))) {
			free(*msg);
			*msg = xasprintf("GET %s: HTTP 404 that is not an answer of the Patchwork API "
					 "(no JSON detail)", r->url);
			st = PWNM_STATUS_SERVER;
		}
		free(why);
		return st;
	}
	note_server_time(c, r);
	st = pw_patch_from_json(r->resp.data, r->resp.len, out, &why);
	if (st != PWNM_STATUS_SUCCESS) {
		*msg = xasprintf("GET %s: %s", r->url, why);
	} else if (out->id != patch_id) {
		*msg = xasprintf("GET %s: the server answered with patch %u", r->url, out->id);
		pw_patch_free(out);
		st = PWNM_STATUS_PROTOCOL;
	}
	free(why);
	return st;
}

/*
 * The n patches in one batch; c->error is the first failure that is not
 * a 404, or with n == 1 the 404 itself.
 */
static pwnm_status_t
get_patches_once(pw_client_t *c, const uint32_t *ids, size_t n, struct pw_patch *out,
		 pwnm_status_t *st)
{
	struct http_request **reqs = xcalloc(n ? n : 1, sizeof(*reqs));
	pwnm_status_t ret = PWNM_STATUS_SUCCESS;
	size_t i;

	for (i = 0; i < n; i++) {
		char *url = xasprintf("%spatches/%u/", c->root, ids[i]);

		reqs[i] = new_get(url);
		free(url);
	}
	http_run(c->http, reqs, n);
	for (i = 0; i < n; i++) {
		char *msg;

		st[i] = patch_answer(c, reqs[i], ids[i], &out[i], &msg);
		if (st[i] == PWNM_STATUS_NOT_FOUND && n == 1) {
			take_error(c, msg); /* the one patch asked for: its 404 is the news */
		} else if (st[i] != PWNM_STATUS_SUCCESS && st[i] != PWNM_STATUS_NOT_FOUND &&
			   ret == PWNM_STATUS_SUCCESS) {
			take_error(c, msg);
			ret = st[i];
		} else {
			free(msg);
		}
	}
	free_reqs(reqs, n);
	return ret;
}

static pwnm_status_t
pw_get_patch_once(pw_client_t *c, uint32_t patch_id, struct pw_patch *out)
{
	pwnm_status_t st, one;

	st = get_patches_once(c, &patch_id, 1, out, &one);
	return st ? st : one;
}

pwnm_status_t
pw_get_patches(pw_client_t *c, const uint32_t *ids, size_t n, struct pw_patch *out,
	       pwnm_status_t *st)
{
	pwnm_status_t ret = get_patches_once(c, ids, n, out, st);
	size_t i;

	/* a 404 may be the API version gone (rediscovered): then all once more */
	for (i = 0; i < n && ret == PWNM_STATUS_SUCCESS; i++) {
		if (st[i] != PWNM_STATUS_NOT_FOUND)
			continue;
		if (rediscovered(c)) {
			size_t k;

			for (k = 0; k < n; k++)
				if (st[k] == PWNM_STATUS_SUCCESS)
					pw_patch_free(&out[k]);
			ret = get_patches_once(c, ids, n, out, st);
		}
		break;
	}
	return ret;
}

/* ---- patches wanted by id, found in their project's list ---- */

struct want_id {
	uint32_t id;
	size_t at; /* index in the want's ids */
};

struct want_pages {
	struct pw_want *w;
	struct want_id *ids;   /* sorted by id */
	uint32_t max_id;
	size_t missing;
	unsigned total;        /* the list's page count from rel="last", 0 unknown */
};

static int
cmp_want_id(const void *a, const void *b)
{
	uint32_t x = ((const struct want_id *)a)->id, y = ((const struct want_id *)b)->id;

	return x < y ? -1 : x > y;
}

static pwnm_status_t
want_page(pw_client_t *c, struct listing *l, const struct http_request *r, struct page_info *pi)
{
	struct want_pages *wp = l->data;
	struct pw_want *w = wp->w;
	struct pw_patch *a;
	size_t an, i;
	unsigned read = l->pages + 1;
	pwnm_status_t st = decode_patches_info(c, r, &a, &an, pi);

	if (st)
		return st;
	for (i = 0; i < an; i++) {
		struct want_id key = { a[i].id, 0 }, *hit;

		hit = bsearch(&key, wp->ids, w->n, sizeof(*wp->ids), cmp_want_id);
		if (hit && !w->found[hit->at] && a[i].project_id == w->project_id) {
			w->out[hit->at] = a[i];
			w->found[hit->at] = 1;
			wp->missing--;
		} else {
			pw_patch_free(&a[i]);
		}
	}
	free(a);
	w->pages = read;
	if (l->pages == 0) {
		struct pw_links lk;

		pw_parse_links(r->link, &lk);
		wp->total = lk.last ? pw_url_page(lk.last) : 0;
		pw_links_free(&lk);
	}
	/* ordered by id: a page ending past the highest id wanted holds the last of them */
	if (!wp->missing || (an && pi->last >= wp->max_id))
		pi->stop = 1;
	else if (wp->total ? wp->total - (read < wp->total ? read : wp->total) >= wp->missing
			   : read >= wp->missing)
		pi->stop = 1; /* the rest costs no more by id */
	return PWNM_STATUS_SUCCESS;
}

pwnm_status_t
pw_find_patches_in_lists(pw_client_t *c, struct pw_want *w, size_t n)
{
	struct listing *ls = xcalloc(n ? n : 1, sizeof(*ls));
	struct want_pages *wp = xcalloc(n ? n : 1, sizeof(*wp));
	pwnm_status_t st = PWNM_STATUS_SUCCESS;
	size_t i, k;

	for (i = 0; i < n; i++) {
		char *since = pw_urlencode(w[i].since ? w[i].since : "");

		w[i].pages = 0;
		w[i].status = PWNM_STATUS_SUCCESS;
		w[i].error = NULL;
		wp[i].w = &w[i];
		wp[i].ids = xcalloc(w[i].n ? w[i].n : 1, sizeof(*wp[i].ids));
		for (k = 0; k < w[i].n; k++) {
			wp[i].ids[k].id = w[i].ids[k];
			wp[i].ids[k].at = k;
			w[i].found[k] = 0;
			if (w[i].ids[k] > wp[i].max_id)
				wp[i].max_id = w[i].ids[k];
		}
		qsort(wp[i].ids, w[i].n, sizeof(*wp[i].ids), cmp_want_id);
		wp[i].missing = w[i].n;
		/* order=id last, so that a full list's "order=id&" is told apart in a log */
		ls[i].url = xasprintf("%spatches/?project=%u&since=%s&per_page=%d&order=id", c->root,
				      w[i].project_id, since, PW_PER_PAGE);
		ls[i].page = want_page;
		ls[i].data = &wp[i];
		ls[i].by_number = 1;
		ls[i].group = (unsigned)i + 1;
		ls[i].done = w[i].n == 0;
		free(since);
	}
	paginate(c, ls, n);
	for (i = 0; i < n; i++) {
		if (ls[i].status) {
			w[i].status = ls[i].status;
			w[i].error = ls[i].error;
			ls[i].error = NULL;
			mask_secret(c, w[i].error);
			if (st == PWNM_STATUS_SUCCESS) {
				st = w[i].status;
				set_error(c, "%s", w[i].error ? w[i].error : pwnm_status_to_string(st));
			}
		}
		listing_free(&ls[i]);
		free(wp[i].ids);
	}
	free(ls);
	free(wp);
	return st;
}

/* ---- the calls, once more on a version that went away ---- */

pwnm_status_t
pw_list_projects(pw_client_t *c, struct pw_project **out, size_t *n)
{
	pwnm_status_t st = pw_list_projects_once(c, out, n);

	if (st == PWNM_STATUS_NOT_FOUND && rediscovered(c))
		st = pw_list_projects_once(c, out, n);
	return st;
}

pwnm_status_t
pw_list_patches_pages(pw_client_t *c, uint32_t project_id, const char *since,
		      pw_progress_cb progress, void *pdata, pw_patches_cb sink, void *sdata,
		      struct pw_patch **out, size_t *n)
{
	pwnm_status_t st = pw_list_patches_pages_once(c, project_id, since, progress, pdata, sink,
							  sdata, out, n);

	if (st == PWNM_STATUS_NOT_FOUND && rediscovered(c))
		st = pw_list_patches_pages_once(c, project_id, since, progress, pdata, sink, sdata,
						out, n);
	return st;
}

pwnm_status_t
pw_newest_events(pw_client_t *c, uint32_t project_id, const char *before, struct pw_event **out,
		 size_t *n, int *more)
{
	pwnm_status_t st = pw_newest_events_once(c, project_id, before, out, n, more);

	if (st == PWNM_STATUS_NOT_FOUND && rediscovered(c))
		st = pw_newest_events_once(c, project_id, before, out, n, more);
	return st;
}

pwnm_status_t
pw_get_patch(pw_client_t *c, uint32_t patch_id, struct pw_patch *out)
{
	pwnm_status_t st = pw_get_patch_once(c, patch_id, out);

	if (st == PWNM_STATUS_NOT_FOUND && rediscovered(c))
		st = pw_get_patch_once(c, patch_id, out);
	return st;
}

/* ---- updates ---- */

/* Does the returned patch carry what u asked for? */
static int
update_applied(const struct pw_update *u, const struct pw_patch *p)
{
	if (u->state && strcmp(u->state, p->state) != 0)
		return 0;
	if (u->archived != -1 && (u->archived != 0) != (p->archived != 0))
		return 0;
	if (u->delegate_id != -1 && (long)p->delegate_id != u->delegate_id)
		return 0;
	if (u->commit_ref && strcmp(p->commit_ref, u->commit_ref) != 0)
		return 0;
	return 1;
}

static void
update_result(struct pw_update *u, const struct http_request *r)
{
	char *msg = NULL, *why = NULL, *detail = NULL;

	u->retry_after = r->retry_after;
	if (r->status == PWNM_STATUS_SUCCESS) {
		u->status = pw_patch_from_json(r->resp.data, r->resp.len, &u->result, &why);
		if (u->status != PWNM_STATUS_SUCCESS) {
			u->error = xasprintf("patch %u: PATCH %s: %s", u->patch_id, r->url, why);
			free(why);
			return;
		}
		if (u->result.id != u->patch_id) {
			u->status = PWNM_STATUS_PROTOCOL;
			u->error = xasprintf("patch %u: PATCH %s: the server answered with patch %u, "
					     "not the one sent",
					     u->patch_id, r->url, u->result.id);
			pw_patch_free(&u->result);
			return;
		}
		if (!update_applied(u, &u->result)) {
			u->status = PWNM_STATUS_PROTOCOL;
			u->error = xasprintf("patch %u: PATCH %s: server accepted the update of patch "
					     "%u but did not apply it",
					     u->patch_id, r->url, u->patch_id);
		}
		return;
	}
	if (r->status == PWNM_STATUS_HTTP && r->code == 400) {
		char *fe = one_line(pw_first_field_error(r->resp.data, r->resp.len));

		u->status = PWNM_STATUS_INVALID_VALUE;
		u->valid_states = pw_valid_states_from_400(r->resp.data, r->resp.len);
		if (fe)
			u->error = xasprintf("patch %u: PATCH %s: HTTP 400: %s", u->patch_id,
					     r->url, fe);
		else
			u->error = xasprintf("patch %u: PATCH %s: HTTP 400", u->patch_id, r->url);
		free(fe);
		return;
	}
	u->status = request_failure(r, &msg);
	if (u->status == PWNM_STATUS_NOT_FOUND && !(detail = pw_error_detail(r->resp.data, r->resp.len))) {
		/* an HTML page from a proxy, say: no word from the API on the patch */
		u->status = PWNM_STATUS_SERVER;
		u->error = xasprintf("patch %u: %s (not an answer of the Patchwork API: no JSON "
				     "detail)",
				     u->patch_id, msg);
	} else {
		u->error = xasprintf("patch %u: %s", u->patch_id, msg);
	}
	free(detail);
	free(msg);
}

/*
 * A PATCH answered 404 "Not found." is taken as the patch gone only when
 * the patch's own URL says so too (GET, 404 with a JSON detail); an
 * answer that the patch is there, or no clear answer, keeps the change
 * for a later run.
 */
static void
confirm_gone(pw_client_t *c, struct pw_update *u, size_t n)
{
	struct http_request **reqs = xcalloc(n, sizeof(*reqs));
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		char *url;

		if (u[i].status != PWNM_STATUS_NOT_FOUND)
			continue;
		url = xasprintf("%spatches/%u/", c->root, u[i].patch_id);
		reqs[k] = new_get(url);
		reqs[k]->user = &u[i];
		k++;
		free(url);
	}
	if (k)
		http_run(c->http, reqs, k);
	for (i = 0; i < k; i++) {
		struct http_request *r = reqs[i];
		struct pw_update *x = r->user;
		char *detail = NULL, *why;

		if (r->status == PWNM_STATUS_HTTP && r->code == 404 &&
		    (detail = pw_error_detail(r->resp.data, r->resp.len))) {
			free(detail);
			continue; /* gone indeed */
		}
		if (r->status == PWNM_STATUS_SUCCESS)
			why = xstrdup("but GET of the patch answers that it is there");
		else if (r->error)
			why = xasprintf("and %s", r->error);
		else
			why = xasprintf("and GET %s: HTTP %ld without a JSON detail", r->url, r->code);
		x->status = PWNM_STATUS_SERVER;
		{
			char *both = xasprintf("%s, %s", x->error, why);

			free(x->error);
			x->error = both;
		}
		free(why);
	}
	free_reqs(reqs, k);
}

pwnm_status_t
pw_update_patches(pw_client_t *c, struct pw_update *u, size_t n)
{
	struct http_request **reqs;
	pwnm_status_t st = PWNM_STATUS_SUCCESS;
	size_t i, gone = 0;

	for (i = 0; i < n; i++) {
		u[i].status = PWNM_STATUS_SUCCESS;
		memset(&u[i].result, 0, sizeof(u[i].result));
		u[i].error = NULL;
		u[i].valid_states = NULL;
		u[i].retry_after = -1;
	}
	if (n == 0)
		return PWNM_STATUS_SUCCESS;
	reqs = xcalloc(n, sizeof(*reqs));
	for (i = 0; i < n; i++) {
		char *url = xasprintf("%spatches/%u/", c->root, u[i].patch_id);
		char *body = pw_update_body(u[i].state, u[i].archived, u[i].delegate_id, u[i].commit_ref);

		reqs[i] = http_request_new("PATCH", url, body);
		reqs[i]->auth = 1;
		free(url);
		free(body);
	}
	http_run(c->http, reqs, n);
	for (i = 0; i < n; i++) {
		update_result(&u[i], reqs[i]);
		if (u[i].status == PWNM_STATUS_NOT_FOUND)
			gone++;
	}
	free_reqs(reqs, n);
	if (gone)
		confirm_gone(c, u, n);
	for (i = 0; i < n; i++) {
		mask_secret(c, u[i].error);
		if (u[i].status != PWNM_STATUS_SUCCESS && st == PWNM_STATUS_SUCCESS) {
			st = u[i].status;
			set_error(c, "%s", u[i].error);
		}
	}
	return st;
}

void
pw_update_clear(struct pw_update *u)
{
	if (!u)
		return;
	pw_patch_free(&u->result);
	free(u->error);
	free(u->valid_states);
	u->error = NULL;
	u->valid_states = NULL;
}

/* ---- lookups ---- */

pwnm_status_t
pw_lookup_patches(pw_client_t *c, struct pw_lookup *l, size_t n)
{
	struct http_request **reqs;
	pwnm_status_t st = PWNM_STATUS_SUCCESS;
	size_t i;

	if (n == 0)
		return PWNM_STATUS_SUCCESS;
	reqs = xcalloc(n, sizeof(*reqs));
	for (i = 0; i < n; i++) {
		char *url;

		l[i].status = PWNM_STATUS_SUCCESS;
		l[i].patches = NULL;
		l[i].n = 0;
		l[i].error = NULL;
		if (l[i].patch_id) {
			url = xasprintf("%spatches/%u/", c->root, l[i].patch_id);
		} else {
			char *v = pw_urlencode(l[i].value);

			url = xasprintf("%spatches/?%s=%s&per_page=%d", c->root, l[i].param, v,
					PW_PER_PAGE);
			free(v);
		}
		reqs[i] = new_get(url);
		free(url);
	}
	http_run(c->http, reqs, n);
	for (i = 0; i < n; i++) {
		struct http_request *r = reqs[i];
		char *why = NULL;

		if (r->status != PWNM_STATUS_SUCCESS) {
			l[i].status = request_failure(r, &l[i].error);
		} else if (l[i].patch_id) {
			l[i].patches = xcalloc(1, sizeof(*l[i].patches));
			l[i].status = pw_patch_from_json(r->resp.data, r->resp.len, l[i].patches, &why);
			if (l[i].status) {
				free(l[i].patches);
				l[i].patches = NULL;
			} else {
				l[i].n = 1;
			}
		} else {
			l[i].status = pw_patches_from_json(r->resp.data, r->resp.len, &l[i].patches,
							   &l[i].n, &why);
		}
		if (why) {
			l[i].error = xasprintf("GET %s: %s", r->url, why);
			free(why);
		}
		if (l[i].status && l[i].status != PWNM_STATUS_NOT_FOUND && st == PWNM_STATUS_SUCCESS) {
			st = l[i].status;
			set_error(c, "%s", l[i].error ? l[i].error : pwnm_status_to_string(st));
		}
	}
	free_reqs(reqs, n);
	return st;
}

void
pw_lookup_clear(struct pw_lookup *l)
{
	if (!l)
		return;
	pw_patch_array_free(l->patches, l->n);
	free(l->error);
	l->patches = NULL;
	l->n = 0;
	l->error = NULL;
}

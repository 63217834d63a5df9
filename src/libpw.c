/* libpw.c - Patchwork REST API: the client calls, one pagination driver for every list */
#include "libpw.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "liburl.h"
#include "libutil.h"

/* Pages fetched together in a full list (several times the requests in flight). */
#define PW_PAGE_WINDOW 32
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

static void ATTR_PRINTF(2, 3)
set_error(pw_client_t *c, const char *fmt, ...)
{
	va_list ap;

	free(c->error);
	va_start(ap, fmt);
	c->error = xvasprintf(fmt, ap);
	va_end(ap);
}

static void
take_error(pw_client_t *c, char *msg)
{
	free(c->error);
	c->error = msg;
}

/* s made one line (controls become spaces) and at most PW_MAX_DETAIL bytes; frees s. */
static char *
one_line(char *s)
{
	size_t i, n;

	if (!s)
		return NULL;
	n = strlen(s);
	if (n > PW_MAX_DETAIL) {
		n = PW_MAX_DETAIL;
		/* do not cut a UTF-8 sequence */
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		s[n] = '\0';
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < ' ' || s[i] == 0x7f)
			s[i] = ' ';
	return s;
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

/*
 * Run n anonymous GETs in one batch.  SUCCESS when all answered 2xx;
 * otherwise the mapped status of the first failure, with c->error set.
 */
static pwnm_status_t
run_gets(pw_client_t *c, struct http_request **reqs, size_t n)
{
	size_t i;

	http_run(c->http, reqs, n);
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
		set_error(c, "refusing to follow a page link to another host: %s", url);
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

/*
 * One listing: where its first page is, what to do with each page, and
 * how it may go on.  paginate() runs several listings together; every
 * list of the client goes through it.
 */
struct listing {
	/* in */
	char *url; /* the first page (owned) */
	/*
	 * Decode r's body and keep what it holds: *count is the number of
	 * items on the page, *stop set when no further page is wanted.
	 */
	pwnm_status_t (*page)(pw_client_t *c, struct listing *l, const struct http_request *r,
			      size_t *count, int *stop);
	void *data;
	int by_number;      /* with rel="last", the pages up to it go concurrently by number */
	int guess;          /* without any Link, ask for the next page number while pages are full */
	unsigned max_pages; /* stop after this many pages (more is then set); 0: no such limit */
	pw_progress_cb progress;
	void *pdata;
	/* out */
	int more;           /* max_pages stopped the listing while the server had a next page */
	/* state */
	char *next;         /* the next page to fetch one at a time, or NULL */
	int next_guessed;   /* next is a page number asked for without a Link */
	unsigned pages;     /* pages decoded */
	unsigned last;      /* page count from rel="last"; 0 when unknown */
	int done;
};

static void
listing_free(struct listing *l)
{
	free(l->url);
	free(l->next);
	l->url = l->next = NULL;
}

/* What a listing does after r, its last page of a batch (count items on it). */
static pwnm_status_t
listing_continue(pw_client_t *c, struct listing *l, const struct http_request *r, size_t count)
{
	struct pw_links lk;
	pwnm_status_t st = PWNM_STATUS_SUCCESS;

	free(l->next);
	l->next = NULL;
	l->next_guessed = 0;
	pw_parse_links(r->link, &lk);
	if (l->pages == 1 && l->by_number && lk.last) {
		unsigned total;

		if ((st = check_link(c, lk.last)))
			goto out;
		total = pw_url_page(lk.last);
		if (total > PW_MAX_PAGES) {
			set_error(c, "GET %s: implausible page count %u in the Link header", r->url,
				  total);
			st = PWNM_STATUS_PROTOCOL;
			goto out;
		}
		/* a "last" of 1 with a "next" is no page count: one page at a time */
		if (total >= 1 && !(total == 1 && lk.next)) {
			l->last = total;
			if (total == 1)
				l->done = 1;
			goto out;
		}
	}
	if (l->last > l->pages)
		goto out; /* the next window of numbered pages */
	if (lk.next) {
		if ((st = check_link(c, lk.next)))
			goto out;
		if (strcmp(lk.next, r->url) == 0) {
			set_error(c, "GET %s: the next page link points to the same page", r->url);
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
	if (l->guess && !(r->link && *r->link) && count >= PW_PER_PAGE && l->pages < PW_MAX_PAGES &&
	    !(l->max_pages && l->pages >= l->max_pages)) {
		l->next = pw_url_set_page(l->url, l->pages + 1);
		l->next_guessed = 1;
		goto out;
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
 * Run the n listings to their ends: each batch holds the next page of
 * every listing still going, or a window of numbered pages of one that
 * knows its page count; bodies are decoded and freed before the next
 * batch, so memory does not grow with the page count.  SUCCESS, or the
 * first failure (c->error set).
 */
static pwnm_status_t
paginate(pw_client_t *c, struct listing *ls, size_t n)
{
	struct batch_item *b = NULL;
	size_t cap = 0, nb, i, k;
	pwnm_status_t st = PWNM_STATUS_SUCCESS;

	for (;;) {
		nb = 0;
		for (i = 0; i < n; i++) {
			struct listing *l = &ls[i];
			unsigned from, to, p;

			if (l->done)
				continue;
			if (l->pages > 0 && l->last > l->pages) {
				from = l->pages + 1;
				to = l->last - l->pages > PW_PAGE_WINDOW ? l->pages + PW_PAGE_WINDOW : l->last;
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
			size_t count = 0;
			int stop = 0, last_of_batch = k + 1 == nb || b[k + 1].l != l;

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
				take_error(c, msg);
				st = rs;
				break;
			}
			st = l->page(c, l, r, &count, &stop);
			if (st)
				break;
			l->pages++;
			if (stop)
				l->done = 1;
			else if (last_of_batch)
				st = listing_continue(c, l, r, count);
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
patch_page(pw_client_t *c, struct listing *l, const struct http_request *r, size_t *count,
	   int *stop)
{
	struct patch_pages *pp = l->data;
	struct pw_patch *a;
	size_t an, i, k = 0;
	pwnm_status_t st = decode_patches_page(c, r, &a, &an);

	if (st)
		return st;
	*count = an;
	if (pp->above) {
		for (i = 0; i < an; i++) {
			if (a[i].id > pp->above_id) {
				a[k++] = a[i];
			} else {
				*stop = 1;
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
event_page(pw_client_t *c, struct listing *l, const struct http_request *r, size_t *count,
	   int *stop)
{
	struct event_pages *ep = l->data;
	struct pw_event *ev;
	size_t an, k;
	pwnm_status_t st = decode_events_page(c, r, &ev, &an);

	(void)stop;
	if (st)
		return st;
	*count = an;
	for (k = 0; k < an; k++) {
		if (ev[k].id > ep->after_id)
			vec_push(&ep->v, &ev[k], 1);
		else
			pw_event_free(&ev[k]);
	}
	free(ev);
	return PWNM_STATUS_SUCCESS;
}

static pwnm_status_t
project_page(pw_client_t *c, struct listing *l, const struct http_request *r, size_t *count,
	     int *stop)
{
	struct vec *v = l->data;
	struct pw_project *a;
	size_t an;
	char *why = NULL;
	pwnm_status_t st = pw_projects_from_json(r->resp.data, r->resp.len, &a, &an, &why);

	(void)stop;
	if (st) {
		set_error(c, "GET %s: %s", r->url, why);
		free(why);
		return st;
	}
	*count = an;
	vec_push(v, a, an);
	free(a);
	return PWNM_STATUS_SUCCESS;
}

/* ---- discovery ---- */

pwnm_status_t
pw_discover(pw_client_t *c, const char **version)
{
	static const char *const versions[] = { "1.3", "1.2", "1.1", "1.0" };
	pwnm_status_t st = PWNM_STATUS_NOT_FOUND;
	size_t i;

	*version = NULL;
	for (i = 0; i < sizeof(versions) / sizeof(*versions); i++) {
		char *url = xasprintf("%s/api/%s/", c->base, versions[i]);
		struct http_request *r = new_get(url);

		free(url);
		st = run_gets(c, &r, 1);
		if (st == PWNM_STATUS_NOT_FOUND) {
			http_request_free(r);
			continue;
		}
		if (st != PWNM_STATUS_SUCCESS) {
			http_request_free(r);
			return st;
		}
		if (!pw_is_api_root(r->resp.data, r->resp.len)) {
			set_error(c, "GET %s: not a Patchwork API root (no 'patches' link)", r->url);
			st = PWNM_STATUS_PROTOCOL;
		}
		http_request_free(r);
		if (st != PWNM_STATUS_SUCCESS)
			return st;
		client_set_root(c, versions[i]);
		free(c->error); /* the 404s of newer versions are not an error */
		c->error = NULL;
		*version = c->version;
		return PWNM_STATUS_SUCCESS;
	}
	set_error(c, "no Patchwork REST API at %s/api/ (versions 1.0 to 1.3 answer 404)", c->base);
	return PWNM_STATUS_NOT_FOUND;
}

/* ---- projects ---- */

pwnm_status_t
pw_list_projects(pw_client_t *c, struct pw_project **out, size_t *n)
{
	struct vec v = { .size = sizeof(struct pw_project) };
	struct listing l = { 0 };
	pwnm_status_t st;

	*out = NULL;
	*n = 0;
	l.url = xasprintf("%sprojects/?per_page=%d", c->root, PW_PER_PAGE);
	l.page = project_page;
	l.data = &v;
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

pwnm_status_t
pw_list_patches_pages(pw_client_t *c, uint32_t project_id, const char *since,
		      pw_progress_cb progress, void *pdata, pw_patches_cb sink, void *sdata,
		      struct pw_patch **out, size_t *n)
{
	struct patch_pages pp = { .v = { .size = sizeof(struct pw_patch) }, .sink = sink,
				  .sink_data = sdata };
	struct listing l = { 0 };
	char *enc = since ? pw_urlencode(since) : NULL;
	pwnm_status_t st;

	*out = NULL;
	*n = 0;
	l.url = xasprintf("%spatches/?project=%u&order=id&per_page=%d%s%s", c->root, project_id,
			  PW_PER_PAGE, enc ? "&since=" : "", enc ? enc : "");
	free(enc);
	l.page = patch_page;
	l.data = &pp;
	l.by_number = 1;
	l.guess = 1;
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

/*
 * Page 1 asks for PW_PER_PAGE_PEEK patches, newest first, so that the
 * common idle check is one small request.  When that is not enough,
 * the listing starts again with PW_PER_PAGE per page; the overlap is
 * dropped by id.  Returned sorted by id ascending.
 */
pwnm_status_t
pw_list_patches_above(pw_client_t *c, uint32_t project_id, uint32_t above_id,
		      struct pw_patch **out, size_t *n)
{
	struct patch_pages pp = { .v = { .size = sizeof(struct pw_patch) }, .above = 1,
				  .above_id = above_id };
	struct listing l = { 0 };
	pwnm_status_t st;

	*out = NULL;
	*n = 0;
	l.url = xasprintf("%spatches/?project=%u&order=-id&per_page=%d", c->root, project_id,
			  PW_PER_PAGE_PEEK);
	l.page = patch_page;
	l.data = &pp;
	l.max_pages = 1;
	st = paginate(c, &l, 1);
	listing_free(&l);
	if (st == PWNM_STATUS_SUCCESS && l.more) {
		memset(&l, 0, sizeof(l));
		l.url = xasprintf("%spatches/?project=%u&order=-id&per_page=%d", c->root, project_id,
				  PW_PER_PAGE);
		l.page = patch_page;
		l.data = &pp;
		st = paginate(c, &l, 1);
		listing_free(&l);
	}
	if (st) {
		pw_patch_array_free((struct pw_patch *)(void *)pp.v.v, pp.v.n);
		return st;
	}
	vec_sort_unique(&pp.v, cmp_patch_id, patch_release);
	*out = (struct pw_patch *)(void *)pp.v.v;
	*n = pp.v.n;
	return PWNM_STATUS_SUCCESS;
}

/* ---- events ---- */

/*
 * One listing per category, run together; with categories NULL or
 * empty, one listing without a category filter (every event).
 */
pwnm_status_t
pw_list_events(pw_client_t *c, uint32_t project_id, const char *const *categories,
	       const char *since, uint64_t after_id, struct pw_event **out, size_t *n)
{
	struct event_pages ep = { .v = { .size = sizeof(struct pw_event) }, .after_id = after_id };
	struct listing *ls;
	char *enc_since = since ? pw_urlencode(since) : NULL;
	size_t nl = 0, i;
	pwnm_status_t st;

	*out = NULL;
	*n = 0;
	while (categories && categories[nl])
		nl++;
	ls = xcalloc(nl ? nl : 1, sizeof(*ls));
	for (i = 0; i < (nl ? nl : 1); i++) {
		char *cat = nl ? pw_urlencode(categories[i]) : NULL;

		ls[i].url = xasprintf("%sevents/?project=%u%s%s&order=date&per_page=%d%s%s", c->root,
				      project_id, cat ? "&category=" : "", cat ? cat : "",
				      PW_PER_PAGE, enc_since ? "&since=" : "",
				      enc_since ? enc_since : "");
		ls[i].page = event_page;
		ls[i].data = &ep;
		free(cat);
	}
	st = paginate(c, ls, nl ? nl : 1);
	for (i = 0; i < (nl ? nl : 1); i++)
		listing_free(&ls[i]);
	free(ls);
	free(enc_since);
	if (st) {
		pw_event_array_free((struct pw_event *)(void *)ep.v.v, ep.v.n);
		return st;
	}
	vec_sort_unique(&ep.v, cmp_event_id, event_release);
	*out = (struct pw_event *)(void *)ep.v.v;
	*n = ep.v.n;
	return PWNM_STATUS_SUCCESS;
}

pwnm_status_t
pw_newest_event(pw_client_t *c, uint32_t project_id, struct pw_event *out)
{
	char *url = xasprintf("%sevents/?project=%u&per_page=1", c->root, project_id);
	struct http_request *r = new_get(url);
	struct pw_event *a = NULL;
	size_t an = 0;
	pwnm_status_t st;

	memset(out, 0, sizeof(*out));
	free(url);
	st = run_gets(c, &r, 1);
	if (st == PWNM_STATUS_SUCCESS)
		st = decode_events_page(c, r, &a, &an);
	if (st == PWNM_STATUS_SUCCESS && an > 0) {
		*out = a[0];
		memset(&a[0], 0, sizeof(a[0]));
	}
	pw_event_array_free(a, an);
	http_request_free(r);
	return st;
}

/* ---- single patch ---- */

pwnm_status_t
pw_get_patch(pw_client_t *c, uint32_t patch_id, struct pw_patch *out)
{
	char *url = xasprintf("%spatches/%u/", c->root, patch_id);
	struct http_request *r = new_get(url);
	char *why = NULL;
	pwnm_status_t st;

	memset(out, 0, sizeof(*out));
	free(url);
	st = run_gets(c, &r, 1);
	if (st == PWNM_STATUS_SUCCESS) {
		st = pw_patch_from_json(r->resp.data, r->resp.len, out, &why);
		if (st != PWNM_STATUS_SUCCESS)
			set_error(c, "GET %s: %s", r->url, why);
		free(why);
	}
	http_request_free(r);
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
	char *msg = NULL, *why = NULL;

	u->retry_after = r->retry_after;
	if (r->status == PWNM_STATUS_SUCCESS) {
		u->status = pw_patch_from_json(r->resp.data, r->resp.len, &u->result, &why);
		if (u->status != PWNM_STATUS_SUCCESS) {
			u->error = xasprintf("patch %u: PATCH %s: %s", u->patch_id, r->url, why);
			free(why);
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
	u->error = xasprintf("patch %u: %s", u->patch_id, msg);
	free(msg);
}

pwnm_status_t
pw_update_patches(pw_client_t *c, struct pw_update *u, size_t n)
{
	struct http_request **reqs;
	pwnm_status_t st = PWNM_STATUS_SUCCESS;
	size_t i;

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
		if (u[i].status != PWNM_STATUS_SUCCESS && st == PWNM_STATUS_SUCCESS) {
			st = u[i].status;
			set_error(c, "%s", u[i].error);
		}
	}
	free_reqs(reqs, n);
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

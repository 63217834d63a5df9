/* libpw.c - Patchwork REST API: JSON decoding, Link headers, URLs and the client calls */
#include "libpw.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "libutil.h"

/* Pages fetched together in a full list (several times the requests in flight). */
#define PW_PAGE_WINDOW 32
#define PW_PER_PAGE 250
/* Page size of the first request of pw_list_patches_above: an idle check stays small. */
#define PW_PER_PAGE_PEEK 30
/* More pages than this in one listing is taken as a broken server, not data. */
#define PW_MAX_PAGES 100000u
/* Largest event id: JSON numbers are doubles, exact up to 2^53. */
#define PW_MAX_EVENT_ID 9007199254740992.0
/* Longest server text (detail) copied into an error message. */
#define PW_MAX_DETAIL 300

/* ==== records ==== */

void
pw_patch_free(struct pw_patch *p)
{
	if (!p)
		return;
	free(p->project);
	free(p->msgid);
	free(p->state);
	free(p->delegate);
	free(p->date);
	free(p->name);
	free(p->web_url);
	memset(p, 0, sizeof(*p));
}

void
pw_patch_array_free(struct pw_patch *a, size_t n)
{
	size_t i;

	if (!a)
		return;
	for (i = 0; i < n; i++)
		pw_patch_free(&a[i]);
	free(a);
}

void
pw_event_free(struct pw_event *e)
{
	free(e->category);
	free(e->date);
	free(e->msgid);
	free(e->previous_state);
	free(e->current_state);
	free(e->current_delegate);
	memset(e, 0, sizeof(*e));
}

void
pw_event_array_free(struct pw_event *a, size_t n)
{
	size_t i;

	if (!a)
		return;
	for (i = 0; i < n; i++)
		pw_event_free(&a[i]);
	free(a);
}

static void
project_free(struct pw_project *p)
{
	free(p->link_name);
	free(p->name);
	free(p->list_id);
	free(p->web_url);
	memset(p, 0, sizeof(*p));
}

void
pw_project_array_free(struct pw_project *a, size_t n)
{
	size_t i;

	if (!a)
		return;
	for (i = 0; i < n; i++)
		project_free(&a[i]);
	free(a);
}

/* ==== JSON helpers ==== */

/*
 * Parse a whole body: trailing non-blank bytes are an error.  The body
 * is copied so that cJSON always sees a NUL-terminated buffer.
 */
static cJSON *
parse_body(const char *body, size_t len)
{
	char *copy;
	const char *end = NULL;
	cJSON *root;

	if (!body)
		len = 0;
	copy = xmalloc(len + 1);
	if (len)
		memcpy(copy, body, len);
	copy[len] = '\0';
	root = cJSON_ParseWithLengthOpts(copy, len, &end, 0);
	if (root && end) {
		while (end < copy + len &&
		       (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
			end++;
		if (end != copy + len) {
			cJSON_Delete(root);
			root = NULL;
		}
	}
	free(copy);
	return root;
}

static const char *
json_type_name(const cJSON *j)
{
	if (cJSON_IsArray(j))
		return "an array";
	if (cJSON_IsObject(j))
		return "an object";
	if (cJSON_IsString(j))
		return "a string";
	if (cJSON_IsNumber(j))
		return "a number";
	if (cJSON_IsBool(j))
		return "a boolean";
	if (cJSON_IsNull(j))
		return "null";
	return "an unknown value";
}

static const cJSON *
field(const cJSON *o, const char *name)
{
	if (!cJSON_IsObject(o))
		return NULL;
	return cJSON_GetObjectItemCaseSensitive(o, name);
}

static int
is_str(const cJSON *j)
{
	return cJSON_IsString(j) && j->valuestring;
}

/* An integral number in 1..max. */
static int
json_id(const cJSON *j, double max, uint64_t *out)
{
	double v;

	if (!cJSON_IsNumber(j))
		return -1;
	v = j->valuedouble;
	if (!(v >= 1.0 && v <= max))
		return -1;
	if ((double)(uint64_t)v != v)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

/*
 * Field getters: 0 on success, -1 with *why set to a caller-freed
 * "field 'path' is ..." text.  path names the field for the message.
 */
static int
get_str(const cJSON *o, const char *name, const char *path, char **out, char **why)
{
	const cJSON *j = field(o, name);

	if (!is_str(j)) {
		*why = xasprintf("field '%s' is missing or not a string", path);
		return -1;
	}
	*out = xstrdup(j->valuestring);
	return 0;
}

/* A string, or null/absent (older API versions lack some URLs): "". */
static int
get_str_or_null(const cJSON *o, const char *name, const char *path, char **out, char **why)
{
	const cJSON *j = field(o, name);

	if (!j || cJSON_IsNull(j)) {
		*out = xstrdup("");
		return 0;
	}
	if (!is_str(j)) {
		*why = xasprintf("field '%s' is not a string or null", path);
		return -1;
	}
	*out = xstrdup(j->valuestring);
	return 0;
}

static int
get_id32(const cJSON *o, const char *name, const char *path, uint32_t *out, char **why)
{
	uint64_t v;

	if (json_id(field(o, name), (double)UINT32_MAX, &v) < 0) {
		*why = xasprintf("field '%s' is missing or not a valid id", path);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

static int
get_bool(const cJSON *o, const char *name, const char *path, int *out, char **why)
{
	const cJSON *j = field(o, name);

	if (!cJSON_IsBool(j)) {
		*why = xasprintf("field '%s' is missing or not a boolean", path);
		return -1;
	}
	*out = cJSON_IsTrue(j) ? 1 : 0;
	return 0;
}

static int
get_object(const cJSON *o, const char *name, const char *path, const cJSON **out, char **why)
{
	const cJSON *j = field(o, name);

	if (!cJSON_IsObject(j)) {
		*why = xasprintf("field '%s' is missing or not an object", path);
		return -1;
	}
	*out = j;
	return 0;
}

/* A user object (id, username) or null: id 0 and "" for null. */
static int
get_user_or_null(const cJSON *o, const char *name, const char *path, uint32_t *id,
		 char **username, char **why)
{
	const cJSON *j = field(o, name);
	char *sub = NULL;
	int rc = -1;

	if (cJSON_IsNull(j)) {
		*id = 0;
		*username = xstrdup("");
		return 0;
	}
	if (!cJSON_IsObject(j)) {
		*why = xasprintf("field '%s' is missing or not an object or null", path);
		return -1;
	}
	sub = xasprintf("%s.id", path);
	if (get_id32(j, "id", sub, id, why) < 0)
		goto out;
	free(sub);
	sub = xasprintf("%s.username", path);
	if (get_str(j, "username", sub, username, why) < 0)
		goto out;
	rc = 0;
out:
	free(sub);
	return rc;
}

/* ==== decoders ==== */

static int
decode_patch(const cJSON *o, struct pw_patch *p, char **why)
{
	const cJSON *proj;

	memset(p, 0, sizeof(*p));
	if (!cJSON_IsObject(o)) {
		*why = xasprintf("expected a JSON object, got %s", json_type_name(o));
		return -1;
	}
	if (get_id32(o, "id", "id", &p->id, why) < 0 ||
	    get_object(o, "project", "project", &proj, why) < 0 ||
	    get_id32(proj, "id", "project.id", &p->project_id, why) < 0 ||
	    get_str(proj, "link_name", "project.link_name", &p->project, why) < 0 ||
	    get_str(o, "msgid", "msgid", &p->msgid, why) < 0 ||
	    get_str(o, "state", "state", &p->state, why) < 0 ||
	    get_bool(o, "archived", "archived", &p->archived, why) < 0 ||
	    get_user_or_null(o, "delegate", "delegate", &p->delegate_id, &p->delegate, why) < 0 ||
	    get_str(o, "date", "date", &p->date, why) < 0 ||
	    get_str(o, "name", "name", &p->name, why) < 0 ||
	    get_str_or_null(o, "web_url", "web_url", &p->web_url, why) < 0) {
		pw_patch_free(p);
		return -1;
	}
	return 0;
}

static int
decode_event(const cJSON *o, struct pw_event *e, char **why)
{
	const cJSON *proj, *payload, *patch;
	uint64_t id;

	memset(e, 0, sizeof(*e));
	if (!cJSON_IsObject(o)) {
		*why = xasprintf("expected a JSON object, got %s", json_type_name(o));
		return -1;
	}
	if (json_id(field(o, "id"), PW_MAX_EVENT_ID, &id) < 0) {
		*why = xstrdup("field 'id' is missing or not a valid id");
		goto fail;
	}
	e->id = id;
	if (get_str(o, "category", "category", &e->category, why) < 0 ||
	    get_str(o, "date", "date", &e->date, why) < 0 ||
	    get_object(o, "project", "project", &proj, why) < 0 ||
	    get_id32(proj, "id", "project.id", &e->project_id, why) < 0)
		goto fail;

	payload = field(o, "payload");
	if (payload && !cJSON_IsNull(payload) && !cJSON_IsObject(payload)) {
		*why = xstrdup("field 'payload' is not an object or null");
		goto fail;
	}
	patch = field(payload, "patch");
	if (patch && !cJSON_IsNull(patch)) {
		if (!cJSON_IsObject(patch)) {
			*why = xstrdup("field 'payload.patch' is not an object or null");
			goto fail;
		}
		if (get_id32(patch, "id", "payload.patch.id", &e->patch_id, why) < 0 ||
		    get_str(patch, "msgid", "payload.patch.msgid", &e->msgid, why) < 0)
			goto fail;
	} else {
		e->msgid = xstrdup("");
	}

	if (strcmp(e->category, "patch-state-changed") == 0) {
		if (get_str_or_null(payload, "previous_state", "payload.previous_state",
				    &e->previous_state, why) < 0 ||
		    get_str(payload, "current_state", "payload.current_state", &e->current_state,
			    why) < 0)
			goto fail;
	} else {
		e->previous_state = xstrdup("");
		e->current_state = xstrdup("");
	}

	if (strcmp(e->category, "patch-delegated") == 0) {
		e->has_delegate = 1;
		if (get_user_or_null(payload, "current_delegate", "payload.current_delegate",
				     &e->current_delegate_id, &e->current_delegate, why) < 0)
			goto fail;
	} else {
		e->current_delegate = xstrdup("");
	}
	return 0;
fail:
	pw_event_free(e);
	return -1;
}

static int
decode_project(const cJSON *o, struct pw_project *p, char **why)
{
	memset(p, 0, sizeof(*p));
	if (!cJSON_IsObject(o)) {
		*why = xasprintf("expected a JSON object, got %s", json_type_name(o));
		return -1;
	}
	if (get_id32(o, "id", "id", &p->id, why) < 0 ||
	    get_str(o, "link_name", "link_name", &p->link_name, why) < 0 ||
	    get_str(o, "name", "name", &p->name, why) < 0 ||
	    get_str(o, "list_id", "list_id", &p->list_id, why) < 0 ||
	    get_str_or_null(o, "web_url", "web_url", &p->web_url, why) < 0) {
		project_free(p);
		return -1;
	}
	return 0;
}

/*
 * Decode a JSON array body with decode(item, out + i*size, why); free
 * releases a decoded item.  On failure everything decoded is freed.
 */
typedef int (*decode_fn)(const cJSON *o, void *out, char **why);
typedef void (*free_fn)(void *item);

static int
decode_patch_v(const cJSON *o, void *out, char **why)
{
	return decode_patch(o, out, why);
}

static int
decode_event_v(const cJSON *o, void *out, char **why)
{
	return decode_event(o, out, why);
}

static int
decode_project_v(const cJSON *o, void *out, char **why)
{
	return decode_project(o, out, why);
}

static void
patch_free_v(void *p)
{
	pw_patch_free(p);
}

static void
event_free_v(void *p)
{
	pw_event_free(p);
}

static void
project_free_v(void *p)
{
	project_free(p);
}

static pwnm_status_t
decode_array(const char *body, size_t len, size_t size, decode_fn decode, free_fn release,
	     void **out, size_t *n, char **err)
{
	cJSON *root;
	const cJSON *item;
	char *items = NULL, *why = NULL;
	size_t count, i = 0;
	pwnm_status_t st = PWNM_STATUS_PROTOCOL;

	*out = NULL;
	*n = 0;
	if (err)
		*err = NULL;
	root = parse_body(body, len);
	if (!root) {
		why = xstrdup("response is not valid JSON");
		goto out;
	}
	if (!cJSON_IsArray(root)) {
		why = xasprintf("expected a JSON array, got %s", json_type_name(root));
		goto out;
	}
	count = (size_t)cJSON_GetArraySize(root);
	items = xcalloc(count ? count : 1, size);
	cJSON_ArrayForEach(item, root) {
		char *sub = NULL;

		if (i >= count)
			break;
		if (decode(item, items + i * size, &sub) < 0) {
			why = xasprintf("item %zu: %s", i, sub);
			free(sub);
			goto out;
		}
		i++;
	}
	*out = items;
	*n = i;
	items = NULL;
	st = PWNM_STATUS_SUCCESS;
out:
	if (items) {
		size_t j;

		for (j = 0; j < i; j++)
			release(items + j * size);
		free(items);
	}
	cJSON_Delete(root);
	if (err)
		*err = why;
	else
		free(why);
	return st;
}

pwnm_status_t
pw_patches_from_json(const char *body, size_t len, struct pw_patch **out, size_t *n, char **err)
{
	void *v;
	pwnm_status_t st;

	st = decode_array(body, len, sizeof(struct pw_patch), decode_patch_v, patch_free_v, &v, n,
			  err);
	*out = v;
	return st;
}

pwnm_status_t
pw_events_from_json(const char *body, size_t len, struct pw_event **out, size_t *n, char **err)
{
	void *v;
	pwnm_status_t st;

	st = decode_array(body, len, sizeof(struct pw_event), decode_event_v, event_free_v, &v, n,
			  err);
	*out = v;
	return st;
}

pwnm_status_t
pw_projects_from_json(const char *body, size_t len, struct pw_project **out, size_t *n,
		      char **err)
{
	void *v;
	pwnm_status_t st;

	st = decode_array(body, len, sizeof(struct pw_project), decode_project_v, project_free_v,
			  &v, n, err);
	*out = v;
	return st;
}

pwnm_status_t
pw_patch_from_json(const char *body, size_t len, struct pw_patch *out, char **err)
{
	cJSON *root;
	char *why = NULL;
	pwnm_status_t st = PWNM_STATUS_PROTOCOL;

	memset(out, 0, sizeof(*out));
	root = parse_body(body, len);
	if (!root)
		why = xstrdup("response is not valid JSON");
	else if (decode_patch(root, out, &why) == 0)
		st = PWNM_STATUS_SUCCESS;
	cJSON_Delete(root);
	if (err)
		*err = why;
	else
		free(why);
	return st;
}

char *
pw_error_detail(const char *body, size_t len)
{
	cJSON *root = parse_body(body, len);
	const cJSON *d = field(root, "detail");
	char *s = is_str(d) ? xstrdup(d->valuestring) : NULL;

	cJSON_Delete(root);
	return s;
}

/* The ';'-list after "Expected one of:" in msg, or NULL. */
static char *
states_from_message(const char *msg)
{
	static const char marker[] = "Expected one of:";
	const char *p = strstr(msg, marker), *end;
	struct buf b = { 0 };

	if (!p)
		return NULL;
	p += sizeof(marker) - 1;
	end = p + strlen(p);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' ||
			   end[-1] == '\r'))
		end--;
	if (end > p && end[-1] == '.')
		end--;
	while (p < end) {
		const char *s, *e;
		size_t k;
		int bad = 0;

		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		s = p;
		while (p < end && *p != ',')
			p++;
		e = p;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e == s)
			continue;
		for (k = 0; s + k < e; k++) {
			unsigned char ch = (unsigned char)s[k];

			if (ch <= ' ' || ch == ';' || ch == 0x7f)
				bad = 1;
		}
		if (bad)
			continue;
		if (b.len)
			buf_addc(&b, ';');
		buf_add(&b, s, (size_t)(e - s));
	}
	if (!b.len) {
		buf_free(&b);
		return NULL;
	}
	return buf_release(&b);
}

char *
pw_valid_states_from_400(const char *body, size_t len)
{
	cJSON *root = parse_body(body, len);
	const cJSON *st = field(root, "state"), *item;
	char *res = NULL;

	if (is_str(st)) {
		res = states_from_message(st->valuestring);
	} else if (cJSON_IsArray(st)) {
		cJSON_ArrayForEach(item, st) {
			if (is_str(item))
				res = states_from_message(item->valuestring);
			if (res)
				break;
		}
	}
	cJSON_Delete(root);
	return res;
}

/* ==== Link header ==== */

static int
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void
skip_ws(const char **p)
{
	while (is_ws(**p))
		(*p)++;
}

static void
set_link(struct pw_links *l, const char *rel, size_t rlen, const char *url, size_t ulen)
{
	char **slot = NULL;

	if (rlen == 4 && strncasecmp(rel, "next", 4) == 0)
		slot = &l->next;
	else if (rlen == 4 && strncasecmp(rel, "prev", 4) == 0)
		slot = &l->prev;
	else if (rlen == 8 && strncasecmp(rel, "previous", 8) == 0)
		slot = &l->prev;
	else if (rlen == 5 && strncasecmp(rel, "first", 5) == 0)
		slot = &l->first;
	else if (rlen == 4 && strncasecmp(rel, "last", 4) == 0)
		slot = &l->last;
	if (slot && !*slot)
		*slot = xstrndup(url, ulen);
}

void
pw_parse_links(const char *h, struct pw_links *out)
{
	const char *p = h;

	memset(out, 0, sizeof(*out));
	if (!h)
		return;
	while (*p) {
		const char *us, *ue;
		struct buf rel = { 0 };
		int have_rel = 0;

		while (is_ws(*p) || *p == ',')
			p++;
		if (!*p)
			break;
		if (*p != '<') {
			/* junk: resynchronise at the next link-value */
			while (*p && *p != ',')
				p++;
			continue;
		}
		us = ++p;
		ue = strchr(p, '>');
		if (!ue)
			break;
		p = ue + 1;
		while (us < ue && is_ws(*us))
			us++;
		while (ue > us && is_ws(ue[-1]))
			ue--;
		/* link-params */
		for (;;) {
			const char *ns, *ne;
			struct buf val = { 0 };
			int has_val = 0;

			skip_ws(&p);
			if (*p != ';')
				break;
			p++;
			skip_ws(&p);
			ns = p;
			while (*p && *p != '=' && *p != ';' && *p != ',' && !is_ws(*p))
				p++;
			ne = p;
			skip_ws(&p);
			if (*p == '=') {
				p++;
				skip_ws(&p);
				has_val = 1;
				if (*p == '"') {
					p++;
					while (*p && *p != '"') {
						if (*p == '\\' && p[1])
							p++;
						buf_addc(&val, *p);
						p++;
					}
					if (*p == '"')
						p++;
				} else {
					const char *vs = p;

					while (*p && *p != ';' && *p != ',' && !is_ws(*p))
						p++;
					buf_add(&val, vs, (size_t)(p - vs));
				}
			}
			/* only the first rel parameter of a link counts (RFC 8288 3.3) */
			if (has_val && !have_rel && ne - ns == 3 && strncasecmp(ns, "rel", 3) == 0) {
				have_rel = 1;
				buf_add(&rel, val.data ? val.data : "", val.len);
			}
			buf_free(&val);
		}
		if (have_rel && rel.data) {
			const char *r = rel.data;

			while (*r) {
				const char *rs;

				while (is_ws(*r))
					r++;
				rs = r;
				while (*r && !is_ws(*r))
					r++;
				if (r > rs)
					set_link(out, rs, (size_t)(r - rs), us, (size_t)(ue - us));
			}
		}
		buf_free(&rel);
		/* anything else before the next ',' is junk */
		while (*p && *p != ',')
			p++;
	}
}

void
pw_links_free(struct pw_links *l)
{
	if (!l)
		return;
	free(l->next);
	free(l->prev);
	free(l->first);
	free(l->last);
	memset(l, 0, sizeof(*l));
}

/* ==== URLs ==== */

/* Bounds of the query string of url (after '?', before '#'); -1 when there is none. */
static int
query_bounds(const char *url, const char **qs, const char **qe)
{
	const char *hash = strchr(url, '#');
	const char *q = strchr(url, '?');

	if (!hash)
		hash = url + strlen(url);
	if (!q || q > hash)
		return -1;
	*qs = q + 1;
	*qe = hash;
	return 0;
}

static int
is_page_param(const char *s, const char *e)
{
	return e - s >= 5 && strncmp(s, "page=", 5) == 0;
}

unsigned
pw_url_page(const char *url)
{
	const char *qs, *qe, *p;

	if (!url || query_bounds(url, &qs, &qe) < 0)
		return 0;
	for (p = qs; p < qe;) {
		const char *e = memchr(p, '&', (size_t)(qe - p));

		if (!e)
			e = qe;
		if (is_page_param(p, e)) {
			const char *d = p + 5;
			unsigned long v = 0;

			if (d == e)
				return 0;
			for (; d < e; d++) {
				if (*d < '0' || *d > '9')
					return 0;
				v = v * 10 + (unsigned long)(*d - '0');
				if (v > UINT_MAX)
					return 0;
			}
			return (unsigned)v;
		}
		p = e < qe ? e + 1 : e;
	}
	return 0;
}

char *
pw_url_set_page(const char *url, unsigned page)
{
	const char *qs, *qe, *p;
	struct buf b = { 0 };
	int done = 0, first = 1;

	if (query_bounds(url, &qs, &qe) < 0) {
		const char *hash = strchr(url, '#');
		size_t base = hash ? (size_t)(hash - url) : strlen(url);

		buf_add(&b, url, base);
		buf_printf(&b, "?page=%u", page);
		if (hash)
			buf_adds(&b, hash);
		return buf_release(&b);
	}
	buf_add(&b, url, (size_t)(qs - url));
	for (p = qs; p < qe;) {
		const char *e = memchr(p, '&', (size_t)(qe - p));

		if (!e)
			e = qe;
		if (is_page_param(p, e) || (e - p == 4 && strncmp(p, "page", 4) == 0)) {
			if (!done) {
				if (!first)
					buf_addc(&b, '&');
				buf_printf(&b, "page=%u", page);
				first = 0;
				done = 1;
			}
		} else {
			if (!first)
				buf_addc(&b, '&');
			buf_add(&b, p, (size_t)(e - p));
			first = 0;
		}
		p = e < qe ? e + 1 : e;
	}
	if (!done) {
		if (!first)
			buf_addc(&b, '&');
		buf_printf(&b, "page=%u", page);
	}
	buf_adds(&b, qe);
	return buf_release(&b);
}

char *
pw_urlencode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf b = { 0 };

	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			buf_addc(&b, (char)c);
		} else {
			buf_addc(&b, '%');
			buf_addc(&b, hex[c >> 4]);
			buf_addc(&b, hex[c & 15]);
		}
	}
	return buf_release(&b);
}

static void
json_check(const void *p)
{
	if (!p)
		fatal("out of memory");
}

char *
pw_update_body(const char *state, int archived, long delegate_id)
{
	cJSON *o = cJSON_CreateObject();
	char *printed, *s;

	json_check(o);
	if (state)
		json_check(cJSON_AddStringToObject(o, "state", state));
	if (archived != -1)
		json_check(cJSON_AddBoolToObject(o, "archived", archived ? 1 : 0));
	if (delegate_id == 0)
		json_check(cJSON_AddNullToObject(o, "delegate"));
	else if (delegate_id > 0)
		json_check(cJSON_AddNumberToObject(o, "delegate", (double)delegate_id));
	printed = cJSON_PrintUnformatted(o);
	json_check(printed);
	s = xstrdup(printed);
	cJSON_free(printed);
	cJSON_Delete(o);
	return s;
}

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
	c->origin = http_origin_of(c->base);
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
	char *o = http_origin_of(url);
	int same = o && c->origin && strcmp(o, c->origin) == 0;

	free(o);
	if (!same) {
		set_error(c, "refusing to follow a page link to another host: %s", url);
		return PWNM_STATUS_PROTOCOL;
	}
	return PWNM_STATUS_SUCCESS;
}

/* The next page of r after checks; *next NULL at the end.  Caller frees *next. */
static pwnm_status_t
next_link(pw_client_t *c, const struct http_request *r, unsigned pages, char **next)
{
	struct pw_links l;
	pwnm_status_t st;

	*next = NULL;
	pw_parse_links(r->link, &l);
	if (!l.next) {
		pw_links_free(&l);
		return PWNM_STATUS_SUCCESS;
	}
	st = check_link(c, l.next);
	if (st == PWNM_STATUS_SUCCESS && strcmp(l.next, r->url) == 0) {
		set_error(c, "GET %s: the next page link points to the same page", r->url);
		st = PWNM_STATUS_PROTOCOL;
	}
	if (st == PWNM_STATUS_SUCCESS && pages >= PW_MAX_PAGES) {
		set_error(c, "GET %s: more than %u pages, giving up", r->url, PW_MAX_PAGES);
		st = PWNM_STATUS_PROTOCOL;
	}
	if (st == PWNM_STATUS_SUCCESS) {
		*next = l.next;
		l.next = NULL;
	}
	pw_links_free(&l);
	return st;
}

/* ---- growable result arrays ---- */

struct vec {
	char *v;
	size_t n, cap, size;
	/* When set (patch lists only), pages go to the sink instead of into v. */
	pw_patches_cb sink;
	void *sink_data;
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

/* Move the n items of a to the end of v and free a (not the items' strings). */
static void
vec_take(struct vec *v, void *a, size_t n)
{
	if (v->sink) {
		v->sink((const struct pw_patch *)a, n, v->sink_data);
		pw_patch_array_free(a, n);
		return;
	}
	vec_push(v, a, n);
	free(a);
}

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
		cJSON *root;

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
		root = parse_body(r->resp.data, r->resp.len);
		if (!is_str(field(root, "patches"))) {
			set_error(c, "GET %s: not a Patchwork API root (no 'patches' link)", r->url);
			st = PWNM_STATUS_PROTOCOL;
		}
		cJSON_Delete(root);
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
	char *url = xasprintf("%sprojects/?per_page=%d", c->root, PW_PER_PAGE);
	pwnm_status_t st = PWNM_STATUS_SUCCESS;
	unsigned pages = 0;

	*out = NULL;
	*n = 0;
	while (url) {
		struct http_request *r = new_get(url);
		struct pw_project *a;
		size_t an;
		char *why = NULL;

		free(url);
		url = NULL;
		pages++;
		st = run_gets(c, &r, 1);
		if (st == PWNM_STATUS_SUCCESS) {
			st = pw_projects_from_json(r->resp.data, r->resp.len, &a, &an, &why);
			if (st != PWNM_STATUS_SUCCESS)
				set_error(c, "GET %s: %s", r->url, why);
			free(why);
		}
		if (st == PWNM_STATUS_SUCCESS) {
			vec_take(&v, a, an);
			st = next_link(c, r, pages, &url);
		}
		http_request_free(r);
		if (st != PWNM_STATUS_SUCCESS)
			goto fail;
	}
	*out = (struct pw_project *)(void *)v.v;
	*n = v.n;
	return PWNM_STATUS_SUCCESS;
fail:
	pw_project_array_free((struct pw_project *)(void *)v.v, v.n);
	return st;
}

/* ---- patches ---- */

/*
 * Follow the pages after r sequentially into v: by rel="next" when the
 * server sends Link headers; when it sent none at all (a proxy that
 * strips them) and the page was full, by asking for the following page
 * numbers until a short page or a 404.
 */
static pwnm_status_t
follow_patch_pages(pw_client_t *c, const char *first_url, struct http_request *r,
		   size_t last_count, unsigned page, pw_progress_cb progress, void *pdata,
		   struct vec *v)
{
	struct http_request *cur = r;
	pwnm_status_t st = PWNM_STATUS_SUCCESS;

	for (;;) {
		char *url = NULL;
		struct pw_patch *a;
		size_t an;
		int guessed = 0;

		if (cur->link && *cur->link) {
			st = next_link(c, cur, page, &url);
			if (st != PWNM_STATUS_SUCCESS)
				break;
		} else if (last_count >= PW_PER_PAGE && page < PW_MAX_PAGES) {
			url = pw_url_set_page(first_url, page + 1);
			guessed = 1;
		}
		if (cur != r)
			http_request_free(cur);
		cur = NULL;
		if (!url)
			break;
		cur = new_get(url);
		free(url);
		st = run_gets(c, &cur, 1);
		if (st == PWNM_STATUS_NOT_FOUND && guessed) {
			st = PWNM_STATUS_SUCCESS; /* past the last page */
			break;
		}
		if (st != PWNM_STATUS_SUCCESS)
			break;
		st = decode_patches_page(c, cur, &a, &an);
		if (st != PWNM_STATUS_SUCCESS)
			break;
		vec_take(v, a, an);
		last_count = an;
		page++;
		if (progress)
			progress(page, page + (cur->link && strstr(cur->link, "next") ? 1 : 0), pdata);
	}
	if (cur && cur != r)
		http_request_free(cur);
	return st;
}

pwnm_status_t
pw_list_patches(pw_client_t *c, uint32_t project_id, const char *since, pw_progress_cb progress,
		void *pdata, struct pw_patch **out, size_t *n)
{
	return pw_list_patches_pages(c, project_id, since, progress, pdata, NULL, NULL, out, n);
}

pwnm_status_t
pw_list_patches_pages(pw_client_t *c, uint32_t project_id, const char *since,
		      pw_progress_cb progress, void *pdata, pw_patches_cb sink, void *sdata,
		      struct pw_patch **out, size_t *n)
{
	struct vec v = { .size = sizeof(struct pw_patch), .sink = sink, .sink_data = sdata };
	struct http_request *first = NULL, **reqs = NULL;
	struct pw_links l = { 0 };
	struct pw_patch *a;
	size_t an, nreq = 0, i;
	unsigned total = 0, p;
	char *url, *enc = since ? pw_urlencode(since) : NULL;
	pwnm_status_t st;

	*out = NULL;
	*n = 0;
	url = xasprintf("%spatches/?project=%u&order=id&per_page=%d%s%s", c->root, project_id,
			PW_PER_PAGE, enc ? "&since=" : "", enc ? enc : "");
	free(enc);
	first = new_get(url);
	st = run_gets(c, &first, 1);
	if (st != PWNM_STATUS_SUCCESS)
		goto out;
	st = decode_patches_page(c, first, &a, &an);
	if (st != PWNM_STATUS_SUCCESS)
		goto out;
	vec_take(&v, a, an);

	pw_parse_links(first->link, &l);
	if (l.last) {
		st = check_link(c, l.last);
		if (st != PWNM_STATUS_SUCCESS)
			goto out;
		total = pw_url_page(l.last);
		if (total > PW_MAX_PAGES) {
			set_error(c, "GET %s: implausible page count %u in the Link header", url,
				  total);
			st = PWNM_STATUS_PROTOCOL;
			goto out;
		}
	}
	if (total == 0 || (total == 1 && l.next)) {
		/* no usable rel="last": sequential */
		if (progress)
			progress(1, l.next ? 2 : 1, pdata);
		st = follow_patch_pages(c, url, first, an, 1, progress, pdata, &v);
		goto out;
	}
	if (progress)
		progress(1, total, pdata);
	if (total > 1) {
		/*
		 * Pages 2..total, a window at a time: each window runs
		 * concurrently, and its bodies are decoded and freed before the
		 * next is fetched, so memory does not grow with the page count.
		 */
		unsigned from, to;

		for (from = 2; from <= total; from = to + 1) {
			to = from + PW_PAGE_WINDOW - 1 > total ? total : from + PW_PAGE_WINDOW - 1;
			free_reqs(reqs, nreq);
			nreq = to - from + 1;
			reqs = xcalloc(nreq, sizeof(*reqs));
			for (p = from; p <= to; p++) {
				char *pu = pw_url_set_page(url, p);

				reqs[p - from] = new_get(pu);
				free(pu);
			}
			st = run_gets(c, reqs, nreq);
			if (st != PWNM_STATUS_SUCCESS)
				goto out;
			for (i = 0; i < nreq; i++) {
				st = decode_patches_page(c, reqs[i], &a, &an);
				if (st != PWNM_STATUS_SUCCESS)
					goto out;
				vec_take(&v, a, an);
				if (i + 1 < nreq) {
					/* the body is decoded; only the last is needed below */
					buf_free(&reqs[i]->resp);
				}
			}
			if (progress)
				progress(to, total, pdata);
		}
		/* patches that arrived meanwhile may have opened a further page */
		st = follow_patch_pages(c, url, reqs[nreq - 1], an, total, progress, pdata, &v);
		if (st != PWNM_STATUS_SUCCESS)
			goto out;
	}
out:
	pw_links_free(&l);
	free_reqs(reqs, nreq);
	http_request_free(first);
	free(url);
	if (st != PWNM_STATUS_SUCCESS) {
		pw_patch_array_free((struct pw_patch *)(void *)v.v, v.n);
		return st;
	}
	*out = (struct pw_patch *)(void *)v.v;
	*n = v.n;
	return st;
}

static int
cmp_patch_id(const void *a, const void *b)
{
	uint32_t x = ((const struct pw_patch *)a)->id, y = ((const struct pw_patch *)b)->id;

	return x < y ? -1 : x > y;
}

/*
 * Sort by id ascending and drop repeated ids (a page boundary that
 * moved while paging shows an item twice).
 */
static void
patches_sort_unique(struct vec *v)
{
	struct pw_patch *a = (struct pw_patch *)(void *)v->v;
	size_t i, k = 0;

	if (v->n < 2)
		return;
	qsort(a, v->n, sizeof(*a), cmp_patch_id);
	for (i = 0; i < v->n; i++) {
		if (k > 0 && a[k - 1].id == a[i].id) {
			pw_patch_free(&a[i]);
			continue;
		}
		if (k != i)
			a[k] = a[i];
		k++;
	}
	v->n = k;
}

/*
 * Page 1 asks for PW_PER_PAGE_PEEK patches, newest first, so that the
 * common idle check is one small request.  When that is not enough,
 * the listing starts again with PW_PER_PAGE per page and follows
 * rel="next"; the overlap is dropped by id.  Returned sorted by id
 * ascending.
 */
pwnm_status_t
pw_list_patches_above(pw_client_t *c, uint32_t project_id, uint32_t above_id,
		      struct pw_patch **out, size_t *n)
{
	struct vec v = { .size = sizeof(struct pw_patch) };
	char *url;
	unsigned pages = 0;
	int peek = 1;
	pwnm_status_t st = PWNM_STATUS_SUCCESS;

	*out = NULL;
	*n = 0;
	url = xasprintf("%spatches/?project=%u&order=-id&per_page=%d", c->root, project_id,
			PW_PER_PAGE_PEEK);
	while (url) {
		struct http_request *r = new_get(url);
		struct pw_patch *a;
		size_t an, i, k = 0;
		int stop = 0;

		free(url);
		url = NULL;
		pages++;
		st = run_gets(c, &r, 1);
		if (st == PWNM_STATUS_SUCCESS)
			st = decode_patches_page(c, r, &a, &an);
		if (st != PWNM_STATUS_SUCCESS) {
			http_request_free(r);
			goto fail;
		}
		for (i = 0; i < an; i++) {
			if (a[i].id > above_id) {
				a[k++] = a[i];
			} else {
				stop = 1;
				pw_patch_free(&a[i]);
			}
		}
		vec_take(&v, a, k);
		if (!stop)
			st = next_link(c, r, pages, &url);
		http_request_free(r);
		if (st != PWNM_STATUS_SUCCESS)
			goto fail;
		if (url && peek) {
			free(url);
			url = xasprintf("%spatches/?project=%u&order=-id&per_page=%d", c->root,
					project_id, PW_PER_PAGE);
		}
		peek = 0;
	}
	patches_sort_unique(&v);
	*out = (struct pw_patch *)(void *)v.v;
	*n = v.n;
	return PWNM_STATUS_SUCCESS;
fail:
	pw_patch_array_free((struct pw_patch *)(void *)v.v, v.n);
	return st;
}

/* ---- events ---- */

static int
cmp_event_id(const void *a, const void *b)
{
	uint64_t x = ((const struct pw_event *)a)->id, y = ((const struct pw_event *)b)->id;

	return x < y ? -1 : x > y;
}

/*
 * With categories NULL or empty, one chain without a category filter
 * (every event).
 */
pwnm_status_t
pw_list_events(pw_client_t *c, uint32_t project_id, const char *const *categories,
	       const char *since, uint64_t after_id, struct pw_event **out, size_t *n)
{
	struct vec v = { .size = sizeof(struct pw_event) };
	struct http_request **reqs = NULL;
	char **urls = NULL, *enc_since = since ? pw_urlencode(since) : NULL;
	size_t nchains = 0, i, k, nreq = 0;
	unsigned pages = 0;
	pwnm_status_t st = PWNM_STATUS_SUCCESS;
	struct pw_event *ev;

	*out = NULL;
	*n = 0;
	while (categories && categories[nchains])
		nchains++;
	urls = xcalloc(nchains ? nchains : 1, sizeof(*urls));
	if (nchains == 0) {
		urls[0] = xasprintf("%sevents/?project=%u&order=date&per_page=%d%s%s", c->root,
				    project_id, PW_PER_PAGE, enc_since ? "&since=" : "",
				    enc_since ? enc_since : "");
		nchains = 1;
	} else {
		for (i = 0; i < nchains; i++) {
			char *cat = pw_urlencode(categories[i]);

			urls[i] = xasprintf("%sevents/?project=%u&category=%s&order=date&per_page=%d%s%s",
					    c->root, project_id, cat, PW_PER_PAGE,
					    enc_since ? "&since=" : "", enc_since ? enc_since : "");
			free(cat);
		}
	}
	reqs = xcalloc(nchains, sizeof(*reqs));
	for (;;) {
		/* one batch: the current page of every chain still going */
		nreq = 0;
		for (i = 0; i < nchains; i++) {
			if (!urls[i])
				continue;
			reqs[nreq] = new_get(urls[i]);
			reqs[nreq]->user = &urls[i];
			nreq++;
		}
		if (nreq == 0)
			break;
		pages++;
		st = run_gets(c, reqs, nreq);
		if (st != PWNM_STATUS_SUCCESS)
			goto out;
		for (i = 0; i < nreq; i++) {
			char **slot = reqs[i]->user;
			size_t an;

			st = decode_events_page(c, reqs[i], &ev, &an);
			if (st != PWNM_STATUS_SUCCESS)
				goto out;
			for (k = 0; k < an; k++) {
				if (ev[k].id > after_id)
					vec_push(&v, &ev[k], 1);
				else
					pw_event_free(&ev[k]);
			}
			free(ev);
			free(*slot);
			*slot = NULL;
			st = next_link(c, reqs[i], pages, slot);
			if (st != PWNM_STATUS_SUCCESS)
				goto out;
		}
		for (i = 0; i < nreq; i++) {
			http_request_free(reqs[i]);
			reqs[i] = NULL;
		}
	}
	if (v.n > 1) {
		struct pw_event *a = (struct pw_event *)(void *)v.v;

		qsort(a, v.n, sizeof(*a), cmp_event_id);
		for (i = 0, k = 0; i < v.n; i++) {
			if (k > 0 && a[k - 1].id == a[i].id) {
				pw_event_free(&a[i]);
				continue;
			}
			if (k != i)
				a[k] = a[i];
			k++;
		}
		v.n = k;
	}
out:
	for (i = 0; i < nreq; i++)
		http_request_free(reqs[i]);
	free(reqs);
	for (i = 0; i < nchains; i++)
		free(urls[i]);
	free(urls);
	free(enc_since);
	if (st != PWNM_STATUS_SUCCESS) {
		pw_event_array_free((struct pw_event *)(void *)v.v, v.n);
		return st;
	}
	*out = (struct pw_event *)(void *)v.v;
	*n = v.n;
	return st;
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

/* "field: message" for the first error a 400 body names, or NULL.  Caller frees. */
static char *
first_field_error(const char *body, size_t len)
{
	cJSON *root = parse_body(body, len);
	const cJSON *f, *m;
	char *s = NULL;

	if (cJSON_IsObject(root)) {
		cJSON_ArrayForEach(f, root) {
			if (!f->string)
				continue;
			if (is_str(f))
				s = xasprintf("%s: %s", f->string, f->valuestring);
			else if (cJSON_IsArray(f)) {
				m = cJSON_GetArrayItem(f, 0);
				if (is_str(m))
					s = xasprintf("%s: %s", f->string, m->valuestring);
			}
			if (s)
				break;
		}
	}
	cJSON_Delete(root);
	return one_line(s);
}

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
		char *fe = first_field_error(r->resp.data, r->resp.len);

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
		char *body = pw_update_body(u[i].state, u[i].archived, u[i].delegate_id);

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

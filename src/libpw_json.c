/* libpw_json.c - Patchwork REST API: the JSON bodies decoded into records, and the PATCH body */
#include "libpw_json.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "libutil.h"

/*
 * Bounds on what one body may make cJSON build (it has no streaming
 * mode): a real page of 250 patches is some 25,000 values.
 */
#define PW_MAX_PAGE_ITEMS 2500
#define PW_MAX_JSON_VALUES 1000000
#define PW_STR_(x) #x
#define PW_STR(x) PW_STR_(x)
/* Largest event id: JSON numbers are doubles, exact up to 2^53. */
#define PW_MAX_EVENT_ID 9007199254740992.0

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
	free(p->commit_ref);
	free(p->hash);
	free(p->series_name);
	free(p->series_date);
	free(p->check);
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
	free(e->patch_date);
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

int
pw_event_order(const char *date_a, uint64_t id_a, const char *date_b, uint64_t id_b)
{
	int64_t ta = iso_to_unix(date_a), tb = iso_to_unix(date_b);
	int c;

	if (ta != tb)
		return ta < tb ? -1 : 1;
	c = strcmp(date_a ? date_a : "", date_b ? date_b : "");
	if (c)
		return c < 0 ? -1 : 1;
	return id_a < id_b ? -1 : id_a > id_b;
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

static void
series_free(struct pw_series *s)
{
	free(s->name);
	free(s->date);
	free(s->cover_msgid);
	free(s->patches);
	memset(s, 0, sizeof(*s));
}

void
pw_series_array_free(struct pw_series *a, size_t n)
{
	size_t i;

	if (!a)
		return;
	for (i = 0; i < n; i++)
		series_free(&a[i]);
	free(a);
}

static void
check_free(struct pw_check *c)
{
	free(c->context);
	free(c->state);
	free(c->target_url);
	free(c->description);
	memset(c, 0, sizeof(*c));
}

void
pw_check_array_free(struct pw_check *a, size_t n)
{
	size_t i;

	if (!a)
		return;
	for (i = 0; i < n; i++)
		check_free(&a[i]);
	free(a);
}

static void
person_free(struct pw_person *p)
{
	free(p->email);
	free(p->username);
	memset(p, 0, sizeof(*p));
}

void
pw_person_array_free(struct pw_person *a, size_t n)
{
	size_t i;

	if (!a)
		return;
	for (i = 0; i < n; i++)
		person_free(&a[i]);
	free(a);
}

/* ==== JSON helpers ==== */

/*
 * Count what cJSON would build from s, without building it: the values
 * (a node of ~64 bytes each, plus their strings) and, when s is an
 * array, its items.  Strings are skipped whole.  Returns the message for
 * a bound crossed, or NULL.
 */
static const char *
json_over_bounds(const char *s, size_t len)
{
	const char *p = s, *end = s + len;
	size_t values = 1, commas = 0;
	int depth = 0, top_array;

	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	top_array = p < end && *p == '[';
	for (; p < end; p++) {
		switch (*p) {
		case '"':
			for (p++; p < end && *p != '"'; p++)
				if (*p == '\\' && p + 1 < end)
					p++;
			break;
		case '[':
		case '{':
			depth++;
			values++;
			break;
		case ']':
		case '}':
			depth--;
			break;
		case ',':
			values++;
			/* items = commas + 1 */
			if (top_array && depth == 1 && ++commas >= PW_MAX_PAGE_ITEMS)
				return "response holds more than " PW_STR(PW_MAX_PAGE_ITEMS) " items "
				       "(a Patchwork page holds 250 at most unless its admin raised the cap)";
			break;
		case ':':
			values++;
			break;
		default:
			break;
		}
		if (values > PW_MAX_JSON_VALUES)
			return "response holds more than " PW_STR(PW_MAX_JSON_VALUES) " JSON values";
	}
	return NULL;
}

/*
 * Parse a whole body: trailing non-blank bytes are an error.  The body
 * is copied so that cJSON always sees a NUL-terminated buffer.  A body
 * that would build a tree past the bounds is not parsed: *bound (may be
 * NULL) then says which.
 */
static cJSON *
parse_body_bounded(const char *body, size_t len, const char **bound)
{
	char *copy;
	const char *end = NULL;
	cJSON *root;

	if (bound)
		*bound = NULL;
	if (!body)
		len = 0;
	if (len) {
		const char *b = json_over_bounds(body, len);

		if (b) {
			if (bound)
				*bound = b;
			return NULL;
		}
	}
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

static cJSON *
parse_body(const char *body, size_t len)
{
	return parse_body_bounded(body, len, NULL);
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

/* A count: an integral number >= 0 (absent or null: 0). */
static int
get_count(const cJSON *o, const char *name, const char *path, uint32_t *out, char **why)
{
	const cJSON *j = field(o, name);
	uint64_t v;

	*out = 0;
	if (!j || cJSON_IsNull(j))
		return 0;
	if (cJSON_IsNumber(j) && j->valuedouble == 0.0)
		return 0;
	if (json_id(j, (double)UINT32_MAX, &v) < 0) {
		*why = xasprintf("field '%s' is not a count", path);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

/* series[] of a patch (absent in no API version, but tolerated): its first entry. */
static int
decode_patch_series(const cJSON *o, struct pw_patch *p, char **why)
{
	const cJSON *a = field(o, "series"), *s;

	p->series_name = NULL;
	p->series_date = NULL;
	if (a && !cJSON_IsNull(a) && !cJSON_IsArray(a)) {
		*why = xstrdup("field 'series' is not an array");
		return -1;
	}
	s = a ? cJSON_GetArrayItem(a, 0) : NULL;
	if (!s) {
		p->series_name = xstrdup("");
		p->series_date = xstrdup("");
		return 0;
	}
	if (get_id32(s, "id", "series[0].id", &p->series_id, why) < 0 ||
	    get_count(s, "version", "series[0].version", &p->series_version, why) < 0 ||
	    get_str_or_null(s, "name", "series[0].name", &p->series_name, why) < 0 ||
	    get_str_or_null(s, "date", "series[0].date", &p->series_date, why) < 0)
		return -1;
	return 0;
}

static int
decode_series(const cJSON *o, struct pw_series *s, char **why)
{
	const cJSON *proj, *cover, *pa, *it, *sub;
	size_t i = 0;

	memset(s, 0, sizeof(*s));
	if (!cJSON_IsObject(o)) {
		*why = xasprintf("expected a JSON object, got %s", json_type_name(o));
		return -1;
	}
	if (get_id32(o, "id", "id", &s->id, why) < 0 ||
	    get_object(o, "project", "project", &proj, why) < 0 ||
	    get_id32(proj, "id", "project.id", &s->project_id, why) < 0 ||
	    get_str_or_null(o, "name", "name", &s->name, why) < 0 ||
	    get_str_or_null(o, "date", "date", &s->date, why) < 0 ||
	    get_count(o, "version", "version", &s->version, why) < 0 ||
	    get_count(o, "total", "total", &s->total, why) < 0 ||
	    get_count(o, "received_total", "received_total", &s->received_total, why) < 0 ||
	    get_bool(o, "received_all", "received_all", &s->received_all, why) < 0)
		goto fail;
	sub = field(o, "submitter");
	if (cJSON_IsObject(sub) && get_id32(sub, "id", "submitter.id", &s->submitter_id, why) < 0)
		goto fail;
	cover = field(o, "cover_letter");
	if (cover && !cJSON_IsNull(cover)) {
		if (get_id32(cover, "id", "cover_letter.id", &s->cover_id, why) < 0 ||
		    get_str(cover, "msgid", "cover_letter.msgid", &s->cover_msgid, why) < 0)
			goto fail;
	} else {
		s->cover_msgid = xstrdup("");
	}
	pa = field(o, "patches");
	if (!cJSON_IsArray(pa)) {
		*why = xstrdup("field 'patches' is missing or not an array");
		goto fail;
	}
	s->patches = xcalloc((size_t)cJSON_GetArraySize(pa) + 1, sizeof(uint32_t));
	cJSON_ArrayForEach(it, pa) {
		if (get_id32(it, "id", "patches[].id", &s->patches[i], why) < 0)
			goto fail;
		i++;
	}
	s->npatches = i;
	return 0;
fail:
	series_free(s);
	return -1;
}

static int
decode_check(const cJSON *o, struct pw_check *c, char **why)
{
	memset(c, 0, sizeof(*c));
	if (!cJSON_IsObject(o)) {
		*why = xasprintf("expected a JSON object, got %s", json_type_name(o));
		return -1;
	}
	if (get_id32(o, "id", "id", &c->id, why) < 0 ||
	    get_str(o, "context", "context", &c->context, why) < 0 ||
	    get_str(o, "state", "state", &c->state, why) < 0 ||
	    get_str_or_null(o, "target_url", "target_url", &c->target_url, why) < 0 ||
	    get_str_or_null(o, "description", "description", &c->description, why) < 0) {
		check_free(c);
		return -1;
	}
	return 0;
}

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
	    get_str_or_null(o, "web_url", "web_url", &p->web_url, why) < 0 ||
	    get_str_or_null(o, "commit_ref", "commit_ref", &p->commit_ref, why) < 0 ||
	    get_str_or_null(o, "hash", "hash", &p->hash, why) < 0 ||
	    decode_patch_series(o, p, why) < 0 ||
	    get_str_or_null(o, "check", "check", &p->check, why) < 0) {
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
		    get_str(patch, "msgid", "payload.patch.msgid", &e->msgid, why) < 0 ||
		    get_str_or_null(patch, "date", "payload.patch.date", &e->patch_date, why) < 0)
			goto fail;
	} else {
		e->msgid = xstrdup("");
		e->patch_date = xstrdup("");
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

static int
decode_series_v(const cJSON *o, void *out, char **why)
{
	return decode_series(o, out, why);
}

static int
decode_check_v(const cJSON *o, void *out, char **why)
{
	return decode_check(o, out, why);
}

static int
decode_person(const cJSON *o, struct pw_person *p, char **why)
{
	memset(p, 0, sizeof(*p));
	if (!cJSON_IsObject(o)) {
		*why = xasprintf("expected a JSON object, got %s", json_type_name(o));
		return -1;
	}
	if (get_id32(o, "id", "id", &p->id, why) < 0 || get_str(o, "email", "email", &p->email, why) < 0 ||
	    get_user_or_null(o, "user", "user", &p->user_id, &p->username, why) < 0) {
		person_free(p);
		return -1;
	}
	return 0;
}

static int
decode_person_v(const cJSON *o, void *out, char **why)
{
	return decode_person(o, out, why);
}

static void
person_free_v(void *p)
{
	person_free(p);
}

static void
series_free_v(void *p)
{
	series_free(p);
}

static void
check_free_v(void *p)
{
	check_free(p);
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
	const char *bound;
	char *items = NULL, *why = NULL;
	size_t count, i = 0;
	pwnm_status_t st = PWNM_STATUS_PROTOCOL;

	*out = NULL;
	*n = 0;
	if (err)
		*err = NULL;
	root = parse_body_bounded(body, len, &bound);
	if (!root) {
		why = xstrdup(bound ? bound : "response is not valid JSON");
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
pw_series_from_json(const char *body, size_t len, struct pw_series **out, size_t *n, char **err)
{
	void *v;
	pwnm_status_t st;

	st = decode_array(body, len, sizeof(struct pw_series), decode_series_v, series_free_v, &v,
			  n, err);
	*out = v;
	return st;
}

pwnm_status_t
pw_checks_from_json(const char *body, size_t len, struct pw_check **out, size_t *n, char **err)
{
	void *v;
	pwnm_status_t st;

	st = decode_array(body, len, sizeof(struct pw_check), decode_check_v, check_free_v, &v, n,
			  err);
	*out = v;
	return st;
}

pwnm_status_t
pw_people_from_json(const char *body, size_t len, struct pw_person **out, size_t *n, char **err)
{
	void *v;
	pwnm_status_t st;

	st = decode_array(body, len, sizeof(struct pw_person), decode_person_v, person_free_v, &v, n,
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
	const char *bound;
	cJSON *root;
	char *why = NULL;
	pwnm_status_t st = PWNM_STATUS_PROTOCOL;

	memset(out, 0, sizeof(*out));
	root = parse_body_bounded(body, len, &bound);
	if (!root)
		why = xstrdup(bound ? bound : "response is not valid JSON");
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

char *
pw_first_field_error(const char *body, size_t len)
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
	return s;
}

int
pw_is_api_root(const char *body, size_t len)
{
	cJSON *root = parse_body(body, len);
	int r = is_str(field(root, "patches"));

	cJSON_Delete(root);
	return r;
}

static void
json_check(const void *p)
{
	if (!p)
		fatal("out of memory");
}

char *
pw_update_body(const char *state, int archived, long delegate_id, const char *commit_ref)
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
	if (commit_ref)
		json_check(cJSON_AddStringToObject(o, "commit_ref", commit_ref));
	printed = cJSON_PrintUnformatted(o);
	json_check(printed);
	s = xstrdup(printed);
	cJSON_free(printed);
	cJSON_Delete(o);
	return s;
}


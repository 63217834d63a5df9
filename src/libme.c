/* libme.c - who the user is on Patchwork: pwnm.user, or found from notmuch's own addresses */
#include "libme.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "libutil.h"

static void
add_values(notmuch_database_t *db, const char *key, struct buf *b)
{
	notmuch_config_values_t *vals = notmuch_config_get_values_string(db, key);

	for (; notmuch_config_values_valid(vals); notmuch_config_values_move_to_next(vals)) {
		const char *a = notmuch_config_values_get(vals);

		if (*a && !strchr(a, ';'))
			buf_printf(b, "%s%s", b->len ? ";" : "", a);
	}
	notmuch_config_values_destroy(vals);
}

char *
me_addresses(notmuch_database_t *db)
{
	struct buf b = { 0 };

	add_values(db, "user.primary_email", &b);
	add_values(db, "user.other_email", &b);
	if (!b.len) {
		buf_free(&b);
		return NULL;
	}
	return buf_release(&b);
}

pwnm_status_t
me_find(pw_client_t *c, const char *addresses, char **name, uint32_t *id, char **from)
{
	char *list = xstrdup(addresses), *save = NULL, *a;
	pwnm_status_t st = PWNM_STATUS_SUCCESS;

	*name = NULL;
	*from = NULL;
	*id = 0;
	for (a = strtok_r(list, ";", &save); a && !*name; a = strtok_r(NULL, ";", &save)) {
		struct pw_person *p;
		size_t n, i;

		st = pw_find_people(c, a, &p, &n);
		if (st)
			break;
		for (i = 0; i < n && !*name; i++) {
			if (p[i].user_id && *p[i].username && strcasecmp(p[i].email, a) == 0) {
				*name = xstrdup(p[i].username);
				*id = p[i].user_id;
				*from = xstrdup(a);
			}
		}
		pw_person_array_free(p, n);
	}
	free(list);
	return st;
}

/* libme.h - who the user is on Patchwork: pwnm.user, or found from notmuch's own addresses */
#ifndef PWNM_LIBME_H
#define PWNM_LIBME_H

#include <stdint.h>

#include <notmuch.h>

#include "libpw.h"
#include "libstatus.h"

/*
 * notmuch's user.primary_email, then every user.other_email, joined by
 * ';' in that order; NULL when there is none.  Caller frees.
 */
char *me_addresses(notmuch_database_t *db);

/*
 * Ask the server who has the addresses (';'-separated), one people
 * search each (GET people/?q=ADDRESS, which Patchwork answers to token
 * holders only), until one of them is an address of a user account:
 * a person whose address is that one, compared without case (the
 * search also finds parts of addresses and names).  SUCCESS with *name
 * NULL when no address is; otherwise *name, *id and *from (the address)
 * say whose it is.  On failure the client's error says why.  Caller
 * frees *name and *from.
 */
pwnm_status_t me_find(pw_client_t *c, const char *addresses, char **name, uint32_t *id,
		      char **from);

#endif

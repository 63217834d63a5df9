/* libsupersede.h - pwnm supersede: the open patches of a series replaced by a later revision, marked superseded */
#ifndef PWNM_LIBSUPERSEDE_H
#define PWNM_LIBSUPERSEDE_H

#include <stdio.h>

#include "libconfig.h"
#include "libstate.h"
#include "libstatus.h"
#include "libsync.h"

/*
 * With the store st open and the run lock held: what names the series
 * (a series id, or the Message-ID of a patch or cover letter of either
 * revision) is resolved to the older series a later revision replaced;
 * their patches that still carry the suggestion (PATCH_F_NEWER, open,
 * not dismissed) get the state tag superseded on their mail, as a tag
 * change would, and the sync run so (its push) sends it.  One line per
 * series to out.  USAGE with *err (caller frees) when what names nothing
 * pwnm knows or no older revision waits.
 */
pwnm_status_t supersede_run(const struct pwnm_config *cfg, pwnm_state_t *st, const char *what,
			    const struct sync_opts *so, FILE *out, char **err);

#endif

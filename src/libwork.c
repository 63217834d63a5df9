/* libwork.c - is there work for a run: outbox, rechecks, notmuch changes, due polls and kept reasons, without HTTP */
#include "libwork.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libutil.h"

const char *
work_reason_name(enum work_reason w)
{
	switch (w) {
	case WORK_NONE: return "none";
	case WORK_UNSYNCED: return "unsynced";
	case WORK_LOCAL: return "local";
	case WORK_OUTBOX: return "outbox";
	case WORK_RECHECK: return "recheck";
	case WORK_NEW_PROJECT: return "new-project";
	case WORK_POLL_DUE: return "poll-due";
	case WORK_KEPT_REASON: return "kept-reason";
	case WORK_SETTINGS_NOTE: return "settings-note";
	}
	return "?";
}

int
has_work_outbox(const struct outbox_rec *o)
{
	return o->fields && o->next_try != OUTBOX_HELD;
}

int64_t
poll_due_at(const struct project_rec *p, int64_t poll_interval)
{
	return p->last_poll + poll_interval;
}

int
has_work_poll(const struct project_rec *p, int64_t now, int64_t poll_interval)
{
	return now >= poll_due_at(p, poll_interval);
}

static int
outbox_cb(const struct outbox_rec *o, void *data)
{
	int *waiting = data;

	if (!has_work_outbox(o))
		return 0;
	*waiting = 1;
	return 1; /* stop the walk */
}

/* Is a poll of some configured project due (or one not known yet)?  *until: the next one due. */
static enum work_reason
poll_work(pwnm_txn_t *txn, const struct pwnm_config *cfg, int64_t now, int64_t *until)
{
	struct project_rec *pl = NULL;
	size_t np = 0, i, j;
	enum work_reason w = WORK_NONE;

	if (state_project_list(txn, &pl, &np))
		return WORK_POLL_DUE;
	for (i = 0; i < cfg->nprojects && w == WORK_NONE; i++) {
		w = WORK_NEW_PROJECT;
		for (j = 0; j < np; j++) {
			if (strcmp(pl[j].link_name, cfg->projects[i]) != 0)
				continue;
			w = has_work_poll(&pl[j], now, cfg->poll_interval) ? WORK_POLL_DUE : WORK_NONE;
			if (poll_due_at(&pl[j], cfg->poll_interval) < *until)
				*until = poll_due_at(&pl[j], cfg->poll_interval);
			break;
		}
	}
	state_project_list_free(pl, np);
	return w;
}

enum work_reason
has_work(pwnm_txn_t *txn, const struct pwnm_config *cfg, const char *which, const char *uuid,
	 unsigned long rev, int64_t now, int64_t *until)
{
	char *stored_uuid = NULL, *recheck = NULL;
	int64_t stored_rev = -1, never = INT64_MAX;
	int waiting = 0, same;
	struct poll_reason kept;

	if (!until)
		until = &never;
	*until = INT64_MAX;
	if (state_meta_get(txn, META_UUID, &stored_uuid) || !stored_uuid)
		return WORK_UNSYNCED;
	same = strcmp(stored_uuid, uuid) == 0;
	free(stored_uuid);
	if (!same)
		return WORK_UNSYNCED;
	if (state_meta_get_i64(txn, META_REVISION, -1, &stored_rev) || stored_rev != (int64_t)rev)
		return WORK_LOCAL;
	if (strcmp(which, "post-insert") == 0)
		return WORK_NONE;
	if (state_outbox_foreach(txn, outbox_cb, &waiting) != PWNM_STATUS_SUCCESS || waiting)
		return WORK_OUTBOX;
	if (strcmp(which, "pre-new") == 0)
		return WORK_NONE;
	if (state_meta_get(txn, META_RECHECK, &recheck) || recheck) {
		free(recheck);
		return WORK_RECHECK;
	}
	if (reason_get(txn, &kept) || reason_due(&kept, now))
		return WORK_KEPT_REASON;
	if (kept.since)
		*until = kept.next_try; /* the kept reason's backoff ends */
	return poll_work(txn, cfg, now, until);
}

/* ---- the reason to ask the server kept by a run ---- */

/* META_POLL_REASON holds "<since> <failures> <next_try>", decimal. */

pwnm_status_t
reason_get(pwnm_txn_t *txn, struct poll_reason *out)
{
	char *v = NULL;
	pwnm_status_t rc;
	long long since, next;
	unsigned long fails;

	memset(out, 0, sizeof(*out));
	if ((rc = state_meta_get(txn, META_POLL_REASON, &v)) || !v)
		return rc;
	if (sscanf(v, "%lld %lu %lld", &since, &fails, &next) == 3 && since > 0) {
		out->since = since;
		out->failures = fails > UINT32_MAX ? UINT32_MAX : (uint32_t)fails;
		out->next_try = next;
	} else {
		/* garbage: a reason all the same, due now */
		out->since = 1;
	}
	free(v);
	return PWNM_STATUS_SUCCESS;
}

int64_t
reason_backoff(uint32_t failures)
{
	if (failures == 0)
		return 0;
	if (failures >= 6)
		return REASON_BACKOFF_MAX;
	return (int64_t)1 << failures < REASON_BACKOFF_MAX ? (int64_t)1 << failures
							    : REASON_BACKOFF_MAX;
}

pwnm_status_t
reason_keep(pwnm_txn_t *txn, const struct poll_reason *old, int failed, int64_t now)
{
	struct poll_reason r = { 0 };
	char *v;
	pwnm_status_t rc;

	r.since = old && old->since ? old->since : now;
	r.failures = old ? old->failures : 0;
	if (failed && r.failures < UINT32_MAX)
		r.failures++;
	r.next_try = failed ? now + reason_backoff(r.failures) : 0;
	v = xasprintf("%" PRId64 " %" PRIu32 " %" PRId64, r.since, r.failures, r.next_try);
	rc = state_meta_put(txn, META_POLL_REASON, v);
	free(v);
	return rc;
}

pwnm_status_t
reason_clear(pwnm_txn_t *txn)
{
	return state_meta_del(txn, META_POLL_REASON);
}

int
reason_due(const struct poll_reason *why, int64_t now)
{
	return why && why->since && now >= why->next_try;
}

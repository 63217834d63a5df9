/* libsync_p.h - the sync engine's private shared parts: the run, its work items, the steps' entry points */
#ifndef PWNM_LIBSYNC_P_H
#define PWNM_LIBSYNC_P_H

#include <stdint.h>
#include <stdio.h>

#include <notmuch.h>

#include "libconfig.h"
#include "libhttp.h"
#include "libmerge.h"
#include "libpw.h"
#include "libstate.h"
#include "libstatus.h"
#include "libsync.h"

#define F_STATE    0x1u
#define F_ARCHIVED 0x2u
#define F_DELEGATE 0x4u

/* Patch flag kept in the store: fetch this patch again on the next poll. */
#define PATCH_F_RECHECK 0x10u

#define HELD_FOREVER INT64_MAX
#define TAG_BATCH 500

/* One patch touched by this run. */
struct work {
	struct patch_rec rec;   /* agreed values: from the store, updated by the merge */
	/* the agreed values as read from the store (NULL strings: empty) */
	char *orig_state;
	char *orig_delegate;
	uint32_t orig_delegate_id;
	uint32_t orig_flags;
	int orig_archived;
	int in_store;
	int dirty;              /* rec must be written back */
	int deleted;            /* forget the patch (the server answered 404) */
	int tags;               /* its mail's tags must be rewritten */
	unsigned remote_applied; /* F_* fields whose agreed value came from the server this run */
	unsigned landed;        /* F_* fields whose earlier push was found landed this run */
	const char *project;    /* link_name (borrowed from the run's project list) */
	char *nmid;             /* notmuch form of rec.msgid, NULL when empty */
	/* pending local change (outbox) */
	int has_out;
	int out_dirty;
	struct outbox_rec out;
	/* remote observation */
	unsigned r_set;         /* F_* */
	char *r_state;
	int r_archived;
	char *r_delegate;
	uint32_t r_delegate_id;
	/* local observation from the mail's tags */
	int scanned;
	unsigned l_set;         /* F_* read from tags */
	char *l_state;
	int l_archived;
	char *l_delegate;
	int l_repair;
	const char *l_note;
	int l_conflict_tag, l_denied_tag;
	int held;               /* its push was held back (pwnm.push_limit): nothing of it is written */
	struct work *hnext;
};

struct user {
	char *name;
	uint32_t id;
};

struct run {
	const struct pwnm_config *cfg;
	const struct sync_opts *o;
	pwnm_state_t *st;
	struct sync_result *res;
	FILE *out;
	struct tag_opts topts;
	struct project_rec *projects; /* every project in the store (+ new ones) */
	size_t nprojects;
	int *poll;                     /* per project: configured (to be polled) */
	int *proj_dirty;
	int *poll_failed;              /* per project: asking the server failed this run */
	int *polled_ok;                /* per project: the server's news were read this run */
	struct work **wtab;
	size_t wcap, wn;
	struct user *users;
	size_t nusers;
	int users_dirty;
	char *seen_states_dirty;
	http_t *http;
	pw_client_t *client;
	char *api_version;
	const char *token;
	char *token_owned;       /* loaded on first need (config_token) */
	int token_tried;
	/* local */
	char *uuid;
	unsigned long rev;
	unsigned long stored_rev;
	int restore_only;        /* the notmuch database changed identity: tags are restored, nothing pushed */
	int new_mail;            /* the scan saw new mail from a tracked list */
	char *lists;             /* meta "lists": ';'-separated List-Ids of the tracked projects, or NULL */
	int lists_dirty;
	int scanned_all;
	unsigned long store_rev; /* revision to record */
	int write_rev;
	int held_limit;          /* pushes held by pwnm.push_limit: the revision is not advanced */
	char *first_error;
	pwnm_status_t worst;
};

/* libsync_work.c: the run's services and its table of work items */
void run_report(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void run_error(struct run *r, pwnm_status_t rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void run_crash_point(const struct run *r, const char *name);
struct work *work_find(struct run *r, uint32_t project, uint32_t patch);
struct work *work_insert(struct run *r, const struct patch_rec *rec, int in_store);
struct work *work_get(struct run *r, pwnm_txn_t *txn, uint32_t project, uint32_t patch);
void work_free(struct work *w);
long run_project_index(const struct run *r, uint32_t id);
const char *run_project_name(struct run *r, uint32_t id);
uint32_t run_user_id(struct run *r, const char *name);
void run_user_learn(struct run *r, const char *name, uint32_t id);
void run_users_load(struct run *r, pwnm_txn_t *txn);
char *run_users_join(struct run *r);
void run_state_seen(struct run *r, uint32_t project_id, const char *slug);
void shown_values(const struct patch_rec *rec, const struct outbox_rec *out, int has_out,
		  struct pw_values *v);
void str_set(char **dst, const char *src);

/* libsync_scan.c: step 2, the local scan */
enum scan_mode { SCAN_NONE, SCAN_RANGE, SCAN_ALL };
pwnm_status_t sync_scan(struct run *r, notmuch_database_t *db, enum scan_mode mode);

/* libsync_remote.c: step 3, the server's news */
pwnm_status_t remote_client_ready(struct run *r);
pwnm_status_t remote_resolve_projects(struct run *r, int may_ask);
int run_has_pending(struct run *r);
void remote_poll_project(struct run *r, size_t idx, int force_poll, int events_only);
void remote_recheck(struct run *r);

/* libsync_merge.c: step 4, the three-way merge */
void sync_merge_work(struct run *r, struct work *w);
void run_describe(struct run *r, const struct work *w, const char *side, const char *field,
		  const char *from, const char *to);
const char *flag_str(int b);

/* libsync_push.c: step 5, the push */
void sync_push(struct run *r);

/* libsync_tags.c: step 6, the tag writes */
pwnm_status_t sync_tags(struct run *r);

/* libsync_commit.c: step 7, the state commit */
pwnm_status_t sync_commit(struct run *r, const char *result);

#endif

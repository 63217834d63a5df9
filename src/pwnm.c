/* pwnm.c - the pwnm command line (also installed as notmuch-pwnm) */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <notmuch.h>

#include "libaccept.h"
#include "libconfig.h"
#include "libfield.h"
#include "libhttp.h"
#include "liburl.h"
#include "libnm.h"
#include "libpw.h"
#include "libstate.h"
#include "libme.h"
#include "libstatus.h"
#include "libsupersede.h"
#include "libsync.h"
#include "libnet.h"
#include "libutil.h"

struct globals {
	const char *config;  /* --config */
	const char *profile; /* --profile */
	int verbose;
};

static struct globals g;

/* pwnm status reads the settings with config_load_all; the first invalid one lands here. */
static int settings_lenient;
static char *settings_problem;

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *args;    /* "" when it takes none */
	const char *summary;
	const char *options; /* one option a line, for 'pwnm CMD --help'; NULL none */
};

static int cmd_sync(int argc, char **argv);
static int cmd_pull(int argc, char **argv);
static int cmd_push(int argc, char **argv);
static int cmd_status(int argc, char **argv);
static int cmd_explain(int argc, char **argv);
static int cmd_states(int argc, char **argv);
static int cmd_projects(int argc, char **argv);
static int cmd_hook(int argc, char **argv);
static int cmd_accept(int argc, char **argv);
static int cmd_supersede(int argc, char **argv);
static int cmd_help(int argc, char **argv);

#define SYNC_OPTS                                                                           \
	"  --full          list every patch of the window again, not only the news\n"         \
	"  --all           with --full: every patch, also those older than pwnm.window\n"     \
	"  --dry-run       print every change it would make; write and send nothing\n"       \
	"  --project P     only project P (one of pwnm.projects)\n"                          \
	"  --jobs N        requests in flight, 1 to 64 (default pwnm.jobs)\n"

static const struct command commands[] = {
	{ "sync", cmd_sync, "[--full [--all]] [--dry-run] [--project P] [--jobs N] [--force] [--no-wait]",
	  "pull Patchwork's states into tags and push tag changes back",
	  SYNC_OPTS "  --force         push more changes than pwnm.push_limit\n"
		    "  --no-wait       exit 75 at once when another run holds the lock\n" },
	{ "pull", cmd_pull, "[--full [--all]] [--dry-run] [--project P] [--jobs N] [--no-wait]",
	  "only pull (local changes are recorded, not sent)",
	  SYNC_OPTS "  --no-wait       exit 75 at once when another run holds the lock\n" },
	{ "push", cmd_push, "[--quick] [--dry-run] [--force] [--no-wait]",
	  "only push local tag changes (--quick: without asking the server for news)",
	  "  --quick         send without asking the server for news first\n"
	  "  --dry-run       print every change it would send; send nothing\n"
	  "  --force         push more changes than pwnm.push_limit\n"
	  "  --no-wait       exit 75 at once when another run holds the lock\n" },
	{ "status", cmd_status, "[--porcelain]", "what is tracked, waiting, denied or in conflict, and why",
	  "  --porcelain     only your Patchwork account and the waiting changes, one line each,\n"
	  "                  for programs (see pwnm(1))\n" },
	{ "explain", cmd_explain, "[--url] [--project P] <message-id|patch-id>",
	  "everything pwnm knows about one mail or patch",
	  "  --url           print only the patch's web address\n"
	  "  --project P     only the patch in project P (a mail sent to two lists is two)\n" },
	{ "states", cmd_states, "<project>", "the state slugs known for a project", NULL },
	{ "projects", cmd_projects, "", "the projects on the server", NULL },
	{ "accept", cmd_accept, "[--dry-run] [--state S] [--project P] [-C DIR] <git rev-range>",
	  "set the patches a range of git commits applied accepted, with their commit",
	  "  --dry-run       report what it would set; write and send nothing\n"
	  "  --state S       the state to set (default pwnm.accept_state, or accepted)\n"
	  "  --project P     only patches of project P (one of pwnm.projects)\n"
	  "  -C DIR          the git tree (default: the current directory)\n" },
	{ "supersede", cmd_supersede, "<message-id|series-id>",
	  "mark superseded the open patches of a series that a later revision replaced", NULL },
	{ "hook", cmd_hook, "pre-new|post-new|post-insert", "run as a notmuch hook (see pwnm-hooks(7))",
	  NULL },
	{ "help", cmd_help, "[command]", "this text, or the options of one command", NULL },
};

#define NCOMMANDS (sizeof(commands) / sizeof(*commands))

static const struct command *
find_command(const char *name)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* The command a mistyped name most likely meant, or NULL. */
static const struct command *
similar_command(const char *name)
{
	const struct command *best = NULL;
	size_t i, bestd = 3;

	for (i = 0; i < NCOMMANDS; i++) {
		size_t d = edit_distance(name, commands[i].name);

		if (strncmp(commands[i].name, name, strlen(name)) == 0 && strlen(name) >= 2)
			d = 1;
		if (d < bestd && d < strlen(commands[i].name)) {
			bestd = d;
			best = &commands[i];
		}
	}
	return best;
}

static void
print_usage(FILE *f, const struct command *c)
{
	fprintf(f, "usage: pwnm %s%s%s\n", c->name, *c->args ? " " : "", c->args);
}

static int
usage_error(const char *cmd)
{
	const struct command *c = cmd ? find_command(cmd) : NULL;

	if (c)
		print_usage(stderr, c);
	else
		fprintf(stderr, "usage: pwnm [--config FILE] [--profile NAME] COMMAND [ARGS]; see 'pwnm help'\n");
	return 2;
}

static int
cmd_help(int argc, char **argv)
{
	size_t i;

	if (argc > 1) {
		const struct command *c = find_command(argv[1]);

		if (!c) {
			const struct command *s = similar_command(argv[1]);

			if (s)
				warn("no command '%s'; did you mean '%s'? See 'pwnm help'", argv[1],
				     s->name);
			else
				warn("no command '%s'; see 'pwnm help'", argv[1]);
			return 2;
		}
		print_usage(stdout, c);
		printf("\n%c%s.\n", c->summary[0] - ('a' <= c->summary[0] && c->summary[0] <= 'z'
							 ? 'a' - 'A' : 0),
		       c->summary + 1);
		if (c->options)
			printf("\n%s", c->options);
		printf("\nSee pwnm(1)%s.\n", strcmp(c->name, "hook") == 0 ? " and pwnm-hooks(7)" : "");
		return 0;
	}
	printf("usage: pwnm [--config FILE] [--profile NAME] [-v] COMMAND [ARGS]\n\n");
	for (i = 0; i < NCOMMANDS; i++)
		printf("  %-9s %s\n", commands[i].name, commands[i].summary);
	printf("\n'pwnm COMMAND --help' shows the options of one.  See pwnm(1); settings live in\n"
	       "the notmuch config under pwnm.* (pwnm-config(5)).\n");
	return 0;
}

/* ---- shared setup ---- */

struct env {
	notmuch_database_t *db; /* read-only, from reading the config; handed to a sync run */
	struct pwnm_config cfg;
	pwnm_state_t *st;
	int lock_fd;
};

static size_t
state_mapsize(void)
{
	const char *s = getenv("PWNM_STATE_MAPSIZE");
	uint64_t v;

	if (s && parse_u64(s, &v) == 0 && v >= 65536)
		return (size_t)v;
	return 0;
}

/*
 * Read the configuration (through libnotmuch).  Returns an exit code (0
 * on success).  quiet: print nothing; *errout (if not NULL) gets the
 * message instead (caller frees), *rcout (if not NULL) the status.
 */
static int
env_config_err(struct env *e, int need_url, int quiet, char **errout, pwnm_status_t *rcout)
{
	notmuch_database_t *db = NULL;
	char *err = NULL;
	pwnm_status_t rc;

	memset(e, 0, sizeof(*e));
	e->lock_fd = -1;
	if (errout)
		*errout = NULL;
	rc = nm_open(g.config, g.profile, 0, 0, &db, &err);
	if (rc && err && strstr(err, "cannot load config file")) {
		const char *path = g.config ? g.config : getenv("NOTMUCH_CONFIG");

		free(err);
		if (path && *path)
			err = xasprintf("no notmuch configuration at '%s': create it with "
					"'NOTMUCH_CONFIG=%s notmuch setup', or point NOTMUCH_CONFIG "
					"or --config at yours",
					path, path);
		else
			err = xstrdup("no notmuch configuration (~/.notmuch-config): create one with "
				      "'notmuch setup' (it asks for your mail directory), then run "
				      "'notmuch new'");
	}
	if (!rc) {
		rc = settings_lenient ? config_load_all(db, &e->cfg, &settings_problem, &err)
				      : config_load(db, need_url, &e->cfg, &err);
		if (rc)
			notmuch_database_destroy(db);
		else
			e->db = db;
	}
	if (rcout)
		*rcout = rc;
	if (rc) {
		if (!quiet)
			warn("%s", err);
		if (errout)
			*errout = err;
		else
			free(err);
		return pwnm_status_to_exit(rc);
	}
	return 0;
}

static int
env_config(struct env *e, int need_url, int quiet)
{
	return env_config_err(e, need_url, quiet, NULL, NULL);
}

/* Optionally take the run lock, then open the store.  Returns an exit code. */
static int
env_state(struct env *e, int lock, int wait, int quiet_lock)
{
	char *err = NULL;
	pwnm_status_t rc;

	if (lock) {
		rc = sync_lock(e->cfg.state_dir, wait, &e->lock_fd, &err);
		if (rc) {
			if (!quiet_lock)
				warn("%s", err);
			free(err);
			return pwnm_status_to_exit(rc);
		}
	}
	rc = state_open(e->cfg.state_dir, state_mapsize(), &e->st, &err);
	if (rc) {
		warn("%s; if it cannot be repaired, move it away and run 'pwnm sync --full' "
		     "(check first with 'pwnm sync --full --dry-run')",
		     err ? err : "cannot open the state database");
		free(err);
		return pwnm_status_to_exit(rc);
	}
	return 0;
}

/*
 * Read the configuration, optionally take the run lock, open the store.
 * Returns an exit code (0 on success); on failure nothing is left open.
 */
static int
env_open(struct env *e, int need_url, int lock, int wait, int quiet_lock)
{
	int code = env_config(e, need_url, 0);

	if (code)
		return code;
	code = env_state(e, lock, wait, quiet_lock);
	if (code) {
		if (e->lock_fd >= 0)
			close(e->lock_fd);
		e->lock_fd = -1;
		if (e->db)
			notmuch_database_destroy(e->db);
		e->db = NULL;
		config_free(&e->cfg);
	}
	return code;
}

static void
env_close(struct env *e)
{
	if (e->db)
		notmuch_database_destroy(e->db);
	e->db = NULL;
	if (e->st)
		state_close(e->st);
	if (e->lock_fd >= 0)
		close(e->lock_fd);
	config_free(&e->cfg);
}

static void
print_summary(const struct sync_result *res, int dry_run)
{
	if (dry_run) {
		/* The same counts as the lines above it: what a real run would do. */
		fprintf(stderr, "pwnm: dry run: %u new patch%s, %u to pull, %u to push, %u mail%s to tag, "
				"%u without mail (%lu request%s); nothing written, nothing sent\n",
			res->new_patches, res->new_patches == 1 ? "" : "es", res->pulled, res->pushed,
			res->messages_written, res->messages_written == 1 ? "" : "s", res->missing,
			res->requests, res->requests == 1 ? "" : "s");
		return;
	}
	fprintf(stderr, "pwnm: %u new patch%s, %u pulled, %u pushed, %u queued, %u denied, %u "
			"conflict%s, %u mail%s tagged, %u without mail (%lu request%s)\n",
		res->new_patches, res->new_patches == 1 ? "" : "es",
		res->pulled, res->pushed, res->queued, res->denied, res->conflicts,
		res->conflicts == 1 ? "" : "s", res->messages_written,
		res->messages_written == 1 ? "" : "s", res->missing, res->requests,
		res->requests == 1 ? "" : "s");
}

enum { OPT_FULL = 256, OPT_ALL, OPT_DRY, OPT_PROJECT, OPT_JOBS, OPT_FORCE, OPT_NOWAIT, OPT_QUICK };

static void clear_hook_error(pwnm_state_t *st);

static void me_refresh(struct env *e, const char *addresses, int again);

static int
run_sync_cmd(int argc, char **argv, int pull, int push)
{
	static const struct option longopts[] = {
		{ "full", no_argument, NULL, OPT_FULL },
		{ "all", no_argument, NULL, OPT_ALL },
		{ "dry-run", no_argument, NULL, OPT_DRY },
		{ "project", required_argument, NULL, OPT_PROJECT },
		{ "jobs", required_argument, NULL, OPT_JOBS },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "no-wait", no_argument, NULL, OPT_NOWAIT },
		{ "quick", no_argument, NULL, OPT_QUICK },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	struct sync_opts o = { 0 };
	struct sync_result res;
	struct env e;
	char *err = NULL, *addresses;
	int c, code, nowait = 0, quick = 0;
	pwnm_status_t rc;

	o.pull = pull;
	o.push = push;
	o.verbose = g.verbose;
	optind = 1;
	while ((c = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_FULL: o.full = 1; break;
		case OPT_ALL: o.all_history = 1; break;
		case OPT_DRY: o.dry_run = 1; break;
		case OPT_PROJECT: o.project = optarg; break;
		case OPT_JOBS: {
			uint64_t j;

			if (parse_u64(optarg, &j) < 0 || j < 1 || j > 64) {
				warn("--jobs takes a number from 1 to 64");
				return 2;
			}
			o.jobs = (int)j;
			break;
		}
		case OPT_FORCE: o.force = 1; break;
		case OPT_NOWAIT: nowait = 1; break;
		case OPT_QUICK: quick = 1; break;
		case 'v': o.verbose = 1; break;
		default: return usage_error(argv[0]);
		}
	}
	if (optind != argc)
		return usage_error(argv[0]);
	if (quick && !(push && !pull)) {
		warn("--quick goes with 'pwnm push'");
		return 2;
	}
	if (o.all_history && !o.full) {
		warn("--all goes with --full");
		return 2;
	}
	if (push && !pull && !quick)
		o.pull = 1, o.push = 1; /* a push asks the server first, so conflicts are seen */
	o.progress = isatty(2) && !o.dry_run;
	o.crash_at = getenv("PWNM_DEBUG_CRASH_AT");
	o.nm_config = g.config;
	o.nm_profile = g.profile;
	if ((code = env_open(&e, 1, 1, !nowait, 0)))
		return code;
	/* The token is read by the run itself, only when there is something to push. */
	if (!push)
		o.push = 0;
	addresses = pull && push && !o.project ? me_addresses(e.db) : NULL;
	o.db = e.db;
	e.db = NULL;
	rc = sync_run(&e.cfg, NULL, e.st, &o, &res, &err);
	if (!rc && !o.dry_run)
		clear_hook_error(e.st);
	if (!rc && !o.dry_run && addresses)
		me_refresh(&e, addresses, o.full);
	free(addresses);
	/* Errors were printed as they happened. */
	if (o.verbose || o.dry_run || isatty(2))
		print_summary(&res, o.dry_run);
	free(err);
	env_close(&e);
	return pwnm_status_to_exit(rc);
}

static int
cmd_sync(int argc, char **argv)
{
	return run_sync_cmd(argc, argv, 1, 1);
}

static int
cmd_pull(int argc, char **argv)
{
	return run_sync_cmd(argc, argv, 1, 0);
}

static int
cmd_push(int argc, char **argv)
{
	return run_sync_cmd(argc, argv, 0, 1);
}

/* ---- status ---- */

struct stat_counts {
	uint32_t project;
	const char *link_name;
	size_t total, nomail, conflicts, denied;
	char **states;
	size_t *counts;
	size_t nstates;
	struct buf *refused;   /* lines for the names too long for a tag (refused_cb) */
	size_t nrefused;
	struct tagset delegates_refused; /* delegates already counted there */
};

static int
count_cb(const struct patch_rec *p, void *data)
{
	struct stat_counts *s = data;
	size_t i;

	s->total++;
	if (p->flags & PATCH_F_NOMAIL)
		s->nomail++;
	if (p->flags & PATCH_F_CONFLICT)
		s->conflicts++;
	if (p->flags & PATCH_F_DENIED)
		s->denied++;
	for (i = 0; i < s->nstates; i++) {
		if (strcmp(s->states[i], p->state) == 0) {
			s->counts[i]++;
			return 0;
		}
	}
	s->states = xreallocarray(s->states, s->nstates + 1, sizeof(char *));
	s->counts = xreallocarray(s->counts, s->nstates + 1, sizeof(size_t));
	s->states[s->nstates] = xstrdup(p->state);
	s->counts[s->nstates] = 1;
	s->nstates++;
	return 0;
}

/* One line of `pwnm status` for a name of the server's too long for a notmuch tag. */
static void
refused_line(struct stat_counts *s, const char *what, const char *name, size_t count,
	     const char *shows)
{
	char *shown = merge_name_shown(name);

	buf_printf(s->refused, "  %s: %s '%s' (%zu patch%s): longer than notmuch's %d-byte tags; its "
		   "mail shows %s; rename it on Patchwork\n", s->link_name, what, shown, count,
		   count == 1 ? "" : "es", MERGE_TAG_MAX, shows);
	s->nrefused++;
	free(shown);
}

/* The delegates of a project too long for a tag, with the number of patches delegated to each. */
static int
refused_delegate_cb(const struct patch_rec *p, void *data)
{
	struct stat_counts *s = data;

	if (*p->delegate && !tagset_has(&s->delegates_refused, p->delegate) &&
	    merge_name_refused(s->link_name, MERGE_NAME_USER, p->delegate))
		tagset_add(&s->delegates_refused, p->delegate);
	return 0;
}

struct deleg_count {
	const char *name;
	size_t n;
};

static int
deleg_count_cb(const struct patch_rec *p, void *data)
{
	struct deleg_count *d = data;

	if (strcmp(p->delegate, d->name) == 0)
		d->n++;
	return 0;
}

/* Every name of project s->project (states, delegates) that no tag can show, as lines in s->refused. */
static void
refused_names(pwnm_txn_t *txn, struct stat_counts *s)
{
	size_t j;

	if (merge_name_refused(NULL, MERGE_NAME_PROJECT, s->link_name)) {
		char *shown = merge_name_shown(s->link_name);

		buf_printf(s->refused, "  project '%s' (%zu patch%s): longer than notmuch's %d-byte "
			   "tags; its mail shows none of its tags\n", shown, s->total,
			   s->total == 1 ? "" : "es", MERGE_TAG_MAX);
		s->nrefused++;
		free(shown);
		return;
	}
	for (j = 0; j < s->nstates; j++)
		if (merge_name_refused(s->link_name, MERGE_NAME_STATE, s->states[j]))
			refused_line(s, "state", s->states[j], s->counts[j], "no state tag");
	state_patch_foreach(txn, s->project, refused_delegate_cb, s);
	for (j = 0; j < s->delegates_refused.n; j++) {
		struct deleg_count d = { s->delegates_refused.v[j], 0 };

		state_patch_foreach(txn, s->project, deleg_count_cb, &d);
		refused_line(s, "delegate", d.name, d.n, "no delegate tag");
	}
	tagset_free(&s->delegates_refused);
}

static char *
when(int64_t t)
{
	int64_t ago;

	if (t <= 0)
		return xstrdup("never");
	ago = now_unix() - t;
	{
		char *iso = unix_to_iso(t), *s;

		if (ago < 120)
			s = xasprintf("%s UTC (%lld s ago)", iso, (long long)ago);
		else if (ago < 7200)
			s = xasprintf("%s UTC (%lld min ago)", iso, (long long)(ago / 60));
		else if (ago < 3 * 86400)
			s = xasprintf("%s UTC (%lld h ago)", iso, (long long)(ago / 3600));
		else
			s = xasprintf("%s UTC (%lld days ago)", iso, (long long)(ago / 86400));
		free(iso);
		return s;
	}
}

/* A time to come as "in 5 min", "in 2 h"; "now" when it is past. */
static char *
in_time(int64_t t)
{
	int64_t d = t - now_unix();

	if (d <= 0)
		return xstrdup("at the next run");
	if (d < 120)
		return xasprintf("in %lld s", (long long)d);
	if (d < 7200)
		return xasprintf("in %lld min", (long long)(d / 60));
	return xasprintf("in %lld h", (long long)(d / 3600));
}

struct outbox_walk {
	size_t n[4];     /* waiting, held, failed before, sent and unconfirmed */
	struct buf list; /* one line a change, with its reason */
	pwnm_txn_t *txn;
	const struct project_rec *pl;
	size_t np;
	int has_token;
};

static int
outbox_cb(const struct outbox_rec *o, void *data)
{
	struct outbox_walk *w = data;
	struct patch_rec p;
	const char *pname = "?";
	char *what, *why;
	enum outbox_status st;
	size_t i;

	for (i = 0; i < w->np; i++)
		if (w->pl[i].id == o->project_id)
			pname = w->pl[i].link_name;
	st = state_outbox_status(o);
	if (st == OUTBOX_DONE) {
		w->n[3]++; /* sent, landing not yet confirmed */
		what = xstrdup("sent");
		why = xstrdup("the server has not confirmed it yet; the next sync checks");
	} else {
		what = xasprintf("%s%s%s%s%s%s", o->fields & OUT_STATE ? "state " : "",
				 o->fields & OUT_STATE ? o->state : "",
				 o->fields & OUT_ARCHIVED ? (o->archived ? " archive" : " unarchive") : "",
				 o->fields & OUT_DELEGATE ? " delegate " : "",
				 o->fields & OUT_DELEGATE ? (*o->delegate ? o->delegate : "none") : "",
				 "");
		if (st == OUTBOX_HELD_CONFLICT) {
			w->n[1]++;
			why = xasprintf("held (%s): set the tags you want and remove pw/conflict",
					strncmp(o->last_error, "held: ", 6) == 0 ? o->last_error + 6
										 : o->last_error);
		} else if (st == OUTBOX_RETRY) {
			char *next = in_time(o->next_try);

			w->n[2]++;
			why = xasprintf("failed %u time%s (%s); next try %s", o->attempts,
					o->attempts == 1 ? "" : "s", o->last_error, next);
			free(next);
		} else if (!w->has_token) {
			why = xstrdup("waits for an API token (see 'token:' above)");
		} else {
			why = xstrdup("not sent yet; the next run sends it");
		}
		w->n[0]++;
	}
	if (state_patch_get(w->txn, o->project_id, o->patch_id, &p) == PWNM_STATUS_SUCCESS) {
		buf_printf(&w->list, "  patch %u in %s %s: %s: %s\n", o->patch_id, text_arg(pname),
			   text_arg(p.msgid), text_arg(what), text_arg(why));
		patch_rec_free(&p);
	} else {
		buf_printf(&w->list, "  patch %u in %s: %s: %s\n", o->patch_id, text_arg(pname),
			   text_arg(what), text_arg(why));
	}
	free(what);
	free(why);
	return 0;
}

/* Where the API token would come from; never the token itself. */
static void
print_token_source(const struct pwnm_config *cfg)
{
	const char *env = getenv("PWNM_TOKEN");
	struct stat sb;

	if (env && *env)
		printf("token:            from the environment ($PWNM_TOKEN)\n");
	else if (cfg->token_command && *cfg->token_command)
		printf("token:            from pwnm.token_command (not run by status)\n");
	else if (cfg->token_file && *cfg->token_file && stat(cfg->token_file, &sb) == 0)
		printf("token:            from the file %s%s\n", cfg->token_file,
		       (sb.st_mode & 077) ? " (refused: readable by others; chmod 600 it)" : "");
	else
		printf("token:            none: pulls work, changes wait (set $PWNM_TOKEN, "
		       "pwnm.token_command or the file %s)\n",
		       cfg->token_file ? cfg->token_file : "~/.config/pwnm/token");
}

/* Who the user is on Patchwork: pwnm.user, else what pwnm sync found.  NULL unknown; caller frees. */
static char *
status_me(const struct pwnm_config *cfg, pwnm_txn_t *txn, char **from, char **asked)
{
	char *name = NULL;

	*from = NULL;
	*asked = NULL;
	if (cfg->user && *cfg->user) {
		*from = xstrdup("pwnm.user");
		return xstrdup(cfg->user);
	}
	state_meta_get(txn, META_ME_ASKED, asked);
	state_meta_get(txn, META_ME, &name);
	if (name && *name) {
		state_meta_get(txn, META_ME_FROM, from);
		return name;
	}
	free(name);
	return NULL;
}

static void
print_me(const struct pwnm_config *cfg, pwnm_txn_t *txn)
{
	char *from, *asked, *name = status_me(cfg, txn, &from, &asked);

	if (name && strcmp(from, "pwnm.user") == 0)
		printf("patchwork user:   %s (pwnm.user)\n", text_arg(name));
	else if (name)
		printf("patchwork user:   %s (found from your address %s)\n", text_arg(name),
		       text_arg(from ? from : "?"));
	else if (asked)
		printf("patchwork user:   none found for %s; set pwnm.user to your Patchwork user name\n",
		       text_arg(asked));
	else
		printf("patchwork user:   not known yet: set pwnm.user, or 'pwnm sync' with an API token "
		       "finds it from user.primary_email and user.other_email\n");
	free(name);
	free(from);
	free(asked);
}

/* pwnm status --porcelain: one line a fact, for programs (the Emacs helper); see pwnm(1). */
static int
porcelain_outbox_cb(const struct outbox_rec *o, void *data)
{
	struct outbox_walk *w = data;
	struct patch_rec p;
	const char *pname = NULL, *why;
	enum outbox_status st = state_outbox_status(o);
	size_t i;
	char *nm;

	if (st == OUTBOX_DONE)
		return 0; /* sent: it waits for the server, not for a push */
	for (i = 0; i < w->np; i++)
		if (w->pl[i].id == o->project_id)
			pname = w->pl[i].link_name;
	if (!pname || state_patch_get(w->txn, o->project_id, o->patch_id, &p) != PWNM_STATUS_SUCCESS)
		return 0;
	why = st == OUTBOX_HELD_CONFLICT ? "held"
	      : st == OUTBOX_RETRY       ? "retry"
	      : !w->has_token            ? "token"
					 : "waiting";
	nm = msgid_to_notmuch(p.msgid);
	/* Blanks would break the line; notmuch ids hold none, odd bytes aside. */
	if (nm && *nm && !strpbrk(nm, " \t\r\n") && !strpbrk(pname, " \t\r\n"))
		printf("queued %s %s %s\n", pname, nm, why);
	free(nm);
	patch_rec_free(&p);
	return 0;
}

static int
status_porcelain(struct env *e, pwnm_txn_t *txn)
{
	struct outbox_walk ow;
	struct project_rec *pl = NULL;
	size_t np = 0;
	char *from, *asked, *name = status_me(&e->cfg, txn, &from, &asked);

	if (name && !strpbrk(name, " \t\r\n"))
		printf("user %s\n", name);
	free(name);
	free(from);
	free(asked);
	memset(&ow, 0, sizeof(ow));
	state_project_list(txn, &pl, &np);
	ow.txn = txn;
	ow.pl = pl;
	ow.np = np;
	ow.has_token = config_has_token(&e->cfg);
	state_outbox_foreach(txn, porcelain_outbox_cb, &ow);
	state_project_list_free(pl, np);
	return 0;
}

static int
cmd_status(int argc, char **argv)
{
	struct env e;
	pwnm_txn_t *txn;
	struct project_rec *pl = NULL;
	struct outbox_walk ow;
	struct buf refused = { 0 };
	size_t np = 0, i, j, *ob = ow.n, nrefused = 0;
	char *v = NULL;
	int64_t t = 0, rev = 0;
	int code, problem = 0, porcelain = 0;

	if (argc == 2 && strcmp(argv[1], "--porcelain") == 0)
		porcelain = 1;
	else if (argc > 1)
		return usage_error(argv[0]);
	memset(&ow, 0, sizeof(ow));
	settings_lenient = 1; /* one wrong setting is said, and the rest is still shown */
	if ((code = env_open(&e, 0, 0, 0, 0)))
		return code;
	if (state_txn_begin(e.st, 0, &txn)) {
		warn("cannot read the state database: %s", state_last_error(e.st));
		env_close(&e);
		return 1;
	}
	if (porcelain) {
		free(settings_problem);
		settings_problem = NULL;
		status_porcelain(&e, txn);
		state_txn_abort(txn);
		env_close(&e);
		return 0;
	}
	if (settings_problem) {
		printf("settings:         %s; until then its default is used\n",
		       text_arg(settings_problem));
		free(settings_problem);
		settings_problem = NULL;
		problem = 1;
	}
	printf("notmuch database: %s\n", e.cfg.db_path);
	printf("state:            %s\n", e.cfg.state_dir);
	printf("server:           %s", e.cfg.url ? e.cfg.url : "(pwnm.url not set)");
	state_meta_get(txn, META_API_VERSION, &v);
	if (v)
		printf(" (API %s)", text_arg(v));
	printf("\n");
	free(v);
	v = NULL;
	state_meta_get_i64(txn, META_REVISION, 0, &rev);
	state_meta_get_i64(txn, META_LAST_SYNC_TIME, 0, &t);
	state_meta_get(txn, META_LAST_SYNC_RESULT, &v);
	{
		char *w = when(t);

		printf("last sync:        %s%s%s\n", w, v ? ": " : "", text_arg(v));
		free(w);
	}
	free(v);
	v = NULL;
	print_token_source(&e.cfg);
	print_me(&e.cfg, txn);
	{
		/* The lasting situations the last runs noted (said once by them). */
		static const char *const notes[] = { META_NOTE_TOKEN, META_NOTE_PUSH_LIMIT,
						     META_NOTE_UNSYNCED };

		for (i = 0; i < sizeof(notes) / sizeof(*notes); i++) {
			char *n = NULL;

			state_meta_get(txn, notes[i], &n);
			if (n && *n)
				printf("note:             %s\n",
				       text_arg(strncmp(n, "pwnm: ", 6) == 0 ? n + 6 : n));
			free(n);
		}
	}
	state_meta_get(txn, META_LAST_HOOK_ERROR, &v);
	if (v && *v) {
		int64_t at = 0;

		state_meta_get_i64(txn, META_LAST_HOOK_ERROR_TIME, 0, &at);
		printf("last hook error:  %s", text_arg(v));
		if (at > 0) {
			char *w = when(at);

			printf(" (%s)", w);
			free(w);
		}
		printf("\n");
	}
	free(v);
	printf("notmuch revision: %lld handled\n", (long long)rev);
	state_project_list(txn, &pl, &np);
	for (i = 0; i < np; i++) {
		struct stat_counts sc = { 0 };
		char *w1, *w2;

		sc.project = pl[i].id;
		sc.link_name = pl[i].link_name;
		sc.refused = &refused;
		state_patch_foreach(txn, pl[i].id, count_cb, &sc);
		refused_names(txn, &sc);
		nrefused += sc.nrefused;
		printf("\nproject %s (id %u): %zu patch%s tracked", text_arg(pl[i].link_name), pl[i].id,
		       sc.total, sc.total == 1 ? "" : "es");
		if (sc.nomail)
			printf(", %zu without mail", sc.nomail);
		printf("\n ");
		for (j = 0; j < sc.nstates; j++) {
			/* the server's names: escaped like every other server text */
			printf(" %s %zu", *sc.states[j] ? text_arg(sc.states[j]) : "(unknown)",
			       sc.counts[j]);
			free(sc.states[j]);
		}
		printf("\n");
		if (sc.conflicts || sc.denied)
			printf("  %zu in conflict, %zu denied\n", sc.conflicts, sc.denied);
		w1 = when(pl[i].last_poll);
		w2 = when(pl[i].last_reconcile);
		printf("  events up to #%llu (%s), newest patch #%u\n  last poll %s\n  last full list %s\n",
		       (unsigned long long)pl[i].event_last_id,
		       *pl[i].event_cursor ? text_arg(pl[i].event_cursor) : "none", pl[i].max_patch_id, w1,
		       w2);
		free(w1);
		free(w2);
		free(sc.states);
		free(sc.counts);
	}
	ow.txn = txn;
	ow.pl = pl;
	ow.np = np;
	ow.has_token = config_has_token(&e.cfg);
	state_outbox_foreach(txn, outbox_cb, &ow);
	printf("\noutbox: %zu change%s waiting", ob[0], ob[0] == 1 ? "" : "s");
	if (ob[1])
		printf(", %zu held (conflict or push limit)", ob[1]);
	if (ob[2])
		printf(", %zu failed before and will be retried", ob[2]);
	if (ob[3])
		printf("; %zu sent, waiting for the server to confirm", ob[3]);
	printf("\n");
	if (ow.list.len)
		fwrite(ow.list.data, 1, ow.list.len, stdout);
	buf_free(&ow.list);
	{
		char **stray = NULL;
		size_t ns = e.db ? sync_stray_tags(e.db, &e.cfg, &stray) : 0;

		if (ns)
			printf("\npw/ tags naming no tracked project: %zu\n", ns);
		for (j = 0; j < ns; j++) {
			printf("  %s\n", text_arg(stray[j]));
			free(stray[j]);
		}
		free(stray);
		ns = e.db ? sync_typo_tags(e.db, pl, np, &stray) : 0;
		if (ns)
			printf("\nstate tags naming no state of their project: %zu (fix the tag; nothing "
			       "was sent)\n", ns);
		for (j = 0; j < ns; j++) {
			printf("  %s\n", text_arg(stray[j]));
			free(stray[j]);
		}
		free(stray);
	}
	if (nrefused)
		printf("\nnames too long for a notmuch tag: %zu\n%s", nrefused, refused.data);
	buf_free(&refused);
	state_project_list_free(pl, np);
	state_txn_abort(txn);
	env_close(&e);
	return problem ? 1 : 0;
}

/* ---- explain ---- */

static void
print_flags(uint32_t f)
{
	printf("  flags:     %s%s%s%s%s\n", f & PATCH_F_TAGGED ? "tagged " : "",
	       f & PATCH_F_NOMAIL ? "mail-missing " : "", f & PATCH_F_CONFLICT ? "conflict " : "",
	       f & PATCH_F_DENIED ? "denied " : "", f ? "" : "none");
}

/* "label state new, unarchived, delegate none": one value per field, in the table's order. */
static void
print_values(const char *label, const struct field_value *v)
{
	size_t i;

	printf("  %s", label);
	for (i = 0; i < FIELD_COUNT; i++) {
		const struct field *f = &field_table[i];

		if (f->type == FIELD_FLAG)
			printf("%s %s", i ? "," : "", text_arg(field_explain(f, v[i])));
		else
			printf("%s %s %s", i ? "," : "", f->name, text_arg(field_explain(f, v[i])));
	}
	printf("\n");
}

/*
 * A client for reads only (no token) on pwnm.url; 0 for the timeouts and
 * retries means libhttp's defaults.  NULL, with a one-line message, on
 * failure; otherwise free both with pw_client_free and http_free.
 */
static pw_client_t *
read_client(const struct pwnm_config *cfg, long connect_ms, long timeout_ms, int retries,
	    http_t **http)
{
	struct http_options ho = { 0 };
	const char *url = cfg->url;
	pwnm_status_t rc;

	net_http_options(cfg, &ho);
	ho.connect_timeout_ms = connect_ms;
	ho.timeout_ms = timeout_ms;
	ho.max_retries = retries;
	rc = http_new(&ho, http);
	if (rc) {
		warn("cannot set up HTTP for '%s': %s", url, pwnm_status_to_string(rc));
		return NULL;
	}
	return pw_client_new(*http, url);
}

/*
 * pwnm sync, when pwnm.user is not set: find the user's Patchwork account
 * from notmuch's addresses, once for each list of addresses and pwnm.url
 * (again with --full when none was found), and keep it in the store for pwnm status
 * and the Emacs helper.  Patchwork lists people to token holders only:
 * without a token nothing is asked.  A failure is one line; the sync
 * still succeeded, and the next one asks again.
 */
static void
me_refresh(struct env *e, const char *addresses, int again)
{
	pwnm_txn_t *txn;
	char *asked = NULL, *asked_url = NULL, *found = NULL, *ver = NULL, *token = NULL, *err = NULL;
	char *name = NULL, *from = NULL;
	pw_client_t *c = NULL;
	http_t *http = NULL;
	uint32_t id = 0;

	if (e->cfg.user && *e->cfg.user)
		return;
	if (state_txn_begin(e->st, 0, &txn) != PWNM_STATUS_SUCCESS)
		return;
	state_meta_get(txn, META_ME_ASKED, &asked);
	state_meta_get(txn, META_ME_URL, &asked_url);
	state_meta_get(txn, META_ME, &found);
	state_meta_get(txn, META_API_VERSION, &ver);
	state_txn_abort(txn);
	if (asked && strcmp(asked, addresses) == 0 && asked_url && strcmp(asked_url, e->cfg.url) == 0 &&
	    !(again && found && !*found))
		goto out;
	/* No token, or one that may not go to this server: the sync has said so when it mattered. */
	if (config_token(&e->cfg, &token, &err) || !token ||
	    (err = url_token_refusal(e->cfg.url, e->cfg.allow_insecure)))
		goto out;
	if (!(c = read_client(&e->cfg, 0, 0, 0, &http)))
		goto out;
	if (ver)
		pw_set_version(c, ver);
	http_set_token(http, token);
	if (me_find(c, addresses, &name, &id, &from) != PWNM_STATUS_SUCCESS) {
		warn("cannot find your Patchwork account from your addresses: %s (set pwnm.user to "
		     "name it)",
		     pw_client_error(c));
		goto out;
	}
	if (state_txn_begin(e->st, 1, &txn) == PWNM_STATUS_SUCCESS) {
		if (state_meta_put(txn, META_ME, name ? name : "") == PWNM_STATUS_SUCCESS &&
		    state_meta_put_i64(txn, META_ME_ID, id) == PWNM_STATUS_SUCCESS &&
		    state_meta_put(txn, META_ME_FROM, from ? from : "") == PWNM_STATUS_SUCCESS &&
		    state_meta_put(txn, META_ME_ASKED, addresses) == PWNM_STATUS_SUCCESS &&
		    state_meta_put(txn, META_ME_URL, e->cfg.url) == PWNM_STATUS_SUCCESS)
			state_txn_commit(txn);
		else
			state_txn_abort(txn);
	}
out:
	if (c)
		pw_client_free(c);
	if (http)
		http_free(http);
	free(asked);
	free(asked_url);
	free(found);
	free(ver);
	if (token)
		explicit_bzero(token, strlen(token));
	free(token);
	free(err);
	free(name);
	free(from);
}

/*
 * "series 10 in alpha: "feature" v2, 3 of 3 patches" and, with
 * members, one "  patch:" line per patch pwnm knows (its notmuch id).
 * 0 when the store has no such series.
 */
static int
explain_series(pwnm_txn_t *txn, uint32_t series_id, int members)
{
	struct series_rec s;
	struct project_rec pr;
	size_t i;
	int have_project;

	if (state_series_get(txn, series_id, &s) != PWNM_STATUS_SUCCESS)
		return 0;
	have_project = state_project_get(txn, s.project_id, &pr) == PWNM_STATUS_SUCCESS;
	{
		char *name = text_escape(s.name);

		if (members)
			printf("series %u in %s: \"%s\" v%u, %zu of %u patches\n", s.series_id,
			       text_arg(have_project ? pr.link_name : "?"), name, s.version, s.npatches,
			       s.total);
		else
			printf("  series:    %u \"%s\" v%u, %zu of %u patches\n", s.series_id, name,
			       s.version, s.npatches, s.total);
		free(name);
	}
	if (members && (s.flags & SERIES_F_NEWER))
		printf("  newer:     series %u\n", s.newer_id);
	for (i = 0; members && i < s.npatches; i++) {
		struct patch_rec p;

		if (state_patch_get(txn, s.project_id, s.patches[i], &p) == PWNM_STATUS_SUCCESS) {
			char *nm = msgid_to_notmuch(p.msgid);

			printf("  patch:     %s\n", text_arg(nm ? nm : p.msgid));
			free(nm);
			patch_rec_free(&p);
		}
	}
	if (have_project)
		project_rec_free(&pr);
	series_rec_free(&s);
	return 1;
}

/* The patch's CI checks, one line each: context, state, URL. */
static void
explain_checks(pw_client_t *c, uint32_t patch_id)
{
	struct pw_check *ck = NULL;
	size_t n = 0, i;

	if (pw_list_checks(c, patch_id, &ck, &n)) {
		printf("  checks:    not asked: %s\n", text_arg(pw_client_error(c)));
		return;
	}
	for (i = 0; i < n; i++) {
		/* Server text: escaped, so a context cannot write to the terminal. */
		char *ctx = text_escape(ck[i].context), *st = text_escape(ck[i].state);
		char *url = text_escape(ck[i].target_url);

		printf("  check:     %s %s%s%s\n", ctx, st, *url ? " " : "", url);
		free(ctx);
		free(st);
		free(url);
	}
	pw_check_array_free(ck, n);
}

/*
 * What the server says of one patch now (a short request; failures are
 * said, not fatal).  Returns the server's state (caller frees), or NULL.
 */
static char *
explain_remote(struct env *e, uint32_t patch_id)
{
	char *state = NULL;
	http_t *http = NULL;
	pw_client_t *c;
	struct pw_patch p;
	pwnm_txn_t *txn;
	char *ver = NULL;
	pwnm_status_t rc;
	size_t i;

	c = read_client(&e->cfg, 3000, 5000, -1, &http);
	if (!c)
		return NULL;
	if (state_txn_begin(e->st, 0, &txn) == PWNM_STATUS_SUCCESS) {
		state_meta_get(txn, META_API_VERSION, &ver);
		state_txn_abort(txn);
	}
	if (ver)
		pw_set_version(c, ver);
	free(ver);
	rc = pw_get_patch(c, patch_id, &p);
	if (rc == PWNM_STATUS_SUCCESS) {
		struct field_value v[FIELD_COUNT];

		for (i = 0; i < FIELD_COUNT; i++)
			v[i] = field_remote(&field_table[i], &p);
		print_values("server:   ", v);
		state = xstrdup(p.state);
		pw_patch_free(&p);
		explain_checks(c, patch_id);
	} else {
		printf("  server:    not asked: %s\n", text_arg(pw_client_error(c)));
	}
	pw_client_free(c);
	http_free(http);
	return state;
}

/* The state tag of project on a mail (pw/PROJECT/STATE), decoded, or NULL.  Caller frees. */
static char *
tag_state(const struct tagset *t, const char *project)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		char *st = merge_state_of_tag(t->v[i], project);

		if (st)
			return st;
	}
	return NULL;
}

/* Why pwnm left the patch as it is, or what it will do next, in one line. */
static void
explain_why(pwnm_txn_t *txn, const struct patch_rec *p, const char *mine, const char *server)
{
	struct outbox_rec o;
	const char *why = NULL;
	char *msg = NULL;

	if (p->flags & PATCH_F_CONFLICT)
		msg = xasprintf("in conflict: %s; set the state you want and remove pw/conflict",
				*p->note ? p->note : "both sides changed it");
	else if (p->flags & PATCH_F_DENIED)
		msg = xasprintf("the server refused the change: %s; the tags show its value again",
				*p->note ? p->note : "denied");
	else if (state_outbox_get(txn, p->project_id, p->patch_id, &o) == PWNM_STATUS_SUCCESS) {
		switch (state_outbox_status(&o)) {
		case OUTBOX_DONE:
			why = "your change was sent; the next sync sees it land";
			break;
		case OUTBOX_WAITING:
			why = "your change waits to be pushed by the next run (see 'pwnm status')";
			break;
		case OUTBOX_RETRY:
			msg = xasprintf("pushing your change failed (%s); it is tried again",
					o.last_error);
			break;
		case OUTBOX_HELD_CONFLICT:
			why = "your change is held by a conflict; remove pw/conflict to send it";
			break;
		}
		outbox_rec_free(&o);
	} else if (p->flags & PATCH_F_NOMAIL)
		why = "its mail is not in notmuch (yet): it is tagged when it arrives";
	else if (mine && strcmp(mine, p->state) != 0)
		msg = xasprintf("notmuch says %s since the last run: the next run pushes it", mine);
	else if (server && strcmp(server, p->state) != 0)
		msg = xasprintf("Patchwork says %s since the last sync: the next sync tags it", server);
	else if (mine)
		msg = xasprintf("in step: both sides say %s", p->state);
	else
		why = "the mail has no state tag of this project: the next run restores it";
	printf("  why:       %s\n", text_arg(msg ? msg : why));
	free(msg);
}

static int
cmd_explain(int argc, char **argv)
{
	struct env e;
	pwnm_txn_t *txn;
	struct patch_key *keys = NULL;
	size_t nk = 0, i, shown = 0;
	int url_only = 0, code, argi = 1, mail_found = 0;
	const char *arg, *only_project = NULL;
	struct tagset mail_tags = { 0 };
	char *mail_subject = NULL;
	uint64_t pid;

	for (; argi < argc && strncmp(argv[argi], "--", 2) == 0; argi++) {
		if (strcmp(argv[argi], "--url") == 0)
			url_only = 1;
		else if (strcmp(argv[argi], "--project") == 0 && argi + 1 < argc)
			only_project = argv[++argi];
		else if (strncmp(argv[argi], "--project=", 10) == 0)
			only_project = argv[argi] + 10;
		else
			return usage_error(argv[0]);
	}
	if (argc != argi + 1)
		return usage_error(argv[0]);
	arg = argv[argi];
	if ((code = env_open(&e, 0, 0, 0, 0)))
		return code;
	if (state_txn_begin(e.st, 0, &txn)) {
		warn("cannot read the state database: %s", state_last_error(e.st));
		env_close(&e);
		return 1;
	}
	if (parse_u64(arg, &pid) == 0 && pid > 0 && pid <= UINT32_MAX) {
		struct project_rec *pl = NULL;
		size_t np = 0;

		state_project_list(txn, &pl, &np);
		for (i = 0; i < np; i++) {
			struct patch_rec p;

			if (state_patch_get(txn, pl[i].id, (uint32_t)pid, &p) == PWNM_STATUS_SUCCESS) {
				keys = xreallocarray(keys, nk + 1, sizeof(*keys));
				keys[nk].project_id = pl[i].id;
				keys[nk].patch_id = (uint32_t)pid;
				nk++;
				patch_rec_free(&p);
			}
		}
		state_project_list_free(pl, np);
	} else {
		const char *id = strncmp(arg, "id:", 3) == 0 ? arg + 3 : arg;
		char *nmid = msgid_to_notmuch(id);

		if (nmid)
			state_msgid_lookup(txn, nmid, &keys, &nk);
		free(nmid);
	}
	if (nk == 0 && !url_only) {
		/* A cover letter: its series and their patches. */
		const char *id = strncmp(arg, "id:", 3) == 0 ? arg + 3 : arg;
		char *nmid = msgid_to_notmuch(id);
		uint32_t *covers = NULL;
		size_t nc = 0, k, said = 0;

		if (nmid)
			state_cover_lookup(txn, nmid, &covers, &nc);
		free(nmid);
		for (k = 0; k < nc; k++)
			said += (size_t)explain_series(txn, covers[k], 1);
		free(covers);
		if (said) {
			state_txn_abort(txn);
			env_close(&e);
			return 0;
		}
	}
	if (nk == 0) {
		state_txn_abort(txn);
		env_close(&e);
		warn("'%s' is not a patch pwnm knows (run 'pwnm sync' first, or check the id)", arg);
		return 1;
	}
	if (!url_only) {
		/* The mail: its subject and pw/ tags, read from notmuch. */
		struct patch_rec p0;
		notmuch_database_t *db = NULL;
		char *err = NULL, *nmid = NULL;

		if (state_patch_get(txn, keys[0].project_id, keys[0].patch_id, &p0) == 0) {
			nmid = msgid_to_notmuch(p0.msgid);
			patch_rec_free(&p0);
		}
		if (nmid && nm_open(g.config, g.profile, 0, 0, &db, &err) == PWNM_STATUS_SUCCESS) {
			notmuch_message_t *m = NULL;

			if (notmuch_database_find_message(db, nmid, &m) == NOTMUCH_STATUS_SUCCESS && m) {
				const char *subj = notmuch_message_get_header(m, "subject");

				mail_found = 1;
				mail_subject = xstrdup(subj ? subj : "");
				nm_message_pw_tags(m, &mail_tags);
				notmuch_message_destroy(m);
			}
			notmuch_database_destroy(db);
		}
		free(err);
		free(nmid);
	}
	for (i = 0; i < nk; i++) {
		struct patch_rec p;
		struct outbox_rec o;
		struct project_rec pr;
		const char *pname = "?";

		if (state_patch_get(txn, keys[i].project_id, keys[i].patch_id, &p))
			continue;
		if (state_project_get(txn, p.project_id, &pr) == PWNM_STATUS_SUCCESS)
			pname = pr.link_name;
		if (only_project && strcmp(pname, only_project) != 0) {
			if (pname != (const char *)"?")
				project_rec_free(&pr);
			patch_rec_free(&p);
			continue;
		}
		shown++;
		if (url_only) {
			printf("%s/patch/%u/\n", text_arg(e.cfg.url ? e.cfg.url : ""), p.patch_id);
		} else {
			struct field_value v[FIELD_COUNT];
			char *mine = mail_found ? tag_state(&mail_tags, pname) : NULL;
			char *server = NULL;
			size_t k;

			/* the subject is a mail's, the rest the server's: all escaped */
			printf("patch %u in %s: %s\n", p.patch_id, text_arg(pname),
			       mail_subject ? text_arg(mail_subject) : "(mail not in notmuch)");
			printf("  msgid:     %s\n", text_arg(p.msgid));
			if (p.series_id)
				explain_series(txn, p.series_id, 0);
			printf("  notmuch:   %s%s\n", mine ? "state " : "",
			       mine ? text_arg(mine) : mail_found ? "no state tag" : "no mail");

			for (k = 0; k < FIELD_COUNT; k++)
				v[k] = field_agreed(&field_table[k], &p);
			print_values("agreed:   ", v);
			print_flags(p.flags);
			if (*p.note)
				printf("  note:      %s\n", text_arg(p.note));
			if (state_outbox_get(txn, p.project_id, p.patch_id, &o) == PWNM_STATUS_SUCCESS) {
				printf("  outbox:   ");
				for (k = 0; k < FIELD_COUNT; k++) {
					const struct field *f = &field_table[k];

					if (!(o.fields & FIELD_BIT(k)))
						continue;
					if (f->type == FIELD_FLAG)
						printf(" %s", text_arg(field_explain(f, field_wanted(f, &o))));
					else
						printf(" %s %s", f->name,
						       text_arg(field_explain(f, field_wanted(f, &o))));
				}
				printf(", %u attempt%s%s%s\n", o.attempts, o.attempts == 1 ? "" : "s",
				       *o.last_error ? "; last error: " : "", text_arg(o.last_error));
				outbox_rec_free(&o);
			}
			if (e.cfg.url) {
				printf("  web:       %s/patch/%u/\n", text_arg(e.cfg.url), p.patch_id);
				server = explain_remote(&e, p.patch_id);
			}
			explain_why(txn, &p, mine, server);
			free(server);
			free(mine);
		}
		if (pname != (const char *)"?")
			project_rec_free(&pr);
		patch_rec_free(&p);
	}
	state_txn_abort(txn);
	if (only_project && !shown) {
		warn("'%s' is not a patch in %s (see 'pwnm explain %s')", arg, only_project, arg);
		free(keys);
		env_close(&e);
		return 1;
	}
	if (!url_only && mail_found) {
		char *t = tagset_join(&mail_tags, " ");

		printf("mail tags:   %s\n", *t ? text_arg(t) : "(no pw/ tags)");
		free(t);
	} else if (!url_only) {
		printf("mail:        not in the notmuch database\n");
	}
	tagset_free(&mail_tags);
	free(mail_subject);
	free(keys);
	env_close(&e);
	return 0;
}

/* ---- states, projects ---- */

static int
cmd_states(int argc, char **argv)
{
	struct env e;
	pwnm_txn_t *txn;
	struct project_rec *pl = NULL;
	size_t np = 0, i;
	int code, found = 0;

	if (argc != 2)
		return usage_error(argv[0]);
	if ((code = env_open(&e, 0, 0, 0, 0)))
		return code;
	if (state_txn_begin(e.st, 0, &txn) == PWNM_STATUS_SUCCESS) {
		state_project_list(txn, &pl, &np);
		state_txn_abort(txn);
	}
	for (i = 0; i < np; i++) {
		if (strcmp(pl[i].link_name, argv[1]) == 0) {
			char *s = xstrdup(pl[i].states_seen), *p, *save = NULL;

			for (p = strtok_r(s, ";", &save); p; p = strtok_r(NULL, ";", &save))
				printf("%s\n", text_arg(p));
			free(s);
			found = 1;
		}
	}
	state_project_list_free(pl, np);
	env_close(&e);
	if (!found) {
		warn("project '%s' is not tracked; see pwnm.projects", argv[1]);
		return 1;
	}
	return 0;
}

static int
cmd_projects(int argc, char **argv)
{
	struct env e;
	http_t *http = NULL;
	pw_client_t *c;
	struct pw_project *pl = NULL;
	size_t np = 0, i;
	const char *ver;
	int code;
	pwnm_status_t rc;

	if (argc != 1)
		return usage_error(argv[0]);
	if ((code = env_open(&e, 0, 0, 0, 0)))
		return code;
	if (!e.cfg.url) {
		warn("pwnm.url is not set: run 'notmuch config set pwnm.url https://patchwork.example.org'");
		env_close(&e);
		return 1;
	}
	c = read_client(&e.cfg, 0, 0, 0, &http);
	if (!c) {
		env_close(&e);
		return 1;
	}
	rc = pw_discover(c, &ver);
	if (!rc)
		rc = pw_list_projects(c, &pl, &np);
	if (rc) {
		warn("%s", pw_client_error(c));
	} else {
		for (i = 0; i < np; i++)
			printf("%-24s %s\n", text_arg(pl[i].link_name), text_arg(pl[i].name));
	}
	pw_project_array_free(pl, np);
	pw_client_free(c);
	http_free(http);
	env_close(&e);
	return pwnm_status_to_exit(rc);
}

/* ---- accept ---- */

static int
cmd_accept(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "state", required_argument, NULL, 's' },
		{ "project", required_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	struct accept_opts o = { 0 };
	struct accept_result res;
	struct env e;
	char *err = NULL;
	int c, code;
	pwnm_status_t rc;

	o.verbose = g.verbose;
	optind = 1;
	/* '+': the options come first; the range and what follows go to git as they are. */
	while ((c = getopt_long(argc, argv, "+C:v", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': o.dry_run = 1; break;
		case 's':
			if (!config_state_ok(optarg)) {
				warn("--state takes a state slug such as accepted or queued, not '%s'", optarg);
				return 2;
			}
			o.state = optarg;
			break;
		case 'p': o.project = optarg; break;
		case 'C': o.git_dir = optarg; break;
		case 'v': o.verbose = 1; break;
		default: return usage_error(argv[0]);
		}
	}
	if (optind >= argc) {
		warn("accept needs a revision range, e.g. 'pwnm accept origin/main..'");
		return usage_error(argv[0]);
	}
	o.revs = (const char *const *)(argv + optind);
	o.nrevs = (size_t)(argc - optind);
	o.crash_at = getenv("PWNM_DEBUG_CRASH_AT");
	o.nm_config = g.config;
	o.nm_profile = g.profile;
	if ((code = env_open(&e, 1, !o.dry_run, 1, 0)))
		return code;
	if (o.project) {
		size_t i;
		int tracked = 0;

		for (i = 0; i < e.cfg.nprojects; i++)
			tracked |= strcmp(e.cfg.projects[i], o.project) == 0;
		if (!tracked) {
			warn("project '%s' is not tracked; see pwnm.projects", o.project);
			env_close(&e);
			return 2;
		}
	}
	/* The runs open notmuch themselves. */
	notmuch_database_destroy(e.db);
	e.db = NULL;
	rc = accept_run(&e.cfg, e.st, &o, &res, &err);
	if (err)
		warn("%s", err);
	free(err);
	env_close(&e);
	return pwnm_status_to_exit(rc);
}

/* ---- supersede ---- */

static int
cmd_supersede(int argc, char **argv)
{
	struct sync_opts o = { 0 };
	struct env e;
	char *err = NULL;
	int code;
	pwnm_status_t rc;

	if (argc != 2 || argv[1][0] == '-')
		return usage_error(argv[0]);
	o.pull = 1;
	o.push = 1;
	o.verbose = g.verbose;
	o.crash_at = getenv("PWNM_DEBUG_CRASH_AT");
	o.nm_config = g.config;
	o.nm_profile = g.profile;
	o.out = stderr;
	if ((code = env_open(&e, 1, 1, 1, 0)))
		return code;
	/* The run opens notmuch itself. */
	notmuch_database_destroy(e.db);
	e.db = NULL;
	rc = supersede_run(&e.cfg, e.st, argv[1], &o, stdout, &err);
	if (err)
		warn("%s", err);
	free(err);
	env_close(&e);
	return pwnm_status_to_exit(rc);
}

/* ---- hooks ---- */

static void
hook_log(struct env *e, const char *which, const char *msg)
{
	char *path = xasprintf("%s/hook.log", e->cfg.state_dir);
	int fd = open_private(path, O_WRONLY | O_APPEND | O_CREAT, 0600);

	if (fd < 0 && (errno == ELOOP || errno == EINVAL))
		warn("'%s' is a symbolic link or not a file, which pwnm does not write to; remove it",
		     path);
	if (fd >= 0) {
		char *iso = unix_to_iso(now_unix());
		char *line = xasprintf("%s %s: %s\n", iso, which, text_arg(msg));
		ssize_t w = write(fd, line, strlen(line));

		(void)w;
		free(line);
		free(iso);
		close(fd);
	}
	free(path);
	if (e->st) {
		pwnm_txn_t *txn;

		if (state_txn_begin(e->st, 1, &txn) == PWNM_STATUS_SUCCESS) {
			char *v = xasprintf("%s: %s", which, text_arg(msg));

			if (state_meta_put(txn, META_LAST_HOOK_ERROR, v) == PWNM_STATUS_SUCCESS &&
			    state_meta_put_i64(txn, META_LAST_HOOK_ERROR_TIME, now_unix()) ==
				    PWNM_STATUS_SUCCESS)
				state_txn_commit(txn);
			else
				state_txn_abort(txn);
			free(v);
		}
	}
}

/* A run that went well clears the last hook error: it is no longer the situation. */
static void
clear_hook_error(pwnm_state_t *st)
{
	pwnm_txn_t *txn;
	char *v = NULL;

	if (state_txn_begin(st, 0, &txn) != PWNM_STATUS_SUCCESS)
		return;
	state_meta_get(txn, META_LAST_HOOK_ERROR, &v);
	state_txn_abort(txn);
	if (!v)
		return;
	free(v);
	if (state_txn_begin(st, 1, &txn) == PWNM_STATUS_SUCCESS) {
		if (state_meta_del(txn, META_LAST_HOOK_ERROR) == PWNM_STATUS_SUCCESS &&
		    state_meta_del(txn, META_LAST_HOOK_ERROR_TIME) == PWNM_STATUS_SUCCESS)
			state_txn_commit(txn);
		else
			state_txn_abort(txn);
	}
}

/*
 * An invalid setting: one line in the output of notmuch new, said by the
 * first hook that finds it and again only when the line changes.  The line
 * said is kept in the store, found with the other settings at their
 * defaults (as pwnm status finds it); when the store cannot be used, every
 * hook says it.
 */
static void
hook_settings_problem(const char *msg)
{
	struct env e;
	pwnm_txn_t *txn;
	char *stored = NULL, *err = NULL;
	int said = 0;

	settings_lenient = 1;
	if (env_config_err(&e, 0, 1, &err, NULL) == 0) {
		if (private_dir(e.cfg.state_dir, &err) == 0 &&
		    state_open(e.cfg.state_dir, state_mapsize(), &e.st, NULL) == PWNM_STATUS_SUCCESS &&
		    state_txn_begin(e.st, 1, &txn) == PWNM_STATUS_SUCCESS) {
			state_meta_get(txn, META_NOTE_SETTINGS, &stored);
			said = stored && strcmp(stored, msg) == 0;
			if (!said && state_meta_put(txn, META_NOTE_SETTINGS, msg) == PWNM_STATUS_SUCCESS)
				state_txn_commit(txn);
			else
				state_txn_abort(txn);
		}
		env_close(&e);
	}
	settings_lenient = 0;
	free(settings_problem);
	settings_problem = NULL;
	free(stored);
	free(err);
	if (!said || g.verbose)
		warn("%s", msg);
}

/* Valid settings again: the next invalid one is said anew. */
static void
hook_settings_valid(pwnm_state_t *st)
{
	pwnm_txn_t *txn;
	char *v = NULL;

	if (state_txn_begin(st, 0, &txn) != PWNM_STATUS_SUCCESS)
		return;
	state_meta_get(txn, META_NOTE_SETTINGS, &v);
	state_txn_abort(txn);
	if (!v)
		return;
	free(v);
	if (state_txn_begin(st, 1, &txn) == PWNM_STATUS_SUCCESS) {
		if (state_meta_del(txn, META_NOTE_SETTINGS) == PWNM_STATUS_SUCCESS)
			state_txn_commit(txn);
		else
			state_txn_abort(txn);
	}
}

/*
 * A hook never fails notmuch new because of the network, the server or
 * a busy lock: it logs and exits 0.  Only local corruption (a broken
 * state database) gives a non-zero exit, which for pre-new stops
 * notmuch new, as it should.
 */
/*
 * pre-new and post-new run in one notmuch new and share pwnm.hook_timeout:
 * pre-new takes at most half and records in the store what it used;
 * post-new gets the rest (a record older than an hour is not of this
 * notmuch new).  The clock is the monotonic one, the same for both.
 */
#define HOOK_PRE_END "hook_pre_new_end"
#define HOOK_PRE_USED "hook_pre_new_used"

static int64_t
hook_deadline(struct env *e, const char *which, int64_t entered)
{
	int64_t budget = e->cfg.hook_timeout * 1000, end = 0, used = 0;
	pwnm_txn_t *txn;

	if (strcmp(which, "pre-new") == 0)
		return entered + budget / 2;
	if (strcmp(which, "post-new") == 0 &&
	    state_txn_begin(e->st, 1, &txn) == PWNM_STATUS_SUCCESS) {
		if (state_meta_get_i64(txn, HOOK_PRE_END, 0, &end) == PWNM_STATUS_SUCCESS &&
		    state_meta_get_i64(txn, HOOK_PRE_USED, 0, &used) == PWNM_STATUS_SUCCESS && end &&
		    state_meta_del(txn, HOOK_PRE_END) == PWNM_STATUS_SUCCESS)
			state_txn_commit(txn);
		else
			state_txn_abort(txn);
		if (end && end <= entered && entered - end < 3600 * 1000 && used > 0)
			budget -= used < budget ? used : budget;
	}
	return entered + budget;
}

static void
hook_record_used(struct env *e, int64_t entered)
{
	int64_t now = now_ms();
	pwnm_txn_t *txn;

	if (state_txn_begin(e->st, 1, &txn) != PWNM_STATUS_SUCCESS)
		return;
	if (state_meta_put_i64(txn, HOOK_PRE_END, now) == PWNM_STATUS_SUCCESS &&
	    state_meta_put_i64(txn, HOOK_PRE_USED, now - entered) == PWNM_STATUS_SUCCESS)
		state_txn_commit(txn);
	else
		state_txn_abort(txn);
}

static int
cmd_hook(int argc, char **argv)
{
	struct sync_opts o = { 0 };
	struct sync_result res;
	struct env e;
	char *err = NULL;
	const char *which;
	int code;
	pwnm_status_t rc;
	int64_t entered = now_ms();

	if (argc != 2)
		return usage_error(argv[0]);
	which = argv[1];
	if (strcmp(which, "pre-new") != 0 && strcmp(which, "post-new") != 0 &&
	    strcmp(which, "post-insert") != 0)
		return usage_error(argv[0]);
	/*
	 * Not set up for pwnm (no pwnm.url or pwnm.projects): nothing to do,
	 * quietly.  A setting that is there but wrong is worth one line in
	 * the output of notmuch new, once.
	 */
	if (env_config_err(&e, 1, 1, &err, &rc)) {
		if (err && rc == PWNM_STATUS_CONFIG)
			hook_settings_problem(err);
		else if (err && rc != PWNM_STATUS_NOT_CONFIGURED)
			warn("%s", err);
		free(err);
		return 0;
	}
	if (e.cfg.hook_mode == HOOK_OFF) {
		env_close(&e);
		return 0;
	}
	/* A state directory pwnm cannot use is no reason to fail notmuch new. */
	if (private_dir(e.cfg.state_dir, &err) < 0) {
		warn("%s; pwnm did nothing in this notmuch new", err);
		free(err);
		env_close(&e);
		return 0;
	}
	if (e.cfg.hook_mode == HOOK_BACKGROUND && strcmp(which, "post-new") == 0) {
		/* The network part runs detached; notmuch new returns at once. */
		pid_t pid = fork();

		if (pid < 0) {
			warn("cannot fork:");
			env_close(&e);
			return 0;
		}
		if (pid > 0) {
			env_close(&e);
			return 0;
		}
		setsid();
		/* The child opens its own notmuch handle. */
		notmuch_database_destroy(e.db);
		e.db = NULL;
		{
			int fd = open("/dev/null", O_RDWR);

			if (fd >= 0) {
				dup2(fd, 0);
				dup2(fd, 1);
				dup2(fd, 2);
				if (fd > 2)
					close(fd);
			}
		}
	}
	code = env_state(&e, 1, 0, 1);
	if (code) {
		/* Busy (another run holds the lock) or a broken store. */
		if (code != PWNM_EXIT_TEMPFAIL) {
			hook_log(&e, which, "cannot open the state database; run 'pwnm status'");
			if (e.lock_fd >= 0)
				close(e.lock_fd);
			env_close(&e);
			return strcmp(which, "pre-new") == 0 ? 1 : 0;
		}
		env_close(&e);
		return 0;
	}
	hook_settings_valid(e.st);
	o.hook = 1;
	o.crash_at = getenv("PWNM_DEBUG_CRASH_AT");
	o.quiet = !g.verbose;
	o.nm_config = g.config;
	o.nm_profile = g.profile;
	o.deadline_ms = hook_deadline(&e, which, entered);
	o.verbose = g.verbose;
	if (strcmp(which, "pre-new") == 0) {
		o.push = 1; /* the outbox and local changes, without asking for news */
	} else if (strcmp(which, "post-insert") == 0) {
		o.push = 0; /* tag the inserted mail from what the store knows */
	} else {
		o.pull = 1;
		o.push = 1;
	}
	o.db = e.db;
	e.db = NULL;
	rc = sync_run(&e.cfg, NULL, e.st, &o, &res, &err);
	if (strcmp(which, "pre-new") == 0)
		hook_record_used(&e, entered);
	if (!rc)
		clear_hook_error(e.st);
	if (rc) {
		hook_log(&e, which, err ? err : pwnm_status_to_string(rc));
		if (rc == PWNM_STATUS_STATE && strcmp(which, "pre-new") == 0) {
			free(err);
			env_close(&e);
			return 1;
		}
	}
	if (g.verbose)
		print_summary(&res, 0);
	free(err);
	env_close(&e);
	return 0;
}

int
main(int argc, char **argv)
{
	const struct command *c;
	int i, code;

	util_set_progname("pwnm");
	debug_init(getenv("PWNM_DEBUG"));
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			g.config = argv[++i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			g.config = argv[i] + 9;
		} else if (strcmp(argv[i], "--profile") == 0 && i + 1 < argc) {
			g.profile = argv[++i];
		} else if (strncmp(argv[i], "--profile=", 10) == 0) {
			g.profile = argv[i] + 10;
		} else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0) {
			g.verbose = 1;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("pwnm %s\n", PWNM_VERSION);
			return 0;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			return cmd_help(1, argv);
		} else {
			break;
		}
	}
	if (i >= argc)
		return usage_error(NULL);
	c = find_command(argv[i]);
	if (!c) {
		const struct command *s = similar_command(argv[i]);

		if (s)
			warn("unknown command '%s'; did you mean 'pwnm %s'? See 'pwnm help'", argv[i],
			     s->name);
		else
			warn("unknown command '%s'; see 'pwnm help'", argv[i]);
		return 2;
	}
	/* COMMAND --help (or -h) anywhere before a "--": that command's help. */
	for (code = i + 1; code < argc && strcmp(argv[code], "--") != 0; code++) {
		if (strcmp(argv[code], "--help") == 0 || strcmp(argv[code], "-h") == 0) {
			char help_name[] = "help";
			char *hargv[] = { help_name, argv[i], NULL };

			return cmd_help(2, hargv);
		}
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatal("cannot initialise libcurl");
	code = c->fn(argc - i, argv + i);
	curl_global_cleanup();
	return code;
}

/* libconfig.h - pwnm.* settings read from the notmuch configuration, and the API token */
#ifndef PWNM_LIBCONFIG_H
#define PWNM_LIBCONFIG_H

#include <stdint.h>

#include <notmuch.h>

#include "libstatus.h"

enum conflict_policy {
	CONFLICT_PATCHWORK, /* the server's value wins (default) */
	CONFLICT_NOTMUCH,   /* the tags win: pushed */
	CONFLICT_REPORT,    /* neither: pw/conflict, until the user decides */
};

enum hook_mode {
	HOOK_FOREGROUND,
	HOOK_BACKGROUND,
	HOOK_OFF,
};

/*
 * Settings, all under "pwnm." in the notmuch configuration, read through
 * libnotmuch (so NOTMUCH_CONFIG, --config and profiles behave as in
 * notmuch).  Strings are owned by the struct (config_free).
 */
struct pwnm_config {
	char *config_path;      /* notmuch config file in use, "" when none */
	char *db_path;          /* notmuch database path */
	char *url;              /* pwnm.url, no trailing '/' */
	char **projects;        /* pwnm.projects (';'-list of link_names) */
	size_t nprojects;
	enum conflict_policy conflict; /* pwnm.conflict */
	enum hook_mode hook_mode;      /* pwnm.hook_mode */
	int64_t window;         /* pwnm.window: how far back a first sync reaches, seconds; 0 = all */
	int64_t poll_interval;  /* pwnm.poll_interval, seconds (hooks poll the server at most this often) */
	int64_t hook_timeout;   /* pwnm.hook_timeout, seconds */
	int64_t reconcile_interval; /* pwnm.reconcile_interval, seconds; 0 = never automatically */
	int64_t stall_timeout;  /* pwnm.stall_timeout, seconds: a request without a byte this long fails */
	int jobs;               /* pwnm.jobs: requests in flight */
	int tag_archived;       /* pwnm.tag_archived */
	int tag_delegate;       /* pwnm.tag_delegate */
	int tag_checks;         /* pwnm.tag_checks */
	int allow_insecure;     /* pwnm.allow_insecure_http: token over plain http to a non-loopback host */
	int64_t push_limit;     /* pwnm.push_limit: most changes one run pushes without --force; 0 = no limit */
	char *state_dir;        /* pwnm.state_dir or $XDG_STATE_HOME/pwnm/<db> */
	char *token_command;    /* pwnm.token_command, "" none */
	char *token_file;       /* pwnm.token_file or $XDG_CONFIG_HOME/pwnm/token */
	char *proxy;            /* pwnm.proxy: the proxy for https, "" none set (libcurl's environment) */
	char *cainfo;           /* pwnm.cainfo, else $CURL_CA_BUNDLE, else $SSL_CERT_FILE; "" none */
	char *accept_state;     /* pwnm.accept_state: what `pwnm accept` sets, default "accepted" */
	char *user;             /* pwnm.user: the user's Patchwork user name, "" unset (pwnm sync finds it) */
};

/*
 * Read the settings from an open database.  need_url: a missing pwnm.url
 * or pwnm.projects is an error, PWNM_STATUS_NOT_CONFIGURED (a setting
 * that is there but wrong is PWNM_STATUS_CONFIG).  On error *err is one line naming the
 * key and the command that sets it; caller frees.
 */
pwnm_status_t config_load(notmuch_database_t *db, int need_url, struct pwnm_config *cfg,
			  char **err);
/*
 * The same, for showing the settings (pwnm status): pwnm.url and
 * pwnm.projects may be missing, and a value that is wrong keeps its
 * default instead of failing the load; *problem is then the line
 * config_load would have failed with (the first such), else NULL.
 * Caller frees it.  Not for use from two threads at once.
 */
pwnm_status_t config_load_all(notmuch_database_t *db, struct pwnm_config *cfg, char **problem,
			      char **err);
void config_free(struct pwnm_config *cfg);

/*
 * The API token: $PWNM_TOKEN, else the first line of pwnm.token_command's
 * output, else the token file (refused unless mode 0600 or stricter),
 * checked by token_valid().  *token NULL (and SUCCESS) when none is
 * configured.  On error *err is a one-line message that never contains
 * the token.  Caller frees both.  Whether the token may go to pwnm.url
 * (plain http) is url_token_refusal()'s decision (liburl.h), which needs
 * libcurl and so is not made here: this module is linked by pwnm-hook.
 */
pwnm_status_t config_token(const struct pwnm_config *cfg, char **token, char **err);

/* True when s can be a state slug (letters, digits, '-', '_', '.'; as it appears in a tag). */
int config_state_ok(const char *s);

/* True when a token is configured (without running pwnm.token_command). */
int config_has_token(const struct pwnm_config *cfg);

#endif

/* libconfig.c - read pwnm.* settings through libnotmuch, and find the API token */
#include "libconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libutil.h"

static char *
get(notmuch_database_t *db, const char *key)
{
	char *val = NULL;

	if (notmuch_database_get_config(db, key, &val) != NOTMUCH_STATUS_SUCCESS || !val)
		return NULL;
	if (!*val) {
		free(val);
		return NULL;
	}
	return val;
}

/*
 * While config_load_all runs: where bad_value puts the first problem, the
 * setting then keeping its default, instead of failing the load.
 */
static char **collect_problem;

static pwnm_status_t
bad_value(char **err, const char *key, const char *val, const char *want)
{
	char *msg = xasprintf("invalid value '%s' for pwnm.%s: expected %s "
			      "(set it with: notmuch config set pwnm.%s VALUE)",
			      val, key, want, key);

	if (collect_problem) {
		if (!*collect_problem)
			*collect_problem = msg;
		else
			free(msg);
		return PWNM_STATUS_SUCCESS;
	}
	if (err)
		*err = msg;
	else
		free(msg);
	return PWNM_STATUS_CONFIG;
}

static pwnm_status_t
get_duration(notmuch_database_t *db, const char *key, int64_t dflt, int64_t *out, char **err)
{
	char *full = xasprintf("pwnm.%s", key), *val = get(db, full);
	pwnm_status_t rc = PWNM_STATUS_SUCCESS;

	free(full);
	*out = dflt;
	if (val && parse_duration(val, out) < 0) {
		*out = dflt;
		rc = bad_value(err, key, val, "a duration such as 30s, 5m, 2h, 365d");
	}
	free(val);
	return rc;
}

static pwnm_status_t
get_bool(notmuch_database_t *db, const char *key, int dflt, int *out, char **err)
{
	char *full = xasprintf("pwnm.%s", key), *val = get(db, full);
	pwnm_status_t rc = PWNM_STATUS_SUCCESS;

	free(full);
	*out = dflt;
	if (val && parse_bool(val, out) < 0) {
		*out = dflt;
		rc = bad_value(err, key, val, "true or false");
	}
	free(val);
	return rc;
}

/* A short stable name for the database's state directory. */
static char *
state_name(const char *db_path)
{
	uint64_t h = 1469598103934665603ULL;
	const char *p, *base;
	size_t n;

	for (p = db_path; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 1099511628211ULL;
	}
	n = strlen(db_path);
	while (n > 1 && db_path[n - 1] == '/')
		n--;
	base = db_path + n;
	while (base > db_path && base[-1] != '/')
		base--;
	return xasprintf("%.*s-%016llx", (int)(db_path + n - base), base, (unsigned long long)h);
}

static char *
xdg_dir(const char *var, const char *fallback)
{
	const char *v = getenv(var), *home = getenv("HOME");

	if (v && *v == '/')
		return xstrdup(v);
	return xasprintf("%s/%s", home && *home ? home : ".", fallback);
}

pwnm_status_t
config_load(notmuch_database_t *db, int need_url, struct pwnm_config *cfg, char **err)
{
	pwnm_status_t rc;
	char *val = NULL;
	const char *s;
	notmuch_config_values_t *vals;
	int64_t jobs = 0;

	memset(cfg, 0, sizeof(*cfg));
	if (err)
		*err = NULL;
	s = notmuch_config_path(db);
	cfg->config_path = xstrdup(s ? s : "");
	s = notmuch_config_get(db, NOTMUCH_CONFIG_DATABASE_PATH);
	cfg->db_path = xstrdup(s ? s : notmuch_database_get_path(db));

	val = get(db, "pwnm.url");
	if (val) {
		size_t n = strlen(val);

		while (n > 0 && val[n - 1] == '/')
			val[--n] = '\0';
		if (strncasecmp(val, "http://", 7) != 0 && strncasecmp(val, "https://", 8) != 0) {
			rc = bad_value(err, "url", val, "an http:// or https:// URL");
			free(val);
			if (rc)
				goto fail;
		} else {
			cfg->url = val;
		}
	} else if (need_url) {
		if (err)
			*err = xstrdup("pwnm.url is not set: run "
				       "'notmuch config set pwnm.url https://patchwork.example.org'");
		rc = PWNM_STATUS_NOT_CONFIGURED;
		goto fail;
	}

	vals = notmuch_config_get_values_string(db, "pwnm.projects");
	for (; notmuch_config_values_valid(vals); notmuch_config_values_move_to_next(vals)) {
		const char *p = notmuch_config_values_get(vals);

		if (!*p)
			continue;
		if (strchr(p, '/') || strchr(p, ' ')) {
			rc = bad_value(err, "projects", p, "project link names separated by ';'");
			if (rc) {
				notmuch_config_values_destroy(vals);
				goto fail;
			}
			continue;
		}
		cfg->projects = xreallocarray(cfg->projects, cfg->nprojects + 1, sizeof(char *));
		cfg->projects[cfg->nprojects++] = xstrdup(p);
	}
	notmuch_config_values_destroy(vals);
	if (need_url && cfg->nprojects == 0) {
		if (err)
			*err = xstrdup("pwnm.projects is not set: run "
				       "'notmuch config set pwnm.projects \"project1;project2\"' "
				       "(the link names listed by 'pwnm projects')");
		rc = PWNM_STATUS_NOT_CONFIGURED;
		goto fail;
	}

	val = get(db, "pwnm.conflict");
	cfg->conflict = CONFLICT_PATCHWORK;
	if (val) {
		if (strcmp(val, "patchwork") == 0)
			cfg->conflict = CONFLICT_PATCHWORK;
		else if (strcmp(val, "notmuch") == 0)
			cfg->conflict = CONFLICT_NOTMUCH;
		else if (strcmp(val, "report") == 0)
			cfg->conflict = CONFLICT_REPORT;
		else
			rc = bad_value(err, "conflict", val, "patchwork, notmuch or report");
		free(val);
		if (rc)
			goto fail;
	}

	val = get(db, "pwnm.hook_mode");
	cfg->hook_mode = HOOK_FOREGROUND;
	if (val) {
		if (strcmp(val, "foreground") == 0)
			cfg->hook_mode = HOOK_FOREGROUND;
		else if (strcmp(val, "background") == 0)
			cfg->hook_mode = HOOK_BACKGROUND;
		else if (strcmp(val, "off") == 0)
			cfg->hook_mode = HOOK_OFF;
		else
			rc = bad_value(err, "hook_mode", val, "foreground, background or off");
		free(val);
		if (rc)
			goto fail;
	}

	if ((rc = get_duration(db, "window", 365 * 86400, &cfg->window, err)))
		goto fail;
	if ((rc = get_duration(db, "poll_interval", 300, &cfg->poll_interval, err)))
		goto fail;
	if ((rc = get_duration(db, "hook_timeout", 5, &cfg->hook_timeout, err)))
		goto fail;
	if ((rc = get_duration(db, "reconcile_interval", 7 * 86400, &cfg->reconcile_interval, err)))
		goto fail;
	if ((rc = get_duration(db, "stall_timeout", 20, &cfg->stall_timeout, err)))
		goto fail;
	if (cfg->stall_timeout < 1) {
		if ((rc = bad_value(err, "stall_timeout", "0", "a duration of at least 1s")))
			goto fail;
		cfg->stall_timeout = 20;
	}
	if ((rc = get_bool(db, "tag_archived", 1, &cfg->tag_archived, err)))
		goto fail;
	if ((rc = get_bool(db, "tag_checks", 1, &cfg->tag_checks, err)))
		goto fail;
	if ((rc = get_bool(db, "tag_delegate", 1, &cfg->tag_delegate, err)))
		goto fail;
	if ((rc = get_bool(db, "allow_insecure_http", 0, &cfg->allow_insecure, err)))
		goto fail;

	val = get(db, "pwnm.jobs");
	cfg->jobs = 8;
	if (val) {
		uint64_t j;

		if (parse_u64(val, &j) < 0 || j < 1 || j > 64) {
			rc = bad_value(err, "jobs", val, "a number from 1 to 64");
		} else {
			jobs = (int64_t)j;
			cfg->jobs = (int)jobs;
		}
		free(val);
		if (rc)
			goto fail;
	}

	val = get(db, "pwnm.push_limit");
	cfg->push_limit = 50;
	if (val) {
		uint64_t j;

		if (parse_u64(val, &j) < 0)
			rc = bad_value(err, "push_limit", val, "a number (0 for no limit)");
		else
			cfg->push_limit = (int64_t)j;
		free(val);
		if (rc)
			goto fail;
	}

	val = get(db, "pwnm.state_dir");
	if (val) {
		cfg->state_dir = val;
	} else {
		char *base = xdg_dir("XDG_STATE_HOME", ".local/state"), *name = state_name(cfg->db_path);

		cfg->state_dir = xasprintf("%s/pwnm/%s", base, name);
		free(base);
		free(name);
	}
	val = get(db, "pwnm.accept_state");
	if (val && !config_state_ok(val)) {
		rc = bad_value(err, "accept_state", val, "a state slug such as accepted or queued");
		free(val);
		if (rc)
			goto fail;
		val = NULL;
	}
	cfg->accept_state = val ? val : xstrdup("accepted");
	val = get(db, "pwnm.user");
	if (val && (strpbrk(val, " \t\r\n/") || strlen(val) > 150)) {
		rc = bad_value(err, "user", val, "your user name on the Patchwork server, without blanks");
		free(val);
		if (rc)
			goto fail;
		val = NULL;
	}
	cfg->user = val ? val : xstrdup("");
	val = get(db, "pwnm.proxy");
	cfg->proxy = val ? val : xstrdup("");
	val = get(db, "pwnm.cainfo");
	if (!val) {
		/* the variables the curl tool and OpenSSL read (libcurl itself reads neither) */
		const char *env = getenv("CURL_CA_BUNDLE");

		if (!env || !*env)
			env = getenv("SSL_CERT_FILE");
		val = xstrdup(env ? env : "");
	}
	cfg->cainfo = val;
	val = get(db, "pwnm.token_command");
	cfg->token_command = val ? val : xstrdup("");
	val = get(db, "pwnm.token_file");
	if (val) {
		cfg->token_file = val;
	} else {
		char *base = xdg_dir("XDG_CONFIG_HOME", ".config");

		cfg->token_file = xasprintf("%s/pwnm/token", base);
		free(base);
	}
	return PWNM_STATUS_SUCCESS;
fail:
	config_free(cfg);
	return rc;
}

pwnm_status_t
config_load_all(notmuch_database_t *db, struct pwnm_config *cfg, char **problem, char **err)
{
	pwnm_status_t rc;

	*problem = NULL;
	collect_problem = problem;
	rc = config_load(db, 0, cfg, err);
	collect_problem = NULL;
	if (rc) {
		free(*problem);
		*problem = NULL;
	}
	return rc;
}

void
config_free(struct pwnm_config *cfg)
{
	size_t i;

	free(cfg->config_path);
	free(cfg->db_path);
	free(cfg->url);
	for (i = 0; i < cfg->nprojects; i++)
		free(cfg->projects[i]);
	free(cfg->projects);
	free(cfg->state_dir);
	free(cfg->token_command);
	free(cfg->token_file);
	free(cfg->proxy);
	free(cfg->cainfo);
	free(cfg->accept_state);
	free(cfg->user);
	memset(cfg, 0, sizeof(*cfg));
}

int
config_state_ok(const char *s)
{
	size_t i;

	if (!s || !*s)
		return 0;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return 0;
	return 1;
}

/* First line of s, trimmed; NULL when empty.  Caller frees. */
static char *
first_line(const char *s, size_t len)
{
	size_t i = 0, j;

	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	j = i;
	while (j < len && s[j] != '\n' && s[j] != '\r')
		j++;
	while (j > i && (s[j - 1] == ' ' || s[j - 1] == '\t'))
		j--;
	return j > i ? xstrndup(s + i, j - i) : NULL;
}

static pwnm_status_t
token_from_command(const char *cmd, char **token, char **err)
{
	FILE *f = popen(cmd, "r");
	struct buf b = { 0 };
	char chunk[512];
	size_t n;
	int st;

	if (!f) {
		*err = xasprintf("cannot run pwnm.token_command: %s", strerror(errno));
		return PWNM_STATUS_CONFIG;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len < 65536)
		buf_add(&b, chunk, n);
	st = pclose(f);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		buf_free(&b);
		*err = xstrdup("pwnm.token_command failed (it must print the token on its first line "
			       "and exit 0)");
		return PWNM_STATUS_CONFIG;
	}
	*token = first_line(b.data ? b.data : "", b.len);
	buf_free(&b);
	if (!*token) {
		*err = xstrdup("pwnm.token_command printed nothing");
		return PWNM_STATUS_CONFIG;
	}
	return PWNM_STATUS_SUCCESS;
}

static pwnm_status_t
token_from_file(const char *path, char **token, char **err)
{
	FILE *f = fopen(path, "r");
	struct stat sb;
	char line[1024];
	size_t n;

	if (!f) {
		if (errno == ENOENT)
			return PWNM_STATUS_SUCCESS;
		*err = xasprintf("cannot read token file '%s': %s", path, strerror(errno));
		return PWNM_STATUS_CONFIG;
	}
	if (fstat(fileno(f), &sb) < 0 || (sb.st_mode & 077)) {
		fclose(f);
		*err = xasprintf("token file '%s' is readable by others; run 'chmod 600 %s'", path,
				 path);
		return PWNM_STATUS_CONFIG;
	}
	n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[n] = '\0';
	*token = first_line(line, n);
	return PWNM_STATUS_SUCCESS;
}

pwnm_status_t
config_token(const struct pwnm_config *cfg, char **token, char **err)
{
	const char *env = getenv("PWNM_TOKEN");
	pwnm_status_t rc = PWNM_STATUS_SUCCESS;

	*token = NULL;
	*err = NULL;
	if (env && *env)
		*token = first_line(env, strlen(env));
	else if (cfg->token_command && *cfg->token_command)
		rc = token_from_command(cfg->token_command, token, err);
	else if (cfg->token_file && *cfg->token_file)
		rc = token_from_file(cfg->token_file, token, err);
	if (rc)
		return rc;
	if (*token && !token_valid(*token)) {
		free(*token);
		*token = NULL;
		*err = xstrdup("the API token contains spaces or control characters");
		return PWNM_STATUS_CONFIG;
	}
	return PWNM_STATUS_SUCCESS;
}

int
config_has_token(const struct pwnm_config *cfg)
{
	const char *env = getenv("PWNM_TOKEN");

	return (env && *env) || (cfg->token_command && *cfg->token_command) ||
	       (cfg->token_file && *cfg->token_file && access(cfg->token_file, F_OK) == 0);
}

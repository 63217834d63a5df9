/* libstatus.h - pwnm status codes, their strings and the exit code mapping */
#ifndef PWNM_LIBSTATUS_H
#define PWNM_LIBSTATUS_H

/*
 * One list, so names and strings cannot drift apart.  The third column
 * is the exit code a command returns for that status (see pwnm(1),
 * EXIT STATUS): 0 success, 1 failure, 2 usage, 75 temporary failure.
 */
#define PWNM_STATUS_LIST(X)                                                 \
	X(SUCCESS, "success", 0)                                            \
	X(USAGE, "usage error", 2)                                          \
	X(CONFIG, "configuration error", 1)                                 \
	X(NOT_CONFIGURED, "not set up for pwnm (pwnm.url, pwnm.projects)", 1) \
	X(NOTMUCH, "notmuch database error", 1)                             \
	X(NOTMUCH_LOCKED, "notmuch database is locked", 75)                 \
	X(STATE, "state database error", 1)                                 \
	X(STATE_FULL, "state database is full", 1)                          \
	X(LOCKED, "another pwnm run holds the lock", 75)                    \
	X(NOT_FOUND, "not found", 1)                                        \
	X(NETWORK, "network error", 75)                                     \
	X(TIMEOUT, "timed out", 75)                                         \
	X(SERVER, "server error", 75)                                       \
	X(HTTP, "request refused by the server", 1)                         \
	X(PROTOCOL, "unexpected response from the server", 1)               \
	X(AUTH, "the server refused the token", 1)                          \
	X(FORBIDDEN, "permission denied by the server", 1)                  \
	X(INVALID_VALUE, "value refused by the server", 1)                  \
	X(IO, "input/output error", 1)

#define PWNM_STATUS_ENUM_(name, str, code) PWNM_STATUS_##name,
typedef enum {
	PWNM_STATUS_LIST(PWNM_STATUS_ENUM_)
	PWNM_STATUS_LAST_STATUS
} pwnm_status_t;
#undef PWNM_STATUS_ENUM_

/* Borrowed static string; never NULL. */
const char *pwnm_status_to_string(pwnm_status_t status);

/* Exit code for a command that ends with this status. */
int pwnm_status_to_exit(pwnm_status_t status);

/* True for statuses worth retrying later (network, timeout, 5xx, 429, locks). */
int pwnm_status_is_temporary(pwnm_status_t status);

#define PWNM_EXIT_TEMPFAIL 75

#endif

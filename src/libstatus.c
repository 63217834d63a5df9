/* libstatus.c - pwnm status strings and exit codes */
#include "libstatus.h"

#define STR_(name, str, code) [PWNM_STATUS_##name] = str,
static const char *const strings[] = { PWNM_STATUS_LIST(STR_) };
#undef STR_

#define CODE_(name, str, code) [PWNM_STATUS_##name] = code,
static const int codes[] = { PWNM_STATUS_LIST(CODE_) };
#undef CODE_

const char *
pwnm_status_to_string(pwnm_status_t status)
{
	if ((int)status < 0 || status >= PWNM_STATUS_LAST_STATUS)
		return "unknown status";
	return strings[status];
}

int
pwnm_status_to_exit(pwnm_status_t status)
{
	if ((int)status < 0 || status >= PWNM_STATUS_LAST_STATUS)
		return 1;
	return codes[status];
}

int
pwnm_status_is_temporary(pwnm_status_t status)
{
	return pwnm_status_to_exit(status) == PWNM_EXIT_TEMPFAIL;
}

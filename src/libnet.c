/* libnet.c - the pwnm.* settings that concern the network, applied to libhttp's options */
#include "libnet.h"

/* Below this many bytes a second for the low-speed window, a transfer is stuck. */
#define LOW_SPEED_LIMIT 1024L

void
net_http_options(const struct pwnm_config *cfg, struct http_options *ho)
{
	ho->origin = cfg->url;
	if (cfg->jobs > 0)
		ho->max_parallel = cfg->jobs;
	ho->proxy = cfg->proxy && *cfg->proxy ? cfg->proxy : NULL;
	ho->cainfo = cfg->cainfo && *cfg->cainfo ? cfg->cainfo : NULL;
	if (cfg->stall_timeout > 0) {
		ho->stall_ms = (long)cfg->stall_timeout * 1000;
		ho->low_speed_limit = LOW_SPEED_LIMIT;
		ho->low_speed_time_ms = ho->stall_ms + ho->stall_ms / 2;
	}
}

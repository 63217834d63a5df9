/* libnet.h - the pwnm.* settings that concern the network, applied to libhttp's options */
#ifndef PWNM_LIBNET_H
#define PWNM_LIBNET_H

#include "libconfig.h"
#include "libhttp.h"

/*
 * Fill the fields of ho that the configuration decides: the origin the
 * token belongs to (pwnm.url), the requests in flight (pwnm.jobs), the stall bounds (pwnm.stall_timeout: no
 * byte for that long, or less than 1 KiB/s for 1.5 times that, fails a
 * request), the https proxy (pwnm.proxy) and the CA file (pwnm.cainfo,
 * or the CURL_CA_BUNDLE or SSL_CERT_FILE of the environment).  Other fields are left as they are.  Strings are borrowed
 * from cfg.
 */
void net_http_options(const struct pwnm_config *cfg, struct http_options *ho);

#endif

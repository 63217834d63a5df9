/* liburl.h - where a URL points, read by libcurl's own URL parser, and where the token may go */
#ifndef PWNM_LIBURL_H
#define PWNM_LIBURL_H

#include <curl/curl.h>

/*
 * Every decision about where a request (and the API token) goes is made
 * on the URL as libcurl reads it: url_parse() hands back the CURLU that
 * libhttp gives the transfer (CURLOPT_CURLU), so the check and the
 * request cannot disagree.  On top of libcurl's rules a few spellings
 * are refused outright because readers disagree on them: bytes outside
 * printable ASCII, blanks, a backslash, a scheme not followed by "://",
 * an empty port, an IPv6 zone id.  Only http and https are accepted.
 * This module needs libcurl: pwnm-hook (which must not load it) does not
 * link it.
 */

/* Parse url as the transfer will; NULL when it is refused.  Free with curl_url_cleanup(). */
CURLU *url_parse(const char *url);

/*
 * Origin "scheme://host[:port]" of a parsed URL: scheme and host
 * lowercase, the port as written (none when none was written), IPv4
 * numbers as libcurl normalises them ("http://0x7f.1" is
 * "http://127.0.0.1").  Caller frees.
 */
char *url_origin_parsed(CURLU *u);

/* Origin of url; NULL when url_parse refuses it.  Caller frees. */
char *url_origin(const char *url);

/* url's host is 127.0.0.0/8, ::1 or localhost (as libcurl reads it). */
int url_is_loopback(const char *url);

/* url is a plain http URL (as libcurl reads it). */
int url_is_plain_http(const char *url);

/*
 * The one rule for the token and plain http: NULL when a token may be
 * sent to url (https; or http to a loopback host; or allow_insecure),
 * else the message to show, naming the URL and how to change it.
 * Caller frees.
 */
char *url_token_refusal(const char *url, int allow_insecure);

#endif

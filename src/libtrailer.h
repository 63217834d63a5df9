/* libtrailer.h - the Message-IDs a commit message names in its Link: and Message-Id: trailers */
#ifndef PWNM_LIBTRAILER_H
#define PWNM_LIBTRAILER_H

#include <stddef.h>

/*
 * The Message-IDs named by the trailers of a commit message: the lines
 * of its last paragraph (where git keeps trailers) of the form
 *
 *   Message-Id: <id>                       (any case of the key; brackets optional)
 *   Link: https://lore.kernel.org/r/<id>   (b4, git am with a Link hook)
 *   Link: https://patch.msgid.link/<id>
 *   Link: <any http(s) URL whose last path component is a Message-ID>
 *
 * A URL's query and fragment are ignored, and so are a trailing '/' and
 * a lore view after the id (/T/, /t/, /raw, /t.mbox.gz); the component
 * is percent-decoded (an escape of a control character is kept as it
 * is).  A Message-ID here has an '@' with text on both sides and no
 * blank, angle bracket or control character once in notmuch's form (a
 * bracketed Message-Id: value may hold blanks, which that form drops);
 * so a Link: to a bug tracker or an issue page names none.
 *
 * Each id is returned once, in notmuch's form (msgid_to_notmuch: no
 * brackets, no blanks), in the order the trailers give them.  *out is
 * NULL and *n 0 when there is none; caller frees with trailer_ids_free.
 */
void trailer_msgids(const char *message, char ***out, size_t *n);
void trailer_ids_free(char **ids, size_t n);

/*
 * The Message-ID that one Link: value names (a URL as above, or an id
 * in angle brackets), in notmuch's form; NULL when it names none.
 * Caller frees.
 */
char *trailer_link_msgid(const char *value);

#endif

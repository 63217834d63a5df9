/* fuzz.h - shared helpers of the libFuzzer targets: the entry point, invariant checks, input copies */
#ifndef PWNM_FUZZ_H
#define PWNM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * An invariant of the code under test.  A broken one aborts, which
 * libFuzzer reports as a crash and saves the input; exit() is never
 * called.
 */
#define CHECK(cond)                                                               \
	do {                                                                      \
		if (!(cond)) {                                                    \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, \
				__LINE__, #cond);                                 \
			abort();                                                  \
		}                                                                 \
	} while (0)

/* The input as a C string (cut at its first NUL).  Caller frees. */
static inline char *
fuzz_str(const uint8_t *data, size_t size)
{
	char *s = xmalloc(size + 1);

	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* Touch every byte of s so that ASan sees a dangling or unterminated string. */
static inline size_t
fuzz_touch(const char *s)
{
	return s ? strlen(s) : 0;
}

#endif

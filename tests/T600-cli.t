#!/usr/bin/env bash
# T600-cli: the command line as a newcomer meets it: help for every
# command, mistyped commands, explain, status, first-sync dry runs.

. "$(dirname "$0")/lib.sh"

pw_world || exit 1
pwnm_run sync

# ---- explain ----

test_begin_subtest "explain --url --project: the page of the patch in that project only"
test_expect_equal "$(pwnm explain --url --project beta 'p1@example.org') $(pwnm explain --url --project=alpha '<p1@example.org>')" \
	"$STANDIN_URL/patch/5/ $STANDIN_URL/patch/8/"

test_begin_subtest "explain --project of a project the mail is no patch in: exit 1, one line"
pwnm explain --url --project beta p2@example.org >"$TMP/out" 2>&1
test_expect_equal "$? $(wc -l <"$TMP/out") $(grep -c "is not a patch in beta" "$TMP/out")" "1 1 1"

test_done

#!/usr/bin/env bash
# The server's news read but not taken in (the store refuses a read while
# they are merged): the project counts as not polled, its event cursor and
# full-list time stay, and nothing of it is pushed blind.
. "$(dirname "$0")/lib.sh"

pw_world || exit 1
export PWNM_TOKEN=$MAINT_TOKEN
pwnm_run sync

# ---- the events of a poll ----

test_begin_subtest "a read failure while the events are taken in: the run fails, saying why (once per project)"
standin_admin POST patches/8 '{"state": "rfc"}' >/dev/null
notmuch tag -pw/alpha/under-review +pw/alpha/accepted -- id:p2@example.org
standin_log_clear
PWNM_DEBUG_FAIL_AT=observe-events pwnm sync >"$TMP/out" 2>&1
code=$?
cat "$TMP/out" >>"$test_log"
test_expect_equal "$code $(grep -c 'cannot read the state database: .*PWNM_DEBUG_FAIL_AT' "$TMP/out")" "1 2"

test_begin_subtest "... the events were asked for, and the local change was not pushed blind"
test_expect_equal "$(standin_requests '^GET /api/1.3/events/') $(standin_requests '^PATCH') $(server_state 2 state)" \
	"2 0 under-review"

test_begin_subtest "... the change waits, the server's change is not taken yet"
test_expect_equal "$(pw_tags_of p2@example.org) $(pw_tags_of p1@example.org | tr ' ' '\n' | grep -c '^pw/alpha/rfc$')" \
	"pw/alpha pw/alpha/accepted 0"

test_begin_subtest "the next run takes in the same events (the cursor stayed) and pushes the change"
pwnm sync >"$TMP/out" 2>&1
code=$?
cat "$TMP/out" >>"$test_log"
test_expect_equal "$code $(pw_tags_of p1@example.org | tr ' ' '\n' | grep -c '^pw/alpha/rfc$') $(server_state 2 state)" \
	"0 1 accepted"

# ---- the pages of a full list ----

test_begin_subtest "a read failure while a full list's page is merged: the run fails, saying why (once per project)"
standin_admin POST patches/4 '{"state": "rfc"}' >/dev/null
PWNM_DEBUG_FAIL_AT=observe-page pwnm sync --full >"$TMP/out" 2>&1
code=$?
cat "$TMP/out" >>"$test_log"
test_expect_equal "$code $(grep -c 'cannot read the state database: .*PWNM_DEBUG_FAIL_AT' "$TMP/out") $(pw_tags_of 'odd"id"11@example.org')" \
	"1 2 pw/alpha pw/alpha/new"

test_begin_subtest "... the event cursor did not move past the change: the next run takes it"
pwnm sync >"$TMP/out" 2>&1
code=$?
cat "$TMP/out" >>"$test_log"
test_expect_equal "$code $(pw_tags_of 'odd"id"11@example.org')" "0 pw/alpha pw/alpha/rfc"

test_begin_subtest "a full list whose pages are all taken in moves the time of the last full list"
before=$(pwnm status | grep -m1 'last full list')
sleep 1
pwnm_run sync --full
after=$(pwnm status | grep -m1 'last full list')
test_expect_true [ "$before" != "$after" ]

test_done

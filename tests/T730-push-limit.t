#!/usr/bin/env bash
# The brake on mass changes: a slip of `notmuch tag` over many mails pushes nothing.
. "$(dirname "$0")/lib.sh"

pw_world || exit 1
export PWNM_TOKEN=$MAINT_TOKEN
pwnm_run sync
notmuch config set pwnm.push_limit 2
before=$(standin_admin GET dump)

test_begin_subtest "a slip over every alpha mail: nothing reaches the server, and it says why"
notmuch tag +pw/alpha/superseded -- tag:pw/alpha
standin_log_clear
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$(standin_requests '^PATCH') $(grep -c 'more than pwnm.push_limit (2): nothing pushed' "$TMP/out")" "0 1"

test_begin_subtest "the server is unchanged"
test_expect_equal "$(standin_admin GET dump)" "$before"

test_begin_subtest "the dry run lists what would go"
pwnm push --dry-run >"$TMP/out" 2>&1
test_expect_equal "$(grep -c 'notmuch .* -> superseded' "$TMP/out")" "4"

test_begin_subtest "reverting the tags leaves no trace: nothing waits, nothing is sent"
notmuch tag -pw/alpha/superseded -- tag:pw/alpha
pwnm_run sync
pwnm status >"$TMP/status" 2>&1
test_expect_equal "$(standin_requests '^PATCH') $(grep -c 'outbox: 0 changes waiting' "$TMP/status") $(count_of tag:pw/alpha/superseded)" "0 1 0"

test_begin_subtest "the server is still unchanged"
test_expect_equal "$(standin_admin GET dump)" "$before"

test_begin_subtest "meant it: push --force sends them all"
notmuch tag -pw/alpha/new -pw/alpha/under-review +pw/alpha/rfc -- 'tag:pw/alpha and (tag:pw/alpha/new or tag:pw/alpha/under-review)'
pwnm_run sync
n_held=$(standin_requests '^PATCH')
pwnm_run push --force
test_expect_equal "$n_held $(standin_requests '^PATCH') $(standin_admin GET dump | grep -o '"state":"rfc"' | wc -l)" "0 3 3"

test_done

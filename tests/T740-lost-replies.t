#!/usr/bin/env bash
# A PATCH that landed but whose reply was lost (or whose run was killed), and a push
# in a run that could not read the server's news: no user change may be lost.
. "$(dirname "$0")/lib.sh"

export PWNM_TOKEN=$MAINT_TOKEN
pw_world || exit 1
pwnm_run sync


test_begin_subtest "the reply of a PATCH that landed is cut: the run fails, the server has it"
notmuch tag -pw/alpha/under-review +pw/alpha/accepted -- id:p2@example.org
standin_admin POST fault '{"mode": "truncated", "count": 1, "match": "^PATCH"}' >/dev/null
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$([ $? -ne 0 ] && echo failed) $(server_state 2 state)" "failed accepted"

test_begin_subtest "a change made after it is pushed, not taken for a conflict"
notmuch tag -pw/alpha/accepted +pw/alpha/rejected -- id:p2@example.org
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$(server_state 2 state) $(pw_tags_of p2@example.org) $(grep -c '^conflict' "$TMP/out")" \
	"rejected pw/alpha pw/alpha/rejected 0"

test_begin_subtest "killed right after the PATCH: the next change still wins"
notmuch tag -pw/alpha/rejected +pw/alpha/rfc -- id:p2@example.org
{ PWNM_DEBUG_CRASH_AT=after-push pwnm sync; } >>"$test_log" 2>&1
notmuch tag -pw/alpha/rfc +pw/alpha/deferred -- id:p2@example.org
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$(server_state 2 state) $(pw_tags_of p2@example.org) $(grep -c '^conflict' "$TMP/out")" \
	"deferred pw/alpha pw/alpha/deferred 0"

test_begin_subtest "a landed PATCH is remembered through a run that could not read the news"
notmuch tag -pw/beta/queued +pw/beta/rfc -- id:p6@example.org
{ PWNM_DEBUG_CRASH_AT=after-push pwnm sync; } >>"$test_log" 2>&1
notmuch tag -pw/beta/rfc +pw/beta/queued -- id:p6@example.org
standin_admin POST fault '{"mode": "503", "count": -1, "match": "^GET"}' >/dev/null
pwnm_run sync
standin_admin POST fault/clear >/dev/null
notmuch tag -pw/beta/queued +pw/beta/deferred -- id:p6@example.org
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$(server_state 6 state) $(pw_tags_of p6@example.org) $(grep -c '^conflict' "$TMP/out")" \
	"deferred pw/beta pw/beta/deferred 0"

test_begin_subtest "landed, then a new change killed before its PATCH: still pushed, no conflict"
notmuch tag -pw/alpha/deferred +pw/alpha/rejected -- id:p2@example.org
{ PWNM_DEBUG_CRASH_AT=after-push pwnm sync; } >>"$test_log" 2>&1
notmuch tag -pw/alpha/rejected +pw/alpha/new -- id:p2@example.org
{ PWNM_DEBUG_CRASH_AT=after-outbox-write pwnm sync; } >>"$test_log" 2>&1
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$(server_state 2 state) $(grep -c '^conflict' "$TMP/out")" "new 0"

test_begin_subtest "reading the news fails: the change is kept, not pushed blind"
standin_admin POST patches/3 '{"state": "superseded"}' >/dev/null
notmuch tag -pw/alpha/accepted +pw/alpha/rejected -- id:p3@example.org
standin_admin POST fault '{"mode": "503", "count": -1, "match": "^GET"}' >/dev/null
pwnm sync >"$TMP/out" 2>&1
code=$?
standin_admin POST fault/clear >/dev/null
test_expect_equal "$code $(server_state 3 state)" "75 superseded"

test_begin_subtest "with the news read, it is a conflict, reported (Patchwork wins by default)"
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$(server_state 3 state) $(grep -c '^conflict: patch 3 alpha' "$TMP/out") $(count_of tag:pw/alpha/superseded)" \
	"superseded 1 1"

test_begin_subtest "the intent cannot be recorded (the store's file cannot grow): nothing is sent"
notmuch tag -pw/alpha/new +pw/alpha/rfc -- id:p2@example.org
standin_log_clear
# Writes past 16 KiB fail with EFBIG (SIGXFSZ ignored): the store's reads work, its commits do not.
( trap '' XFSZ; ulimit -f 16; pwnm sync ) >"$TMP/out" 2>&1
code=$?
test_expect_equal "$code $(standin_requests '^PATCH') $(server_state 2 state) $(grep -c 'cannot record the changes to push.*nothing sent, 1 change kept' "$TMP/out") $(pw_tags_of p2@example.org)" \
	"1 0 new 1 pw/alpha pw/alpha/rfc"

test_begin_subtest "with a store that can be written again, the kept change is pushed"
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$? $(standin_requests '^PATCH') $(server_state 2 state)" "0 1 rfc"

# A PATCH that landed but was never confirmed, then Patchwork set the patch back to the
# value before (A -> B -> A): the values alone cannot tell that from a PATCH that never
# arrived; the server's events after the send can.  Each case starts from p2 in rfc on
# both sides.
p2_rfc() {
	standin_admin POST patches/2 '{"state": "rfc", "delegate": null}' >/dev/null
	pwnm_run sync
}
# set_back_after CMD...: p2 tagged new, sent by CMD (its PATCH landing unconfirmed), then set
# back to rfc on Patchwork; prints the state CMD left on the server, then the next sync's
# (with $NEXT_SYNC's options) exit code, its PATCHes, the server's state, the tags and the
# conflicts said.
set_back_after() {
	p2_rfc
	notmuch tag -pw/alpha/rfc +pw/alpha/new -- id:p2@example.org
	{ "$@"; } >>"$test_log" 2>&1
	server_state 2 state
	standin_admin POST patches/2 '{"state": "rfc"}' >/dev/null
	standin_log_clear
	pwnm sync ${NEXT_SYNC:-} >"$TMP/out" 2>&1
	echo "$? $(standin_requests '^PATCH') $(server_state 2 state) $(pw_tags_of p2@example.org) $(grep -c '^conflict' "$TMP/out")"
}

test_begin_subtest "killed after a PATCH that landed, then set back on Patchwork: not sent again"
test_expect_equal "$(set_back_after env PWNM_DEBUG_CRASH_AT=after-push pwnm sync)" \
	"new
0 0 rfc pw/alpha pw/alpha/rfc 0"

test_begin_subtest "the same with the PATCH's reply cut"
standin_admin POST fault '{"mode": "truncated", "count": 1, "match": "^PATCH"}' >/dev/null
test_expect_equal "$(set_back_after pwnm sync)" \
	"new
0 0 rfc pw/alpha pw/alpha/rfc 0"

test_begin_subtest "the same when the next run is a full list (its newest page of events)"
test_expect_equal "$(NEXT_SYNC=--full set_back_after env PWNM_DEBUG_CRASH_AT=after-push pwnm sync)" \
	"new
0 0 rfc pw/alpha pw/alpha/rfc 0"

test_begin_subtest "landed, set back, and the tag changed again meanwhile: a conflict, not a silent push"
p2_rfc
notmuch tag -pw/alpha/rfc +pw/alpha/new -- id:p2@example.org
{ PWNM_DEBUG_CRASH_AT=after-push pwnm sync; } >>"$test_log" 2>&1
standin_admin POST patches/2 '{"state": "rfc"}' >/dev/null
notmuch tag -pw/alpha/new +pw/alpha/deferred -- id:p2@example.org
standin_log_clear
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$(standin_requests '^PATCH') $(server_state 2 state) $(pw_tags_of p2@example.org) $(grep -c '^conflict: patch 2 alpha.*notmuch says deferred, Patchwork says rfc' "$TMP/out")" \
	"0 rfc pw/alpha pw/alpha/rfc 1"

test_begin_subtest "killed before its PATCH, the server unchanged: sent exactly once"
p2_rfc
notmuch tag -pw/alpha/rfc +pw/alpha/new -- id:p2@example.org
{ PWNM_DEBUG_CRASH_AT=after-outbox-write pwnm sync; } >>"$test_log" 2>&1
unsent=$(server_state 2 state)
standin_log_clear
pwnm sync >"$TMP/out" 2>&1
code=$?
pwnm_run sync
test_expect_equal "$code $unsent $(standin_requests '^PATCH') $(server_state 2 state) $(pw_tags_of p2@example.org)" \
	"0 rfc 1 new pw/alpha pw/alpha/new"

test_begin_subtest "killed before its PATCH, after Patchwork went A -> B -> A before the send: still sent"
p2_rfc
standin_admin POST patches/2 '{"state": "new"}' >/dev/null
standin_admin POST patches/2 '{"state": "rfc"}' >/dev/null
notmuch tag -pw/alpha/rfc +pw/alpha/new -- id:p2@example.org
{ PWNM_DEBUG_CRASH_AT=after-outbox-write pwnm sync; } >>"$test_log" 2>&1
standin_log_clear
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$? $(standin_requests '^PATCH') $(server_state 2 state) $(pw_tags_of p2@example.org)" \
	"0 1 new pw/alpha pw/alpha/new"

test_begin_subtest "a delegate that landed unconfirmed, then removed on Patchwork: not sent again"
p2_rfc
notmuch tag +pw/alpha/delegate/maint -- id:p2@example.org
{ PWNM_DEBUG_CRASH_AT=after-push pwnm sync; } >>"$test_log" 2>&1
landed=$(server_state 2 delegate)
standin_admin POST patches/2 '{"delegate": null}' >/dev/null
standin_log_clear
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$? $landed $(standin_requests '^PATCH') $(server_state 2 delegate) $(pw_tags_of p2@example.org)" \
	"0 maint 0 - pw/alpha pw/alpha/rfc"

test_done

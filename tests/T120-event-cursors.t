#!/usr/bin/env bash
# Event cursors do not trust the server's dates or ids: future-dated events, id jumps and a clock set back.
. "$(dirname "$0")/lib.sh"

pw_world || exit 1
pwnm_run sync

DAY=86400

test_begin_subtest "an event dated three days ahead of the server's clock: its change arrives"
standin_admin POST patches/2 "{\"state\": \"rfc\", \"event_offset\": $((3 * DAY))}" >/dev/null
pwnm_run sync
test_expect_equal "$? $(pw_tags_of p2@example.org)" "0 pw/alpha pw/alpha/rfc"

test_begin_subtest "... and a change made after it (dated now) arrives too"
standin_admin POST patches/3 '{"state": "rejected"}' >/dev/null
pwnm_run sync
test_expect_equal "$(pw_tags_of p3@example.org)" "pw/alpha pw/alpha/archived pw/alpha/delegate/maint pw/alpha/rejected"

test_begin_subtest "... the future-dated event is not taken as the newest value of its patch"
standin_admin POST patches/2 '{"state": "accepted"}' >/dev/null
pwnm_run sync
test_expect_equal "$(pw_tags_of p2@example.org)" "pw/alpha pw/alpha/accepted"

test_begin_subtest "... and after --full the cursor is not stuck on it"
pwnm_run sync --full
standin_admin POST patches/4 '{"state": "deferred"}' >/dev/null
standin_log_clear
measured "a sync after a future-dated event" pwnm sync
test_expect_equal "$(pw_tags_of 'odd"id"11@example.org')" "pw/alpha pw/alpha/deferred"

test_begin_subtest "an event whose id jumps to 2^53: later changes still arrive"
standin_admin POST patches/5 '{"state": "rfc", "event_id": 9007199254740992}' >/dev/null
pwnm_run sync
standin_admin POST patches/6 '{"state": "accepted"}' >/dev/null
pwnm_run sync
test_expect_equal "$(pw_tags_of p1@example.org | tr ' ' '\n' | grep beta | tr '\n' ' ')$(pw_tags_of p6@example.org)" \
	"pw/beta pw/beta/rfc pw/beta pw/beta/accepted"

test_begin_subtest "a server clock two days ahead, then set right: the change made after is not missed"
standin_admin POST clock "{\"offset\": $((2 * DAY))}" >/dev/null
standin_admin POST patches/8 '{"state": "under-review"}' >/dev/null
pwnm_run sync
standin_admin POST clock '{"offset": 0}' >/dev/null
standin_admin POST patches/2 '{"state": "deferred"}' >/dev/null
standin_log_clear
measured "a cursor ahead of the server's clock repaired" pwnm sync
test_expect_equal "$rc $(pw_tags_of p2@example.org) $(grep -c "alpha: the event cursor .* is ahead of the server's clock" "$TMP/out")" \
	"0 pw/alpha pw/alpha/deferred 1"

test_begin_subtest "... the repaired cursor holds: the next change arrives with no full list"
standin_admin POST patches/3 '{"state": "queued"}' >/dev/null
standin_log_clear
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$(pw_tags_of p3@example.org | grep -o 'alpha/queued') $(grep -c 'listing every patch' "$TMP/out") $(standin_requests 'order=id&')" \
	"alpha/queued 0 0"

test_begin_subtest "an event dated two minutes before the cursor (committed late): the next run takes it in"
standin_admin POST patches/6 '{"state": "changes-requested", "event_offset": -120}' >/dev/null
standin_log_clear
PWNM_DEBUG=sync pwnm sync >"$TMP/out" 2>&1
rc=$?
cat "$TMP/out" >>"$test_log"
echo "# backdated event: $(standin_requests .) requests in the sync that takes it in" >&2
test_expect_equal "$rc $(pw_tags_of p6@example.org) $(grep -c 'listing every patch' "$TMP/out") $(standin_requests 'order=id&') $(grep -c 'before the cursor: taken in' "$TMP/out")" \
	"0 pw/beta pw/beta/changes-requested 0 0 1"

test_begin_subtest "... once: the events read again before the cursor are skipped by id, the idle run writes nothing"
rev=$(revision)
standin_log_clear
PWNM_DEBUG=sync pwnm sync >"$TMP/out" 2>&1
rc=$?
cat "$TMP/out" >>"$test_log"
# (the two future-dated events of the subtests above still cost a GET each)
test_expect_equal "$rc $(revision) $(standin_requests 'events') $(standin_requests 'order=-id') $(standin_requests 'patches/6/') $(grep -c 'before the cursor: taken in' "$TMP/out")" \
	"0 $rev 2 2 0 0"

test_begin_subtest "... a change made by hand meanwhile is not undone by the events read again"
notmuch tag -pw/beta/changes-requested +pw/beta/under-review -- id:p6@example.org
PWNM_TOKEN=$MAINT_TOKEN pwnm_run sync
pwnm_run sync
test_expect_equal "$(pw_tags_of p6@example.org) $(server_state 6 state)" "pw/beta pw/beta/under-review under-review"

test_done

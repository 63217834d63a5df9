#!/usr/bin/env bash
# A burst of events (a script changing patches by the hundred): the run after it takes them in,
# the idle runs after that list one page of events a project, as on a quiet server, and write
# nothing.  The stretch kept before the cursor is the newest page: an event reaching the list
# late inside it is taken in by the next run; one dated before it only by the full list.
. "$(dirname "$0")/lib.sh"

pw_world || exit 1
pwnm_run sync
pwnm_run sync

# burst ID COUNT LAST: COUNT state changes of patch ID on the server, one event each, as fast
# as the stand-in takes them (all within the 10 minutes before the cursor), the last to LAST
burst() {
	python3 - "$STANDIN_URL" "$@" <<'EOP'
import json, sys, urllib.request
url, pid, count, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
for i in range(count):
    state = last if i == count - 1 else ("rfc" if i % 2 else "under-review")
    req = urllib.request.Request("%s/_admin/patches/%d" % (url, pid),
                                 data=json.dumps({"state": state}).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
EOP
}

# event_date_at PROJECT N: the date of the project's Nth newest event, plus a microsecond
event_date_at() {
	standin_admin GET events | python3 -c '
import datetime, json, sys
evs = [e for e in json.load(sys.stdin)["events"] if e["project"] == sys.argv[1]]
evs.sort(key=lambda e: e["date"])
d = datetime.datetime.fromisoformat(evs[-int(sys.argv[2])]["date"])
print((d + datetime.timedelta(microseconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%f"))' "$1" "$2"
}

# idle_run: a sync (debug output in $TMP/out) and what it cost: "REQUESTS EVENTS REVISION-KEPT"
idle_run() {
	local rev
	rev=$(revision)
	standin_log_clear
	PWNM_DEBUG=sync pwnm sync >"$TMP/out" 2>&1
	cat "$TMP/out" >>"$test_log"
	echo "$(standin_requests .) $(standin_requests 'events/') $([ "$(revision)" = "$rev" ] && echo kept)"
}

test_begin_subtest "a quiet server: an idle run costs 2 requests a project (events, new patches), writes nothing"
read -r quiet events kept <<<"$(idle_run)"
test_expect_equal "$quiet $events $(standin_requests 'order=-id') $kept" "4 2 2 kept"

burst 2 600 accepted
burst 6 300 accepted

test_begin_subtest "the run after a burst of 900 events takes them in"
standin_log_clear
measured "the sync after a burst of 600 and 300 events" pwnm sync
test_expect_equal "$rc $(pw_tags_of p2@example.org) / $(pw_tags_of p6@example.org)" \
	"0 pw/alpha pw/alpha/accepted / pw/beta pw/beta/accepted"

test_begin_subtest "... the idle run after it costs what it costs on a quiet server, and writes nothing"
test_expect_equal "$(idle_run)" "$quiet 2 kept"

test_begin_subtest "... and so does the next one"
test_expect_equal "$(idle_run)" "$quiet 2 kept"

test_begin_subtest "an event reaching the list late, dated among the newest page before the cursor: taken in"
standin_admin POST patches/3 "{\"state\": \"rfc\", \"event_date\": \"$(event_date_at alpha 100)\"}" >/dev/null
PWNM_DEBUG=sync pwnm sync >"$TMP/out" 2>&1
rc=$?
cat "$TMP/out" >>"$test_log"
test_expect_equal "$rc $(pw_tags_of p3@example.org | grep -o 'alpha/rfc') $(grep -c 'before the cursor: taken in' "$TMP/out")" \
	"0 alpha/rfc 1"

test_begin_subtest "... once: the idle run after it writes nothing"
test_expect_equal "$(idle_run) $(grep -c 'before the cursor: taken in' "$TMP/out")" "$quiet 2 kept 0"

test_begin_subtest "one dated before that page (still within 10 minutes): not seen by the events poll"
standin_admin POST patches/4 "{\"state\": \"deferred\", \"event_date\": \"$(event_date_at alpha 400)\"}" >/dev/null
test_expect_equal "$(idle_run) $(pw_tags_of 'odd"id"11@example.org')" "$quiet 2 kept pw/alpha pw/alpha/new"

test_begin_subtest "... but by the full list"
pwnm_run sync --full
test_expect_equal "$(pw_tags_of 'odd"id"11@example.org')" "pw/alpha pw/alpha/deferred"

test_begin_subtest "... after which the idle run lists one page of events again"
test_expect_equal "$(idle_run)" "$quiet 2 kept"

test_begin_subtest "pages capped at 30 (Patchwork 2.x): after a burst, the idle run lists one page again"
standin_admin POST settings '{"max_per_page": 30}' >/dev/null
burst 2 100 queued
pwnm_run sync
test_expect_equal "$(idle_run) $(pw_tags_of p2@example.org)" "$quiet 2 kept pw/alpha pw/alpha/queued"

standin_admin POST settings '{"max_per_page": 250}' >/dev/null
state=$(pwnm status | sed -n 's/^state: *//p')

test_begin_subtest "ids kept by an older version (no start): listed from 10 minutes back, a late event among them taken in"
meta_put "$state" events_seen.1 "$(standin_admin GET events | python3 -c '
import json, sys
print(";".join(str(e["id"]) for e in json.load(sys.stdin)["events"] if e["project"] == "alpha"))')"
standin_admin POST patches/3 "{\"state\": \"changes-requested\", \"event_date\": \"$(event_date_at alpha 400)\"}" >/dev/null
PWNM_DEBUG=sync pwnm sync >"$TMP/out" 2>&1
rc=$?
cat "$TMP/out" >>"$test_log"
test_expect_equal "$rc $(pw_tags_of p3@example.org | grep -o 'alpha/changes-requested') $(grep -c 'before the cursor: taken in' "$TMP/out")" \
	"0 alpha/changes-requested 1"

test_begin_subtest "... kept anew with its start: the idle run after it lists one page of events"
test_expect_equal "$(idle_run)" "$quiet 2 kept"

test_begin_subtest "a kept stretch whose start is garbled: listed from the cursor, nothing taken in again"
meta_put "$state" events_seen.1 "@junk;1;2;3"
test_expect_equal "$(idle_run) $(grep -c 'before the cursor: taken in' "$TMP/out") $(idle_run)" \
	"$quiet 2 kept 0 $quiet 2 kept"

test_done

#!/usr/bin/env bash
# A broken or slow server: clear one-line errors, retries, and a store that stays consistent.
. "$(dirname "$0")/lib.sh"

pw_world || exit 1

first_line_error() { # the run's stderr has exactly one "pwnm:" error line naming the problem
	grep -c "^pwnm: " "$1"
}

test_begin_subtest "truncated JSON on the first sync: exit 1, one clear error"
standin_admin POST fault '{"mode": "truncated", "count": 1, "match": "patches/\\?"}' >/dev/null
pwnm sync >"$TMP/out" 2>&1
code=$?
test_expect_equal "$code $(grep -c 'not valid JSON' "$TMP/out") $(first_line_error "$TMP/out")" "1 1 1"

test_begin_subtest "the failed run tagged nothing of that project and the next run completes"
pwnm_run sync
test_expect_equal "$(pw_tags_of p2@example.org)" "pw/alpha pw/alpha/under-review"

test_begin_subtest "a 500 then success is retried within the run"
standin_admin POST patches/2 '{"state": "accepted"}' >/dev/null
standin_admin POST fault '{"mode": "500", "count": 1, "match": "events"}' >/dev/null
pwnm_run sync
test_expect_equal "$? $(pw_tags_of p2@example.org)" "0 pw/alpha pw/alpha/accepted"

test_begin_subtest "a connection dropped in the middle of a body is retried"
standin_admin POST patches/2 '{"state": "rejected"}' >/dev/null
standin_admin POST fault '{"mode": "reset", "count": 1, "match": "events"}' >/dev/null
pwnm_run sync
test_expect_equal "$? $(pw_tags_of p2@example.org)" "0 pw/alpha pw/alpha/rejected"

test_begin_subtest "a server that keeps failing: exit 75, the cursor is kept, nothing lost"
standin_admin POST patches/2 '{"state": "new"}' >/dev/null
standin_admin POST fault '{"mode": "503", "count": -1, "match": "project=1"}' >/dev/null
pwnm sync >"$TMP/out" 2>&1
code=$?
test_expect_equal "$code $(pw_tags_of p2@example.org)" "75 pw/alpha pw/alpha/rejected"

test_begin_subtest "the other project still synced in that run"
standin_admin POST fault/clear >/dev/null
standin_admin POST patches/6 '{"state": "rfc"}' >/dev/null
standin_admin POST fault '{"mode": "503", "count": -1, "match": "project=1"}' >/dev/null
pwnm_run sync
test_expect_equal "$(pw_tags_of p6@example.org)" "pw/beta pw/beta/rfc"

test_begin_subtest "once the server is back the missed change arrives"
standin_admin POST fault/clear >/dev/null
pwnm_run sync
test_expect_equal "$(pw_tags_of p2@example.org)" "pw/alpha pw/alpha/new"

test_begin_subtest "a 502 page (HTML) and a 429 with Retry-After are retried within the run"
standin_admin POST patches/2 '{"state": "deferred"}' >/dev/null
standin_admin POST fault '{"mode": "502", "count": 1, "match": "events"}' >/dev/null
standin_admin POST fault '{"mode": "429", "count": 1, "retry_after": 1, "match": "events"}' >/dev/null
pwnm_run sync
test_expect_equal "$? $(pw_tags_of p2@example.org)" "0 pw/alpha pw/alpha/deferred"

test_begin_subtest "a string where an id belongs: a clear error, no crash"
standin_admin POST fault '{"mode": "string-id", "count": 1, "match": "order=-id"}' >/dev/null
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$? $(grep -c "field 'id'" "$TMP/out")" "1 1"

test_begin_subtest "JSON of the wrong shape: a clear error naming the field, no crash"
standin_admin POST patches/2 '{"state": "accepted"}' >/dev/null
standin_admin POST fault '{"mode": "null-state", "count": 1, "match": "order=-id"}' >/dev/null
pwnm sync >"$TMP/out" 2>&1
code=$?
test_expect_equal "$code $(grep -c "field 'state'" "$TMP/out")" "1 1"

test_begin_subtest "an object where a list belongs: a clear error"
standin_admin POST fault '{"mode": "object-for-list", "count": 1, "match": "events"}' >/dev/null
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$? $(grep -c 'expected a JSON array' "$TMP/out")" "1 1"

test_begin_subtest "after the bad answers a good run brings everything"
pwnm_run sync
test_expect_equal "$(pw_tags_of p2@example.org)" "pw/alpha pw/alpha/accepted"

test_begin_subtest "a server that never answers: the run ends in time with exit 75"
standin_admin POST patches/2 '{"state": "rfc"}' >/dev/null
standin_admin POST fault '{"mode": "hang", "count": -1, "seconds": 60}' >/dev/null
notmuch config set pwnm.hook_timeout 2s
notmuch config set pwnm.poll_interval 0s # so the hook asks the server
start=$(date +%s)
pwnm hook post-new >"$TMP/out" 2>&1
code=$?
took=$(( $(date +%s) - start ))
test_expect_equal "$code $([ "$took" -le 6 ] && echo fast)" "0 fast"

test_begin_subtest "the hook logged the reason where pwnm status shows it"
pwnm status >"$TMP/status" 2>&1
test_expect_true grep -qE "last hook error: +post-new: alpha: .*timed out" "$TMP/status"

test_begin_subtest "a redirect is refused and the token never leaves for another host"
standin_admin POST fault/clear >/dev/null
standin_admin POST fault '{"mode": "redirect", "count": 1, "match": "events"}' >/dev/null
PWNM_TOKEN=$MAINT_TOKEN pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$? $(grep -c 'redirect' "$TMP/out")" "1 1"

test_begin_subtest "the store is consistent afterwards: a full sync changes nothing more"
pwnm_run sync
rev=$(revision)
pwnm_run sync --full
test_expect_equal "$(revision) $(pw_tags_of p2@example.org)" "$rev pw/alpha pw/alpha/rfc"

test_begin_subtest "a body far larger than any page: memory stays bounded, a clear error"
standin_admin POST fault '{"mode": "huge", "count": 1, "seconds": 80, "match": "events"}' >/dev/null
peak_rss_kb "$TMP/rss" pwnm sync >"$TMP/out" 2>&1
code=$?
# (under valgrind or a sanitizer the figure is theirs, so only the error is checked there)
bounded=$([ -n "${TEST_VALGRIND:-}${PWNM_SANITIZED:-}" ] || [ "$(tail -1 "$TMP/rss")" -lt 150000 ] && echo bounded)
test_expect_equal "$code $(grep -c 'response larger than' "$TMP/out") $bounded" "1 1 bounded"

test_begin_subtest "a server sending a byte a second: the hook ends within its budget"
standin_admin POST fault '{"mode": "slow", "count": -1, "match": "events"}' >/dev/null
start=$(date +%s)
pwnm hook post-new >"$TMP/out" 2>&1
code=$?
took=$(( $(date +%s) - start ))
standin_admin POST fault/clear >/dev/null
test_expect_equal "$code $([ "$took" -le 6 ] && echo fast)" "0 fast"

test_begin_subtest "a page link to another host is refused (the token stays home)"
standin_admin POST fault '{"mode": "foreign-link", "count": 1, "match": "order=id&"}' >/dev/null
PWNM_TOKEN=$MAINT_TOKEN pwnm sync --full >"$TMP/out" 2>&1
test_expect_equal "$? $(grep -c 'refusing to follow a page link to another host: http://evil.example.invalid/' "$TMP/out")" "1 1"

test_begin_subtest "archiving makes no event: a normal run misses it, --full catches it"
standin_admin POST patches/6 '{"archived": true}' >/dev/null
pwnm_run sync
before=$(pw_tags_of p6@example.org)
pwnm_run sync --full
test_expect_equal "$before / $(pw_tags_of p6@example.org)" \
	"pw/beta pw/beta/rfc / pw/beta pw/beta/archived pw/beta/rfc"

test_begin_subtest "an event cursor the server no longer has (both projects): a full list, nothing lost"
last=$(curl -s "$STANDIN_URL/api/1.3/events/?per_page=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
standin_admin POST patches/2 '{"state": "changes-requested"}' >/dev/null
standin_admin POST events/prune "{\"up_to_id\": $((last + 1))}" >/dev/null
standin_admin POST patches/6 '{"archived": false}' >/dev/null
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$? $(grep -c 'no longer has the event' "$TMP/out") $(pw_tags_of p2@example.org) / $(pw_tags_of p6@example.org)" \
	"0 2 pw/alpha pw/alpha/changes-requested / pw/beta pw/beta/rfc"

test_done

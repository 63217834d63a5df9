#!/usr/bin/env bash
# A hostile or capped server: bodies that inflate, page links that cycle or never end, pages
# capped below what pwnm asks for behind a proxy that drops Link.  Memory and requests stay
# bounded, nothing is missed, every error names the URL.
. "$(dirname "$0")/lib.sh"

pw_world || exit 1
pwnm_run sync

# the peak RSS is the sanitizer's or valgrind's under them: only the error is checked there
under_256m() {
	[ -n "${TEST_VALGRIND:-}${PWNM_SANITIZED:-}" ] || [ "$(tail -1 "$TMP/rss")" -lt 262144 ]
}

test_begin_subtest "a small gzip body that inflates to 30 MiB of JSON: a clear error, memory bounded"
standin_admin POST fault '{"mode": "gzip-bomb", "count": 1, "seconds": 30, "match": "events"}' >/dev/null
measured "gzip body of 30 KiB inflating to 30 MiB" pwnm sync
code=$rc
test_expect_equal "$code $(grep -c 'events.*: response holds more than 2500 items' "$TMP/out") $(under_256m && echo bounded)" \
	"1 1 bounded"

test_begin_subtest "... in a hook too: exit 0, the reason logged, memory bounded"
notmuch config set pwnm.poll_interval 0s
standin_admin POST fault '{"mode": "gzip-bomb", "count": 1, "seconds": 30, "match": "events"}' >/dev/null
measured "the same in the post-new hook" pwnm hook post-new
code=$rc
pwnm status >"$TMP/status" 2>&1
test_expect_equal "$code $(grep -q 'more than 2500 items' "$TMP/status" && echo logged) $(under_256m && echo bounded)" \
	"0 logged bounded"
notmuch config set pwnm.poll_interval 5m

test_begin_subtest "a gzip body that inflates past the size cap is cut off as it inflates"
standin_admin POST fault '{"mode": "gzip-bomb", "count": 1, "seconds": 200, "match": "events"}' >/dev/null
measured "gzip body of 200 KiB inflating to 200 MiB" pwnm sync
code=$rc
test_expect_equal "$code $(grep -c 'response larger than 33554432 bytes' "$TMP/out") $(under_256m && echo bounded)" \
	"1 1 bounded"

test_begin_subtest "page 2 links back to page 1: an error naming the URL, a few requests"
standin_admin POST settings '{"max_per_page": 1, "cycle": true}' >/dev/null
standin_log_clear
measured "page links in a cycle (pwnm projects)" pwnm projects
code=$rc
n=$(standin_requests 'projects/')
test_expect_equal "$code $(grep -c 'GET http://.*page=2.*: the next page link goes back to page 1' "$TMP/out") $([ "$n" -le 3 ] && echo few)" \
	"1 1 few"
standin_admin POST settings '{"cycle": false}' >/dev/null

# From here the server caps pages at 2 patches: alpha's patches are 3 pages.
standin_admin POST settings '{"max_per_page": 2}' >/dev/null

test_begin_subtest "a next link on every page, past the end (each repeating the last page): stopped"
standin_admin POST settings '{"endless": true}' >/dev/null
standin_log_clear
measured "endless next links (pwnm projects)" pwnm projects
code=$rc
n=$(standin_requests 'projects/')
test_expect_equal "$code $(grep -c 'GET http://.*projects/.*: page 2 repeats page 1' "$TMP/out") $([ "$n" -le 3 ] && echo few)" \
	"1 1 few"

test_begin_subtest "... the same on the event list, also without rel=\"last\" (Patchwork 2.x)"
standin_admin POST settings '{"link_last": false}' >/dev/null
standin_admin POST patches/2 '{"state": "deferred"}' >/dev/null
standin_log_clear
measured "endless next links on the events, no rel=last" pwnm sync
code=$rc
n=$(standin_requests 'events/')
# the events are listed from the start of the stretch kept before the cursor, which the first
# sync made of every event of its 10 minutes (they fitted a page of 250): alpha's 6 creations
# and the new change are 4 pages of 2 and the repeat, beta's 2 creations a page and the repeat
test_expect_equal "$code $(grep -c 'GET http://.*events/.*: page [0-9]* repeats page' "$TMP/out") $n" \
	"1 2 7"
standin_admin POST settings '{"endless": false, "link_last": true}' >/dev/null

test_begin_subtest "pages capped below what pwnm asks for, and no Link (a proxy drops it): a first sync reads every page"
standin_admin POST settings '{"link": false}' >/dev/null
standin_log_clear
rm -rf "$XDG_STATE_HOME/pwnm"
notmuch tag -pw/alpha/deferred -pw/alpha -- id:p2@example.org
measured "first sync, pages capped at 2, no Link" pwnm sync
code=$rc
test_expect_equal "$code $(pw_tags_of p2@example.org) / $(pw_tags_of p3@example.org)" \
	"0 pw/alpha pw/alpha/deferred / pw/alpha pw/alpha/accepted pw/alpha/archived pw/alpha/delegate/maint"

test_begin_subtest "... with one warning that the server sends no Link"
test_expect_equal "$(grep -c 'sends no Link header' "$TMP/out")" "1"

test_begin_subtest "... and the incremental poll takes every new patch, not only the newest page"
for i in 11 12 13 14 15; do
	standin_admin POST patches "{\"id\": 1$i, \"project\": \"alpha\", \"msgid\": \"<n$i@example.org>\",
		\"date\": \"$(date -u +%Y-%m-%dT%H:%M:%S)\", \"name\": \"[PATCH] n$i\", \"state\": \"new\",
		\"archived\": false, \"delegate\": null, \"submitter\": \"dev@example.org\"}" >/dev/null
	add_message "<n$i@example.org>" "[PATCH] n$i"
done
notmuch new >>"$test_log" 2>&1
measured "incremental poll of 5 new patches, pages capped at 2, no Link" pwnm sync
tagged=0
for i in 11 12 13 14 15; do
	[ "$(pw_tags_of n$i@example.org)" = "pw/alpha pw/alpha/new" ] && tagged=$((tagged + 1))
done
test_expect_equal "$tagged" "5"
standin_admin POST settings '{"link": true, "max_per_page": 250}' >/dev/null

test_done

#!/usr/bin/env bash
# First sync, incremental pulls, idle runs, odd msgids, cross-posts, late mail, dry runs.
. "$(dirname "$0")/lib.sh"

pw_world || exit 1

test_begin_subtest "first sync succeeds"
test_expect_success pwnm sync

test_begin_subtest "a cross-posted mail carries both projects and both states"
test_expect_equal "$(pw_tags_of p1@example.org)" "pw/alpha pw/alpha/new pw/beta pw/beta/changes-requested"

test_begin_subtest "archived and delegate tags"
test_expect_equal "$(pw_tags_of p3@example.org)" \
	"pw/alpha pw/alpha/accepted pw/alpha/archived pw/alpha/delegate/maint"

test_begin_subtest "a Message-ID with quotes and spaces is found"
test_expect_equal "$(pw_tags_of 'odd"id"11@example.org')" "pw/alpha pw/alpha/new"

test_begin_subtest "a custom state slug becomes a tag"
test_expect_equal "$(pw_tags_of p6@example.org)" "pw/beta pw/beta/queued"

test_begin_subtest "a patch older than pwnm.window is not pulled"
test_expect_equal "$(pw_tags_of old8@example.org)" ""

test_begin_subtest "mail that is not a patch is left alone"
test_expect_equal "$(tags_of unrelated@example.org)" "inbox unread"

test_begin_subtest "counts per state"
test_expect_equal "$(count_of tag:pw/alpha/new) $(count_of tag:pw/alpha) $(count_of tag:pw/beta)" "2 4 2"

test_begin_subtest "pwnm status lists the projects and states"
pwnm status >"$TMP/status" 2>&1
test_expect_true grep -q "project alpha (id 1): 5 patches tracked, 1 without mail" "$TMP/status"

rev1=$(revision)
standin_log_clear
test_begin_subtest "an idle second run writes nothing to notmuch"
pwnm_run sync
test_expect_equal "$(revision)" "$rev1"

test_begin_subtest "an idle run sends only the incremental requests (2 per project)"
test_expect_equal "$(standin_requests .)" "4"

test_begin_subtest "an idle run never lists every patch"
test_expect_equal "$(standin_requests 'order=id&')" "0"

test_begin_subtest "a state change on the server reaches the tags"
standin_admin POST patches/2 '{"state": "accepted"}' >/dev/null
pwnm_run sync
test_expect_equal "$(pw_tags_of p2@example.org)" "pw/alpha pw/alpha/accepted"

test_begin_subtest "a delegation on the server reaches the tags"
standin_admin POST patches/8 '{"delegate": "maint"}' >/dev/null
pwnm_run sync
test_expect_equal "$(pw_tags_of p1@example.org)" \
	"pw/alpha pw/alpha/delegate/maint pw/alpha/new pw/beta pw/beta/changes-requested"

test_begin_subtest "only the changed mail was written"
rev2=$(revision)
standin_admin POST patches/6 '{"state": "accepted"}' >/dev/null
pwnm_run sync
test_expect_equal "$(notmuch count --output=messages "lastmod:$((rev2 + 1))..")" "1"

test_begin_subtest "a patch whose mail arrives later is tagged when it comes"
add_message '<p7@example.org>' '[PATCH] seven'
notmuch new >>"$test_log" 2>&1
pwnm_run sync
test_expect_equal "$(pw_tags_of p7@example.org)" "pw/alpha pw/alpha/new"

test_begin_subtest "a patch created on the server after the first sync is pulled"
add_message '<p9@example.org>' '[PATCH] nine'
notmuch new >>"$test_log" 2>&1
standin_admin POST patches '{"id": 9, "project": "alpha", "msgid": "<p9@example.org>", "date": "2026-11-01T10:00:00", "name": "[PATCH] nine", "state": "new", "archived": false, "delegate": null, "submitter": "dev@example.org"}' >/dev/null
pwnm_run sync
test_expect_equal "$(pw_tags_of p9@example.org)" "pw/alpha pw/alpha/new"

test_begin_subtest "--dry-run prints the change and writes nothing"
standin_admin POST patches/4 '{"state": "rejected"}' >/dev/null
rev3=$(revision)
pwnm sync --dry-run >"$TMP/dry" 2>&1
test_expect_equal "$(revision) $(grep -c 'patch 4 alpha .*patchwork new -> rejected' "$TMP/dry")" "$rev3 1"

test_begin_subtest "after the dry run a real run applies it"
pwnm_run sync
test_expect_equal "$(pw_tags_of 'odd"id"11@example.org')" "pw/alpha pw/alpha/rejected"

test_begin_subtest "--full re-lists and changes nothing when all agree"
rev4=$(revision)
pwnm_run sync --full
test_expect_equal "$(revision)" "$rev4"

test_begin_subtest "--full --all reaches patches older than the window"
pwnm_run sync --full --all
test_expect_equal "$(pw_tags_of old8@example.org)" "pw/alpha pw/alpha/new"

test_begin_subtest "explain: both patches of a cross-posted mail, agreed, server and tags"
pwnm explain '<p1@example.org>' >"$TMP/explain" 2>&1
test_expect_equal "$(grep -c '^patch [58] in ' "$TMP/explain") $(grep -c 'server: *state changes-requested' "$TMP/explain") $(grep -c '^mail tags: *pw/alpha ' "$TMP/explain")" "2 1 1"

test_begin_subtest "explain --url gives the web pages"
test_expect_equal "$(pwnm explain --url 'p1@example.org' | sort | tr '\n' ' ')" "$STANDIN_URL/patch/5/ $STANDIN_URL/patch/8/ "

test_begin_subtest "explain of an unknown mail: exit 1 and what to do"
pwnm explain nosuch@example.org >"$TMP/out" 2>&1
test_expect_equal "$? $(grep -c 'run .pwnm sync. first' "$TMP/out")" "1 1"

test_begin_subtest "a hook does not ask the server because an unrelated mail was read"
notmuch tag -unread -- id:unrelated@example.org
standin_log_clear
pwnm hook post-new
test_expect_equal "$(standin_requests .)" "0"

test_begin_subtest "a hook asks the server when new mail from a tracked list arrives"
add_message '<p30@example.org>' '[PATCH] thirty' beta@lists.example.org
notmuch new >>"$test_log" 2>&1
standin_log_clear
pwnm hook post-new
test_expect_true [ "$(standin_requests .)" -gt 0 ]

test_begin_subtest "--jobs 1 gives the same tags as the default"
mkdir -p "$TMP/alt"
notmuch dump --format=batch-tag -- tag:pw/alpha or tag:pw/beta | sort >"$TMP/before"
notmuch config set pwnm.state_dir "$TMP/alt/state"
notmuch tag -pw/alpha/new -- id:p1@example.org # a fresh store sees existing tags as not its own
pwnm_run sync --jobs 1
notmuch dump --format=batch-tag -- tag:pw/alpha or tag:pw/beta | sort >"$TMP/after"
test_expect_equal_file "$TMP/after" "$TMP/before"

test_done

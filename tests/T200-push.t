#!/usr/bin/env bash
# Pushing tag changes: the three-way merge, conflicts, refusals, the outbox.
. "$(dirname "$0")/lib.sh"

pw_world || exit 1
pwnm_run sync

patches_sent() { standin_requests "^PATCH $1"; }

test_begin_subtest "no token: pull works, the change waits with a clear message"
notmuch tag -pw/alpha/under-review +pw/alpha/accepted -- id:p2@example.org
pwnm sync >"$TMP/out" 2>&1
test_expect_true grep -q "to be pushed: no API token" "$TMP/out"

test_begin_subtest "nothing was sent without a token"
test_expect_equal "$(patches_sent /)" "0"

export PWNM_TOKEN=$MAINT_TOKEN
test_begin_subtest "with a token the waiting change is pushed"
pwnm_run sync
test_expect_equal "$(server_state 2)" "accepted false -"

test_begin_subtest "it was sent once, with a JSON body"
test_expect_equal "$(patches_sent '/api/1.3/patches/2/')" "1"

test_begin_subtest "later runs neither revert it nor send it again"
pwnm_run sync
pwnm_run sync
test_expect_equal "$(pw_tags_of p2@example.org) $(patches_sent '/api/1.3/patches/2/')" \
	"pw/alpha pw/alpha/accepted 1"

test_begin_subtest "a change made right after a push survives"
notmuch tag -pw/alpha/accepted +pw/alpha/rejected -- id:p2@example.org
pwnm_run sync
test_expect_equal "$(server_state 2) $(pw_tags_of p2@example.org)" \
	"rejected false - pw/alpha pw/alpha/rejected"

test_begin_subtest "archiving from notmuch reaches the server"
notmuch tag +pw/alpha/archived -- id:p2@example.org
pwnm_run sync
test_expect_equal "$(server_state 2)" "rejected true -"

test_begin_subtest "delegating from notmuch reaches the server (known user)"
notmuch tag +pw/alpha/delegate/maint -- id:p2@example.org
pwnm_run sync
test_expect_equal "$(server_state 2)" "rejected true maint"

test_begin_subtest "an idle run sends no PATCH"
standin_log_clear
pwnm_run sync
test_expect_equal "$(patches_sent /)" "0"

test_begin_subtest "a mail in two projects: a change in one is pushed to that patch only"
notmuch tag -pw/beta/changes-requested +pw/beta/accepted -- id:p1@example.org
pwnm_run sync
test_expect_equal "$(server_state 5) / $(server_state 8)" "accepted false - / new false -"

test_begin_subtest "two state tags: the newly added one wins, the old one goes"
notmuch tag +pw/alpha/under-review -- id:p1@example.org
pwnm_run sync
test_expect_equal "$(server_state 8) / $(pw_tags_of p1@example.org)" \
	"under-review false - / pw/alpha pw/alpha/under-review pw/beta pw/beta/accepted"

test_begin_subtest "removing every tag of a project restores them and pushes nothing"
standin_log_clear
notmuch tag -pw/alpha -pw/alpha/under-review -- id:p1@example.org
pwnm_run sync
test_expect_equal "$(pw_tags_of p1@example.org) / $(patches_sent /)" \
	"pw/alpha pw/alpha/under-review pw/beta pw/beta/accepted / 0"

test_begin_subtest "both sides changed: Patchwork wins by default, and it is reported"
standin_admin POST patches/3 '{"state": "superseded"}' >/dev/null
notmuch tag -pw/alpha/accepted +pw/alpha/deferred -- id:p3@example.org
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$(server_state 3) / $(count_of tag:pw/alpha/superseded) / $(grep -c '^conflict: patch 3 alpha' "$TMP/out")" \
	"superseded true maint / 1 / 1"

test_begin_subtest "pwnm.conflict=notmuch: the tags win"
notmuch config set pwnm.conflict notmuch
standin_admin POST patches/3 '{"state": "rfc"}' >/dev/null
notmuch tag -pw/alpha/superseded +pw/alpha/deferred -- id:p3@example.org
pwnm_run sync
test_expect_equal "$(server_state 3) / $(count_of tag:pw/alpha/deferred)" \
	"deferred true maint / 1"

test_begin_subtest "pwnm.conflict=report: both kept, pw/conflict, nothing pushed"
notmuch config set pwnm.conflict report
standin_admin POST patches/3 '{"state": "rfc"}' >/dev/null
notmuch tag -pw/alpha/deferred +pw/alpha/accepted -- id:p3@example.org
pwnm_run sync
test_expect_equal "$(server_state 3) / $(pw_tags_of p3@example.org)" \
	"rfc true maint / pw/alpha pw/alpha/accepted pw/alpha/archived pw/alpha/delegate/maint pw/conflict"

test_begin_subtest "the conflict stays until the user decides"
pwnm_run sync
test_expect_equal "$(server_state 3) $(count_of tag:pw/conflict)" "rfc true maint 1"

test_begin_subtest "pwnm status lists the conflict"
pwnm status >"$TMP/status" 2>&1
test_expect_true grep -q "  1 in conflict, 0 denied" "$TMP/status"

test_begin_subtest "pwnm status says the change is held by the conflict, and what to do"
test_expect_equal "$(grep -c '^outbox: 1 change waiting, 1 held (conflict or push limit)$' "$TMP/status");$(grep '^  patch 3 ' "$TMP/status")" \
	"1;  patch 3 in alpha <p3@example.org>: state accepted: held (conflict): set the tags you want and remove pw/conflict"

test_begin_subtest "removing pw/conflict pushes the user's value"
notmuch tag -pw/conflict -- id:p3@example.org
pwnm_run sync
test_expect_equal "$(server_state 3) $(count_of tag:pw/conflict)" "accepted true maint 0"
notmuch config set pwnm.conflict patchwork

test_begin_subtest "403 for a user without rights: tags reverted, pw/denied, reported"
PWNM_TOKEN=$VIEWER_TOKEN pwnm sync >"$TMP/out" 2>&1 <<<"" &&
notmuch tag -pw/beta/queued +pw/beta/rejected -- id:p6@example.org
PWNM_TOKEN=$VIEWER_TOKEN pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$(server_state 6) / $(pw_tags_of p6@example.org) / $(grep -c '^denied: patch 6' "$TMP/out")" \
	"queued false - / pw/beta pw/beta/queued pw/denied / 1"

test_begin_subtest "a denied change is not retried"
standin_log_clear
PWNM_TOKEN=$VIEWER_TOKEN pwnm_run sync
test_expect_equal "$(patches_sent /)" "0"

test_begin_subtest "removing pw/denied acknowledges it"
notmuch tag -pw/denied -- id:p6@example.org
pwnm_run sync
test_expect_equal "$(pw_tags_of p6@example.org)" "pw/beta pw/beta/queued"

test_begin_subtest "a bad token: one clear error, exit 1, the change kept"
notmuch tag -pw/beta/queued +pw/beta/accepted -- id:p6@example.org
PWNM_TOKEN=0000000000000000000000000000000000000000 pwnm sync >"$TMP/out" 2>&1
code=$?
test_expect_equal "$code $(grep -c 'Invalid token' "$TMP/out") $(server_state 6)" "1 1 queued false -"

test_begin_subtest "a bad token costs one request, however many changes wait"
notmuch tag -pw/alpha/accepted +pw/alpha/superseded -- id:p3@example.org
standin_log_clear
PWNM_TOKEN=0000000000000000000000000000000000000000 pwnm_run push
test_expect_equal "$(patches_sent /)" "1"
notmuch tag -pw/alpha/superseded +pw/alpha/accepted -- id:p3@example.org

test_begin_subtest "the kept change is pushed once a good token is back"
pwnm_run sync
test_expect_equal "$(server_state 6) $(pw_tags_of p6@example.org)" "accepted false - pw/beta pw/beta/accepted"

test_begin_subtest "an unknown state: the agreed state shown again, the valid states are learnt"
notmuch tag -pw/beta/accepted +pw/beta/bogus -- id:p6@example.org
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$(server_state 6) $(pw_tags_of p6@example.org) $(pwnm states beta | grep -c '^superseded$') $(grep -c 'pw/beta/bogus on <p6@example.org>: no such state in beta' "$TMP/out")" \
	"accepted false - pw/beta pw/beta/accepted pw/beta/bogus 1 1"
# the misspelt tag is the user's to remove
notmuch tag -pw/beta/bogus -- id:p6@example.org
pwnm_run sync

test_begin_subtest "server down: the change goes to the outbox, exit 75"
notmuch tag -pw/alpha/new +pw/alpha/rfc -- 'id:"odd""id""11@example.org"'
standin_admin POST fault '{"mode": "503", "count": -1, "match": "^PATCH"}' >/dev/null
pwnm sync >"$TMP/out" 2>&1
code=$?
test_expect_equal "$code $(server_state 4) $(pw_tags_of 'odd"id"11@example.org')" "75 new false - pw/alpha pw/alpha/rfc"

test_begin_subtest "pwnm status shows the waiting change"
pwnm status >"$TMP/status" 2>&1
test_expect_true grep -q "outbox: 1 change waiting" "$TMP/status"

test_begin_subtest "when the server is back the outbox is pushed"
standin_admin POST fault/clear >/dev/null
pwnm_run push
test_expect_equal "$(server_state 4)" "rfc false -"

test_begin_subtest "push --quick still sees a change made on Patchwork: a conflict, not an overwrite"
standin_admin POST patches/4 '{"state": "deferred"}' >/dev/null
notmuch tag -pw/alpha/rfc +pw/alpha/accepted -- 'id:"odd""id""11@example.org"'
pwnm push --quick >"$TMP/out" 2>&1
test_expect_equal "$(server_state 4) $(grep -c '^conflict: patch 4' "$TMP/out") $(pw_tags_of 'odd"id"11@example.org')" \
	"deferred false - 1 pw/alpha pw/alpha/deferred"

test_begin_subtest "push --quick pushes without listing patches"
notmuch tag -pw/alpha/deferred +pw/alpha/accepted -- 'id:"odd""id""11@example.org"'
standin_log_clear
pwnm_run push --quick
test_expect_equal "$(server_state 4) $(standin_requests 'GET /api/1.3/patches/')" "accepted false - 0"

test_begin_subtest "a patch deleted on the server: forgotten, its tags removed"
standin_admin DELETE patches/2 >/dev/null
notmuch tag -pw/alpha/rejected +pw/alpha/accepted -- id:p2@example.org
pwnm_run sync
test_expect_equal "$(pw_tags_of p2@example.org)" ""

test_begin_subtest "--dry-run prints the push and sends nothing"
standin_log_clear
notmuch tag -pw/alpha/new +pw/alpha/accepted -- id:p7@example.org 2>/dev/null
notmuch tag -pw/beta/accepted +pw/beta/rfc -- id:p1@example.org
pwnm sync --dry-run >"$TMP/out" 2>&1
test_expect_equal "$(grep -c 'patch 5 beta <p1@example.org>: notmuch accepted -> rfc' "$TMP/out") $(patches_sent /)" "1 0"
pwnm_run sync

test_begin_subtest "--project: only that project's change goes; the other waits for a full run"
notmuch tag -pw/alpha/accepted +pw/alpha/rfc -- id:p2@example.org 2>/dev/null
notmuch tag -pw/beta/rfc +pw/beta/deferred -- id:p1@example.org
notmuch tag -pw/alpha/under-review +pw/alpha/deferred -- id:p1@example.org
pwnm_run sync --project beta
s1="$(server_state 5) / $(server_state 8)"
pwnm_run sync
test_expect_equal "$s1 // $(server_state 8)" "deferred false - / under-review false - // deferred false -"

test_begin_subtest "a new notmuch database (UUID change): a rescan restores tags, pushes nothing"
notmuch dump >"$TMP/dump"
notmuch tag -pw/beta/deferred +pw/beta/new -- id:p1@example.org # lost by the restore below
rm -rf "$MAILDIR/.notmuch"
notmuch new >>"$test_log" 2>&1
notmuch restore <"$TMP/dump"
notmuch tag -pw/alpha/deferred +pw/alpha/under-review -- id:p1@example.org # an old backup's value
standin_log_clear
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$(patches_sent /) $(pw_tags_of p1@example.org)" \
	"0 pw/alpha pw/alpha/deferred pw/beta pw/beta/deferred"

test_done

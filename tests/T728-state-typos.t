#!/usr/bin/env bash
# A state tag naming no state of its project (pw/alpha/acepted): once pwnm
# knows the project's states (a 400 answer listed them) it is not sent; it
# is named in one short line with the nearest state, the mail keeps its
# agreed state tag, and pwnm status lists it until it is fixed.  A real
# state no patch has shown yet still goes.
. "$(dirname "$0")/lib.sh"

pw_world || exit 1
export PWNM_TOKEN=$MAINT_TOKEN
pwnm_run sync

odd='odd"id"11@example.org'
typo_line='pwnm: pw/alpha/acepted on <odd"id"11@example.org>: no such state in alpha; did you mean pw/alpha/accepted?'

test_begin_subtest "states not known complete: the unknown state is sent once, the 400 becomes one short line"
notmuch tag -pw/alpha/new +pw/alpha/acepted -- "id:\"odd\"\"id\"\"11@example.org\""
standin_log_clear
pwnm sync >"$TMP/out" 2>&1
code=$?
cat "$TMP/out" >>"$test_log"
test_expect_equal "$code $(standin_requests '^PATCH') $(grep -cxF "$typo_line" "$TMP/out") $(grep -c 'denied' "$TMP/out") $(grep -c 'Expected one of' "$TMP/out")" \
	"0 1 1 0 0"

test_begin_subtest "... the mail shows its agreed state again and keeps the misspelt tag, no pw/denied"
test_expect_equal "$(pw_tags_of "$odd") $(server_state 4 state)" "pw/alpha pw/alpha/acepted pw/alpha/new new"

test_begin_subtest "... the states the answer listed are learnt, those no patch has shown too"
pwnm states alpha >"$TMP/states"
test_expect_equal "$(grep -cx 'queued' "$TMP/states") $(grep -cx 'awaiting-upstream' "$TMP/states") $(grep -cx 'acepted' "$TMP/states")" \
	"1 1 0"

test_begin_subtest "pwnm status lists the misspelt tag with its mail and the nearest state"
pwnm status >"$TMP/status" 2>&1
cat "$TMP/status" >>"$test_log"
test_expect_equal "$(grep -cxF '  pw/alpha/acepted on <odd"id"11@example.org>: no such state in alpha; did you mean pw/alpha/accepted?' "$TMP/status")" "1"

test_begin_subtest "states known: a typo is not sent at all, and is named with the nearest state"
notmuch tag -pw/alpha/under-review +pw/alpha/rejectd -- id:p2@example.org
standin_log_clear
pwnm sync >"$TMP/out" 2>&1
code=$?
cat "$TMP/out" >>"$test_log"
test_expect_equal "$code $(standin_requests '^PATCH') $(grep -cxF 'pwnm: pw/alpha/rejectd on <p2@example.org>: no such state in alpha; did you mean pw/alpha/rejected?' "$TMP/out") $(wc -l <"$TMP/out")" \
	"0 0 1 1"

test_begin_subtest "... the agreed state tag is put back beside it"
test_expect_equal "$(pw_tags_of p2@example.org) $(server_state 2 state)" "pw/alpha pw/alpha/rejectd pw/alpha/under-review under-review"

test_begin_subtest "... a typo added beside the agreed state tag is not sent either"
notmuch tag +pw/alpha/rfcc -- id:p1@example.org
standin_log_clear
pwnm sync >"$TMP/out" 2>&1
cat "$TMP/out" >>"$test_log"
test_expect_equal "$(standin_requests '^PATCH') $(grep -cF 'pw/alpha/rfcc on <p1@example.org>: no such state in alpha; did you mean pw/alpha/rfc?' "$TMP/out") $(pw_tags_of p1@example.org | tr ' ' '\n' | grep -c '^pw/alpha/')" \
	"0 1 2"

test_begin_subtest "... a tag near no state says where the states are listed"
notmuch tag +pw/alpha/zzzzzzzz -- id:p1@example.org
pwnm sync >"$TMP/out" 2>&1
cat "$TMP/out" >>"$test_log"
test_expect_equal "$(grep -cxF "pwnm: pw/alpha/zzzzzzzz on <p1@example.org>: no such state in alpha; 'pwnm states alpha' lists them" "$TMP/out")" "1"
notmuch tag -pw/alpha/zzzzzzzz -pw/alpha/rfcc -- id:p1@example.org
pwnm_run sync

test_begin_subtest "a typo on a reply (a state tag for the thread's patches) goes to no patch"
cat >"$MAILDIR/new/reply-1:2," <<EOM
From: Rev Iewer <rev@example.org>
To: alpha@lists.example.org
List-Id: <alpha.lists.example.org>
Subject: Re: [PATCH 1/2] one
Date: Wed, 15 Nov 2023 10:00:00 +0000
Message-ID: <reply1@example.org>
In-Reply-To: <p1@example.org>
References: <p1@example.org>

Looks good.
EOM
notmuch new >>"$test_log" 2>&1
pwnm_run sync
notmuch tag +pw/alpha/acceptd -- id:reply1@example.org
standin_log_clear
pwnm sync >"$TMP/out" 2>&1
cat "$TMP/out" >>"$test_log"
test_expect_equal "$(standin_requests '^PATCH') $(grep -cF 'pw/alpha/acceptd on <reply1@example.org>: no such state in alpha; did you mean pw/alpha/accepted?' "$TMP/out") $(server_state 8 state)" \
	"0 1 new"

test_begin_subtest "a later run that reads no such mail says nothing; --full reads them and names them again"
pwnm sync >"$TMP/out1" 2>&1
standin_log_clear
pwnm sync --full >"$TMP/out2" 2>&1
cat "$TMP/out1" "$TMP/out2" >>"$test_log"
test_expect_equal "$(grep -c 'no such state' "$TMP/out1") $(grep -c 'no such state' "$TMP/out2") $(standin_requests '^PATCH')" "0 2 0"

test_begin_subtest "a real state no alpha patch has shown, but the 400 listed: sent"
notmuch tag -pw/alpha/new +pw/alpha/awaiting-upstream -- id:p1@example.org
standin_log_clear
pwnm_run sync
test_expect_equal "$(standin_requests '^PATCH') $(server_state 8 state)" "1 awaiting-upstream"

test_begin_subtest "beta's states are not known complete: a real state never seen there is sent and taken"
notmuch tag -pw/beta/changes-requested +pw/beta/deferred -- id:p1@example.org
standin_log_clear
pwnm_run sync
test_expect_equal "$(standin_requests '^PATCH') $(server_state 5 state) $(pwnm states beta | grep -cx deferred)" "1 deferred 1"

test_begin_subtest "a typo sent with another change (beta, not known): the other change still goes"
notmuch tag -pw/beta/queued +pw/beta/qeued +pw/beta/archived -- id:p6@example.org
standin_log_clear
pwnm sync >"$TMP/out" 2>&1
code=$?
cat "$TMP/out" >>"$test_log"
test_expect_equal "$code $(standin_requests '^PATCH /api/1.3/patches/6/') $(server_state 6 state archived) $(grep -cxF 'pwnm: pw/beta/qeued on <p6@example.org>: no such state in beta; did you mean pw/beta/queued?' "$TMP/out")" \
	"0 2 queued true 1"

test_begin_subtest "... the mail: agreed state, archived, and the misspelt tag"
test_expect_equal "$(pw_tags_of p6@example.org)" "pw/beta pw/beta/archived pw/beta/qeued pw/beta/queued"

test_begin_subtest "fixed by the user: the state goes, and status no longer lists it"
notmuch tag -pw/alpha/acepted -pw/alpha/new +pw/alpha/accepted -- "id:\"odd\"\"id\"\"11@example.org\""
standin_log_clear
pwnm_run sync
pwnm status >"$TMP/status" 2>&1
test_expect_equal "$(standin_requests '^PATCH') $(server_state 4 state) $(grep -c 'acepted' "$TMP/status") $(grep -c 'rejectd' "$TMP/status")" \
	"1 accepted 0 1"

test_begin_subtest "a misspelt tag only removed: nothing sent, the status line gone"
notmuch tag -pw/alpha/rejectd -- id:p2@example.org
notmuch tag -pw/beta/qeued -- id:p6@example.org
standin_log_clear
pwnm_run sync
test_expect_equal "$(standin_requests '^PATCH') $(pwnm status 2>&1 | grep -c 'naming no state')" "0 0"

test_done

#!/usr/bin/env bash
# T610-account: your Patchwork account (pwnm.user, or found by pwnm sync from
# notmuch's addresses) and the queued changes, in pwnm status and --porcelain.
. "$(dirname "$0")/lib.sh"

pw_world || exit 1

people_asked() { standin_requests '/people/'; }
me_line() { pwnm status 2>&1 | grep '^patchwork user:'; }

test_begin_subtest "without a token pwnm sync asks nothing about people, and status says how to name the account"
pwnm_run sync
test_expect_equal "$(people_asked);$(me_line);$(pwnm status --porcelain)" \
	"0;patchwork user:   not known yet: set pwnm.user, or 'pwnm sync' with an API token finds it from user.primary_email and user.other_email;"

test_begin_subtest "--porcelain: a change waiting for a token is one queued line with the notmuch Message-ID"
notmuch tag -pw/alpha/under-review +pw/alpha/accepted -- id:p2@example.org
pwnm_run sync
test_expect_equal "$(pwnm status --porcelain)" "queued alpha p2@example.org token"

export PWNM_TOKEN=$MAINT_TOKEN
test_begin_subtest "with a token pwnm sync finds the account of user.primary_email, asking once"
standin_log_clear
pwnm_run sync
test_expect_equal "$(people_asked);$(standin_requests '^GET /api/1.3/people/\?q=maint%40example\.org&');$(me_line);$(pwnm status --porcelain)" \
	"1;1;patchwork user:   maint (found from your address maint@example.org);user maint"

test_begin_subtest "the change was pushed: nothing is queued; the next syncs do not ask again"
standin_log_clear
pwnm_run sync
pwnm_run sync
test_expect_equal "$(people_asked);$(pwnm status --porcelain)" "0;user maint"

test_begin_subtest "an address that only contains an account's is none; user.other_email is asked next, in any case"
notmuch config set user.primary_email maint@example.or
notmuch config set user.other_email 'nobody@example.net;Viewer@Example.ORG'
standin_log_clear
pwnm_run sync
test_expect_equal "$(people_asked);$(me_line)" \
	"3;patchwork user:   viewer (found from your address Viewer@Example.ORG)"

test_begin_subtest "no address is an account's: status says so and what to set"
notmuch config set user.primary_email nobody@example.net
notmuch config set user.other_email ''
standin_log_clear
pwnm_run sync
test_expect_equal "$(people_asked);$(me_line);$(pwnm status --porcelain)" \
	"1;patchwork user:   none found for nobody@example.net; set pwnm.user to your Patchwork user name;"

test_begin_subtest "... not asked again, except by --full"
standin_log_clear
pwnm_run sync
n1=$(people_asked)
pwnm_run sync --full
test_expect_equal "$n1;$(people_asked)" "0;1"

test_begin_subtest "pwnm.user names the account: status and --porcelain say it, sync asks nothing"
notmuch config set pwnm.user other
notmuch config set user.primary_email maint@example.org
standin_log_clear
pwnm_run sync
test_expect_equal "$(people_asked);$(me_line);$(pwnm status --porcelain)" \
	"0;patchwork user:   other (pwnm.user);user other"

test_begin_subtest "a pwnm.user with a blank is refused with the fix"
notmuch config set pwnm.user 'my name'
pwnm status >"$TMP/status" 2>&1
test_expect_equal "$(grep -c "^settings: *invalid value 'my name' for pwnm.user: .*notmuch config set pwnm.user VALUE" "$TMP/status")" "1"
notmuch config set pwnm.user ''

test_begin_subtest "--porcelain: a change held by a conflict is 'held', one that failed is 'retry'"
notmuch config set pwnm.conflict report
standin_admin POST patches/3 '{"state": "rfc"}' >/dev/null
notmuch tag -pw/alpha/accepted +pw/alpha/deferred -- id:p3@example.org
pwnm_run sync
standin_admin POST fault '{"mode": "503", "count": -1, "match": "^PATCH"}' >/dev/null
notmuch tag -pw/beta/changes-requested +pw/beta/rfc -- id:p1@example.org
pwnm sync >/dev/null 2>&1
standin_admin POST fault/clear >/dev/null
test_expect_equal "$(pwnm status --porcelain | sort)" \
	"queued alpha p3@example.org held
queued beta p1@example.org retry
user maint"
notmuch config set pwnm.conflict patchwork

test_done

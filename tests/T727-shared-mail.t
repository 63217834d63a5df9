#!/usr/bin/env bash
# One mail, two patches of one project: Patchwork keeps Message-IDs that
# differ only in blanks apart, notmuch does not.  Both patches follow the
# user's state tag on that mail, and a patch the user did not change is
# never sent.
. "$(dirname "$0")/lib.sh"

pw_world || exit 1
standin_stop
python3 - "$TMP/pw.json" <<'EOP'
import json, sys
w = json.load(open(sys.argv[1]))
date = w["patches"][0]["date"]
for pid, msgid, state in ((9, "<dup1@example.org>", "new"), (10, "<dup 1@example.org>", "under-review")):
    w["patches"].append({"id": pid, "project": "alpha", "msgid": msgid, "date": date,
                         "name": "[PATCH] dup", "state": state, "archived": False,
                         "delegate": None, "submitter": "dev@example.org"})
json.dump(w, open(sys.argv[1], "w"))
EOP
standin_start "$TMP/pw.json" || exit 1
notmuch config set pwnm.url "$STANDIN_URL"
add_message '<dup1@example.org>' '[PATCH] dup'
notmuch new >>"$test_log" 2>&1
export PWNM_TOKEN=$MAINT_TOKEN

test_begin_subtest "the mail shows both patches' states, and says once what a state tag on it means"
pwnm sync >"$TMP/out" 2>&1
code=$?
cat "$TMP/out" >>"$test_log"
test_expect_equal "$code $(pw_tags_of dup1@example.org) $(grep -c '^note: <dup1@example.org> is one mail for 2 patches of alpha (9, 10: their Message-IDs differ only in blanks); a state tag set on it goes to both$' "$TMP/out")" \
	"0 pw/alpha pw/alpha/new pw/alpha/under-review 1"

test_begin_subtest "... not again at the next run"
notmuch tag +flagged -- id:dup1@example.org
standin_log_clear
pwnm sync >"$TMP/out" 2>&1
code=$?
cat "$TMP/out" >>"$test_log"
test_expect_equal "$code $(grep -c 'is one mail for' "$TMP/out")" "0 0"

test_begin_subtest "+flagged (no state change): no PATCH, both states stay"
test_expect_equal "$(standin_requests '^PATCH') $(server_state 9 state) $(server_state 10 state) $(pw_tags_of dup1@example.org)" \
	"0 new under-review pw/alpha pw/alpha/new pw/alpha/under-review"

test_begin_subtest "toggling +flagged again and again sends nothing"
standin_log_clear
for i in 1 2 3; do
	notmuch tag -flagged -- id:dup1@example.org
	pwnm_run sync
	notmuch tag +flagged -- id:dup1@example.org
	pwnm_run sync
done
test_expect_equal "$(standin_requests '^PATCH') $(server_state 9 state) $(server_state 10 state)" \
	"0 new under-review"

test_begin_subtest "a state tag added: both patches get it, one PATCH each"
notmuch tag +pw/alpha/accepted -- id:dup1@example.org
standin_log_clear
pwnm_run sync
test_expect_equal "$(standin_requests '^PATCH /api/1.3/patches/9/') $(standin_requests '^PATCH /api/1.3/patches/10/') $(server_state 9 state) $(server_state 10 state) $(pw_tags_of dup1@example.org)" \
	"1 1 accepted accepted pw/alpha pw/alpha/accepted"

test_begin_subtest "... and nothing more at the next runs"
standin_log_clear
notmuch tag -flagged -- id:dup1@example.org
pwnm_run sync
pwnm_run sync
test_expect_equal "$(standin_requests '^PATCH')" "0"

test_begin_subtest "one patch changed on the server: the mail shows both states again, nothing sent"
standin_admin POST patches/10 '{"state": "rfc"}' >/dev/null
pwnm_run sync
notmuch tag +flagged -- id:dup1@example.org
pwnm_run sync
test_expect_equal "$(standin_requests '^PATCH') $(server_state 9 state) $(server_state 10 state) $(pw_tags_of dup1@example.org)" \
	"0 accepted rfc pw/alpha pw/alpha/accepted pw/alpha/rfc"

test_begin_subtest "one of the two state tags removed: the other patch follows the one left"
notmuch tag -pw/alpha/rfc -- id:dup1@example.org
standin_log_clear
pwnm_run sync
test_expect_equal "$(standin_requests '^PATCH /api/1.3/patches/9/') $(standin_requests '^PATCH /api/1.3/patches/10/') $(server_state 9 state) $(server_state 10 state) $(pw_tags_of dup1@example.org)" \
	"0 1 accepted accepted pw/alpha pw/alpha/accepted"

test_begin_subtest "both state tags replaced by one: both patches get it"
standin_admin POST patches/10 '{"state": "rfc"}' >/dev/null
pwnm_run sync
notmuch tag -pw/alpha/accepted -pw/alpha/rfc +pw/alpha/rejected -- id:dup1@example.org
standin_log_clear
pwnm_run sync
test_expect_equal "$(standin_requests '^PATCH') $(server_state 9 state) $(server_state 10 state) $(pw_tags_of dup1@example.org)" \
	"2 rejected rejected pw/alpha pw/alpha/rejected"

test_begin_subtest "every state tag removed: both put back, nothing sent"
standin_admin POST patches/10 '{"state": "rfc"}' >/dev/null
pwnm_run sync
notmuch tag -pw/alpha/rejected -pw/alpha/rfc -- id:dup1@example.org
standin_log_clear
pwnm_run sync
test_expect_equal "$(standin_requests '^PATCH') $(pw_tags_of dup1@example.org)" \
	"0 pw/alpha pw/alpha/rejected pw/alpha/rfc"

test_done

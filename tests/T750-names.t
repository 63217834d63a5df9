#!/usr/bin/env bash
# The user's names: usernames kept as records, typos in project names and pw/ tags named.
. "$(dirname "$0")/lib.sh"

pw_world || exit 1
# a user whose name holds ';' and '=': "x;maint" (id 7), once joined into one string, read back as maint
standin_stop
python3 - "$TMP/pw.json" <<'EOP'
import json, sys
w = json.load(open(sys.argv[1]))
w["users"].append({"id": 7, "username": "x;maint", "email": "x@example.org", "token": None})
w["users"].append({"id": 8, "username": "a=b", "email": "ab@example.org", "token": None})
w["projects"][0]["maintainers"] += ["x;maint", "a=b"]
json.dump(w, open(sys.argv[1], "w"))
EOP
standin_start "$TMP/pw.json" || exit 1
notmuch config set pwnm.url "$STANDIN_URL"
export PWNM_TOKEN=$MAINT_TOKEN
pwnm_run sync

test_begin_subtest "usernames with ';' and '=' are learnt as they are, and shown encoded"
standin_admin POST patches/2 '{"delegate": "x;maint"}' >/dev/null
standin_admin POST patches/4 '{"delegate": "a=b"}' >/dev/null
pwnm_run sync
test_expect_equal "$(pw_tags_of p2@example.org | tr ' ' '\n' | grep delegate) $(pw_tags_of 'odd"id"11@example.org' | tr ' ' '\n' | grep delegate)" \
	"pw/alpha/delegate/x%3Bmaint pw/alpha/delegate/a%3Db"

test_begin_subtest "a delegation to maint is sent as maint, not as the user 'x;maint'"
notmuch tag -pw/alpha/delegate/x%3Bmaint +pw/alpha/delegate/maint -- id:p2@example.org
pwnm_run sync
test_expect_equal "$(server_state 2 delegate)" "maint"

test_begin_subtest "and a delegation to 'a=b' as that user"
notmuch tag -pw/alpha/delegate/a%3Db -- 'id:odd"id"11@example.org'
pwnm_run sync
notmuch tag +pw/alpha/delegate/a%3Db -- 'id:odd"id"11@example.org'
pwnm_run sync
test_expect_equal "$(server_state 4 delegate)" "a=b"

state=$(pwnm status | sed -n 's/^state: *//p')

test_begin_subtest "a store with the old joined user list: rebuilt from the patches, not trusted"
# what the old form made of "x;maint" learnt after maint: maint=7
meta_put "$state" users "maint=2;x;maint=7" &&
notmuch tag -pw/alpha/delegate/maint -- id:p2@example.org &&
pwnm_run sync &&
notmuch tag +pw/alpha/delegate/maint -- id:p2@example.org &&
pwnm_run sync
test_expect_equal "$(server_state 2 delegate)" "maint"

test_begin_subtest "pwnm.projects with a typo: the others are synced, and the run says which"
notmuch config set pwnm.projects 'alpha;betta'
standin_admin POST patches/8 '{"state": "rfc"}' >/dev/null
pwnm sync >"$TMP/out" 2>&1
code=$?
cat "$TMP/out" >>"$test_log"
test_expect_equal "$code $(pw_tags_of p1@example.org | tr ' ' '\n' | grep -c pw/alpha/rfc) $(grep -c "^pwnm: betta: no such project on $STANDIN_URL; did you mean beta? fix pwnm.projects\$" "$TMP/out") $(grep -c '^pwnm: projects synced: alpha; not synced: betta$' "$TMP/out")" \
	"1 1 1 1"

test_begin_subtest "a name near none of the server's: the names it has"
notmuch config set pwnm.projects 'alpha;zeta-project'
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$? $(grep -c "zeta-project: no such project on .* (it has: alpha, beta); fix pwnm.projects" "$TMP/out")" "1 1"
notmuch config set pwnm.projects 'alpha;beta'

test_begin_subtest "a pw/ tag naming no tracked project is named by the sync, with the nearest project"
notmuch tag -pw/alpha/new +pw/alpah/accepted -- 'id:odd"id"11@example.org'
pwnm sync >"$TMP/out" 2>&1
code=$?
cat "$TMP/out" >>"$test_log"
test_expect_equal "$code $(grep -cF 'pwnm: pw/alpah/accepted on <odd"id"11@example.org>: no such project in pwnm.projects; did you mean pw/alpha/accepted?' "$TMP/out")" "0 1"

test_begin_subtest "pwnm status lists it until it is fixed"
pwnm status >"$TMP/status" 2>&1
pwnm_run sync
pwnm status >"$TMP/status2" 2>&1
test_expect_equal "$(grep -c '^  pw/alpah/accepted (1 mail): no such project in pwnm.projects; did you mean pw/alpha/accepted?$' "$TMP/status") $(grep -c 'pw/alpah/accepted' "$TMP/status2")" "1 1"

test_begin_subtest "a later sync that reads no such mail says nothing of it again"
test_expect_equal "$(pwnm sync 2>&1 | grep -c alpah)" "0"

test_begin_subtest "fixed: status no longer lists it, and pw/conflict, pw/denied and tracked projects never"
notmuch tag -pw/alpah/accepted +pw/alpha/new -- 'id:odd"id"11@example.org'
pwnm_run sync
test_expect_equal "$(pwnm status 2>&1 | grep -c 'naming no tracked project')" "0"

test_begin_subtest "a name near no project: the projects tracked"
notmuch tag +pw/zzz-other -- id:p2@example.org
pwnm status >"$TMP/status" 2>&1
notmuch tag -pw/zzz-other -- id:p2@example.org
test_expect_equal "$(grep -c '^  pw/zzz-other (1 mail): no such project in pwnm.projects (alpha, beta); retag the mail$' "$TMP/status")" "1"

test_done

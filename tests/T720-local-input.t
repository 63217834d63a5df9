#!/usr/bin/env bash
# Bad local input: a broken store, a full store, odd mail, unknown names, a missing database.
. "$(dirname "$0")/lib.sh"

pw_world || exit 1

long=$(printf 'x%.0s' $(seq 2000))
standin_admin POST patches "{\"id\": 20, \"project\": \"alpha\", \"msgid\": \"<$long@example.org>\", \"date\": \"2026-11-01T10:00:00\", \"name\": \"[PATCH] long\", \"state\": \"new\", \"archived\": false, \"delegate\": null, \"submitter\": \"dev@example.org\"}" >/dev/null
add_message "<$long@example.org>" '[PATCH] long'
standin_admin POST patches '{"id": 21, "project": "alpha", "msgid": "<zürich-ünïcode@example.org>", "date": "2026-11-01T10:00:00", "name": "[PATCH] unicode", "state": "queued", "archived": false, "delegate": null, "submitter": "dev@example.org"}' >/dev/null
add_message '<zürich-ünïcode@example.org>' '[PATCH] unicode'
cat >"$MAILDIR/new/no-msgid:2," <<EOM
From: Dev Eloper <dev@example.org>
To: alpha@lists.example.org
Subject: [PATCH] no message-id

A patch without a Message-ID header.
EOM
notmuch new >>"$test_log" 2>&1

python3 - "$STANDIN_URL" <<'EOP'
import json, sys, urllib.request
for i in range(100, 700):
    body = {"id": i, "project": "beta", "msgid": "<bulk%d@example.org>" % i, "date": "2026-11-01T10:00:00",
            "name": "[PATCH] bulk %d with a longer subject line to take some room" % i, "state": "new",
            "archived": False, "delegate": None, "submitter": "dev@example.org"}
    req = urllib.request.Request(sys.argv[1] + "/_admin/patches", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(req).read()
EOP

test_begin_subtest "a full state database: a clear error naming what to do"
PWNM_STATE_MAPSIZE=65536 pwnm sync >"$TMP/out" 2>&1
code=$?
test_expect_equal "$code $(grep -c 'state database is full.*PWNM_STATE_MAPSIZE' "$TMP/out")" "1 1"

test_begin_subtest "after the full store, a run with room completes and tags everything"
pwnm_run sync
test_expect_equal "$(pw_tags_of p2@example.org)" "pw/alpha pw/alpha/under-review"

test_begin_subtest "a 2 KiB Message-ID is found and tagged"
# notmuch keeps ids this long as a hash, so look the mail up by subject
test_expect_equal "$(notmuch search --output=tags 'subject:"[PATCH] long"' | grep pw/ | sort | tr '\n' ' ')" "pw/alpha pw/alpha/new "

test_begin_subtest "non-ASCII in a msgid and in a state slug"
standin_admin POST patches/21 '{"state": "queued"}' >/dev/null
test_expect_equal "$(pw_tags_of 'zürich-ünïcode@example.org')" "pw/alpha pw/alpha/queued"

test_begin_subtest "mail without a Message-ID does no harm"
test_expect_equal "$(notmuch count 'subject:"no message-id"') $(notmuch count 'subject:"no message-id" and tag:pw/alpha')" "1 0"

test_begin_subtest "a project the server does not know: one line naming it and the known ones"
notmuch config set pwnm.projects 'alpha;gamma'
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$? $(grep -c "gamma: no such project on .* (it has: alpha, beta); fix pwnm.projects" "$TMP/out")" "1 1"
notmuch config set pwnm.projects 'alpha;beta'

state=$(pwnm status | sed -n 's/^state: *//p')

test_begin_subtest "a garbage state database: a clear error naming it and the way out"
cp "$state/data.mdb" "$TMP/data.mdb.good"
head -c 8192 /dev/urandom >"$state/data.mdb"
pwnm sync >"$TMP/out" 2>&1
code=$?
test_expect_equal "$code $(grep -c "cannot open state database '$state'.*pwnm sync --full --dry-run" "$TMP/out")" "1 1"

test_begin_subtest "a truncated state database: the same"
head -c 12288 "$TMP/data.mdb.good" >"$state/data.mdb"
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$? $(grep -c "cannot open state database" "$TMP/out")" "1 1"

test_begin_subtest "a broken store in pre-new stops notmuch new (local corruption), with the reason"
hook_put pre-new 'exec pwnm hook pre-new'
notmuch new >"$TMP/out" 2>&1
test_expect_equal "$([ $? -ne 0 ] && echo failed) $(grep -c 'cannot open state database' "$TMP/out")" "failed 1"
hook_remove pre-new

test_begin_subtest "rebuilding the store: the dry run shows what differs, nothing is pushed"
export PWNM_TOKEN=$MAINT_TOKEN
rm -rf "$state"
notmuch tag -pw/alpha/under-review +pw/alpha/accepted -- id:p2@example.org
standin_log_clear
pwnm sync --full --dry-run >"$TMP/out" 2>&1
test_expect_equal "$(standin_requests '^PATCH') $(pw_tags_of p2@example.org)" "0 pw/alpha pw/alpha/accepted"

test_begin_subtest "the rebuild takes Patchwork's values and says where the tags differed"
pwnm sync --full >"$TMP/out" 2>&1
test_expect_equal "$(standin_requests '^PATCH') $(pw_tags_of p2@example.org) $(grep -c 'patch 2 alpha <p2@example.org>: the mail said accepted' "$TMP/out")" \
	"0 pw/alpha pw/alpha/under-review 1"

test_begin_subtest "notmuch locked by another writer past the hook's budget: the hook ends in time"
standin_admin POST patches/2 '{"state": "rfc"}' >/dev/null
notmuch config set pwnm.hook_timeout 2s
notmuch config set pwnm.poll_interval 0s
(sleep 6) | notmuch tag --batch &
holder=$!
sleep 0.5
start=$(date +%s%N)
pwnm hook post-new >"$TMP/out" 2>&1
code=$?
took=$(( ($(date +%s%N) - start) / 1000000 ))
test_expect_equal "$code $([ "$took" -lt 4000 ] && echo in-time) $(pwnm status | grep -c 'last hook error: *post-new: the notmuch database is locked')" "0 in-time 1"

test_begin_subtest "nothing was lost: once the lock is gone the change lands"
wait $holder
pwnm_run sync
test_expect_equal "$(pw_tags_of p2@example.org)" "pw/alpha pw/alpha/rfc"
notmuch config set pwnm.hook_timeout 5s
notmuch config set pwnm.poll_interval 5m

test_begin_subtest "a missing notmuch database: one clear line"
mv "$MAILDIR/.notmuch" "$MAILDIR/.notmuch-away"
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$? $(wc -l <"$TMP/out") $(grep -c 'cannot open the notmuch database' "$TMP/out")" "1 1 1"
mv "$MAILDIR/.notmuch-away" "$MAILDIR/.notmuch"

test_begin_subtest "a hook with a wrong setting: exit 0 and one line saying which"
notmuch config set pwnm.hook_timeout soon
pwnm hook post-new >"$TMP/out" 2>&1
test_expect_equal "$? $(grep -c "invalid value 'soon' for pwnm.hook_timeout" "$TMP/out")" "0 1"
notmuch config set pwnm.hook_timeout 5s

test_begin_subtest "a hook with pwnm not set up at all is silent"
notmuch config set pwnm.url ""
pwnm hook post-new >"$TMP/out" 2>&1
test_expect_equal "$? $(wc -c <"$TMP/out")" "0 0"

test_done

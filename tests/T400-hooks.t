#!/usr/bin/env bash
# notmuch new with the hooks installed: tagging in the same run, faults, budget, concurrency, shim.
. "$(dirname "$0")/lib.sh"

pw_world || exit 1
"$PWNM_SRC/install.sh" --hooks-only --bindir "$PWNM_BUILD" --libexecdir "$PWNM_SRC/hooks" \
	>>"$test_log" 2>&1 || { echo "Bail out! install.sh --hooks-only failed"; exit 1; }
notmuch config set pwnm.hook_timeout 2s
BUDGET_MS=$(((2 + 3) * 1000)) # hook_timeout + margin
SHIM=$PWNM_SRC/hooks/pwnm-notmuch

# new_patch ID MSGID [PROJECT]: a patch on the stand-in (its mail is separate)
new_patch() {
	standin_admin POST patches "{\"id\": $1, \"project\": \"${3:-alpha}\", \"msgid\": \"$2\",
		\"date\": \"$(date -u +%Y-%m-%dT%H:%M:%S)\", \"name\": \"[PATCH] $1\", \"state\": \"new\",
		\"archived\": false, \"delegate\": null, \"submitter\": \"dev@example.org\"}" >/dev/null
}

# timed_new: notmuch new, output to $TMP/new.out; sets new_rc and new_ms
timed_new() {
	local t0 t1
	echo "\$ notmuch new" >>"$test_log"
	t0=$(date +%s%N)
	notmuch new >"$TMP/new.out" 2>&1
	new_rc=$?
	t1=$(date +%s%N)
	new_ms=$(((t1 - t0) / 1000000))
	cat "$TMP/new.out" >>"$test_log"
	echo "# exit $new_rc after $new_ms ms" >>"$test_log"
}

# wait_for SECONDS command...: poll until the command succeeds
wait_for() {
	local n=$(($1 * 10))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		n=$((n - 1))
	done
	"$@"
}

state_is() {
	[ "$(server_state "$1" state)" = "$2" ]
}

tags_are() {
	[ "$(pw_tags_of "$1")" = "$2" ]
}


# retry_tag ARGS...: notmuch tag, retried while another writer holds the database
retry_tag() {
	local i
	for i in $(seq 1 100); do
		notmuch tag "$@" 2>>"$TMP/tag.err" && return 0
		sleep 0.05
	done
	return 1
}

# ---- before the first sync ----

test_begin_subtest "before any sync: notmuch new exits 0"
add_message '<hello1@example.org>' 'hello'
timed_new
test_expect_equal "$new_rc" 0

test_begin_subtest "before any sync: the hook prints the hint to run pwnm sync"
test_expect_true grep -q "run 'pwnm sync'" "$TMP/new.out"

test_begin_subtest "before any sync: pre-new and post-new print it once in all"
test_expect_equal "$(grep -c pwnm "$TMP/new.out") $(grep -c "^pwnm: not synced yet; run 'pwnm sync' once$" "$TMP/new.out")" "1 1"

test_begin_subtest "before any sync: the next notmuch new is silent; pwnm status keeps the note"
add_message '<hello2@example.org>' 'hello again'
timed_new
pwnm status >"$TMP/status" 2>&1
test_expect_equal "$new_rc $(grep -c pwnm "$TMP/new.out") $(grep -c "^note: *not synced yet; run 'pwnm sync' once$" "$TMP/status")" "0 0 1"

test_begin_subtest "before any sync: no hook started a sync (no patch or event listed)"
test_expect_equal "$(standin_requests '/(patches|events)/')" 0

test_begin_subtest "before any sync: the hook asks the server nothing"
test_expect_equal "$(standin_requests .)" 0

test_begin_subtest "first pwnm sync"
test_expect_success pwnm sync

test_begin_subtest "after the first sync the note is gone from pwnm status"
pwnm status >"$TMP/status" 2>&1
test_expect_equal "$(grep -c 'not synced yet' "$TMP/status")" "0"

# ---- the normal path ----

test_begin_subtest "new patch mail is tagged in the same notmuch new"
new_patch 11 '<p11@example.org>'
add_message '<p11@example.org>' '[PATCH] eleven'
timed_new
test_expect_equal "$new_rc $(pw_tags_of p11@example.org)" "0 pw/alpha pw/alpha/new"

test_begin_subtest "a hook run that does its work is quiet"
test_expect_true [ -z "$(grep -i pwnm "$TMP/new.out")" ]

test_begin_subtest "an idle notmuch new asks the server nothing"
standin_log_clear
timed_new
test_expect_equal "$new_rc $(standin_requests .)" "0 0"

# ---- faults: nothing is lost, notmuch new stays fast ----

export PWNM_TOKEN=$MAINT_TOKEN

# Stand-in killed.  It is restarted from the same data on the same port;
# the server has changed nothing since the first sync but patch 11.
test_begin_subtest "stand-in down: notmuch new exits 0 within the budget"
notmuch tag +pw/alpha/accepted -pw/alpha/new -- id:p1@example.org
port=$STANDIN_PORT
standin_stop
add_message '<hello2@example.org>' 'hello'
timed_new
[ "$new_rc" = 0 ] && [ "$new_ms" -lt "$BUDGET_MS" ]
test_expect_ok $?

test_begin_subtest "stand-in down: the reason is in pwnm status"
pwnm status >"$TMP/status" 2>&1
test_expect_true grep -q '^last hook error' "$TMP/status"

test_begin_subtest "stand-in down: the reason is in the hook log"
hook_log=$(find "$XDG_STATE_HOME/pwnm" -name hook.log | head -n 1)
test_expect_true [ -s "$hook_log" ]

test_begin_subtest "stand-in back: the next notmuch new pushes the waiting change"
standin_start "$TMP/pw.json" --port "$port" || exit 1
new_patch 11 '<p11@example.org>'
timed_new
test_expect_equal "$new_rc $(server_state 8 state)" "0 accepted"

test_begin_subtest "stand-in back: the change was kept (pwnm push sends it)"
pwnm_run push
test_expect_equal "$(server_state 8 state)" "accepted"

# Stand-in hanging on every API request.
test_begin_subtest "stand-in hanging: notmuch new exits 0 within the budget"
notmuch tag +pw/alpha/rejected -pw/alpha/new -- 'id:"odd""id""11@example.org"'
standin_admin POST fault '{"mode": "hang", "count": -1}' >/dev/null
add_message '<hello3@example.org>' 'hello'
timed_new
[ "$new_rc" = 0 ] && [ "$new_ms" -lt "$BUDGET_MS" ]
test_expect_ok $?

test_begin_subtest "stand-in hanging: the change was not pushed, and is not lost"
standin_admin POST fault/clear '{}' >/dev/null
test_expect_equal "$(server_state 4 state) $(pw_tags_of 'odd"id"11@example.org')" \
	"new pw/alpha pw/alpha/rejected"

test_begin_subtest "stand-in answering again: the next notmuch new pushes it"
timed_new
test_expect_equal "$new_rc $(server_state 4 state)" "0 rejected"

test_begin_subtest "stand-in answering again: the change was kept (pwnm push sends it)"
pwnm_run push
test_expect_equal "$(server_state 4 state)" "rejected"

# Stand-in answering 500 to everything.
test_begin_subtest "stand-in answering 500: notmuch new exits 0 within the budget"
notmuch tag +pw/alpha/accepted -pw/alpha/under-review -- id:p2@example.org
standin_admin POST fault '{"mode": "500", "count": -1}' >/dev/null
add_message '<hello4@example.org>' 'hello'
timed_new
[ "$new_rc" = 0 ] && [ "$new_ms" -lt "$BUDGET_MS" ]
test_expect_ok $?

test_begin_subtest "stand-in answering 500: the reason is in pwnm status"
pwnm status >"$TMP/status" 2>&1
test_expect_true grep -q '^last hook error' "$TMP/status"

test_begin_subtest "stand-in answering 500: the change was not pushed, and is not lost"
standin_admin POST fault/clear '{}' >/dev/null
test_expect_equal "$(server_state 2 state) $(pw_tags_of p2@example.org)" \
	"under-review pw/alpha pw/alpha/accepted"

test_begin_subtest "stand-in healthy again: the next notmuch new pushes it"
timed_new
test_expect_equal "$new_rc $(server_state 2 state)" "0 accepted"

test_begin_subtest "stand-in healthy again: the change was kept (pwnm push sends it)"
pwnm_run push
test_expect_equal "$(server_state 2 state)" "accepted"

# ---- concurrency ----

# Two notmuch new at once while patch mail is retagged in a loop.  Every
# value is set once per patch, so a repeated PATCH body is a duplicate.
for i in 21 22 23; do
	new_patch $i "<p$i@example.org>"
	add_message "<p$i@example.org>" "[PATCH] $i"
done
timed_new
standin_log_clear
: >"$TMP/tag.err"
(
	for v in under-review changes-requested rfc deferred; do
		for i in 21 22 23; do
			retry_tag -pw/alpha/new -pw/alpha/under-review -pw/alpha/changes-requested \
				-pw/alpha/rfc +pw/alpha/$v -- id:p$i@example.org || exit 1
		done
		sleep 0.3
	done
) &
loop_pid=$!
timeout 30 notmuch new >>"$TMP/new1.out" 2>&1 &
new1_pid=$!
timeout 30 notmuch new >>"$TMP/new2.out" 2>&1 &
new2_pid=$!
sleep 0.5
timeout 30 notmuch new >>"$TMP/new3.out" 2>&1 &
new3_pid=$!
wait $loop_pid
loop_rc=$?
wait $new1_pid
rc1=$?
wait $new2_pid
rc2=$?
wait $new3_pid
rc3=$?
cat "$TMP/new1.out" "$TMP/new2.out" "$TMP/new3.out" "$TMP/tag.err" >>"$test_log"

test_begin_subtest "concurrent: every notmuch new ends, with exit 0"
test_expect_equal "$rc1 $rc2 $rc3" "0 0 0"

test_begin_subtest "concurrent: every notmuch tag got through"
test_expect_equal "$loop_rc" 0

test_begin_subtest "concurrent: the last tag of each patch is on the server after a sync"
timeout 30 pwnm sync >>"$test_log" 2>&1
test_expect_equal "$(server_state 21 state) $(server_state 22 state) $(server_state 23 state)" \
	"deferred deferred deferred"

test_begin_subtest "concurrent: the tags are still the ones set"
test_expect_equal "$(pw_tags_of p21@example.org)" "pw/alpha pw/alpha/deferred"

test_begin_subtest "concurrent: no PATCH was sent twice for the same patch and value"
dups=$(python3 -c '
import collections, json, sys
seen = collections.Counter()
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["method"] == "PATCH":
        seen[(r["path"], r["body"])] += 1
print(sum(1 for n in seen.values() if n > 1))
' "$TMP/standin.log")
test_expect_equal "$dups $(standin_requests '^PATCH /api/1.3/patches/2[123]/' | awk '$1 > 0 { print "some" }')" "0 some"

test_begin_subtest "concurrent: an idle notmuch new afterwards pushes nothing"
standin_log_clear
timed_new
test_expect_equal "$new_rc $(standin_requests '^PATCH')" "0 0"

# ---- background mode ----

# The stand-in answers slowly, so the detached sync visibly ends after
# notmuch new; the budget is raised to fit the slow answers.
test_begin_subtest "background mode: notmuch new returns at once, the tags land later"
notmuch config set pwnm.hook_mode background
notmuch config set pwnm.hook_timeout 15s
new_patch 31 '<p31@example.org>'
add_message '<p31@example.org>' '[PATCH] thirty-one'
standin_admin POST latency '{"ms": 1000}' >/dev/null
timed_new
early=$(pw_tags_of p31@example.org)
wait_for 15 tags_are p31@example.org "pw/alpha pw/alpha/new"
test_expect_equal "$new_rc [$early] $(pw_tags_of p31@example.org)" "0 [] pw/alpha pw/alpha/new"

test_begin_subtest "background mode: notmuch new did not wait for the server"
test_expect_true [ "$new_ms" -lt 1000 ]
standin_admin POST latency '{"ms": 0}' >/dev/null
notmuch config set pwnm.hook_timeout 2s

test_begin_subtest "background mode: a local change still reaches the server"
notmuch tag +pw/alpha/accepted -pw/alpha/new -- id:p31@example.org
timed_new
wait_for 10 state_is 31 accepted
test_expect_equal "$new_rc $(server_state 31 state)" "0 accepted"
notmuch config set pwnm.hook_mode foreground
# The CLI waits for the run lock: the detached run is over after this.
pwnm_run sync

# ---- the tag-change shim ----

test_begin_subtest "shim: passes notmuch's output and exit status through"
"$SHIM" count '*' >"$TMP/shim.out" 2>>"$test_log"
shim_rc=$?
"$SHIM" search --no-such-option '*' >>"$test_log" 2>&1
bad_rc=$?
test_expect_equal "$shim_rc $(cat "$TMP/shim.out") $bad_rc" "0 $(notmuch count '*') 1"

test_begin_subtest "shim: a tag change reaches the server without notmuch new"
new_patch 41 '<p41@example.org>'
add_message '<p41@example.org>' '[PATCH] forty-one'
timed_new
"$SHIM" tag +pw/alpha/accepted -pw/alpha/new -- id:p41@example.org
wait_for 10 state_is 41 accepted
test_expect_equal "$(server_state 41 state)" "accepted"

test_begin_subtest "shim: returns at once while the server hangs"
standin_admin POST fault '{"mode": "hang", "count": -1, "seconds": 5}' >/dev/null
t0=$(date +%s%N)
out=$("$SHIM" tag +pw/alpha/rejected -pw/alpha/accepted -- id:p41@example.org 2>&1)
t1=$(date +%s%N)
echo "$out" >>"$test_log"
standin_admin POST fault/clear '{}' >/dev/null
test_expect_true [ $(((t1 - t0) / 1000000)) -lt 3000 ]

test_begin_subtest "shim: the push held up by the hanging server gets through after it"
wait_for 15 state_is 41 rejected
test_expect_equal "$(server_state 41 state)" "rejected"

test_begin_subtest "shim: installed as 'notmuch' on PATH it finds the real one"
mkdir -p "$TMP/shimbin"
ln -s "$SHIM" "$TMP/shimbin/notmuch"
got=$(PATH=$TMP/shimbin:$PATH timeout 10 notmuch count '*' 2>>"$test_log")
test_expect_equal "$got" "$(notmuch count '*')"

test_begin_subtest "shim: as 'notmuch' on PATH, a tag change is pushed"
PATH=$TMP/shimbin:$PATH timeout 10 notmuch tag +pw/alpha/queued -pw/alpha/rejected \
	-pw/alpha/accepted -- id:p41@example.org >>"$test_log" 2>&1
wait_for 10 state_is 41 queued
test_expect_equal "$(server_state 41 state)" "queued"

# ---- post-insert ----

pwnm_run sync # waits until the shim's detached pushes are done

test_begin_subtest "post-insert: notmuch insert of a known patch's mail gets its tags"
cat >"$TMP/p7.eml" <<'EOM'
From: Dev Eloper <dev@example.org>
To: alpha@lists.example.org
Subject: [PATCH] seven
Date: Tue, 14 Nov 2023 22:33:20 +0000
Message-ID: <p7@example.org>

A patch.
EOM
notmuch insert <"$TMP/p7.eml" >>"$test_log" 2>&1
test_expect_equal "$(pw_tags_of p7@example.org)" "pw/alpha pw/alpha/new"

test_begin_subtest "post-insert: no request to the server"
standin_log_clear
cat >"$TMP/p7b.eml" <<'EOM'
From: Dev Eloper <dev@example.org>
To: alpha@lists.example.org
Subject: Re: [PATCH] seven
Date: Tue, 14 Nov 2023 22:35:20 +0000
Message-ID: <p7-reply@example.org>

A reply.
EOM
notmuch insert <"$TMP/p7b.eml" >>"$test_log" 2>&1
test_expect_equal "$(standin_requests .)" 0

unset PWNM_TOKEN
test_done

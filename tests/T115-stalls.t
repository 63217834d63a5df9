#!/usr/bin/env bash
# A server that stalls or trickles: requests fail on the stall bounds (pwnm.stall_timeout), are
# tried twice at most, and the hooks of one notmuch new keep to pwnm.hook_timeout together.
. "$(dirname "$0")/lib.sh"

pw_world || exit 1
pwnm_run sync
notmuch config set pwnm.stall_timeout 2s

test_begin_subtest "a server that accepts and never answers: pwnm sync ends soon with exit 75"
standin_admin POST patches/2 '{"state": "rfc"}' >/dev/null
standin_log_clear
standin_admin POST fault '{"mode": "hang", "count": -1, "seconds": 120}' >/dev/null
measured "hung server, pwnm sync, 2 projects, 2 s stall bound" pwnm sync
# the first project's request stalls for 2 s, is tried once more; a server that gives no
# answer at all is not asked for the other project
test_expect_equal "$rc $([ "$ms" -lt 20000 ] && echo soon)" "75 soon"

test_begin_subtest "... the stalled request was tried twice, no more, and the error says why"
n=$(standin_requests .)
test_expect_equal "$n $(grep -c 'no data for 2 s after 2 attempts' "$TMP/out")" "2 1"

test_begin_subtest "... one line a project says what waits (the one not asked too)"
test_expect_equal "$(grep -c '^pwnm: alpha: GET .*: no data for 2 s after 2 attempts; its news wait for the next run$' "$TMP/out") $(grep -c '^pwnm: beta: not asked, the server did not answer; its news wait for the next run$' "$TMP/out")" "1 1"

test_begin_subtest "... on a terminal, a note after 2 s of waiting says for whom (once); none without one"
python3 -c '
import os, pty, sys
pty.spawn(sys.argv[1:])' pwnm sync >"$TMP/tty.out" 2>&1
test_expect_equal "$(grep -c "^pwnm: waiting for 127.0.0.1:$STANDIN_PORT…" "$TMP/tty.out") $(grep -c 'waiting for' "$TMP/out")" "1 0"

test_begin_subtest "a server that sends a byte a second: pwnm sync ends soon with exit 75"
standin_admin POST fault/clear >/dev/null
standin_admin POST fault '{"mode": "slow", "count": -1, "match": "events"}' >/dev/null
measured "a byte a second, pwnm sync, 2 s stall bound" pwnm sync
# (its status line and headers trickle too: no header line is whole for seconds, which is
# "no data"; a body that trickles is "slower than", see tst_http)
test_expect_equal "$rc $([ "$ms" -lt 30000 ] && echo soon) $(grep -cE 'GET .*events.*: (no data for 2 s|slower than 1024 bytes/s for 3 s) after 2 attempts' "$TMP/out") $(grep -c 'beta: not asked' "$TMP/out")" \
	"75 soon 1 1"

test_begin_subtest "once the server is back the change arrives"
standin_admin POST fault/clear >/dev/null
pwnm_run sync
test_expect_equal "$(pw_tags_of p2@example.org)" "pw/alpha pw/alpha/rfc"

test_begin_subtest "a slow server that answers within the bound is waited for (the bound is not a run limit)"
standin_admin POST latency '{"ms": 1500}' >/dev/null
standin_admin POST patches/2 '{"state": "accepted"}' >/dev/null
measured "1.5 s a request, within the 2 s stall bound" pwnm sync
standin_admin POST latency '{"ms": 0}' >/dev/null
test_expect_equal "$rc $([ "$ms" -gt 2000 ] && echo longer) $(pw_tags_of p2@example.org)" \
	"0 longer pw/alpha pw/alpha/accepted"

test_begin_subtest "the hooks of one notmuch new keep to pwnm.hook_timeout together (pre-new and post-new)"
"$PWNM_SRC/install.sh" --hooks-only --bindir "$PWNM_BUILD" --libexecdir "$PWNM_SRC/hooks" \
	>>"$test_log" 2>&1
notmuch config set pwnm.hook_timeout 4s
notmuch config set pwnm.stall_timeout 20s
notmuch config set pwnm.poll_interval 0s
export PWNM_TOKEN=$MAINT_TOKEN
# notmuch new with the hooks and nothing to do, on this machine now: what the bound below
# allows beyond the budget grows with it, so a loaded machine does not fail the test
measured "notmuch new, hooks, nothing to do" notmuch new
base=$ms
notmuch tag -pw/alpha/accepted +pw/alpha/rejected -- id:p2@example.org
add_message '<late@example.org>' '[PATCH] late'
standin_admin POST fault '{"mode": "hang", "count": -1, "seconds": 120}' >/dev/null
measured "notmuch new, hooks against a hung server, 4 s budget" notmuch new
# pre-new (the push) and post-new (the poll) both meet the hung server.  The bound is the
# budget plus notmuch new's own time with the hooks (twice the idle run measured above, and
# 1 s); one budget a hook would be 8 s and more.  A sanitizer build starts slower.
limit=$((4000 + 1000 + 2 * base))
[ -n "${PWNM_SANITIZED:-}" ] && limit=$((limit + 1500))
test_expect_equal "$rc $([ "$ms" -lt "$limit" ] && echo within)" "0 within"

test_begin_subtest "... and the change is still queued, pushed once the server is back"
standin_admin POST fault/clear >/dev/null
pwnm_run sync
test_expect_equal "$(server_state 2 state)" "rejected"

test_done

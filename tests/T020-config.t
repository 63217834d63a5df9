#!/usr/bin/env bash
# Settings read through libnotmuch, one-line errors, the token's sources and its secrecy.
. "$(dirname "$0")/lib.sh"

notmuch_setup

test_begin_subtest "no pwnm.url: one line naming the key and the command that sets it"
pwnm sync >"$TMP/out" 2>&1
code=$?
test_expect_equal "$code $(wc -l <"$TMP/out") $(grep -c "pwnm.url is not set: run 'notmuch config set pwnm.url" "$TMP/out")" "1 1 1"

test_begin_subtest "no pwnm.projects: the same"
notmuch config set pwnm.url http://127.0.0.1:9
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$? $(grep -c 'pwnm.projects is not set' "$TMP/out")" "1 1"

test_begin_subtest "not set up for pwnm: a hook says nothing and exits 0"
pwnm hook post-new >"$TMP/out" 2>&1
test_expect_equal "$? $(wc -c <"$TMP/out")" "0 0"

test_begin_subtest "a value of the wrong type is named with what it expects"
notmuch config set pwnm.projects alpha
notmuch config set pwnm.window soon
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$? $(grep -c "invalid value 'soon' for pwnm.window: expected a duration" "$TMP/out")" "1 1"
test_begin_subtest "a setting that is there but wrong: a hook says it in one line and exits 0"
pwnm hook post-new >"$TMP/out" 2>&1
test_expect_equal "$? $(wc -l <"$TMP/out") $(grep -c "invalid value 'soon'" "$TMP/out")" "0 1 1"
notmuch config set pwnm.window 30d

test_begin_subtest "an unknown conflict policy is refused"
notmuch config set pwnm.conflict sometimes
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$? $(grep -c 'expected patchwork, notmuch or report' "$TMP/out")" "1 1"
notmuch config set pwnm.conflict patchwork

test_begin_subtest "unknown command and bad usage exit 2"
pwnm frobnicate >/dev/null 2>&1
c1=$?
pwnm sync --jobs 0 >/dev/null 2>&1
test_expect_equal "$c1 $?" "2 2"

test_begin_subtest "NOTMUCH_CONFIG decides which settings are read (a second profile)"
cp "$NOTMUCH_CONFIG" "$TMP/other-config"
NOTMUCH_CONFIG=$TMP/other-config notmuch config set pwnm.url http://127.0.0.2:9
NOTMUCH_CONFIG=$TMP/other-config pwnm status >"$TMP/out" 2>&1
test_expect_true grep -q "server: *http://127.0.0.2:9" "$TMP/out"

test_begin_subtest "--config FILE works like notmuch's"
pwnm --config "$TMP/other-config" status >"$TMP/out" 2>&1
test_expect_true grep -q "server: *http://127.0.0.2:9" "$TMP/out"

test_begin_subtest "the state directory is private (0700)"
pwnm status >/dev/null 2>&1
dir=$(pwnm status | sed -n 's/^state: *//p')
test_expect_equal "$(stat -c %a "$dir")" "700"

pw_world || exit 1
SECRET=$MAINT_TOKEN

test_begin_subtest "a token file readable by others is refused, with the chmod to run"
mkdir -p "$XDG_CONFIG_HOME/pwnm"
printf '%s\n' "$SECRET" >"$XDG_CONFIG_HOME/pwnm/token"
chmod 644 "$XDG_CONFIG_HOME/pwnm/token"
pwnm_run sync
notmuch tag -pw/alpha/under-review +pw/alpha/rfc -- id:p2@example.org
pwnm push >"$TMP/out" 2>&1
test_expect_equal "$? $(grep -c "run 'chmod 600 " "$TMP/out")" "1 1"

test_begin_subtest "a 0600 token file is used"
chmod 600 "$XDG_CONFIG_HOME/pwnm/token"
notmuch tag -pw/alpha/rfc +pw/alpha/accepted -- id:p2@example.org
pwnm_run sync
test_expect_equal "$(server_state 2 state)" "accepted"

test_begin_subtest "pwnm.token_command: the first line of its output"
rm -f "$XDG_CONFIG_HOME/pwnm/token"
notmuch config set pwnm.token_command "printf '%s\\nsecond line\\n' $SECRET"
notmuch tag -pw/alpha/accepted +pw/alpha/rfc -- id:p2@example.org
pwnm_run sync
test_expect_equal "$(standin_requests '^PATCH' )" "2"

test_begin_subtest "a failing token_command is a clear error"
notmuch config set pwnm.token_command false
notmuch tag -pw/alpha/rfc +pw/alpha/new -- id:p2@example.org
pwnm push >"$TMP/out" 2>&1
test_expect_equal "$? $(grep -c 'pwnm.token_command failed' "$TMP/out")" "1 1"
notmuch config set pwnm.token_command ""

test_begin_subtest "the token is sent only in the header, and never printed at any verbosity"
export PWNM_TOKEN=$SECRET
notmuch tag -pw/alpha/new +pw/alpha/superseded -- id:p2@example.org
PWNM_DEBUG=all pwnm -v sync --dry-run >"$TMP/o1" 2>&1
PWNM_DEBUG=all pwnm -v sync >"$TMP/o2" 2>&1
pwnm status >"$TMP/o3" 2>&1
pwnm explain 2 >"$TMP/o4" 2>&1
PWNM_TOKEN=${SECRET%?}x pwnm sync >"$TMP/o5" 2>&1
found=$(cat "$TMP"/o[1-5] "$TMP/standin.log" "$XDG_STATE_HOME"/pwnm/*/hook.log 2>/dev/null | grep -c "${SECRET:0:20}")
test_expect_equal "$found $(grep -c 'user:maint' "$TMP/standin.log" | sed 's/^[1-9][0-9]*$/some/')" "0 some"

test_begin_subtest "the state database holds no token"
test_expect_equal "$(cat "$XDG_STATE_HOME"/pwnm/*/data.mdb | grep -ac "${SECRET:0:20}")" "0"

test_begin_subtest "state, lock and log files are private (0600)"
notmuch config set pwnm.hook_timeout soon-ish 2>/dev/null
pwnm hook post-new >/dev/null 2>&1
notmuch config set pwnm.hook_timeout 5s
statedir=$(pwnm status | sed -n 's/^state: *//p')
: >"$statedir/hook.log.probe"; rm -f "$statedir/hook.log.probe"
standin_admin POST fault '{"mode": "500", "count": -1}' >/dev/null
notmuch config set pwnm.poll_interval 0s
pwnm hook post-new >/dev/null 2>&1
standin_admin POST fault/clear >/dev/null
test_expect_equal "$(cd "$statedir" && stat -c '%n %a' data.mdb lock.mdb lock hook.log | tr '\n' ' ')" \
	"data.mdb 600 lock.mdb 600 lock 600 hook.log 600 "

test_begin_subtest "a token is refused for plain http to a host that is not loopback"
notmuch config set pwnm.url http://patchwork.example.invalid
notmuch tag -pw/alpha/superseded +pw/alpha/rfc -- id:p2@example.org
pwnm push >"$TMP/out" 2>&1
test_expect_equal "$([ $? -ne 0 ] && echo failed) $(grep -c 'refusing to send the API token over plain http' "$TMP/out")" "failed 1"

test_done

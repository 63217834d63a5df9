#!/usr/bin/env bash
# pwnm-hook: an idle notmuch new costs no pwnm run; any reason hands over to 'pwnm hook'.
. "$(dirname "$0")/lib.sh"

pw_world || exit 1
pwnm_run sync
cat >"$TMP/recorder" <<EOS
#!/bin/sh
echo "\$*" >>"$TMP/called"
exec "$PWNM_BUILD/pwnm" "\$@"
EOS
chmod +x "$TMP/recorder"
export PWNM=$TMP/recorder
called() { if [ -f "$TMP/called" ]; then tr '\n' '|' <"$TMP/called"; rm -f "$TMP/called"; fi; }

test_begin_subtest "idle: neither hook hands over"
pwnm-hook pre-new; pwnm-hook post-new; pwnm-hook post-insert
test_expect_equal "$(called)" ""

test_begin_subtest "a tag change: pre-new hands over"
notmuch tag -pw/alpha/new +pw/alpha/rfc -- id:p1@example.org
pwnm-hook pre-new
test_expect_equal "$(called)" "hook pre-new|"

test_begin_subtest "after pwnm handled it, idle again"
export PWNM_TOKEN=$MAINT_TOKEN
pwnm-hook post-new
called >/dev/null
pwnm-hook post-new
test_expect_equal "$(called)" ""

test_begin_subtest "a poll that is due hands over"
notmuch config set pwnm.poll_interval 0s
pwnm-hook post-new
pwnm-hook pre-new
test_expect_equal "$(called)" "hook post-new|"
notmuch config set pwnm.poll_interval 5m

test_begin_subtest "a push waiting in the outbox hands over"
standin_admin POST fault '{"mode": "503", "count": -1, "match": "^PATCH"}' >/dev/null
notmuch tag -pw/alpha/rfc +pw/alpha/accepted -- id:p1@example.org
pwnm sync >/dev/null 2>&1
called >/dev/null
pwnm-hook pre-new
test_expect_equal "$(called)" "hook pre-new|"
standin_admin POST fault/clear >/dev/null

test_begin_subtest "pwnm.hook_mode off: nothing runs"
notmuch config set pwnm.hook_mode off
pwnm-hook pre-new; pwnm-hook post-new
test_expect_equal "$(called)" ""
notmuch config set pwnm.hook_mode foreground

test_begin_subtest "a setting that is wrong: pwnm hook says so"
notmuch config set pwnm.window never
pwnm-hook post-new >"$TMP/out" 2>&1
test_expect_equal "$? $(called) $(grep -c "invalid value 'never' for pwnm.window" "$TMP/out")" "0 hook post-new| 1"

test_begin_subtest "pwnm-hook loads no HTTP library (not linked, no curl symbol)"
linked=$(ldd "$PWNM_BUILD/pwnm-hook" | grep -c 'libcurl')
symbols=$(nm "$PWNM_BUILD/pwnm-hook" | grep -c ' [UTtDdBb] curl_')
sync_links=$(ldd "$PWNM_BUILD/pwnm" | grep -c 'libcurl')
test_expect_equal "$linked $symbols $sync_links" "0 0 1"

test_done

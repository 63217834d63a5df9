#!/usr/bin/env bash
# pwnm-hook-idle: an idle hook is answered by the stamp; no change slips past it.
. "$(dirname "$0")/lib.sh"

pw_world || exit 1
export PWNM_TOKEN=$MAINT_TOKEN
pwnm_run sync
cat >"$TMP/recorder" <<EOS
#!/bin/sh
echo "\$*" >>"$TMP/called"
exec "$PWNM_BUILD/pwnm" "\$@"
EOS
chmod +x "$TMP/recorder"
export PWNM=$TMP/recorder
called() { if [ -f "$TMP/called" ]; then tr '\n' '|' <"$TMP/called"; rm -f "$TMP/called"; fi; }
# hook NAME: run the entry point as notmuch would; prints "stamp" when the
# stamp answered, "decided" when pwnm-hook did
hook() {
	PWNM_DEBUG=hook pwnm-hook-idle "$1" >"$TMP/hook.out" 2>&1
	echo "\$ pwnm-hook-idle $1" >>"$test_log"
	cat "$TMP/hook.out" >>"$test_log"
	if grep -q "the stamp holds" "$TMP/hook.out"; then echo stamp; else echo decided; fi
}
# settle NAME: run the hook until its stamp holds (two idle answers at most)
settle() {
	local i
	for i in 1 2 3; do
		[ "$(hook "$1")" = stamp ] && return 0
	done
	return 1
}

test_begin_subtest "an idle hook: pwnm-hook decides, then the stamp answers"
test_expect_equal "$(hook pre-new) $(hook pre-new) $(hook pre-new) $(called)" "decided decided stamp "

test_begin_subtest "pwnm-hook-idle loads no notmuch (nor HTTP) library"
if command -v ldd >/dev/null 2>&1; then
	test_expect_equal "$(ldd "$PWNM_BUILD/pwnm-hook-idle" | grep -cE 'notmuch|xapian|curl')" 0
else
	test_expect_true true
fi

test_begin_subtest "a tag change by notmuch tag between runs is seen by the next hook of each kind"
settle post-new && settle post-insert
notmuch tag -pw/alpha/new +pw/alpha/rfc -- id:p1@example.org
r1=$(hook post-insert)
r2=$(hook pre-new)
test_expect_equal "$r1 $r2 $(called)" "decided decided hook post-insert|hook pre-new|"

test_begin_subtest "after pwnm handled it, idle again, by the stamp"
settle pre-new
test_expect_equal "$(called) $(hook pre-new) $(pw_tags_of p1@example.org)" \
	" stamp pw/alpha pw/alpha/rfc pw/beta pw/beta/changes-requested"

test_begin_subtest "a change to a tag outside pw/ is seen too"
settle pre-new
notmuch tag +flagged -- id:p2@example.org
test_expect_equal "$(hook pre-new) $(called)" "decided hook pre-new|"

test_begin_subtest "a write to the state database alone makes the stamp not hold"
settle pre-new
pwnm_run sync
test_expect_equal "$(hook pre-new) $(grep -c 'the state database changed' "$TMP/hook.out")" "decided 1"
called >/dev/null

test_begin_subtest "a change to the settings alone makes the stamp not hold"
notmuch config set pwnm.hook_mode off
notmuch tag -pw/alpha/under-review +pw/alpha/accepted -- id:p2@example.org
settle pre-new
r1=$(called)
notmuch config set pwnm.hook_mode foreground
test_expect_equal "$r1|$(hook pre-new) $(called)" "|decided hook pre-new|"

test_begin_subtest "a poll that falls due by the clock alone makes the stamp not hold"
notmuch config set pwnm.poll_interval 3s
pwnm_run sync
settle post-new
r1=$(called)
sleep 3
test_expect_equal "$r1|$(hook post-new) $(called)" "|decided hook post-new|"
notmuch config set pwnm.poll_interval 5m
pwnm_run sync

test_begin_subtest "PWNM_HOOK_ALWAYS hands over even when the stamp holds"
settle pre-new
PWNM_HOOK_ALWAYS=1 pwnm-hook-idle pre-new >>"$test_log" 2>&1
test_expect_equal "$(called)" "hook pre-new|"

test_begin_subtest "notmuch new runs hooks that are links to the program, named by the link"
HOOK_DIR=$(notmuch config get database.hook_dir)
mkdir -p "$HOOK_DIR"
for h in pre-new post-new post-insert; do ln -sf "$PWNM_BUILD/pwnm-hook-idle" "$HOOK_DIR/$h"; done
notmuch new >>"$test_log" 2>&1
called >/dev/null
notmuch new >>"$test_log" 2>&1
PWNM_DEBUG=hook notmuch new >"$TMP/new.out" 2>&1
test_expect_equal "$(called)|$(grep -c 'idle (the stamp holds)' "$TMP/new.out")" "|2"

test_begin_subtest "the source tree's hook script runs pwnm-hook-idle too: the stamp answers it"
for i in 1 2 3; do
	PWNM=$PWNM_BUILD/pwnm PWNM_DEBUG=hook "$PWNM_SRC/hooks/post-new" >"$TMP/hook.out" 2>&1
	grep -q 'the stamp holds' "$TMP/hook.out" && break
done
test_expect_equal "$(grep -c 'post-new: idle (the stamp holds)' "$TMP/hook.out")" "1"

test_begin_subtest "new patch mail through notmuch new is still tagged"
add_message '<p7@example.org>' '[PATCH] seven'
notmuch new >>"$test_log" 2>&1
test_expect_equal "$(called)|$(pw_tags_of p7@example.org)" "hook post-new||pw/alpha pw/alpha/new"

test_begin_subtest "another name: usage, exit 2"
pwnm-hook-idle pre-commit >"$TMP/out" 2>&1
rc1=$?
ln -sf "$PWNM_BUILD/pwnm-hook-idle" "$TMP/notahook"
"$TMP/notahook" >>"$TMP/out" 2>&1
test_expect_equal "$rc1 $? $(grep -c '^usage: pwnm-hook-idle' "$TMP/out")" "2 2 2"

test_done

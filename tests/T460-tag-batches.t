#!/usr/bin/env bash
# Tag writes in batches: the write lock is let go between them, a mail changed meanwhile is not overwritten.
. "$(dirname "$0")/lib.sh"

export PWNM_TOKEN=$MAINT_TOKEN
pw_world || exit 1

# p1 is a patch of both projects: its mail is written with each project's list (6 writes, 5 mails)
test_begin_subtest "a first sync in batches of one mail: every mail tagged, a batch (at least) a mail"
PWNM_DEBUG=sync PWNM_DEBUG_TAG_BATCH=1 pwnm sync >"$TMP/out" 2>&1
cat "$TMP/out" >>"$test_log"
mails=$(sed -nE 's/.*tags: ([0-9]+) mails in ([0-9]+) batches.*/\1/p' "$TMP/out")
batches=$(sed -nE 's/.*tags: ([0-9]+) mails in ([0-9]+) batches.*/\2/p' "$TMP/out")
test_expect_equal "$mails $([ "${batches:-0}" -ge 5 ] && echo many)|$(pw_tags_of p1@example.org)|$(pw_tags_of p6@example.org)" \
	"6 many|pw/alpha pw/alpha/new pw/beta pw/beta/changes-requested|pw/beta pw/beta/queued"

test_begin_subtest "its own writes in every batch are known as its own: the hook finds nothing to do"
PWNM_HOOK_ALWAYS= pwnm-hook pre-new >>"$test_log" 2>&1
rev=$(revision)
pwnm_run sync --full
test_expect_equal "$(revision)" "$rev"

test_begin_subtest "between two batches notmuch can write at once (the lock is free)"
standin_admin POST patches/2 '{"state": "accepted"}' >/dev/null
standin_admin POST patches/6 '{"state": "rfc"}' >/dev/null
# p2 is written in the first batch, p6 in the second; the run stops between them.
PWNM_DEBUG_TAG_BATCH=1 PWNM_DEBUG_PAUSE_AT=tag-batch pwnm sync >>"$test_log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
	[ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" = T ] && break
	sleep 0.05
done
stopped=$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)
timeout 5 notmuch tag -pw/beta/queued +pw/beta/deferred -- id:p6@example.org
tag_rc=$?
kill -CONT "$pid"
wait "$pid"
run_rc=$?
test_expect_equal "$stopped $tag_rc $run_rc" "T 0 0"

test_begin_subtest "the batch before was written; the mail changed meanwhile was not overwritten"
test_expect_equal "$(pw_tags_of p2@example.org)|$(pw_tags_of p6@example.org)" \
	"pw/alpha pw/alpha/accepted|pw/beta pw/beta/deferred"

test_begin_subtest "the next run takes it up: one state on the mail, the server's or the user's"
pwnm_run sync
test_expect_equal "$(pw_tags_of p6@example.org | tr ' ' '\n' | grep -c '^pw/beta/')" 1

test_done

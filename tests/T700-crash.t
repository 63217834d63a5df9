#!/usr/bin/env bash
# kill -9 at each step of a run: a rerun ends where an uninterrupted run ends, nothing lost.
. "$(dirname "$0")/lib.sh"

ROOT=$TEST_ROOT
export PWNM_TOKEN=$MAINT_TOKEN

# world NAME: a fresh notmuch database + stand-in under $ROOT/NAME, first sync done,
# then the same changes on both sides every time.
world() {
	standin_stop
	world_dirs "$ROOT/$1"
	pw_world || return 1
	pwnm_run sync
	# the server moves ...
	standin_admin POST patches/2 '{"state": "accepted"}' >/dev/null
	standin_admin POST patches/6 '{"state": "rfc"}' >/dev/null
	# ... the user moves ...
	notmuch tag -pw/alpha/accepted +pw/alpha/rejected -- id:p3@example.org
	notmuch tag -pw/alpha/new +pw/alpha/under-review -- 'id:"odd""id""11@example.org"'
	notmuch tag -pw/beta/changes-requested +pw/beta/accepted -- id:p1@example.org
	# ... and the late mail arrives.
	add_message '<p7@example.org>' '[PATCH] seven'
	notmuch new >>"$test_log" 2>&1
}

# outcome: the mail's pw/ tags and the server's states, as one text
outcome() {
	pw_tags_dump
	standin_admin GET dump
	echo
}

world reference || exit 1
pwnm_run sync
outcome >"$ROOT/want"
sed 's/^/# reference: /' "$ROOT/want"
want_patches=$(standin_requests '^PATCH')

test_begin_subtest "the reference run pushed the three local changes"
test_expect_equal "$want_patches" "3"

# tag-batch: between two batches of tag writes (one mail a batch), the first one committed
for point in after-remote after-outbox-write after-push mid-tags tag-batch after-tags before-state-commit after-state-commit; do
	world "$point" || exit 1
	{ PWNM_DEBUG_TAG_BATCH=1 PWNM_DEBUG_CRASH_AT=$point pwnm sync; code=$?; } >>"$test_log" 2>&1
	test_begin_subtest "$point: the run was killed there"
	test_expect_equal "$code" "137"

	pwnm_run sync
	test_begin_subtest "$point: a rerun ends in the same tags and server states"
	outcome >"$TMP/got"
	test_expect_equal_file "$TMP/got" "$ROOT/want"

	test_begin_subtest "$point: at most the in-flight PATCHes were sent twice"
	n=$(standin_requests '^PATCH')
	[ "$n" -ge "$want_patches" ] && [ "$n" -le $((want_patches * 2)) ]
	test_expect_ok $?

	test_begin_subtest "$point: a third run changes nothing and sends no PATCH"
	rev=$(revision)
	standin_log_clear
	pwnm_run sync
	test_expect_equal "$(revision) $(standin_requests '^PATCH')" "$rev 0"
done

test_begin_subtest "kill -9 of a hook during notmuch new: the next notmuch new is clean"
world hook || exit 1
hook_put post-new 'PWNM_DEBUG_CRASH_AT=mid-tags exec pwnm hook post-new'
notmuch config set pwnm.poll_interval 0s
notmuch new >>"$test_log" 2>&1
hook_put post-new 'exec pwnm hook post-new'
notmuch new >>"$test_log" 2>&1
code=$?
outcome >"$TMP/got"
if [ "$code" = 0 ] && cmp -s "$TMP/got" "$ROOT/want"; then test_pass_; else test_fail_ "exit $code" "$(diff "$ROOT/want" "$TMP/got")"; fi

test_done

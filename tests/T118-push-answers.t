#!/usr/bin/env bash
# What a PATCH's answer proves: a 404 that is not the API's, or that the patch's own URL
# contradicts, is not "patch gone"; a 200 naming another patch is not success.  API versions:
# 1.4 is discovered, a stored version that went away is discovered again.
. "$(dirname "$0")/lib.sh"

pw_world || exit 1
pwnm_run sync
export PWNM_TOKEN=$MAINT_TOKEN

test_begin_subtest "a PATCH answered by an HTML 404 (a proxy's page): the patch is kept, the change waits"
notmuch tag -pw/alpha/under-review +pw/alpha/rfc -- id:p2@example.org
standin_admin POST fault '{"mode": "html-404", "count": 1, "match": "^PATCH"}' >/dev/null
pwnm sync >"$TMP/out" 2>&1
code=$?
test_expect_equal "$code $(grep -c 'not an answer of the Patchwork API' "$TMP/out") $(grep -c '^gone' "$TMP/out") $(pw_tags_of p2@example.org)" \
	"75 1 0 pw/alpha pw/alpha/rfc"

test_begin_subtest "... and the next run pushes it"
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$? $(server_state 2 state)" "0 rfc"

test_begin_subtest "a PATCH answered 404 \"Not found.\" while GET of the patch finds it: kept, pushed later"
notmuch tag -pw/alpha/rfc +pw/alpha/deferred -- id:p2@example.org
standin_admin POST fault '{"mode": "api-404", "count": 1, "match": "^PATCH"}' >/dev/null
pwnm sync >"$TMP/out" 2>&1
code=$?
test_expect_equal "$code $(grep -c 'GET of the patch answers that it is there' "$TMP/out") $(grep -c '^gone' "$TMP/out") $(pw_tags_of p2@example.org)" \
	"75 1 0 pw/alpha pw/alpha/deferred"
pwnm_run sync

test_begin_subtest "a patch deleted on the server: PATCH and GET both 404, it is gone"
notmuch tag -pw/alpha/new +pw/alpha/rfc -- id:p1@example.org
standin_admin DELETE patches/8 >/dev/null
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$? $(grep -c '^gone: patch 8 ' "$TMP/out")" "0 1"

test_begin_subtest "a 200 whose body is another patch is not taken as the change landed"
notmuch tag -pw/alpha/deferred +pw/alpha/accepted -- id:p2@example.org
standin_admin POST fault '{"mode": "other-patch", "count": 1, "match": "^PATCH"}' >/dev/null
pwnm sync >"$TMP/out" 2>&1
code=$?
test_expect_equal "$([ "$code" -ne 0 ] && echo failed) $(grep -c 'answered with patch 3, not the one sent' "$TMP/out")" "failed 1"

test_begin_subtest "... the change stays queued and goes out on the next run"
pwnm_run sync
pwnm status >"$TMP/status" 2>&1
test_expect_equal "$(server_state 2 state)" "accepted"

test_begin_subtest "a server offering API 1.4 (Patchwork's main branch): discovered and used"
standin_admin POST settings '{"versions": ["1.0", "1.1", "1.2", "1.3", "1.4"]}' >/dev/null
rm -rf "$XDG_STATE_HOME/pwnm"
standin_log_clear
pwnm sync >"$TMP/out" 2>&1
# (the versions' roots are asked for at once; nothing but 1.3's root is asked of 1.3)
test_expect_equal "$? $([ "$(standin_requests '/api/1\.4/')" -gt 1 ] && echo 1.4) $(standin_requests '/api/1\.3/.')" "0 1.4 0"

test_begin_subtest "the stored version's root answers 404 (downgraded to 1.2): discovered again, the run completes"
standin_admin POST settings '{"versions": ["1.0", "1.1", "1.2"]}' >/dev/null
standin_admin POST patches/6 '{"state": "rfc"}' >/dev/null
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$? $(pw_tags_of p6@example.org)" "0 pw/beta pw/beta/rfc"

test_begin_subtest "... and the next run asks 1.2 directly"
standin_log_clear
pwnm_run sync
test_expect_equal "$(standin_requests '/api/1\.[34]/') $([ "$(standin_requests '/api/1\.2/')" -gt 0 ] && echo 1.2)" "0 1.2"

test_done

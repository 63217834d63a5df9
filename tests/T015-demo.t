#!/usr/bin/env bash
# T015-demo.t - the README's first command (make demo) runs to its end
. "$(dirname "$0")/lib.sh"

test_begin_subtest "the demo runs to its end and shows the pushed state on Patchwork"
TMPDIR=$TMP timeout 120 "$TESTS_DIR/demo.sh" >"$TMP/demo.out" 2>&1
rc=$?
cat "$TMP/demo.out" >>"$test_log"
test_expect_equal "$rc $(grep -cE '^Patchwork now says patch [0-9]+ is: accepted$' "$TMP/demo.out")" "0 1"

test_done

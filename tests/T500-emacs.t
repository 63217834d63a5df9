#!/usr/bin/env bash
# T500-emacs: emacs/pwnm.el byte-compiles and checkdocs clean, and its ERT
# tests pass against a notmuch database tagged as pwnm tags it.

. "$(dirname "$0")/lib.sh"

emacs_setup

EMACS_LOG=$TMP/emacs.log

# ---- byte-compile and checkdoc (on a copy: the tree stays clean) ----

mkdir -p "$TMP/bc"
cp "$PWNM_SRC/emacs/pwnm.el" "$TMP/bc/pwnm.el"

test_begin_subtest "pwnm.el byte-compiles without warnings"
test_expect_success emacs -Q --batch -L "$TMP/bc" -L "$NOTMUCH_EL_DIR" \
	--eval '(setq byte-compile-error-on-warn t)' \
	-f batch-byte-compile "$TMP/bc/pwnm.el"

test_begin_subtest "pwnm.el is checkdoc-clean"
emacs -Q --batch -L "$NOTMUCH_EL_DIR" \
	--eval "(checkdoc-file \"$TMP/bc/pwnm.el\")" >"$TMP/checkdoc.out" 2>&1
test_expect_equal "$?:$(grep -A1 'Warning' "$TMP/checkdoc.out" | tr '\n' ' ')" "0:"

test_begin_subtest "pwnm.el has the package headers and footer"
test_expect_equal "$(head -n 1 "$PWNM_SRC/emacs/pwnm.el" | grep -c 'lexical-binding: t');$(grep -c '^;; Package-Requires: ((emacs "27.1") (notmuch "0.32"))' "$PWNM_SRC/emacs/pwnm.el");$(tail -n 1 "$PWNM_SRC/emacs/pwnm.el")" \
	"1;1;;;; pwnm.el ends here"

# ---- the database ----

notmuch_setup
add_message '<a1@example.org>' '[PATCH 1/2] alpha: one' alpha@lists.example.org
add_message '<a2@example.org>' '[PATCH 2/2] alpha: two' alpha@lists.example.org
add_message '<a3@example.org>' '[PATCH] alpha: three' alpha@lists.example.org
add_message '<a4@example.org>' '[PATCH] alpha: four' alpha@lists.example.org
add_message '<x1@example.org>' '[PATCH] both: cross-posted' 'alpha@lists.example.org, beta@lists.example.org'
add_message '<b1@example.org>' '[PATCH] beta: one' beta@lists.example.org
add_message '<n1@example.org>' 'not a patch' other@lists.example.org
# A reply in the thread of a1: in a search buffer the thread holds two
# messages, only one of them a patch.
cat >"$MAILDIR/new/reply-$$:2," <<'EOM'
From: Re Viewer <rev@example.org>
To: alpha@lists.example.org
Subject: Re: [PATCH 1/2] alpha: one
Date: Wed, 15 Nov 2023 10:00:00 +0000
Message-ID: <r1@example.org>
In-Reply-To: <a1@example.org>
References: <a1@example.org>

Looks good.
EOM
# A series in gamma: a cover letter (no patch) and two patches.
for n in 0 1 2; do
	if [ $n = 0 ]; then irt=""; else irt="In-Reply-To: <s0@example.org>"; fi
	cat >"$MAILDIR/new/series-$n-$$:2," <<EOM
From: Dev Eloper <dev@example.org>
To: gamma@lists.example.org
Subject: [PATCH $n/2] gamma: series
Date: Thu, 16 Nov 2023 10:0$n:00 +0000
Message-ID: <s$n@example.org>
$irt

Part $n.
EOM
done
notmuch new >>"$test_log" 2>&1

notmuch tag --batch <<'EOT'
+pw/alpha +pw/alpha/new -- id:a1@example.org
+pw/alpha +pw/alpha/under-review +pw/alpha/delegate/maint -- id:a2@example.org
+pw/alpha +pw/alpha/new +pw/alpha/archived -- id:a3@example.org
+pw/alpha +pw/alpha/queued +pw/conflict -- id:a4@example.org
+pw/alpha +pw/alpha/accepted +pw/beta +pw/beta/new -- id:x1@example.org
+pw/beta +pw/beta/accepted -- id:b1@example.org
+pw/gamma +pw/gamma/new -- id:s1@example.org
+pw/gamma +pw/gamma/new -- id:s2@example.org
EOT

test_begin_subtest "the database is tagged as pwnm tags it"
test_expect_equal "$(pw_tags_of a4@example.org);$(pw_tags_of x1@example.org);$(count_of 'thread:{id:r1@example.org}');$(count_of 'thread:{id:s0@example.org} and tag:pw/gamma')" \
	"pw/alpha pw/alpha/queued pw/conflict;pw/alpha pw/alpha/accepted pw/beta pw/beta/new;2;2"

# ---- stand-ins for notmuch-pwnm ----

mkdir -p "$TMP/bin"
cat >"$TMP/bin/pwnm-ok" <<EOS
#!/bin/sh
echo "\$*" >>"$TMP/stub.log"
case "\$1" in
push) sleep "\${PWNM_STUB_SLEEP:-0}"; echo "pushed 1 change" ;;
status) cat "$TMP/porcelain" ;;
states) printf 'new\nunder-review\nhandled-elsewhere\narchived\n' ;;
explain)
	# explain --url --project P ID, or explain ID
	case "\$2 \$5" in
	"--url "*@example.org) echo "https://pw.example.org/project/\$4/patch/\$5/" ;;
	"--url "*) echo "notmuch-pwnm: \$5: not a known patch" >&2; exit 1 ;;
	*) echo "patch 1 in alpha: \$2" ;;
	esac ;;
esac
exit 0
EOS
cat >"$TMP/bin/pwnm-fail" <<EOS
#!/bin/sh
echo "\$*" >>"$TMP/stub.log"
echo "notmuch-pwnm: server said no" >&2
echo "second line" >&2
exit 1
EOS
cat >"$TMP/bin/pwnm-later" <<EOS
#!/bin/sh
echo "\$*" >>"$TMP/stub.log"
echo "pwnm: patch 2: PATCH http://127.0.0.1:9/api/1.3/patches/2/: HTTP 503 after 4 attempts; kept for the next run" >&2
exit 75
EOS
chmod +x "$TMP/bin/pwnm-ok" "$TMP/bin/pwnm-fail" "$TMP/bin/pwnm-later"
# What pwnm-ok's "status --porcelain" prints (tests change it for a while).
echo "user maint" >"$TMP/porcelain"

# ---- ERT ----

export PWNM_TEST_TMP=$TMP
export PWNM_TEST_STUB_OK=$TMP/bin/pwnm-ok
export PWNM_TEST_STUB_FAIL=$TMP/bin/pwnm-fail
export PWNM_TEST_STUB_LATER=$TMP/bin/pwnm-later

(cd "$TMP" && emacs -Q --batch -L "$PWNM_SRC/emacs" -L "$NOTMUCH_EL_DIR" \
	-l ert -l "$PWNM_SRC/tests/emacs/pwnm-tests.el" \
	-l "$PWNM_SRC/tests/emacs/pwnm-series-tests.el" \
	-f ert-run-tests-batch-and-exit) >"$EMACS_LOG" 2>&1
ert_rc=$?
cat "$EMACS_LOG" >>"$test_log"

# One TAP line per ERT test, from ERT's own report.
n_ert=0
while read -r verdict name; do
	n_ert=$((n_ert + 1))
	test_begin_subtest "ert: $name"
	case $verdict in
	passed) test_pass_ ;;
	skipped) test_pass_ ;;
	*) test_fail_ "$(grep -A 30 "Test $name condition:" "$EMACS_LOG" | head -n 30)" ;;
	esac
done <<EOF
$(sed -nE 's/^ *(passed|FAILED|failed|skipped) +[0-9]+\/[0-9]+ +([^ ]+).*/\1 \2/p' "$EMACS_LOG")
EOF

test_begin_subtest "ERT ran tests and exited 0"
test_expect_equal "$ert_rc:$([ "$n_ert" -gt 10 ] && echo many)" "0:many"

test_begin_subtest "the tests left the tree clean (no .elc next to pwnm.el)"
test_expect_true [ ! -e "$PWNM_SRC/emacs/pwnm.elc" ]

test_done

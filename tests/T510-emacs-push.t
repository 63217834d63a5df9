#!/usr/bin/env bash
# T510-emacs-push: emacs/pwnm.el with the real pwnm and the Patchwork
# stand-in: the hello section shows what a sync tagged, setting a state
# pushes it in the background, a failed push is reported and kept.

. "$(dirname "$0")/lib.sh"

emacs_setup
command -v curl >/dev/null 2>&1 || test_skip_all "curl is not installed"
[ -x "$PWNM_BUILD/pwnm" ] || test_skip_all "no pwnm binary in $PWNM_BUILD"

export PWNM_E2E_COMMAND=$PWNM_BUILD/pwnm

# emacs_step NAME STEP ARGS...: run one step of tests/emacs/pwnm-e2e.el;
# its files land in $TMP/NAME, its output in the log.
emacs_step() {
	local name=$1
	shift
	export PWNM_E2E_OUT=$TMP/$name
	rm -rf "$PWNM_E2E_OUT"
	mkdir -p "$PWNM_E2E_OUT"
	echo "\$ emacs pwnm-e2e $*" >>"$test_log"
	(cd "$TMP" && emacs -Q --batch -L "$PWNM_SRC/emacs" -L "$NOTMUCH_EL_DIR" \
		-l "$PWNM_SRC/tests/emacs/pwnm-e2e.el" -f pwnm-e2e-main "$@") \
		>>"$test_log" 2>&1
	echo "emacs exited with $?" >>"$test_log"
}

# result NAME KEY: a "KEY: value" line of $TMP/NAME/result.txt
result() {
	sed -n "s/^$2: //p" "$TMP/$1/result.txt" 2>/dev/null
}


# hello_entries FILE: the Patchwork section of a notmuch-hello text as
# "GROUP LABEL COUNT" lines, sorted (GROUP "-" before the first project).
hello_entries() {
	awk '
	/^Patchwork: / { on = 1; started = 0; group = "-"; next }
	!on { next }
	/^[ \t]*$/ { if (started) exit; next }
	{ started = 1 }
	/^[ \t]+[0-9]/ {
		s = $0
		while (match(s, /[0-9]+ (action needed|delegated to me|queued pushes|[^ ]+)/)) {
			e = substr(s, RSTART, RLENGTH)
			n = e; sub(/ .*/, "", n)
			l = e; sub(/^[0-9]+ /, "", l)
			print group, l, n
			s = substr(s, RSTART + RLENGTH)
		}
		next
	}
	{ g = $0; gsub(/^[ \t]+|[ \t]+$/, "", g); group = g }
	' "$1" | sort
}

pw_world || exit 1
pwnm_run sync

# ---- what the first sync tagged ----

# The counts the hello section must show, one "GROUP LABEL QUERY" a line
# in the order of hello_entries; entries matching nothing are not shown.
na='not tag:pw/alpha/archived'
nb='not tag:pw/beta/archived'
hello_queries() {
	cat <<EOF
alpha accepted tag:pw/alpha/accepted and $na
alpha action_needed tag:pw/alpha and (tag:pw/alpha/new or tag:pw/alpha/under-review) and $na
alpha archived tag:pw/alpha/archived
alpha new tag:pw/alpha/new and $na
alpha under-review tag:pw/alpha/under-review and $na
beta action_needed tag:pw/beta and (tag:pw/beta/new or tag:pw/beta/under-review) and $nb
beta changes-requested tag:pw/beta/changes-requested and $nb
beta queued tag:pw/beta/queued and $nb
EOF
}
expected_entries() {
	hello_queries | while read -r group label query; do
		n=$(notmuch count --exclude=false -- "$query")
		[ "$n" -gt 0 ] && echo "$group ${label//_/ } $n"
	done
}

test_begin_subtest "the first sync tagged the world (counts of the hello entries)"
test_expect_equal "$(hello_queries | while read -r g l q; do printf '%s ' "$(notmuch count --exclude=false -- "$q")"; done)" \
	"0 3 1 2 1 0 1 1 "

# ---- 1. the hello section ----

emacs_step hello hello

test_begin_subtest "notmuch-hello has a Patchwork section after the saved searches"
test_expect_equal "$(grep -n -e '^Saved searches: ' -e '^Patchwork: ' "$TMP/hello/hello.txt" 2>/dev/null | sed 's/^[0-9]*://; s/: .*//' | tr '\n' ' ')" \
	"Saved searches Patchwork "

test_begin_subtest "the Patchwork section shows the counts of the synced tags"
hello_entries "$TMP/hello/hello.txt" >"$TMP/hello/got"
expected_entries | sort >"$TMP/hello/want"
test_expect_equal_file "$TMP/hello/got" "$TMP/hello/want"

test_begin_subtest "the section's headings are the projects, alpha first"
test_expect_equal "$(awk '/^Patchwork: /{on=1;next} on && /^[ \t]*$/ && seen {exit} on && /[^ \t]/ {seen=1} on && /^[ \t]+[a-z][^ \t]*[ \t]*$/ {gsub(/[ \t]/,""); printf "%s ", $0}' "$TMP/hello/hello.txt")" \
	"alpha beta "

# ---- the web page of a cross-posted patch, by project name ----

emacs_step browse browse p1@example.org beta

test_begin_subtest "browse on a cross-posted mail offers the projects by name"
test_expect_equal "$(result browse offered) / $(result browse error)" "alpha beta / none"

test_begin_subtest "browse opens the page of the patch in the project chosen"
test_expect_equal "$(result browse url)" "$STANDIN_URL/patch/5/"

# ---- 2. setting a state pushes it ----

export PWNM_TOKEN=$MAINT_TOKEN
standin_log_clear
emacs_step accept set-state p2@example.org alpha accepted

test_begin_subtest "pwnm-set-state ran without error and tagged the mail"
test_expect_equal "$(result accept error) / $(pw_tags_of p2@example.org)" \
	"none / pw/alpha pw/alpha/accepted"

test_begin_subtest "the after-tag hook started one 'pwnm push --quick'"
test_expect_equal "$(result accept pushes)" "$PWNM_BUILD/pwnm push --quick"

test_begin_subtest "the push ended within 15 s with status 0"
test_expect_equal "$(result accept finished) $(result accept exit)" "yes 0"

test_begin_subtest "the stand-in's patch 2 is accepted"
test_expect_equal "$(server_state 2)" "accepted false -"

test_begin_subtest "exactly one PATCH was sent, for patches/2/"
test_expect_equal "$(standin_requests '^PATCH /api/1\.3/patches/2/') $(standin_requests '^PATCH ')" "1 1"

test_begin_subtest "the echo area reported the state set and the push"
test_expect_equal "$(grep -c -e '^pwnm: pushed' -e '^pwnm: alpha: 1 patch accepted$' "$TMP/accept/messages.txt" 2>/dev/null)" "2"

test_begin_subtest "pwnm status: nothing waits in the outbox"
pwnm status >"$TMP/status" 2>&1
test_expect_true grep -q "outbox: 0 changes waiting" "$TMP/status"

# Patch 8 (alpha, p1) delegated to maint on the server; the sync (with the token) also
# finds that maint is the account of user.primary_email.
standin_admin POST patches/8 '{"delegate": "maint"}' >>"$test_log" 2>&1
pwnm_run sync

# ---- 3. a failing push ----

standin_admin POST fault '{"mode": "503", "count": -1, "match": "^PATCH"}' >>"$test_log" 2>&1
standin_log_clear
emacs_step reject set-state p2@example.org alpha rejected

test_begin_subtest "failing push: pwnm-set-state signalled no error, the tags changed"
test_expect_equal "$(result reject error) / $(pw_tags_of p2@example.org)" \
	"none / pw/alpha pw/alpha/rejected"

test_begin_subtest "failing push: one push ran and ended within 15 s, status 75"
test_expect_equal "$(result reject pushes) / $(result reject finished) $(result reject exit)" \
	"$PWNM_BUILD/pwnm push --quick / yes 75"

test_begin_subtest "failing push: the stand-in was asked and answered 503"
test_expect_true [ "$(standin_requests '^PATCH /api/1\.3/patches/2/')" -ge 1 ]

test_begin_subtest "failing push: 'pwnm: stays queued' in *Messages*, with pwnm's reason in words"
test_expect_equal "$(grep -c '^pwnm: stays queued: patch 2: HTTP 503 after [0-9]* attempts; will retry$' "$TMP/reject/messages.txt" 2>/dev/null) $(grep -c 'http://' "$TMP/reject/messages.txt")" "1 0"

test_begin_subtest "failing push: no error in the process sentinel"
test_expect_equal "$(grep -c -i -e 'error in process' -e '^Debugger entered' "$TMP/reject/messages.txt" 2>/dev/null)" "0"

test_begin_subtest "failing push: the stand-in keeps the old state"
test_expect_equal "$(server_state 2)" "accepted false -"

test_begin_subtest "failing push: pwnm status shows 1 change waiting"
pwnm status >"$TMP/status" 2>&1
test_expect_true grep -q "outbox: 1 change waiting" "$TMP/status"

emacs_step hello2 hello

test_begin_subtest "notmuch-hello: the waiting change is a queued push, patch 8 is delegated to me"
test_expect_equal "$(hello_entries "$TMP/hello2/hello.txt" | grep -e '^- ' -e ' delegated to me ' | tr '\n' ';')" \
	"- queued pushes 1;alpha delegated to me 1;"

test_begin_subtest "the waiting change goes out once the server is back"
standin_admin POST fault/clear >>"$test_log" 2>&1
pwnm_run push
pwnm status >"$TMP/status" 2>&1
test_expect_equal "$(server_state 2) $(grep -c 'outbox: 0 changes waiting' "$TMP/status")" \
	"rejected false - 1"

test_done

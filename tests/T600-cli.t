#!/usr/bin/env bash
# T600-cli: the command line as a newcomer meets it: help for every
# command, mistyped commands, explain, status, first-sync dry runs.

. "$(dirname "$0")/lib.sh"


# ---- before anything is set up ----

test_begin_subtest "no notmuch configuration: says to run notmuch setup, exit 1, one line"
NOTMUCH_CONFIG=$TMP/no-such-config pwnm status >"$TMP/out" 2>&1
test_expect_equal "$? $(wc -l <"$TMP/out") $(grep -c "NOTMUCH_CONFIG=$TMP/no-such-config notmuch setup" "$TMP/out")" "1 1 1"

test_begin_subtest "no notmuch configuration, none named: 'notmuch setup'"
(unset NOTMUCH_CONFIG; pwnm sync) >"$TMP/out" 2>&1
test_expect_equal "$? $(grep -c "create one with 'notmuch setup'" "$TMP/out")" "1 1"

# ---- help ----

commands=$(pwnm help | sed -n 's/^  \([a-z-]*\) .*/\1/p')
test_begin_subtest "pwnm help lists the commands"
test_expect_equal "$(echo $commands | wc -w)" "$(echo $commands | tr ' ' '\n' | sort -u | wc -l)"

for c in $commands; do
	test_begin_subtest "pwnm $c --help: exit 0, its usage line, no trailing blank"
	pwnm "$c" --help >"$TMP/help" 2>&1
	rc=$?
	test_expect_equal "$rc $(head -n 1 "$TMP/help" | sed -n "s/^usage: pwnm $c\b.*/ok/p") $(grep -c '[[:space:]]$' "$TMP/help")" \
		"0 ok 0"
done

test_begin_subtest "pwnm explain --help is help, not a message id"
pwnm explain --help >"$TMP/out" 2>&1
test_expect_equal "$? $(grep -c -e '^  --url' "$TMP/out") $(grep -c 'not a patch' "$TMP/out")" "0 1 0"

test_begin_subtest "pwnm sync --help names every option of its usage line"
pwnm sync --help >"$TMP/out"
missing=
for o in $(head -n 1 "$TMP/out" | grep -o -- '--[a-z-]*'); do
	grep -q "^  $o\b" "$TMP/out" || missing="$missing $o"
done
test_expect_equal "$missing" ""

test_begin_subtest "usage lines of commands without arguments end without a blank"
pwnm projects extra >"$TMP/out" 2>&1
rc=$?
pwnm status extra >"$TMP/out2" 2>&1
rc2=$?
test_expect_equal "$rc $(cat "$TMP/out") $rc2 $(cat "$TMP/out2")" \
	"2 usage: pwnm projects 2 usage: pwnm status [--porcelain]"

test_begin_subtest "a mistyped command: did you mean, exit 2"
pwnm snyc >"$TMP/out" 2>&1
test_expect_equal "$? $(grep -c "did you mean 'pwnm sync'" "$TMP/out")" "2 1"

test_begin_subtest "a prefix of a command: did you mean it"
pwnm stat >"$TMP/out" 2>&1
test_expect_equal "$? $(grep -c "did you mean 'pwnm status'" "$TMP/out")" "2 1"

test_begin_subtest "no guess for something unlike every command"
pwnm frobnicate >"$TMP/out" 2>&1
test_expect_equal "$? $(grep -c "did you mean" "$TMP/out") $(grep -c "unknown command 'frobnicate'" "$TMP/out")" "2 0 1"

pw_world || exit 1

# ---- a first sync, tried first ----

test_begin_subtest "sync --dry-run on a first sync lists each mail it would tag, with the tags"
pwnm sync --dry-run >"$TMP/dry" 2>&1
test_expect_equal "$(grep -c '^tag id:' "$TMP/dry") $(grep -c '^tag id:p1@example.org: +pw/alpha +pw/alpha/new +pw/beta +pw/beta/changes-requested$' "$TMP/dry") $(grep -c '^tag id:"odd""id""11@example.org": +pw/alpha +pw/alpha/new$' "$TMP/dry")" \
	"5 1 1"

test_begin_subtest "... and its summary counts the same mails"
test_expect_true grep -q '^pwnm: dry run: 7 new patches, 0 to pull, 0 to push, 5 mails to tag, 1 without mail .*nothing written, nothing sent$' "$TMP/dry"

test_begin_subtest "... and wrote nothing"
test_expect_equal "$(count_of 'tag:pw/alpha or tag:pw/beta')" "0"

test_begin_subtest "the real first sync then tags those mails, as listed"
pwnm -v sync >"$TMP/real" 2>&1
n=0
while read -r _ id rest; do
	want=$(printf '%s\n' $rest | sed 's/^+//' | sort | tr '\n' ' ' | sed 's/ $//')
	id=${id%:}
	[ "$(notmuch search --output=tags -- "$id" | grep '^pw/' | sort | tr '\n' ' ' | sed 's/ $//')" = "$want" ] && n=$((n + 1))
done <<EOF
$(grep '^tag id:' "$TMP/dry")
EOF
test_expect_equal "$n $(grep -c '5 mails tagged' "$TMP/real")" "5 1"


# ---- explain ----

test_begin_subtest "explain --url --project: the page of the patch in that project only"
test_expect_equal "$(pwnm explain --url --project beta 'p1@example.org') $(pwnm explain --url --project=alpha '<p1@example.org>')" \
	"$STANDIN_URL/patch/5/ $STANDIN_URL/patch/8/"

test_begin_subtest "explain --project of a project the mail is no patch in: exit 1, one line"
pwnm explain --url --project beta p2@example.org >"$TMP/out" 2>&1
test_expect_equal "$? $(wc -l <"$TMP/out") $(grep -c "is not a patch in beta" "$TMP/out")" "1 1 1"

test_begin_subtest "explain: the subject, the project, the state on both sides and why (in step)"
pwnm explain p6@example.org >"$TMP/out" 2>&1
test_expect_equal "$(grep -c -e '^patch 6 in beta: \[PATCH\] six$' -e '^  notmuch: *state queued$' -e '^  server: *state queued,' -e '^  why: *in step: both sides say queued$' "$TMP/out")" "4"

test_begin_subtest "explain: a state changed in notmuch, not yet pushed"
notmuch tag -pw/beta/queued +pw/beta/rfc -- id:p6@example.org
pwnm explain p6@example.org >"$TMP/out" 2>&1
test_expect_equal "$(grep -c -e '^  notmuch: *state rfc$' -e '^  server: *state queued,' -e '^  why: *notmuch says rfc since the last run: the next run pushes it$' "$TMP/out")" "3"
notmuch tag +pw/beta/queued -pw/beta/rfc -- id:p6@example.org

# ---- push --dry-run ----

test_begin_subtest "push --dry-run: the summary counts the changes it lists"
notmuch tag -pw/alpha/new +pw/alpha/rfc -- id:p1@example.org
notmuch tag -pw/beta/queued +pw/beta/accepted -- id:p6@example.org
PWNM_TOKEN=$MAINT_TOKEN pwnm push --dry-run >"$TMP/dry" 2>&1
test_expect_equal "$(grep -c '^patch [0-9]* [a-z]* <.*>: notmuch ' "$TMP/dry") $(grep -c ', 2 to push, ' "$TMP/dry")" "2 1"
notmuch tag +pw/alpha/new -pw/alpha/rfc -- id:p1@example.org
notmuch tag +pw/beta/queued -pw/beta/accepted -- id:p6@example.org

# ---- status ----

test_begin_subtest "status without a token says none, and how to give one"
pwnm status >"$TMP/status" 2>&1
test_expect_true grep -q '^token: *none: pulls work' "$TMP/status"

test_begin_subtest "status names the token's source, never the token (environment)"
PWNM_TOKEN=$MAINT_TOKEN pwnm status >"$TMP/status" 2>&1
test_expect_equal "$(grep -c '^token: *from the environment' "$TMP/status") $(grep -c "$MAINT_TOKEN" "$TMP/status")" "1 0"

test_begin_subtest "... (command, not run)"
notmuch config set pwnm.token_command "echo $MAINT_TOKEN; touch $TMP/ran"
pwnm status >"$TMP/status" 2>&1
test_expect_equal "$(grep -c '^token: *from pwnm.token_command' "$TMP/status") $(grep -c "$MAINT_TOKEN" "$TMP/status") $([ -e "$TMP/ran" ] && echo ran)" "1 0 "
notmuch config set pwnm.token_command ""

test_begin_subtest "... (file)"
mkdir -p "$XDG_CONFIG_HOME/pwnm"
(umask 077; echo "$MAINT_TOKEN" >"$XDG_CONFIG_HOME/pwnm/token")
pwnm status >"$TMP/status" 2>&1
test_expect_equal "$(grep -c "^token: *from the file $XDG_CONFIG_HOME/pwnm/token\$" "$TMP/status") $(grep -c "$MAINT_TOKEN" "$TMP/status")" "1 0"
rm -f "$XDG_CONFIG_HOME/pwnm/token"

test_begin_subtest "status: plurals"
test_expect_equal "$(grep -c -e '1 patches' -e '1 conflicts' -e '1 changes' "$TMP/status")" "0"

test_begin_subtest "status lists each waiting change and why it waits (no token)"
notmuch tag -pw/alpha/under-review +pw/alpha/accepted -- id:p2@example.org
pwnm_run sync
pwnm status >"$TMP/status" 2>&1
test_expect_equal "$(grep -c '^outbox: 1 change waiting' "$TMP/status") $(grep -c '^  patch 2 in alpha <p2@example.org>: state accepted: waits for an API token' "$TMP/status")" "1 1"

test_begin_subtest "explain says the change waits to be pushed"
test_expect_true grep -q '^  why: *your change waits to be pushed' <(pwnm explain 2 2>&1)

test_begin_subtest "a note is said once: the next sync does not repeat it"
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$(grep -c 'no API token' "$TMP/out")" "0"

test_begin_subtest "... pwnm status keeps it"
pwnm status >"$TMP/status" 2>&1
test_expect_true grep -q '^note: *1 local change waits to be pushed: no API token' "$TMP/status"

test_begin_subtest "... nor do pre-new and post-new repeat it"
hook_put pre-new 'exec pwnm-hook-idle pre-new'
hook_put post-new 'exec pwnm-hook-idle post-new'
PWNM_HOOK_ALWAYS=1 notmuch new >"$TMP/new.out" 2>&1
test_expect_equal "$? $(grep -c 'no API token' "$TMP/new.out")" "0 0"

test_begin_subtest "when the situation changes, it is said again, once"
notmuch tag -pw/beta/queued +pw/beta/rfc -- id:p6@example.org
PWNM_HOOK_ALWAYS=1 notmuch new >"$TMP/new.out" 2>&1
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$(grep -c '2 local changes wait to be pushed: no API token' "$TMP/new.out" "$TMP/out" | cut -d: -f2 | tr '\n' ' ')" "1 0 "
notmuch tag +pw/beta/queued -pw/beta/rfc -- id:p6@example.org
hook_remove pre-new
hook_remove post-new
pwnm_run sync

test_begin_subtest "... and one that failed: how often, the error, when it is tried again"
export PWNM_TOKEN=$MAINT_TOKEN
standin_admin POST fault '{"mode": "503", "count": -1, "match": "^PATCH"}' >>"$test_log" 2>&1
pwnm_run push
pwnm status >"$TMP/status" 2>&1
test_expect_true grep -qE '^  patch 2 in alpha <p2@example.org>: state accepted: failed [0-9]+ times? \(.*503.*\); next try (in|at)' "$TMP/status"

test_begin_subtest "a hook error is shown with its time"
standin_admin POST fault '{"mode": "503", "count": -1}' >>"$test_log" 2>&1
pwnm hook post-new >>"$test_log" 2>&1
pwnm status >"$TMP/status" 2>&1
test_expect_true grep -qE '^last hook error: +post-new: .* \([0-9]{4}-[0-9]{2}-[0-9]{2}.* UTC \([0-9]+ s ago\)\)$' "$TMP/status"

test_begin_subtest "a later run that succeeds clears the hook error"
standin_admin POST fault/clear >>"$test_log" 2>&1
pwnm_run sync
pwnm status >"$TMP/status" 2>&1
test_expect_equal "$(grep -c '^last hook error' "$TMP/status") $(grep -c '^outbox: 0 changes waiting' "$TMP/status")" "0 1"

test_begin_subtest "the note is gone once nothing waits for a token"
test_expect_equal "$(grep -c '^note:' "$TMP/status")" "0"
unset PWNM_TOKEN

# ---- one setting wrong ----

test_begin_subtest "a wrong setting: status says which and how to fix it, and shows the rest (exit 1)"
notmuch config set pwnm.hook_mode sometimes
pwnm status >"$TMP/status" 2>&1
test_expect_equal "$? $(grep -c "^settings: *invalid value 'sometimes' for pwnm.hook_mode: .*notmuch config set pwnm.hook_mode VALUE" "$TMP/status") $(grep -c -e '^project alpha' -e '^project beta' -e '^outbox: ' -e '^server: ' "$TMP/status")" \
	"1 1 4"

test_begin_subtest "the hooks print the line pwnm-hooks(7) shows, once for pre-new and post-new, and notmuch new succeeds"
want=$(sed -n '/^\.Bd -literal/{n;p;}' "$PWNM_SRC/src/pwnm-hooks.7" | grep "^pwnm: invalid value 'sometimes'")
hook_put pre-new 'exec pwnm-hook-idle pre-new'
hook_put post-new 'exec pwnm-hook-idle post-new'
notmuch new >"$TMP/new.out" 2>&1
rc=$?
test_expect_equal "$rc $(grep -cxF -- "$want" "$TMP/new.out") $(grep -c 'pwnm' "$TMP/new.out")" "0 1 1"

test_begin_subtest "the next notmuch new does not say it again; pwnm status still does"
notmuch new >"$TMP/new.out" 2>&1
rc=$?
pwnm status >"$TMP/status" 2>&1
test_expect_equal "$rc $(grep -c 'pwnm' "$TMP/new.out") $(grep -c "^settings: *invalid value 'sometimes' for pwnm.hook_mode" "$TMP/status")" "0 0 1"

test_begin_subtest "another wrong value is said once again"
notmuch config set pwnm.hook_mode never
notmuch new >"$TMP/new.out" 2>&1
notmuch new >"$TMP/new2.out" 2>&1
test_expect_equal "$(grep -c "invalid value 'never' for pwnm.hook_mode" "$TMP/new.out") $(grep -c 'pwnm' "$TMP/new2.out")" "1 0"

test_begin_subtest "set right, then wrong the same way: said again"
notmuch config set pwnm.hook_mode ""
notmuch new >"$TMP/new.out" 2>&1
notmuch config set pwnm.hook_mode never
notmuch new >"$TMP/new2.out" 2>&1
test_expect_equal "$(grep -c 'pwnm' "$TMP/new.out") $(grep -c "invalid value 'never' for pwnm.hook_mode" "$TMP/new2.out")" "0 1"
notmuch config set pwnm.hook_mode ""
hook_remove pre-new
hook_remove post-new

test_done

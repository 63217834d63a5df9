#!/usr/bin/env bash
# Server text carrying terminal controls (ESC) and a bidi override (U+202E): a project's name,
# a state, a user name, a series name, a check's context and URL.  Every command shows them escaped
# (\x1b, \u{202E}), never raw: projects, sync and its notes, status, states, explain, supersede.
. "$(dirname "$0")/lib.sh"

d() { date -u -d "$1" +%Y-%m-%dT%H:%M:%S; }

# in JSON: ESC [2J (clear the screen), then RIGHT-TO-LEFT OVERRIDE
H='\u001b[2J\u202e'
# as pwnm shows it, for grep -F
SHOWN='\x1b[2J\u{202E}'

cat >"$TMP/pw.json" <<EOJ
{
 "projects": [
  {"id": 1, "link_name": "alpha", "name": "Alpha${H}lists", "list_id": "alpha.lists.example.org",
   "list_email": "alpha@lists.example.org", "maintainers": ["maint"]}
 ],
 "users": [
  {"id": 2, "username": "maint", "email": "maint@example.org", "token": "$MAINT_TOKEN"},
  {"id": 5, "username": "ci", "email": "ci@example.org", "token": null},
  {"id": 6, "username": "dele${H}gate", "email": "dg@example.org", "token": null}
 ],
 "states": ["new", "under-review", "accepted", "superseded", "odd${H}state"],
 "series": [
  {"id": 50, "project": "alpha", "name": "wid${H}get", "version": 1, "total": 2, "date": "$(d '-6 days')",
   "submitter": "dev@example.org"}
 ],
 "patches": [
  {"id": 51, "project": "alpha", "msgid": "<w51@example.org>", "date": "$(d '-6 days')", "series": 50,
   "name": "[PATCH 1/2] widget one", "state": "odd${H}state", "submitter": "dev@example.org",
   "checks": [{"context": "ci/${H}build", "state": "success", "target_url": "https://ci.example.org/${H}51",
               "actor": "ci"}]},
  {"id": 52, "project": "alpha", "msgid": "<w52@example.org>", "date": "$(d '-6 days')", "series": 50,
   "name": "[PATCH 2/2] widget two", "state": "new", "submitter": "dev@example.org"}
 ]
}
EOJ
notmuch_setup
add_message '<w51@example.org>' '[PATCH 1/2] widget one'
add_message '<w52@example.org>' '[PATCH 2/2] widget two'
notmuch new >>"$test_log" 2>&1
standin_start "$TMP/pw.json" || exit 1
notmuch config set pwnm.url "$STANDIN_URL"
notmuch config set pwnm.projects alpha
export PWNM_TOKEN=$MAINT_TOKEN

# seen FILE PATTERN: "<raw ESC> <raw U+202E> <lines with the escaped text and PATTERN>"
seen() {
	echo "$(grep -c $'\x1b' "$1") $(grep -c $'\u202e' "$1") $(grep -F "$SHOWN" "$1" | grep -c -- "$2")"
}

test_begin_subtest "pwnm projects: the project's name escaped"
pwnm projects >"$TMP/out" 2>&1
test_expect_equal "$(seen "$TMP/out" "^alpha .*Alpha.*lists")" "0 0 1"

test_begin_subtest "first sync: the odd state is tagged, nothing raw on the terminal"
pwnm sync -v >"$TMP/out" 2>&1
code=$?
test_expect_equal "$code $(grep -c $'\x1b' "$TMP/out") $(grep -c $'\u202e' "$TMP/out") $(pw_tags_of w51@example.org)" \
	"0 0 0 pw/alpha pw/alpha/check/success pw/alpha/odd%1B%5B2J%E2%80%AEstate"

test_begin_subtest "a newer revision: the note names the series escaped"
standin_admin POST series "{\"id\": 60, \"project\": \"alpha\", \"name\": \"wid${H}get\", \"version\": 2, \"total\": 1, \"date\": \"$(d '-1 hour')\", \"submitter\": \"dev@example.org\"}" >/dev/null
add_message '<w61@example.org>' '[PATCH v2] widget'
notmuch new >>"$test_log" 2>&1
standin_admin POST patches "{\"id\": 61, \"project\": \"alpha\", \"msgid\": \"<w61@example.org>\", \"date\": \"$(d '-1 hour')\", \"series\": 60, \"name\": \"[PATCH v2] widget\", \"state\": \"new\", \"submitter\": \"dev@example.org\"}" >/dev/null
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$(seen "$TMP/out" '^series 50 alpha "wid.*get" v1: v2 was posted')" "0 0 1"

test_begin_subtest "pwnm status: the states line escapes the server's state"
pwnm status >"$TMP/out" 2>&1
test_expect_equal "$(seen "$TMP/out" "^  .*odd.*state 1")" "0 0 1"

test_begin_subtest "pwnm states: escaped too"
pwnm states alpha >"$TMP/out" 2>&1
test_expect_equal "$(seen "$TMP/out" "^odd.*state$")" "0 0 1"

test_begin_subtest "pwnm explain: the series, the states and the check's context and URL escaped"
pwnm explain id:w51@example.org >"$TMP/out" 2>&1
test_expect_equal "$(seen "$TMP/out" '^  series: .*wid.*get') $(seen "$TMP/out" '^  check: *ci/.*build success https://ci.example.org/.*51$') $(seen "$TMP/out" '^  server: *state odd.*state,')" \
	"0 0 1 0 0 1 0 0 1"

test_begin_subtest "a change of state and delegate on the server, with -v: both lines escaped"
standin_admin POST patches/52 "{\"state\": \"odd${H}state\", \"delegate\": \"dele${H}gate\"}" >/dev/null
pwnm sync -v >"$TMP/out" 2>&1
test_expect_equal "$(seen "$TMP/out" '^patch 52 alpha .* new -> odd.*state') $(seen "$TMP/out" '^patch 52 alpha .*delegate.* -> dele.*gate')" \
	"0 0 1 0 0 1"

test_begin_subtest "pwnm supersede: the series named escaped"
pwnm supersede 50 >"$TMP/out" 2>&1
code=$?
test_expect_equal "$code $(seen "$TMP/out" '^series 50 alpha "wid.*get" v1: 2 open patches marked superseded')" "0 0 0 1"

test_begin_subtest "an error line quoting what it was given: escaped as a whole"
pwnm explain "id:no$(printf '\033')[2J$(printf '\342\200\256')such@example.org" >"$TMP/out" 2>&1
code=$?
test_expect_equal "$code $(seen "$TMP/out" "^pwnm: 'id:no.*such@example.org' is not a patch pwnm knows")" "1 0 0 1"

test_done

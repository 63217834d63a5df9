# tests/lib.sh - TAP helpers, a throwaway notmuch world and the Patchwork stand-in
#
# Source it from a tests/T###-name.t script (run by prove from the top
# directory; make check sets PWNM_BUILD to the directory of the binaries).
# Every test gets its own $TMP with HOME, NOTMUCH_CONFIG and a maildir.

set -u
exec </dev/null

PWNM_SRC=${PWNM_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
PWNM_BUILD=${PWNM_BUILD:-$PWNM_SRC/build}
TESTS_DIR=$PWNM_SRC/tests
# TEST_ROOT is removed at the end of a passing test; TMP is the directory
# of the current world (TEST_ROOT itself unless a test calls world_dirs).
TEST_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/pwnm-test.XXXXXX")

# world_dirs DIR: make DIR the current world: TMP, HOME, NOTMUCH_CONFIG,
# MAILDIR and the XDG directories point into it, and its maildir exists.
# A test with several independent worlds gives each a directory under
# $TEST_ROOT (stop the stand-in of the previous one first).
world_dirs() {
	TMP=$1
	HOME=$TMP/home
	NOTMUCH_CONFIG=$TMP/notmuch-config
	MAILDIR=$TMP/mail
	XDG_STATE_HOME=$HOME/.local/state
	XDG_CONFIG_HOME=$HOME/.config
	export HOME NOTMUCH_CONFIG MAILDIR XDG_STATE_HOME XDG_CONFIG_HOME
	mkdir -p "$HOME" "$MAILDIR/cur" "$MAILDIR/new" "$MAILDIR/tmp"
}
world_dirs "$TEST_ROOT"
export PATH=$PWNM_BUILD:$PATH
unset PWNM_TOKEN PWNM_DEBUG

# TEST_VALGRIND=1: every pwnm run (also from hooks) goes through valgrind
# memcheck; an error or a definite leak makes it exit 99, which fails the test.
if [ -n "${TEST_VALGRIND:-}" ]; then
	mkdir -p "$TMP/vgbin"
	cat >"$TMP/vgbin/pwnm" <<EOV
#!/bin/sh
exec valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	--show-leak-kinds=definite --suppressions="$PWNM_SRC/tests/valgrind.supp" \
	--log-file="$TMP/valgrind.%p.log" "$PWNM_BUILD/pwnm" "\$@"
EOV
	chmod +x "$TMP/vgbin/pwnm"
	export PATH=$TMP/vgbin:$PATH
fi

test_count=0
test_failed=0
test_subtest=""
STANDIN_PID=""

# Output of commands run by a test goes to $TMP/log; shown on failure.
test_log=$TEST_ROOT/log
: >"$test_log"

test_cleanup() {
	standin_stop
	if [ "$test_failed" -eq 0 ] && [ -z "${PWNM_KEEP_TMP:-}" ]; then
		rm -rf "$TEST_ROOT"
	else
		echo "# files kept in $TEST_ROOT"
	fi
}
trap test_cleanup EXIT

test_begin_subtest() {
	test_subtest=$1
}

test_pass_() {
	test_count=$((test_count + 1))
	echo "ok $test_count - $test_subtest"
}

test_fail_() {
	test_count=$((test_count + 1))
	test_failed=$((test_failed + 1))
	echo "not ok $test_count - $test_subtest"
	[ $# -gt 0 ] && printf '%s\n' "$@" | sed 's/^/#   /'
	if [ -s "$test_log" ]; then
		echo "#   --- last lines of $test_log"
		tail -n 20 "$test_log" | sed 's/^/#   /'
	fi
}

# test_skip_ REASON: the current subtest cannot run here
test_skip_() {
	test_count=$((test_count + 1))
	echo "ok $test_count - $test_subtest # SKIP $1"
}

# test_expect_equal GOT WANT
test_expect_equal() {
	if [ "$1" = "$2" ]; then
		test_pass_
	else
		test_fail_ "got:  $1" "want: $2"
	fi
}

# test_expect_equal_file GOT_FILE WANT_FILE
test_expect_equal_file() {
	if cmp -s "$1" "$2"; then
		test_pass_
	else
		test_fail_ "$(diff -u "$2" "$1" | head -n 40)"
	fi
}

# test_expect_code CODE command...
test_expect_code() {
	local want=$1 got
	shift
	"$@" >>"$test_log" 2>&1
	got=$?
	if [ "$got" = "$want" ]; then
		test_pass_
	else
		test_fail_ "command: $*" "exit code $got, want $want"
	fi
}

# test_expect_success command...  (exit 0)
test_expect_success() {
	test_expect_code 0 "$@"
}

# test_expect_true "description of why" test-expression...
test_expect_true() {
	if "$@"; then
		test_pass_
	else
		test_fail_ "condition failed: $*"
	fi
}

# test_expect_ok RC: pass when RC (a compound condition's $?) is 0.  A compound
# condition cannot follow test_expect_true: the shell would run only its first part
# under the helper.
test_expect_ok() {
	if [ "$1" -eq 0 ]; then
		test_pass_
	else
		test_fail_ "condition failed (status $1)"
	fi
}

test_done() {
	echo "1..$test_count"
	[ "$test_failed" -eq 0 ]
	exit $?
}

test_skip_all() {
	echo "1..0 # SKIP $1"
	exit 0
}

# ---- the notmuch world ----

# notmuch_setup: write the config and create an empty database.
notmuch_setup() {
	cat >"$NOTMUCH_CONFIG" <<EOC
[database]
path=$MAILDIR
[user]
name=Test Maintainer
primary_email=maint@example.org
[new]
tags=unread;inbox
ignore=
[maildir]
synchronize_flags=true
EOC
	notmuch new >>"$test_log" 2>&1
}

# add_message MSGID [SUBJECT] [LIST]: write one mail into the maildir
# (not indexed until notmuch new).  MSGID is the header value as sent,
# with its angle brackets.
gen_msg_n=0
add_message() {
	local msgid=$1 subject=${2:-"[PATCH] test patch"} list=${3:-alpha@lists.example.org}
	local list_id
	list_id=$(printf '%s' "${list%%,*}" | tr '@' '.')
	gen_msg_n=$((gen_msg_n + 1))
	cat >"$MAILDIR/new/msg-$gen_msg_n-$$:2," <<EOM
From: Dev Eloper <dev@example.org>
To: $list
List-Id: <$list_id>
Subject: $subject
Date: Tue, 14 Nov 2023 22:33:20 +0000
Message-ID: $msgid

A patch.
---
 file | 1 +
EOM
}

# tags_of NMID: the sorted tags of one message, space-separated
tags_of() {
	notmuch search --output=tags -- "id:\"$(printf '%s' "$1" | sed 's/"/""/g')\"" | sort | tr '\n' ' ' | sed 's/ $//'
}

# pw_tags_of NMID: only its pw/ tags
pw_tags_of() {
	notmuch search --output=tags -- "id:\"$(printf '%s' "$1" | sed 's/"/""/g')\"" | grep '^pw/' | sort | tr '\n' ' ' | sed 's/ $//'
}

count_of() {
	notmuch count -- "$1"
}

revision() {
	notmuch count --lastmod '*' | cut -f3
}

# hook_put NAME LINE: make notmuch's hook NAME (in database.hook_dir) the
# shell script "#!/bin/sh" LINE; hook_remove NAME takes it away.
hook_put() {
	local dir
	dir=$(notmuch config get database.hook_dir) || return 1
	mkdir -p "$dir" || return 1
	printf '#!/bin/sh\n%s\n' "$2" >"$dir/$1" && chmod +x "$dir/$1"
}

hook_remove() {
	rm -f "$(notmuch config get database.hook_dir)/$1"
}

# peak_rss_kb FILE command...: run the command (output to the log) and
# write its peak resident set size in KiB to FILE; returns its exit code.
peak_rss_kb() {
	local file=$1
	shift
	python3 -c '
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
open(sys.argv[1], "w").write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc if rc >= 0 else 128 - rc)' "$file" "$@"
}

# measured LABEL CMD...: run CMD under a 60 s guard (its output to $TMP/out and the log)
# and say on stderr "# LABEL: N requests, T ms, peak RSS K KiB": the stand-in's requests
# while it ran, its wall time and the peak resident size of CMD or a child of it.
# Sets rc and ms.  These lines are the figures of README's Reliability section.
measured() {
	local label=$1 n0
	shift
	n0=$(standin_requests .)
	# timed around the command itself, not this wrapper's start
	python3 -c '
import resource, subprocess, sys, time
t = time.monotonic()
rc = subprocess.call(sys.argv[3:])
open(sys.argv[2], "w").write("%d\n" % ((time.monotonic() - t) * 1000))
open(sys.argv[1], "w").write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc if rc >= 0 else 128 - rc)' "$TMP/rss" "$TMP/ms" timeout 60 "$@" >"$TMP/out" 2>&1
	rc=$?
	ms=$(cat "$TMP/ms")
	cat "$TMP/out" >>"$test_log"
	echo "# $label: $(($(standin_requests .) - n0)) requests, $ms ms, peak RSS $(tail -1 "$TMP/rss") KiB" >&2
}

# ---- the Patchwork stand-in ----

# standin_start DATA.json [extra options]: start tests/fake-patchwork.py on
# 127.0.0.1 with a free port; sets STANDIN_URL and STANDIN_PID.  Every
# request is logged to $TMP/standin.log (one JSON object a line).
standin_start() {
	local data=$1
	shift
	rm -f "$TMP/standin.port"
	python3 "$TESTS_DIR/fake-patchwork.py" --data "$data" --port 0 \
		--port-file "$TMP/standin.port" --log "$TMP/standin.log" "$@" \
		>>"$TMP/standin.out" 2>&1 &
	STANDIN_PID=$!
	local i=0
	while [ ! -s "$TMP/standin.port" ]; do
		i=$((i + 1))
		if [ $i -gt 100 ]; then
			echo "# the stand-in did not start" >&2
			cat "$TMP/standin.out" >&2
			return 1
		fi
		sleep 0.1
	done
	STANDIN_PORT=$(cat "$TMP/standin.port")
	STANDIN_URL=http://127.0.0.1:$STANDIN_PORT
}

standin_stop() {
	if [ -n "$STANDIN_PID" ]; then
		kill "$STANDIN_PID" 2>/dev/null
		wait "$STANDIN_PID" 2>/dev/null
		STANDIN_PID=""
	fi
}

# standin_admin METHOD PATH [JSON]: talk to the stand-in's /_admin/ API.
standin_admin() {
	local method=$1 path=$2 body=${3:-}
	if [ -n "$body" ]; then
		curl -sS -X "$method" -H 'Content-Type: application/json' --data "$body" "$STANDIN_URL/_admin/$path"
	else
		curl -sS -X "$method" "$STANDIN_URL/_admin/$path"
	fi
}

# standin_requests [FILTER]: number of logged API requests (not /_admin/)
# whose "METHOD PATH?QUERY" line matches the grep -E pattern FILTER.
standin_requests() {
	local pat=${1:-.}
	[ -f "$TMP/standin.log" ] || { echo 0; return; }
	python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["path"].startswith("/_admin"):
        continue
    q = ("?" + r["query"]) if r.get("query") else ""
    print(r["method"], r["path"] + q)
' "$TMP/standin.log" | grep -cE -- "$pat"
}

# meta_put DIR KEY VALUE: write a meta key of the store in DIR (`pwnm status`, state:) directly,
# as an older pwnm or a damaged store left it
meta_put() {
	python3 - "$@" <<'EOP'
import ctypes, sys
lm = ctypes.CDLL("liblmdb.so.0")
class Val(ctypes.Structure):
    _fields_ = [("size", ctypes.c_size_t), ("data", ctypes.c_void_p)]
def check(rc):
    if rc:
        sys.exit("lmdb: %d" % rc)
env, txn, dbi = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_uint()
check(lm.mdb_env_create(ctypes.byref(env)))
check(lm.mdb_env_set_maxdbs(env, 8))
check(lm.mdb_env_set_mapsize(env, ctypes.c_size_t(4 << 30)))
check(lm.mdb_env_open(env, sys.argv[1].encode(), 0, 0o600))
check(lm.mdb_txn_begin(env, None, 0, ctypes.byref(txn)))
check(lm.mdb_dbi_open(txn, b"meta", 0, ctypes.byref(dbi)))
k, v = sys.argv[2].encode(), sys.argv[3].encode()
kb, vb = ctypes.create_string_buffer(k, len(k)), ctypes.create_string_buffer(v, len(v))
key, val = Val(len(k), ctypes.cast(kb, ctypes.c_void_p)), Val(len(v), ctypes.cast(vb, ctypes.c_void_p))
check(lm.mdb_put(txn, dbi, ctypes.byref(key), ctypes.byref(val), 0))
check(lm.mdb_txn_commit(txn))
lm.mdb_env_close(env)
EOP
}

standin_log_clear() {
	: >"$TMP/standin.log"
}

# server_state ID [FIELD...]: the patch's fields on the stand-in, separated
# by a space; FIELDs are state, archived (true/false) and delegate (the
# username, - for none); the default is all three, in that order.
server_state() {
	local id=$1
	shift
	[ $# -gt 0 ] || set -- state archived delegate
	standin_admin GET "patches/$id" | python3 -c '
import json, sys
p = json.load(sys.stdin)
show = {"state": p["state"], "archived": str(p["archived"]).lower(), "delegate": p["delegate"] or "-"}
print(" ".join(show[f] for f in sys.argv[1:]))' "$@"
}

# ---- a small standard world ----

MAINT_TOKEN=0123456789abcdef0123456789abcdef01234567
VIEWER_TOKEN=fedcba9876543210fedcba9876543210fedcba98

# pw_world: write $TMP/pw.json (projects alpha and beta, 7 patches, one
# cross-posted, one with an odd Message-ID, one custom state, one whose
# mail has not arrived), the matching mail (except patch 7's), index it,
# start the stand-in and point pwnm at it.  Patch ids: 1 old (outside
# the window), 2 p2, 3 p3 (archived, delegated), 4 odd id, 5 p1 in beta,
# 6 p6 (custom state), 7 p7 (no mail), 8 p1 in alpha.
pw_world() {
	cat >"$TMP/pw.json" <<EOJ
{
 "projects": [
  {"id": 1, "link_name": "alpha", "name": "Alpha", "list_id": "alpha.lists.example.org",
   "list_email": "alpha@lists.example.org", "maintainers": ["maint"]},
  {"id": 2, "link_name": "beta", "name": "Beta", "list_id": "beta.lists.example.org",
   "list_email": "beta@lists.example.org", "maintainers": ["maint"]}
 ],
 "users": [
  {"id": 2, "username": "maint", "email": "maint@example.org", "token": "$MAINT_TOKEN"},
  {"id": 3, "username": "viewer", "email": "viewer@example.org", "token": "$VIEWER_TOKEN"},
  {"id": 4, "username": "other", "email": "other@example.org", "token": null}
 ],
 "states": ["new", "under-review", "accepted", "rejected", "rfc", "not-applicable",
            "changes-requested", "awaiting-upstream", "superseded", "deferred", "queued"],
 "patches": [
  {"id": 8, "project": "alpha", "msgid": "<p1@example.org>", "date": "$(date -u -d '-10 days' +%Y-%m-%dT%H:%M:%S)",
   "name": "[PATCH 1/2] one", "state": "new", "archived": false, "delegate": null, "submitter": "dev@example.org"},
  {"id": 2, "project": "alpha", "msgid": "<p2@example.org>", "date": "$(date -u -d '-9 days' +%Y-%m-%dT%H:%M:%S)",
   "name": "[PATCH 2/2] two", "state": "under-review", "archived": false, "delegate": null, "submitter": "dev@example.org"},
  {"id": 3, "project": "alpha", "msgid": "<p3@example.org>", "date": "$(date -u -d '-8 days' +%Y-%m-%dT%H:%M:%S)",
   "name": "[PATCH] three", "state": "accepted", "archived": true, "delegate": "maint", "submitter": "dev@example.org"},
  {"id": 4, "project": "alpha", "msgid": "<odd \"id\" 11@example.org>", "date": "$(date -u -d '-7 days' +%Y-%m-%dT%H:%M:%S)",
   "name": "[PATCH] odd", "state": "new", "archived": false, "delegate": null, "submitter": "dev@example.org"},
  {"id": 5, "project": "beta", "msgid": "<p1@example.org>", "date": "$(date -u -d '-10 days' +%Y-%m-%dT%H:%M:%S)",
   "name": "[PATCH 1/2] one", "state": "changes-requested", "archived": false, "delegate": null, "submitter": "dev@example.org"},
  {"id": 6, "project": "beta", "msgid": "<p6@example.org>", "date": "$(date -u -d '-6 days' +%Y-%m-%dT%H:%M:%S)",
   "name": "[PATCH] six", "state": "queued", "archived": false, "delegate": null, "submitter": "dev@example.org"},
  {"id": 7, "project": "alpha", "msgid": "<p7@example.org>", "date": "$(date -u -d '-5 days' +%Y-%m-%dT%H:%M:%S)",
   "name": "[PATCH] seven", "state": "new", "archived": false, "delegate": null, "submitter": "dev@example.org"},
  {"id": 1, "project": "alpha", "msgid": "<old8@example.org>", "date": "$(date -u -d '-800 days' +%Y-%m-%dT%H:%M:%S)",
   "name": "[PATCH] too old for the window", "state": "new", "archived": false, "delegate": null, "submitter": "dev@example.org"}
 ]
}
EOJ
	notmuch_setup
	add_message '<p1@example.org>' '[PATCH 1/2] one' 'alpha@lists.example.org, beta@lists.example.org'
	add_message '<p2@example.org>' '[PATCH 2/2] two'
	add_message '<p3@example.org>' '[PATCH] three'
	add_message '<odd "id" 11@example.org>' '[PATCH] odd'
	add_message '<p6@example.org>' '[PATCH] six' beta@lists.example.org
	add_message '<old8@example.org>' '[PATCH] old'
	add_message '<unrelated@example.org>' 'hello' 'friends@lists.example.org'
	notmuch new >>"$test_log" 2>&1
	standin_start "$TMP/pw.json" || return 1
	notmuch config set pwnm.url "$STANDIN_URL"
	notmuch config set pwnm.projects 'alpha;beta'
}

# pw_tags_dump: every mail of the standard world's projects with its pw/ tags, one line a
# mail ("id:MSGID: +pw/..."), sorted
pw_tags_dump() {
	notmuch dump --format=batch-tag -- 'tag:pw/alpha or tag:pw/beta' | awk -F' -- ' '
		/^#/ { next }
		{ n = split($1, t, " "); s = ""
		  for (i = 1; i <= n; i++) if (t[i] ~ /^\+pw/) s = s " " t[i]
		  print $2 ":" s }' | sort
}

# pwnm_run ARGS...: run pwnm, output appended to the log
pwnm_run() {
	echo "\$ pwnm $*" >>"$test_log"
	pwnm "$@" >>"$test_log" 2>&1
}

# ---- Emacs ----

# emacs_setup: skip the whole test unless emacs and notmuch-emacs are there,
# and set NOTMUCH_EL_DIR to the directory of notmuch-emacs (notmuch.el or
# notmuch.elc) the test loads.  A NOTMUCH_EL_DIR set before runs the tests
# against that notmuch-emacs (e.g. the emacs/ directory of a notmuch
# release) instead of the installed one; one without notmuch-emacs in it is
# an error, not a skip.
emacs_setup() {
	local f
	command -v emacs >/dev/null 2>&1 || test_skip_all "emacs is not installed"
	command -v notmuch >/dev/null 2>&1 || test_skip_all "notmuch is not installed"
	if [ -n "${NOTMUCH_EL_DIR:-}" ]; then
		[ -f "$NOTMUCH_EL_DIR/notmuch.el" ] || [ -f "$NOTMUCH_EL_DIR/notmuch.elc" ] || {
			echo "Bail out! NOTMUCH_EL_DIR=$NOTMUCH_EL_DIR has no notmuch.el or notmuch.elc"
			exit 1
		}
	else
		for f in /usr/share/emacs/site-lisp/elpa/notmuch-*/notmuch.elc \
			/usr/share/emacs/site-lisp/elpa/notmuch-*/notmuch.el \
			$(dpkg -L elpa-notmuch 2>/dev/null | grep '/notmuch\.el$') \
			/usr/share/emacs/site-lisp/notmuch.el \
			/usr/local/share/emacs/site-lisp/notmuch.el; do
			if [ -f "$f" ]; then
				NOTMUCH_EL_DIR=$(dirname "$f")
				break
			fi
		done
		[ -n "${NOTMUCH_EL_DIR:-}" ] || test_skip_all "notmuch-emacs (elpa-notmuch) is not installed"
	fi
	echo "# notmuch-emacs from $NOTMUCH_EL_DIR"
}

#!/usr/bin/env bash
# The server's names in tags: a state named like one of pwnm's own tags, names that are
# no tags as they are ('/', spaces), and names too long for notmuch.
. "$(dirname "$0")/lib.sh"

pw_world || exit 1
long=$(printf 'x%.0s' $(seq 200))
standin_stop
python3 - "$TMP/pw.json" "$long" <<'EOP'
import json, sys
w = json.load(open(sys.argv[1]))
# A Patchwork admin may create these states; a hostile server may send any slug.
w["states"] += ["archived", "delegate/maint", "Needs Review/2", sys.argv[2]]
# Usernames: one with a space and '/', one too long for a tag (Patchwork allows 150 bytes)
w["users"].append({"id": 9, "username": "ops team/2", "email": "ops@example.org", "token": None})
w["users"].append({"id": 10, "username": "u" * 195, "email": "long@example.org", "token": None})
w["projects"][0]["maintainers"] += ["ops team/2", "u" * 195]
# A project pwnm does not track
w["projects"].append({"id": 3, "link_name": "gamma", "name": "Gamma", "list_id": "gamma.lists.example.org",
                      "list_email": "gamma@lists.example.org", "maintainers": ["maint"]})
json.dump(w, open(sys.argv[1], "w"))
EOP
standin_start "$TMP/pw.json" || exit 1
notmuch config set pwnm.url "$STANDIN_URL"
export PWNM_TOKEN=$MAINT_TOKEN
pwnm_run sync

test_begin_subtest "a state 'archived' has a tag of its own, not the archived flag"
standin_admin POST patches/2 '{"state": "archived"}' >/dev/null
pwnm_run sync
test_expect_equal "$(pw_tags_of p2@example.org)" "pw/alpha pw/alpha/%61rchived"

test_begin_subtest "... reading its mail sends nothing"
standin_log_clear
notmuch tag -unread -- id:p2@example.org
pwnm_run sync
test_expect_equal "$(standin_requests '^PATCH') $(server_state 2)" "0 archived false -"

test_begin_subtest "... nor does a full sync"
pwnm_run sync --full
test_expect_equal "$(standin_requests '^PATCH') $(server_state 2) $(pw_tags_of p2@example.org)" \
	"0 archived false - pw/alpha pw/alpha/%61rchived"

test_begin_subtest "a state 'delegate/maint' is no delegation: reading and a full sync send nothing"
standin_admin POST patches/4 '{"state": "delegate/maint"}' >/dev/null
pwnm_run sync
standin_log_clear
notmuch tag -unread -- 'id:odd"id"11@example.org'
pwnm_run sync
pwnm_run sync --full
test_expect_equal "$(standin_requests '^PATCH') $(server_state 4 delegate) $(pw_tags_of 'odd"id"11@example.org')" \
	"0 - pw/alpha pw/alpha/delegate%2Fmaint"

test_begin_subtest "a state with '/' and spaces is one tag, %-encoded"
standin_admin POST patches/7 '{"state": "Needs Review/2"}' >/dev/null
add_message '<p7@example.org>' '[PATCH] seven'
notmuch new >>"$test_log" 2>&1
pwnm sync >"$TMP/out" 2>&1
code=$?
cat "$TMP/out" >>"$test_log"
test_expect_equal "$code $(pw_tags_of p7@example.org)" "0 pw/alpha pw/alpha/Needs%20Review%2F2"

test_begin_subtest "the tag archived on that mail archives it, and the state stays"
standin_log_clear
notmuch tag +pw/alpha/archived -- id:p7@example.org
pwnm_run sync
test_expect_equal "$(standin_requests '^PATCH') $(server_state 7 state archived)" "1 Needs Review/2 true"

test_begin_subtest "an encoded state tag set by hand is pushed as the state it names"
standin_log_clear
notmuch tag -pw/alpha/under-review -pw/alpha/%61rchived +pw/alpha/rfc -- id:p2@example.org
pwnm_run sync
notmuch tag -pw/alpha/rfc +pw/alpha/%61rchived -- id:p2@example.org
pwnm_run sync
test_expect_equal "$(standin_requests '^PATCH') $(server_state 2)" "2 archived false -"

test_begin_subtest "a tag spelt otherwise names no state: nothing sent, the tags are put back"
standin_log_clear
notmuch tag -pw/alpha/%61rchived +pw/alpha/%61rchive%64 -- id:p2@example.org
pwnm_run sync
test_expect_equal "$(standin_requests '^PATCH') $(pw_tags_of p2@example.org)" \
	"0 pw/alpha pw/alpha/%61rchived"

test_begin_subtest "a username with a space and '/': its delegate tag is encoded"
standin_admin POST patches/2 '{"delegate": "ops team/2"}' >/dev/null
pwnm_run sync
test_expect_equal "$(pw_tags_of p2@example.org)" "pw/alpha pw/alpha/%61rchived pw/alpha/delegate/ops%20team%2F2"

test_begin_subtest "... and that tag set by hand delegates to that user"
notmuch tag -pw/alpha/delegate/ops%20team%2F2 -- id:p2@example.org
pwnm_run sync
notmuch tag +pw/alpha/delegate/ops%20team%2F2 -- id:p2@example.org
pwnm_run sync
test_expect_equal "$(server_state 2 delegate)" "ops team/2"

test_begin_subtest "a username too long for a tag: said once, the delegation stands"
standin_admin POST patches/3 "{\"delegate\": \"$(printf 'u%.0s' $(seq 195))\"}" >/dev/null
pwnm sync >"$TMP/out" 2>&1
code1=$?
notmuch tag -unread -- id:p3@example.org
pwnm sync >>"$TMP/out" 2>&1
code2=$?
cat "$TMP/out" >>"$test_log"
test_expect_equal "$code1 $code2 $(grep -c "^pwnm: alpha: delegate 'u\{40\}\.\.\. (195 bytes)' makes a tag longer" "$TMP/out") $(server_state 3 delegate | cut -c1-3) $(pw_tags_of p3@example.org)" \
	"0 0 1 uuu pw/alpha pw/alpha/accepted pw/alpha/archived"

test_begin_subtest "... and status lists it"
test_expect_equal "$(pwnm status 2>&1 | grep -c "^  alpha: delegate 'u\{40\}\.\.\. (195 bytes)' (1 patch): longer than notmuch's 200-byte tags; its mail shows no delegate tag; rename it on Patchwork\$")" "1"

# ---- a state too long for a notmuch tag ----

test_begin_subtest "a 200-byte state: the run exits 0 and says it once"
standin_admin POST patches/8 "{\"state\": \"$long\"}" >/dev/null
pwnm sync >"$TMP/out" 2>&1
code=$?
cat "$TMP/out" >>"$test_log"
test_expect_equal "$code $(grep -c "^pwnm: alpha: state 'x\{40\}\.\.\. (200 bytes)' makes a tag longer than notmuch's 200 bytes: not shown, its mail keeps pw/alpha and its other tags; rename it on Patchwork\$" "$TMP/out")" \
	"0 1"

test_begin_subtest "... its mail keeps pw/alpha and the tags of its other patch"
test_expect_equal "$(pw_tags_of p1@example.org)" "pw/alpha pw/beta pw/beta/changes-requested"

test_begin_subtest "... later runs exit 0 and say nothing of it"
standin_log_clear
notmuch tag -unread -- id:p1@example.org
pwnm sync >"$TMP/out" 2>&1
code1=$?
pwnm sync --full >>"$TMP/out" 2>&1
code2=$?
pwnm sync >>"$TMP/out" 2>&1
code3=$?
cat "$TMP/out" >>"$test_log"
test_expect_equal "$code1 $code2 $code3 $(grep -c 'longer than notmuch' "$TMP/out") $(standin_requests '^PATCH')" \
	"0 0 0 0 0"

test_begin_subtest "pwnm status lists it, with what to do"
pwnm status >"$TMP/status" 2>&1
cat "$TMP/status" >>"$test_log"
test_expect_equal "$(grep -c "^  alpha: state 'x\{40\}\.\.\. (200 bytes)' (1 patch): longer than notmuch's 200-byte tags; its mail shows no state tag; rename it on Patchwork\$" "$TMP/status")" "1"

test_begin_subtest "a state tag set on that mail is pushed"
notmuch tag +pw/alpha/accepted -- id:p1@example.org
pwnm_run sync
test_expect_equal "$(server_state 8 state) $(pw_tags_of p1@example.org)" \
	"accepted pw/alpha pw/alpha/accepted pw/beta pw/beta/changes-requested"

test_begin_subtest "once no patch has it, status no longer lists it"
test_expect_equal "$(pwnm status 2>&1 | grep -c "alpha: state 'x")" "0"

# ---- patches of a project pwnm does not track ----

test_begin_subtest "an event for a patch that has since moved to a project not tracked: its mail gets no tag"
# patch 1 (old8) is too old to be tracked: the event makes the sync fetch it, and it is gamma's by then
standin_admin POST patches/1 '{"state": "rfc"}' >/dev/null
standin_admin POST patches/1 '{"project": "gamma"}' >/dev/null
pwnm sync >"$TMP/out" 2>&1
code=$?
cat "$TMP/out" >>"$test_log"
test_expect_equal "$code [$(pw_tags_of old8@example.org)] $(standin_requests '^GET /api/1.3/patches/1/$')" "0 [] 1"

test_begin_subtest "... and the next sync does not ask for it again"
standin_log_clear
pwnm_run sync
test_expect_equal "[$(pw_tags_of old8@example.org)] $(standin_requests '^GET /api/1.3/patches/1/$')" "[] 0"

# After a run that could write no tag (a full mail filesystem), the next
# runs know patches whose project the store does not list yet: their mail
# never gets pw/unknown tags.  The patches first seen by the failed run
# are not kept as if their mail showed them: the next run, not only a
# full sync, tags them.
test_begin_subtest "after a full mail filesystem, no pw/unknown tags"
standin_stop
world_dirs "$TEST_ROOT/small-fs"
if mount -t tmpfs -o size=4m tmpfs "$MAILDIR" 2>/dev/null; then
	trap 'standin_stop; umount "$MAILDIR"; test_cleanup' EXIT
	mkdir -p "$MAILDIR/cur" "$MAILDIR/new" "$MAILDIR/tmp"
	pw_world || exit 1
	notmuch config set pwnm.projects alpha
	pwnm_run sync
	notmuch config set pwnm.projects 'alpha;beta'
	dd if=/dev/zero of="$MAILDIR/fill" bs=4k >/dev/null 2>&1
	pwnm sync >"$TMP/out" 2>&1
	code=$?
	cat "$TMP/out" >>"$test_log"
	rm -f "$MAILDIR/fill"
	notmuch tag +flagged -- id:p6@example.org
	pwnm_run sync
	test_expect_equal "$code $(notmuch search --output=tags '*' | grep -c '^pw/unknown') $(pw_tags_of p6@example.org)" \
		"1 0 pw/beta pw/beta/queued"
	test_begin_subtest "... the project added before it is tagged by the next run, and kept in the store"
	pwnm status >"$TMP/status" 2>&1
	test_expect_equal "$(pw_tags_of p1@example.org) / $(grep -c '^project beta (id 2): 2 patches tracked' "$TMP/status")" \
		"pw/alpha pw/alpha/new pw/beta pw/beta/changes-requested / 1"
	test_begin_subtest "... and a full sync finds nothing more to do"
	pw_tags_dump >"$TMP/before"
	pwnm_run sync --full
	pw_tags_dump >"$TMP/after"
	test_expect_equal "$(notmuch search --output=tags '*' | grep -c '^pw/unknown') $(diff "$TMP/before" "$TMP/after" | wc -l)" "0 0"
	test_begin_subtest "a new patch of mail indexed before, while no tag can be written: tagged by the next run"
	add_message '<p9@example.org>' '[PATCH] nine'
	notmuch new >>"$test_log" 2>&1
	pwnm_run sync
	standin_admin POST patches "{\"id\": 9, \"project\": \"alpha\", \"msgid\": \"<p9@example.org>\", \"date\": \"$(date -u +%Y-%m-%dT%H:%M:%S)\", \"name\": \"[PATCH] nine\", \"state\": \"new\", \"submitter\": \"dev@example.org\"}" >/dev/null
	dd if=/dev/zero of="$MAILDIR/fill" bs=4k >/dev/null 2>&1
	pwnm sync >"$TMP/out" 2>&1
	code=$?
	cat "$TMP/out" >>"$test_log"
	rm -f "$MAILDIR/fill"
	pwnm_run sync
	test_expect_equal "$code $(pw_tags_of p9@example.org)" "1 pw/alpha pw/alpha/new"
else
	for t in "the project added before it is tagged by the next run" "a full sync finds nothing more" \
		"a new patch of mail indexed before, while no tag can be written"; do
		test_begin_subtest "$t"
		test_skip_ "cannot mount a small tmpfs (not root)"
	done
fi

test_done

#!/usr/bin/env bash
# pwnm accept: Patchwork's diff hash against the reference in tests/pwhash.py, then
# commits applied with git am from the test's own patch mails, matched and accepted.
. "$(dirname "$0")/lib.sh"

HASH_C=$PWNM_BUILD/tests/tst_diffhash

test_begin_subtest "the C hash equals the reference on generated diffs"
mkdir -p "$TMP/diffs"
python3 - "$TMP/diffs" <<'EOP'
import os, random, sys
rnd = random.Random(16)
pieces = ["--- a/", "+++ b/", "--- ", "+++ ", "@@ -", "@@ -1,2 +3,4 @@", "@@ -7 +7 @@ f()",
          "diff --git a/x b/x", "index 123..456 100644", "-", "+", " ", "\\ No newline",
          "a/b/c", "/dev/null", "x", "\t", "  ", ",", "0", "12", "007", "@@", " @@", "\r",
          "\u00e9", "\u00a0", "\x1c", "\x0b", "Subject: x", "-- ", "2.39.2", ""]
out = sys.argv[1]
for n in range(300):
    lines = []
    for _ in range(rnd.randint(0, 12)):
        lines.append("".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 5))))
    text = "\n".join(lines)
    if rnd.random() < 0.3:
        text = "\n \t" + text + "\n\n "
    with open(os.path.join(out, "%03d.diff" % n), "w", encoding="utf-8", newline="") as f:
        f.write(text)
EOP
python3 -c '
import os, sys
sys.path.insert(0, sys.argv[1])
import pwhash
for name in sorted(os.listdir(sys.argv[2])):
    with open(os.path.join(sys.argv[2], name), encoding="utf-8", newline="") as f:
        print(name, pwhash.diff_hash(f.read()))' "$TESTS_DIR" "$TMP/diffs" >"$TMP/want"
(cd "$TMP/diffs" && for f in *.diff; do printf '%s %s\n' "$f" "$("$HASH_C" --hash "$f")"; done) >"$TMP/got"
test_expect_equal_file "$TMP/got" "$TMP/want"

test_begin_subtest "the generated diffs are not all alike (the check can fail)"
test_expect_true [ "$(cut -d' ' -f2 "$TMP/want" | sort -u | wc -l)" -gt 150 ]

# ---- a developer's tree, its patch mails on the lists, a maintainer's tree ----

export GIT_AUTHOR_NAME="Dev Eloper" GIT_AUTHOR_EMAIL=dev@example.org
export GIT_COMMITTER_NAME="Test Maintainer" GIT_COMMITTER_EMAIL=maint@example.org
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
git_q() { git "$@" >>"$test_log" 2>&1; }

notmuch_setup
mkdir -p "$TMP/dev"
git_q -C "$TMP/dev" init -q -b main
for f in one two three cross five six seven eight nine; do
	printf 'line 1 of %s\nline 2\nline 3\n' "$f" >"$TMP/dev/$f.txt"
done
git_q -C "$TMP/dev" add .
git_q -C "$TMP/dev" commit -q -m "base"
git_q -C "$TMP/dev" checkout -q -b topic
for f in one two three cross five six seven eight nine; do
	printf 'line 1 of %s\nline 2 changed by %s\nline 3\nline 4\n' "$f" "$f" >"$TMP/dev/$f.txt"
	git_q -C "$TMP/dev" commit -q -a -m "$f: change line 2" -m "Why $f changes."
done
git_q -C "$TMP/dev" format-patch -q -o "$TMP/fp" main..topic
# Patch ids: one 11, two 12 (alpha) and 13 (delta, not tracked), three 14
# (older than pwnm.window), cross 15 (alpha) and 16 (beta), five 17, six 18
# (gamma: maint may not change it), seven 19, its resend 20, eight 21 (applied
# later, without a token), nine 22 (applied last, changed on Patchwork first).
python3 "$TESTS_DIR/accept-world.py" "$TMP" "$TESTS_DIR" "$MAINT_TOKEN" >"$TMP/ids"
notmuch new >>"$test_log" 2>&1
standin_start "$TMP/pw.json" || exit 1
notmuch config set pwnm.url "$STANDIN_URL"
notmuch config set pwnm.projects 'alpha;beta;gamma'
pwnm_run sync

# The maintainer's tree: the base, then the mails applied as maintainers do.
git_q clone -q -b main "$TMP/dev" "$TMP/maint"
M=$TMP/maint
am() { git_q -C "$M" am -q "$@"; }
am --message-id "$TMP/mails/one@example.org.eml"       # Message-Id: trailer
am "$TMP/mails/two@example.org.eml"                    # no trailer: by its diff
am "$TMP/mails/three@example.org.eml"                  # only a Link: trailer, below
git_q -C "$M" commit -q --amend -m "three: change line 2" -m "Why three changes." \
	-m "Link: https://lore.kernel.org/r/three@example.org/"
am "$TMP/mails/cross@example.org.eml"                  # cross-posted: two patches
am "$TMP/mails/five@example.org.eml"                   # then changed: matches nothing
sed -i 's/line 4/line 4, reworded by the maintainer/' "$M/five.txt"
git_q -C "$M" commit -q -a --amend --no-edit
am --message-id "$TMP/mails/six@example.org.eml"       # gamma: refused
am "$TMP/mails/seven@example.org.eml"                  # sent twice: two matches
id_of() { git -C "$M" rev-parse "HEAD~$1"; }
C_ONE=$(id_of 6) C_TWO=$(id_of 5) C_THREE=$(id_of 4) C_CROSS=$(id_of 3)
C_FIVE=$(id_of 2) C_SIX=$(id_of 1) C_SEVEN=$(id_of 0)
short() { printf '%.12s' "$1"; }
ref_of() { # ref_of PATCH-ID: "state commit_ref" as the API shows them
	curl -sS "$STANDIN_URL/api/1.3/patches/$1/" | python3 -c '
import json, sys
p = json.load(sys.stdin)
print(p["state"], p["commit_ref"] or "-")'
}
patches_sent() { standin_requests "^PATCH "; }

test_begin_subtest "the diff of an applied commit hashes as the reference hashes its mail"
git -C "$M" show --format= --no-color "$C_TWO" >"$TMP/two.diff"
test_expect_equal "$("$HASH_C" --hash "$TMP/two.diff")" \
	"$(python3 "$TESTS_DIR/pwhash.py" "$TMP/mails/two@example.org.eml")"

test_begin_subtest "outside a git tree: one clear line, usage exit"
mkdir -p "$TMP/nogit"
(cd "$TMP/nogit" && GIT_CEILING_DIRECTORIES=$TMP pwnm accept HEAD~1.. >"$TMP/out" 2>&1)
test_expect_equal "$? $(wc -l <"$TMP/out") $(grep -c 'is not in a git repository' "$TMP/out")" "2 1 1"

test_begin_subtest "a range git does not know: one clear line naming it"
pwnm accept -C "$M" no-such-branch.. >"$TMP/out" 2>&1
test_expect_equal "$? $(wc -l <"$TMP/out") $(grep -c "cannot list the commits of 'no-such-branch..'" "$TMP/out")" \
	"2 1 1"

test_begin_subtest "before a first sync: one line saying to sync first"
(
	world_dirs "$TEST_ROOT/unsynced"
	notmuch_setup
	notmuch config set pwnm.url "$STANDIN_URL"
	notmuch config set pwnm.projects alpha
	pwnm accept -C "$M" origin/main.. >"$TMP/out" 2>&1
	echo "$? $(wc -l <"$TMP/out") $(grep -c "not synced yet: run 'pwnm sync' first" "$TMP/out")" >"$TEST_ROOT/unsynced.res"
)
test_expect_equal "$(cat "$TEST_ROOT/unsynced.res")" "1 1 1"

test_begin_subtest "an empty range: said in one line, exit 0"
pwnm accept -C "$M" HEAD..HEAD >"$TMP/out" 2>&1
test_expect_equal "$? $(cat "$TMP/out")" "0 pwnm accept: no commits in the range (merges are left out)"

test_begin_subtest "no git on PATH: one line that says so"
mkdir -p "$TMP/nogitbin"
ln -sf "$(command -v pwnm)" "$TMP/nogitbin/pwnm"
PATH=$TMP/nogitbin pwnm accept -C "$M" origin/main.. >"$TMP/out" 2>&1
test_expect_equal "$? $(wc -l <"$TMP/out") $(grep -c 'cannot run git: No such file or directory (is git installed and on PATH?)' "$TMP/out")" \
	"1 1 1"

test_begin_subtest "--dry-run: a line per commit, nothing sent"
standin_log_clear
export PWNM_TOKEN=$MAINT_TOKEN
pwnm accept --dry-run -C "$M" origin/main.. >"$TMP/dry" 2>"$TMP/dry.err"
test_expect_equal "$? $(wc -l <"$TMP/dry") $(patches_sent)" "0 8 0"

test_begin_subtest "--dry-run: how each commit matched"
cat >"$TMP/want" <<EOW
$(short "$C_ONE") would be accepted (now new): alpha #11 "[PATCH 1/9] one: change line 2" (by Message-ID)
$(short "$C_TWO") would be accepted (now new): alpha #12 "[PATCH 2/9] two: change line 2" (by diff hash)
$(short "$C_THREE") would be accepted (now new): alpha #14 "[PATCH 3/9] three: change line 2" (by Message-ID, from the server)
$(short "$C_CROSS") would be accepted (now new): alpha #15 "[PATCH 4/9] cross: change line 2" (by diff hash); would be accepted (now new): beta #16 "[PATCH 4/9] cross: change line 2" (by diff hash)
EOW
head -n 4 "$TMP/dry" >"$TMP/got"
test_expect_equal_file "$TMP/got" "$TMP/want"

test_begin_subtest "--dry-run: no match, more than one match, and the summary"
git -C "$M" show --format= --no-color "$C_FIVE" >"$TMP/five.diff"
H_FIVE=$("$HASH_C" --hash "$TMP/five.diff")
cat >"$TMP/want" <<EOW
$(short "$C_FIVE") no match: "five: change line 2" (diff hash $(short "$H_FIVE") not in a tracked project)
$(short "$C_SIX") would be accepted (now new): gamma #18 "[PATCH 6/9] six: change line 2" (by Message-ID)
$(short "$C_SEVEN") more than one match, nothing done: "seven: change line 2": more than one patch in alpha: alpha #19 "[PATCH 7/9] seven: change line 2" (by diff hash), alpha #20 "[PATCH RESEND 7/9] seven: change line 2" (by diff hash)
pwnm accept: dry run: 7 commits: 6 patches would be set accepted, 0 already (skipped), 1 without a match, 1 with more than one match, 0 refused, 0 waiting
EOW
tail -n 4 "$TMP/dry" >"$TMP/got"
test_expect_equal_file "$TMP/got" "$TMP/want"

test_begin_subtest "--dry-run changed neither the server nor the tags"
test_expect_equal "$(ref_of 11) / $(pw_tags_of one@example.org)" "new - / pw/alpha pw/alpha/new"

test_begin_subtest "accept: exit 1 for the refused patch, a line per commit"
standin_log_clear
pwnm accept -C "$M" origin/main.. >"$TMP/run" 2>"$TMP/run.err"
test_expect_equal "$? $(wc -l <"$TMP/run")" "1 8"

test_begin_subtest "accept: the server has each matched patch accepted with its full commit id"
test_expect_equal "$(ref_of 11) / $(ref_of 12) / $(ref_of 14) / $(ref_of 15) / $(ref_of 16)" \
	"accepted $C_ONE / accepted $C_TWO / accepted $C_THREE / accepted $C_CROSS / accepted $C_CROSS"

test_begin_subtest "accept: the untracked project's copy, the changed commit, the refused and the ambiguous ones are left"
test_expect_equal "$(ref_of 13) / $(ref_of 17) / $(ref_of 18) / $(ref_of 19) / $(ref_of 20)" \
	"new - / new - / new - / new - / new -"

test_begin_subtest "accept: one PATCH per patch, each with the state and the commit_ref"
python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["method"] == "PATCH":
        print(r["path"], json.dumps(json.loads(r["body"]), sort_keys=True))
' "$TMP/standin.log" | sort >"$TMP/got"
for id in 11 12 14 15 16 18; do
	case $id in 11) c=$C_ONE ;; 12) c=$C_TWO ;; 14) c=$C_THREE ;; 15|16) c=$C_CROSS ;; 18) c=$C_SIX ;; esac
	printf '/api/1.3/patches/%s/ {"commit_ref": "%s", "state": "accepted"}\n' "$id" "$c"
done | sort >"$TMP/want"
test_expect_equal_file "$TMP/got" "$TMP/want"

test_begin_subtest "accept: the mails' tags moved with the change (cross-post: both projects)"
test_expect_equal "$(pw_tags_of one@example.org) / $(pw_tags_of cross@example.org)" \
	"pw/alpha pw/alpha/accepted / pw/alpha pw/alpha/accepted pw/beta pw/beta/accepted"

test_begin_subtest "accept: the mail of a patch older than the window is tagged too"
test_expect_equal "$(pw_tags_of three@example.org)" "pw/alpha pw/alpha/accepted"

test_begin_subtest "accept: the refused patch is denied as a refused tag change is, its tags put back"
test_expect_equal "$(pw_tags_of six@example.org)" "pw/denied pw/gamma pw/gamma/new"

test_begin_subtest "accept: the report says what became of each commit"
cat >"$TMP/want" <<EOW
$(short "$C_ONE") accepted: alpha #11 "[PATCH 1/9] one: change line 2" (by Message-ID)
$(short "$C_TWO") accepted: alpha #12 "[PATCH 2/9] two: change line 2" (by diff hash)
$(short "$C_THREE") accepted: alpha #14 "[PATCH 3/9] three: change line 2" (by Message-ID, from the server)
$(short "$C_CROSS") accepted: alpha #15 "[PATCH 4/9] cross: change line 2" (by diff hash); accepted: beta #16 "[PATCH 4/9] cross: change line 2" (by diff hash)
$(short "$C_FIVE") no match: "five: change line 2" (diff hash $(short "$H_FIVE") not in a tracked project)
$(short "$C_SIX") refused: gamma #18 "[PATCH 6/9] six: change line 2" (by Message-ID): patch 18: PATCH $STANDIN_URL/api/1.3/patches/18/: HTTP 403: You do not have permission to perform this action.
$(short "$C_SEVEN") more than one match, nothing done: "seven: change line 2": more than one patch in alpha: alpha #19 "[PATCH 7/9] seven: change line 2" (by diff hash), alpha #20 "[PATCH RESEND 7/9] seven: change line 2" (by diff hash)
pwnm accept: 7 commits: 5 patches set accepted, 0 already (skipped), 1 without a match, 1 with more than one match, 1 refused, 0 waiting
EOW
test_expect_equal_file "$TMP/run" "$TMP/want"

test_begin_subtest "rerun on the same range: the done ones skipped, only the refused one asked again"
standin_log_clear
pwnm accept -C "$M" origin/main.. >"$TMP/again" 2>"$TMP/again.err"
test_expect_equal "$(patches_sent) $(standin_requests '^PATCH /api/1.3/patches/18/') $(grep -c 'skipped, already accepted with this commit' "$TMP/again")" \
	"1 1 4"

test_begin_subtest "rerun: the summary counts the five patches as already done"
test_expect_equal "$(tail -n 1 "$TMP/again")" \
	"pwnm accept: 7 commits: 0 patches set accepted, 5 already (skipped), 1 without a match, 1 with more than one match, 1 refused, 0 waiting"

test_begin_subtest "rerun: the server is as it was"
test_expect_equal "$(ref_of 11) / $(ref_of 15) / $(ref_of 18)" "accepted $C_ONE / accepted $C_CROSS / new -"

test_begin_subtest "rerun: no tag changed"
test_expect_equal "$(pw_tags_of one@example.org) / $(pw_tags_of cross@example.org)" \
	"pw/alpha pw/alpha/accepted / pw/alpha pw/alpha/accepted pw/beta pw/beta/accepted"

test_begin_subtest "a sync afterwards changes nothing either"
standin_log_clear
pwnm_run sync
test_expect_equal "$(patches_sent) $(pw_tags_of two@example.org)" "0 pw/alpha pw/alpha/accepted"

test_begin_subtest "--help says how, exit 0; through notmuch too"
pwnm accept --help >"$TMP/help" 2>&1
c1=$?
notmuch pwnm accept --dry-run -C "$M" origin/main.. >"$TMP/nm" 2>&1
test_expect_equal "$c1 $(grep -c '^usage: pwnm accept' "$TMP/help") $? $(tail -n 1 "$TMP/nm" | cut -c1-31)" \
	"0 1 0 pwnm accept: dry run: 7 commits"

test_begin_subtest "no token: the change waits in the outbox, the tags already show it"
unset PWNM_TOKEN
am --message-id "$TMP/mails/eight@example.org.eml"
C_EIGHT=$(id_of 0)
standin_log_clear
pwnm accept -C "$M" origin/main.. >"$TMP/notoken" 2>"$TMP/notoken.err"
test_expect_equal "$(grep -c "^$(short "$C_EIGHT") waiting: alpha #21 " "$TMP/notoken") $(patches_sent) $(ref_of 21) $(pw_tags_of eight@example.org)" \
	"1 0 new - pw/alpha pw/alpha/accepted"

test_begin_subtest "with a token the next sync pushes the state and the commit"
export PWNM_TOKEN=$MAINT_TOKEN
pwnm_run sync
test_expect_equal "$(ref_of 21) $(pw_tags_of eight@example.org)" "accepted $C_EIGHT pw/alpha pw/alpha/accepted"

test_begin_subtest "--state and --project: another state, only that project's patches"
pwnm accept --dry-run --state queued --project beta -C "$M" origin/main.. >"$TMP/q" 2>&1
test_expect_equal "$(grep -c 'would be queued' "$TMP/q") $(grep -c 'alpha #' "$TMP/q")" "1 0"

test_begin_subtest "a bad --state is refused before anything runs"
test_expect_code 2 pwnm accept --state 'no such' -C "$M" origin/main..

test_begin_subtest "pwnm.accept_state sets what accept sets; a bad value is refused"
notmuch config set pwnm.accept_state queued
pwnm accept --dry-run --project beta -C "$M" origin/main.. >"$TMP/q2" 2>&1
c1=$(grep -c 'would be queued' "$TMP/q2")
notmuch config set pwnm.accept_state 'not a slug'
pwnm accept --dry-run -C "$M" origin/main.. >"$TMP/q3" 2>&1
test_expect_equal "$c1 $? $(grep -c "invalid value 'not a slug' for pwnm.accept_state" "$TMP/q3")" "1 1 1"
notmuch config set pwnm.accept_state ''

test_begin_subtest "changed on Patchwork since the last sync: accept starts from the server's value, no conflict"
am --message-id "$TMP/mails/nine@example.org.eml"
C_NINE=$(id_of 0)
standin_admin POST patches/22 '{"state": "rejected"}' >/dev/null
pwnm accept -C "$M" origin/main.. >"$TMP/later" 2>"$TMP/later.err"
test_expect_equal "$(ref_of 22) / $(grep -c "^$(short "$C_NINE") accepted: alpha #22 " "$TMP/later") / $(grep -c '^conflict:' "$TMP/later.err") / $(pw_tags_of nine@example.org)" \
	"accepted $C_NINE / 1 / 0 / pw/alpha pw/alpha/accepted"

test_begin_subtest "a server without ?hash= (API 1.1): the diff is not looked up, and nothing is taken for a match"
standin_stop
world_dirs "$TEST_ROOT/old"
notmuch_setup
n=0
for f in "$TEST_ROOT"/mails/*.eml; do
	n=$((n + 1))
	cp "$f" "$MAILDIR/new/old-$n:2,"
done
notmuch new >>"$test_log" 2>&1
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
d["api_versions"] = ["1.0", "1.1"]
json.dump(d, open(sys.argv[2], "w"))' "$TEST_ROOT/pw.json" "$TMP/pw-old.json"
standin_start "$TMP/pw-old.json" || exit 1
notmuch config set pwnm.url "$STANDIN_URL"
notmuch config set pwnm.projects 'alpha;beta;gamma'
pwnm_run sync
pwnm accept --dry-run -C "$M" origin/main.. >"$TMP/old" 2>&1
test_expect_equal "$(grep -c "not looked up: the server's API 1.1 has no hash filter" "$TMP/old") $(grep -c '(by diff hash)' "$TMP/old") $(grep -c 'would be accepted (now new): alpha #11 ' "$TMP/old")" \
	"4 0 1"

test_begin_subtest "an empty commit: no diff to look up, and no request for it"
git_q -C "$M" commit -q --allow-empty -m "empty: nothing changes"
standin_log_clear
pwnm accept --dry-run -C "$M" HEAD~1.. >"$TMP/empty" 2>&1
test_expect_equal "$(head -n 1 "$TMP/empty" | cut -d' ' -f2-) $(standin_requests 'hash=')" \
	'no match: "empty: nothing changes" (no diff to look up) 0'

test_done

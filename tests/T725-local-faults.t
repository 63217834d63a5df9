#!/usr/bin/env bash
# Storage faults stop pwnm before it trusts them: a state directory it cannot
# use, links planted in it, a damaged store; and pwnm never renames mail files.
. "$(dirname "$0")/lib.sh"

pw_world || exit 1
"$PWNM_SRC/install.sh" --hooks-only --bindir "$PWNM_BUILD" --libexecdir "$PWNM_SRC/hooks" \
	>>"$test_log" 2>&1 || { echo "Bail out! install.sh --hooks-only failed"; exit 1; }
notmuch config set pwnm.hook_timeout 2s

# mail_files: the mail files under the maildir, as paths relative to it
mail_files() {
	(cd "$MAILDIR" && find new cur -type f | sort)
}

# ---- maildir flags ----

test_begin_subtest "a first sync writes pw/ tags without renaming a mail file"
mail_files >"$TMP/files.before"
pwnm_run sync
mail_files >"$TMP/files.after"
test_expect_equal "$(count_of tag:pw/alpha) $(diff "$TMP/files.before" "$TMP/files.after" | wc -l)" "4 0"

test_begin_subtest "a pulled state change renames no mail file either"
standin_admin POST patches/2 '{"state": "rfc"}' >/dev/null
pwnm_run sync
mail_files >"$TMP/files.after"
test_expect_equal "$(pw_tags_of p2@example.org) $(diff "$TMP/files.before" "$TMP/files.after" | wc -l)" \
	"pw/alpha pw/alpha/rfc 0"

state=$(pwnm status | sed -n 's/^state: *//p')
cp -a "$state" "$TMP/state.good"
restore_state() {
	rm -rf "$state"
	cp -a "$TMP/state.good" "$state"
}

# ---- a state directory pwnm cannot use ----

: >"$TMP/a-file"
notmuch config set pwnm.state_dir "$TMP/a-file/state"

test_begin_subtest "state directory that cannot be created: notmuch new exits 0"
add_message '<hello1@example.org>' 'hello'
notmuch new >"$TMP/out" 2>&1
test_expect_equal "$?" 0

test_begin_subtest "... and each hook said why in one line"
test_expect_equal "$(grep -c "cannot create state directory '$TMP/a-file/state'.*pwnm did nothing" "$TMP/out")" 2

test_begin_subtest "... and the new mail was indexed"
test_expect_equal "$(count_of id:hello1@example.org)" 1

test_begin_subtest "the same through 'pwnm hook' itself: exit 0, one line"
PWNM_HOOK_ALWAYS=1 pwnm-hook pre-new >"$TMP/out" 2>&1
test_expect_equal "$? $(grep -c 'cannot create state directory' "$TMP/out") $(wc -l <"$TMP/out")" "0 1 1"

test_begin_subtest "notmuch insert with that directory: exit 0, the mail is there"
printf 'From: a@example.org\nMessage-ID: <ins1@example.org>\nSubject: x\n\nx\n' |
	notmuch insert >"$TMP/out" 2>&1
test_expect_equal "$? $(count_of id:ins1@example.org) $(grep -c 'cannot create state directory' "$TMP/out")" "0 1 1"

test_begin_subtest "pwnm sync refuses it with the same line"
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$([ $? -ne 0 ] && echo failed) $(grep -c 'cannot create state directory' "$TMP/out")" "failed 1"
notmuch config set pwnm.state_dir ""

test_begin_subtest "no pwnm to run: the hook script says so and exits 0"
PWNM=$TMP/no-such/pwnm "$PWNM_SRC/hooks/post-new" >"$TMP/out" 2>&1
test_expect_equal "$? $(grep -c "cannot run $TMP/no-such/pwnm" "$TMP/out")" "0 1"

test_begin_subtest "a state directory others may write to is refused, saying how to fix it"
chmod 0777 "$state"
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$([ $? -ne 0 ] && echo failed) $(grep -c "state directory '$state' may be written by others (mode 0777); run 'chmod go-w" "$TMP/out")" "failed 1"

test_begin_subtest "... and a hook does nothing with it, exit 0"
notmuch tag +pw/alpha/accepted -pw/alpha/rfc -- id:p2@example.org
notmuch new >"$TMP/out" 2>&1
test_expect_equal "$? $(grep -c 'may be written by others' "$TMP/out") $(standin_requests '^PATCH')" "0 2 0"
notmuch tag -pw/alpha/accepted +pw/alpha/rfc -- id:p2@example.org
chmod 0700 "$state"

test_begin_subtest "a state directory of another user is refused"
if chown 65534 "$state" 2>/dev/null; then
	pwnm status >"$TMP/out" 2>&1
	code=$?
	chown "$(id -u)" "$state"
	test_expect_equal "$([ $code -ne 0 ] && echo failed) $(grep -c "state directory '$state' belongs to user id 65534, not to you" "$TMP/out")" "failed 1"
else
	test_skip_ "cannot chown (not root)"
fi

# ---- links planted in the state directory ----

# planted_link FILE: FILE in the state directory becomes a link to
# $TMP/target; pwnm sync must refuse it, naming it, and leave the target
# alone.  The real file is put back after.
planted_link() {
	local f=$1 code
	echo "precious" >"$TMP/target"
	rm -f "$TMP/saved"
	[ -e "$state/$f" ] && mv "$state/$f" "$TMP/saved"
	ln -s "$TMP/target" "$state/$f"
	pwnm sync >"$TMP/out" 2>&1
	code=$?
	test_expect_equal "$([ $code -ne 0 ] && echo failed) $(grep -c "/$f' is a symbolic link" "$TMP/out") $(cat "$TMP/target")" \
		"failed 1 precious"
	rm -f "$state/$f"
	[ -e "$TMP/saved" ] && mv "$TMP/saved" "$state/$f"
}

test_begin_subtest "a lock.mdb link: refused, its target untouched"
planted_link lock.mdb

test_begin_subtest "a data.mdb link: refused, its target untouched"
planted_link data.mdb

test_begin_subtest "a link for the run lock: refused, its target untouched"
planted_link lock

test_begin_subtest "a hook.log link: the hook writes nothing through it and says so"
ln -s "$TMP/target" "$state/hook.log"
notmuch config set pwnm.url http://127.0.0.1:1
notmuch tag +pw/alpha/accepted -pw/alpha/rfc -- id:p2@example.org
PWNM_HOOK_ALWAYS=1 PWNM_TOKEN=$MAINT_TOKEN pwnm-hook post-new >"$TMP/out" 2>&1
code=$?
test_expect_equal "$code $(grep -c "hook.log' is a symbolic link" "$TMP/out") $(cat "$TMP/target")" "0 1 precious"
rm -f "$state/hook.log"
notmuch config set pwnm.url "$STANDIN_URL"
restore_state
notmuch tag -pw/alpha/accepted +pw/alpha/rfc -- id:p2@example.org

test_begin_subtest "with the links gone, a sync works again"
test_expect_success pwnm sync
cp -a "$state/." "$TMP/state.good/"

test_begin_subtest "a hook's stamp that is a link is no stamp: the hook decides, the link's target untouched"
for i in 1 2 3; do PWNM_DEBUG=hook pwnm-hook-idle pre-new 2>&1 | grep -q 'the stamp holds' && break; done
stamp=$(ls "$HOME"/.cache/pwnm/hooks/pre-new-* 2>/dev/null | head -1)
if [ -n "$stamp" ] && [ -f "$stamp" ]; then
	mv "$stamp" "$TMP/stamp.copy"
	cp "$TMP/stamp.copy" "$TMP/stamp.orig"
	ln -s "$TMP/stamp.copy" "$stamp"
	PWNM_DEBUG=hook pwnm-hook-idle pre-new >"$TMP/out" 2>&1
	code=$?
	test_expect_equal "$code $(grep -c 'the stamp holds' "$TMP/out") $(cmp -s "$TMP/stamp.copy" "$TMP/stamp.orig" && echo untouched) $([ -L "$stamp" ] && echo link || echo file)" \
		"0 0 untouched file"
else
	test_fail_ "no stamp was left for pre-new"
fi

# ---- a damaged store ----

# flip OFFSET: four bytes of the good data.mdb changed at OFFSET
flip() {
	restore_state
	printf '\245\132\377\000' | dd of="$state/data.mdb" bs=1 seek="$1" conv=notrunc 2>/dev/null
}

# Each page's header and node offsets (where liblmdb follows numbers), and
# points spread over the rest of each page.
size=$(stat -c %s "$state/data.mdb")
offsets=""
for ((page = 0; page < size; page += 4096)); do
	for d in 0 8 12 14 16 18 20 22 24 28 40 100 1500 3600; do
		offsets="$offsets $((page + d))"
	done
done

bad=""
nruns=0
for off in $offsets; do
	flip "$off"
	pwnm sync >"$TMP/out" 2>&1
	code=$?
	nruns=$((nruns + 1))
	if [ "$code" -ge 128 ] || { [ "$code" -ne 0 ] && ! grep -q "cannot open state database '$state'.*move it away" "$TMP/out"; }; then
		bad="$bad $off:$code"
		{ echo "# offset $off: exit $code"; cat "$TMP/out"; } >>"$test_log"
	fi
done
test_begin_subtest "four bytes flipped at $nruns places: pwnm sync works or names the store and the way out"
test_expect_equal "${bad:-none}" "none"

bad=""
nruns=0
for off in $offsets; do
	case $((off % 4096)) in 12 | 18 | 24 | 100) ;; *) continue ;; esac
	flip "$off"
	notmuch tag +pw/alpha/accepted -pw/alpha/rfc -- id:p2@example.org
	notmuch new >"$TMP/out" 2>&1
	code=$?
	nruns=$((nruns + 1))
	if grep -qi 'signal' "$TMP/out" || { [ "$code" -ne 0 ] && ! grep -q 'cannot open state database' "$TMP/out"; }; then
		bad="$bad $off:$code"
		{ echo "# offset $off: notmuch new exit $code"; cat "$TMP/out"; } >>"$test_log"
	fi
	notmuch tag -pw/alpha/accepted +pw/alpha/rfc -- id:p2@example.org
done
test_begin_subtest "the same through the hooks at $nruns places: no hook killed by a signal"
test_expect_equal "${bad:-none}" "none"

test_begin_subtest "an unchanged store is not walked again: the check is remembered"
restore_state
PWNM_DEBUG=state pwnm status >"$TMP/out1" 2>&1
PWNM_DEBUG=state pwnm status >"$TMP/out2" 2>&1
test_expect_equal "$(grep -c 'data.mdb checked' "$TMP/out1") $(grep -c 'data.mdb unchanged since it was checked' "$TMP/out2")" "1 1"

test_begin_subtest "a sync's own commit keeps it remembered"
pwnm_run sync
PWNM_DEBUG=state pwnm status >"$TMP/out" 2>&1
test_expect_equal "$(grep -c 'data.mdb unchanged since it was checked' "$TMP/out")" 1

test_begin_subtest "damage written in place with the old modification time is still found"
python3 - "$state/data.mdb" <<'EOP'
import struct, sys
# the main database's root page number in both meta pages: far outside the file
f = open(sys.argv[1], "r+b")
for meta in (0, 4096):
    f.seek(meta + 128)
    f.write(struct.pack("=Q", 0xfffffff0))
EOP
touch -r "$TMP/state.good/data.mdb" "$state/data.mdb"
pwnm status >"$TMP/out" 2>&1
test_expect_equal "$([ $? -ne 0 ] && echo failed) $(grep -c "cannot open state database '$state': page [0-9]* is outside the database" "$TMP/out")" "failed 1"

test_begin_subtest "a damaged project record: refused at open with the way out"
restore_state
python3 - "$state/data.mdb" <<'EOP'
import sys
# the project records hold their link name; damage the length before it, in every
# copy of the record (the pages of older transactions keep theirs until reused)
data = bytearray(open(sys.argv[1], "rb").read())
i, hits = data.find(b"beta\0"), 0
while i > 4:
    if data[i - 4:i] == b"\0\0\0\x04":
        data[i - 4:i] = b"\xff\xff\xff\x7f"
        hits += 1
    i = data.find(b"beta\0", i + 1)
assert hits
open(sys.argv[1], "wb").write(data)
EOP
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$([ $? -ne 0 ] && echo failed) $(grep -c "cannot open state database '$state': corrupt project record .*move it away" "$TMP/out")" "failed 1"

test_begin_subtest "the good store still works"
restore_state
test_expect_success pwnm sync

test_done

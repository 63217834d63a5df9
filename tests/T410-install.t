#!/usr/bin/env bash
# install.sh: install into a prefix, chain the user's hooks, idempotence, exact uninstall.
. "$(dirname "$0")/lib.sh"

INSTALL=$PWNM_SRC/install.sh
# make inside install.sh uses the build under test (BUILD ?= build).
export BUILD=$PWNM_BUILD
PREFIX=$TMP/prefix

pw_world || exit 1
HOOK_DIR=$(notmuch config get database.hook_dir)
mkdir -p "$HOOK_DIR"

# The user's own hooks: each appends a line to $TMP/trace and exits with
# the number in $TMP/<hook>.status (0 when missing).
for h in pre-new post-new; do
	cat >"$HOOK_DIR/$h" <<EOF
#!/bin/sh
# the user's $h hook
echo "user $h \${NOTMUCH_CONFIG:+with-config}" >>"$TMP/trace"
exit \$(cat "$TMP/$h.status" 2>/dev/null || echo 0)
EOF
done
chmod 750 "$HOOK_DIR/pre-new"
chmod 755 "$HOOK_DIR/post-new"
# post-insert is a symlink to a script kept elsewhere
mkdir -p "$TMP/myhooks"
printf '#!/bin/sh\necho "user post-insert" >>"%s/trace"\n' "$TMP" >"$TMP/myhooks/post-insert"
chmod 700 "$TMP/myhooks/post-insert"
ln -s "$TMP/myhooks/post-insert" "$HOOK_DIR/post-insert"

# hook_dir_hash: names, types, modes, link targets and contents of the hook directory
hook_dir_hash() {
	(
		cd "$HOOK_DIR" || exit 1
		find . -print | sort | while read -r f; do
			printf '%s %s %s' "$f" "$(stat -c '%F %a' "$f")" "$(readlink "$f")"
			[ -f "$f" ] && [ ! -L "$f" ] && printf ' %s' "$(sha256sum <"$f")"
			echo
		done
	) | sha256sum
}

mkdir -p "$TMP/saved"
cp -a "$HOOK_DIR/." "$TMP/saved/"
mode_of() {
	stat -c %a "$1"
}
modes_before="$(mode_of "$HOOK_DIR/pre-new") $(mode_of "$HOOK_DIR/post-new")"
hash_before=$(hook_dir_hash)

# ---- install ----

test_begin_subtest "install.sh --prefix installs and exits 0"
"$INSTALL" --prefix "$PREFIX" >"$TMP/install.out" 2>&1
rc=$?
cat "$TMP/install.out" >>"$test_log"
test_expect_equal "$rc" 0

test_begin_subtest "the programs, hook programs, shim and Emacs file are in the prefix"
missing=
for f in bin/pwnm bin/notmuch-pwnm libexec/pwnm/pre-new libexec/pwnm/post-new \
	libexec/pwnm/post-insert libexec/pwnm/pwnm-notmuch share/emacs/site-lisp/pwnm.el; do
	[ -e "$PREFIX/$f" ] || missing="$missing $f"
done
test_expect_equal "$missing" ""

test_begin_subtest "the internal pwnm-hook and pwnm-hook-idle are in libexec, not in bin"
[ -x "$PREFIX/libexec/pwnm/pwnm-hook" ] && [ ! -e "$PREFIX/bin/pwnm-hook" ] &&
	[ -x "$PREFIX/libexec/pwnm/pwnm-hook-idle" ] && [ ! -e "$PREFIX/bin/pwnm-hook-idle" ]
test_expect_ok $?

test_begin_subtest "a tree built before is not built again (make && install.sh)"
test_expect_equal "$(grep -c '^install.sh: the build is up to date' "$TMP/install.out") $(grep -c '^install.sh: make all' "$TMP/install.out")" "1 0"

test_begin_subtest "a prefix whose bin is not on PATH is pointed out"
test_expect_true grep -q "^install.sh: note: $PREFIX/bin is not on PATH" "$TMP/install.out"

test_begin_subtest "it says how to load the Emacs file"
test_expect_true grep -qF "(add-to-list 'load-path \"$PREFIX/share/emacs/site-lisp\")" "$TMP/install.out"

# The notmuch-emacs directory, when emacs and elpa-notmuch are there.
NOTMUCH_EL_DIR=$(ls -d /usr/share/emacs/site-lisp/elpa/notmuch-*/ 2>/dev/null | head -n 1)
if command -v emacs >/dev/null 2>&1 && [ -n "$NOTMUCH_EL_DIR" ]; then
	test_begin_subtest "pwnm.el is byte-compiled on install"
	[ -s "$PREFIX/share/emacs/site-lisp/pwnm.elc" ] &&
		grep -q "^byte-compiled .*pwnm.elc" "$TMP/install.out"
	test_expect_ok $?

	test_begin_subtest "the init-file lines install.sh prints load pwnm (compiled) and work"
	grep '^  (' "$TMP/install.out" | sed 's/^  //; s/ *;.*$//' >"$TMP/init.el"
	echo '(princ (format "%s %s\n" (locate-library "pwnm") (and (memq (function pwnm-hello-insert-section) notmuch-hello-sections) t)))' >>"$TMP/init.el"
	emacs --batch -l "$TMP/init.el" >"$TMP/init.out" 2>>"$test_log"
	test_expect_equal "$(wc -l <"$TMP/init.el") $(cat "$TMP/init.out")" \
		"5 $PREFIX/share/emacs/site-lisp/pwnm.elc t"
fi

test_begin_subtest "the README names the same init-file lines, each once"
grep -E "^    \((add-to-list 'load-path|require 'pwnm|pwnm-)" "$PWNM_SRC/README" |
	sed 's/^    //; s|"/usr/local/|"PREFIX/|' >"$TMP/readme-init"
grep -E "^  \((add-to-list 'load-path|require 'pwnm|pwnm-)" "$TMP/install.out" |
	sed "s/^  //; s|\"$PREFIX/|\"PREFIX/|" >"$TMP/install-init"
test_expect_equal "$(wc -l <"$TMP/readme-init") $(sort "$TMP/readme-init" | uniq -d | wc -l)" "4 0"

test_begin_subtest "README and install.sh give the same lines"
test_expect_equal_file "$TMP/readme-init" "$TMP/install-init"

test_begin_subtest "our three hooks are in notmuch's hook directory"
n=0
for h in pre-new post-new post-insert; do
	grep -q '^# pwnm-managed-hook' "$HOOK_DIR/$h" && [ -x "$HOOK_DIR/$h" ] && n=$((n + 1))
done
test_expect_equal "$n" 3

test_begin_subtest "the user's hooks are kept unchanged beside them"
cmp -s "$HOOK_DIR/pre-new.pwnm-orig" "$TMP/saved/pre-new" &&
	cmp -s "$HOOK_DIR/post-new.pwnm-orig" "$TMP/saved/post-new" &&
	[ "$(readlink "$HOOK_DIR/post-insert.pwnm-orig")" = "$TMP/myhooks/post-insert" ]
test_expect_ok $?

test_begin_subtest "our hooks name the installed programs"
test_expect_true grep -qF "$PREFIX/libexec/pwnm/post-new" "$HOOK_DIR/post-new"

test_begin_subtest "notmuch new runs the user's hooks (with NOTMUCH_CONFIG) and ours"
: >"$TMP/trace"
add_message '<hello1@example.org>' 'hello'
PWNM_DEBUG=hook notmuch new >"$TMP/new.out" 2>&1
rc=$?
cat "$TMP/new.out" >>"$test_log"
# Both of ours ran (their debug lines); the hint is said once for both.
test_expect_equal "$rc|$(cat "$TMP/trace" | tr '\n' '|')$(grep -c -e '^pwnm-hook: \[hook\] pre-new: unsynced$' -e '^pwnm-hook: \[hook\] post-new: unsynced$' "$TMP/new.out")|$(grep -c "run 'pwnm sync'" "$TMP/new.out")" \
	"0|user pre-new with-config|user post-new with-config|2|1"

test_begin_subtest "the installed hooks run libexec's pwnm-hook"
mv "$PREFIX/libexec/pwnm/pwnm-hook" "$PREFIX/libexec/pwnm/pwnm-hook.real"
printf '#!/bin/sh\necho "pwnm-hook $*" >>"%s/hook-trace"\nexec "%s" "$@"\n' "$TMP" \
	"$PREFIX/libexec/pwnm/pwnm-hook.real" >"$PREFIX/libexec/pwnm/pwnm-hook"
chmod 755 "$PREFIX/libexec/pwnm/pwnm-hook"
PWNM_HOOK_ALWAYS=1 notmuch new >>"$test_log" 2>&1
mv -f "$PREFIX/libexec/pwnm/pwnm-hook.real" "$PREFIX/libexec/pwnm/pwnm-hook"
test_expect_equal "$(cat "$TMP/hook-trace" 2>/dev/null | tr '\n' ' ')" "pwnm-hook pre-new pwnm-hook post-new "

test_begin_subtest "notmuch insert runs the user's post-insert (a symlink) too"
: >"$TMP/trace"
printf 'From: a@example.org\nTo: b@example.org\nSubject: x\nMessage-ID: <ins1@example.org>\n\nx\n' |
	notmuch insert >>"$test_log" 2>&1
test_expect_equal "$(cat "$TMP/trace")" "user post-insert"

test_begin_subtest "a failing user pre-new still makes notmuch new fail"
echo 1 >"$TMP/pre-new.status"
: >"$TMP/trace"
notmuch new >"$TMP/new.out" 2>&1
rc=$?
cat "$TMP/new.out" >>"$test_log"
rm -f "$TMP/pre-new.status"
[ "$rc" -ne 0 ] && [ "$(cat "$TMP/trace")" = "user pre-new with-config" ]
test_expect_ok $?

test_begin_subtest "a failing user post-new still fails notmuch new; ours still runs"
echo 3 >"$TMP/post-new.status"
PWNM_DEBUG=hook notmuch new >"$TMP/new.out" 2>&1
rc=$?
rm -f "$TMP/post-new.status"
# notmuch's own verdict on the user's hook alone, for comparison
mv "$HOOK_DIR/post-new" "$TMP/ours-post-new"
cp -p "$HOOK_DIR/post-new.pwnm-orig" "$HOOK_DIR/post-new"
echo 3 >"$TMP/post-new.status"
notmuch new >>"$test_log" 2>&1
rc_plain=$?
rm -f "$TMP/post-new.status"
mv -f "$TMP/ours-post-new" "$HOOK_DIR/post-new"
cat "$TMP/new.out" >>"$test_log"
[ "$rc" -ne 0 ] && [ "$rc" = "$rc_plain" ] && grep -q '^pwnm-hook: \[hook\] post-new: unsynced$' "$TMP/new.out"
test_expect_ok $?

# ---- idempotence ----

test_begin_subtest "a second install.sh changes nothing in the hook directory"
hash1=$(hook_dir_hash)
"$INSTALL" --prefix "$PREFIX" >"$TMP/install2.out" 2>&1
rc=$?
cat "$TMP/install2.out" >>"$test_log"
test_expect_equal "$rc $(hook_dir_hash)" "0 $hash1"

test_begin_subtest "a second install.sh reports no hook written"
test_expect_equal "$(grep -cE 'hooks/[a-z-]+: (installed|updated)' "$TMP/install2.out")" 0

test_begin_subtest "install.sh --hooks-only on the same prefix changes nothing either"
"$INSTALL" --hooks-only --prefix "$PREFIX" >>"$test_log" 2>&1
test_expect_equal "$(hook_dir_hash)" "$hash1"

test_begin_subtest "a hook of the user's that cannot be moved aside: nothing is changed, and it says so"
mkdir -p "$TMP/hd2"
printf '#!/bin/sh\necho mine\n' >"$TMP/hd2/post-new"
printf '#!/bin/sh\necho also mine\n' >"$TMP/hd2/post-new.pwnm-orig"
chmod 755 "$TMP/hd2/post-new" "$TMP/hd2/post-new.pwnm-orig"
cp -p "$TMP/hd2/post-new" "$TMP/hd2-post-new"
cp -p "$TMP/hd2/post-new.pwnm-orig" "$TMP/hd2-post-new.pwnm-orig"
"$INSTALL" --hooks-only --prefix "$PREFIX" --hook-dir "$TMP/hd2" >"$TMP/hd2.out" 2>&1
rc=$?
cat "$TMP/hd2.out" >>"$test_log"
[ "$rc" -ne 0 ] && cmp -s "$TMP/hd2/post-new" "$TMP/hd2-post-new" &&
	cmp -s "$TMP/hd2/post-new.pwnm-orig" "$TMP/hd2-post-new.pwnm-orig" &&
	[ "$(find "$TMP/hd2" -mindepth 1 | wc -l)" = 2 ] && grep -q 'left alone' "$TMP/hd2.out"
test_expect_ok $?

# ---- uninstall ----

test_begin_subtest "install.sh --uninstall exits 0"
"$INSTALL" --uninstall --prefix "$PREFIX" >>"$test_log" 2>&1
test_expect_equal "$?" 0

test_begin_subtest "the user's hooks are back byte for byte"
cmp -s "$HOOK_DIR/pre-new" "$TMP/saved/pre-new" &&
	cmp -s "$HOOK_DIR/post-new" "$TMP/saved/post-new"
test_expect_ok $?

test_begin_subtest "with the same modes"
test_expect_equal "$(mode_of "$HOOK_DIR/pre-new") $(mode_of "$HOOK_DIR/post-new")" "$modes_before"

test_begin_subtest "the symlinked hook is a symlink to the same place again"
[ -L "$HOOK_DIR/post-insert" ] &&
	[ "$(readlink "$HOOK_DIR/post-insert")" = "$TMP/myhooks/post-insert" ]
test_expect_ok $?

test_begin_subtest "the hook directory is exactly as before the install"
test_expect_equal "$(hook_dir_hash)" "$hash_before"

test_begin_subtest "no hook of ours is left"
test_expect_equal "$(grep -l '^# pwnm-managed-hook' "$HOOK_DIR"/* 2>/dev/null | wc -l)" 0

test_begin_subtest "the installed files are gone from the prefix"
[ ! -e "$PREFIX/bin/pwnm" ] && [ ! -e "$PREFIX/libexec/pwnm" ] &&
	[ ! -e "$PREFIX/share/emacs/site-lisp/pwnm.el" ] && [ ! -e "$PREFIX/share/emacs/site-lisp/pwnm.elc" ]
test_expect_ok $?

test_begin_subtest "after uninstall notmuch new runs only the user's hooks"
: >"$TMP/trace"
add_message '<hello2@example.org>' 'hello'
notmuch new >"$TMP/new.out" 2>&1
rc=$?
test_expect_equal "$rc|$(cat "$TMP/trace" | tr '\n' '|')$(grep -c pwnm "$TMP/new.out")" \
	"0|user pre-new with-config|user post-new with-config|0"

test_begin_subtest "a second --uninstall changes nothing"
"$INSTALL" --uninstall --hooks-only >>"$test_log" 2>&1
test_expect_equal "$?|$(hook_dir_hash)" "0|$hash_before"

# ---- fresh hook directory, staging, options ----

test_begin_subtest "into an empty hook directory: links to the hook programs, removed again by --uninstall"
"$INSTALL" --hooks-only --bindir "$PWNM_BUILD" --libexecdir "$PWNM_SRC/hooks" \
	--hook-dir "$TMP/hd3" >>"$test_log" 2>&1
n=0
for h in pre-new post-new post-insert; do
	[ -L "$TMP/hd3/$h" ] && [ "$(readlink "$TMP/hd3/$h")" = "$PWNM_SRC/hooks/$h" ] && n=$((n + 1))
done
"$INSTALL" --uninstall --hooks-only --hook-dir "$TMP/hd3" >>"$test_log" 2>&1
test_expect_equal "$n $(find "$TMP/hd3" -mindepth 1 | wc -l)" "3 0"

test_begin_subtest "--destdir stages the files and leaves the hook directory alone"
"$INSTALL" --prefix /usr --destdir "$TMP/stage" >>"$test_log" 2>&1
rc=$?
[ "$rc" = 0 ] && [ -x "$TMP/stage/usr/bin/pwnm" ] &&
	[ -x "$TMP/stage/usr/libexec/pwnm/post-new" ] && [ "$(hook_dir_hash)" = "$hash_before" ]
test_expect_ok $?

test_begin_subtest "the staged hook entry points are links to one program, pwnm-hook-idle"
lx=$TMP/stage/usr/libexec/pwnm
[ -x "$lx/pwnm-hook-idle" ] && [ -x "$lx/pwnm-hook" ] && [ ! -e "$lx/notmuch-hook" ] &&
	[ ! -e "$TMP/stage/usr/bin/pwnm-hook-idle" ] && [ ! -e "$TMP/stage/usr/bin/pwnm-hook" ] &&
	[ "$(readlink "$lx/pre-new")" = pwnm-hook-idle ] &&
	[ "$(readlink "$lx/post-new")" = pwnm-hook-idle ] &&
	[ "$(readlink "$lx/post-insert")" = pwnm-hook-idle ] &&
	[ "$(readlink "$lx/pwnm")" = /usr/bin/pwnm ]
test_expect_ok $?

test_begin_subtest "the program and the source tree's script under another name refuse, naming the three"
"$lx/pwnm-hook-idle" >"$TMP/out" 2>&1
rc1=$?
"$PWNM_SRC/hooks/notmuch-hook" >>"$TMP/out" 2>&1
test_expect_equal "$rc1 $? $(grep -cE 'pre-new(, |\|)post-new( or |\|)post-insert' "$TMP/out")" "2 2 2"

test_begin_subtest "--hooks-only refuses when the programs are not installed"
"$INSTALL" --hooks-only --prefix "$TMP/nowhere" >>"$test_log" 2>&1
rc=$?
[ "$rc" -ne 0 ] && [ "$(hook_dir_hash)" = "$hash_before" ]
test_expect_ok $?

# ---- under sudo (a stand-in sudo that records and runs the command) ----

if [ "$(id -u)" = 0 ]; then
	mkdir -p "$TMP/sudobin"
	cat >"$TMP/sudobin/sudo" <<EOF
#!/bin/sh
echo "sudo \$*" >>"$TMP/sudo.log"
while [ \$# -gt 0 ] && [ "\$1" != -- ]; do shift; done
shift
# What runs is no longer root's sudo session.
unset SUDO_USER
exec "\$@"
EOF
	chmod 755 "$TMP/sudobin/sudo"
	test_begin_subtest "under sudo the hooks are installed as the invoking user"
	SUDO_USER=mailuser PATH=$TMP/sudobin:$PATH "$INSTALL" --prefix "$TMP/p2" >"$TMP/sudo.out" 2>&1
	rc=$?
	cat "$TMP/sudo.out" >>"$test_log"
	test_expect_equal "$rc $(grep -c -- "^sudo -u mailuser -H -- $PWNM_SRC/install.sh --hooks-only --prefix $TMP/p2 " "$TMP/sudo.log") $(grep -c "^# pwnm-managed-hook" "$HOOK_DIR/post-new")" "0 1 1"

	test_begin_subtest "under sudo --uninstall removes the hooks as the invoking user, then the files"
	: >"$TMP/sudo.log"
	SUDO_USER=mailuser PATH=$TMP/sudobin:$PATH "$INSTALL" --uninstall --prefix "$TMP/p2" >>"$test_log" 2>&1
	rc=$?
	test_expect_equal "$rc $(grep -c -- "^sudo -u mailuser -H -- $PWNM_SRC/install.sh --uninstall --hooks-only" "$TMP/sudo.log") $(hook_dir_hash) $([ -e "$TMP/p2/bin/pwnm" ] && echo left)" \
		"0 1 $hash_before "
fi

test_begin_subtest "no notmuch configuration: the hooks are left to the user, who is told how"
NOTMUCH_CONFIG=$TMP/none "$INSTALL" --prefix "$TMP/p3" >"$TMP/p3.out" 2>&1
rc=$?
if [ "$(id -u)" = 0 ]; then
	test_expect_equal "$rc $(grep -c "run './install.sh --hooks-only' as the user" "$TMP/p3.out") $([ -x "$TMP/p3/bin/pwnm" ] && echo installed)" \
		"1 1 installed"
else
	test_expect_equal "$rc $(grep -c "notmuch setup" "$TMP/p3.out")" "1 1"
fi

test_begin_subtest "--uninstall without a notmuch configuration still removes the files"
NOTMUCH_CONFIG=$TMP/none "$INSTALL" --uninstall --prefix "$TMP/p3" >"$TMP/p3u.out" 2>&1
test_expect_equal "$? $(find "$TMP/p3" -type f | wc -l) $(grep -c 'no hook directory to clean' "$TMP/p3u.out")" "0 0 1"

test_begin_subtest "--help names every option install.sh takes"
"$INSTALL" --help >"$TMP/help" 2>&1
sed -n 's/^\t\(-[-a-z]*\)[=) |].*/\1/p' "$INSTALL" | sort -u >"$TMP/options"
missing=
for o in $(cat "$TMP/options"); do
	grep -q -- "^  .*$o\b" "$TMP/help" || missing="$missing $o"
done
test_expect_equal "$(awk 'END { print (NR > 8) ? "many" : NR }' "$TMP/options")$missing" "many"

test_begin_subtest "--help exits 0, an unknown option does not"
"$INSTALL" --help >"$TMP/help" 2>&1
rc_help=$?
"$INSTALL" --no-such-option >>"$test_log" 2>&1
rc_bad=$?
[ "$rc_help" = 0 ] && [ "$rc_bad" -ne 0 ] && grep -q -- --uninstall "$TMP/help"
test_expect_ok $?

test_done

#!/bin/sh
# install.sh - build and install pwnm, and put its hooks into notmuch's hook directory
#
# A thin wrapper around make:  checks the build dependencies, runs
# 'make' and 'make install', then installs the pre-new, post-new and
# post-insert hooks into the directory 'notmuch config get
# database.hook_dir' prints.  A hook the user already has is kept as
# <hook>.pwnm-orig and still runs first (its exit status still counts);
# --uninstall puts it back unchanged.  Running it twice changes nothing.
set -eu

prog=install.sh
MARKER='# pwnm-managed-hook'
ORIG_SUFFIX=.pwnm-orig
HOOKS='pre-new post-new post-insert'

usage() {
	cat <<'EOF'
usage: install.sh [OPTIONS]

Build and install pwnm (make && make install), then install its notmuch
hooks (pre-new, post-new, post-insert) into the directory printed by
'notmuch config get database.hook_dir'.  An existing hook of yours is
renamed to <hook>.pwnm-orig and chained: it runs first, with the same
stdin and environment, and its exit status is kept (a failing pre-new
still stops notmuch new).  Running install.sh again changes nothing.

  --prefix DIR       install under DIR (default /usr/local)
  --destdir DIR      stage the files under DIR (for packaging); implies
                     --no-hooks, as the staged files are not in place yet
  --bindir DIR       where pwnm is (default PREFIX/bin)
  --libexecdir DIR   where the hook programs are (default PREFIX/libexec/pwnm)
  --hook-dir DIR     notmuch's hook directory (default: asked from notmuch)
  --hooks-only       do not build or install; put hooks in place for an
                     existing installation (PREFIX, --bindir, --libexecdir)
  --no-hooks         build and install, leave the hook directory alone
  --uninstall        remove our hooks and restore yours exactly as they
                     were, then 'make uninstall' (not with --hooks-only)
  -h, --help         this text

notmuch reads NOTMUCH_CONFIG and NOTMUCH_PROFILE as usual, so the hooks go
to the database they name.  Under sudo the hooks go to the notmuch of the
user who ran sudo (install.sh runs itself as that user for them), and a
build that is not up to date is made as that user too, so 'make && sudo
./install.sh' builds once and leaves the tree yours.  Or, in two steps:
sudo ./install.sh --no-hooks && ./install.sh --hooks-only

Environment: MAKE, CC (the build), BUILD (its directory), EMACS and
NOTMUCH_LISPDIR (byte-compiling pwnm.el; see the Makefile).
EOF
}

say() {
	printf '%s: %s\n' "$prog" "$*"
}

die() {
	printf '%s: %s\n' "$prog" "$*" >&2
	exit 1
}

# abspath PATH: PATH made absolute (it need not exist)
abspath() {
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s/%s\n' "$(pwd)" "$1" ;;
	esac
}

# shquote STRING: STRING quoted for sh
shquote() {
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

need_arg() {
	[ $# -ge 2 ] || die "$1 needs an argument; see --help"
}

prefix=/usr/local
destdir=
bindir=
libexecdir=
hook_dir=
hooks_only=0
no_hooks=0
uninstall=0

while [ $# -gt 0 ]; do
	case $1 in
	--prefix=*) prefix=${1#*=} ;;
	--prefix) need_arg "$@"; prefix=$2; shift ;;
	--destdir=*) destdir=${1#*=} ;;
	--destdir) need_arg "$@"; destdir=$2; shift ;;
	--bindir=*) bindir=${1#*=} ;;
	--bindir) need_arg "$@"; bindir=$2; shift ;;
	--libexecdir=*) libexecdir=${1#*=} ;;
	--libexecdir) need_arg "$@"; libexecdir=$2; shift ;;
	--hook-dir=*) hook_dir=${1#*=} ;;
	--hook-dir) need_arg "$@"; hook_dir=$2; shift ;;
	--hooks-only) hooks_only=1 ;;
	--no-hooks) no_hooks=1 ;;
	--uninstall) uninstall=1 ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown option '$1'; see --help" ;;
	esac
	shift
done

[ "$hooks_only" -eq 1 ] && [ "$no_hooks" -eq 1 ] && die "--hooks-only and --no-hooks exclude each other"
[ -n "$prefix" ] || die "--prefix needs a directory"
prefix=$(abspath "$prefix")
[ -n "$bindir" ] || bindir=$prefix/bin
[ -n "$libexecdir" ] || libexecdir=$prefix/libexec/pwnm
bindir=$(abspath "$bindir")
libexecdir=$(abspath "$libexecdir")
lispdir=$prefix/share/emacs/site-lisp
if [ -n "$destdir" ]; then
	destdir=$(abspath "$destdir")
	if [ "$no_hooks" -eq 0 ] && [ "$hooks_only" -eq 0 ]; then
		say "--destdir given: the hooks are not installed (run '$prog --hooks-only' on the target)"
	fi
	[ "$hooks_only" -eq 1 ] && die "--hooks-only and --destdir exclude each other"
	no_hooks=1
fi

srcdir=$(cd "$(dirname "$0")" && pwd)

# The user who ran sudo, when we run as root under sudo; empty otherwise.
sudo_user=
if [ "$(id -u)" = 0 ] && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
	sudo_user=$SUDO_USER
fi

# make_vars: the variables every make call gets
make_vars() {
	set -- "PREFIX=$prefix" "BINDIR=$bindir" "LIBEXECDIR=$libexecdir"
	[ -z "$destdir" ] || set -- "$@" "DESTDIR=$destdir"
	[ -z "${BUILD:-}" ] || set -- "$@" "BUILD=$BUILD"
	printf '%s\n' "$@"
}

# run_make [-q] [--as USER] TARGET...: make with make_vars; -q: only ask
# whether the targets are up to date, quietly.
run_make() {
	quiet=0
	as=
	[ "$1" = -q ] && { quiet=1; shift; }
	[ "$1" = --as ] && { as=$2; shift 2; }
	# One variable a line, so directories with spaces survive.
	(
		cd "$srcdir"
		oldifs=$IFS
		IFS='
'
		# shellcheck disable=SC2046 # split on newlines on purpose
		set -- "$@" $(make_vars)
		IFS=$oldifs
		if [ "$quiet" -eq 1 ]; then
			${MAKE:-make} -q "$@" >/dev/null 2>&1
		elif [ -n "$as" ]; then
			say "make $* (as $as)"
			sudo -u "$as" -- ${MAKE:-make} "$@"
		else
			say "make $*"
			${MAKE:-make} "$@"
		fi
	)
}

# as_invoking_user ARGS...: this script again, as the user who ran sudo
as_invoking_user() {
	sudo -u "$sudo_user" -H -- "$srcdir/install.sh" "$@" --prefix "$prefix" \
		--bindir "$bindir" --libexecdir "$libexecdir"
}

# ---- build dependencies ----

check_deps() {
	missing=
	for c in ${MAKE:-make} "${CC:-cc}" pkg-config; do
		command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
	done
	if command -v pkg-config >/dev/null 2>&1; then
		for p in libcurl libcjson lmdb; do
			pkg-config --exists "$p" || missing="$missing $p(pkg-config)"
		done
	fi
	if command -v "${CC:-cc}" >/dev/null 2>&1; then
		printf '#include <notmuch.h>\n' | "${CC:-cc}" -E -x c - >/dev/null 2>&1 ||
			missing="$missing notmuch.h"
	fi
	[ -n "$missing" ] || return 0
	printf '%s: missing build dependencies:%s\n' "$prog" "$missing" >&2
	if [ -f /etc/debian_version ]; then
		echo "On Debian or Ubuntu install them with:" >&2
		echo "  sudo apt-get install build-essential pkg-config libnotmuch-dev libcurl4-openssl-dev libcjson-dev liblmdb-dev" >&2
	else
		echo "Install a C compiler, GNU make, pkg-config and the development files of" \
			"libnotmuch, libcurl, cJSON and LMDB." >&2
	fi
	exit 1
}

# ---- hooks ----

# find_hook_dir [soft]: set hook_dir, asking notmuch; without "soft" a
# failure ends the script, with it the function returns 1.
find_hook_dir() {
	[ -n "$hook_dir" ] && return 0
	if ! command -v notmuch >/dev/null 2>&1; then
		[ "${1:-}" = soft ] && return 1
		die "notmuch is not on PATH; give --hook-dir"
	fi
	hook_dir=$(notmuch config get database.hook_dir 2>/dev/null) || hook_dir=
	[ -n "$hook_dir" ] && return 0
	[ "${1:-}" = soft ] && return 1
	if [ "$(id -u)" = 0 ]; then
		die "root has no notmuch configuration, so the hooks are not installed; run" \
			"'./install.sh --hooks-only' as the user whose mail it is (or give --hook-dir)"
	fi
	die "cannot ask notmuch for database.hook_dir: no notmuch configuration? Create one" \
		"with 'notmuch setup', or give --hook-dir"
}

# Ours: a script with our marker (a chained hook), or a link to our hook
# entry point of that name (PREFIX/libexec/pwnm/NAME, of this or another
# prefix, or anything that leads to pwnm-hook-idle or notmuch-hook).
is_ours() {
	if [ -L "$1" ]; then
		case $(readlink "$1") in
		"$libexecdir/${1##*/}" | */libexec/pwnm/"${1##*/}") return 0 ;;
		esac
		case $(readlink -f "$1" 2>/dev/null) in
		*/pwnm-hook-idle | */notmuch-hook) return 0 ;;
		esac
		return 1
	fi
	[ -f "$1" ] && grep -qx "$MARKER.*" "$1" 2>/dev/null
}

exists() {
	[ -e "$1" ] || [ -L "$1" ]
}

# hook_text NAME CHAINED: the hook script we put in the hook directory
# (only chained hooks are scripts)
hook_text() {
	name=$1
	chained=$2
	cat <<EOF
#!/bin/sh
$MARKER: written by pwnm's install.sh; 'install.sh --uninstall' removes it
EOF
	if [ "$chained" -eq 1 ]; then
		cat <<EOF
#
# The $name hook that was here before is kept as $name$ORIG_SUFFIX.  It
# runs first, as notmuch would run it; its exit status is this hook's.
case \$0 in
*/*) orig=\${0%/*}/$name$ORIG_SUFFIX ;;
*) orig=./$name$ORIG_SUFFIX ;;
esac
status=0
if [ -x "\$orig" ]; then
	"\$orig" "\$@"
	status=\$?
fi
EOF
		if [ "$name" = pre-new ]; then
			cat <<EOF
# A failing pre-new stops notmuch new: nothing more to do then.
[ "\$status" -eq 0 ] || exit "\$status"
PWNM=$(shquote "$bindir/pwnm")
export PWNM
exec $(shquote "$libexecdir/$name")
EOF
		else
			cat <<EOF
PWNM=$(shquote "$bindir/pwnm")
export PWNM
$(shquote "$libexecdir/$name") </dev/null
ours=\$?
[ "\$status" -eq 0 ] || exit "\$status"
exit "\$ours"
EOF
		fi
	fi
}

# put_hook NAME CHAINED: write our hook NAME unless it is already so;
# sets changed=1 when it wrote.  Unchained, the hook is a link to the
# program itself (notmuch runs it with no shell in between; it takes its
# name as the hook's); chained, a script that runs the user's hook first.
# (Called where set -e does not reach, so every step checks.)
put_hook() {
	f=$hook_dir/$1
	tmp=$hook_dir/.$1.pwnm-tmp.$$
	changed=0
	if [ "$2" -eq 0 ]; then
		[ -L "$f" ] && [ "$(readlink "$f")" = "$libexecdir/$1" ] && return 0
		rm -f "$tmp"
		ln -s "$libexecdir/$1" "$tmp" || die "cannot write $tmp"
		mv -f "$tmp" "$f" || die "cannot write $f"
		changed=1
		return 0
	fi
	hook_text "$1" "$2" >"$tmp" || die "cannot write $tmp"
	chmod 755 "$tmp" || die "cannot chmod $tmp"
	if [ -f "$f" ] && [ ! -L "$f" ] && [ -x "$f" ] && cmp -s "$tmp" "$f"; then
		rm -f "$tmp"
		return 0
	fi
	mv -f "$tmp" "$f" || die "cannot write $f"
	changed=1
}

install_hooks() {
	find_hook_dir
	for h in $HOOKS; do
		[ -x "$libexecdir/$h" ] ||
			die "$libexecdir/$h is missing; install pwnm first or give --libexecdir"
	done
	[ -x "$bindir/pwnm" ] || die "$bindir/pwnm is missing; install pwnm first or give --bindir"
	# A hook of the user's with a <hook>.pwnm-orig beside it cannot be
	# moved aside without overwriting something: change nothing at all.
	for h in $HOOKS; do
		f=$hook_dir/$h
		o=$f$ORIG_SUFFIX
		if ! is_ours "$f" && exists "$f" && exists "$o"; then
			printf '%s: %s and %s both exist and neither is ours; nothing changed, all left alone\n' \
				"$prog" "$f" "$o" >&2
			failed=1
		fi
	done
	[ "$failed" -eq 0 ] || return 0
	mkdir -p "$hook_dir" || die "cannot create $hook_dir"
	for h in $HOOKS; do
		f=$hook_dir/$h
		o=$f$ORIG_SUFFIX
		if is_ours "$f"; then
			chained=0
			exists "$o" && chained=1
			put_hook "$h" "$chained"
			[ "$changed" -eq 0 ] || say "$f: updated"
		elif exists "$f"; then
			mv "$f" "$o" || die "cannot rename $f"
			put_hook "$h" 1
			say "$f: installed; your hook is now $o and still runs first"
		else
			chained=0
			exists "$o" && chained=1
			put_hook "$h" "$chained"
			say "$f: installed"
		fi
	done
}

uninstall_hooks() {
	if ! find_hook_dir soft; then
		say "no notmuch configuration, so no hook directory to clean (give --hook-dir DIR if" \
			"pwnm's hooks are in one); removing the installed files"
		return 0
	fi
	failed=0
	for h in $HOOKS; do
		f=$hook_dir/$h
		o=$f$ORIG_SUFFIX
		if is_ours "$f"; then
			rm -f "$f" || die "cannot remove $f"
			if exists "$o"; then
				mv "$o" "$f" || die "cannot restore $f"
				say "$f: your hook is back"
			else
				say "$f: removed"
			fi
		elif exists "$f"; then
			if exists "$o"; then
				printf '%s: %s is not ours; %s left alone too\n' "$prog" "$f" "$o" >&2
				failed=1
			fi
		elif exists "$o"; then
			mv "$o" "$f" || die "cannot restore $f"
			say "$f: your hook is back"
		fi
	done
}

# ---- main ----

status=0
failed=0
if [ "$uninstall" -eq 1 ]; then
	# make uninstall removes LIBEXECDIR as a whole: only ever a directory of ours
	if [ "$hooks_only" -eq 0 ] && [ "${libexecdir##*/}" != pwnm ]; then
		die "--uninstall: the libexec directory '$libexecdir' is not named pwnm; remove the files by hand"
	fi
	if [ "$no_hooks" -eq 0 ] && [ -n "$sudo_user" ] && [ -z "$hook_dir" ]; then
		say "removing the hooks as $sudo_user, from $sudo_user's notmuch"
		as_invoking_user --uninstall --hooks-only || status=1
	elif [ "$no_hooks" -eq 0 ]; then
		uninstall_hooks
		status=$failed
	fi
	if [ "$hooks_only" -eq 0 ]; then
		run_make uninstall
	fi
	exit "$status"
fi

if [ "$hooks_only" -eq 0 ]; then
	check_deps
	if run_make -q all; then
		say "the build is up to date"
	elif [ -n "$sudo_user" ]; then
		run_make --as "$sudo_user" all
	else
		run_make all
	fi
	run_make install
fi
hooks_elsewhere=0
if [ "$no_hooks" -eq 0 ] && [ -n "$sudo_user" ] && [ -z "$hook_dir" ]; then
	say "installing the hooks as $sudo_user, into $sudo_user's notmuch"
	if as_invoking_user --hooks-only; then
		hooks_elsewhere=1
	else
		say "the hooks are not installed; run './install.sh --hooks-only' as $sudo_user"
		status=1
	fi
elif [ "$no_hooks" -eq 0 ]; then
	install_hooks
	status=$failed
fi

if [ "$hooks_only" -eq 0 ] && [ -z "$destdir" ]; then
	case ":$PATH:" in
	*":$bindir:"*) ;;
	*)
		say "note: $bindir is not on PATH${sudo_user:+ (as sudo sets it)}; add it, or Emacs will" \
			"not find notmuch-pwnm (or set pwnm-command to $bindir/notmuch-pwnm)"
		;;
	esac
fi
if [ "$hooks_only" -eq 0 ]; then
	cat <<EOF

pwnm is installed in $bindir.  For its Emacs helper, add to your init file:
  (add-to-list 'load-path "$lispdir")
  (require 'pwnm)
  (pwnm-enable)       ; Patchwork section in notmuch-hello, push after tagging
  (pwnm-setup-keys)   ; C-c p in notmuch buffers: s set state, w web page, ? the rest
EOF
fi
if [ "$no_hooks" -eq 0 ] && [ "$status" -eq 0 ] && [ "$hooks_elsewhere" -eq 0 ]; then
	echo
	echo "The hooks are in $hook_dir."
	if [ -z "$(notmuch config get pwnm.url 2>/dev/null)" ]; then
		cat <<EOF
Point pwnm at your server and sync once:
  notmuch config set pwnm.url https://patchwork.example.org
  notmuch config set pwnm.projects 'project1;project2'
  pwnm sync
EOF
	fi
	cat <<EOF
'notmuch new' now keeps the pw/ tags and Patchwork in step.  Front ends
other than Emacs push tag changes at once when they run
$libexecdir/pwnm-notmuch as their notmuch command.
EOF
fi
exit "$status"

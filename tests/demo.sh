#!/usr/bin/env bash
# demo.sh - pwnm end to end on a throwaway notmuch database and the bundled Patchwork stand-in.
#
# Makes sample patch mail for two projects, starts tests/fake-patchwork.py on
# 127.0.0.1, runs a first 'pwnm sync', prints the tag counts, then changes a
# state in notmuch and pushes it back.  Nothing outside a temporary directory
# is touched.  Usage: make demo   (or tests/demo.sh [--keep])
set -eu

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${PWNM_BUILD:-$SRC/build}
KEEP=${1:-}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pwnm-demo.XXXXXX")
export HOME=$TMP/home NOTMUCH_CONFIG=$TMP/notmuch-config
export XDG_STATE_HOME=$HOME/.local/state XDG_CONFIG_HOME=$HOME/.config
export PATH=$BUILD:$PATH
unset PWNM_TOKEN
SERVER_PID=""
cleanup() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
	if [ "$KEEP" = --keep ]; then
		echo "(kept $TMP: export NOTMUCH_CONFIG=$NOTMUCH_CONFIG to look around)"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT

for tool in notmuch python3 curl; do
	command -v "$tool" >/dev/null || { echo "demo: '$tool' is missing; see README" >&2; exit 1; }
done
[ -x "$BUILD/pwnm" ] || { echo "demo: build first: make" >&2; exit 1; }

say() { printf '\n== %s\n' "$*"; }

say "a throwaway notmuch database with 40 patch mails in $TMP"
mkdir -p "$HOME" "$TMP/mail/cur" "$TMP/mail/new" "$TMP/mail/tmp"
cat >"$NOTMUCH_CONFIG" <<EOC
[database]
path=$TMP/mail
[user]
name=Demo Maintainer
primary_email=maint@example.org
[new]
tags=unread;inbox
EOC
TOKEN=0123456789abcdef0123456789abcdef01234567
python3 - "$TMP" "$TOKEN" <<'EOP'
import json, os, random, sys, time
tmp, token = sys.argv[1], sys.argv[2]
random.seed(7)
states = ["new"] * 6 + ["under-review"] * 3 + ["accepted"] * 5 + ["changes-requested"] * 2 + \
         ["superseded", "rejected", "rfc"]
patches, pid = [], 0
now = time.time()
for n in range(40):
    project = "alpha" if n % 3 else "beta"
    date = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - (40 - n) * 86400 / 3))
    msgid = "<%s.%d-%d-dev@example.org>" % (time.strftime("%Y%m%d%H%M%S", time.gmtime(now - n * 3600)), 4000 + n, n % 4 + 1)
    subject = "[PATCH %d/4] %s: %s" % (n % 4 + 1, project, random.choice(
        ["fix a leak", "add a test", "handle EINTR", "speed up the parser", "document the flags"]))
    lists = ["%s@lists.example.org" % project]
    projects = [project]
    if n == 5:  # one mail sent to both lists: two patches, two states
        projects, lists = ["alpha", "beta"], ["alpha@lists.example.org", "beta@lists.example.org"]
    for p in projects:
        pid += 1
        patches.append({"id": pid, "project": p, "msgid": msgid, "date": date, "name": subject,
                        "state": random.choice(states), "archived": random.random() < 0.1,
                        "delegate": "maint" if random.random() < 0.2 else None,
                        "submitter": "dev@example.org"})
    with open(os.path.join(tmp, "mail", "cur", "demo-%03d:2," % n), "w") as f:
        f.write("From: Dev Eloper <dev@example.org>\nTo: %s\nList-Id: <%s>\nSubject: %s\nDate: %s\nMessage-ID: %s\n\nA patch.\n"
                % (", ".join(lists), lists[0].replace("@", "."), subject, time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(now - (40 - n) * 7200)), msgid))
data = {"projects": [{"id": 1, "link_name": "alpha", "name": "Alpha", "list_id": "alpha.lists.example.org",
                      "list_email": "alpha@lists.example.org", "maintainers": ["maint"]},
                     {"id": 2, "link_name": "beta", "name": "Beta", "list_id": "beta.lists.example.org",
                      "list_email": "beta@lists.example.org", "maintainers": ["maint"]}],
        "users": [{"id": 2, "username": "maint", "email": "maint@example.org", "token": token}],
        "patches": patches}
json.dump(data, open(os.path.join(tmp, "pw.json"), "w"))
EOP
notmuch new --quiet

say "the Patchwork stand-in on 127.0.0.1"
python3 "$SRC/tests/fake-patchwork.py" --data "$TMP/pw.json" --port 0 --port-file "$TMP/port" \
	--log "$TMP/requests.log" >"$TMP/server.out" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.1; done
URL=http://127.0.0.1:$(cat "$TMP/port")
echo "$URL"

say "configure pwnm (notmuch config set pwnm.url / pwnm.projects)"
notmuch config set pwnm.url "$URL"
notmuch config set pwnm.projects "alpha;beta"
echo "pwnm.url=$URL  pwnm.projects=alpha;beta"

say "pwnm sync (first sync)"
pwnm -v sync

say "what notmuch now knows (tag counts)"
notmuch search --output=tags '*' | grep '^pw/' | while read -r tag; do
	printf '%6d  %s\n' "$(notmuch count -- "tag:\"$tag\"")" "$tag"
done

say "mark one new alpha patch accepted in notmuch, then push it with a token"
mail=$(notmuch search --output=messages --limit=1 -- tag:pw/alpha/new and not tag:pw/beta)
notmuch tag -pw/alpha/new +pw/alpha/accepted -- "$mail"
echo "notmuch tag -pw/alpha/new +pw/alpha/accepted -- $mail"
PWNM_TOKEN=$TOKEN pwnm -v sync
patch=$(pwnm explain "${mail#id:}" | sed -n 's/^patch \([0-9]*\) in alpha.*/\1/p')
printf 'Patchwork now says patch %s is: ' "$patch"
curl -s "$URL/api/1.3/patches/$patch/" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'

say "pwnm status"
pwnm status

#!/usr/bin/env bash
# A first sync's full list taken in window by window while it downloads: tags written and values
# committed per window, cursors and revision at the end; work items do not pile up.
. "$(dirname "$0")/lib.sh"

ROOT=$TEST_ROOT
export PWNM_TOKEN=$MAINT_TOKEN

# world NAME: the standard world under $ROOT/NAME, one patch a page (alpha: 5 pages, beta: 2)
world() {
	standin_stop
	world_dirs "$ROOT/$1"
	pw_world || return 1
	standin_admin POST settings '{"max_per_page": 1}' >/dev/null
}


# stopped PID: wait until the process stopped itself (SIGSTOP), print its state letter
stopped() {
	local st
	for _ in $(seq 1 600); do
		st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)
		case "$st" in T | Z | "") break ;; esac
		sleep 0.05
	done
	cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null
}

# many_patches NAME EVERY FIRST: 2000 more patches of beta without mail (<NAME0@example.org>
# ...), a series of EVERY of them each, numbered from FIRST; the stand-in started on them
many_patches() {
	standin_stop
	python3 - "$TMP/pw.json" "$@" <<'EOP'
import json, sys
path, name, every, first = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
d = json.load(open(path))
base = d["patches"][0]
d.setdefault("series", [])
for i in range(2000):
    if i % every == 0:
        d["series"].append({"id": first + i // every, "project": "beta", "name": "%s %d" % (name, i),
                            "total": every, "date": base["date"], "submitter": "dev@example.org"})
    p = dict(base)
    p.update({"id": 100 + i, "project": "beta", "msgid": "<%s%d@example.org>" % (name, i),
              "name": "[PATCH] %s %d" % (name, i), "state": "new", "series": first + i // every})
    d["patches"].append(p)
json.dump(d, open(path, "w"))
EOP
	standin_start "$TMP/pw.json" || return 1
	notmuch config set pwnm.url "$STANDIN_URL"
}

world reference || exit 1
pwnm_run sync
pw_tags_dump >"$ROOT/want"
sed 's/^/# reference: /' "$ROOT/want"

test_begin_subtest "first sync: the first window is tagged and committed while the list still downloads"
world paused || exit 1
# 3 s a request: the pages after each list's first are still on their way at the pause
standin_admin POST latency '{"ms": 3000}' >/dev/null
PWNM_DEBUG_TAG_BATCH=1 PWNM_DEBUG_PAUSE_AT=list-batch pwnm sync >>"$test_log" 2>&1 &
pid=$!
state=$(stopped "$pid")
# patch 2 is alpha's first page, the only one of its five answered yet
got="$state|$(pw_tags_of p2@example.org)|$(standin_requests '^GET /api/[0-9.]+/patches/\?project=1&')"
standin_admin POST latency '{"ms": 0}' >/dev/null
kill -CONT "$pid" 2>/dev/null
# every window stops there once: let it go on each time
while [ "$(stopped "$pid")" = T ]; do kill -CONT "$pid"; done
wait "$pid"
run_rc=$?
test_expect_equal "$got" "T|pw/alpha pw/alpha/under-review|1"

test_begin_subtest "... and the run ends with the tags of an uninterrupted one"
pw_tags_dump >"$TMP/got"
test_expect_equal "$run_rc $(diff "$ROOT/want" "$TMP/got" && echo same)" "0 same"

test_begin_subtest "its own writes of every window are known as its own: the next run writes nothing"
rev=$(revision)
pwnm_run sync
test_expect_equal "$(revision)" "$rev"

test_begin_subtest "killed after a window's commit: the store keeps the patches of the windows done"
world killed || exit 1
{ PWNM_DEBUG_TAG_BATCH=1 PWNM_DEBUG_CRASH_AT=list-batch pwnm sync; code=$?; } >>"$test_log" 2>&1
explained=$(pwnm explain p2@example.org 2>&1 | grep -c 'under-review')
test_expect_equal "$code $([ "$explained" -ge 1 ] && echo known)|$(pw_tags_of p2@example.org)" \
	"137 known|pw/alpha pw/alpha/under-review"

test_begin_subtest "... no cursor was written: the next run lists every page again and ends as an uninterrupted run"
standin_log_clear
pwnm_run sync
pw_tags_dump >"$TMP/got"
pages=$(standin_requests '^GET /api/[0-9.]+/patches/\?project=1&order=id')
test_expect_equal "$pages $(diff "$ROOT/want" "$TMP/got" && echo same)" "5 same"

test_begin_subtest "... and a third run changes nothing"
rev=$(revision)
standin_log_clear
pwnm_run sync
test_expect_equal "$(revision) $(standin_requests '^GET /api/[0-9.]+/patches/\?project=1&order=id&')" "$rev 0"

test_begin_subtest "2000 patches without mail: at most a window and a page of work items held at once"
world many || exit 1
many_patches far 20 900
standin_admin POST settings '{"max_per_page": 20}' >/dev/null
PWNM_DEBUG=sync PWNM_DEBUG_TAG_BATCH=100 pwnm -v sync >"$TMP/out" 2>&1
cat "$TMP/out" >>"$test_log"
peak=$(sed -nE 's/.*work items: at most ([0-9]+) held at once.*/\1/p' "$TMP/out")
summary=$(grep -oE '[0-9]+ without mail' "$TMP/out")
test_expect_equal "$([ -n "$peak" ] && [ "$peak" -le 120 ] && echo bounded || echo "peak '$peak'")|$summary" \
	"bounded|2001 without mail"

test_begin_subtest "... every one of them in the store"
test_expect_equal "$(pwnm explain 2099 2>&1 | grep -c 'far1999@example.org')" 1

test_begin_subtest "1000 series of 2 patches: their list goes with the patches', at most a window's and a page's series held"
world series || exit 1
many_patches two 2 3000
standin_admin POST settings '{"max_per_page": 20}' >/dev/null
standin_log_clear
PWNM_DEBUG=sync PWNM_DEBUG_TAG_BATCH=100 pwnm sync >"$TMP/out" 2>&1
rc=$?
cat "$TMP/out" >>"$test_log"
peak=$(sed -nE 's/.*series: at most ([0-9]+) held at once.*/\1/p' "$TMP/out")
echo "# series held at once: at most $peak" >&2
# beta's series pages: 1001 series (and p6's own) 20 a page; asked by the full list, not after it
test_expect_equal "$rc $([ -n "$peak" ] && [ "$peak" -le 200 ] && echo bounded || echo "peak '$peak'") $(standin_requests '^GET /api/[0-9.]+/series/\?project=2&')" \
	"0 bounded 51"

test_begin_subtest "... every series in the store, with both its patches"
test_expect_equal "$(pwnm explain 2099 2>&1 | grep -c 'series: *3999 "two 1998" v1, 2 of 2 patches')" 1

test_begin_subtest "... and the next run changes nothing and lists no series"
rev=$(revision)
standin_log_clear
pwnm_run sync
test_expect_equal "$(revision) $(standin_requests '/series/')" "$rev 0"

test_done

#!/usr/bin/env bash
# Events naming patches pwnm does not track: fetched by id in concurrent batches, not one after the other.
. "$(dirname "$0")/lib.sh"

pw_world || exit 1
# 400 old patches of alpha (ids 1000-1399), outside pwnm.window: not tracked by the first
# sync, which sees a newer patch (5000) above them
python3 - "$TMP/pw.json" <<'EOP'
import json, sys
d = json.load(open(sys.argv[1]))
recent = dict(d["patches"][0])
recent.update({"id": 5000, "msgid": "<recent@example.org>", "name": "[PATCH] recent"})
d["patches"].append(recent)
for i in range(400):
    d["patches"].append({"id": 1000 + i, "project": "alpha", "msgid": "<old%d@example.org>" % i,
                         "date": "2020-01-01T00:00:00", "name": "[PATCH] old %d" % i, "state": "new",
                         "archived": False, "delegate": None, "submitter": "dev@example.org"})
json.dump(d, open(sys.argv[1], "w"))
EOP
standin_stop
standin_start "$TMP/pw.json" || exit 1
notmuch config set pwnm.url "$STANDIN_URL"
add_message '<old7@example.org>' '[PATCH] old 7'
notmuch new >>"$test_log" 2>&1
pwnm_run sync

test_begin_subtest "the old patches are not tracked after the first sync"
test_expect_equal "$(pw_tags_of old7@example.org)" ""

# a state change on each of them: 400 events naming untracked patches
python3 - "$STANDIN_URL" <<'EOP'
import json, sys, urllib.request
for i in range(400):
    req = urllib.request.Request("%s/_admin/patches/%d" % (sys.argv[1], 1000 + i),
                                 data=json.dumps({"state": "rejected"}).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
EOP
standin_admin POST latency '{"ms": 20}' >/dev/null
standin_log_clear

test_begin_subtest "400 events on untracked patches: the sync fetches them concurrently"
t0=$(date +%s%N)
pwnm_run sync
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
gets=$(standin_requests '^GET /api/1.3/patches/1[0-9]+/$')
echo "# 400 events on untracked patches, 20 ms a request: $ms ms, $(standin_requests .) requests ($gets patch GETs)" >&2
# one after the other they take 400 x 20 ms = 8 s at the least
test_expect_equal "$rc $gets $([ "$ms" -lt 5000 ] && echo concurrent || echo "$ms ms")" "0 400 concurrent"

test_begin_subtest "... and their mail is tagged"
test_expect_equal "$(pw_tags_of old7@example.org)" "pw/alpha pw/alpha/rejected"

test_begin_subtest "... nothing is left to fetch: the next sync asks for no patch by id"
standin_log_clear
pwnm_run sync
test_expect_equal "$(standin_requests '^GET /api/1.3/patches/[0-9]+/$')" 0
standin_admin POST latency '{"ms": 0}' >/dev/null

test_done

#!/usr/bin/env bash
# Events naming patches pwnm does not track: looked for in the project's list since the oldest
# of them where that costs fewer requests, the rest fetched by id in concurrent batches.
. "$(dirname "$0")/lib.sh"

pw_world || exit 1
# 400 old patches of alpha (ids 1000-1399), outside pwnm.window: not tracked by the first
# sync, which sees a newer patch (5000) above them; 1000 older ones of beta (ids 6000-6999)
# and five of beta above them (7000-7004), all outside the window, below beta's newer 8000
python3 - "$TMP/pw.json" <<'EOP'
import json, sys
d = json.load(open(sys.argv[1]))
recent = dict(d["patches"][0])
recent.update({"id": 5000, "msgid": "<recent@example.org>", "name": "[PATCH] recent"})
d["patches"].append(recent)
recent = dict(d["patches"][4])
recent.update({"id": 8000, "msgid": "<recent-beta@example.org>", "name": "[PATCH] recent beta"})
d["patches"].append(recent)
def old(pid, project, msgid, date):
    d["patches"].append({"id": pid, "project": project, "msgid": "<%s@example.org>" % msgid,
                         "date": date, "name": "[PATCH] %s" % msgid, "state": "new",
                         "archived": False, "delegate": None, "submitter": "dev@example.org"})
for i in range(400):
    old(1000 + i, "alpha", "old%d" % i, "2020-01-01T00:00:00")
for i in range(1000):
    old(6000 + i, "beta", "filler%d" % i, "2020-06-01T00:00:00")
for i in range(5):
    old(7000 + i, "beta", "late%d" % i, "2021-01-01T00:00:00")
json.dump(d, open(sys.argv[1], "w"))
EOP
standin_stop
standin_start "$TMP/pw.json" || exit 1
notmuch config set pwnm.url "$STANDIN_URL"
add_message '<old7@example.org>' '[PATCH] old 7'
add_message '<late3@example.org>' '[PATCH] late 3' beta@lists.example.org
notmuch new >>"$test_log" 2>&1
pwnm_run sync

# set_state STATE FIRST COUNT: the state of patches FIRST .. FIRST+COUNT-1 on the server
set_state() {
	python3 - "$STANDIN_URL" "$@" <<'EOP'
import json, sys, urllib.request
url, state, first, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
for i in range(first, first + count):
    req = urllib.request.Request("%s/_admin/patches/%d" % (url, i),
                                 data=json.dumps({"state": state}).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
EOP
}

test_begin_subtest "the old patches are not tracked after the first sync"
test_expect_equal "$(pw_tags_of old7@example.org)$(pw_tags_of late3@example.org)" ""

# a state change on each of alpha's: 400 events naming untracked patches
set_state rejected 1000 400
standin_admin POST latency '{"ms": 20}' >/dev/null
standin_log_clear

test_begin_subtest "400 events on untracked patches: found in alpha's list since the oldest, 2 pages"
measured "400 events on untracked patches, 20 ms a request" pwnm sync
gets=$(standin_requests '^GET /api/1.3/patches/[0-9]+/$')
lists=$(standin_requests '^GET /api/1.3/patches/\?project=1&since=2020-01-01T00%3A00%3A00&.*order=id(&page=[0-9]+)?$')
echo "# ... of them $lists list pages, $gets patch GETs" >&2
# (by id, one GET each: 400 of them)
test_expect_equal "$rc $gets $lists" "0 0 2"

test_begin_subtest "... and their mail is tagged"
test_expect_equal "$(pw_tags_of old7@example.org)" "pw/alpha pw/alpha/rejected"

test_begin_subtest "... nothing is left to fetch: the next sync asks for no patch by id, nor a list"
standin_log_clear
pwnm_run sync
test_expect_equal "$(standin_requests '^GET /api/1.3/patches/[0-9]+/$') $(standin_requests 'patches/\?project=[0-9]+&since=')" "0 0"

test_begin_subtest "5 events on untracked patches behind 1000 others: one list page, then by id"
set_state accepted 7000 5
standin_log_clear
measured "5 events on untracked patches, 20 ms a request, their list 1 page" pwnm sync
gets=$(standin_requests '^GET /api/1.3/patches/70[0-9][0-9]/$')
lists=$(standin_requests '^GET /api/1.3/patches/\?project=2&since=2021-01-01T00%3A00%3A00&.*order=id(&page=[0-9]+)?$')
echo "# ... of them $lists list pages, $gets patch GETs" >&2
test_expect_equal "$rc $lists $gets $(pw_tags_of late3@example.org)" "0 1 0 pw/beta pw/beta/accepted"

test_begin_subtest "5 events on patches far apart in a list of 1008: one list page, then 4 by id, and done"
set_state deferred 6000 1
set_state deferred 6500 4
standin_log_clear
measured "5 events on untracked patches, 20 ms a request, their list 5 pages" pwnm sync
gets=$(standin_requests '^GET /api/1.3/patches/(6000|650[0-3])/$')
lists=$(standin_requests '^GET /api/1.3/patches/\?project=2&since=2020-06-01T00%3A00%3A00&.*order=id(&page=[0-9]+)?$')
echo "# ... of them $lists list pages, $gets patch GETs" >&2
# page 1 holds 6000 (one found), 4 pages more would cost what 4 GETs cost: by id
standin_log_clear
pwnm_run sync
test_expect_equal "$rc $lists $gets $(standin_requests '^GET /api/1.3/patches/[0-9]+/$') $(standin_requests 'patches/\?project=[0-9]+&since=')" "0 1 4 0 0"
standin_admin POST latency '{"ms": 0}' >/dev/null

test_done

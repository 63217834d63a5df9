#!/usr/bin/env bash
# A newer revision of a series: the older series' open patches get a local suggestion tag (never
# pushed by itself), removing it dismisses it, pwnm supersede marks them superseded on the server.
. "$(dirname "$0")/lib.sh"

d() { date -u -d "$1" +%Y-%m-%dT%H:%M:%S; }

revisions_world() {
	cat >"$TMP/pw.json" <<EOJ
{
 "projects": [
  {"id": 1, "link_name": "alpha", "name": "Alpha", "list_id": "alpha.lists.example.org",
   "list_email": "alpha@lists.example.org", "maintainers": ["maint"]}
 ],
 "users": [
  {"id": 2, "username": "maint", "email": "maint@example.org", "token": "$MAINT_TOKEN"}
 ],
 "series": [
  {"id": 50, "project": "alpha", "name": "widget", "version": 1, "total": 3, "date": "$(d '-6 days')",
   "submitter": "dev@example.org"},
  {"id": 55, "project": "alpha", "name": "widget", "version": 2, "total": 1, "date": "$(d '-5 days')",
   "submitter": "other@example.org"}
 ],
 "patches": [
  {"id": 51, "project": "alpha", "msgid": "<w51@example.org>", "date": "$(d '-6 days')", "series": 50,
   "name": "[PATCH 1/3] widget one", "state": "new", "submitter": "dev@example.org"},
  {"id": 52, "project": "alpha", "msgid": "<w52@example.org>", "date": "$(d '-6 days')", "series": 50,
   "name": "[PATCH 2/3] widget two", "state": "under-review", "submitter": "dev@example.org"},
  {"id": 53, "project": "alpha", "msgid": "<w53@example.org>", "date": "$(d '-6 days')", "series": 50,
   "name": "[PATCH 3/3] widget three", "state": "accepted", "submitter": "dev@example.org"},
  {"id": 56, "project": "alpha", "msgid": "<o56@example.org>", "date": "$(d '-5 days')", "series": 55,
   "name": "[PATCH v2] widget", "state": "new", "submitter": "other@example.org"}
 ]
}
EOJ
	notmuch_setup
	add_message '<w51@example.org>' '[PATCH 1/3] widget one'
	add_message '<w52@example.org>' '[PATCH 2/3] widget two'
	add_message '<w53@example.org>' '[PATCH 3/3] widget three'
	add_message '<o56@example.org>' '[PATCH v2] widget'
	notmuch new >>"$test_log" 2>&1
	standin_start "$TMP/pw.json" || return 1
	notmuch config set pwnm.url "$STANDIN_URL"
	notmuch config set pwnm.projects alpha
}

# post_v2: v2 of widget from v1's submitter (series 60, patches 61 and 62, their mail indexed)
post_v2() {
	standin_admin POST series "{\"id\": 60, \"project\": \"alpha\", \"name\": \"widget\", \"version\": 2, \"total\": 2, \"date\": \"$(d '-1 hour')\", \"submitter\": \"dev@example.org\"}" >/dev/null
	for i in 61 62; do
		add_message "<w$i@example.org>" "[PATCH v2 $((i - 60))/2] widget"
		standin_admin POST patches "{\"id\": $i, \"project\": \"alpha\", \"msgid\": \"<w$i@example.org>\", \"date\": \"$(d '-1 hour')\", \"series\": 60, \"name\": \"[PATCH v2 $((i - 60))/2] widget\", \"state\": \"new\", \"submitter\": \"dev@example.org\"}" >/dev/null
	done
	notmuch new >>"$test_log" 2>&1
}

revisions_world || exit 1
export PWNM_TOKEN=$MAINT_TOKEN

test_begin_subtest "first sync: the same name from another submitter is no newer revision"
pwnm_run sync
test_expect_equal "$(count_of tag:pw/alpha/series/newer)" "0"

test_begin_subtest "v2 posted: the open patches of v1 get the suggestion tag, the accepted one not"
post_v2
standin_log_clear
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$(pw_tags_of w51@example.org) / $(pw_tags_of w52@example.org) / $(pw_tags_of w53@example.org) / $(pw_tags_of w61@example.org)" \
	"pw/alpha pw/alpha/new pw/alpha/series/newer / pw/alpha pw/alpha/series/newer pw/alpha/under-review / pw/alpha pw/alpha/accepted / pw/alpha pw/alpha/new"

test_begin_subtest "it is said once, with the command to use, and nothing is pushed"
test_expect_equal "$(grep -c 'v2 was posted (series 60); its 2 open patches tagged' "$TMP/out") $(standin_requests '^PATCH') $(server_state 51 state)" "1 0 new"

rev1=$(revision)
standin_log_clear
test_begin_subtest "the next run is idle"
pwnm_run sync
test_expect_equal "$(revision) $(standin_requests .)" "$rev1 2"

test_begin_subtest "removing the suggestion tag dismisses it, for good"
notmuch tag -pw/alpha/series/newer -- id:w52@example.org
pwnm_run sync
pwnm_run sync --full
test_expect_equal "$(pw_tags_of w52@example.org) $(server_state 52 state)" "pw/alpha pw/alpha/under-review under-review"

test_begin_subtest "pwnm supersede <a patch of v2>: the suggested patch is superseded on the server"
pwnm supersede '<w61@example.org>' >"$TMP/out" 2>&1
test_expect_equal "$? $(server_state 51 state) $(server_state 52 state) $(server_state 53 state) $(grep -c 'v1: 1 open patch marked superseded' "$TMP/out")" \
	"0 superseded under-review accepted 1"

test_begin_subtest "its mail shows the new state, without the suggestion"
test_expect_equal "$(pw_tags_of w51@example.org)" "pw/alpha pw/alpha/superseded"

test_begin_subtest "supersede of something that is no replaced series: one clear line, exit 2"
pwnm supersede '<o56@example.org>' >"$TMP/out" 2>&1
test_expect_equal "$? $(grep -c 'names no series replaced by a later revision' "$TMP/out")" "2 1"

test_begin_subtest "a first sync that meets v1 and v2 at once: v1's open patches get the suggestion tag"
standin_stop
world_dirs "$TEST_ROOT/both"
revisions_world || exit 1
post_v2
# one patch a page: the series list, asked with the patches', has both series before v1's patches
standin_admin POST settings '{"max_per_page": 1}' >/dev/null
PWNM_DEBUG_TAG_BATCH=1 pwnm_run sync
test_expect_equal "$(pw_tags_of w51@example.org) / $(pw_tags_of w52@example.org) / $(pw_tags_of w53@example.org) / $(pw_tags_of w61@example.org) / $(pw_tags_of o56@example.org)" \
	"pw/alpha pw/alpha/new pw/alpha/series/newer / pw/alpha pw/alpha/series/newer pw/alpha/under-review / pw/alpha pw/alpha/accepted / pw/alpha pw/alpha/new / pw/alpha pw/alpha/new"

test_begin_subtest "... and the next run is idle"
standin_admin POST settings '{"max_per_page": 250}' >/dev/null
rev1=$(revision)
standin_log_clear
pwnm_run sync
test_expect_equal "$(revision) $(standin_requests .)" "$rev1 2"

test_done

#!/usr/bin/env bash
# CI checks as tags: the combined state of each patch, kept current from check-created events
# (one listing per series, not a request per event), listed by pwnm explain, and an opt-out.
. "$(dirname "$0")/lib.sh"

d() { date -u -d "$1" +%Y-%m-%dT%H:%M:%S; }

checks_world() {
	cat >"$TMP/pw.json" <<EOJ
{
 "projects": [
  {"id": 1, "link_name": "alpha", "name": "Alpha", "list_id": "alpha.lists.example.org",
   "list_email": "alpha@lists.example.org", "maintainers": ["maint"]}
 ],
 "users": [
  {"id": 2, "username": "maint", "email": "maint@example.org", "token": "$MAINT_TOKEN"},
  {"id": 5, "username": "ci", "email": "ci@example.org", "token": null}
 ],
 "series": [
  {"id": 10, "project": "alpha", "name": "feature", "version": 1, "total": 3, "date": "$(d '-5 days')"}
 ],
 "patches": [
  {"id": 11, "project": "alpha", "msgid": "<s11@example.org>", "date": "$(d '-5 days')", "series": 10,
   "name": "[PATCH 1/3] one", "state": "new",
   "checks": [{"context": "ci/build", "state": "success", "target_url": "https://ci.example.org/11", "actor": "ci"}]},
  {"id": 12, "project": "alpha", "msgid": "<s12@example.org>", "date": "$(d '-5 days')", "series": 10,
   "name": "[PATCH 2/3] two", "state": "new",
   "checks": [{"context": "ci/build", "state": "success", "target_url": "https://ci.example.org/12a", "actor": "ci"},
              {"context": "ci/test", "state": "fail", "target_url": "https://ci.example.org/12b", "actor": "ci"}]},
  {"id": 13, "project": "alpha", "msgid": "<s13@example.org>", "date": "$(d '-5 days')", "series": 10,
   "name": "[PATCH 3/3] three", "state": "new"},
  {"id": 30, "project": "alpha", "msgid": "<s30@example.org>", "date": "$(d '-3 days')",
   "name": "[PATCH] alone", "state": "new",
   "checks": [{"context": "ci/build", "state": "warning", "actor": "ci"}]}
 ]
}
EOJ
	notmuch_setup
	add_message '<s11@example.org>' '[PATCH 1/3] one'
	add_message '<s12@example.org>' '[PATCH 2/3] two'
	add_message '<s13@example.org>' '[PATCH 3/3] three'
	add_message '<s30@example.org>' '[PATCH] alone'
	notmuch new >>"$test_log" 2>&1
	standin_start "$TMP/pw.json" || return 1
	notmuch config set pwnm.url "$STANDIN_URL"
	notmuch config set pwnm.projects alpha
}

checks_world || exit 1

test_begin_subtest "first sync: each patch's combined check is a tag, none while pending"
pwnm_run sync
test_expect_equal "$(pw_tags_of s11@example.org) / $(pw_tags_of s12@example.org) / $(pw_tags_of s13@example.org) / $(pw_tags_of s30@example.org)" \
	"pw/alpha pw/alpha/check/success pw/alpha/new / pw/alpha pw/alpha/check/fail pw/alpha/new / pw/alpha pw/alpha/new / pw/alpha pw/alpha/check/warning pw/alpha/new"

rev1=$(revision)
standin_log_clear
test_begin_subtest "an idle run writes nothing and sends 2 requests"
pwnm_run sync
test_expect_equal "$(revision) $(standin_requests .)" "$rev1 2"

test_begin_subtest "check-created events on two patches of a series: their tags follow"
standin_admin POST patches/13/checks '{"context": "ci/build", "state": "fail", "target_url": "https://ci.example.org/13", "actor": "ci"}' >/dev/null
standin_admin POST patches/12/checks '{"context": "ci/test", "state": "success", "actor": "ci"}' >/dev/null
standin_log_clear
pwnm_run sync
test_expect_equal "$(pw_tags_of s12@example.org) / $(pw_tags_of s13@example.org)" \
	"pw/alpha pw/alpha/check/success pw/alpha/new / pw/alpha pw/alpha/check/fail pw/alpha/new"

test_begin_subtest "one listing of the series' patches, no request per event or per patch"
test_expect_equal "$(standin_requests 'patches/\?series=10&') $(standin_requests '/patches/1[23]/') $(standin_requests .)" "1 0 3"

test_begin_subtest "a check on a lone patch: its one-patch series is listed"
standin_admin POST patches/30/checks '{"context": "ci/build", "state": "success", "actor": "ci"}' >/dev/null
pwnm_run sync
test_expect_equal "$(pw_tags_of s30@example.org)" "pw/alpha pw/alpha/check/success pw/alpha/new"

test_begin_subtest "the series listing fails after its check event was read: the run says so"
standin_admin POST patches/30/checks '{"context": "ci/lint", "state": "fail", "actor": "ci"}' >/dev/null
standin_admin POST fault '{"mode": "500", "count": -1, "match": "patches/\\?series="}' >/dev/null
pwnm sync >"$TMP/out" 2>&1
rc=$?
cat "$TMP/out" >>"$test_log"
test_expect_equal "$rc $(pw_tags_of s30@example.org) $(grep -c 'checks of 1 series.*listed again by the next run' "$TMP/out")" \
	"75 pw/alpha pw/alpha/check/success pw/alpha/new 1"
standin_admin POST fault/clear >/dev/null

test_begin_subtest "... the next notmuch new lists the series again, although the event is behind the cursor"
"$PWNM_SRC/install.sh" --hooks-only --bindir "$PWNM_BUILD" --libexecdir "$PWNM_SRC/hooks" \
	>>"$test_log" 2>&1 || { echo "Bail out! install.sh --hooks-only failed"; exit 1; }
sleep 2.2 # the backoff after one failed try is 2 s
standin_log_clear
notmuch new >>"$test_log" 2>&1
test_expect_equal "$? $(pw_tags_of s30@example.org) $(standin_requests 'patches/\?series=')" \
	"0 pw/alpha pw/alpha/check/fail pw/alpha/new 1"

test_begin_subtest "... and only once: the notmuch new and the sync after are idle again"
standin_log_clear
notmuch new >>"$test_log" 2>&1
pwnm_run sync
test_expect_equal "$(standin_requests 'series') $(standin_requests .)" "0 2"

test_begin_subtest "a check tag removed or changed by hand is put back, nothing is sent"
notmuch tag -pw/alpha/check/fail +pw/alpha/check/success -- id:s13@example.org
standin_log_clear
PWNM_TOKEN=$MAINT_TOKEN pwnm_run sync
test_expect_equal "$(pw_tags_of s13@example.org) $(standin_requests '^PATCH')" "pw/alpha pw/alpha/check/fail pw/alpha/new 0"

test_begin_subtest "explain lists the individual checks: context, state, URL"
pwnm explain '<s12@example.org>' >"$TMP/explain" 2>&1
test_expect_equal "$(grep -c '^  check: *ci/build success https://ci.example.org/12a$' "$TMP/explain") $(grep -c '^  check: *ci/test fail https://ci.example.org/12b$' "$TMP/explain") $(grep -c '^  check: *ci/test success$' "$TMP/explain")" "1 1 1"

test_begin_subtest "pwnm.tag_checks false: no check tag on the mails written"
notmuch config set pwnm.tag_checks false
standin_admin POST patches/11/checks '{"context": "ci/test", "state": "warning", "actor": "ci"}' >/dev/null
pwnm_run sync
test_expect_equal "$(pw_tags_of s11@example.org)" "pw/alpha pw/alpha/new"

test_done

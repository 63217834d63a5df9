#!/usr/bin/env bash
# Series and cover letters: membership pulled in lists, the cover letter's tags, a state set on
# a cover letter for the whole series (a partial series, a denied patch), state tags on replies
# and whole threads (thread tagging), an idle run.
. "$(dirname "$0")/lib.sh"

d() { date -u -d "$1" +%Y-%m-%dT%H:%M:%S; }

# reply_message MSGID PARENT SUBJECT: a mail in reply to PARENT ('' none), on alpha's list.
reply_message() {
	gen_msg_n=$((gen_msg_n + 1))
	{
		echo "From: Dev Eloper <dev@example.org>"
		echo "To: alpha@lists.example.org"
		echo "List-Id: <alpha.lists.example.org>"
		echo "Subject: $3"
		echo "Date: Tue, 14 Nov 2023 22:33:20 +0000"
		echo "Message-ID: $1"
		[ -z "$2" ] || printf 'In-Reply-To: %s\nReferences: %s\n' "$2" "$2"
		echo
		echo "Text."
	} >"$MAILDIR/new/reply-$gen_msg_n-$$:2,"
}

# series_world: project alpha (no maintainers: maint may change only the patches delegated to
# it); series 10 (cover c10, patches 11-13, complete), series 20 (cover c20, 2 of 3 patches,
# patch 22 not delegated), patch 30 alone.
series_world() {
	cat >"$TMP/pw.json" <<EOJ
{
 "projects": [
  {"id": 1, "link_name": "alpha", "name": "Alpha", "list_id": "alpha.lists.example.org",
   "list_email": "alpha@lists.example.org", "maintainers": []}
 ],
 "users": [
  {"id": 2, "username": "maint", "email": "maint@example.org", "token": "$MAINT_TOKEN"}
 ],
 "series": [
  {"id": 10, "project": "alpha", "name": "feature", "version": 1, "total": 3, "date": "$(d '-5 days')",
   "cover": {"id": 100, "msgid": "<c10@example.org>", "name": "[PATCH 0/3] feature"}},
  {"id": 20, "project": "alpha", "name": "partial", "version": 1, "total": 3, "date": "$(d '-4 days')",
   "cover": {"id": 200, "msgid": "<c20@example.org>", "name": "[PATCH 0/3] partial"}}
 ],
 "patches": [
  {"id": 11, "project": "alpha", "msgid": "<s11@example.org>", "date": "$(d '-5 days')", "series": 10,
   "name": "[PATCH 1/3] feature one", "state": "new", "delegate": "maint"},
  {"id": 12, "project": "alpha", "msgid": "<s12@example.org>", "date": "$(d '-5 days')", "series": 10,
   "name": "[PATCH 2/3] feature two", "state": "new", "delegate": "maint"},
  {"id": 13, "project": "alpha", "msgid": "<s13@example.org>", "date": "$(d '-5 days')", "series": 10,
   "name": "[PATCH 3/3] feature three", "state": "new", "delegate": "maint"},
  {"id": 21, "project": "alpha", "msgid": "<s21@example.org>", "date": "$(d '-4 days')", "series": 20,
   "name": "[PATCH 1/3] partial one", "state": "new", "delegate": "maint"},
  {"id": 22, "project": "alpha", "msgid": "<s22@example.org>", "date": "$(d '-4 days')", "series": 20,
   "name": "[PATCH 2/3] partial two", "state": "new", "delegate": null},
  {"id": 30, "project": "alpha", "msgid": "<s30@example.org>", "date": "$(d '-3 days')",
   "name": "[PATCH] alone", "state": "new", "delegate": "maint"},
  {"id": 41, "project": "alpha", "msgid": "<s41@example.org>", "date": "$(d '-2 days')", "series": 40,
   "name": "[PATCH 1/2] threaded one", "state": "new", "delegate": "maint"},
  {"id": 42, "project": "alpha", "msgid": "<s42@example.org>", "date": "$(d '-2 days')", "series": 40,
   "name": "[PATCH 2/2] threaded two", "state": "new", "delegate": "maint"}
 ]
}
EOJ
	notmuch_setup
	add_message '<c10@example.org>' '[PATCH 0/3] feature'
	add_message '<s11@example.org>' '[PATCH 1/3] feature one'
	add_message '<s12@example.org>' '[PATCH 2/3] feature two'
	add_message '<s13@example.org>' '[PATCH 3/3] feature three'
	add_message '<c20@example.org>' '[PATCH 0/3] partial'
	add_message '<s21@example.org>' '[PATCH 1/3] partial one'
	add_message '<s22@example.org>' '[PATCH 2/3] partial two'
	add_message '<s30@example.org>' '[PATCH] alone'
	# a thread: a cover letter Patchwork does not know, two patches, a reply to the first
	reply_message '<c40@example.org>' '' '[PATCH 0/2] threaded'
	reply_message '<s41@example.org>' '<c40@example.org>' '[PATCH 1/2] threaded one'
	reply_message '<s42@example.org>' '<c40@example.org>' '[PATCH 2/2] threaded two'
	reply_message '<r41@example.org>' '<s41@example.org>' 'Re: [PATCH 1/2] threaded one'
	add_message '<lone@example.org>' 'a question' 'alpha@lists.example.org'
	notmuch new >>"$test_log" 2>&1
	standin_start "$TMP/pw.json" || return 1
	notmuch config set pwnm.url "$STANDIN_URL"
	notmuch config set pwnm.projects alpha
	notmuch config set pwnm.tag_delegate false
}

series_world || exit 1
export PWNM_TOKEN=$MAINT_TOKEN

test_begin_subtest "first sync succeeds"
test_expect_success pwnm sync

test_begin_subtest "the series were read in one list, not one request per patch or series"
test_expect_equal "$(standin_requests '/series/') $(standin_requests '/series/\?project=1&')" "1 1"

test_begin_subtest "a cover letter gets the project, the cover mark and its series' state"
test_expect_equal "$(pw_tags_of c10@example.org)" "pw/alpha pw/alpha/new pw/alpha/series/cover"

test_begin_subtest "the patches' tags are as before"
test_expect_equal "$(pw_tags_of s12@example.org)" "pw/alpha pw/alpha/new"

test_begin_subtest "explain on a cover letter: its series and the patches pwnm knows"
pwnm explain '<c10@example.org>' >"$TMP/explain" 2>&1
test_expect_equal "$? $(grep -c '^series 10 in alpha: "feature" v1, 3 of 3 patches$' "$TMP/explain") $(grep -c '^  patch: *s1[123]@example.org$' "$TMP/explain")" "0 1 3"

test_begin_subtest "explain on a patch names its series"
pwnm explain '<s12@example.org>' >"$TMP/explain" 2>&1
test_expect_equal "$(grep -c '^  series: *10 "feature" v1, 3 of 3 patches$' "$TMP/explain")" "1"

test_begin_subtest "pwnm status reads the store with its series"
pwnm status >"$TMP/status" 2>&1
test_expect_equal "$?" "0"

rev1=$(revision)
standin_log_clear
test_begin_subtest "an idle run writes nothing and sends 2 requests"
pwnm_run sync
test_expect_equal "$(revision) $(standin_requests .)" "$rev1 2"

test_begin_subtest "a state set on a cover letter reaches every patch of the series"
notmuch tag -pw/alpha/new +pw/alpha/accepted -- id:c10@example.org
pwnm_run sync
test_expect_equal "$(server_state 11 state) $(server_state 12 state) $(server_state 13 state) $(server_state 30 state)" \
	"accepted accepted accepted new"

test_begin_subtest "the patches' mails show it, and so does the cover letter"
test_expect_equal "$(pw_tags_of s11@example.org) / $(pw_tags_of s13@example.org) / $(pw_tags_of c10@example.org)" \
	"pw/alpha pw/alpha/accepted / pw/alpha pw/alpha/accepted / pw/alpha pw/alpha/accepted pw/alpha/series/cover"

test_begin_subtest "each patch was sent once"
test_expect_equal "$(standin_requests '^PATCH ')" "3"

rev2=$(revision)
standin_log_clear
test_begin_subtest "the next run is idle again"
pwnm_run sync
test_expect_equal "$(revision) $(standin_requests '^PATCH ') $(standin_requests .)" "$rev2 0 2"

test_begin_subtest "a patch changed on the server: the cover letter no longer shows one state"
standin_admin POST patches/12 '{"state": "rejected", "actor": "maint"}' >/dev/null
pwnm_run sync
test_expect_equal "$(pw_tags_of c10@example.org) / $(pw_tags_of s12@example.org)" \
	"pw/alpha pw/alpha/series/cover / pw/alpha pw/alpha/rejected"

test_begin_subtest "a partial series with a denied patch: the others change, each refusal and the gap are said"
notmuch tag -pw/alpha/new +pw/alpha/under-review -- id:c20@example.org
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$(server_state 21 state) $(server_state 22 state) $(grep -c '^denied: patch 22' "$TMP/out") $(grep -c 'only 2 of 3 patches received' "$TMP/out")" \
	"under-review new 1 1"

test_begin_subtest "the denied patch keeps its state and gets pw/denied; the cover shows no single state"
test_expect_equal "$(pw_tags_of s22@example.org) / $(pw_tags_of s21@example.org) / $(pw_tags_of c20@example.org)" \
	"pw/alpha pw/alpha/new pw/denied / pw/alpha pw/alpha/under-review / pw/alpha pw/alpha/series/cover"

test_begin_subtest "the partial series is reported once"
pwnm sync >"$TMP/out2" 2>&1
test_expect_equal "$(grep -c 'patches received' "$TMP/out2") $(standin_requests '^PATCH /api/1.3/patches/22/')" "0 1"

test_begin_subtest "removing the cover mark or the state by hand is put right"
notmuch tag -pw/alpha/series/cover -- id:c10@example.org
pwnm_run sync
test_expect_equal "$(pw_tags_of c10@example.org)" "pw/alpha pw/alpha/series/cover"

test_begin_subtest "a state tag on a reply means the patches of its thread"
notmuch tag +pw/alpha/changes-requested -- id:r41@example.org
pwnm_run sync
test_expect_equal "$(server_state 41 state) $(server_state 42 state) / $(pw_tags_of s41@example.org) / $(pw_tags_of s42@example.org)" \
	"changes-requested changes-requested / pw/alpha pw/alpha/changes-requested / pw/alpha pw/alpha/changes-requested"

test_begin_subtest "the reply loses the stray tag, so only patches count"
test_expect_equal "[$(pw_tags_of r41@example.org)] $(count_of tag:pw/alpha/changes-requested)" "[] 2"

test_begin_subtest "a whole thread retagged (as notmuch-emacs does): the patches change, the others lose it"
notmuch tag -pw/alpha/changes-requested +pw/alpha/accepted -- thread:{id:r41@example.org}
pwnm_run sync
test_expect_equal "$(server_state 41 state) $(server_state 42 state) [$(pw_tags_of c40@example.org)] [$(pw_tags_of r41@example.org)] $(count_of tag:pw/alpha/accepted)" \
	"accepted accepted [] [] 4"

test_begin_subtest "only patch mails carry state tags after it"
test_expect_equal "$(count_of 'tag:pw/alpha/accepted and not tag:pw/alpha')" "0"

test_begin_subtest "--dry-run: a state tag on a reply is listed for its patches and the reply, nothing written"
notmuch tag +pw/alpha/rejected -- id:r41@example.org
rev_dry=$(revision)
pwnm sync --dry-run >"$TMP/dry" 2>&1
test_expect_equal "$(revision) $(grep -c '^tag id:r41@example.org: -pw/alpha/rejected$' "$TMP/dry") $(grep -c '^tag id:s41@example.org: .*+pw/alpha/rejected' "$TMP/dry") $(server_state 41 state)" \
	"$rev_dry 1 1 accepted"
notmuch tag -pw/alpha/rejected -- id:r41@example.org

test_begin_subtest "a state tag on a mail with no patch in its thread: removed, with a note"
notmuch tag +pw/alpha/accepted -- id:lone@example.org
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "[$(pw_tags_of lone@example.org)] $(grep -c 'no patch of alpha in its thread' "$TMP/out")" "[] 1"

rev3=$(revision)
standin_log_clear
test_begin_subtest "and the run after is idle"
pwnm_run sync
test_expect_equal "$(revision) $(standin_requests '^PATCH') $(standin_requests .)" "$rev3 0 2"

test_begin_subtest "--full: a state tag put on a reply since the last run goes to the patches of its thread"
notmuch tag +pw/alpha/changes-requested -- id:r41@example.org
pwnm_run sync --full
test_expect_equal "$(server_state 41 state) $(server_state 42 state) [$(pw_tags_of r41@example.org)] $(count_of 'tag:pw/alpha/changes-requested and not tag:pw/alpha')" \
	"changes-requested changes-requested [] 0"

test_begin_subtest "state tags from before the last run on replies (a database restored from a dump): removed, nothing pushed"
notmuch dump >"$TMP/dump"
rm -rf "$MAILDIR/.notmuch"
notmuch new >>"$test_log" 2>&1
notmuch restore <"$TMP/dump"
notmuch tag +pw/alpha/accepted -- id:r41@example.org id:c40@example.org
standin_log_clear
pwnm -v sync >"$TMP/out" 2>&1
cat "$TMP/out" >>"$test_log"
test_expect_equal "$? [$(pw_tags_of r41@example.org)] [$(pw_tags_of c40@example.org)] $(pw_tags_of s41@example.org) $(standin_requests '^PATCH') $(grep -c 'state tags from before the last run removed from 2 mails' "$TMP/out")" \
	"0 [] [] pw/alpha pw/alpha/changes-requested 0 1"

test_begin_subtest "... -v names each, and the run after is idle"
test_expect_equal "$(grep -c '^r41@example.org: pw/alpha/accepted on a mail that is no patch, from before the last run: removed' "$TMP/out")" "1"
rev4=$(revision)
standin_log_clear
pwnm_run sync
test_expect_equal "$(revision) $(standin_requests .)" "$rev4 2"

test_begin_subtest "a first sync whose series list breaks: the patches still go, the series are asked again at the end"
standin_stop
world_dirs "$TEST_ROOT/broken-series"
series_world || exit 1
standin_admin POST fault '{"mode": "truncated", "count": 1, "match": "series/\\?project=1&"}' >/dev/null
standin_log_clear
pwnm sync >"$TMP/out" 2>&1
rc=$?
cat "$TMP/out" >>"$test_log"
test_expect_equal "$rc $(pw_tags_of s12@example.org) | $(pw_tags_of c10@example.org) | $(standin_requests '/series/\?project=1&')" \
	"0 pw/alpha pw/alpha/new | pw/alpha pw/alpha/new pw/alpha/series/cover | 2"

test_done

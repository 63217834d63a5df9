#!/usr/bin/env bash
# A reason to ask the server (new mail, notmuch insert) is kept until the server was asked.
. "$(dirname "$0")/lib.sh"

pw_world || exit 1
"$PWNM_SRC/install.sh" --hooks-only --bindir "$PWNM_BUILD" --libexecdir "$PWNM_SRC/hooks" \
	>>"$test_log" 2>&1 || { echo "Bail out! install.sh --hooks-only failed"; exit 1; }
notmuch config set pwnm.hook_timeout 2s
pwnm_run sync

# new_patch ID MSGID: a patch on the stand-in (its mail is separate)
new_patch() {
	standin_admin POST patches "{\"id\": $1, \"project\": \"alpha\", \"msgid\": \"$2\",
		\"date\": \"$(date -u +%Y-%m-%dT%H:%M:%S)\", \"name\": \"[PATCH] $1\", \"state\": \"new\",
		\"archived\": false, \"delegate\": null, \"submitter\": \"dev@example.org\"}" >/dev/null
}

test_begin_subtest "patch mail arriving while the server hangs stays untagged, notmuch new exits 0"
new_patch 51 '<p51@example.org>'
add_message '<p51@example.org>' '[PATCH] fifty-one'
standin_admin POST fault '{"mode": "hang", "count": -1, "seconds": 20}' >/dev/null
notmuch new >>"$test_log" 2>&1
test_expect_equal "$? [$(pw_tags_of p51@example.org)]" "0 []"

test_begin_subtest "the reason to ask is kept in the store"
pwnm status >"$TMP/status" 2>&1
test_expect_true grep -q "post-new: alpha: .*timed out" "$TMP/status"

test_begin_subtest "the first notmuch new after the server is back (backoff over) tags it"
standin_admin POST fault/clear >/dev/null
sleep 2.2 # the backoff after one failed try is 2 s
standin_log_clear
measured "a kept reason acted on by notmuch new" notmuch new
test_expect_equal "$rc $(pw_tags_of p51@example.org)" "0 pw/alpha pw/alpha/new"

test_begin_subtest "once acted on, the reason is gone: an idle notmuch new asks nothing"
standin_log_clear
notmuch new >>"$test_log" 2>&1
test_expect_equal "$(standin_requests .)" 0

test_begin_subtest "mail added by notmuch insert: no request in the hook"
new_patch 52 '<p52@example.org>'
cat >"$TMP/p52.eml" <<'EOM'
From: Dev Eloper <dev@example.org>
To: alpha@lists.example.org
List-Id: <alpha.lists.example.org>
Subject: [PATCH] fifty-two
Date: Tue, 14 Nov 2023 22:33:20 +0000
Message-ID: <p52@example.org>

A patch.
EOM
standin_log_clear
notmuch insert <"$TMP/p52.eml" >>"$test_log" 2>&1
test_expect_equal "$(standin_requests .) [$(pw_tags_of p52@example.org)]" "0 []"

test_begin_subtest "mail added by notmuch insert: the next notmuch new asks the server and tags it"
notmuch new >>"$test_log" 2>&1
test_expect_equal "$(standin_requests 'patches/\?project=1&order=-id') $(pw_tags_of p52@example.org)" \
	"1 pw/alpha pw/alpha/new"

test_done

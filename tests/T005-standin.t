#!/usr/bin/env bash
# T005-standin.t - the Patchwork stand-in answers like the real server

. "$(dirname "$0")/lib.sh"

# Recorded real-server responses: the design folder, else the copies in
# tests/data (pw-NAME.json, no .headers); comparisons are skipped without both.
RECORDED=$PWNM_SRC/../shared/patchwork-api
recorded() {
	if [ -f "$RECORDED/$1" ]; then
		echo "$RECORDED/$1"
	elif [ -f "$TESTS_DIR/data/pw-$1" ]; then
		echo "$TESTS_DIR/data/pw-$1"
	fi
}
MAINT_TOKEN=1111111111111111111111111111111111111111
VIEWER_TOKEN=2222222222222222222222222222222222222222
BAD_TOKEN=3333333333333333333333333333333333333333

python3 - "$TMP/data.json" <<'EOF'
import json, sys
patches = [
    {"id": 1, "project": "alpha", "msgid": "<p1@example.org>", "date": "2023-11-14T22:33:20",
     "name": "[PATCH 1/3] one", "state": "new", "archived": False, "delegate": None,
     "submitter": "Dev Eloper <dev@example.org>"},
    {"id": 2, "project": "alpha", "msgid": "<p2@example.org>", "date": "2023-11-14T22:43:20",
     "name": "[PATCH 2/3] two", "state": "under-review", "archived": False, "delegate": "maint",
     "submitter": "dev@example.org"},
    {"id": 3, "project": "alpha", "msgid": "<p3@example.org>", "date": "2023-11-14T22:53:20",
     "name": "[PATCH 3/3] three", "state": "new", "archived": True, "delegate": None,
     "submitter": "dev@example.org"},
    {"id": 4, "project": "alpha", "msgid": '<odd "id" 11@example.org>', "date": "2023-11-15T10:00:00",
     "name": "[PATCH] odd", "state": "new", "archived": False, "delegate": None,
     "submitter": "dev@example.org"},
    {"id": 5, "project": "alpha", "msgid": "<both@example.org>", "date": "2023-11-16T10:00:00",
     "name": "[PATCH] both", "state": "new", "archived": False, "delegate": None,
     "submitter": "dev@example.org"},
    {"id": 6, "project": "beta", "msgid": "<both@example.org>", "date": "2023-11-16T10:00:00",
     "name": "[PATCH] both", "state": "accepted", "archived": False, "delegate": None,
     "submitter": "dev@example.org"},
    {"id": 7, "project": "beta", "msgid": "<b7@example.org>", "date": "2023-11-17T10:00:00",
     "name": "[PATCH] beta only", "state": "new", "archived": False, "delegate": None,
     "submitter": "Vie Wer <viewer@example.org>"},
]
for i in range(300):
    patches.append({"id": 101 + i, "project": "gamma", "msgid": "<g%d@example.org>" % i,
                    "date": "2024-01-01T00:%02d:%02d" % (i // 60, i % 60),
                    "name": "[PATCH] g%d" % i, "state": "new", "archived": False,
                    "delegate": None, "submitter": "dev@example.org"})
data = {
    "projects": [
        {"id": 1, "link_name": "alpha", "name": "alpha", "list_id": "alpha.lists.example.org",
         "list_email": "alpha@lists.example.org", "maintainers": ["maint"]},
        {"id": 2, "link_name": "beta", "name": "beta", "list_id": "beta.lists.example.org",
         "list_email": "beta@lists.example.org", "maintainers": ["maint"]},
        {"id": 3, "link_name": "gamma", "name": "gamma", "list_id": "gamma.lists.example.org",
         "list_email": "gamma@lists.example.org", "maintainers": ["maint"]},
    ],
    "users": [
        {"id": 2, "username": "maint", "email": "maint@example.org",
         "token": "1111111111111111111111111111111111111111"},
        {"id": 3, "username": "viewer", "email": "viewer@example.org",
         "token": "2222222222222222222222222222222222222222"},
    ],
    "patches": patches,
}
json.dump(data, open(sys.argv[1], "w"))
EOF

standin_start "$TMP/data.json" || test_skip_all "the stand-in did not start"
API=$STANDIN_URL/api/1.3

# req METHOD URL [curl args...]: body to $TMP/body, headers to $TMP/hdr; prints the status
req() {
	local method=$1 url=$2
	shift 2
	curl -sS -X "$method" -o "$TMP/body" -D "$TMP/hdr" -w '%{http_code}' "$@" "$url" 2>>"$test_log"
}

# hdr NAME: a header of the last response
hdr() {
	grep -i "^$1:" "$TMP/hdr" | head -n 1 | sed 's/^[^:]*: //' | tr -d '\r'
}

# js EXPR [FILE]: a Python expression over the JSON in FILE (default: last body) as d
js() {
	python3 -c '
import json, sys
d = json.load(open(sys.argv[2]))
print(eval(sys.argv[1]))' "$1" "${2:-$TMP/body}" 2>>"$test_log"
}

keys_of() {
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
d = d[0] if isinstance(d, list) else d
print(" ".join(sorted(d.keys())))' "$1" 2>>"$test_log"
}

test_begin_subtest "patch list: status, Server, Allow, Vary"
status=$(req GET "$API/patches/?project=alpha&per_page=2")
test_expect_equal "$status|$(hdr Server)|$(hdr Allow)|$(hdr Vary)|$(hdr Content-Type)" \
	"200|WSGIServer/0.2 CPython/3.11.2|GET, HEAD, OPTIONS|Accept, Cookie|application/json"

test_begin_subtest "patch list: Content-Length matches the body"
test_expect_equal "$(hdr Content-Length)" "$(wc -c <"$TMP/body" | tr -d ' ')"

test_begin_subtest "patch list: Link header on the first page"
test_expect_equal "$(hdr Link)" \
	"<$API/patches/?page=2&per_page=2&project=alpha>; rel=\"next\", <$API/patches/?page=1&per_page=2&project=alpha>; rel=\"first\", <$API/patches/?page=3&per_page=2&project=alpha>; rel=\"last\""

test_begin_subtest "patch list: first page holds ids 1 and 2"
test_expect_equal "$(js '[x["id"] for x in d]')" "[1, 2]"

test_begin_subtest "patch list: Link header on a middle page has next and prev"
req GET "$API/patches/?project=alpha&per_page=2&page=2" >/dev/null
test_expect_equal "$(hdr Link)" \
	"<$API/patches/?page=3&per_page=2&project=alpha>; rel=\"next\", <$API/patches/?per_page=2&project=alpha>; rel=\"prev\", <$API/patches/?page=1&per_page=2&project=alpha>; rel=\"first\", <$API/patches/?page=3&per_page=2&project=alpha>; rel=\"last\""

test_begin_subtest "patch list: the last page has no next"
req GET "$API/patches/?project=alpha&per_page=2&page=3" >/dev/null
test_expect_equal "$(hdr Link | grep -c 'rel="next"')|$(js 'len(d)')" "0|1"

test_begin_subtest "patch list: a page past the end is 404 Invalid page."
status=$(req GET "$API/patches/?project=alpha&per_page=2&page=4")
test_expect_equal "$status $(cat "$TMP/body")" '404 {"detail":"Invalid page."}'

test_begin_subtest "patch list: per_page=1000 is capped at 250"
req GET "$API/patches/?project=gamma&per_page=1000" >/dev/null
test_expect_equal "$(js 'len(d)')" "250"

test_begin_subtest "patch list: capped listing has 2 pages, per_page kept as asked"
test_expect_equal "$(hdr Link | sed 's/.*<\([^>]*\)>; rel="last".*/\1/')" \
	"$API/patches/?page=2&per_page=1000&project=gamma"

test_begin_subtest "patch list: default page size is 30"
req GET "$API/patches/?project=gamma" >/dev/null
test_expect_equal "$(js 'len(d)')" "30"

test_begin_subtest "patch list: project by id, state by name, archived"
req GET "$API/patches/?project=1&state=Under%20Review" >/dev/null
a=$(js '[x["id"] for x in d]')
req GET "$API/patches/?project=alpha&archived=true" >/dev/null
test_expect_equal "$a $(js '[x["id"] for x in d]')" "[2] [3]"

test_begin_subtest "patch list: since/before on the patch date"
req GET "$API/patches/?project=alpha&since=2023-11-15T00:00:00&before=2023-11-16T10:00:00" >/dev/null
test_expect_equal "$(js '[x["id"] for x in d]')" "[4]"

test_begin_subtest "patch list: order=-id"
req GET "$API/patches/?project=beta&order=-id" >/dev/null
test_expect_equal "$(js '[x["id"] for x in d]')" "[7, 6]"

test_begin_subtest "msgid filter: quotes and spaces"
req GET "$API/patches/?project=alpha&msgid=odd%20%22id%22%2011%40example.org" >/dev/null
test_expect_equal "$(js '[(x["id"], x["msgid"]) for x in d]')" "[(4, '<odd \"id\" 11@example.org>')]"

test_begin_subtest "msgid filter: a cross-posted mail is one patch per project"
req GET "$API/patches/?msgid=both%40example.org" >/dev/null
a=$(js '[(x["id"], x["project"]["link_name"], x["state"]) for x in d]')
req GET "$API/patches/?msgid=both%40example.org&project=beta" >/dev/null
test_expect_equal "$a $(js '[x["id"] for x in d]')" "[(5, 'alpha', 'new'), (6, 'beta', 'accepted')] [6]"

test_begin_subtest "msgid filter: brackets do not match"
req GET "$API/patches/?msgid=%3Cboth%40example.org%3E" >/dev/null
test_expect_equal "$(js 'len(d)')" "0"

test_begin_subtest "patch detail: extra fields"
status=$(req GET "$API/patches/1/")
test_expect_equal "$status $(hdr Allow) $(js 'd["prefixes"], d["state"], "diff" in d, "content" in d')" \
	"200 GET, PUT, PATCH, HEAD, OPTIONS (['1/3'], 'new', True, True)"

test_begin_subtest "patch detail: missing patch is 404"
status=$(req GET "$API/patches/999999/")
test_expect_equal "$status $(cat "$TMP/body")" '404 {"detail":"Not found."}'

test_begin_subtest "api root and unknown version"
req GET "$STANDIN_URL/api/" >/dev/null
a=$(js 'd["patches"]')
status=$(req GET "$STANDIN_URL/api/1.4/")
test_expect_equal "$a $status $(cat "$TMP/body")" "$STANDIN_URL/api/patches/ 404 {\"detail\":\"Not found.\"}"

test_begin_subtest "events: newest first by default"
req GET "$API/events/?project=alpha" >/dev/null
test_expect_equal "$(js '[x["id"] for x in d]')" "[5, 4, 3, 2, 1]"

test_begin_subtest "events: order=date is oldest first, dates increase"
req GET "$API/events/?project=alpha&order=date" >/dev/null
test_expect_equal "$(js '[x["id"] for x in d] == [1, 2, 3, 4, 5] and [x["date"] for x in d] == sorted(x["date"] for x in d)')" "True"

test_begin_subtest "events: patch-created payload"
test_expect_equal "$(js 'd[0]["category"], d[0]["actor"], d[0]["payload"]["patch"]["id"]')" \
	"('patch-created', None, 1)"

test_begin_subtest "GET with a bad token is 403 Invalid token."
status=$(req GET "$API/patches/?per_page=1" -H "Authorization: Token $BAD_TOKEN")
test_expect_equal "$status $(cat "$TMP/body")" '403 {"detail":"Invalid token."}'

JSONCT='Content-Type: application/json'

test_begin_subtest "PATCH by the maintainer: 200 with the new state"
status=$(req PATCH "$API/patches/1/" -H "Authorization: Token $MAINT_TOKEN" -H "$JSONCT" --data '{"state":"accepted"}')
test_expect_equal "$status $(js 'd["state"], "related" in d')" "200 ('accepted', False)"

test_begin_subtest "PATCH records a patch-state-changed event"
req GET "$API/events/?project=alpha&category=patch-state-changed" >/dev/null
test_expect_equal "$(js 'len(d), d[0]["actor"]["username"], d[0]["payload"]["patch"]["id"], d[0]["payload"]["previous_state"], d[0]["payload"]["current_state"]')" \
	"(1, 'maint', 1, 'new', 'accepted')"
cp "$TMP/body" "$TMP/event-state.json"

test_begin_subtest "PATCH by a viewer is 403"
status=$(req PATCH "$API/patches/1/" -H "Authorization: Token $VIEWER_TOKEN" -H "$JSONCT" --data '{"state":"rejected"}')
test_expect_equal "$status $(cat "$TMP/body")" '403 {"detail":"You do not have permission to perform this action."}'

test_begin_subtest "PATCH with a bad token is 403 Invalid token."
status=$(req PATCH "$API/patches/1/" -H "Authorization: Token $BAD_TOKEN" -H "$JSONCT" --data '{"state":"rejected"}')
test_expect_equal "$status $(cat "$TMP/body")" '403 {"detail":"Invalid token."}'

test_begin_subtest "PATCH without auth is 403"
status=$(req PATCH "$API/patches/1/" -H "$JSONCT" --data '{"state":"rejected"}')
test_expect_equal "$status $(cat "$TMP/body")" '403 {"detail":"Authentication credentials were not provided."}'

test_begin_subtest "PATCH with a bogus state is 400 naming the states"
status=$(req PATCH "$API/patches/1/" -H "Authorization: Token $MAINT_TOKEN" -H "$JSONCT" --data '{"state":"bogus"}')
test_expect_equal "$status $(cat "$TMP/body")" \
	'400 {"state":["Invalid state bogus. Expected one of: new, under-review, accepted, rejected, rfc, not-applicable, changes-requested, awaiting-upstream, superseded, deferred."]}'

test_begin_subtest "PATCH of a missing patch is 404"
status=$(req PATCH "$API/patches/999999/" -H "Authorization: Token $MAINT_TOKEN" -H "$JSONCT" --data '{"state":"rejected"}')
test_expect_equal "$status $(cat "$TMP/body")" '404 {"detail":"Not found."}'

test_begin_subtest "PATCH with the form content type: 200 and nothing changes"
status=$(req PATCH "$API/patches/1/" -H "Authorization: Token $MAINT_TOKEN" --data '{"state":"rejected"}')
test_expect_equal "$status $(js 'd["state"]') $(standin_admin GET patches/1)" \
	'200 accepted {"id":1,"state":"accepted","archived":false,"delegate":null}'

test_begin_subtest "PATCH without a content type is 415"
status=$(req PATCH "$API/patches/1/" -H "Authorization: Token $MAINT_TOKEN" -H 'Content-Type:' --data-binary '{"state":"rejected"}')
test_expect_equal "$status $(cat "$TMP/body")" '415 {"detail":"Unsupported media type \"\" in request."}'

test_begin_subtest "PATCH by the submitter (no other rights) is allowed"
status=$(req PATCH "$API/patches/7/" -H "Authorization: Token $VIEWER_TOKEN" -H "$JSONCT" --data '{"archived":true}')
test_expect_equal "$status $(js 'd["archived"], d["submitter"]["email"]')" "200 (True, 'viewer@example.org')"

test_begin_subtest "PATCH delegate by the maintainer"
status=$(req PATCH "$API/patches/7/" -H "Authorization: Token $MAINT_TOKEN" -H "$JSONCT" --data '{"delegate":2}')
test_expect_equal "$status $(js 'd["delegate"]["username"], d["archived"]')" "200 ('maint', True)"

test_begin_subtest "PATCH with an unknown delegate is 400"
status=$(req PATCH "$API/patches/7/" -H "Authorization: Token $MAINT_TOKEN" -H "$JSONCT" --data '{"delegate":99}')
test_expect_equal "$status $(cat "$TMP/body")" '400 {"delegate":["Invalid pk \"99\" - object does not exist."]}'

test_begin_subtest "delegation records patch-delegated, archiving records nothing"
req GET "$API/events/?project=beta" >/dev/null
test_expect_equal "$(js '[x["category"] for x in d], d[0]["payload"]["previous_delegate"], d[0]["payload"]["current_delegate"]["username"]')" \
	"(['patch-delegated', 'patch-created', 'patch-created'], None, 'maint')"

test_begin_subtest "admin change creates an event and shows in the API"
standin_admin POST patches/2 '{"state":"rejected","archived":true}' >/dev/null
req GET "$API/events/?category=patch-state-changed" >/dev/null
a=$(js 'd[0]["payload"]["patch"]["id"], d[0]["payload"]["previous_state"], d[0]["payload"]["current_state"]')
req GET "$API/patches/2/" >/dev/null
test_expect_equal "$a $(js 'd["state"], d["archived"]')" "(2, 'under-review', 'rejected') ('rejected', True)"

test_begin_subtest "admin add and delete"
standin_admin POST patches '{"project":"beta","msgid":"<new@example.org>","name":"[PATCH] new","date":"2024-02-01T00:00:00","submitter":"dev@example.org"}' >"$TMP/added"
newid=$(js 'd["id"]' "$TMP/added")
req GET "$API/events/?project=beta&category=patch-created" >/dev/null
a=$(js 'd[0]["payload"]["patch"]["id"]')
standin_admin DELETE "patches/$newid" >/dev/null
status=$(req GET "$API/patches/$newid/")
test_expect_equal "$newid $a $status" "401 401 404"

test_begin_subtest "admin dump"
standin_admin GET dump >"$TMP/dump"
test_expect_equal "$(js 'len(d["patches"]), d["patches"][0]' "$TMP/dump")" \
	"(307, {'id': 1, 'project': 'alpha', 'state': 'accepted', 'archived': False, 'delegate': None})"

test_begin_subtest "fault 500 once, then 200"
standin_admin POST fault '{"mode":"500","match":"patches/1/"}' >/dev/null
s1=$(req GET "$API/patches/1/")
b1=$(cat "$TMP/body")
s2=$(req GET "$API/patches/1/")
test_expect_equal "$s1 $b1 $s2" '500 {"detail":"A server error occurred."} 200'

test_begin_subtest "fault truncated: 200 and the body is not valid JSON"
standin_admin POST fault '{"mode":"truncated"}' >/dev/null
s1=$(req GET "$API/patches/?project=alpha")
valid=$(python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$TMP/body" 2>/dev/null && echo valid || echo invalid)
test_expect_equal "$s1 $valid $(hdr Content-Length) $(wc -c <"$TMP/body" | tr -d ' ')" \
	"200 invalid $(wc -c <"$TMP/body" | tr -d ' ') $(wc -c <"$TMP/body" | tr -d ' ')"

test_begin_subtest "fault no-link, then Link is back"
standin_admin POST fault '{"mode":"no-link"}' >/dev/null
req GET "$API/patches/?project=alpha&per_page=1" >/dev/null
a=$(hdr Link)
req GET "$API/patches/?project=alpha&per_page=1" >/dev/null
test_expect_equal "[$a] $(hdr Link | grep -c 'rel="next"')" "[] 1"

test_begin_subtest "fault 429 with Retry-After"
standin_admin POST fault '{"mode":"429","retry_after":7}' >/dev/null
status=$(req GET "$API/patches/?project=alpha")
test_expect_equal "$status $(hdr Retry-After)" "429 7"

test_begin_subtest "fault string-id"
standin_admin POST fault '{"mode":"string-id"}' >/dev/null
req GET "$API/patches/?project=alpha" >/dev/null
test_expect_equal "$(js 'repr(d[0]["id"]), d[1]["id"]')" "(\"'1'\", 2)"

test_begin_subtest "request log: admin calls are not API requests, tokens never logged"
test_expect_equal "$(standin_requests '^PATCH /api/1.3/patches/1/$') $(grep -c "$MAINT_TOKEN" "$TMP/standin.log")" "7 0"

test_begin_subtest "request log: auth is recorded"
test_expect_equal "$(python3 -c '
import json, sys
print(sorted({json.loads(l)["auth"] for l in open(sys.argv[1])}))' "$TMP/standin.log")" \
	"['invalid', 'none', 'user:maint', 'user:viewer']"

# ---- shapes against the recorded responses of the real server ----

if [ -n "$(recorded patches-list.json)" ]; then
	test_begin_subtest "shape: list item keys as recorded"
	req GET "$API/patches/?project=alpha&per_page=3" >/dev/null
	test_expect_equal "$(keys_of "$TMP/body")" "$(keys_of "$(recorded patches-list.json)")"

	test_begin_subtest "shape: detail keys as recorded"
	req GET "$API/patches/1/" >/dev/null
	test_expect_equal "$(keys_of "$TMP/body")" "$(keys_of "$(recorded patch-detail.json)")"

	test_begin_subtest "shape: update keys as recorded"
	req PATCH "$API/patches/1/" -H "Authorization: Token $MAINT_TOKEN" -H "$JSONCT" --data '{"archived":false}' >/dev/null
	test_expect_equal "$(keys_of "$TMP/body")" "$(keys_of "$(recorded patch-update-ok.json)")"

	test_begin_subtest "shape: event keys and payload keys as recorded"
	got=$(js '" ".join(sorted(d[0])) + " / " + " ".join(sorted(d[0]["payload"])) + " / " + " ".join(sorted(d[0]["payload"]["patch"])) + " / " + " ".join(sorted(d[0]["actor"]))' "$TMP/event-state.json")
	test_expect_equal "$got" \
		"$(js '" ".join(sorted(d[0])) + " / " + " ".join(sorted(d[0]["payload"])) + " / " + " ".join(sorted(d[0]["payload"]["patch"])) + " / " + " ".join(sorted(d[0]["actor"]))' "$(recorded events-state-changed.json)")"

	test_begin_subtest "shape: project list keys as recorded"
	req GET "$API/projects/" >/dev/null
	test_expect_equal "$(keys_of "$TMP/body")" "$(keys_of "$(recorded projects-list.json)")"

	test_begin_subtest "shape: error bodies as recorded"
	got=""
	want=""
	for pair in "patch-not-found:GET $API/patches/999999/:" \
		"patch-update-forbidden:PATCH $API/patches/1/:$VIEWER_TOKEN" \
		"patch-update-invalid-token:PATCH $API/patches/1/:$BAD_TOKEN" \
		"patch-update-no-auth:PATCH $API/patches/1/:" \
		"patch-update-invalid-state:PATCH $API/patches/1/:$MAINT_TOKEN"; do
		name=${pair%%:*}
		rest=${pair#*:}
		tok=${rest##*:}
		rest=${rest%:*}
		method=${rest%% *}
		url=${rest#* }
		body='{"state":"rejected"}'
		[ "$name" = patch-update-invalid-state ] && body='{"state":"bogus"}'
		if [ -n "$tok" ]; then
			req "$method" "$url" -H "Authorization: Token $tok" -H "$JSONCT" --data "$body" >/dev/null
		elif [ "$method" = GET ]; then
			req GET "$url" >/dev/null
		else
			req "$method" "$url" -H "$JSONCT" --data "$body" >/dev/null
		fi
		got="$got $(js 'json.dumps(d, sort_keys=True)')"
		want="$want $(js 'json.dumps(d, sort_keys=True)' "$(recorded "$name.json")")"
	done
	test_expect_equal "$got" "$want"

	if [ -f "$RECORDED/patches-list.headers" ]; then
		test_begin_subtest "shape: header names as recorded (list)"
		req GET "$API/patches/?project=alpha&per_page=3" >/dev/null
		test_expect_equal "$(sed -n 's/^\([A-Za-z-]*\):.*/\1/p' "$TMP/hdr" | tr '\n' ' ')" \
			"$(sed -n 's/^\([A-Za-z-]*\):.*/\1/p' "$RECORDED/patches-list.headers" | tr '\n' ' ')"
	fi
fi

test_begin_subtest "SIGTERM ends the stand-in"
kill "$STANDIN_PID"
wait "$STANDIN_PID"
rc=$?
STANDIN_PID=""
test_expect_equal "$rc" "0"

test_done

#!/usr/bin/env bash
# The projects of a run are asked concurrently (pwnm.jobs requests in flight), their news taken
# in in pwnm.projects order; the stand-in logs how many requests it was serving when each came.
. "$(dirname "$0")/lib.sh"

pw_world || exit 1
# six more projects, one patch each, their mail indexed
python3 - "$TMP/pw.json" <<'EOP'
import json, sys
d = json.load(open(sys.argv[1]))
for i, name in enumerate(["gamma", "delta", "eps", "zeta", "eta", "theta"]):
    pid = 3 + i
    d["projects"].append({"id": pid, "link_name": name, "name": name.title(),
                          "list_id": "%s.lists.example.org" % name,
                          "list_email": "%s@lists.example.org" % name, "maintainers": ["maint"]})
    d["patches"].append({"id": 100 + pid, "project": name, "msgid": "<%s1@example.org>" % name,
                         "date": d["patches"][0]["date"], "name": "[PATCH] %s one" % name,
                         "state": "new", "archived": False, "delegate": None,
                         "submitter": "dev@example.org"})
json.dump(d, open(sys.argv[1], "w"))
EOP
for name in gamma delta eps zeta eta theta; do
	add_message "<${name}1@example.org>" "[PATCH] $name one" "$name@lists.example.org"
done
notmuch new >>"$test_log" 2>&1
standin_stop
standin_start "$TMP/pw.json" || exit 1
notmuch config set pwnm.url "$STANDIN_URL"
notmuch config set pwnm.projects "alpha;beta;gamma;delta;eps;zeta;eta;theta"
pwnm_run sync

# overlap KIND: from the stand-in's log, "N M": how many API requests there were, and the
# most it was serving at once; with KIND "projects", also "yes" when requests of two
# different projects were in service at the same time (their [t, t_end] overlap), else "no";
# KIND "lists" is "projects" for the requests of full lists only
overlap() {
	python3 - "$TMP/standin.log" "$1" <<'EOP'
import json, re, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
reqs = [r for r in reqs if not r["path"].startswith("/_admin") and r.get("t_end")]
if sys.argv[2] == "lists":
    # the full lists only: patches by id, and the series lists
    reqs = [r for r in reqs if re.search(r"/(patches|series)/$", r["path"]) and "order=id" in r["query"]]
most = max([r["in_flight"] for r in reqs] or [0])
out = "%d %d" % (len(reqs), most)
if sys.argv[2] in ("projects", "lists"):
    def proj(r):
        m = re.search(r"(?:^|&)project=(\d+)", r["query"])
        return m.group(1) if m else None
    both = any(proj(a) and proj(b) and proj(a) != proj(b) and a["t"] < b["t_end"] and b["t"] < a["t_end"]
               for a in reqs for b in reqs)
    out += " " + ("yes" if both else "no")
print(out)
EOP
}

# a state change in each project, then the incremental poll of all eight
change_all() {
	local id
	for id in 2 6 103 104 105 106 107 108; do
		standin_admin POST "patches/$id" "{\"state\": \"$1\"}" >/dev/null
	done
}

test_begin_subtest "the incremental poll asks the eight projects concurrently (pwnm.jobs, 8, in flight at most)"
change_all rfc
standin_admin POST latency '{"ms": 300}' >/dev/null
standin_log_clear
measured "8 projects polled, 300 ms a request" pwnm sync
# per project: its events and the patches above the highest id seen (16 requests); one after
# the other they hold the server 16 x 300 ms
read -r n most both <<<"$(overlap projects)"
echo "# ... at most $most requests in flight" >&2
test_expect_equal "$rc $n $both $([ "$most" -ge 4 ] && [ "$most" -le 8 ] && echo bounded || echo "$most")" \
	"0 16 yes bounded"

test_begin_subtest "... and every project's change is taken in"
test_expect_equal "$(pw_tags_of p2@example.org) | $(pw_tags_of p6@example.org) | $(pw_tags_of gamma1@example.org) | $(pw_tags_of theta1@example.org)" \
	"pw/alpha pw/alpha/rfc | pw/beta pw/beta/rfc | pw/gamma pw/gamma/rfc | pw/theta pw/theta/rfc"

test_begin_subtest "--jobs 2: never more than two requests in flight"
change_all accepted
standin_log_clear
pwnm_run sync --jobs 2
read -r n most both <<<"$(overlap projects)"
test_expect_equal "$? $n $most $both $(pw_tags_of eta1@example.org)" "0 16 2 yes pw/eta pw/eta/accepted"

test_begin_subtest "the API version and the projects are asked for concurrently too"
standin_admin POST settings '{"max_per_page": 3}' >/dev/null
standin_log_clear
pwnm projects >"$TMP/projects.out" 2>>"$test_log"
read -r n most <<<"$(overlap plain)"
# 8 projects 3 a page: page 1, then pages 2 and 3 together; the five API versions together
test_expect_equal "$(grep -c . "$TMP/projects.out") $(standin_requests '^GET /api/1\.3/projects/') $most" "8 3 5"
standin_admin POST settings '{"max_per_page": 250}' >/dev/null

test_begin_subtest "failures are said in pwnm.projects order, and only the failing projects wait"
standin_admin POST latency '{"ms": 0}' >/dev/null
pwnm_run sync
change_all rejected
standin_admin POST fault '{"mode": "truncated", "count": -1, "match": "events/.*project=(2|6)&"}' >/dev/null
pwnm sync >"$TMP/out" 2>&1
rc=$?
cat "$TMP/out" >>"$test_log"
standin_admin POST fault/clear >/dev/null
test_expect_equal "$rc $(grep -oE '^pwnm: (beta|zeta): GET [^ ]*events' "$TMP/out" | cut -d: -f2 | tr '\n' ' ')$(pw_tags_of p6@example.org | grep -c rejected) $(pw_tags_of zeta1@example.org | grep -c rejected) $(pw_tags_of gamma1@example.org)" \
	"1  beta  zeta 0 0 pw/gamma pw/gamma/rejected"

test_begin_subtest "a project whose requests hang once the server has answered holds up only itself"
notmuch config set pwnm.stall_timeout 2s
change_all deferred
standin_admin POST fault '{"mode": "hang", "count": -1, "seconds": 60, "match": "events/.*project=4&"}' >/dev/null
pwnm sync >"$TMP/out" 2>&1
rc=$?
cat "$TMP/out" >>"$test_log"
standin_admin POST fault/clear >/dev/null
test_expect_equal "$rc $(grep -c '^pwnm: delta: GET .*no data for 2 s after 2 attempts; its news wait for the next run$' "$TMP/out") $(grep -c 'not asked' "$TMP/out") $(pw_tags_of delta1@example.org | grep -c deferred) $(pw_tags_of p6@example.org) $(pw_tags_of theta1@example.org)" \
	"75 1 0 0 pw/beta pw/beta/deferred pw/theta pw/theta/deferred"

test_begin_subtest "--full: the full lists of three projects are asked concurrently"
notmuch config set pwnm.stall_timeout 20s
notmuch config set pwnm.projects "alpha;beta;gamma"
pwnm_run sync
change_all new
standin_admin POST settings '{"max_per_page": 1}' >/dev/null
standin_admin POST latency '{"ms": 300}' >/dev/null
standin_log_clear
measured "--full of 3 projects, 300 ms a request" pwnm sync --full
read -r n most both <<<"$(overlap lists)"
test_expect_equal "$rc $both $(pw_tags_of p2@example.org) | $(pw_tags_of p6@example.org) | $(pw_tags_of gamma1@example.org)" \
	"0 yes pw/alpha pw/alpha/new | pw/beta pw/beta/new | pw/gamma pw/gamma/new"

test_begin_subtest "a first sync (a new store) lists the three projects concurrently too"
change_all under-review
export XDG_STATE_HOME=$TMP/state-first
standin_log_clear
measured "first sync of 3 projects, 300 ms a request" pwnm sync
read -r n most both <<<"$(overlap lists)"
standin_admin POST latency '{"ms": 0}' >/dev/null
standin_admin POST settings '{"max_per_page": 250}' >/dev/null
test_expect_equal "$rc $both $(pw_tags_of p2@example.org) | $(pw_tags_of p6@example.org) | $(pw_tags_of gamma1@example.org) | $(pw_tags_of theta1@example.org)" \
	"0 yes pw/alpha pw/alpha/under-review | pw/beta pw/beta/under-review | pw/gamma pw/gamma/under-review | pw/theta pw/theta/deferred"

test_done

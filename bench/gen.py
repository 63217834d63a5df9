#!/usr/bin/env python3
"""gen.py - generate a benchmark world: a maildir and the stand-in's data file

  python3 bench/gen.py --patches N --out DIR [--seed S] [--token T] [--remote-only]

Writes DIR/mail/<project>/{cur,new,tmp}/ (one file per mail, no indexing)
and DIR/pw.json (tests/fake-patchwork.py data format), plus DIR/gen.json
with the counts.  Deterministic for a given N and seed.

The world: three projects of different sizes; patch ids interleaved across
them as on a real instance; series of 1-12 patches sharing a msgid stem
(<20231114223320.6798-3-dev@example.org>); 1% of mails cross-posted to two
projects (one mail, two patches, same msgid); 5% of patches whose mail
never arrived; a few odd Message-IDs; dates spread over two years; states
weighted like a mature instance (old patches settled, recent ones open);
some archived, some delegated.  Each series is declared in the data file
(a cross-posted copy is a one-patch series of its own project, as
Patchwork makes it).  --remote-only writes no mail at all: every patch's
mail is missing, as on a big instance where the user follows a few lists.
Standard library only.
"""

import argparse
import datetime
import json
import os
import random

PROJECTS = [
    # link_name, weight, list address
    ("netdev", 0.5, "netdev@vger.example.org"),
    ("linux-media", 0.3, "linux-media@vger.example.org"),
    ("dpdk", 0.2, "dev@dpdk.example.org"),
]

# (slug, weight for settled patches, weight for recent ones)
STATES = [
    ("accepted", 42, 8),
    ("superseded", 22, 6),
    ("new", 4, 45),
    ("changes-requested", 8, 12),
    ("rejected", 7, 2),
    ("under-review", 1, 12),
    ("not-applicable", 6, 2),
    ("rfc", 2, 6),
    ("deferred", 4, 3),
    ("awaiting-upstream", 4, 4),
]

DELEGATES = ["maint", "alice", "bob", "carol"]
AUTHORS = ["dev", "jdoe", "k.smith", "li.wei", "m.garcia", "olof", "p.novak",
           "rsanchez", "tanaka", "vbabka", "wu.hao", "yuki"]
DOMAINS = ["example.org", "example.com", "kernel.example.net", "corp.example.io"]
ODD = [
    '<odd "id" {n}@example.org>',
    "<CAHk-=wg+{n}Xq9/Zr_aBcD=eF@mail.gmail.com>",
    "<{n}$a1b2$c3@host.example.org>",
    "<{n}.weird id with spaces@example.org>",
    "<x{n}@[192.0.2.1]>",
    "<" + "l" * 180 + "{n}@example.org>",
]
SPAN = 2 * 365 * 86400


def pick(rng, items, weights):
    return rng.choices(items, weights=weights, k=1)[0]


def generate(n_patches, out, seed=1, token="0123456789abcdef0123456789abcdef01234567",
             remote_only=False):
    rng = random.Random(seed * 1000003 + n_patches)
    now = int(datetime.datetime.now(datetime.timezone.utc).timestamp())
    # Anchor dates to the day so a cached world stays inside the window.
    now -= now % 86400
    t0 = now - SPAN
    mail = os.path.join(out, "mail")
    for name, _, _ in PROJECTS:
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(mail, name, sub), exist_ok=True)
    patches = []
    series = []
    pid = 0
    nmail = 0
    ncross = 0
    nmissing = 0
    nodd = 0
    pnames = [p[0] for p in PROJECTS]
    pweights = [p[1] for p in PROJECTS]
    lists = {p[0]: p[2] for p in PROJECTS}
    slugs = [s[0] for s in STATES]
    w_old = [s[1] for s in STATES]
    w_new = [s[2] for s in STATES]
    # ids are handed out in time order: a steady stream of series
    t = t0
    step = SPAN / max(1, n_patches / 4.0)  # mean gap between series
    while pid < n_patches:
        t += rng.expovariate(1.0 / step) if step > 0 else 0
        ts = min(int(t), now - 60)
        size = min(rng.choice([1, 1, 1, 1, 2, 2, 3, 3, 4, 5, 6, 8, 12]), n_patches - pid)
        author = rng.choice(AUTHORS)
        domain = rng.choice(DOMAINS)
        project = pick(rng, pnames, pweights)
        stem = "%s.%d" % (datetime.datetime.utcfromtimestamp(ts).strftime("%Y%m%d%H%M%S"),
                          rng.randrange(1000, 99999))
        age = (now - ts) / SPAN  # 0 recent .. 1 old
        settled = rng.random() < 0.25 + 0.75 * age
        series_state = pick(rng, slugs, w_old if settled else w_new)
        sid = pid + 1
        series.append({"id": sid, "project": project, "total": size,
                       "name": "%s: fix series %d" % (project, sid),
                       "date": datetime.datetime.utcfromtimestamp(ts).strftime("%Y-%m-%dT%H:%M:%S"),
                       "submitter": "%s <%s@%s>" % (author.title(), author, domain)})
        for k in range(1, size + 1):
            if pid >= n_patches:
                break
            if rng.random() < 0.0005:
                msgid = rng.choice(ODD).format(n=pid + 1)
                nodd += 1
            else:
                msgid = "<%s-%d-%s@%s>" % (stem, k, author, domain)
            cross = None
            if rng.random() < 0.01 and pid + 2 <= n_patches:
                cross = rng.choice([p for p in pnames if p != project])
            has_mail = rng.random() >= 0.05 and not remote_only
            date = datetime.datetime.utcfromtimestamp(ts + k).strftime("%Y-%m-%dT%H:%M:%S")
            name = "[PATCH%s %d/%d] %s: fix %s" % (
                "" if size == 1 else " v%d" % rng.randint(1, 3), k, size, project,
                rng.choice(["a leak", "a race", "the build", "a typo", "an overflow"]))
            if size == 1:
                name = "[PATCH] %s: fix a thing #%d" % (project, pid + 1)
            state = series_state if rng.random() < 0.9 else pick(rng, slugs, w_old if settled else w_new)
            archived = settled and rng.random() < 0.35
            delegate = rng.choice(DELEGATES) if rng.random() < 0.15 else None
            targets = [project] + ([cross] if cross else [])
            for proj in targets:
                pid += 1
                patches.append({
                    "id": pid, "project": proj, "msgid": msgid, "date": date,
                    "name": name, "state": state, "archived": archived,
                    "delegate": delegate,
                    "submitter": "%s <%s@%s>" % (author.title(), author, domain),
                })
                if proj == project:
                    patches[-1]["series"] = sid
                if not has_mail:
                    nmissing += 1
            if cross:
                ncross += 1
            if has_mail:
                nmail += 1
                to = ", ".join(lists[p] for p in targets)
                rfc = datetime.datetime.utcfromtimestamp(ts + k).strftime(
                    "%a, %d %b %Y %H:%M:%S +0000")
                body = ("From: %s <%s@%s>\nTo: %s\nSubject: %s\nDate: %s\n"
                        "Message-ID: %s\n%s\n"
                        "Signed-off-by: %s <%s@%s>\n---\n drivers/x/y.c | 2 +-\n"
                        " 1 file changed, 1 insertion(+), 1 deletion(-)\n\n"
                        "diff --git a/drivers/x/y.c b/drivers/x/y.c\n"
                        "--- a/drivers/x/y.c\n+++ b/drivers/x/y.c\n@@ -1 +1 @@\n"
                        "-int x = %d;\n+int x = %d;\n") % (
                    author.title(), author, domain, to, name, rfc, msgid,
                    "" if k == 1 else "In-Reply-To: <%s-1-%s@%s>\n" % (stem, author, domain),
                    author.title(), author, domain, pid, pid + 1)
                fn = os.path.join(mail, project, "cur", "%d.%d.bench:2,S" % (ts + k, nmail))
                with open(fn, "w", encoding="utf-8") as f:
                    f.write(body)
    data = {
        "projects": [
            {"id": i + 1, "link_name": name, "name": name, "list_id": addr.replace("@", "."),
             "list_email": addr, "maintainers": ["maint"]}
            for i, (name, _, addr) in enumerate(PROJECTS)
        ],
        "users": [
            {"id": 2, "username": "maint", "email": "maint@example.org", "token": token},
            {"id": 3, "username": "alice", "email": "alice@example.org", "token": None},
            {"id": 4, "username": "bob", "email": "bob@example.org", "token": None},
            {"id": 5, "username": "carol", "email": "carol@example.org", "token": None},
        ],
        "states": slugs,
        "series": series,
        "patches": patches,
    }
    with open(os.path.join(out, "pw.json.tmp"), "w", encoding="utf-8") as f:
        json.dump(data, f, separators=(",", ":"))
    os.rename(os.path.join(out, "pw.json.tmp"), os.path.join(out, "pw.json"))
    info = {"patches": len(patches), "mails": nmail, "cross_posted_mails": ncross,
            "patches_without_mail": nmissing, "odd_msgids": nodd, "seed": seed,
            "projects": pnames, "series": len(series), "remote_only": remote_only}
    with open(os.path.join(out, "gen.json"), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=1)
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patches", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--token", default="0123456789abcdef0123456789abcdef01234567")
    ap.add_argument("--remote-only", action="store_true", help="no mail: every patch's is missing")
    args = ap.parse_args()
    print(json.dumps(generate(args.patches, args.out, args.seed, args.token, args.remote_only)))


if __name__ == "__main__":
    main()

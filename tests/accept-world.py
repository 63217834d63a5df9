#!/usr/bin/env python3
"""Build the accept test's mails and stand-in data from git format-patch output.

  world.py TMP TESTS_DIR TOKEN
"""
import datetime, json, os, sys

tmp, tests, token = sys.argv[1:4]
sys.path.insert(0, tests)
import pwhash  # noqa: E402


def ago(days):
    t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days)
    return t.strftime("%Y-%m-%dT%H:%M:%S")


LISTS = {p: "%s@lists.example.org" % p for p in ("alpha", "beta", "gamma", "delta")}
# commit name -> the projects its mail went to, and how many days ago
PLAN = {"one": (["alpha"], 3), "two": (["alpha", "delta"], 3), "three": (["alpha"], 800),
        "cross": (["alpha", "beta"], 3), "five": (["alpha"], 3), "six": (["gamma"], 3),
        "seven": (["alpha"], 3), "eight": (["alpha"], 2), "nine": (["alpha"], 2)}

patches, pid, n = [], 10, 0
os.makedirs(os.path.join(tmp, "mails"), exist_ok=True)
for f in sorted(os.listdir(os.path.join(tmp, "fp"))):
    lines = open(os.path.join(tmp, "fp", f), encoding="utf-8").read().split("\n")[1:]
    subject = next(x for x in lines if x.startswith("Subject: "))[len("Subject: "):]
    name = subject.split("] ", 1)[1].split(":", 1)[0]
    projs, days = PLAN[name]
    sends = [(name, subject)]
    if name == "seven":  # sent a second time, unchanged: two patches with one diff
        sends.append((name + "-resend", subject.replace("[PATCH", "[PATCH RESEND", 1)))
    for mid, subj in sends:
        n += 1
        msgid = "<%s@example.org>" % mid
        head = ["Message-ID: " + msgid, "To: " + ", ".join(LISTS[p] for p in projs),
                "List-Id: <%s>" % LISTS[projs[0]].replace("@", ".")]
        body = [("Subject: " + subj) if x.startswith("Subject: ") else x for x in lines]
        mail = "\n".join(head + body)
        with open(os.path.join(tmp, "mails", msgid[1:-1] + ".eml"), "w", encoding="utf-8") as out:
            out.write(mail)
        with open(os.path.join(tmp, "mail", "new", "accept-%d:2," % n), "w", encoding="utf-8") as out:
            out.write(mail)
        for p in projs:
            pid += 1
            patches.append({"id": pid, "project": p, "msgid": msgid, "date": ago(days),
                            "name": subj, "state": "new", "submitter": "dev@example.org",
                            "diff": pwhash.mail_diff(mail)})


def project(i, name, maintainers):
    return {"id": i, "link_name": name, "name": name.title(), "list_id": LISTS[name].replace("@", "."),
            "list_email": LISTS[name], "maintainers": maintainers}


world = {"projects": [project(1, "alpha", ["maint"]), project(2, "beta", ["maint"]),
                      project(3, "gamma", ["other"]), project(4, "delta", ["maint"])],
         "users": [{"id": 2, "username": "maint", "email": "maint@example.org", "token": token},
                   {"id": 4, "username": "other", "email": "other@example.org", "token": None}],
         "patches": patches}
with open(os.path.join(tmp, "pw.json"), "w") as out:
    json.dump(world, out, indent=1)
for p in patches:
    print(p["id"], p["project"], p["msgid"][1:-1])

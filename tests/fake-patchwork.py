#!/usr/bin/env python3
"""fake-patchwork.py - a Patchwork REST API (1.3) stand-in for the tests and benchmarks.

Answers like a Patchwork 3.1 server (Django REST framework behind wsgiref):
same JSON shapes, headers, pagination and error bodies.  State comes from a
JSON data file; an unauthenticated /_admin/ API changes it behind the
client's back, injects faults, sets latency and server-wide behaviour
(/_admin/settings: a page size cap, no Link, the API versions served, page
links that cycle or never end) and puts the server's clock off
(/_admin/clock; a state change may also date its event or give it an id
out of sequence: event_offset, event_date, event_id; "project" moves a
patch to another project, as Patchwork's admin pages can).  Every request is
logged as one JSON object a line (with the number of requests in service
when it came, in_flight, and when its answer was ready, t_end, to see
requests overlap); with --tls-cert/--tls-key it serves
https, and a failed handshake is logged as {"tls": "failed"}.

  python3 tests/fake-patchwork.py --data FILE.json --port 0 --port-file F \\
      --log LOG [--latency-ms N] [--host 127.0.0.1] [--tls-cert PEM --tls-key PEM]

Standard library only.
"""

import argparse
import bisect
import datetime
import email.utils
import hashlib
import json
import os
import re
import signal
import socket
import struct
import sys
import ssl
import threading
import time
import unicodedata
import zlib
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlencode, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pwhash  # noqa: E402  (Patchwork's diff hash, the tests' reference)

SERVER_HEADER = "WSGIServer/0.2 CPython/3.11.2"
API_VERSIONS = ("1.0", "1.1", "1.2", "1.3")

# Server-wide behaviour a test may change (POST /_admin/settings):
#   max_per_page  the page size cap (MAX_REST_RESULTS_PER_PAGE; 30 on Patchwork 2.0/2.1)
#   link          false: no Link header at all (a proxy that drops it)
#   link_last     false: Link without first/last (Patchwork 2.x and 3.0)
#   versions      the API versions served (e.g. up to "1.4" for Patchwork's main branch)
#   cycle         page 2's next link points back to page 1
#   endless       every page links a next, and pages past the end repeat the last one
SETTINGS = {"max_per_page": 250, "link": True, "link_last": True, "versions": list(API_VERSIONS),
            "cycle": False, "endless": False}
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 250
ALLOW_LIST = "GET, HEAD, OPTIONS"
ALLOW_DETAIL = "GET, PUT, PATCH, HEAD, OPTIONS"

DEFAULT_STATES = [
    ("new", "New"),
    ("under-review", "Under Review"),
    ("accepted", "Accepted"),
    ("rejected", "Rejected"),
    ("rfc", "RFC"),
    ("not-applicable", "Not Applicable"),
    ("changes-requested", "Changes Requested"),
    ("awaiting-upstream", "Awaiting Upstream"),
    ("superseded", "Superseded"),
    ("deferred", "Deferred"),
]
DEFAULT_STATE_NAMES = dict(DEFAULT_STATES)

EVENT_CATEGORIES = (
    "cover-created", "patch-created", "patch-completed",
    "patch-state-changed", "patch-delegated", "patch-relation-changed",
    "check-created", "series-created", "series-completed",
    "cover-comment-created", "patch-comment-created",
)

# DRF BooleanField
TRUE_VALUES = {"t", "T", "y", "Y", "yes", "Yes", "YES", "true", "True",
               "TRUE", "on", "On", "ON", "1", 1, True}
FALSE_VALUES = {"f", "F", "n", "N", "no", "No", "NO", "false", "False",
                "FALSE", "off", "Off", "OFF", "0", 0, 0.0, False}

# Django reverse() leaves these unquoted in a path
URL_SAFE = "/~:@!$&'()*+,;="

UNSET = object()

MSG_NOT_FOUND = "Not found."
MSG_INVALID_TOKEN = "Invalid token."
MSG_NO_AUTH = "Authentication credentials were not provided."
MSG_FORBIDDEN = "You do not have permission to perform this action."

FAULT_MODES = ("500", "502", "503", "429", "reset", "truncated",
               "object-for-list", "string-id", "null-state", "no-link",
               "huge", "hang", "slow", "redirect", "foreign-link", "gzip-bomb",
               "html-404", "api-404", "other-patch", "echo-auth")

HTML_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n"
            b"<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
            b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")


def dumps(data):
    """Compact UTF-8 JSON, as DRF's JSONRenderer writes it."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# Seconds the server's clock is off (POST /_admin/clock): event dates and the
# Date header follow it, as on a server whose clock is wrong.
CLOCK_OFFSET = [0.0]


def utc_now():
    """The server clock: naive UTC, as Patchwork stores it."""
    return (datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
            + datetime.timedelta(seconds=CLOCK_OFFSET[0]))


def fmt_event_date(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")


def fmt_date(dt):
    return dt.isoformat()


def parse_iso(value):
    """A naive UTC datetime from an ISO 8601 text, or None."""
    if not isinstance(value, str) or not value:
        return None
    v = value.strip()
    if v.endswith("Z") or v.endswith("z"):
        v = v[:-1] + "+00:00"
    try:
        dt = datetime.datetime.fromisoformat(v)
    except ValueError:
        try:
            d = datetime.date.fromisoformat(v)
        except ValueError:
            return None
        dt = datetime.datetime(d.year, d.month, d.day)
    if dt.tzinfo is not None:
        dt = dt.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return dt


def slugify(value):
    """Django's slugify (ASCII)."""
    value = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", value.lower())
    return re.sub(r"[-\s]+", "-", value).strip("-_")


def parse_submitter(value):
    """("Name", "email") from "Name <email>" or "email"."""
    if isinstance(value, dict):
        return value.get("name"), value.get("email", "")
    value = str(value or "")
    name, addr = email.utils.parseaddr(value)
    if not addr:
        addr = value
    return (name or None), addr


def prefixes_of(name):
    """Patchwork's clean_subject() prefixes (minus PATCH)."""
    out = []
    rest = name or ""
    while True:
        m = re.match(r"\s*\[([^\]]*)\]", rest)
        if not m:
            break
        rest = rest[m.end():]
        for part in re.split(r"[\s,]+", m.group(1)):
            if part and part.lower() != "patch":
                out.append(part)
    return out


class ApiError(Exception):
    def __init__(self, status, data, allow=None):
        Exception.__init__(self, status)
        self.status = status
        self.data = data
        self.allow = allow


class Resp:
    """A response before it is sent: data (JSON) or raw body."""

    def __init__(self, status, data=None, body=None, ctype="application/json",
                 allow=None, link=None, extra=None, json_api=True):
        self.status = status
        self.data = data
        self._body = body
        self.ctype = ctype
        self.allow = allow
        self.link = link
        self.extra = list(extra or [])
        self.json_api = json_api

    @property
    def body(self):
        if self._body is None:
            self._body = dumps(self.data) if self.data is not None else b""
        return self._body

    def set_data(self, data):
        self.data = data
        self._body = None

    def head(self, length):
        reason = HTTPStatus(self.status).phrase if self.status in HTTPStatus._value2member_map_ else "Unknown"
        lines = ["HTTP/1.1 %d %s" % (self.status, reason),
                 "Date: " + email.utils.formatdate(time.time() + CLOCK_OFFSET[0], usegmt=True),
                 "Server: " + SERVER_HEADER]
        if self.ctype:
            lines.append("Content-Type: " + self.ctype)
        if self.link:
            lines.append("Link: " + self.link)
        for k, v in self.extra:
            lines.append("%s: %s" % (k, v))
        if self.json_api:
            lines.append("Vary: Accept, Cookie")
            if self.allow:
                lines.append("Allow: " + self.allow)
            lines.append("X-Frame-Options: DENY")
        lines.append("Content-Length: %d" % length)
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")


def api_error(status, detail, allow=None):
    return ApiError(status, {"detail": detail}, allow)


class Project:
    __slots__ = ("id", "link_name", "name", "list_id", "list_email",
                 "maintainers", "web_url", "scm_url", "webscm_url",
                 "list_archive_url", "list_archive_url_format",
                 "commit_url_format", "subject_match")


class User:
    __slots__ = ("id", "username", "email", "token", "first_name", "last_name")


class Person:
    __slots__ = ("id", "name", "email", "user")


class Patch:
    __slots__ = ("id", "project", "msgid", "url_msgid", "date", "date_s",
                 "name", "state", "archived", "delegate", "submitter",
                 "series_id", "hash", "commit_ref", "pull_url", "check",
                 "content", "diff", "headers")


class Event:
    __slots__ = ("id", "category", "project", "date", "date_s", "actor",
                 "patch_id", "extra")


class Series:
    """A series declared in the data file ("series"); patches name it by id."""
    __slots__ = ("id", "project", "name", "version", "total", "date", "date_s",
                 "submitter", "cover")


class Cover:
    __slots__ = ("id", "msgid", "url_msgid", "name", "date_s")


class Check:
    __slots__ = ("id", "user", "date_s", "state", "target_url", "context", "description")


class Ctx:
    """URL bases for one request: http://HOST and the versioned API root."""
    __slots__ = ("base", "api")

    def __init__(self, base, api):
        self.base = base
        self.api = api


class Store:
    def __init__(self, data):
        self.lock = threading.RLock()
        self.version = 0
        self.filter_cache = {}
        self.series_index = None      # (version, {series id: [patches]})
        self.states = []            # [(slug, name)], id = index + 1
        for s in data.get("states") or [x[0] for x in DEFAULT_STATES]:
            if isinstance(s, dict):
                slug = s["slug"]
                name = s.get("name") or DEFAULT_STATE_NAMES.get(slug) or slug.replace("-", " ").title()
            else:
                slug = s
                name = DEFAULT_STATE_NAMES.get(slug) or slug.replace("-", " ").title()
            self.states.append((slug, name))
        self.state_slugs = [s for s, _ in self.states]
        # an older server: "api_versions": ["1.0", "1.1"] (Patchwork 2.1)
        self.api_versions = tuple(data.get("api_versions") or API_VERSIONS)
        SETTINGS["versions"] = list(self.api_versions)

        self.users = {}
        self.user_by_name = {}
        self.user_by_token = {}
        self.user_by_email = {}
        for u in data.get("users", []):
            user = User()
            user.id = int(u["id"])
            user.username = u["username"]
            user.email = u.get("email", "")
            user.token = u.get("token")
            user.first_name = u.get("first_name", "")
            user.last_name = u.get("last_name", "")
            self.users[user.id] = user
            self.user_by_name[user.username] = user
            if user.token:
                self.user_by_token[user.token] = user
            if user.email:
                self.user_by_email[user.email.lower()] = user
            # more confirmed addresses of the account ("emails"), people of it like its own
            for extra in u.get("emails", []):
                self.user_by_email[extra.lower()] = user

        self.projects = {}
        self.project_by_link = {}
        self.proj_ids = {}
        for i, p in enumerate(data.get("projects", [])):
            pr = Project()
            pr.id = int(p.get("id", i + 1))
            pr.link_name = p["link_name"]
            pr.name = p.get("name", pr.link_name)
            pr.list_id = p.get("list_id", "%s.lists.example.org" % pr.link_name)
            pr.list_email = p.get("list_email", "%s@lists.example.org" % pr.link_name)
            pr.maintainers = []
            for m in p.get("maintainers", []):
                u = self.user_by_name.get(m) if not isinstance(m, int) else self.users.get(m)
                if u is None:
                    raise SystemExit("project %s: unknown maintainer %r" % (pr.link_name, m))
                pr.maintainers.append(u)
            for k in ("web_url", "scm_url", "webscm_url", "list_archive_url",
                      "list_archive_url_format", "commit_url_format", "subject_match"):
                setattr(pr, k, p.get(k, ""))
            self.projects[pr.id] = pr
            self.project_by_link[pr.link_name.lower()] = pr
            self.proj_ids[pr.id] = []

        self.people = {}
        self.person_by_email = {}
        self.patches = {}
        self.all_ids = []
        self.by_msgid = {}
        self.events = []
        self.next_event_id = 1
        self.last_event_dt = None
        self.embed_cache = {}

        self.series = {}
        self.checks = {}            # patch id -> [Check]
        self.next_check_id = 1
        for sd in data.get("series", []):
            self.add_series(sd)

        pats = sorted(data.get("patches", []), key=lambda x: int(x["id"]))
        n = len(pats)
        # creation events in the recent past, 1 us apart, all before "now"
        start = utc_now() - datetime.timedelta(microseconds=n + 1)
        for k, pd in enumerate(pats):
            p = self.make_patch(pd, int(pd["id"]))
            self.insert_patch(p)
            for cd in pd.get("checks", []):
                c = Check()
                c.id = self.next_check_id
                self.next_check_id += 1
                c.user = self.user_by_name.get(cd.get("actor") or "maint")
                c.date_s = p.date_s
                c.state = cd.get("state", "pending")
                c.target_url = cd.get("target_url")
                c.context = cd.get("context", "default")
                c.description = cd.get("description")
                self.checks.setdefault(p.id, []).append(c)
            if pd.get("checks"):
                p.check = self.combined_check(p.id)
            self.add_event("patch-created", p, None, {},
                           when=start + datetime.timedelta(microseconds=k))
        # Patchwork links a person to the account whose confirmed address it is:
        # every address of a user is a person with that user (made after the
        # submitters, whose ids the worlds' files may name).
        for addr in sorted(self.user_by_email):
            u = self.user_by_email[addr]
            self.person_for({"name": ("%s %s" % (u.first_name, u.last_name)).strip() or None,
                             "email": addr})

    # ---- construction ----

    def person_for(self, value):
        name, addr = parse_submitter(value)
        key = addr.lower()
        pe = self.person_by_email.get(key)
        if pe is None:
            pe = Person()
            pe.id = len(self.people) + 1
            pe.name = name
            pe.email = addr
            pe.user = self.user_by_email.get(key)
            self.people[pe.id] = pe
            self.person_by_email[key] = pe
        return pe

    def add_series(self, sd):
        se = Series()
        se.id = int(sd["id"])
        se.project = self.find_project(sd["project"])
        if se.project is None:
            raise ValueError("series %s: unknown project %r" % (se.id, sd["project"]))
        se.name = sd.get("name")
        se.version = int(sd.get("version", 1))
        se.total = int(sd.get("total", 1))
        dt = parse_iso(sd.get("date") or "2023-11-14T22:33:20")
        se.date = dt
        se.date_s = fmt_date(dt)
        se.submitter = self.person_for(sd.get("submitter", "dev@example.org"))
        cd = sd.get("cover")
        se.cover = None
        if cd:
            c = Cover()
            c.id = int(cd.get("id", se.id))
            c.msgid = cd["msgid"]
            c.url_msgid = quote(c.msgid[1:-1], safe=URL_SAFE)
            c.name = cd.get("name", se.name)
            c.date_s = se.date_s
            se.cover = c
        self.series[se.id] = se
        self.version += 1
        return se

    def series_patches(self, sid):
        # by series, rebuilt when the store changed (a list of series asks for every one)
        if self.series_index is None or self.series_index[0] != self.version:
            by = {}
            for i in self.all_ids:
                by.setdefault(self.patches[i].series_id, []).append(self.patches[i])
            self.series_index = (self.version, by)
        return list(self.series_index[1].get(sid, ()))

    def all_series_ids(self):
        """Declared series plus the one-patch series of every other patch."""
        ids = set(self.series)
        ids.update(p.series_id for p in self.patches.values())
        return sorted(ids)

    def series_view(self, sid):
        """(project, name, version, total, date, date_s, submitter, cover) of a series."""
        se = self.series.get(sid)
        if se is not None:
            return (se.project, se.name, se.version, se.total, se.date, se.date_s,
                    se.submitter, se.cover)
        ps = self.series_patches(sid)
        if not ps:
            return None
        p = ps[0]
        return (p.project, p.name, 1, 1, p.date, p.date_s, p.submitter, None)

    def r_series(self, sid, ctx):
        v = self.series_view(sid)
        pr, name, version, total, _, date_s, sub, cover = v
        base = ctx.base
        ps = self.series_patches(sid)
        d = {
            "id": sid,
            "url": "%s/series/%d/" % (ctx.api, sid),
            "web_url": "%s/project/%s/list/?series=%d" % (base, pr.link_name, sid),
            "project": self.r_project(pr, ctx),
            "name": name,
            "date": date_s,
            "submitter": self.r_person(sub, ctx),
            "version": version,
            "total": total,
            "received_total": len(ps),
            "received_all": len(ps) >= total,
            "mbox": "%s/series/%d/mbox/" % (base, sid),
            "cover_letter": None,
            "patches": [self.r_patch_embed(p, ctx) for p in ps],
        }
        if cover is not None:
            web = "%s/project/%s/cover/%s/" % (base, pr.link_name, cover.url_msgid)
            d["cover_letter"] = {
                "id": cover.id,
                "url": "%s/covers/%d/" % (ctx.api, cover.id),
                "web_url": web,
                "msgid": cover.msgid,
                "list_archive_url": None,
                "date": cover.date_s,
                "name": cover.name,
                "mbox": web + "mbox/",
            }
        return d

    def r_check(self, p, c, ctx):
        return {
            "id": c.id,
            "url": "%s/patches/%d/checks/%d/" % (ctx.api, p.id, c.id),
            "user": self.r_user(c.user, ctx),
            "date": c.date_s,
            "state": c.state,
            "target_url": c.target_url,
            "context": c.context,
            "description": c.description,
        }

    def combined_check(self, pid):
        """Patchwork's Patch.combined_check_state over the newest check of each context."""
        latest = {}
        for c in self.checks.get(pid, []):
            latest[(c.user.id if c.user else 0, c.context)] = c.state
        states = set(latest.values())
        if not states:
            return "pending"
        for st in ("fail", "warning", "pending"):
            if st in states:
                return st
        return "success"

    def add_check(self, p, cd, actor):
        c = Check()
        c.id = self.next_check_id
        self.next_check_id += 1
        c.user = actor
        c.date_s = fmt_date(self.clock())
        c.state = cd.get("state", "pending")
        c.target_url = cd.get("target_url")
        c.context = cd.get("context", "default")
        c.description = cd.get("description")
        self.checks.setdefault(p.id, []).append(c)
        p.check = self.combined_check(p.id)
        self.add_event("check-created", p, actor, {"check": c})
        return c

    def find_project(self, ref):
        if isinstance(ref, int):
            return self.projects.get(ref)
        ref = str(ref)
        if ref.isdigit():
            return self.projects.get(int(ref))
        return self.project_by_link.get(ref.lower())

    def make_patch(self, pd, pid):
        p = Patch()
        p.id = pid
        p.project = self.find_project(pd["project"])
        if p.project is None:
            raise ValueError("patch %s: unknown project %r" % (pid, pd["project"]))
        msgid = pd.get("msgid") or "<patch-%d@example.org>" % pid
        if not (msgid.startswith("<") and msgid.endswith(">")):
            msgid = "<" + msgid + ">"
        p.msgid = msgid
        p.url_msgid = quote(msgid[1:-1], safe=URL_SAFE)
        dt = parse_iso(pd.get("date") or "2023-11-14T22:33:20")
        if dt is None:
            raise ValueError("patch %s: bad date %r" % (pid, pd.get("date")))
        p.date = dt
        p.date_s = fmt_date(dt)
        p.name = pd.get("name", "[PATCH] patch %d" % pid)
        state = pd.get("state", "new")
        if state not in self.state_slugs:
            raise ValueError("patch %s: unknown state %r" % (pid, state))
        p.state = state
        p.archived = bool(pd.get("archived", False))
        dg = pd.get("delegate")
        if dg is None:
            p.delegate = None
        else:
            p.delegate = self.users.get(dg) if isinstance(dg, int) else self.user_by_name.get(dg)
            if p.delegate is None:
                raise ValueError("patch %s: unknown delegate %r" % (pid, dg))
        p.submitter = self.person_for(pd.get("submitter", "dev@example.org"))
        p.series_id = int(pd.get("series", pid))
        p.hash = pd.get("hash")
        if not p.hash and pd.get("diff"):
            # as Patchwork stores it for a mailed diff (tests/pwhash.py)
            p.hash = pwhash.diff_hash(pd["diff"])
        if not p.hash:
            p.hash = hashlib.sha1(("%s\n%s" % (msgid, p.name)).encode("utf-8")).hexdigest()
        p.commit_ref = pd.get("commit_ref")
        p.pull_url = pd.get("pull_url")
        p.check = pd.get("check", "pending")
        p.content = pd.get("content")
        p.diff = pd.get("diff")
        p.headers = pd.get("headers")
        return p

    def insert_patch(self, p):
        self.patches[p.id] = p
        for lst in (self.all_ids, self.proj_ids[p.project.id]):
            if not lst or lst[-1] < p.id:
                lst.append(p.id)
            else:
                bisect.insort(lst, p.id)
        self.by_msgid.setdefault(p.msgid, []).append(p.id)
        self.version += 1

    def remove_patch(self, p):
        del self.patches[p.id]
        self.all_ids.remove(p.id)
        self.proj_ids[p.project.id].remove(p.id)
        ids = self.by_msgid.get(p.msgid, [])
        if p.id in ids:
            ids.remove(p.id)
        if not ids:
            self.by_msgid.pop(p.msgid, None)
        self.events = [e for e in self.events if e.patch_id != p.id]
        self.version += 1

    def clock(self):
        now = utc_now()
        # the same microsecond as the last event: the next one (a clock set
        # back by more than that is left as it is)
        if (self.last_event_dt is not None and now <= self.last_event_dt
                and self.last_event_dt - now < datetime.timedelta(milliseconds=1)):
            now = self.last_event_dt + datetime.timedelta(microseconds=1)
        return now

    def add_event(self, category, p, actor, extra, when=None, event_id=None, fault=False):
        e = Event()
        if event_id is not None:
            e.id = event_id         # an id out of sequence (fault tests); the counter goes on
        else:
            e.id = self.next_event_id
            self.next_event_id += 1
        e.category = category
        e.project = p.project
        e.date = when if when is not None else self.clock()
        e.date_s = fmt_event_date(e.date)
        e.actor = actor
        e.patch_id = p.id
        e.extra = extra
        if not fault:
            self.last_event_dt = e.date
        if not self.events or self.events[-1].date <= e.date:
            self.events.append(e)
        else:
            # dated out of order (fault tests, a clock set back): the list stays in date order
            bisect.insort(self.events, e, key=lambda x: x.date)
        self.version += 1
        return e

    def change_patch(self, p, actor, state=UNSET, archived=UNSET, delegate=UNSET,
                     when=None, event_id=None, project=UNSET):
        """Apply a change as the server would, recording its events."""
        if project is not UNSET and project is not p.project:
            # An admin moved the patch (Django admin): Patchwork records no event.
            self.proj_ids[p.project.id].remove(p.id)
            p.project = project
            bisect.insort(self.proj_ids[project.id], p.id)
        if state is not UNSET and state != p.state:
            prev = p.state
            p.state = state
            self.add_event("patch-state-changed", p, actor,
                           {"previous_state": prev, "current_state": state},
                           when=when, event_id=event_id, fault=when is not None)
        if delegate is not UNSET and delegate is not p.delegate:
            prev = p.delegate
            p.delegate = delegate
            self.add_event("patch-delegated", p, actor,
                           {"previous_delegate": prev, "current_delegate": delegate})
        if archived is not UNSET and bool(archived) != p.archived:
            p.archived = bool(archived)
        self.version += 1

    def can_edit(self, user, p):
        if user is None:
            return False
        if p.delegate is user:
            return True
        if user.email and user.email.lower() == p.submitter.email.lower():
            return True
        return user in p.project.maintainers

    # ---- rendering ----

    def r_project(self, pr, ctx):
        key = (pr.id, ctx.api)
        d = self.embed_cache.get(key)
        if d is None:
            d = {
                "id": pr.id,
                "url": "%s/projects/%d/" % (ctx.api, pr.id),
                "name": pr.name,
                "link_name": pr.link_name,
                "list_id": pr.list_id,
                "list_email": pr.list_email,
                "web_url": pr.web_url,
                "scm_url": pr.scm_url,
                "webscm_url": pr.webscm_url,
                "list_archive_url": pr.list_archive_url,
                "list_archive_url_format": pr.list_archive_url_format,
                "commit_url_format": pr.commit_url_format,
            }
            self.embed_cache[key] = d
        return d

    def r_project_full(self, pr, ctx):
        return {
            "id": pr.id,
            "url": "%s/projects/%d/" % (ctx.api, pr.id),
            "name": pr.name,
            "link_name": pr.link_name,
            "list_id": pr.list_id,
            "list_email": pr.list_email,
            "web_url": pr.web_url,
            "scm_url": pr.scm_url,
            "webscm_url": pr.webscm_url,
            "maintainers": [self.r_user(u, ctx) for u in pr.maintainers],
            "subject_match": pr.subject_match,
            "list_archive_url": pr.list_archive_url,
            "list_archive_url_format": pr.list_archive_url_format,
            "commit_url_format": pr.commit_url_format,
        }

    def r_user(self, u, ctx):
        if u is None:
            return None
        return {
            "id": u.id,
            "url": "%s/users/%d/" % (ctx.api, u.id),
            "username": u.username,
            "first_name": u.first_name,
            "last_name": u.last_name,
            "email": u.email,
        }

    def r_person(self, pe, ctx):
        return {
            "id": pe.id,
            "url": "%s/people/%d/" % (ctx.api, pe.id),
            "name": pe.name,
            "email": pe.email,
            "user": self.r_user(pe.user, ctx),
        }

    def r_patch(self, p, ctx, kind="list"):
        base = ctx.base
        web = "%s/project/%s/patch/%s/" % (base, p.project.link_name, p.url_msgid)
        d = {
            "id": p.id,
            "url": "%s/patches/%d/" % (ctx.api, p.id),
            "web_url": web,
            "project": self.r_project(p.project, ctx),
            "msgid": p.msgid,
            "list_archive_url": None,
            "date": p.date_s,
            "name": p.name,
            "commit_ref": p.commit_ref,
            "pull_url": p.pull_url,
            "state": p.state,
            "archived": p.archived,
            "hash": p.hash,
            "submitter": self.r_person(p.submitter, ctx),
            "delegate": self.r_user(p.delegate, ctx),
            "mbox": web + "mbox/",
            "series": [{
                "id": p.series_id,
                "url": "%s/series/%d/" % (ctx.api, p.series_id),
                "web_url": "%s/project/%s/list/?series=%d" % (base, p.project.link_name, p.series_id),
                "date": self.series[p.series_id].date_s if p.series_id in self.series else p.date_s,
                "name": self.series[p.series_id].name if p.series_id in self.series else p.name,
                "version": self.series[p.series_id].version if p.series_id in self.series else 1,
                "mbox": "%s/series/%d/mbox/" % (base, p.series_id),
            }],
            "comments": "%s/api/patches/%d/comments/" % (base, p.id),
            "check": p.check,
            "checks": "%s/api/patches/%d/checks/" % (base, p.id),
            "tags": {},
        }
        if kind != "update":
            d["related"] = []
        if kind != "list":
            d["headers"] = self.patch_headers(p)
            d["content"] = p.content if p.content is not None else (
                "A patch.\n---\n file | 1 +\n 1 file changed, 1 insertion(+)")
            d["diff"] = p.diff if p.diff is not None else (
                "diff --git a/file b/file\nindex 0000000..1111111 100644\n"
                "--- a/file\n+++ b/file\n@@ -0,0 +1 @@\n+patch %d\n" % p.id)
            d["prefixes"] = prefixes_of(p.name)
        return d

    def patch_headers(self, p):
        if p.headers is not None:
            return p.headers
        sub = p.submitter
        frm = "%s <%s>" % (sub.name, sub.email) if sub.name else sub.email
        return {
            "Message-Id": p.msgid,
            "From": frm,
            "Subject": p.name,
            "Date": email.utils.format_datetime(p.date.replace(tzinfo=datetime.timezone.utc)),
            "To": p.project.list_email,
            "List-Id": "<%s>" % p.project.list_id,
        }

    def r_patch_embed(self, p, ctx):
        web = "%s/project/%s/patch/%s/" % (ctx.base, p.project.link_name, p.url_msgid)
        return {
            "id": p.id,
            "url": "%s/patches/%d/" % (ctx.api, p.id),
            "web_url": web,
            "msgid": p.msgid,
            "list_archive_url": None,
            "date": p.date_s,
            "name": p.name,
            "mbox": web + "mbox/",
        }

    def r_event(self, e, ctx):
        payload = {}
        p = self.patches.get(e.patch_id)
        if p is not None:
            payload["patch"] = self.r_patch_embed(p, ctx)
        for k, v in e.extra.items():
            if isinstance(v, User):
                v = self.r_user(v, ctx)
            elif isinstance(v, Check):
                v = {"id": v.id, "url": "%s/patches/%d/checks/%d/" % (ctx.api, e.patch_id, v.id),
                     "date": v.date_s, "state": v.state, "target_url": v.target_url,
                     "context": v.context}
            payload[k] = v
        return {
            "id": e.id,
            "category": e.category,
            "project": self.r_project(e.project, ctx),
            "date": e.date_s,
            "actor": self.r_user(e.actor, ctx),
            "payload": payload,
        }

    def admin_view(self, p):
        return {"id": p.id, "state": p.state, "archived": p.archived,
                "delegate": p.delegate.username if p.delegate else None}


# ---------------------------------------------------------------------------
# The API


class Request:
    __slots__ = ("method", "path", "query", "params", "body", "headers",
                 "user", "auth", "host", "ctx", "content_type")


def search_match(kind, o, q):
    """DRF's SearchFilter (?q=): every term of q is part of one of the fields, any case."""
    if kind == "users":
        fields = (o.username, o.first_name, o.last_name, o.email)
    else:
        fields = (o.name, o.email)
    fields = [(f or "").lower() for f in fields]
    terms = [t for t in re.split(r"[\s,]+", q.lower()) if t]
    return all(any(t in f for f in fields) for t in terms)


def paginate(req, items, render):
    """DRF PageNumberPagination with Patchwork's Link header."""
    params = req.params
    cap = SETTINGS["max_per_page"]
    per_page = min(DEFAULT_PER_PAGE, cap)
    if "per_page" in params:
        try:
            v = int(params["per_page"][-1])
            if v > 0:
                per_page = min(v, MAX_PER_PAGE, cap)
        except ValueError:
            pass
    count = len(items)
    num_pages = max(1, -(-count // per_page))
    raw = params.get("page", ["1"])[-1]
    endless = SETTINGS["endless"]
    if raw == "last":
        page = num_pages
    else:
        try:
            page = int(raw)
        except ValueError:
            raise api_error(404, "Invalid page.", ALLOW_LIST)
        if page < 1 or (page > num_pages and not endless):
            raise api_error(404, "Invalid page.", ALLOW_LIST)
    shown = min(page, num_pages)
    chunk = items[(shown - 1) * per_page: shown * per_page]
    data = [render(x) for x in chunk]

    def url(page_no):
        q = {k: list(v) for k, v in params.items()}
        if page_no is None:
            q.pop("page", None)
        else:
            q["page"] = [str(page_no)]
        qs = urlencode(sorted(q.items()), doseq=True)
        return req.ctx.base + req.path + ("?" + qs if qs else "")

    links = []
    cycle = SETTINGS["cycle"] and page == 2
    if page < num_pages or endless or cycle:
        nxt = 1 if cycle else page + 1
        links.append('<%s>; rel="next"' % url(nxt))
    if page > 1:
        links.append('<%s>; rel="prev"' % url(page - 1 if page > 2 else None))
    if SETTINGS["link_last"]:
        links.append('<%s>; rel="first"' % url(1))
        links.append('<%s>; rel="last"' % url(num_pages))
    if not SETTINGS["link"]:
        links = []
    return Resp(200, data, allow=ALLOW_LIST, link=", ".join(links) or None)


class App:
    def __init__(self, store, port, latency_ms):
        self.store = store
        self.port = port
        self.latency_ms = latency_ms
        self.faults = []
        self.fault_lock = threading.Lock()

    # ---- auth ----

    def authenticate(self, header):
        """(auth log text, user or None, error detail or None)."""
        if not header:
            return "none", None, None
        parts = header.split()
        if not parts or parts[0].lower() != "token":
            return "none", None, None
        if len(parts) == 1:
            return "invalid", None, "Invalid token header. No credentials provided."
        if len(parts) > 2:
            return "invalid", None, "Invalid token header. Token string should not contain spaces."
        user = self.store.user_by_token.get(parts[1])
        if user is None:
            return "invalid", None, MSG_INVALID_TOKEN
        return "user:" + user.username, user, None

    # ---- faults ----

    def take_fault(self, method, path, query):
        line = method + " " + path + ("?" + query if query else "")
        with self.fault_lock:
            for f in self.faults:
                if f["match"] is None:
                    if not path.startswith("/api/"):
                        continue
                elif not f["match"].search(line):
                    continue
                if f["count"] > 0:
                    f["count"] -= 1
                    if f["count"] == 0:
                        self.faults.remove(f)
                return f
        return None

    # ---- routing ----

    def api(self, req):
        m = re.match(r"^/api/(?:(\d+\.\d+)/)?(.*)$", req.path)
        if not m:
            if req.path == "/api":
                return Resp(301, body=b"", ctype="text/html; charset=utf-8", json_api=False,
                            extra=[("Location", "/api/")])
            raise api_error(404, MSG_NOT_FOUND)
        version, rest = m.group(1), m.group(2)
        if version is not None and version not in self.store.api_versions:
            raise api_error(404, MSG_NOT_FOUND)
        api_root = req.ctx.base + ("/api/%s" % version if version else "/api")
        req.ctx = Ctx(req.ctx.base, api_root)
        if rest and not rest.endswith("/"):
            q = "?" + req.query if req.query else ""
            return Resp(301, body=b"", ctype="text/html; charset=utf-8", json_api=False,
                        extra=[("Location", req.path + "/" + q)])
        parts = [x for x in rest.split("/") if x]

        # authentication happens before anything else in DRF
        if req.auth[2] is not None:
            allow = ALLOW_DETAIL if (len(parts) == 2 and parts[0] in ("patches", "projects")) else ALLOW_LIST
            raise api_error(403, req.auth[2], allow)

        meth = req.method
        if not parts:
            self.only(meth, ("GET", "HEAD", "OPTIONS"), ALLOW_LIST)
            names = ("projects", "users", "people", "patches", "covers", "series", "events", "bundles")
            return Resp(200, {n: "%s/%s/" % (api_root, n) for n in names}, allow=ALLOW_LIST)
        kind = parts[0]
        st = self.store
        if kind == "patches" and len(parts) == 1:
            self.only(meth, ("GET", "HEAD", "OPTIONS"), ALLOW_LIST)
            return self.patch_list(req)
        if kind == "patches" and len(parts) == 2:
            pid = self.int_or_404(parts[1], ALLOW_DETAIL)
            if meth in ("PATCH", "PUT"):
                return self.patch_update(req, pid)
            self.only(meth, ("GET", "HEAD", "OPTIONS"), ALLOW_DETAIL)
            p = st.patches.get(pid)
            if p is None:
                raise api_error(404, MSG_NOT_FOUND, ALLOW_DETAIL)
            return Resp(200, st.r_patch(p, req.ctx, "detail"), allow=ALLOW_DETAIL)
        if kind == "patches" and len(parts) == 3 and parts[2] in ("comments", "checks"):
            self.only(meth, ("GET", "HEAD", "OPTIONS"), ALLOW_LIST)
            pid = self.int_or_404(parts[1], ALLOW_LIST)
            if pid not in st.patches:
                raise api_error(404, MSG_NOT_FOUND, ALLOW_LIST)
            if parts[2] == "checks":
                p = st.patches[pid]
                return paginate(req, list(st.checks.get(pid, [])),
                                lambda c: st.r_check(p, c, req.ctx))
            return paginate(req, [], lambda x: x)
        if kind == "projects" and len(parts) == 1:
            self.only(meth, ("GET", "HEAD", "OPTIONS"), ALLOW_LIST)
            prs = [st.projects[k] for k in sorted(st.projects)]
            return paginate(req, prs, lambda pr: st.r_project_full(pr, req.ctx))
        if kind == "projects" and len(parts) == 2:
            self.only(meth, ("GET", "HEAD", "OPTIONS"), ALLOW_DETAIL)
            pr = st.find_project(parts[1])
            if pr is None:
                raise api_error(404, MSG_NOT_FOUND, ALLOW_DETAIL)
            return Resp(200, st.r_project_full(pr, req.ctx), allow=ALLOW_DETAIL)
        if kind == "events" and len(parts) == 1:
            self.only(meth, ("GET", "HEAD", "OPTIONS"), ALLOW_LIST)
            return self.event_list(req)
        if kind in ("users", "people"):
            allow = ALLOW_LIST if len(parts) == 1 else ALLOW_DETAIL
            if req.user is None:
                raise api_error(403, MSG_NO_AUTH, allow)
            self.only(meth, ("GET", "HEAD", "OPTIONS"), allow)
            if kind == "users":
                objs, render = st.users, st.r_user
            else:
                objs, render = st.people, st.r_person
            if len(parts) == 1:
                items = [objs[k] for k in sorted(objs)]
                if "q" in req.params:
                    items = [o for o in items if search_match(kind, o, req.params["q"][-1])]
                return paginate(req, items, lambda o: render(o, req.ctx))
            if len(parts) == 2:
                o = objs.get(self.int_or_404(parts[1], allow))
                if o is None:
                    raise api_error(404, MSG_NOT_FOUND, allow)
                return Resp(200, render(o, req.ctx), allow=allow)
        if kind == "series" and len(parts) == 1:
            self.only(meth, ("GET", "HEAD", "OPTIONS"), ALLOW_LIST)
            return self.series_list(req)
        if kind == "series" and len(parts) == 2:
            self.only(meth, ("GET", "HEAD", "OPTIONS"), ALLOW_LIST)
            sid = self.int_or_404(parts[1], ALLOW_LIST)
            if st.series_view(sid) is None:
                raise api_error(404, MSG_NOT_FOUND, ALLOW_LIST)
            return Resp(200, st.r_series(sid, req.ctx), allow=ALLOW_LIST)
        if kind in ("covers", "series", "bundles") and len(parts) == 1:
            self.only(meth, ("GET", "HEAD", "OPTIONS"), ALLOW_LIST)
            return paginate(req, [], lambda x: x)
        raise api_error(404, MSG_NOT_FOUND)

    @staticmethod
    def only(meth, allowed, allow):
        if meth not in allowed:
            raise api_error(405, 'Method "%s" not allowed.' % meth, allow)

    @staticmethod
    def int_or_404(text, allow):
        if not text.isdigit():
            raise api_error(404, MSG_NOT_FOUND, allow)
        return int(text)

    # ---- patches ----

    def patch_list(self, req):
        st = self.store
        params = req.params
        if "hash" in params and re.search(r"/api/1\.[01]$", req.ctx.api):
            # ?hash= came with API 1.2; before, an unknown parameter is ignored
            params = {k: v for k, v in params.items() if k != "hash"}
        key = ("patches",) + tuple(sorted((k, tuple(v)) for k, v in params.items()
                                          if k not in ("page", "per_page")))
        ids = self.cached(key)
        if ids is None:
            ids = self.filter_patches(params)
            self.cache_put(key, ids)
        return paginate(req, ids, lambda i: st.r_patch(st.patches[i], req.ctx))

    def series_list(self, req):
        st = self.store
        params = req.params
        key = ("series",) + tuple((k, tuple(params.get(k, ()))) for k in ("project", "since", "before"))
        ids = self.cached_or(key, lambda: self.filter_series(params))
        return paginate(req, ids, lambda i: st.r_series(i, req.ctx))

    def filter_series(self, params):
        st = self.store
        ids = st.all_series_ids()
        if params.get("project"):
            prs = set()
            for v in params["project"]:
                pr = self.lookup_project(v)
                if pr is None:
                    return []
                prs.add(pr.id)
            ids = [i for i in ids if st.series_view(i)[0].id in prs]
        if params.get("since"):
            t = parse_iso(params["since"][-1])
            if t is None:
                raise ApiError(400, {"since": ["Enter a valid date/time."]}, ALLOW_LIST)
            ids = [i for i in ids if st.series_view(i)[4] >= t]
        if params.get("before"):
            t = parse_iso(params["before"][-1])
            if t is None:
                raise ApiError(400, {"before": ["Enter a valid date/time."]}, ALLOW_LIST)
            ids = [i for i in ids if st.series_view(i)[4] < t]
        return ids

    def cached(self, key):
        hit = self.store.filter_cache.get(key)
        if hit is not None and hit[0] == self.store.version:
            return hit[1]
        return None

    def cached_or(self, key, make):
        """The cached value of key, else make()'s, kept until the store changes."""
        value = self.cached(key)
        if value is None:
            value = make()
            self.cache_put(key, value)
        return value

    def cache_put(self, key, value):
        fc = self.store.filter_cache
        if len(fc) > 64:
            fc.clear()
        fc[key] = (self.store.version, value)

    def filter_patches(self, params):
        st = self.store
        none = []

        def values(name):
            return params.get(name, [])

        # candidates
        if values("msgid"):
            mid = "<" + values("msgid")[-1] + ">"
            cand = sorted(st.by_msgid.get(mid, []))
        else:
            cand = None
        conds = []
        if values("project"):
            prs = set()
            for v in values("project"):
                pr = self.lookup_project(v)
                if pr is None:
                    return none
                prs.add(pr.id)
            if cand is None and len(prs) == 1:
                cand = list(st.proj_ids[next(iter(prs))])
            else:
                conds.append(lambda p, prs=prs: p.project.id in prs)
        if cand is None:
            cand = list(st.all_ids)
        if values("state"):
            slugs = set()
            for v in values("state"):
                s = self.lookup_state(v)
                if s is None:
                    return none
                slugs.add(s)
            conds.append(lambda p, slugs=slugs: p.state in slugs)
        if values("archived"):
            b = {"1": True, "0": False, "true": True, "false": False}.get(values("archived")[-1].lower())
            if b is not None:
                conds.append(lambda p, b=b: p.archived == b)
        if values("delegate"):
            users = set()
            for v in values("delegate"):
                u = self.lookup_user(v)
                if u is None:
                    return none
                users.add(u.id)
            conds.append(lambda p, users=users: p.delegate is not None and p.delegate.id in users)
        if values("submitter"):
            people = set()
            for v in values("submitter"):
                pe = st.people.get(int(v)) if v.isdigit() else st.person_by_email.get(v.lower())
                if pe is None:
                    return none
                people.add(pe.id)
            conds.append(lambda p, people=people: p.submitter.id in people)
        if values("series"):
            try:
                sids = {int(v) for v in values("series")}
            except ValueError:
                return none
            conds.append(lambda p, sids=sids: p.series_id in sids)
        if values("hash"):
            h = values("hash")[-1].lower()
            conds.append(lambda p, h=h: p.hash.lower() == h)
        if values("since"):
            since = parse_iso(values("since")[-1])
            if since is None:
                return none
            conds.append(lambda p, since=since: p.date >= since)
        if values("before"):
            before = parse_iso(values("before")[-1])
            if before is None:
                return none
            conds.append(lambda p, before=before: p.date < before)
        pats = st.patches
        if conds:
            out = []
            for i in cand:
                p = pats[i]
                for c in conds:
                    if not c(p):
                        break
                else:
                    out.append(i)
            cand = out
        order = self.ordering(values("order"), {
            "id": lambda i: i,
            "date": lambda i: pats[i].date,
            "name": lambda i: pats[i].name,
            "state": lambda i: st.state_slugs.index(pats[i].state),
            "archived": lambda i: pats[i].archived,
            "project": lambda i: pats[i].project.id,
            "submitter": lambda i: pats[i].submitter.id,
            "check": lambda i: pats[i].check,
        }, ["id"])
        if [(n, d) for n, d, _ in order] != [("id", False)]:
            cand = self.sort_by(cand, order, "id", lambda i: i)
        return cand

    @staticmethod
    def ordering(vals, fields, default):
        terms = []
        for v in vals:
            for t in v.split(","):
                t = t.strip()
                desc = t.startswith("-")
                name = t.lstrip("-")
                if name in fields:
                    terms.append((name, desc, fields[name]))
        if not terms:
            terms = []
            for t in default:
                name = t.lstrip("-")
                terms.append((name, t.startswith("-"), fields[name]))
        return terms

    @staticmethod
    def sort_by(items, order, tie_name, tie_key):
        out = list(items)
        out.sort(key=tie_key)     # stable sorts: least significant first
        for _name, desc, key in reversed(order):
            out.sort(key=key, reverse=desc)
        return out

    def lookup_project(self, v):
        return self.store.find_project(v)

    def lookup_state(self, v):
        if v.isdigit():
            i = int(v)
            return self.store.states[i - 1][0] if 1 <= i <= len(self.store.states) else None
        want = " ".join(v.split("-")).lower()
        for slug, name in self.store.states:
            if name.lower() == want:
                return slug
        return None

    def lookup_user(self, v):
        st = self.store
        if v.isdigit():
            return st.users.get(int(v))
        for u in st.users.values():
            if u.username.lower() == v.lower():
                return u
        return None

    def patch_update(self, req, pid):
        st = self.store
        p = st.patches.get(pid)
        if p is None:
            raise api_error(404, MSG_NOT_FOUND, ALLOW_DETAIL)
        if req.user is None:
            raise api_error(403, MSG_NO_AUTH, ALLOW_DETAIL)
        if not st.can_edit(req.user, p):
            raise api_error(403, MSG_FORBIDDEN, ALLOW_DETAIL)
        ctype = req.content_type
        media = ctype.split(";")[0].strip().lower()
        if not req.body:
            data = {}
        elif media == "application/json":
            try:
                data = json.loads(req.body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise api_error(400, "JSON parse error - %s" % exc, ALLOW_DETAIL)
            if not isinstance(data, dict):
                raise ApiError(400, {"non_field_errors": [
                    "Invalid data. Expected a dictionary, but got %s." % type(data).__name__]},
                    ALLOW_DETAIL)
        elif media == "application/x-www-form-urlencoded":
            form = parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True)
            data = {k: v[-1] for k, v in form.items()}
        elif media == "multipart/form-data":
            data = {}
        else:
            raise api_error(415, 'Unsupported media type "%s" in request.' % ctype, ALLOW_DETAIL)

        errors = {}
        changes = {}
        if "state" in data:
            v = data["state"]
            if not isinstance(v, str):
                errors["state"] = ["Incorrect type. Expected string value, received %s."
                                   % type(v).__name__]
            else:
                slug = slugify(v.lower())
                if slug in st.state_slugs:
                    changes["state"] = slug
                else:
                    errors["state"] = ["Invalid state %s. Expected one of: %s."
                                       % (slug, ", ".join(st.state_slugs))]
        if "archived" in data:
            v = data["archived"]
            if isinstance(v, (str, int, bool)) and v in TRUE_VALUES:
                changes["archived"] = True
            elif isinstance(v, (str, int, bool, float)) and v in FALSE_VALUES:
                changes["archived"] = False
            else:
                errors["archived"] = ["Must be a valid boolean."]
        if "delegate" in data:
            v = data["delegate"]
            if v is None or v == "":
                changes["delegate"] = None
            elif isinstance(v, bool) or not isinstance(v, (int, str)):
                errors["delegate"] = ["Incorrect type. Expected pk value, received %s."
                                      % type(v).__name__]
            elif isinstance(v, str) and not v.strip().lstrip("-").isdigit():
                errors["delegate"] = ["Incorrect type. Expected pk value, received str."]
            else:
                u = st.users.get(int(v))
                if u is None:
                    errors["delegate"] = ['Invalid pk "%s" - object does not exist.' % v]
                elif u not in p.project.maintainers:
                    errors["delegate"] = ["User '%s' is not a maintainer for project '%s'"
                                          % (u.username, p.project.name)]
                else:
                    changes["delegate"] = u
        commit_ref = UNSET
        if "commit_ref" in data:
            # a CharField(max_length=255), null allowed; no event records it
            v = data["commit_ref"]
            if v is None or (isinstance(v, str) and len(v) <= 255):
                commit_ref = v
            elif isinstance(v, str):
                errors["commit_ref"] = ["Ensure this field has no more than 255 characters."]
            else:
                errors["commit_ref"] = ["Not a valid string."]
        if errors:
            raise ApiError(400, errors, ALLOW_DETAIL)
        st.change_patch(p, req.user, **changes)
        if commit_ref is not UNSET and commit_ref != p.commit_ref:
            p.commit_ref = commit_ref
            st.version += 1
        return Resp(200, st.r_patch(p, req.ctx, "update"), allow=ALLOW_DETAIL)

    # ---- events ----

    def event_list(self, req):
        st = self.store
        params = req.params
        key = ("events",) + tuple(sorted((k, tuple(v)) for k, v in params.items()
                                         if k not in ("page", "per_page")))
        evs = self.cached_or(key, lambda: self.filter_events(params))
        return paginate(req, evs, lambda e: st.r_event(e, req.ctx))

    def filter_events(self, params):
        st = self.store
        conds = []
        for v in params.get("project", []):
            pr = self.lookup_project(v)
            if pr is None:
                return []
        if params.get("project"):
            prs = {self.lookup_project(v).id for v in params["project"]}
            conds.append(lambda e: e.project.id in prs)
        if params.get("category"):
            cat = params["category"][-1]
            if cat not in EVENT_CATEGORIES:
                return []
            conds.append(lambda e: e.category == cat)
        if params.get("patch"):
            try:
                pids = {int(v) for v in params["patch"]}
            except ValueError:
                return []
            if any(i not in st.patches for i in pids):
                return []
            conds.append(lambda e: e.patch_id in pids)
        if params.get("actor"):
            u = self.lookup_user(params["actor"][-1])
            if u is None:
                return []
            conds.append(lambda e: e.actor is u)
        # events are kept in id order, which is also date order
        lo, hi = 0, len(st.events)
        if params.get("since"):
            t = parse_iso(params["since"][-1])
            if t is None:
                return []
            lo = bisect.bisect_left(st.events, t, key=lambda e: e.date)
        if params.get("before"):
            t = parse_iso(params["before"][-1])
            if t is None:
                return []
            hi = bisect.bisect_left(st.events, t, key=lambda e: e.date)
        evs = st.events[lo:hi]
        if conds:
            evs = [e for e in evs if all(c(e) for c in conds)]
        order = self.ordering(params.get("order", []),
                              {"date": lambda e: e.date}, ["-date"])
        desc = order[0][1]
        if desc:
            evs.reverse()
        return evs

    # ---- admin ----

    def admin(self, method, path, body):
        st = self.store
        parts = [x for x in path.split("/") if x][1:]
        try:
            data = json.loads(body.decode("utf-8")) if body.strip() else {}
        except ValueError as exc:
            return self.aerr(400, "bad JSON: %s" % exc)
        if not isinstance(data, dict):
            return self.aerr(400, "expected a JSON object")
        if parts == ["dump"] and method == "GET":
            return Resp(200, {"patches": [
                {"id": p.id, "project": p.project.link_name, "state": p.state,
                 "archived": p.archived,
                 "delegate": p.delegate.username if p.delegate else None}
                for p in (st.patches[i] for i in st.all_ids)]})
        if parts == ["events"] and method == "GET":
            return Resp(200, {"events": [
                {"id": e.id, "category": e.category, "project": e.project.link_name,
                 "patch": e.patch_id, "date": e.date_s,
                 "actor": e.actor.username if e.actor else None} for e in st.events]})
        if parts == ["patches"] and method == "POST":
            pid = data.get("id")
            if pid is None:
                pid = (st.all_ids[-1] if st.all_ids else 0) + 1
            pid = int(pid)
            if pid in st.patches:
                return self.aerr(400, "patch %d exists" % pid)
            try:
                p = st.make_patch(data, pid)
            except (ValueError, KeyError) as exc:
                return self.aerr(400, str(exc))
            st.insert_patch(p)
            st.add_event("patch-created", p, None, {})
            return Resp(201, st.admin_view(p))
        if len(parts) == 2 and parts[0] == "patches":
            if not parts[1].isdigit():
                return self.aerr(404, "no such patch")
            p = st.patches.get(int(parts[1]))
            if p is None:
                return self.aerr(404, "no such patch")
            if method == "GET":
                return Resp(200, st.admin_view(p))
            if method == "DELETE":
                st.remove_patch(p)
                return Resp(200, {"deleted": p.id})
            if method in ("POST", "PATCH"):
                changes = {}
                if "state" in data:
                    if data["state"] not in st.state_slugs:
                        return self.aerr(400, "unknown state %r" % (data["state"],))
                    changes["state"] = data["state"]
                if "archived" in data:
                    changes["archived"] = bool(data["archived"])
                if "project" in data:
                    pr = st.find_project(data["project"])
                    if pr is None:
                        return self.aerr(400, "unknown project %r" % (data["project"],))
                    changes["project"] = pr
                if "delegate" in data:
                    dg = data["delegate"]
                    if dg is None:
                        changes["delegate"] = None
                    else:
                        u = st.users.get(dg) if isinstance(dg, int) else st.user_by_name.get(dg)
                        if u is None:
                            return self.aerr(400, "unknown user %r" % (dg,))
                        changes["delegate"] = u
                actor = None
                if data.get("actor"):
                    actor = st.user_by_name.get(data["actor"])
                    if actor is None:
                        return self.aerr(400, "unknown user %r" % (data["actor"],))
                elif p.project.maintainers:
                    actor = p.project.maintainers[0]
                # fault tests: the state change's event dated event_date (ISO) or
                # event_offset seconds from now, and/or with the id event_id
                if data.get("event_date"):
                    changes["when"] = parse_iso(data["event_date"])
                elif data.get("event_offset") is not None:
                    changes["when"] = utc_now() + datetime.timedelta(seconds=float(data["event_offset"]))
                if data.get("event_id") is not None:
                    changes["event_id"] = int(data["event_id"])
                st.change_patch(p, actor, **changes)
                return Resp(200, st.admin_view(p))
        if parts == ["series"] and method == "POST":
            if int(data.get("id", 0)) in st.series:
                return self.aerr(400, "series %s exists" % data.get("id"))
            try:
                se = st.add_series(data)
            except (ValueError, KeyError) as exc:
                return self.aerr(400, str(exc))
            return Resp(201, {"id": se.id})
        if len(parts) == 3 and parts[0] == "patches" and parts[2] == "checks" and method == "POST":
            p = st.patches.get(int(parts[1])) if parts[1].isdigit() else None
            if p is None:
                return self.aerr(404, "no such patch")
            actor = st.user_by_name.get(data.get("actor") or "maint")
            c = st.add_check(p, data, actor)
            return Resp(201, {"id": c.id, "check": p.check})
        if parts == ["events", "prune"] and method == "POST":
            n = int(data.get("up_to_id", 0))
            before = len(st.events)
            st.events = [e for e in st.events if e.id > n]
            st.version += 1
            return Resp(200, {"pruned": before - len(st.events)})
        if parts == ["clock"] and method == "POST":
            CLOCK_OFFSET[0] = float(data.get("offset", 0))
            return Resp(200, {"offset": CLOCK_OFFSET[0]})
        if parts == ["latency"] and method == "POST":
            self.latency_ms = float(data.get("ms", 0))
            return Resp(200, {"ms": self.latency_ms})
        if parts == ["fault"] and method == "POST":
            mode = str(data.get("mode", ""))
            if mode not in FAULT_MODES:
                return self.aerr(400, "unknown mode %r" % mode)
            match = data.get("match")
            try:
                rx = re.compile(match) if match else None
            except re.error as exc:
                return self.aerr(400, "bad match: %s" % exc)
            f = {"mode": mode, "count": int(data.get("count", 1)), "match": rx,
                 "retry_after": data.get("retry_after"), "seconds": data.get("seconds")}
            if f["count"] == 0:
                return self.aerr(400, "count 0")
            with self.fault_lock:
                self.faults.append(f)
                n = len(self.faults)
            return Resp(200, {"queued": n})
        if parts == ["settings"] and method == "POST":
            for k, v in data.items():
                if k not in SETTINGS:
                    return self.aerr(400, "unknown setting %r" % k)
                if type(v) is not type(SETTINGS[k]):
                    return self.aerr(400, "setting %r: wrong type" % k)
                SETTINGS[k] = v
            st.api_versions = tuple(SETTINGS["versions"])
            return Resp(200, dict(SETTINGS))
        if parts == ["fault", "clear"] and method == "POST":
            with self.fault_lock:
                self.faults = []
            return Resp(200, {"queued": 0})
        return self.aerr(404, "no such admin call")

    @staticmethod
    def aerr(status, msg):
        return Resp(status, {"error": msg})


# ---------------------------------------------------------------------------
# HTTP


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = SERVER_HEADER
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 600

    def log_message(self, fmt, *args):
        pass

    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if te.lower() == "chunked":
            out = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                out.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(out)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def handle_any(self):
        app = self.server.app
        st = app.store
        body = self.read_body()
        split = urlsplit(self.path)
        path, query = split.path or "/", split.query
        auth = app.authenticate(self.headers.get("Authorization"))
        entry = {
            "method": self.command, "path": path, "query": query,
            "body": body.decode("utf-8", "replace"),
            "auth": auth[0], "content_type": self.headers.get("Content-Type", ""),
            "status": None, "fault": None, "t": time.time(),
            "in_flight": getattr(self, "in_flight_at_start", 0),
        }
        is_admin = path == "/_admin" or path.startswith("/_admin/")
        if is_admin:
            with st.lock:
                try:
                    resp = app.admin(self.command, path, body)
                except (ValueError, TypeError, KeyError) as exc:
                    resp = App.aerr(400, str(exc))
            self.finish_response(resp, entry, None)
            return
        if app.latency_ms:
            time.sleep(app.latency_ms / 1000.0)
        fault = app.take_fault(self.command, path, query)
        mode = fault["mode"] if fault else None
        entry["fault"] = mode
        if mode == "hang":
            self.server.log(entry)
            time.sleep(float(fault.get("seconds") or 3600))
            self.close_connection = True
            return
        early = self.early_fault(fault, path, query) if fault else None
        if early is not None:
            self.finish_response(early, entry, fault)
            return
        host = self.headers.get("Host") or "%s:%d" % (self.server.server_address[0], app.port)
        req = Request()
        req.method = self.command
        req.path = path
        req.query = query
        req.params = parse_qs(query, keep_blank_values=True)
        req.body = body
        req.headers = self.headers
        req.auth = auth
        req.user = auth[1]
        req.host = host
        scheme = getattr(self.server, "scheme", "http")
        req.ctx = Ctx(scheme + "://" + host, scheme + "://" + host + "/api")
        req.content_type = self.headers.get("Content-Type", "")
        with st.lock:
            try:
                resp = app.api(req)
            except ApiError as exc:
                resp = Resp(exc.status, exc.data, allow=exc.allow)
            resp.body                   # render under the lock
        if fault:
            self.late_fault(resp, fault)
        self.finish_response(resp, entry, fault)

    def early_fault(self, fault, path, query):
        mode = fault["mode"]
        ra = fault.get("retry_after")
        if mode == "500":
            return Resp(500, {"detail": "A server error occurred."})
        if mode == "502":
            return Resp(502, body=HTML_502, ctype="text/html", json_api=False)
        if mode == "503":
            extra = [("Retry-After", str(ra))] if ra is not None else []
            return Resp(503, {"detail": "Service temporarily unavailable, try again later."},
                        extra=extra)
        if mode == "429":
            if ra is not None:
                return Resp(429, {"detail": "Request was throttled. Expected available in %s seconds." % ra},
                            extra=[("Retry-After", str(ra))])
            return Resp(429, {"detail": "Request was throttled."})
        if mode == "redirect":
            loc = "http://127.0.0.2:%d%s%s" % (self.server.app.port, path, "?" + query if query else "")
            return Resp(302, body=b"", ctype="text/html; charset=utf-8", json_api=False,
                        extra=[("Location", loc)])
        if mode == "huge":
            return Resp(200, body=b"", allow=ALLOW_LIST)
        if mode == "html-404":
            return Resp(404, body=b"<html><body><h1>404 Not Found</h1></body></html>\r\n",
                        ctype="text/html", json_api=False)
        if mode == "api-404":
            return Resp(404, {"detail": MSG_NOT_FOUND})
        if mode == "echo-auth":
            # a server that quotes the request back, controls and a bidi override included
            return Resp(403, {"detail": "\x1b[2J\u202eYou sent %r; not allowed."
                              % (self.headers.get("Authorization") or "")})
        return None

    @staticmethod
    def late_fault(resp, fault):
        mode = fault["mode"]
        data = resp.data
        if mode == "object-for-list" and isinstance(data, list):
            resp.set_data({"count": len(data), "next": None, "previous": None, "results": data})
        elif mode == "string-id":
            item = data[0] if isinstance(data, list) and data else data
            if isinstance(item, dict) and "id" in item:
                item["id"] = str(item["id"])
                resp.set_data(data)
        elif mode == "null-state":
            item = data[0] if isinstance(data, list) and data else data
            if isinstance(item, dict):
                if "state" in item:
                    item["state"] = None
                elif isinstance(item.get("payload"), dict) and "current_state" in item["payload"]:
                    item["payload"]["current_state"] = None
                resp.set_data(data)
        elif mode == "no-link":
            resp.link = None
        elif mode == "foreign-link" and resp.link:
            resp.link = re.sub(r"<https?://[^/>]*", "<http://evil.example.invalid", resp.link)
        elif mode == "other-patch" and isinstance(data, dict) and "id" in data:
            resp.set_data(dict(data, id=data["id"] + 1))
        elif mode == "truncated":
            b = resp.body
            resp._body = b[:len(b) // 2]

    def finish_response(self, resp, entry, fault):
        mode = fault["mode"] if fault else None
        entry["status"] = resp.status
        entry["t_end"] = time.time()
        self.server.log(entry)
        head_only = self.command == "HEAD"
        try:
            if mode == "huge":
                self.send_huge(resp, fault, head_only)
                return
            if mode == "gzip-bomb":
                self.send_gzip_bomb(resp, fault, head_only)
                return
            body = resp.body
            head = resp.head(len(body))
            if mode == "reset":
                self.wfile.write(head + body[:len(body) // 2])
                self.abort()
                return
            data = head if head_only else head + body
            if mode == "slow":
                for i in range(len(data)):
                    self.wfile.write(data[i:i + 1])
                    time.sleep(1)
                return
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def send_huge(self, resp, fault, head_only):
        size = int(float(fault.get("seconds") or 100) * 1048576)
        size = max(size, 2)
        self.wfile.write(resp.head(size))
        if head_only:
            return
        # "[0,0,...,0" + spaces + "]"
        inner = size - 2
        pairs = (inner + 1) // 2 if inner > 0 else 0
        # pairs numbers "0" separated by ","; length = 2*pairs - 1
        if pairs * 2 - 1 > inner:
            pairs -= 1
        used = max(0, pairs * 2 - 1)
        pad = inner - used
        self.wfile.write(b"[")
        chunk = b"0," * 32768
        remaining = pairs - 1 if pairs > 0 else 0
        while remaining > 0:
            k = min(remaining, 32768)
            self.wfile.write(chunk[:2 * k])
            remaining -= k
        if pairs > 0:
            self.wfile.write(b"0")
        while pad > 0:
            k = min(pad, 65536)
            self.wfile.write(b" " * k)
            pad -= k
        self.wfile.write(b"]")

    def send_gzip_bomb(self, resp, fault, head_only):
        """A small gzip body that inflates to "[0,0,...,0]" of `seconds` MiB."""
        size = max(int(float(fault.get("seconds") or 100) * 1048576), 3)
        z = zlib.compressobj(9, zlib.DEFLATED, 31)
        parts = [z.compress(b"[")]
        chunk = b"0," * 32768
        left = (size - 3) // 2
        while left > 0:
            k = min(left, 32768)
            parts.append(z.compress(chunk[:2 * k]))
            left -= k
        parts.append(z.compress(b"0]"))
        parts.append(z.flush())
        body = b"".join(parts)
        head = resp.head(len(body)).replace(
            b"\r\n\r\n", b"\r\nContent-Encoding: gzip\r\n\r\n", 1)
        self.wfile.write(head if head_only else head + body)

    def abort(self):
        """Close the socket at once with a TCP reset."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.rfile.close()
        except OSError:
            pass
        self.close_connection = True

    def handle_counted(self):
        """handle_any, with the number of API requests in service counted: each log entry
        says how many were (itself included) when it came ("in_flight"), and when its
        answer was ready ("t_end"), so a test can see requests overlap."""
        server = self.server
        admin = self.path == "/_admin" or self.path.startswith("/_admin/") or \
            self.path.startswith("/_admin?")
        if not admin:
            with server.log_lock:
                server.in_flight += 1
                self.in_flight_at_start = server.in_flight
        try:
            self.handle_any()
        finally:
            if not admin:
                with server.log_lock:
                    server.in_flight -= 1

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = handle_counted


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, app, logpath):
        ThreadingHTTPServer.__init__(self, addr, Handler)
        self.app = app
        self.log_lock = threading.Lock()
        self.in_flight = 0
        self.logf = open(logpath, "a", encoding="utf-8") if logpath else None

    def log(self, entry):
        if self.logf is None:
            return
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self.log_lock:
            self.logf.write(line)
            self.logf.flush()

    def get_request(self):
        """Accept; with TLS, the handshake happens in the handler's thread (a failed one is
        logged as {"tls": "failed"}, so a test can tell that nothing else was sent)."""
        sock, addr = self.socket.accept()
        tls = getattr(self, "tls", None)
        if tls is not None:
            sock = tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def finish_request(self, request, client_address):
        if isinstance(request, ssl.SSLSocket):
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError) as exc:
                self.log({"method": None, "path": "", "query": "", "tls": "failed",
                          "error": str(exc), "t": time.time()})
                return
        ThreadingHTTPServer.finish_request(self, request, client_address)

    def handle_error(self, request, client_address):
        # a client going away is not news
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, socket.timeout)):
            return
        ThreadingHTTPServer.handle_error(self, request, client_address)


def main():
    ap = argparse.ArgumentParser(description="Patchwork REST API stand-in")
    ap.add_argument("--data", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--latency-ms", type=float, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--tls-cert", help="serve https with this certificate (PEM, chain first)")
    ap.add_argument("--tls-key", help="... and this key")
    args = ap.parse_args()

    with open(args.data, encoding="utf-8") as f:
        data = json.load(f)
    try:
        store = Store(data)
    except ValueError as exc:
        sys.exit("fake-patchwork: %s" % exc)
    app = App(store, 0, args.latency_ms)
    server = Server((args.host, args.port), app, args.log)
    app.port = server.server_address[1]
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        server.scheme = "https"
        server.tls = ctx

    def on_term(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    if args.port_file:
        tmp = "%s.tmp.%d" % (args.port_file, os.getpid())
        with open(tmp, "w") as f:
            f.write("%d\n" % app.port)
        os.rename(tmp, args.port_file)
    try:
        server.serve_forever(poll_interval=0.2)
    except SystemExit:
        pass
    finally:
        server.server_close()
        if server.logf:
            server.logf.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

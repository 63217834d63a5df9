#!/usr/bin/env python3
"""pwhash.py - Patchwork's diff hash, as the tests' reference for the C code.

Written from the description of the hash in the Patchwork API facts: SHA-1
over the diff with "\\r" removed and the text stripped; of its lines only
file lines ("--- X" / "+++ X", rewritten as "--- a/<X minus its first path
component>" / "+++ b/<...>"), hunk headers (reduced to "@@ -<old count>
+<new count> @@", a missing count being 1) and lines starting with "-", "+"
or a space count, each followed by a newline.

  python3 tests/pwhash.py FILE...     the hash of the diff in each file
                                      (a patch mail or a bare diff)

Standard library only; the stand-in imports mail_diff() and diff_hash().
"""

import hashlib
import sys


def _count(text):
    """Leading decimal digits of text: (number, rest), or (None, text)."""
    n = 0
    while n < len(text) and text[n] in "0123456789":
        n += 1
    if n == 0:
        return None, text
    return int(text[:n]), text[n:]


def _range(text, sign):
    """'<sign>start[,count]' at the start of text: (count, rest) or (None, text)."""
    if not text.startswith(sign):
        return None, text
    start, rest = _count(text[1:])
    if start is None:
        return None, text
    if rest.startswith(","):
        count, after = _count(rest[1:])
        if count is not None:
            return count, after
        return None, text
    return 1, rest


def hunk_line(line):
    """The reduced form of a hunk header, or None when line is not one."""
    if not line.startswith("@@ "):
        return None
    old, rest = _range(line[3:], "-")
    if old is None or not rest.startswith(" "):
        return None
    new, rest = _range(rest[1:], "+")
    if new is None or not rest.startswith(" @@"):
        return None
    return "@@ -%d +%d @@" % (old, new)


def file_line(line):
    """The rewritten form of a '--- ' / '+++ ' line, or None."""
    mark = line[:4]
    if mark not in ("--- ", "+++ "):
        return None
    rest = line[4:]
    if not rest or rest[0].isspace():
        return None
    end = 0
    while end < len(rest) and not rest[end].isspace():
        end += 1
    path = rest[:end]
    tail = path.split("/", 1)[1] if "/" in path else ""
    return mark + ("a/" if mark == "--- " else "b/") + tail


def diff_hash(diff):
    """40 hex digits: the hash Patchwork stores for this diff text."""
    h = hashlib.sha1()
    text = diff.replace("\r", "").strip()
    for line in text.split("\n"):
        if not line:
            continue
        kept = file_line(line)
        if kept is None:
            kept = hunk_line(line)
        if kept is None and line[0] in "-+ ":
            kept = line
        if kept is not None:
            h.update(kept.encode("utf-8") + b"\n")
    return h.hexdigest()


def mail_diff(text):
    """The diff part of a patch mail from git format-patch: from the first
    'diff --git' line up to the '-- ' signature line (or the end)."""
    lines = text.replace("\r", "").split("\n")
    out = []
    inside = False
    for line in lines:
        if not inside and line.startswith("diff --git "):
            inside = True
        if inside and line == "-- ":
            break
        if inside:
            out.append(line)
    return "\n".join(out) + ("\n" if out else "")


def main(argv):
    for path in argv[1:]:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        if "diff --git " in text:
            text = mail_diff(text)
        print(diff_hash(text))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

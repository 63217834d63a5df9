#!/usr/bin/env bash
# pwnm accept: Patchwork's diff hash against the reference in tests/pwhash.py.
. "$(dirname "$0")/lib.sh"

HASH_C=$PWNM_BUILD/tests/tst_diffhash

test_begin_subtest "the C hash equals the reference on generated diffs"
mkdir -p "$TMP/diffs"
python3 - "$TMP/diffs" <<'EOP'
import os, random, sys
rnd = random.Random(16)
pieces = ["--- a/", "+++ b/", "--- ", "+++ ", "@@ -", "@@ -1,2 +3,4 @@", "@@ -7 +7 @@ f()",
          "diff --git a/x b/x", "index 123..456 100644", "-", "+", " ", "\\ No newline",
          "a/b/c", "/dev/null", "x", "\t", "  ", ",", "0", "12", "007", "@@", " @@", "\r",
          "\u00e9", "\u00a0", "\x1c", "\x0b", "Subject: x", "-- ", "2.39.2", ""]
out = sys.argv[1]
for n in range(300):
    lines = []
    for _ in range(rnd.randint(0, 12)):
        lines.append("".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 5))))
    text = "\n".join(lines)
    if rnd.random() < 0.3:
        text = "\n \t" + text + "\n\n "
    with open(os.path.join(out, "%03d.diff" % n), "w", encoding="utf-8", newline="") as f:
        f.write(text)
EOP
python3 -c '
import os, sys
sys.path.insert(0, sys.argv[1])
import pwhash
for name in sorted(os.listdir(sys.argv[2])):
    with open(os.path.join(sys.argv[2], name), encoding="utf-8", newline="") as f:
        print(name, pwhash.diff_hash(f.read()))' "$TESTS_DIR" "$TMP/diffs" >"$TMP/want"
(cd "$TMP/diffs" && for f in *.diff; do printf '%s %s\n' "$f" "$("$HASH_C" --hash "$f")"; done) >"$TMP/got"
test_expect_equal_file "$TMP/got" "$TMP/want"

test_begin_subtest "the generated diffs are not all alike (the check can fail)"
test_expect_true [ "$(cut -d' ' -f2 "$TMP/want" | sort -u | wc -l)" -gt 150 ]

test_done

#!/bin/sh
# T006-http.t - libhttp against a misbehaving loopback server (tests/http-echo.py)
#
# The TAP comes from tst_http itself: it runs the scenarios (parallelism,
# retries, Retry-After, timeouts, redirects, the token's origin, body
# cap, keep-alive) when given the server's base URL.

. "$(dirname "$0")/lib.sh"

if [ ! -x "$PWNM_BUILD/tests/tst_http" ]; then
	test_skip_all "tst_http is not built"
fi

python3 "$TESTS_DIR/http-echo.py" --port 0 --port-file "$TMP/http.port" \
	>>"$TMP/http-echo.out" 2>&1 &
# lib.sh's EXIT trap stops the server through standin_stop
STANDIN_PID=$!
i=0
while [ ! -s "$TMP/http.port" ]; do
	i=$((i + 1))
	if [ $i -gt 100 ]; then
		echo "1..0 # SKIP http-echo.py did not start"
		exit 0
	fi
	sleep 0.1
done

"$PWNM_BUILD/tests/tst_http" "http://127.0.0.1:$(cat "$TMP/http.port")"
rc=$?
if [ $rc -ne 0 ]; then
	test_failed=1
	sed 's/^/# server: /' "$TMP/http-echo.out"
fi
exit $rc

#!/usr/bin/env bash
# Transport: https against a TLS stand-in (a CA and certificates made here with openssl),
# pwnm.cainfo and curl's CA variables, untrusted and wrong-host certificates, proxies (never
# for plain http, pwnm.proxy or the environment for https), and what a server echoes back.
. "$(dirname "$0")/lib.sh"

command -v openssl >/dev/null 2>&1 || test_skip_all "openssl is not installed"
pw_world || exit 1
pwnm_run sync
export PWNM_TOKEN=$MAINT_TOKEN
# The account is named: the token goes only with the pushes (not with a people search).
notmuch config set pwnm.user maint

# ---- a proxy that records what it is asked: CONNECT is tunnelled, anything else is 502 ----
cat >"$TMP/proxy.py" <<'EOP'
import socket, sys, threading
log = open(sys.argv[2], "a", buffering=1)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(16)
open(sys.argv[1] + ".tmp", "w").write("%d\n" % srv.getsockname()[1])
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])

def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

def serve(c):
    head = b""
    while b"\r\n\r\n" not in head:
        d = c.recv(4096)
        if not d:
            return
        head += d
    first = head.split(b"\r\n")[0].decode("latin-1")
    log.write(first + ("  [Authorization]" if b"\nauthorization:" in head.lower() else "") + "\n")
    parts = first.split()
    if parts and parts[0] == "CONNECT":
        host, port = parts[1].rsplit(":", 1)
        up = socket.create_connection((host, int(port)))
        c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        threading.Thread(target=pipe, args=(up, c), daemon=True).start()
        pipe(c, up)
    else:
        c.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        c.close()

while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOP
python3 "$TMP/proxy.py" "$TMP/proxy.port" "$TMP/proxy.log" >>"$TMP/proxy.out" 2>&1 &
PROXY_PID=$!
for _ in $(seq 50); do [ -s "$TMP/proxy.port" ] && break; sleep 0.1; done
PROXY=http://127.0.0.1:$(cat "$TMP/proxy.port")
: >"$TMP/proxy.log"

test_begin_subtest "plain http to the loopback pwnm.url with http_proxy set: the PATCH and its token skip the proxy"
notmuch tag -pw/alpha/under-review +pw/alpha/rfc -- id:p2@example.org
standin_log_clear
http_proxy=$PROXY HTTP_PROXY=$PROXY ALL_PROXY=$PROXY all_proxy=$PROXY pwnm sync >"$TMP/out" 2>&1
code=$?
test_expect_equal "$code $(wc -l <"$TMP/proxy.log") $(server_state 2 state) $(standin_requests '^PATCH')" "0 0 rfc 1"

# ---- a CA, and certificates for localhost (one also for 127.0.0.1) ----
(
	cd "$TMP" &&
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
		-subj "/CN=pwnm test CA" &&
	openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj "/CN=localhost" &&
	printf 'subjectAltName=DNS:localhost\n' >srv.ext &&
	openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
		-extfile srv.ext -out srv.pem &&
	openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 2 \
		-subj "/CN=localhost" -addext "subjectAltName=DNS:localhost"
) >"$TMP/openssl.out" 2>&1 || { echo "Bail out! openssl could not make the certificates"; exit 1; }

# a second stand-in on https with the same data; the first one stays for plain http
PLAIN_URL=$STANDIN_URL PLAIN_PID=$STANDIN_PID PLAIN_LOG=$TMP/standin.log
https_start() { # CERT KEY: the https stand-in, its log in $TMP/tls.log
	rm -f "$TMP/tls.port"
	python3 "$TESTS_DIR/fake-patchwork.py" --data "$TMP/pw.json" --port 0 --port-file "$TMP/tls.port" \
		--log "$TMP/tls.log" --tls-cert "$1" --tls-key "$2" >>"$TMP/tls.out" 2>&1 &
	TLS_PID=$!
	for _ in $(seq 100); do [ -s "$TMP/tls.port" ] && break; sleep 0.1; done
	TLS_PORT=$(cat "$TMP/tls.port")
}
https_stop() { kill "$TLS_PID" 2>/dev/null; wait "$TLS_PID" 2>/dev/null; }
https_start "$TMP/srv.pem" "$TMP/srv.key"
# a fresh state for the https server
use_https() { # URL
	notmuch config set pwnm.url "$1"
	rm -rf "$XDG_STATE_HOME/pwnm"
}
auth_requests() { grep -c '"auth": "user:' "$TMP/tls.log" 2>/dev/null || true; }
# refused URL HOST: a sync against URL must fail with one error line naming HOST, no token sent
refused() {
	use_https "$1"
	: >"$TMP/tls.log"
	pwnm sync >"$TMP/out" 2>&1
	echo "$? $(grep -c '^pwnm: ' "$TMP/out") $(grep -c "TLS certificate of $2 is not accepted" "$TMP/out") $(auth_requests)"
}

test_begin_subtest "https with the CA given by pwnm.cainfo: a first sync works"
use_https "https://localhost:$TLS_PORT"
notmuch config set pwnm.cainfo "$TMP/ca.pem"
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$? $(pw_tags_of p6@example.org)" "0 pw/beta pw/beta/queued"

test_begin_subtest "... and a push goes out over it with the token"
notmuch tag -pw/beta/queued +pw/beta/rfc -- id:p6@example.org
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$? $(auth_requests)" "0 1"

test_begin_subtest "https with the CA in CURL_CA_BUNDLE (curl's variable), no pwnm.cainfo"
notmuch config set pwnm.cainfo ""
use_https "https://localhost:$TLS_PORT"
CURL_CA_BUNDLE=$TMP/ca.pem pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$? $(pw_tags_of p6@example.org)" "0 pw/beta pw/beta/rfc"

test_begin_subtest "... or in SSL_CERT_FILE (OpenSSL's)"
use_https "https://localhost:$TLS_PORT"
env -u CURL_CA_BUNDLE SSL_CERT_FILE="$TMP/ca.pem" pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$?" "0"

test_begin_subtest "an untrusted certificate: one clear error naming the host, no token sent"
notmuch tag -pw/beta/rfc +pw/beta/deferred -- id:p6@example.org
test_expect_equal "$(refused "https://localhost:$TLS_PORT" localhost)" "1 1 1 0"

test_begin_subtest "... the handshake failed on the server's side too (nothing reached the API)"
# (the API versions are asked for at once: a failed handshake each)
test_expect_equal "$([ "$(grep -c '"tls": "failed"' "$TMP/tls.log")" -ge 1 ] && echo failed) $(grep -c '"path": "/api' "$TMP/tls.log")" "failed 0"

test_begin_subtest "a certificate for another name (localhost, asked as 127.0.0.1): one clear error naming the host"
notmuch config set pwnm.cainfo "$TMP/ca.pem"
test_expect_equal "$(refused "https://127.0.0.1:$TLS_PORT" 127.0.0.1)" "1 1 1 0"

test_begin_subtest "a self-signed certificate not from the CA: refused too, no token sent"
https_stop
https_start "$TMP/other.pem" "$TMP/other.key"
test_expect_equal "$(refused "https://localhost:$TLS_PORT" localhost)" "1 1 1 0"
https_stop
https_start "$TMP/srv.pem" "$TMP/srv.key"

test_begin_subtest "https through pwnm.proxy: a CONNECT tunnel, the token inside TLS"
use_https "https://localhost:$TLS_PORT"
notmuch config set pwnm.proxy "$PROXY"
: >"$TMP/proxy.log"
pwnm sync >"$TMP/out" 2>&1
code=$?
test_expect_equal "$code $(grep -c "^CONNECT localhost:$TLS_PORT " "$TMP/proxy.log") $(grep -c -v '^CONNECT' "$TMP/proxy.log")" \
	"0 $(grep -c "^CONNECT" "$TMP/proxy.log") 0"
notmuch config set pwnm.proxy ""

test_begin_subtest "https through https_proxy from the environment when pwnm.proxy is not set"
use_https "https://localhost:$TLS_PORT"
: >"$TMP/proxy.log"
https_proxy=$PROXY pwnm sync >"$TMP/out" 2>&1
code=$?
test_expect_equal "$code $([ "$(grep -c '^CONNECT' "$TMP/proxy.log")" -ge 1 ] && echo tunnelled) $(grep -c -v '^CONNECT' "$TMP/proxy.log")" \
	"0 tunnelled 0"
https_stop
kill "$PROXY_PID" 2>/dev/null
wait "$PROXY_PID" 2>/dev/null

# ---- back to the plain http stand-in ----
notmuch config set pwnm.url "$PLAIN_URL"
notmuch config set pwnm.cainfo ""
rm -rf "$XDG_STATE_HOME/pwnm"
pwnm_run sync

test_begin_subtest "a server that echoes the token in its error text: masked in the output"
standin_admin POST fault '{"mode": "echo-auth", "count": 1, "match": "^PATCH"}' >/dev/null
notmuch tag -pw/alpha/rfc +pw/alpha/accepted -- id:p2@example.org
pwnm sync >"$TMP/out" 2>&1
test_expect_equal "$(grep -c 'not allowed' "$TMP/out") $(grep -c "${MAINT_TOKEN:0:8}" "$TMP/out")" "1 0"

test_begin_subtest "... and in what pwnm stores (status, the state database)"
pwnm status >"$TMP/status" 2>&1
pwnm explain id:p2@example.org >>"$TMP/status" 2>&1
test_expect_equal "$(grep -c "${MAINT_TOKEN:0:8}" "$TMP/status") $(cat "$XDG_STATE_HOME"/pwnm/*/data.mdb | grep -ac "${MAINT_TOKEN:0:8}")" \
	"0 0"

test_begin_subtest "... its terminal controls and bidi override are escaped, not printed"
test_expect_equal "$(grep -c $'\x1b' "$TMP/out") $(grep -c $'\u202e' "$TMP/out") $(grep -c '\\x1b\[2J\\u{202E}You sent' "$TMP/out")" \
	"0 0 1"

test_done

#!/usr/bin/env bash
# Interop suite: the netrt examples against real Linux programs over a TAP.
#
# Everything happens in a network namespace of its own (netrt-interop-PID):
#
#   Linux tools (ping, curl, socat, nc, python3) -- tap0 10.77.0.1/24
#        |  (persistent single-queue TAP, `ip tuntap add`)
#   netrt example (`echo`, `http`, `get`)         -- 10.77.0.2/24 on tap0
#
# Checks, each printing PASS or FAIL with its numbers:
#   1. ping -c 5: 5 replies, no loss
#   2. curl: GET / and GET /bytes/10000000 (length and sha256), 200
#      keep-alive requests on one connection, request latency
#   3. TCP echo of a 20 MB random file (socat and nc, sha256 both ways)
#      and UDP echo of datagrams up to 4000 bytes (fragmented)
#   4. netrt `get` of a 50 MB file from `python3 -m http.server` (sha256)
#   5. bulk throughput, with the virtio-net header offloads on and off
#      (reported, not asserted): Linux -> netrt is `get` downloading from
#      a Linux sender, netrt -> Linux is curl downloading /bytes/N
#   6. the pcap of the echo run read back by tshark (frames, SYN, SYN-ACK)
# then a summary table. Exits non-zero if any check failed.
#
# Needs root (namespaces, TAP); as another user it says why and exits 0.
# Installs its Debian packages when they are missing.
#
# Usage: scripts/interop.sh            (as root)
# Environment: INTEROP_CORES (netrt cores, default 2),
#              INTEROP_BULK_MB (bulk transfer size, default 1000).
set -euo pipefail
cd "$(dirname "$0")/.."

CORES=${INTEROP_CORES:-2}
BULK_MB=${INTEROP_BULK_MB:-1000}
BULK_BYTES=$((BULK_MB * 1000 * 1000))

if [ "$(id -u)" -ne 0 ]; then
  echo "interop: SKIPPED: needs root because it creates a network namespace" \
    "and a TAP device in it (CAP_SYS_ADMIN and CAP_NET_ADMIN); run it as root," \
    "as .ci/run does in CI"
  exit 0
fi

log() { printf '[interop %s] %s\n' "$(date +%T)" "$*"; }

# ---------------------------------------------------------------- tools

install_tools() {
  local pkgs=()
  command -v ip >/dev/null || pkgs+=(iproute2)
  command -v ping >/dev/null || pkgs+=(iputils-ping)
  command -v curl >/dev/null || pkgs+=(curl)
  command -v socat >/dev/null || pkgs+=(socat)
  # The OpenBSD netcat: -N (shut down the socket at end of input).
  { command -v nc >/dev/null && nc -h 2>&1 | grep -q 'OpenBSD netcat'; } || pkgs+=(netcat-openbsd)
  command -v tshark >/dev/null || pkgs+=(tshark)
  command -v python3 >/dev/null || pkgs+=(python3)
  command -v sha256sum >/dev/null || pkgs+=(coreutils)
  if [ ${#pkgs[@]} -eq 0 ]; then
    return
  fi
  if ! command -v apt-get >/dev/null; then
    echo "interop: needs the Debian packages ${pkgs[*]} and there is no apt-get to install them" >&2
    exit 1
  fi
  log "installing ${pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark's wireshark-common asks whether non-root users may capture.
  echo 'wireshark-common wireshark-common/install-setuid boolean false' |
    debconf-set-selections
  timeout 300 apt-get update -qq
  timeout 600 apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
}

install_tools

if [ ! -e /dev/net/tun ]; then
  # Minimal containers lack the node; the module is in every distro kernel.
  mkdir -p /dev/net
  mknod /dev/net/tun c 10 200
fi

log "building the examples (release)"
timeout 1200 cargo build --release -q -p netrt-examples
BIN=${CARGO_TARGET_DIR:-target}/release
for b in echo http get; do
  [ -x "$BIN/$b" ] || { echo "interop: $BIN/$b missing after the build" >&2; exit 1; }
done

# ---------------------------------------------------------------- namespace

NS=netrt-interop-$$
LINUX_IP=10.77.0.1
NETRT_IP=10.77.0.2
TAP=tap0
WORK=$(mktemp -d /tmp/netrt-interop.XXXXXX)
BG_PIDS=()

cleanup() {
  local rc=$?
  set +e
  for pid in "${BG_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${BG_PIDS[@]}"; do
    wait "$pid" 2>/dev/null
  done
  if ip netns list | grep -qw "$NS"; then
    # Anything still running in our namespace was started by this script.
    for pid in $(ip netns pids "$NS" 2>/dev/null); do
      kill -KILL "$pid" 2>/dev/null
    done
    ip netns del "$NS"
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs a command in the namespace. Background programs are started with
# nsbg instead: `ip netns exec` forks and waits, so its PID would not be
# the program's and a SIGTERM would orphan the program; nsenter execs.
nsx() { ip netns exec "$NS" "$@"; }
NSBG=(nsenter "--net=/run/netns/$NS" --)

ip netns add "$NS"
nsx ip link set lo up
nsx ip tuntap add dev "$TAP" mode tap
nsx ip addr add "$LINUX_IP/24" dev "$TAP"
nsx ip link set "$TAP" up
log "namespace $NS: $TAP $LINUX_IP/24 (Linux) <-> $NETRT_IP/24 (netrt, $CORES cores)"

# ---------------------------------------------------------------- results

FAILS=0
declare -A RESULT
pass() { printf 'PASS  %s\n' "$*"; }
fail() {
  printf 'FAIL  %s\n' "$*"
  FAILS=$((FAILS + 1))
}

# sha256 of a file.
sha() { sha256sum "$1" | cut -d' ' -f1; }

# Bytes per second to Gbit/s: gbps BYTES SECONDS.
gbps() { python3 -c "import sys; print(f'{int(sys.argv[1]) * 8 / float(sys.argv[2]) / 1e9:.2f}')" "$1" "$2"; }

# ---------------------------------------------------------------- examples

EX_PID=
EX_LOG=

# start_example NAME [ARGS...]: runs a netrt example on the TAP in the
# background (logging to $WORK/NAME-N.log) and waits until it answers
# ping and, for servers, has printed its "serving" line.
EX_RUNS=0
start_example() {
  local name=$1
  shift
  EX_RUNS=$((EX_RUNS + 1))
  EX_LOG=$WORK/$name-$EX_RUNS.log
  "${NSBG[@]}" "$BIN/$name" --tap "$TAP" --addr "$NETRT_IP/24" --cores "$CORES" "$@" >"$EX_LOG" 2>&1 &
  EX_PID=$!
  BG_PIDS+=("$EX_PID")
  local i
  for ((i = 0; i < 100; i++)); do
    if ! kill -0 "$EX_PID" 2>/dev/null; then
      echo "interop: $name exited early:" >&2
      cat "$EX_LOG" >&2
      return 1
    fi
    if grep -qs ': serving' "$EX_LOG" && nsx timeout 2 ping -c 1 -W 1 -q "$NETRT_IP" >/dev/null 2>&1; then
      log "$name up ($(head -n 1 "$EX_LOG"))"
      return 0
    fi
    sleep 0.2
  done
  echo "interop: $name not ready after 20 s:" >&2
  cat "$EX_LOG" >&2
  return 1
}

# stop_example: SIGTERM, then wait (10 s at most) for a clean exit.
# Returns the example's exit status.
stop_example() {
  local i rc=0
  kill -TERM "$EX_PID" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$EX_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$EX_PID" 2>/dev/null; then
    echo "interop: example $EX_PID ignored SIGTERM for 10 s; killing it" >&2
    kill -KILL "$EX_PID" 2>/dev/null || true
  fi
  wait "$EX_PID" || rc=$?
  local keep=() pid
  for pid in "${BG_PIDS[@]}"; do
    [ "$pid" = "$EX_PID" ] || keep+=("$pid")
  done
  BG_PIDS=("${keep[@]}")
  return "$rc"
}

# ---------------------------------------------------------------- helpers on the Linux side

# A Linux-side bulk HTTP sender for the Linux -> netrt measurement:
# GET /bulk/N answers N bytes of the /bytes pattern (byte i = i % 251), so
# `get` recognises and checks it. One sendall per 1 MB keeps Python off
# the critical path.
cat >"$WORK/bulk_server.py" <<'EOF'
import socket, sys

host, port = sys.argv[1], int(sys.argv[2])
chunk = memoryview(bytes(range(251)) * 4096)  # a multiple of 251: the pattern continues


def serve(conn):
    req = b""
    while b"\r\n\r\n" not in req:
        data = conn.recv(4096)
        if not data:
            return  # a readiness probe
        req += data
    try:
        n = int(req.split(b" ")[1].rsplit(b"/", 1)[1])
    except (IndexError, ValueError):
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        return
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % n)
    while n > 0:
        k = min(n, len(chunk))
        conn.sendall(chunk[:k])
        n -= k
    conn.shutdown(socket.SHUT_WR)
    while conn.recv(65536):
        pass


srv = socket.create_server((host, port), backlog=16)
while True:
    conn, _ = srv.accept()
    try:
        serve(conn)
    except OSError as e:  # a peer that went away; keep serving
        print(f"bulk sender: {e}", flush=True)
    finally:
        conn.close()
EOF

cat >"$WORK/udp_echo.py" <<'EOF'
import os, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
sizes = [1, 64, 512, 1472, 4000, 0, 1000, 8000]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2.0)
s.connect((host, port))
ok = 0
for n in sizes:
    msg = os.urandom(n)
    got = None
    for _attempt in range(3):  # UDP may lose one; the echo must not alter it
        s.send(msg)
        try:
            got = s.recv(65536)
            break
        except socket.timeout:
            continue
    if got == msg:
        ok += 1
    else:
        print(f"datagram of {n} bytes: {'no answer' if got is None else f'{len(got)} bytes back, different'}")
print(f"{ok}/{len(sizes)} datagrams echoed unchanged (sizes {sizes})")
sys.exit(0 if ok == len(sizes) else 1)
EOF

# The /bytes/N pattern into a file: pattern_file N FILE.
pattern_file() {
  python3 -c '
import sys
n, path = int(sys.argv[1]), sys.argv[2]
block = bytes(range(251)) * 4096
with open(path, "wb") as f:
    while n > 0:
        f.write(block[:min(n, len(block))])
        n -= len(block)
' "$1" "$2"
}

# Waits until TCP port $2 of $1 accepts connections (5 s at most).
wait_port() {
  local i
  for ((i = 0; i < 50; i++)); do
    if nsx timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

"${NSBG[@]}" python3 "$WORK/bulk_server.py" "$LINUX_IP" 9000 >"$WORK/bulk_server.log" 2>&1 &
BG_PIDS+=("$!")
mkdir -p "$WORK/www"
head -c 50000000 /dev/urandom >"$WORK/www/file50M"
"${NSBG[@]}" python3 -m http.server --bind "$LINUX_IP" --directory "$WORK/www" 8000 \
  >"$WORK/http_server.log" 2>&1 &
BG_PIDS+=("$!")
wait_port "$LINUX_IP" 9000 || { echo "interop: bulk sender did not start" >&2; exit 1; }
wait_port "$LINUX_IP" 8000 || { echo "interop: python3 -m http.server did not start" >&2; exit 1; }

# ================================================================ echo run (with pcap)

log "echo example (pcap on)"
PCAP=$WORK/echo.pcap
start_example echo --pcap "$PCAP" -v

# 1. ping
out=$(nsx timeout 20 ping -c 5 -i 0.2 -W 2 "$NETRT_IP" 2>&1) || true
summary=$(grep -E 'packets transmitted' <<<"$out" || echo "no ping summary")
rtt=$(grep -Eo 'rtt min/avg/max/mdev = [0-9./]+' <<<"$out" | cut -d' ' -f4 || true)
RESULT[ping_rtt]=${rtt:-n/a}
if grep -qE '^5 packets transmitted, 5 received, 0% packet loss' <<<"$summary"; then
  pass "ping -c 5 $NETRT_IP: $summary; rtt min/avg/max/mdev $rtt ms"
else
  fail "ping -c 5 $NETRT_IP: $summary"
fi

# 3. TCP echo of 20 MB, with socat and with nc
head -c 20000000 /dev/urandom >"$WORK/rand20M"
want=$(sha "$WORK/rand20M")
start_ns=$(date +%s%N)
rc=0
nsx timeout 60 socat -t 30 -T 30 -b 65536 - "TCP:$NETRT_IP:7" <"$WORK/rand20M" >"$WORK/echo-socat.out" || rc=$?
secs=$(python3 -c "print(($(date +%s%N) - $start_ns) / 1e9)")
got=$(sha "$WORK/echo-socat.out")
len=$(stat -c %s "$WORK/echo-socat.out")
if [ "$rc" -eq 0 ] && [ "$got" = "$want" ]; then
  pass "TCP echo (socat) of 20000000 random bytes: $len back, sha256 equal, ${secs:0:5} s"
else
  fail "TCP echo (socat): exit $rc, $len of 20000000 bytes back, sha256 ${got:0:16}.. want ${want:0:16}.."
fi
rc=0
nsx timeout 60 nc -N -w 30 "$NETRT_IP" 7 <"$WORK/rand20M" >"$WORK/echo-nc.out" || rc=$?
got=$(sha "$WORK/echo-nc.out")
len=$(stat -c %s "$WORK/echo-nc.out")
if [ "$rc" -eq 0 ] && [ "$got" = "$want" ]; then
  pass "TCP echo (nc -N) of 20000000 random bytes: $len back, sha256 equal"
else
  fail "TCP echo (nc -N): exit $rc, $len of 20000000 bytes back, sha256 ${got:0:16}.. want ${want:0:16}.."
fi

# 3b. UDP echo
if out=$(nsx timeout 30 python3 "$WORK/udp_echo.py" "$NETRT_IP" 7 2>&1); then
  pass "UDP echo: $(tail -n 1 <<<"$out")"
else
  fail "UDP echo: $(tr '\n' ';' <<<"$out")"
fi

# 6. the pcap, completed by SIGTERM
rc=0
stop_example || rc=$?
if [ "$rc" -ne 0 ]; then
  fail "echo stopped by SIGTERM: exit status $rc; log: $(tail -n 3 "$EX_LOG" | tr '\n' ';')"
fi
rc=0
frames=$(timeout 60 tshark -r "$PCAP" -T fields -e frame.number 2>"$WORK/tshark.err" | wc -l) || rc=$?
syn=$(timeout 60 tshark -r "$PCAP" -Y 'tcp.flags.syn==1 && tcp.flags.ack==0' 2>/dev/null | wc -l) || rc=$?
synack=$(timeout 60 tshark -r "$PCAP" -Y 'tcp.flags.syn==1 && tcp.flags.ack==1' 2>/dev/null | wc -l) || rc=$?
written=$(grep -Eo 'pcap: [0-9]+ frames' "$EX_LOG" || echo "pcap: ? frames")
if [ "$rc" -eq 0 ] && [ "$frames" -gt 0 ] && [ "$syn" -gt 0 ] && [ "$synack" -gt 0 ]; then
  pass "tshark -r echo.pcap: $frames frames (netrt said '$written'), $syn SYN, $synack SYN-ACK"
else
  fail "tshark -r echo.pcap: status $rc, $frames frames, $syn SYN, $synack SYN-ACK; $(grep -v 'Running as user' "$WORK/tshark.err" | head -n 3 | tr '\n' ';')"
fi

# ================================================================ http run

# curl_bulk KEY LABEL: downloads /bytes/$BULK_BYTES from the http example,
# records netrt -> Linux Gbit/s under RESULT[KEY]. A transfer that stalls
# (under 1 MB/s for 10 s) fails fast instead of using the whole time box.
curl_bulk() {
  local key=$1 rc=0 out
  out=$(nsx timeout 100 curl -sS --max-time 90 --speed-limit 1000000 --speed-time 10 \
    -o /dev/null -w '%{http_code} %{size_download} %{time_total}' \
    "http://$NETRT_IP:8080/bytes/$BULK_BYTES" 2>&1) || rc=$?
  read -r code size secs <<<"$out"
  if [ "$rc" -eq 0 ] && [ "$code" = 200 ] && [ "$size" = "$BULK_BYTES" ]; then
    RESULT[$key]=$(gbps "$size" "$secs")
    pass "netrt -> Linux bulk ($2): curl GET /bytes/$BULK_BYTES: $size bytes in ${secs} s = ${RESULT[$key]} Gbit/s"
  else
    RESULT[$key]=FAIL
    fail "netrt -> Linux bulk ($2): curl exit $rc, '$out'"
  fi
}

log "http example (offloads on)"
start_example http -v

# 2. curl GET /
rc=0
out=$(nsx timeout 20 curl -sS -o "$WORK/index" -w '%{http_code} %{size_download}' "http://$NETRT_IP:8080/" 2>&1) || rc=$?
read -r code size <<<"$out"
if [ "$rc" -eq 0 ] && [ "$code" = 200 ] && [ "${size:-0}" -gt 0 ]; then
  pass "curl GET /: 200, $size bytes: $(head -c 60 "$WORK/index" | tr '\n' ' ')"
else
  fail "curl GET /: exit $rc, '$out'"
fi

# 2. curl GET /bytes/10000000
pattern_file 10000000 "$WORK/pattern10M"
rc=0
out=$(nsx timeout 60 curl -sS -o "$WORK/bytes10M" -w '%{http_code} %{size_download} %{time_total}' \
  "http://$NETRT_IP:8080/bytes/10000000" 2>&1) || rc=$?
read -r code size secs <<<"$out"
want=$(sha "$WORK/pattern10M")
got=$(sha "$WORK/bytes10M")
if [ "$rc" -eq 0 ] && [ "$code" = 200 ] && [ "$size" = 10000000 ] && [ "$got" = "$want" ]; then
  pass "curl GET /bytes/10000000: 200, $size bytes in $secs s, sha256 equal to the local pattern file"
else
  fail "curl GET /bytes/10000000: exit $rc, '$out', sha256 ${got:0:16}.. want ${want:0:16}.."
fi

# 2. 200 requests on one keep-alive connection (one curl, a config file of
# 200 URLs); the per-transfer time is the warm request latency.
: >"$WORK/curl200.cfg"
for ((i = 0; i < 200; i++)); do
  printf 'url = "http://%s:8080/bytes/%d"\noutput = "/dev/null"\n' "$NETRT_IP" $((i * 7)) >>"$WORK/curl200.cfg"
done
rc=0
nsx timeout 60 curl -sS -K "$WORK/curl200.cfg" \
  -w '%{http_code} %{num_connects} %{size_download} %{time_total}\n' >"$WORK/curl200.out" 2>"$WORK/curl200.err" || rc=$?
read -r n ok conns sizes_ok warm_ms <<<"$(python3 -c '
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
ok = sum(r[0] == "200" for r in rows)
conns = sum(int(r[1]) for r in rows)
sizes = sum(int(r[2]) == i * 7 for i, r in enumerate(rows))
med = statistics.median(float(r[3]) for r in rows) * 1e3 if rows else 0
print(len(rows), ok, conns, sizes, f"{med:.3f}")
' "$WORK/curl200.out")"
RESULT[lat_warm]=$warm_ms
if [ "$rc" -eq 0 ] && [ "$n" = 200 ] && [ "$ok" = 200 ] && [ "$conns" = 1 ] && [ "$sizes_ok" = 200 ]; then
  pass "curl keep-alive: 200 requests, $ok answered 200 with the right length, $conns TCP connection(s), median $warm_ms ms per request"
else
  fail "curl keep-alive: exit $rc, $n requests, $ok x 200, $sizes_ok right lengths, $conns connections (want 1); $(head -n 2 "$WORK/curl200.err" | tr '\n' ';')"
fi

# 2. latency of 50 small requests, each a new curl (new TCP connection).
: >"$WORK/lat.out"
rc=0
for ((i = 0; i < 50; i++)); do
  nsx timeout 5 curl -sS -o /dev/null -w '%{http_code} %{time_connect} %{time_total}\n' \
    "http://$NETRT_IP:8080/" >>"$WORK/lat.out" 2>>"$WORK/lat.err" || rc=$?
done
read -r ok conn_ms total_ms p90_ms <<<"$(python3 -c '
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
ok = sum(r[0] == "200" for r in rows)
c = statistics.median(float(r[1]) for r in rows) * 1e3
t = sorted(float(r[2]) * 1e3 for r in rows)
print(ok, f"{c:.3f}", f"{statistics.median(t):.3f}", f"{t[int(len(t) * 0.9) - 1]:.3f}")
' "$WORK/lat.out")"
RESULT[lat_new]=$total_ms
RESULT[lat_new_p90]=$p90_ms
if [ "$rc" -eq 0 ] && [ "$ok" = 50 ]; then
  pass "curl latency, 50 x GET / on new connections: median $total_ms ms (connect $conn_ms ms), p90 $p90_ms ms"
else
  fail "curl latency: exit $rc, $ok of 50 answered 200; $(head -n 2 "$WORK/lat.err" | tr '\n' ';')"
fi

# 5. netrt -> Linux, offloads on
curl_bulk n2l_on "offloads on"

rc=0
stop_example || rc=$?
[ "$rc" -eq 0 ] || fail "http stopped by SIGTERM: exit status $rc"

log "http example (--no-offloads)"
start_example http --no-offloads
curl_bulk n2l_off "offloads off"
rc=0
stop_example || rc=$?
[ "$rc" -eq 0 ] || fail "http --no-offloads stopped by SIGTERM: exit status $rc"

# ================================================================ get runs

# run_get NAME URL [ARGS...]: runs netrt `get` on the TAP (not in the
# background: it ends by itself), output in $WORK/NAME.log.
run_get() {
  local name=$1 url=$2
  shift 2
  nsx timeout 90 "$BIN/get" --tap "$TAP" --addr "$NETRT_IP/24" --cores "$CORES" "$@" "$url" \
    >"$WORK/$name.log" 2>&1
}

# 4. get of a 50 MB file from python3 -m http.server
log "get example: 50 MB from python3 -m http.server"
rc=0
run_get get50M "http://$LINUX_IP:8000/file50M" --out "$WORK/get50M.out" || rc=$?
want=$(sha "$WORK/www/file50M")
got=$(sha "$WORK/get50M.out" 2>/dev/null || echo none)
len=$(stat -c %s "$WORK/get50M.out" 2>/dev/null || echo 0)
if [ "$rc" -eq 0 ] && [ "$got" = "$want" ] && grep -q '^status: 200' "$WORK/get50M.log"; then
  pass "netrt get http://$LINUX_IP:8000/file50M: $len bytes, sha256 equal; $(grep '^time:' "$WORK/get50M.log")"
else
  fail "netrt get of file50M: exit $rc, $len of 50000000 bytes, sha256 ${got:0:16}.. want ${want:0:16}..; $(tail -n 3 "$WORK/get50M.log" | tr '\n' ';')"
fi

# 5. Linux -> netrt: get downloads $BULK_BYTES from the Linux bulk sender
# (the /bytes pattern, which get recognises).
get_bulk() {
  local key=$1 label=$2 rc=0
  shift 2
  run_get "bulk-$key" "http://$LINUX_IP:9000/bulk/$BULK_BYTES" "$@" || rc=$?
  local f=$WORK/bulk-$key.log
  local body ms
  body=$(grep -Eo '^body: [0-9]+ bytes' "$f" | grep -Eo '[0-9]+' || echo 0)
  ms=$(grep -Eo '^time: [0-9.]+ ms' "$f" | grep -Eo '[0-9.]+' || echo 0)
  if [ "$rc" -eq 0 ] && [ "$body" = "$BULK_BYTES" ] && grep -q '(the /bytes pattern)' "$f"; then
    RESULT[$key]=$(gbps "$body" "$(python3 -c "print($ms / 1e3)")")
    pass "Linux -> netrt bulk ($label): get of $BULK_BYTES pattern bytes in $ms ms = ${RESULT[$key]} Gbit/s"
  else
    RESULT[$key]=FAIL
    fail "Linux -> netrt bulk ($label): exit $rc, body $body bytes; $(tail -n 3 "$f" | tr '\n' ';')"
  fi
}
log "get example: Linux -> netrt bulk"
get_bulk l2n_on "offloads on"
get_bulk l2n_off "offloads off" --no-offloads

# ================================================================ summary

cat <<EOF

==== interop summary (netrt $NETRT_IP on TAP $TAP, $CORES cores, bulk $BULK_MB MB) ====
                         offloads on    offloads off
Linux -> netrt (Gbit/s)  $(printf '%-14s %s' "${RESULT[l2n_on]:-n/a}" "${RESULT[l2n_off]:-n/a}")
netrt -> Linux (Gbit/s)  $(printf '%-14s %s' "${RESULT[n2l_on]:-n/a}" "${RESULT[n2l_off]:-n/a}")
curl GET / latency, new connection:  median ${RESULT[lat_new]:-n/a} ms, p90 ${RESULT[lat_new_p90]:-n/a} ms
curl request latency, keep-alive:    median ${RESULT[lat_warm]:-n/a} ms
ping rtt min/avg/max/mdev:           ${RESULT[ping_rtt]:-n/a} ms
EOF

if [ "$FAILS" -gt 0 ]; then
  echo "interop: $FAILS check(s) FAILED"
  exit 1
fi
echo "interop: all checks passed"

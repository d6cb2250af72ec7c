#!/usr/bin/env bash
# examples/smoke-test.sh — drive the example servers with real clients: redis-cli against
# redis-server, curl against http-server, echo-client against echo-server.
#
#   examples/smoke-test.sh [BUILD_DIR]     (default: build; needs redis-cli and curl)
#
# Registered as the ctest `examples.smoke`. Engines: with EVIO_ENGINE set (native or std, as
# scripts/test does for each run of the suite) every server runs on that engine (tcp://);
# without it, on both (tcp:// for the native engine, tcp-net:// for the std engine). Each
# server prints which engine it runs; that is checked too.
#
# Every server listens on 127.0.0.1 port 0 (the kernel picks; the address is read from its
# "serving on" line), every client call has a timeout, and every server must exit with
# status 0 (after SIGTERM, or SHUTDOWN for redis-server), which also catches sanitizer
# reports in an ASAN/UBSAN build. Prints one line per check and "N passed, N failed";
# exits 1 if any failed, else 77 (a ctest skip) if redis-cli or curl is missing, else 0.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
ex=$build/examples
pass=0 fail=0 skipped=0
pids=()
tmp=$(mktemp -d)
cleanup() {
  local p
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -KILL "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

check() { # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then
    pass=$((pass + 1)); echo "ok   $1"
  else
    fail=$((fail + 1)); echo "FAIL $1: expected [$2], got [$3]"
  fi
}

skip() { skipped=$((skipped + 1)); echo "SKIP $*"; }

start() { # start NAME ARGS... -> sets ADDR (host:port of the first address), ENGINE, PID, LOG
  local name=$1; shift
  LOG=$tmp/$name.log
  : >"$LOG" # emptied here: a "serving on" line left by an earlier start must not be read
  "$ex/$name" "$@" >"$LOG" 2>&1 &
  PID=$!
  pids+=("$PID")
  ADDR= ENGINE=
  local i line
  for i in $(seq 200); do # bounded wait (10 s) for the startup line
    line=$(grep -m1 'serving on' "$LOG")
    if [ -n "$line" ]; then
      ADDR=$(sed -n 's/.*serving on [a-z-]*:\/\/\([^ ]*\).*/\1/p' <<<"$line")
      ENGINE=$(sed -n 's/.*engine: \([a-z]*\).*/\1/p' <<<"$line")
      return 0
    fi
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.05
  done
  fail=$((fail + 1))
  echo "FAIL $name did not start: $(cat "$LOG")"
  return 1
}

wait_exit() { # wait_exit PID -> its exit status; 124 (and SIGKILL) if it runs 20 s more
  local pid=$1 dog done rc
  trap - EXIT # the forked child must not inherit the trap (it could be killed before exec)
  sleep 20 &
  dog=$!
  trap cleanup EXIT
  wait -n -p done "$pid" "$dog"; rc=$? # whichever ends first (bash >= 5.1)
  if [ "$done" = "$pid" ]; then
    kill "$dog" 2>/dev/null; wait "$dog" 2>/dev/null
  else
    kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rc=124
  fi
  return $rc
}

exited() { # exited NAME HOW: checks that the server PID exited with status 0
  local rc=0
  wait_exit "$PID" || rc=$?
  pids=() # reaped: its PID may be reused
  check "$1 exits with status 0 after $2" 0 "$rc"
  [ "$rc" = 0 ] || sed 's/^/     | /' "$LOG"
}

stop() { kill -TERM "$PID" 2>/dev/null; exited "$1" SIGTERM; } # stop NAME

case ${EVIO_ENGINE:-} in
  "") schemes="tcp tcp-net" ;; # both engines
  native | std) schemes="tcp" ;;  # the engine the suite runs on
  *) echo "EVIO_ENGINE=$EVIO_ENGINE: want native or std"; exit 1 ;;
esac
# What the native engine calls itself in this build: ctest says (the build knows whether
# it has one); run by hand, epoll on Linux.
native_name=${EVIO_NATIVE_ENGINE_NAME:-epoll}
[ -n "${EVIO_NATIVE_ENGINE_NAME:-}" ] || [ "$(uname -s)" = Linux ] || native_name=libuv

for scheme in $schemes; do
  if [ "$scheme" = tcp-net ] || [ "${EVIO_ENGINE:-}" = std ]; then want=libuv; else want=$native_name; fi

  # --- redis-server + redis-cli ----------------------------------------------------------
  if ! command -v redis-cli >/dev/null; then
    skip "$scheme redis: no redis-cli (scripts/deps installs it)"
  elif start redis-server "$scheme://127.0.0.1:0"; then
    check "$scheme redis-server engine" "$want" "$ENGINE"
    host=${ADDR%:*} port=${ADDR##*:}
    r() { timeout 10 redis-cli -h "$host" -p "$port" "$@" 2>&1; }
    check "$scheme redis PING" "PONG" "$(r ping)"
    check "$scheme redis PING msg" "hello" "$(r ping hello)"
    check "$scheme redis ECHO" "a b" "$(r echo 'a b')"
    check "$scheme redis SET" "OK" "$(r set k1 v1)"
    r set k2 v2 >/dev/null; r set other x >/dev/null
    check "$scheme redis GET" "v1" "$(r get k1)"
    check "$scheme redis GET missing" "" "$(r get nope)"
    check "$scheme redis KEYS glob" "k1 k2" "$(r keys 'k[0-9]' | sort | tr '\n' ' ' | sed 's/ $//')"
    check "$scheme redis DEL" "2" "$(r del k1 other nope)"
    check "$scheme redis DBSIZE" "1" "$(r dbsize)"
    check "$scheme redis FLUSHDB" "OK 0" "$(r flushdb) $(r dbsize)"
    check "$scheme redis unknown" "ERR unknown command 'bogus'" "$(r bogus)"
    check "$scheme redis pipelined (redis-cli --pipe)" "errors: 0, replies: 1000" \
      "$(for i in $(seq 1000); do printf '*3\r\n$3\r\nSET\r\n$4\r\nk%03d\r\n$1\r\nv\r\n' $((i % 1000)); done \
         | timeout 20 redis-cli -h "$host" -p "$port" --pipe 2>&1 | grep -o 'errors: .*')"
    check "$scheme redis inline" "+PONG" "$(printf 'PING\r\n' | timeout 10 bash -c "exec 3<>/dev/tcp/$host/$port; cat >&3; head -c 7 <&3" | tr -d '\r\n')"
    check "$scheme redis QUIT" "OK" "$(r quit)"
    check "$scheme redis SHUTDOWN" "OK" "$(r shutdown)"
    exited "$scheme redis-server" SHUTDOWN
  fi

  # --- redis-server: one command is bounded (--max-command-bytes) ---------------------------
  if command -v redis-cli >/dev/null && start redis-server "$scheme://127.0.0.1:0" --max-command-bytes 4096; then
    host=${ADDR%:*} port=${ADDR##*:}
    # Sends printf's output on a new connection; prints the reply, then EOF if the server
    # closed the connection (not on a timeout or a reset).
    send() { printf "$@" | timeout 10 bash -c "exec 3<>/dev/tcp/$host/$port; cat >&3; cat <&3 && echo EOF" | tr -d '\r' | tr '\n' ' '; }
    too_large="-ERR Protocol error: command too large EOF "
    check "$scheme redis under --max-command-bytes" "PONG" "$(r ping)"
    check "$scheme redis too large by its bulk length: -ERR, closed" "$too_large" \
      "$(send '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5000\r\n%05000d\r\n' 0)"
    check "$scheme redis too large by its bytes (1000 args): -ERR, closed" "$too_large" \
      "$(send "*1000\r\n$(printf '$1\\r\\nx\\r\\n%.0s' $(seq 1000))")"
    check "$scheme redis serves on after a too large command" "PONG" "$(r ping)"
    check "$scheme redis SHUTDOWN (bounded)" "OK" "$(r shutdown)"
    exited "$scheme redis-server --max-command-bytes" SHUTDOWN
  fi

  # --- http-server + curl --------------------------------------------------------------------
  if ! command -v curl >/dev/null; then
    skip "$scheme http: no curl (scripts/deps installs it)"
  elif start http-server "$scheme://127.0.0.1:0"; then
    check "$scheme http-server engine" "$want" "$ENGINE"
    url=http://$ADDR/
    c() { curl -s --max-time 10 "$@"; }
    raw() { timeout 10 bash -c "exec 3<>/dev/tcp/${ADDR%:*}/${ADDR##*:}; cat >&3; cat <&3"; }
    check "$scheme http GET" "200 Hello, World!" "$(c -w '%{http_code} ' -o "$tmp/body" "$url"; cat "$tmp/body")"
    check "$scheme http keep-alive (2 requests, 1 connection)" "1" \
      "$(c -o /dev/null -o /dev/null -w '%{num_connects}\n' "$url" "$url" | awk '{ n += $1 } END { print n }')"
    check "$scheme http HEAD has no body" "13 0" \
      "$(c -I "$url" | tr -d '\r' | awk -F': ' '/Content-Length/ {print $2}') $(c -I -o /dev/null -w '%{size_download}' "$url")"
    check "$scheme http POST body" "200" "$(c -o /dev/null -w '%{http_code}' -d 'a=1&b=2' "$url")"
    check "$scheme http HTTP/1.0 closes" "close" \
      "$(c --http1.0 -D - -o /dev/null "$url" | tr -d '\r' | awk -F': ' 'tolower($1) == "connection" {print $2}')"
    check "$scheme http pipelined" "3" \
      "$(printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' \
         | raw | grep -o 'HTTP/1.1 200' | wc -l)"
    check "$scheme http bad request" "400" "$(printf 'NONSENSE\r\n\r\n' | raw | head -1 | awk '{print $2}')"
    stop "$scheme http-server"
  fi

  # --- echo-server + echo-client -------------------------------------------------------------
  if start echo-server "$scheme://127.0.0.1:0" --loops 2; then
    check "$scheme echo-server engine" "$want" "$ENGINE"
    out=$(timeout 60 "$ex/echo-client" "$ADDR" --conns 4 --count 100 --max-size 200000 --seed 1 2>&1 | tail -1)
    check "$scheme echo-client 4 conns x 100 random messages" "echo-client: OK" "$out"
    stop "$scheme echo-server"
  fi
done

if [ "$skipped" = 0 ]; then echo "$pass passed, $fail failed"; else echo "$pass passed, $fail failed, $skipped skipped"; fi
[ "$fail" = 0 ] || exit 1
[ "$skipped" = 0 ] || exit 77
exit 0

#!/usr/bin/env bash
# examples/smoke-test.sh — drive the example servers with real clients: redis-cli against
# redis-server, curl against http-server, echo-client against echo-server, on both engines.
#
#   examples/smoke-test.sh [BUILD_DIR]     (default: build; needs redis-cli and curl)
#
# Every server listens on 127.0.0.1 port 0 (the kernel picks) and is stopped by its PID.
# Prints one line per check and "N passed, N failed"; exits non-zero if any failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
ex=$build/examples
pass=0 fail=0
pids=()
tmp=$(mktemp -d)
cleanup() {
  local p
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
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

start() { # start NAME ADDRESS... -> sets ADDR (host:port of the first address) and PID
  local name=$1; shift
  local log=$tmp/$name.log
  "$ex/$name" "$@" >"$log" 2>&1 &
  PID=$!
  pids+=("$PID")
  ADDR=
  local i
  for i in $(seq 100); do
    ADDR=$(sed -n 's/.*serving on [a-z-]*:\/\/\([^ ]*\).*/\1/p' "$log" | head -1)
    [ -n "$ADDR" ] && return 0
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "FAIL $name did not start: $(cat "$log")"
  fail=$((fail + 1))
  return 1
}

stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

for scheme in tcp tcp-net; do
  # --- redis-server + redis-cli ----------------------------------------------------------
  if command -v redis-cli >/dev/null && start redis-server "$scheme://127.0.0.1:0"; then
    host=${ADDR%:*} port=${ADDR##*:}
    r() { timeout 5 redis-cli -h "$host" -p "$port" "$@" 2>&1; }
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
         | timeout 10 redis-cli -h "$host" -p "$port" --pipe 2>&1 | grep -o 'errors: .*')"
    check "$scheme redis inline" "+PONG" "$(printf 'PING\r\n' | timeout 2 bash -c "exec 3<>/dev/tcp/$host/$port; cat >&3; head -c 7 <&3" | tr -d '\r\n')"
    check "$scheme redis QUIT" "OK" "$(r quit)"
    check "$scheme redis SHUTDOWN" "OK" "$(r shutdown)"
    sleep 0.5
    check "$scheme redis-server exited" "exited" "$(kill -0 "$PID" 2>/dev/null && echo running || echo exited)"
    stop "$PID"
  fi

  # --- http-server + curl --------------------------------------------------------------------
  if command -v curl >/dev/null && start http-server "$scheme://127.0.0.1:0"; then
    url=http://$ADDR/
    check "$scheme http GET" "200 Hello, World!" "$(timeout 5 curl -s -w '%{http_code} ' -o "$tmp/body" "$url"; cat "$tmp/body")"
    check "$scheme http keep-alive (2 requests, 1 connection)" "1" \
      "$(timeout 5 curl -s -o /dev/null -o /dev/null -w '%{num_connects}\n' "$url" "$url" | awk '{ n += $1 } END { print n }')"
    check "$scheme http HEAD has no body" "13 0" \
      "$(timeout 5 curl -sI "$url" | tr -d '\r' | awk -F': ' '/Content-Length/ {print $2}') $(timeout 5 curl -s -I -o /dev/null -w '%{size_download}' "$url")"
    check "$scheme http POST body" "200" "$(timeout 5 curl -s -o /dev/null -w '%{http_code}' -d 'a=1&b=2' "$url")"
    check "$scheme http HTTP/1.0 closes" "close" \
      "$(timeout 5 curl -s --http1.0 -D - -o /dev/null "$url" | tr -d '\r' | awk -F': ' 'tolower($1) == "connection" {print $2}')"
    check "$scheme http pipelined" "3" \
      "$(printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' \
         | timeout 5 bash -c "exec 3<>/dev/tcp/${ADDR%:*}/${ADDR##*:}; cat >&3; cat <&3" | grep -o 'HTTP/1.1 200' | wc -l)"
    check "$scheme http bad request" "400" \
      "$(printf 'NONSENSE\r\n\r\n' | timeout 5 bash -c "exec 3<>/dev/tcp/${ADDR%:*}/${ADDR##*:}; cat >&3; cat <&3" | head -1 | awk '{print $2}')"
    stop "$PID"
  fi

  # --- echo-server + echo-client -------------------------------------------------------------
  if start echo-server "$scheme://127.0.0.1:0" --loops 2; then
    out=$(timeout 60 "$ex/echo-client" "$ADDR" --conns 4 --count 100 --max-size 200000 2>&1 | tail -1)
    check "$scheme echo-client 4 conns x 100 random messages" "echo-client: OK" "$out"
    stop "$PID"
  fi
done

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]

#!/usr/bin/env bash
# Run the test suite against a real Redis: the one at FACTCHECK_TEST_REDIS (default
# 127.0.0.1:6379 db 15, where tests only touch their own key prefixes) if it answers,
# otherwise a private redis-server on a free port in a temp dir, stopped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export FACTCHECK_TEST_REDIS=${FACTCHECK_TEST_REDIS:-redis://127.0.0.1:6379/15}

redis_answers() {
  "$PY" -c "import redis,sys; redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()" \
    "$1" >/dev/null 2>&1
}

if ! redis_answers "$FACTCHECK_TEST_REDIS"; then
  command -v redis-server >/dev/null || {
    echo "redis-server is not installed: sudo apt-get install -y redis-server" >&2; exit 1; }
  dir=$(mktemp -d)
  port=$("$PY" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
  trap 'kill "$(cat "$dir/redis.pid")" 2>/dev/null || true; rm -rf "$dir"' EXIT
  export FACTCHECK_TEST_REDIS="redis://127.0.0.1:$port/0"
  for _ in $(seq 100); do redis_answers "$FACTCHECK_TEST_REDIS" && break; sleep 0.1; done
  echo "using a private redis-server at $FACTCHECK_TEST_REDIS"
fi

# Parallel workers (pytest-xdist): most of the suite's time is spent in child processes
# (gunicorn, the CLI, redis-server) starting or waiting, so more workers than the 2 cores
# still pay. --dist loadfile keeps a file on one worker: its module-scoped fixtures (a live
# server, a redis-server) start once, and a file's tests keep their order. Each worker has
# its own tmp dirs (pytest), random Redis key prefixes and free ports (tests/live.py).
# Tests marked `serial` (they measure time or kill processes) must not be timed against the
# CPU-bound workers' load. They mostly wait (leases expiring, read deadlines, a hung Redis's
# timeouts), so their files run side by side, one worker each (SERIAL_WORKERS), while the rest
# runs at once beside them at the lowest CPU priority (nice 19, inherited by the servers its
# tests start): whenever a timed test wants a core it gets it, and the waits overlap the rest
# of the suite instead of adding to it. Their output is printed after the rest's.
# TEST_WORKERS=0 runs everything in one process, the serial files first; TEST_MARK selects
# (make test-fast: "not slow").
workers=${TEST_WORKERS:-4}
serial_workers=${SERIAL_WORKERS:-5}
mark=${TEST_MARK:-}

run() {  # run MARKEXPR ARGS...: pytest's status; 5 (none collected) is judged below
  local expr=$1; shift
  "$PY" -m pytest -m "$expr${mark:+ and ($mark)}" "$@" || return $?
}

spread=()
[ "$workers" != 0 ] && spread=(-n "$workers" --dist loadfile)
serial=0; rest=0
if [[ "$mark" == *"not slow"* ]]; then
  serial=5  # every serial file is also marked slow (tests/conftest.py): none of them to run
  run "not serial" "${spread[@]}" "$@" || rest=$?
elif [ "$workers" = 0 ]; then
  run "serial" "$@" || serial=$?
  run "not serial" "$@" || rest=$?
else
  serial_log=$(mktemp)
  run "serial" -n "$serial_workers" --dist loadfile "$@" >"$serial_log" 2>&1 &
  serial_pid=$!
  (renice -n 19 -p "$BASHPID" >/dev/null && run "not serial" "${spread[@]}" "$@") || rest=$?
  wait "$serial_pid" || serial=$?
  echo "--- the serial files (timed or killing processes), run beside the rest:"
  cat "$serial_log"
  rm -f "$serial_log"
fi
if [ "$serial" -eq 5 ] && [ "$rest" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
for status in "$serial" "$rest"; do
  if [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then exit "$status"; fi
done
exit 0

#!/usr/bin/env bash
# Runs the Step Functions conformance cases in moto_server (started here on
# 127.0.0.1, stopped on exit).
#   tests/conformance/run.sh          verify moto against tests/conformance/moto-results.json
#   tests/conformance/run.sh record   re-record that file
# Needs: pip install 'moto[server]' boto3. The Rust side is
# `cargo test -p likeness-workflow --test conformance`, which reads the recorded file.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
mode="${1:-verify}"
shift || true
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
log="$(mktemp)"
moto_server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then
    break
  fi
  sleep 0.1
done
case "$mode" in
  record) python3 "$here/driver.py" --endpoint "http://127.0.0.1:$port" --record "$here/moto-results.json" "$@" ;;
  verify) python3 "$here/driver.py" --endpoint "http://127.0.0.1:$port" --verify "$here/moto-results.json" "$@" ;;
  *) echo "usage: $0 [record|verify] [--only CASE]" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# User-space instructions per /auth/v1/check, counted by valgrind's callgrind: `tokenbox serve`
# (as the CLI starts it, default logger) against the bare Fastify yardstick (bench/bare-server.mjs),
# each warmed with WARM checks before MEASURE checks are counted. Instruction counts do not move
# with other load on the machine (the same build gives the same count to a fraction of a percent),
# so this is the figure to compare two builds with on a shared host (run nothing else heavy beside
# it: see below). Kernel time (about half of a check's CPU) is not in it. Needs valgrind; takes
# about three minutes.
#
#   bash bench/instructions.sh [WARM=30000] [MEASURE=10000]
set -euo pipefail
cd "$(dirname "$0")/.."
WARM=${1:-30000}
MEASURE=${2:-10000}
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)"; exit 2; }
[ -f dist/cli/bin.js ] || npm run build >/dev/null
WORK=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
export TOKENBOX_SECRET=$(head -c 32 /dev/urandom | base64)
export TOKENBOX_ACCOUNT_RATE_LIMIT=1000000000
node dist/cli/bin.js accounts create bench --data "$WORK/data" --json > "$WORK/account.json"
PK=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).defaultPublicToken.token)' "$WORK/account.json")
SCOPE=styles:tiles
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
AUTOCANNON=node_modules/.bin/autocannon

# count NAME PORT -- command...: prints "NAME: N instructions per check"
count() {
  local name=$1 port=$2
  shift 3
  valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file="$WORK/$name.out" "$@" > "$WORK/$name.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  until curl -s -o /dev/null "http://127.0.0.1:$port/"; do sleep 1; done
  load() { "$AUTOCANNON" -c 8 -a "$1" -t 60 -H "x-original-uri=/tiles/1/2/3.png?access_token=$PK" "http://127.0.0.1:$port/auth/v1/check?scope=$SCOPE" 2>&1 | grep -E "non 2xx" || true; }
  load "$WARM" > /dev/null
  callgrind_control -z "$pid" > /dev/null 2>&1
  local bad
  bad=$(load "$MEASURE")
  callgrind_control -d "$pid" > /dev/null 2>&1
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  [ -z "$bad" ] || { echo "$name: $bad"; return 1; }
  local total
  total=$(grep -h '^summary:' "$WORK/$name.out".* | head -1 | awk '{print $2}')
  echo "$name: $((total / MEASURE)) instructions per check ($MEASURE checks after $WARM)"
}

SERVE_PORT=$(free_port)
BARE_PORT=$(free_port)
HEADERS='{"checkHeaders":{"cache-control":"no-store","x-tokenbox-user":"bench","x-tokenbox-token-id":"c000000000000000000000000","x-tokenbox-usage":"pk"}}'
# One at a time: V8 compiles on a background thread, and a busier machine changes when its
# optimised code arrives, so a count taken beside another run can read several percent high.
count serve "$SERVE_PORT" -- node dist/cli/bin.js serve --data "$WORK/data" --port "$SERVE_PORT" > "$WORK/serve.txt"
PORT=$BARE_PORT count bare "$BARE_PORT" -- node bench/bare-server.mjs "$HEADERS" > "$WORK/bare.txt"
cat "$WORK/bare.txt" "$WORK/serve.txt"
node -e 'const [b, s] = process.argv.slice(1).map((f) => Number(require("fs").readFileSync(f, "utf8").match(/(\d+) instructions/)[1])); console.log(`ratio tokenbox/bare: ${(s / b).toFixed(3)}x instructions (bare/tokenbox ${(b / s).toFixed(2)})`)' "$WORK/bare.txt" "$WORK/serve.txt"

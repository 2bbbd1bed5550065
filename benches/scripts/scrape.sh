#!/usr/bin/env bash
# Prometheus scrapes side by side: netdata (the installed /usr/sbin/netdata, `[web] mode =
# static-threaded`) and rrdpipe (release build of this tree) each ingest the same synthetic
# plugin; then `/api/v1/allmetrics?format=prometheus` is fetched SCRAPES times, one after
# another, and each agent's time to last byte and its own CPU per scrape are measured.
#
# Usage: benches/scripts/scrape.sh
# Environment:
#   CHARTS=1000 DIMS=100      synthetic plugin size (dimensions scraped = CHARTS × DIMS)
#   WARMUP=20                 seconds of collection before the first scrape
#   SCRAPES=20                scrapes per agent
#   FORMAT=prometheus         allmetrics format
#   GZIP=                     set to ask for gzip, as Prometheus does (curl --compressed)
#   AGENTS="netdata rrdpipe"  which agents to run
#   NO_BUILD=1                skip `cargo build --release`
#
# CPU per scrape is the agent's own user + system time over the scrapes, less what it spent
# collecting over an equally long idle stretch measured just before. Runs are sequential; do
# not run this while something else is compiling on the machine.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PEER="$ROOT/benches/scripts/peer"
CHARTS=${CHARTS:-1000}
DIMS=${DIMS:-100}
WARMUP=${WARMUP:-20}
SCRAPES=${SCRAPES:-20}
FORMAT=${FORMAT:-prometheus}
AGENTS=${AGENTS:-"netdata rrdpipe"}
NETDATA=${NETDATA:-/usr/sbin/netdata}
for tool in curl python3; do
    command -v "$tool" >/dev/null || { echo "$tool is needed: apt-get install $tool" >&2; exit 2; }
done
case " $AGENTS " in
    *" netdata "*)
        [ -x "$NETDATA" ] || { echo "netdata not found at $NETDATA: apt-get install netdata, or AGENTS=rrdpipe" >&2; exit 2; } ;;
esac
if [ -z "${NO_BUILD:-}" ]; then
    (cd "$ROOT" && cargo build --release --quiet)
fi
BIN="$ROOT/target/release/rrdpipe"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/scrape.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
export PATH="$(dirname "$NETDATA"):$PATH"

# CPU seconds (user + system) of process $1.
cpu() { awk -v t="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); split($0, f, " "); printf "%.3f", (f[12] + f[13]) / t }' "/proc/$1/stat"; }

echo "# $(date -u +%FT%TZ) $(nproc) cpus; ${CHARTS} charts × ${DIMS} dimensions; ${SCRAPES} scrapes of format=${FORMAT}${GZIP:+ (gzip)} after ${WARMUP} s"
echo
echo "| agent | bytes | time to last byte, median s | max s | agent CPU per scrape, s |"
echo "|---|---|---|---|---|"
sink=24300
for agent in $AGENTS; do
    web=$((sink + 50))
    python3 -c "import socket,time;s=socket.socket();s.bind(('127.0.0.1',$sink));s.listen(8);time.sleep(1e6)" &
    PIDS+=($!)
    case $agent in
        netdata) cmd=("$PEER/run-netdata.sh" "$WORK/netdata" "$sink" "$CHARTS" "$DIMS" 0) ;;
        rrdpipe) cmd=("$PEER/run-rrdpipe.sh" "$BIN" "$WORK/rrdpipe" "$sink" "$CHARTS" "$DIMS") ;;
        *) echo "unknown agent '$agent' (expected netdata or rrdpipe)" >&2; exit 2 ;;
    esac
    EXPORT=no WEB_PORT=$web setsid "${cmd[@]}" >"$WORK/$agent.out" 2>&1 &
    pid=$!
    PIDS+=($pid)
    sleep "$WARMUP"
    url="http://127.0.0.1:$web/api/v1/allmetrics?format=$FORMAT"
    compressed=()
    [ -n "${GZIP:-}" ] && compressed=(--compressed)
    times="$WORK/$agent.times"
    : >"$times"
    # A first scrape opens the scraper's window; not measured.
    curl -sf -o /dev/null "$url" || { echo "$agent: $url failed; see $WORK/$agent.out" >&2; cat "$WORK/$agent.out" >&2; exit 1; }
    start=$(date +%s.%N); c0=$(cpu "$pid")
    for _ in $(seq "$SCRAPES"); do
        curl -sf "${compressed[@]}" -o /dev/null -w '%{time_total} %{size_download}\n' "$url" >>"$times"
    done
    c1=$(cpu "$pid"); end=$(date +%s.%N)
    # The same stretch idle: what collection alone costs.
    sleep "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')"
    c2=$(cpu "$pid")
    per=$(awk -v a="$c0" -v b="$c1" -v c="$c2" -v n="$SCRAPES" 'BEGIN { printf "%.4f", ((b - a) - (c - b)) / n }')
    median=$(sort -g "$times" | awk '{ t[NR] = $1 } END { print t[int((NR + 1) / 2)] }')
    max=$(sort -g "$times" | tail -1 | cut -d' ' -f1)
    bytes=$(tail -1 "$times" | cut -d' ' -f2)
    echo "| $agent | $bytes | $median | $max | $per |"
    kill -TERM -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    sink=$((sink + 1))
    sleep 2
done

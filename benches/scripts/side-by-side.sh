#!/usr/bin/env bash
# Side by side: netdata (the installed /usr/sbin/netdata) and rrdpipe (release build of this
# tree) ingest the same synthetic plugin and export graphite to a loopback sink; each agent
# process's own CPU and RSS are measured with benches/scripts/peer/measure.py.
#
# Usage: benches/scripts/side-by-side.sh [EVERY...]        (default: 1 10, the export intervals in seconds)
# Environment:
#   CHARTS=1000 DIMS=100      synthetic plugin size (values per collection = CHARTS × DIMS)
#   UPDATE_EVERY=1            collection interval in seconds (the agents' update every)
#   HISTORY=3600              slots of history both agents keep; a history shorter than WARMUP
#                             measures memory once the ring is full (e.g. HISTORY=300 WARMUP=330)
#   MODE=ram                  netdata's [db] mode (ram, dbengine, ...)
#   (rrdpipe accepts up to 200000 dimensions per plugin unless MAX_DIMENSIONS says more)
#   WARMUP=15 WINDOW=30       seconds before measuring, seconds measured (uptime ≈ their sum)
#   SOURCE=average            exporter data source
#   PORT=24100                first sink port (one per run)
#   AGENTS="netdata rrdpipe"  which agents to run
#   NO_BUILD=1                skip `cargo build --release`
#   REPEAT=1                  rounds; with more than one, a table of medians follows
#
# Both agents keep HISTORY slots of history, run only the synthetic plugin (no proc collector)
# and send every dimension. The runs are sequential, so they never compete with each other;
# do not run this while something else is compiling on the machine.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PEER="$ROOT/benches/scripts/peer"
CHARTS=${CHARTS:-1000}
DIMS=${DIMS:-100}
WARMUP=${WARMUP:-15}
WINDOW=${WINDOW:-30}
SOURCE=${SOURCE:-average}
PORT=${PORT:-24100}
AGENTS=${AGENTS:-"netdata rrdpipe"}
REPEAT=${REPEAT:-1}
EVERIES=("$@")
[ ${#EVERIES[@]} -gt 0 ] || EVERIES=(1 10)
NETDATA=${NETDATA:-/usr/sbin/netdata}

case " $AGENTS " in
    *" netdata "*)
        if [ ! -x "$NETDATA" ]; then
            echo "netdata not found at $NETDATA: install Debian's netdata package" \
                 "(apt-get install netdata), set NETDATA=/path/to/netdata, or run AGENTS=rrdpipe" >&2
            exit 2
        fi ;;
esac

if [ -z "${NO_BUILD:-}" ]; then
    (cd "$ROOT" && cargo build --release --quiet)
fi
BIN="$ROOT/target/release/rrdpipe"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/side-by-side.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export PATH="$(dirname "$NETDATA"):$PATH"

echo "# $(date -u +%FT%TZ) $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')," \
     "$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
export UPDATE_EVERY=${UPDATE_EVERY:-1}
export HISTORY=${HISTORY:-3600} MODE=${MODE:-ram}
echo "# ${CHARTS} charts × ${DIMS} dimensions every ${UPDATE_EVERY} s ($((CHARTS * DIMS / UPDATE_EVERY)) values/s), history ${HISTORY}," \
     "netdata's db mode ${MODE}, data source ${SOURCE}, warmup ${WARMUP} s, window ${WINDOW} s"
echo
echo "| agent | export every | CPU % of a core | RSS MB | peak RSS MB | plugin CPU % | lines in window | lines/s |"
echo "|---|---|---|---|---|---|---|---|"
ROWS="$WORK/rows"
for round in $(seq "$REPEAT"); do
    for every in "${EVERIES[@]}"; do
        for agent in $AGENTS; do
            port=$PORT
            PORT=$((PORT + 1))
            case $agent in
                netdata) cmd=("$PEER/run-netdata.sh" "$WORK/netdata" "$port" "$CHARTS" "$DIMS" 0 "$SOURCE") ;;
                rrdpipe) cmd=("$PEER/run-rrdpipe.sh" "$BIN" "$WORK/rrdpipe" "$port" "$CHARTS" "$DIMS" "$SOURCE") ;;
                *) echo "unknown agent '$agent' (expected netdata or rrdpipe)" >&2; exit 2 ;;
            esac
            out=$(EXPORT_EVERY=$every python3 "$PEER/measure.py" --port "$port" --warmup "$WARMUP" \
                  --window "$WINDOW" -- "${cmd[@]}")
            declare -A r=()
            for kv in $out; do r[${kv%%=*}]=${kv#*=}; done
            lps=$(awk -v l="${r[lines]}" -v w="${r[window_s]}" 'BEGIN { printf "%.0f", l / w }')
            echo "| $agent | ${every} s | ${r[cpu_pct]} | ${r[rss_mb]} | ${r[rss_peak_mb]} | ${r[plugin_cpu_pct]} | ${r[lines]} | $lps |"
            echo "$agent $every ${r[cpu_pct]} ${r[rss_mb]} $lps" >> "$ROWS"
            if [ "${r[lines]}" = 0 ]; then
                echo "$agent delivered no line to the sink: the figures above are not a measurement;" \
                     "run the command measure.py ran by hand to see why: ${cmd[*]}" >&2
                exit 1
            fi
            unset r
            sleep 2
        done
    done
done
if [ "$REPEAT" -gt 1 ]; then
    echo
    echo "Medians of $REPEAT rounds:"
    echo
    echo "| agent | export every | CPU % of a core | RSS MB | lines/s |"
    echo "|---|---|---|---|---|"
    for every in "${EVERIES[@]}"; do
        for agent in $AGENTS; do
            med() { awk -v a="$agent" -v e="$every" -v c="$1" '$1 == a && $2 == e { print $c }' "$ROWS" \
                    | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
            echo "| $agent | ${every} s | $(med 3) | $(med 4) | $(med 5) |"
        done
    done
fi

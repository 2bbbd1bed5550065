#!/usr/bin/env bash
# Re-record the corpus of real metrics the store's codec is tested and measured on: this
# machine's `proc` collector and netdata's apps.plugin (Debian's netdata package), every
# second, for SECONDS (default 1800, at least 30 minutes of a working machine).
#
# Usage: benches/corpus/record.sh [SECONDS] [OUTPUT]
# Output: benches/corpus/proc-apps.corpus.gz unless told otherwise.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_TO_RECORD=${1:-1800}
OUTPUT=${2:-$ROOT/benches/corpus/proc-apps.corpus.gz}
if [ ! -x /usr/lib/netdata/plugins.d/apps.plugin ] && [ ! -x /usr/libexec/netdata/plugins.d/apps.plugin ]; then
    echo "apps.plugin not found: install Debian's netdata package (apt-get install netdata)" >&2
    exit 2
fi
cd "$ROOT"
cargo build --release --quiet --example record_corpus
exec target/release/examples/record_corpus "$SECONDS_TO_RECORD" "$OUTPUT"

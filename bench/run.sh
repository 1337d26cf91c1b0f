#!/bin/sh
# Signing benchmark (issue [2]): gunicorn -w 4 on PostgreSQL, wrk -t2 -c16.
# Usage: BENCH_DATABASE_URL=postgresql+psycopg://... bench/run.sh   (from the repo root)
# The database is emptied and refilled: give it one of its own.
set -eu
: "${BENCH_DATABASE_URL:?set BENCH_DATABASE_URL to a PostgreSQL database the benchmark may empty}"
DURATION=${DURATION:-10s}
BIN=$(pwd)/.venv/bin
WORK=$(mktemp -d)
export INSTANCE_PATH="$WORK" DATABASE_URL="$BENCH_DATABASE_URL" FLASK_CONFIG=production \
       SECRET_KEY=bench-secret DATA_KEY=bench-data-key PUBLIC_URL=https://bench.invalid \
       SIGN_RATE_LIMIT="1000000 per second"
mkdir -p bench/results
OUT=bench/results/$(date -u +%Y%m%dT%H%M%SZ).txt

"$BIN/python" bench/setup_db.py reset

"$BIN/gunicorn" -w 4 -b 127.0.0.1:8101 --chdir bench trivial:app >"$WORK/trivial.log" 2>&1 &
TRIVIAL=$!
"$BIN/gunicorn" -w 4 -b 127.0.0.1:8102 wsgi:app >"$WORK/app.log" 2>&1 &
APP=$!
trap 'kill $TRIVIAL $APP 2>/dev/null; wait $TRIVIAL $APP 2>/dev/null; rm -rf "$WORK"' EXIT
for port in 8101 8102; do
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/" >/dev/null 2>&1 && break; sleep 0.2; done
done

measure() {  # name url script
  wrk -t2 -c16 -d3s -s "bench/$3" "$2" >/dev/null 2>&1  # warm-up
  result=$(wrk -t2 -c16 -d"$DURATION" -s "bench/$3" "$2")
  rps=$(echo "$result" | awk '/Requests\/sec/ {print $2}')
  extra=$(echo "$result" | grep non2xx)
  echo "$1 $rps $extra" | tee -a "$OUT"
}

ratios() {  # label
  base=$(awk '$1=="trivial" {print $2}' "$OUT" | tail -1)
  awk -v base="$base" -v label="$1" '$1 ~ /^(insert|sign|page|api)/ {r[$1]=$2} END {
    for (k in r) printf "%s ratio %s %.2f\n", label, k, r[k] / base }' "$OUT" | sort | tee -a "$OUT"
}

SLUG=protect-objectors
echo "# $(date -u) $(nproc) cores, 1,000 confirmed signatures" | tee -a "$OUT"
measure trivial http://127.0.0.1:8101/ get.lua
measure insert http://127.0.0.1:8101/insert insert.lua
measure sign http://127.0.0.1:8102/api/v1/petitions/$SLUG/signatures sign.lua
measure page http://127.0.0.1:8102/petitions/$SLUG get.lua
measure api http://127.0.0.1:8102/api/v1/petitions/$SLUG get.lua
ratios "1k"

"$BIN/python" bench/setup_db.py million
echo "# 1,000,000 confirmed signatures" | tee -a "$OUT"
measure trivial http://127.0.0.1:8101/ get.lua
measure sign_1m http://127.0.0.1:8102/api/v1/petitions/$SLUG/signatures sign.lua
measure page_1m http://127.0.0.1:8102/petitions/$SLUG get.lua
measure api_1m http://127.0.0.1:8102/api/v1/petitions/$SLUG get.lua
ratios "1m"
echo "results in $OUT"

#!/usr/bin/env bash
# "Stop to playable": how long after a recording stops its replay can be watched.
#
# For each length (default 5 and 30 minutes), a recorder stand-in (ffmpeg copying a pre-made
# 640x360 H.264/AAC clip into Matroska at READRATE× real time, a steady write rate) is uploaded
# two ways, on the same stack in one run:
#   followed  `vodnest upload --follow` started with the recorder: time from the recorder's
#             last byte (ffmpeg exits) to the video's `playable`;
#   after     `vodnest upload --limit-rate 4M` of the finished file: time from its start (the
#             moment the recording stopped) to `playable`.
# Goal: followed <= 10 s at both lengths, followed(30 min) / followed(5 min) <= 1.2; the
# after-the-fact figure grows with the length.
#
# Where a recording ends within a part decides how much is left to send at the stop (its tail:
# up to one part, 11 MiB by default), whatever its length. With the same end every round, one
# length could get a 1 MB tail and the other an 8 MB one; so round k ends the recording
# (k-1)/ROUNDS of a part's worth of seconds early, and every length sees the same spread of
# tails (printed per run).
#
# The storage's own share is read off the API's log: how long S3's CompleteMultipartUpload took
# (`s3_complete_s`). LocalStack copies every part into one object there (at about 1 GB/s), so
# that step grows with the recording; AWS S3 does not copy bytes at complete. "vodnest" =
# followed - that: the CLI's finish, the API and the processor; its ratio is printed beside
# the whole one.
#
#   bash benches/stop_to_playable.sh [MINUTES...]
#       READRATE=10   the recorder's speed (× real time)
#       ROUNDS=3      followed runs per length (medians); the rounds rotate through the lengths
#       AFTER=1       also the after-the-fact upload (first round only; 0 skips it)
#       LOGS_TO=DIR   keep the API's and the processor's JSON logs there
#
# Starts what it needs (./dev env: Postgres, LocalStack, buckets) and release builds (as
# deployed) of the API (127.0.0.1:3918) and the processor (gRPC 127.0.0.1:50918) against a
# scratch database, and of the CLI. "playable" is the moment the processor's log says so.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if (($#)); then LENGTHS=("$@"); else LENGTHS=(5 30); fi
READRATE=${READRATE:-10}
ROUNDS=${ROUNDS:-3}
AFTER=${AFTER:-1}
WORK=$(mktemp -d /tmp/vodnest-bench-follow.XXXXXX)
PIDS=()
eval "$("$REPO/dev" env)"
ADMIN_URL=$DATABASE_URL
DB=vodnest_bench_follow_$$
cleanup() {
    # LOGS_TO=DIR keeps the API's and the processor's JSON logs.
    [[ -n ${LOGS_TO:-} ]] && mkdir -p "$LOGS_TO" && cp "$WORK"/{api,processor}.log "$LOGS_TO"/ 2>/dev/null
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    psql -q "$ADMIN_URL" -c "drop database if exists $DB" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "==> release build of the API, the processor and the CLI" >&2
(cd "$REPO" && cargo build --quiet --release -p vodnest-api -p vodnest-processor -p vodnest-cli)
psql -q "$ADMIN_URL" -c "create database $DB" >/dev/null
export DATABASE_URL="${ADMIN_URL%/*}/$DB"
export API_ADDR=127.0.0.1:3918 GRPC_ADDR=127.0.0.1:50918 METRICS_ADDR=127.0.0.1:0
export RATE_LIMIT_IP_BURST=1000000 RATE_LIMIT_IP_PER_SEC=1000000
export RATE_LIMIT_KEY_BURST=1000000 RATE_LIMIT_KEY_PER_SEC=1000000
ADMIN_TOKEN=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
export ADMIN_TOKEN
# The API's rule for a growing upload's parts (upload_plan.rs): ceil(max / 10,000) in whole MiB.
export MAX_UPLOAD_BYTES=$((100 * 1024 ** 3))
PART_BYTES=$(((MAX_UPLOAD_BYTES + 10000 * 1048576 - 1) / (10000 * 1048576) * 1048576))
LOG_FORMAT=json "$REPO/target/release/vodnest-api" >"$WORK/api.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do
    curl -fsS "http://$API_ADDR/readyz" >/dev/null 2>&1 && break
    sleep 0.2
done
LOG_FORMAT=json METRICS_ADDR=127.0.0.1:0 "$REPO/target/release/vodnest-processor" >"$WORK/processor.log" 2>&1 &
PIDS+=($!)

vodnest() { "$REPO/target/release/vodnest" --api "http://$API_ADDR" --token "$ADMIN_TOKEN" "$@"; }
now() { date +%s.%N; }
video_id() { sed -E 's/.*"video_id":"([^"]+)".*/\1/' <<<"$1"; }
# Deletes video $1 (its remaining jobs stop) and waits until the processor runs no job, so that
# no run is measured beside the ladder encode of the one before it; then flushes the page
# cache's dirty pages (LocalStack writes each recording twice), which would be written back
# during the next run.
settle() {
    curl -fsS -o /dev/null -X DELETE -H "Authorization: Bearer $ADMIN_TOKEN" \
        "http://$API_ADDR/api/v1/videos/$1"
    for _ in $(seq 1 600); do
        [[ $(psql -qtA "$DATABASE_URL" -c "select count(*) from jobs where state = 'running'") == 0 ]] && break
        sleep 0.2
    done
    sync
}
# Waits until video $1 is playable (polled every 0.1 s; the processor's log has the moment).
await_playable() {
    until curl -fsS -H "Authorization: Bearer $ADMIN_TOKEN" \
        "http://$API_ADDR/api/v1/videos/$1" | grep -q '"playable":true'; do
        sleep 0.1
    done
}

# One source per length, made once; the rounds rotate through the lengths so that a noisy
# moment of the machine falls on all of them alike.
for minutes in "${LENGTHS[@]}"; do
    ffmpeg -hide_banner -loglevel error -nostdin -y \
        -f lavfi -i "testsrc2=size=640x360:rate=30:duration=$((minutes * 60))" \
        -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$((minutes * 60))" \
        -c:v libx264 -preset ultrafast -pix_fmt yuv420p -g 60 -b:v 1500k -maxrate 1500k \
        -bufsize 1M -c:a aac "$WORK/source-$minutes.mp4"
done

# Per run: stop→playable and its parts: the CLI's finish (re-check of every part sent, then the
# changed ones and the tail), the API's complete (s3-complete: S3's part of it), and
# complete→playable (the processor), itself in three: until its job started (claim), until the
# source was probed and planned (probe), until the first segments were up (publish); read off
# the API's and the processor's JSON logs. The last field is the moment the video became
# playable.
field() { sed -E "s/.*\"$1\":([0-9.]+).*/\1/" <<<"$2"; }
run_steps() {
    python3 - "$WORK/processor.log" "$WORK/api.log" "$1" "$2" <<'PY'
import datetime, json, sys
processor_log, api_log, video, completed = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])

def events(path):
    for line in open(path, encoding="utf-8", errors="replace"):
        if video in line:
            try:
                yield json.loads(line)
            except ValueError:
                pass

marks = {}
for event in events(processor_log):
    message = event.get("fields", {}).get("message")
    if message in ("job started", "probed", "playable") and message not in marks:
        stamp = datetime.datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
        marks[message] = stamp.timestamp()
steps, last = [], completed
for mark in ("job started", "probed", "playable"):
    steps.append(f"{marks[mark] - last:.2f}" if mark in marks else "-")
    last = marks.get(mark, last)
s3 = [e["fields"]["s3_complete_s"] for e in events(api_log) if "s3_complete_s" in e.get("fields", {})]
steps.append(f"{s3[0]:.3f}" if s3 else "0")
steps.append(f"{marks['playable']:.3f}")
print(" ".join(steps))
PY
}
printf '%-6s %-8s %-8s %-10s %-8s %-9s %-10s %-6s %-6s %-8s %-12s %-8s\n' round minutes tail-MB \
    followed finish complete processor claim probe publish s3-complete vodnest
for round in $(seq 1 "$ROUNDS"); do
    for minutes in "${LENGTHS[@]}"; do
        recording=$WORK/live-$minutes-$round.mkv
        source=$WORK/source-$minutes.mp4
        # This round's end: (round-1)/ROUNDS of a part's worth of recording before the source's.
        seconds=$(awk -v s="$(stat -c %s "$source")" -v m="$minutes" -v p="$PART_BYTES" \
            -v k="$round" -v n="$ROUNDS" 'BEGIN {printf "%.3f", m * 60 - (k - 1) / n * p / (s / (m * 60))}')
        vodnest --json upload --follow --quiet-period 600 --state-dir "$WORK/state" \
            "$recording" >"$WORK/follow.json" &
        follower=$!
        ffmpeg -hide_banner -loglevel error -nostdin -y -readrate "$READRATE" \
            -i "$source" -t "$seconds" -c copy -f matroska "$recording"
        stopped=$(now)
        wait "$follower"
        completed=$(now)
        out=$(cat "$WORK/follow.json")
        id=$(video_id "$out")
        await_playable "$id"
        read -r claim probe publish storage playable < <(run_steps "$id" "$completed")
        followed=$(echo "$playable - $stopped" | bc -l)
        processor=$(echo "$playable - $completed" | bc -l)
        own=$(echo "$followed - $storage" | bc -l)
        # The CLI's first part is 5 MiB (the header, sent again at the stop), the others PART_BYTES.
        tail_mb=$(awk -v s="$(stat -c %s "$recording")" -v p="$PART_BYTES" \
            'BEGIN {printf "%.1f", ((s - 5242880) % p) / 1e6}')
        printf '%-6s %-8s %-8s %-10.2f %-8.2f %-9.2f %-10.2f %-6s %-6s %-8s %-12.2f %-8.2f\n' \
            "$round" "$minutes" "$tail_mb" "$followed" "$(field finish_seconds "$out")" \
            "$(field complete_seconds "$out")" "$processor" "$claim" "$probe" "$publish" \
            "$storage" "$own"
        echo "$minutes $followed" >>"$WORK/followed.txt"
        echo "$minutes $own" >>"$WORK/own.txt"
        settle "$id"
        if ((round == 1)) && [[ $AFTER == 1 ]]; then
            after_start=$(now)
            out=$(vodnest --json upload --limit-rate 4M --state-dir "$WORK/state" "$recording")
            await_playable "$(video_id "$out")"
            after=$(echo "$(now) - $after_start" | bc -l)
            echo "$minutes $after" >>"$WORK/after.txt"
            settle "$(video_id "$out")"
        fi
        rm -f "$recording"
    done
done

# Medians per length, and the ratio of the longest to the shortest (whole, and vodnest's part).
median() { sort -n | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
of_length() { awk -v m="$1" '$1 == m {print $2}' "$2" | median; }
echo
printf '%-8s %-20s %-20s %-20s\n' minutes "followed (median)" "vodnest (median)" "after (4M, 1 run)"
for minutes in "${LENGTHS[@]}"; do
    f=$(of_length "$minutes" "$WORK/followed.txt")
    o=$(of_length "$minutes" "$WORK/own.txt")
    a=$([[ -f $WORK/after.txt ]] && printf "%.1f" "$(of_length "$minutes" "$WORK/after.txt")" || echo -)
    printf '%-8s %-20.2f %-20.2f %-20s\n' "$minutes" "$f" "$o" "$a"
    echo "$minutes $f $o" >>"$WORK/medians.txt"
done
ratio() { echo "$(tail -1 "$WORK/medians.txt" | cut -d' ' -f"$1") / $(head -1 "$WORK/medians.txt" | cut -d' ' -f"$1")" | bc -l; }
printf 'followed %s min / %s min: %.2f; without the storage'"'"'s complete: %.2f (goal <= 1.2)\n' \
    "${LENGTHS[-1]}" "${LENGTHS[0]}" "$(ratio 2)" "$(ratio 3)"

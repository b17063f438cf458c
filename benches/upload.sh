#!/usr/bin/env bash
# Upload throughput: `vodnest upload` against `aws s3 cp` (the AWS CLI's own multipart upload)
# with the same 1 GiB file to the same LocalStack, in one run, median of 3 each, and the ratio.
# Target: the CLI at least as fast as `aws s3 cp` (ratio >= 1.0).
#
#   bash benches/upload.sh [SIZE_MIB] [RUNS]
#
# Starts what it needs (./dev env: Postgres, LocalStack, buckets), a release build of the API
# on 127.0.0.1:3917 (no processor: the uploads are deleted, not processed), and the AWS CLI in
# its own virtualenv under ~/.cache/vodnest.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZE_MIB=${1:-1024}
RUNS=${2:-3}
WORK=$(mktemp -d /tmp/vodnest-bench-upload.XXXXXX)
API_PID=
cleanup() {
    [[ -n $API_PID ]] && kill "$API_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

eval "$("$REPO/dev" env)"
AWS_VENV=$HOME/.cache/vodnest/awscli-venv
if [[ ! -x $AWS_VENV/bin/aws ]]; then
    echo "==> installing the AWS CLI into $AWS_VENV" >&2
    python3 -m venv "$AWS_VENV"
    "$AWS_VENV/bin/pip" install --quiet awscli
fi
echo "==> release build" >&2
(cd "$REPO" && cargo build --quiet --release -p vodnest-api -p vodnest-cli)

export API_ADDR=127.0.0.1:3917 METRICS_ADDR=127.0.0.1:0 ADMIN_TOKEN
# The bench measures uploads, not the rate limits: raise them far above what it sends.
export RATE_LIMIT_IP_BURST=1000000 RATE_LIMIT_IP_PER_SEC=1000000
export RATE_LIMIT_KEY_BURST=1000000 RATE_LIMIT_KEY_PER_SEC=1000000
ADMIN_TOKEN=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
"$REPO/target/release/vodnest-api" >"$WORK/api.log" 2>&1 &
API_PID=$!
for _ in $(seq 1 100); do
    curl -fsS "http://$API_ADDR/readyz" >/dev/null 2>&1 && break
    sleep 0.2
done

FILE=$WORK/replay.bin
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$FILE"

seconds() { # runs "$@", prints its wall time in seconds
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null
    end=$(date +%s.%N)
    echo "$end - $start" | bc -l
}

cli_upload() {
    local out id
    out=$("$REPO/target/release/vodnest" --api "http://$API_ADDR" --token "$ADMIN_TOKEN" --json \
        upload --state-dir "$WORK/state" "$FILE")
    id=$(sed -E 's/.*"video_id":"([^"]+)".*/\1/' <<<"$out")
    curl -fsS -X DELETE -H "Authorization: Bearer $ADMIN_TOKEN" "http://$API_ADDR/api/v1/videos/$id"
}

aws_upload() {
    "$AWS_VENV/bin/aws" s3 cp --only-show-errors "$FILE" "s3://$RAW_BUCKET/bench/replay.bin"
    "$AWS_VENV/bin/aws" s3 rm --only-show-errors "s3://$RAW_BUCKET/bench/replay.bin"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

cli_times=() aws_times=()
for run in $(seq 1 "$RUNS"); do
    # Alternate which goes first, so neither always meets a warmer LocalStack.
    if ((run % 2)); then
        cli_times+=("$(seconds cli_upload)"); aws_times+=("$(seconds aws_upload)")
    else
        aws_times+=("$(seconds aws_upload)"); cli_times+=("$(seconds cli_upload)")
    fi
    echo "run $run: vodnest ${cli_times[-1]} s, aws s3 cp ${aws_times[-1]} s" >&2
done
cli=$(printf '%s\n' "${cli_times[@]}" | median)
aws=$(printf '%s\n' "${aws_times[@]}" | median)
printf 'file            %d MiB, %d runs each (median)\n' "$SIZE_MIB" "$RUNS"
printf 'vodnest upload  %.2f s  %.1f MiB/s\n' "$cli" "$(echo "$SIZE_MIB / $cli" | bc -l)"
printf 'aws s3 cp       %.2f s  %.1f MiB/s\n' "$aws" "$(echo "$SIZE_MIB / $aws" | bc -l)"
printf 'ratio           %.2f  (vodnest throughput / aws s3 cp throughput; target >= 1.0)\n' \
    "$(echo "$aws / $cli" | bc -l)"

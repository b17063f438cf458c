#!/usr/bin/env bash
# Starts LocalStack (S3 only) on 127.0.0.1:4566 with signature validation on, unless one
# already answers there. In Docker when an engine runs; otherwise on the host, from a Python
# venv cached across checkouts. Why on the host it is done this way:
# - `localstack start --host` refuses machines that look like a container (CI runners do), so
#   the runtime is started directly: `python -m localstack.runtime.main`;
# - it needs Python >= 3.12 (3.11 fails with a SyntaxError);
# - its own certificate generation fails with the pyOpenSSL that pip installs: give it one;
# - on such machines it also believes it runs in a container, and then writes under
#   /var/lib/localstack and /tmp/localstack.
#
#   localstack/start.sh STATE_DIR     # writes STATE_DIR/pids/localstack.pid (host mode)
#                                     # and STATE_DIR/localstack.started when it started one
set -euo pipefail

# The pinned versions: change them here, and the cached venv is rebuilt at the next start.
LOCALSTACK_VERSION=2026.3.0
PINS=("localstack-core[runtime]==$LOCALSTACK_VERSION" cbor2==5.9.0 service-identity==26.1.0)
# Docker's tag of the same release spells the month with two digits.
IMAGE=localstack/localstack:2026.03.0

source "$(dirname "${BASH_SOURCE[0]}")/../scripts/venv.sh"

STATE_DIR=${1:?usage: localstack/start.sh STATE_DIR}
ENDPOINT=http://127.0.0.1:4566
VENV=${VODNEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vodnest}/localstack-venv
mkdir -p "$STATE_DIR/pids" "$STATE_DIR/logs" "$STATE_DIR/localstack"
rm -f "$STATE_DIR/localstack.started"

s3_ready() {
    curl -fsS --max-time 2 "$ENDPOINT/_localstack/health" 2>/dev/null |
        grep -Eq '"s3": *"(available|running)"'
}

wait_ready() {
    for _ in $(seq 1 120); do
        if s3_ready; then return 0; fi
        if [[ -n ${1:-} ]] && ! kill -0 "$1" 2>/dev/null; then break; fi
        sleep 0.5
    done
    echo "LocalStack did not become ready; last lines of its log:" >&2
    tail -n 40 "$STATE_DIR/logs/localstack.log" >&2 2>/dev/null || true
    return 1
}

if s3_ready; then
    echo "    LocalStack already answers at $ENDPOINT"
    exit 0
fi

if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    docker rm -f vodnest-localstack >/dev/null 2>&1 || true
    docker run -d --name vodnest-localstack -p 127.0.0.1:4566:4566 \
        -e SERVICES=s3 -e S3_SKIP_SIGNATURE_VALIDATION=0 -e DISABLE_EVENTS=1 \
        "$IMAGE" >/dev/null
    wait_ready
    touch "$STATE_DIR/localstack.started"
    echo "    LocalStack started in Docker (container vodnest-localstack)"
    exit 0
fi

# Host mode: LocalStack needs Python >= 3.12.
find_python() {
    local candidate
    for candidate in python3.13 python3.12 python3; do
        if command -v "$candidate" >/dev/null &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    if command -v pyenv >/dev/null; then
        for candidate in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.(1[2-9])(\.|$)' | sort -rV); do
            PYENV_VERSION=$candidate pyenv which python 2>/dev/null && return 0
        done
    fi
    return 1
}

if ! has_pins "$VENV/bin/python" "${PINS[@]}"; then
    PYTHON=$(find_python) || {
        echo "LocalStack needs Python >= 3.12 (python3.12/3.13 on PATH or in pyenv) or a Docker engine." >&2
        exit 1
    }
    echo "    installing LocalStack $LOCALSTACK_VERSION into $VENV (about a minute)"
    make_venv "$VENV" "$PYTHON" "${PINS[@]}"
fi

# LocalStack's own certificate generation fails with the pyOpenSSL pip installs: give it one.
CERT="$STATE_DIR/localstack/server.pem"
if [[ ! -s $CERT ]]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=localhost.localstack.cloud \
        -keyout "$CERT.key" -out "$CERT.crt" >/dev/null 2>&1
    cat "$CERT.key" "$CERT.crt" >"$CERT"
    rm -f "$CERT.key" "$CERT.crt"
fi

# Loopback only. LocalStack's default server (twisted) binds GATEWAY_LISTEN's port on every
# IPv4 interface and drops its host (runtime/server/twisted.py: "TODO: interface = host?");
# hypercorn binds the host it is given. DNS_ADDRESS=0: no DNS server (it would bind
# 0.0.0.0:53 wherever an upstream resolver is found).
SERVICES=s3 GATEWAY_LISTEN=127.0.0.1:4566 GATEWAY_SERVER=hypercorn DNS_ADDRESS=0 \
    DISABLE_EVENTS=1 EAGER_SERVICE_LOADING=1 S3_SKIP_SIGNATURE_VALIDATION=0 \
    CUSTOM_SSL_CERT_PATH="$CERT" SKIP_SSL_CERT_DOWNLOAD=1 \
    setsid nohup "$VENV/bin/python" -m localstack.runtime.main \
    >"$STATE_DIR/logs/localstack.log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$STATE_DIR/pids/localstack.pid"
wait_ready "$pid"
touch "$STATE_DIR/localstack.started"
echo "    LocalStack started on the host (pid $pid, log $STATE_DIR/logs/localstack.log)"

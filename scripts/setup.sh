# Set-up steps shared by `./dev up` and `./dev test`. Each is idempotent and quick when
# already done. Sourced by ./dev, which defines REPO and STATE (= $REPO/.dev).

source "$REPO/scripts/venv.sh"

log() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

apt_install() {
    log "installing $* (apt)"
    export DEBIAN_FRONTEND=noninteractive
    if [[ ! -f $STATE/apt-updated ]] || [[ -n $(find "$STATE/apt-updated" -mmin +1440 2>/dev/null) ]]; then
        as_root apt-get -o DPkg::Lock::Timeout=600 update -qq
        touch "$STATE/apt-updated"
    fi
    as_root apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_packages() {
    local missing=()
    command -v ffmpeg >/dev/null || missing+=(ffmpeg)
    command -v chromium >/dev/null || missing+=(chromium)
    command -v node >/dev/null || missing+=(nodejs)
    command -v npm >/dev/null || missing+=(npm)
    command -v openssl >/dev/null || missing+=(openssl)
    command -v curl >/dev/null || missing+=(curl)
    command -v psql >/dev/null || missing+=(postgresql-client)
    if ((${#missing[@]})); then apt_install "${missing[@]}"; fi
    command -v cargo >/dev/null || die "cargo is missing: install Rust with rustup (https://rustup.rs)"
    command -v terraform >/dev/null ||
        die "terraform is missing: install Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install)"
}

pg_answers() { psql "$1" -Atqc 'select 1' >/dev/null 2>&1; }

# Uses DATABASE_URL when it answers; otherwise the local cluster, started (and installed) as
# needed. Ends with DATABASE_URL pointing at a `vodnest` database.
ensure_postgres() {
    log "Postgres"
    if [[ -n ${DATABASE_URL:-} ]] && pg_answers "$DATABASE_URL"; then
        return
    fi
    local password="" admin
    [[ -f $STATE/pgpassword ]] && password=$(<"$STATE/pgpassword")
    admin="postgres://postgres${password:+:$password}@127.0.0.1:5432/postgres"
    if ! pg_answers "$admin"; then
        if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
            apt_install postgresql
        fi
        local version
        version=$(ls /etc/postgresql | sort -V | tail -n 1)
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
        for _ in $(seq 1 30); do
            pg_isready -q -h 127.0.0.1 -p 5432 && break
            sleep 0.5
        done
        if ! pg_answers "$admin"; then
            # A stock Debian cluster wants a password over TCP: give the postgres role one.
            password=$(openssl rand -hex 16)
            as_root su postgres -c "psql -qc \"alter role postgres password '$password'\"" >/dev/null
            (umask 077 && echo "$password" >"$STATE/pgpassword")
            admin="postgres://postgres:$password@127.0.0.1:5432/postgres"
            pg_answers "$admin" || die "cannot connect to Postgres at 127.0.0.1:5432"
        fi
    fi
    if [[ $(psql "$admin" -Atqc "select 1 from pg_database where datname = 'vodnest'") != 1 ]]; then
        psql "$admin" -qc 'create database vodnest' >/dev/null
    fi
    DATABASE_URL=${admin%/postgres}/vodnest
}

ensure_localstack() {
    log "LocalStack (S3 on 127.0.0.1:4566)"
    "$REPO/localstack/start.sh" "$STATE"
}

# Terraform's CLI config: the offline provider mirror when this machine has one.
terraform_cli_config() {
    local rc=$STATE/terraform/cli.tfrc
    mkdir -p "$STATE/terraform/plugin-cache"
    # The cache lets every root (and every test's scratch copy) link the ~600 MB provider
    # instead of copying it.
    printf 'plugin_cache_dir = "%s"\n' "$STATE/terraform/plugin-cache" >"$rc"
    if [[ -d /opt/tf-plugins ]]; then
        printf 'provider_installation {\n  filesystem_mirror {\n    path = "/opt/tf-plugins"\n  }\n}\n' >>"$rc"
    else
        printf 'provider_installation {\n  direct {}\n}\n' >>"$rc"
    fi
    export TF_CLI_CONFIG_FILE=$rc
}

# Creates the buckets with the local Terraform root and reads the service settings from
# its outputs.
ensure_buckets() {
    log "buckets (terraform apply infra/terraform/environments/local)"
    terraform_cli_config
    local root=$REPO/infra/terraform/environments/local
    local tfstate=$STATE/terraform/local.tfstate
    export TF_DATA_DIR=$STATE/terraform/local-data
    # A LocalStack started just now holds nothing: old state would only slow the plan.
    [[ -f $STATE/localstack.started ]] && rm -f "$tfstate"
    terraform -chdir="$root" init -input=false -no-color >"$STATE/logs/terraform.log" 2>&1 ||
        { tail -n 30 "$STATE/logs/terraform.log" >&2; die "terraform init failed"; }
    # Bucket names carry a hash of this checkout's path: two checkouts on one machine (a CI
    # clone beside a working copy) share LocalStack without fighting over the same buckets.
    local prefix
    prefix="vodnest-$(printf '%s' "$REPO" | sha256sum | cut -c1-8)"
    local tf=(-input=false -no-color -state="$tfstate" -var "name_prefix=$prefix")
    if ! terraform -chdir="$root" apply -auto-approve "${tf[@]}" >>"$STATE/logs/terraform.log" 2>&1; then
        # A LocalStack that outlived this checkout's state (a re-cloned checkout at the same
        # path) still holds its buckets: adopt them, then apply again.
        grep -q BucketAlreadyExists "$STATE/logs/terraform.log" ||
            { tail -n 30 "$STATE/logs/terraform.log" >&2; die "terraform apply failed"; }
        log "adopting the buckets this path's earlier checkout left in LocalStack"
        local bucket
        for bucket in raw media; do
            terraform -chdir="$root" import "${tf[@]}" "module.storage.aws_s3_bucket.$bucket" \
                "$prefix-$bucket" >>"$STATE/logs/terraform.log" 2>&1 || true
        done
        terraform -chdir="$root" apply -auto-approve "${tf[@]}" >>"$STATE/logs/terraform.log" 2>&1 ||
            { tail -n 30 "$STATE/logs/terraform.log" >&2; die "terraform apply failed"; }
    fi
    local outputs
    outputs=$(terraform -chdir="$root" output -json -state="$tfstate")
    RAW_BUCKET=$(jq_field "$outputs" raw_bucket)
    MEDIA_BUCKET=$(jq_field "$outputs" media_bucket)
    MEDIA_BASE_URL=$(jq_field "$outputs" media_base_url)
}

# Reads `.NAME.value` of `terraform output -json` without needing jq.
jq_field() {
    node -e 'const o = JSON.parse(process.argv[1]); console.log(o[process.argv[2]].value)' "$1" "$2"
}

# moto (an AWS emulator) for the test that applies the whole AWS Terraform root, at a pinned
# version: the machine's python3 when it has exactly that, a venv cached across checkouts
# otherwise (rebuilt when the pin changes).
MOTO_PIN='moto[server]==5.2.1'

has_moto() { has_pins "$1" "$MOTO_PIN" && "$1" -c 'import moto.server, flask_cors' >/dev/null 2>&1; }

ensure_moto() {
    log "moto (AWS emulator for the Terraform test)"
    local venv=${VODNEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vodnest}/moto-venv
    if command -v python3 >/dev/null && has_moto "$(command -v python3)"; then
        MOTO_PYTHON=$(command -v python3)
        return
    fi
    if ! has_moto "$venv/bin/python"; then
        command -v python3 >/dev/null || apt_install python3 python3-venv
        make_venv "$venv" python3 "$MOTO_PIN" ||
            { apt_install python3-venv && make_venv "$venv" python3 "$MOTO_PIN"; }
    fi
    MOTO_PYTHON=$venv/bin/python
}

ensure_npm() {
    log "npm packages (hls.js, swagger-ui-dist, playwright-core, shaka-player, video.js)"
    if [[ ! -d $REPO/node_modules/hls.js || ! -d $REPO/node_modules/swagger-ui-dist ||
        ! -d $REPO/node_modules/playwright-core || ! -d $REPO/node_modules/shaka-player ||
        ! -d $REPO/node_modules/video.js ||
        $REPO/package-lock.json -nt $REPO/node_modules/.package-lock.json ]]; then
        (cd "$REPO" && npm ci --no-audit --no-fund --loglevel=error)
    fi
}

# The env file and the admin token hold secrets: readable by their owner only (umask 077 for
# new files, chmod for files an older run left readable).
write_env() {
    local token saved_umask
    saved_umask=$(umask)
    umask 077
    touch "$STATE/env"
    chmod 600 "$STATE/env"
    if [[ -n ${ADMIN_TOKEN:-} ]]; then
        token=$ADMIN_TOKEN
    else
        [[ -s $STATE/admin_token ]] || openssl rand -hex 16 >"$STATE/admin_token"
        chmod 600 "$STATE/admin_token"
        token=$(<"$STATE/admin_token")
    fi
    cat >"$STATE/env" <<ENV
export DATABASE_URL='$DATABASE_URL'
export AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_ENDPOINT_URL=http://127.0.0.1:4566
export RAW_BUCKET='$RAW_BUCKET'
export MEDIA_BUCKET='$MEDIA_BUCKET'
export MEDIA_BASE_URL='$MEDIA_BASE_URL'
export ADMIN_TOKEN='$token'
export API_ADDR=\${API_ADDR:-127.0.0.1:3000}
export GRPC_ADDR=\${GRPC_ADDR:-127.0.0.1:50051}
export VENDOR_DIR='$REPO/node_modules'
export TF_CLI_CONFIG_FILE='$TF_CLI_CONFIG_FILE'
export MOTO_PYTHON='$MOTO_PYTHON'
export OPENAPI_VALIDATOR='$OPENAPI_VALIDATOR'
export SCHEMATHESIS='$SCHEMATHESIS'
export CHROMIUM=\${CHROMIUM:-/usr/bin/chromium}
export RUST_LOG=\${RUST_LOG:-info}
# The local stack's webhooks may reach a receiver on this machine (production refuses loopback).
export WEBHOOK_ALLOW_LOOPBACK=true
ENV
    umask "$saved_umask"
}

# openapi-spec-validator, which the e2e test `openapi::` runs on the API's document: a venv
# cached across checkouts, at a pinned version.
OPENAPI_VALIDATOR_PIN='openapi-spec-validator==0.9.0'

ensure_openapi_validator() {
    log "openapi-spec-validator (checks the API's OpenAPI document)"
    local venv=${VODNEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vodnest}/openapi-venv
    if ! has_pins "$venv/bin/python" "$OPENAPI_VALIDATOR_PIN"; then
        command -v python3 >/dev/null || apt_install python3 python3-venv
        make_venv "$venv" python3 "$OPENAPI_VALIDATOR_PIN" ||
            { apt_install python3-venv && make_venv "$venv" python3 "$OPENAPI_VALIDATOR_PIN"; }
    fi
    OPENAPI_VALIDATOR=$venv/bin/openapi-spec-validator
}

# Schemathesis, which the e2e test `fuzzing::` runs against a test API: a venv cached across
# checkouts, at a pinned version (its CLI changed between major versions).
SCHEMATHESIS_PIN='schemathesis==4.32.5'

ensure_schemathesis() {
    log "schemathesis (fuzzes the API against its OpenAPI document)"
    local venv=${VODNEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vodnest}/schemathesis-venv
    if ! has_pins "$venv/bin/python" "$SCHEMATHESIS_PIN"; then
        command -v python3 >/dev/null || apt_install python3 python3-venv
        make_venv "$venv" python3 "$SCHEMATHESIS_PIN" ||
            { apt_install python3-venv && make_venv "$venv" python3 "$SCHEMATHESIS_PIN"; }
    fi
    SCHEMATHESIS=$venv/bin/schemathesis
}

setup() {
    mkdir -p "$STATE/logs" "$STATE/pids"
    ensure_packages
    ensure_postgres
    ensure_localstack
    ensure_buckets
    ensure_npm
    ensure_moto
    ensure_openapi_validator
    ensure_schemathesis
    write_env
}

# Python venvs cached across checkouts (`~/.cache/vodnest/NAME-venv`) that hold pinned packages:
# a venv whose packages are not the pinned versions (an older pin, a half-done install) is
# rebuilt. Sourced by localstack/start.sh and scripts/setup.sh.

# has_pins PYTHON SPEC...: whether PYTHON has each `name[extras]==version` installed.
has_pins() {
    local python=$1
    shift
    [[ -x $python ]] || python=$(command -v "$python") || return 1
    "$python" - "$@" >/dev/null 2>&1 <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version

for spec in sys.argv[1:]:
    name, _, pinned = spec.partition("==")
    try:
        installed = version(name.split("[")[0])
    except PackageNotFoundError:
        sys.exit(1)
    if installed != pinned:
        sys.exit(1)
PY
}

# make_venv VENV PYTHON SPEC...: a fresh VENV made with PYTHON, holding the pinned packages.
# Two set-ups at once (`./dev up` beside `./dev test`) take turns under a lock: the second finds
# the venv the first made and keeps it (rebuilding it under the first one's pip broke both).
make_venv() {
    local venv=$1 python=$2 lock rc=0
    shift 2
    mkdir -p "$(dirname "$venv")"
    exec {lock}>"$venv.lock"
    flock "$lock"
    if ! has_pins "$venv/bin/python" "$@"; then
        rm -rf "$venv"
        { "$python" -m venv "$venv" && "$venv/bin/pip" install --quiet "$@"; } || rc=$?
    fi
    exec {lock}>&-
    return "$rc"
}

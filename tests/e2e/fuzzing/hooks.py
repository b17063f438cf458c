"""Schemathesis hooks for `fuzzing::` (tests/e2e/tests/fuzzing.rs), loaded through
SCHEMATHESIS_HOOKS."""

import os
import uuid

import schemathesis

# The id of the key the run is made with. The fuzzer reads it from `GET /api/v1/keys` and
# would revoke it, after which every request is a 401 and the rest of the run tests nothing.
OWN_KEY = os.environ.get("VODNEST_FUZZ_KEY_ID")


@schemathesis.hook
def before_call(context, case, kwargs):
    if (
        OWN_KEY
        and case.method.upper() == "DELETE"
        and case.operation.path.endswith("/keys/{id}")
        and str((case.path_parameters or {}).get("id")) == OWN_KEY
    ):
        case.path_parameters["id"] = str(uuid.uuid4())

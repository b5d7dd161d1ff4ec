"""Which requests the OpenAPI document calls valid does the API refuse? (issue 14's measure)

    .venv/bin/python scripts/openapi_acceptance.py [--examples 25] [--show 3]

Generates schema-valid requests (schemathesis, positive mode) for every documented operation against the
app in-process, on a fresh SQLite database and its own Redis server, and prints each operation that
answered 400, 405, 406, 415 or 422 to any of them (schemathesis' positive-data-acceptance check allows
the others), with its distinct messages. A refusal here means a rule the document does not tell:
describe it in the schema where Swagger 2.0 can, or in the route's description where it cannot
(cross-field rules, state such as an existing name, one-of-several-fields documents).
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REFUSED = (400, 405, 406, 415, 422)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=25, help="generated requests per operation")
    parser.add_argument("--show", type=int, default=3, help="distinct messages shown per operation")
    args = parser.parse_args()

    from bench.processes import BIN, free_port, wait_port

    var = Path(tempfile.mkdtemp(prefix="scale-openapi-"))
    port = free_port()
    os.environ.update(SCALE_VAR_DIR=str(var), REDIS_URL=f"redis://127.0.0.1:{port}/0", LOG_LEVEL="ERROR")
    redis = subprocess.Popen(
        [str(BIN / "redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(var)],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        return probe(args.examples, args.show)
    finally:
        redis.terminate()
        redis.wait(10)


def probe(examples: int, show: int) -> int:
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings

    from app.migrate import migrate
    from app.settings import settings as scale_settings

    scale_settings.reload()
    migrate()
    from api import create_app

    app = create_app()
    app.config["TESTING"] = True
    schema = schemathesis.openapi.from_wsgi("/swagger.json", app)
    refused: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        strategy = operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE)

        @given(case=strategy)
        @settings(
            max_examples=examples,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
        )
        def run(case):
            nonlocal sent
            label = case.operation.label
            sent += 1
            try:
                response = case.call()
            except Exception as exc:  # noqa: BLE001 - a server error is a finding too
                refused[label][f"raised {type(exc).__name__}: {str(exc)[:120]}"] += 1
                return
            if response.status_code in REFUSED:
                try:
                    message = response.json()["message"]
                except Exception:  # noqa: BLE001 - not JSON: show the start of the body
                    message = response.text
                refused[label][f"{response.status_code} {message[:120]}"] += 1

        run()
    total = sum(sum(c.values()) for c in refused.values())
    for label, messages in sorted(refused.items()):
        print(f"{label}: {sum(messages.values())} refused")
        for message, count in messages.most_common(show):
            print(f"    {count} x {message!r}")
    print(f"{total} of {sent} schema-valid requests refused, in {len(refused)} operations")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Entry point of a benchmark's child process: ``python -m benchmarks.child module:function '{"kw": ...}'``.

Runs the function in this fresh process and prints its JSON-able result on one line after
:data:`benchmarks.common.RESULT_MARKER` (other output may precede it).
"""

from __future__ import annotations

import importlib
import json
import sys

from benchmarks.common import RESULT_MARKER


def main(argv: list[str]) -> None:
    target, payload = argv
    module, name = target.split(":")
    result = getattr(importlib.import_module(module), name)(**json.loads(payload))
    print(RESULT_MARKER + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

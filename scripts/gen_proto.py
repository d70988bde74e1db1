"""Generate supreme/_proto/ from proto/supreme/v1/*.proto. The one way to produce that code.

    python scripts/gen_proto.py            # regenerate in place
    python scripts/gen_proto.py --out DIR  # generate elsewhere (the staleness test does this)

protoc names modules after the proto package (``supreme.v1``); the generated imports are
rewritten to point into ``supreme._proto``, so the generated code lives in one box and no
top-level ``supreme.v1`` package is needed.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PROTO_DIR = PROTO_ROOT / "supreme" / "v1"
DEFAULT_OUT = ROOT / "supreme" / "_proto"

_IMPORT = re.compile(r"^from supreme\.v1 import (\w+) as", re.MULTILINE)

_INIT = '''"""Generated protobuf and gRPC code for the supreme.v1 API. Do not edit: run
``make proto`` (scripts/gen_proto.py). Imported by supreme.server, supreme.client and the shard
data plane (supreme.workers.dataplane)."""
'''


def proto_files() -> list[Path]:
    return sorted(PROTO_DIR.glob("*.proto"))


def generate(out: Path) -> list[Path]:
    """Write the generated modules into ``out`` (created or emptied) and return their paths."""
    well_known = resources.files("grpc_tools") / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{well_known}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            *(str(p.relative_to(PROTO_ROOT)) for p in proto_files()),
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        generated = Path(tmp) / "supreme" / "v1"
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        written = []
        for source in sorted(generated.iterdir()):
            if source.suffix not in (".py", ".pyi"):
                continue
            text = _IMPORT.sub(r"from supreme._proto import \1 as", source.read_text())
            target = out / source.name
            target.write_text(text)
            written.append(target)
        (out / "__init__.py").write_text(_INIT)
        written.append(out / "__init__.py")
        return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    written = generate(args.out)
    print(f"generated {len(written)} files in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()

"""The checked-in supreme/_proto must be what scripts/gen_proto.py makes from proto/."""

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Lines that carry the generator's own version, which may move with a tooling upgrade without
# the API changing.
_VERSION_LINES = re.compile(
    r"^(# Protobuf Python Version:.*|GRPC_GENERATED_VERSION = .*|\s+\d+,)$", re.MULTILINE
)


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_proto", ROOT / "scripts" / "gen_proto.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _normalised(path: Path) -> str:
    return _VERSION_LINES.sub("", path.read_text())


def test_generated_code_is_fresh(tmp_path):
    generator = _load_generator()
    fresh = {p.name: p for p in generator.generate(tmp_path / "out")}
    checked_in = {p.name: p for p in (ROOT / "supreme" / "_proto").iterdir() if p.is_file()}
    assert sorted(fresh) == sorted(checked_in), "run `make proto`: the set of files differs"
    stale = [n for n in fresh if _normalised(fresh[n]) != _normalised(checked_in[n])]
    assert not stale, f"run `make proto`: {stale} differ from proto/"


def test_every_proto_has_generated_modules():
    generator = _load_generator()
    names = {p.stem for p in generator.proto_files()}
    assert {"common", "market_data", "strategy", "order", "risk", "backtest"} <= names
    for name in names:
        assert (ROOT / "supreme" / "_proto" / f"{name}_pb2.py").exists()

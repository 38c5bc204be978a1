"""Shared test fixtures.

The reference oracles and development data live in ../shared beside the repository (read-only,
never copied in). Where they are missing, tests that need them are skipped, except under CI
(CI=true or MAKEITTALK_REQUIRE_SHARED=1), where a missing folder is an error: CI must never
go green by skipping the equivalence tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("MAKEITTALK_SHARED", REPO_ROOT.parent / "shared")).resolve()
REFERENCE_DIR = SHARED_DIR / "reference" / "makeittalk"
DATA_DIR = SHARED_DIR / "data"


def _require(path: Path) -> Path:
    if path.exists():
        return path
    if os.environ.get("CI") == "true" or os.environ.get("MAKEITTALK_REQUIRE_SHARED") == "1":
        pytest.fail(f"{path} is missing: CI needs ../shared beside the clone")
    pytest.skip(f"{path} is not available (set MAKEITTALK_SHARED to the shared folder)")
    raise AssertionError  # unreachable


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The folder of original-MakeItTalk test oracles."""
    return _require(REFERENCE_DIR)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The development data folder (speech, lips, talking)."""
    return _require(DATA_DIR)


@pytest.fixture(autouse=True)
def _isolated_weights_home(tmp_path_factory, monkeypatch):
    """Keep tests away from the user's real weights store."""
    home = tmp_path_factory.mktemp("makeittalk_home")
    monkeypatch.setenv("MAKEITTALK_HOME", str(home))
    yield home


@pytest.fixture
def no_shipped_weights(tmp_path_factory, monkeypatch) -> Path:
    """An installation without its shipped weights: $MAKEITTALK_PRETRAINED names an empty folder.

    The repository ships `pretrained/default`; tests of what happens without any weight set (a
    broken install, or MAKEITTALK_PRETRAINED pointing elsewhere) use this. With no manifest.json
    there, the store reads "no default, no files" (store.read_manifest).
    """
    folder = tmp_path_factory.mktemp("pretrained")  # not in tmp_path: tests may check what they wrote there
    monkeypatch.setenv("MAKEITTALK_PRETRAINED", str(folder))
    return folder


@pytest.fixture(scope="module")
def ctx():
    """One headless moderngl context per test module (creating one costs ~50 ms on llvmpipe)."""
    from renderer import create_context

    context = create_context()
    yield context
    context.release()


@pytest.fixture(scope="module")
def toon():
    """The project's drawn cartoon face (256 px, transparent background) with known landmarks."""
    from renderer.synthetic import draw_cartoon_face

    return draw_cartoon_face(256, transparent=True)


def pytest_sessionfinish(session, exitstatus):
    """Add the largest difference each oracle comparison saw (tests/tolerances.py) to a report.

    One file per kernel choice, test-artifacts/reference_differences-<torch>-<openblas>.json,
    merged across runs (the fast and the slow suite), so a report can quote the figures.
    """
    import json

    from tolerances import largest_differences

    seen = largest_differences()
    artifacts = REPO_ROOT / "test-artifacts"
    if not seen or not artifacts.is_dir():
        return
    kernels = [os.environ.get("ATEN_CPU_CAPABILITY", "native"), os.environ.get("OPENBLAS_CORETYPE", "native")]
    path = artifacts / f"reference_differences-{kernels[0]}-{kernels[1]}.json".lower()
    merged = json.loads(path.read_text()) if path.exists() else {}
    for what, entry in seen.items():
        old = merged.get(what)
        if old is not None:
            entry = {**entry, **{k: max(entry[k], old[k]) for k in ("max_abs", "share_of_tolerance")}}
        merged[what] = entry
    path.write_text(json.dumps(merged, indent=1, sort_keys=True) + "\n")

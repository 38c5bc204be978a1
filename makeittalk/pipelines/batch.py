"""Batch rendering from a manifest: resumable, shardable, robust, with models loaded once.

Manifest formats (chosen by the suffix):

* CSV (`.csv`, or `.tsv` tab-separated) with a header row. Required columns: `portrait`,
  `audio`, `output`; optional ones: the OPTION_COLUMNS below. Empty cells use the defaults.
* JSON Lines (`.jsonl`, `.ndjson`): one object per line with the same keys. Blank lines and
  lines starting with `#` are skipped.

Relative paths in a manifest are relative to the manifest's folder. Options given on the
command line are the defaults of every row; a row's own values win.

Behaviour: jobs run in manifest order; a job whose output exists is skipped unless
`overwrite` (so an interrupted batch resumes where it stopped); `shard=(i, n)` runs only the
rows whose 0-based index j has j % n == i - 1 (i counts from 1), so n processes split a
manifest without overlap; a failing job is reported and the batch goes on; one TalkingHead
per weight set serves every job, so networks load once and a portrait used with many audios
is prepared once.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from makeittalk.errors import MakeItTalkError

__all__ = [
    "OPTION_COLUMNS",
    "BatchJob",
    "JobResult",
    "ManifestError",
    "parse_shard",
    "read_manifest",
    "run_batch",
    "select_shard",
    "summary_table",
]

REQUIRED_COLUMNS = ("portrait", "audio", "output")
# column -> kind; kinds: path, str, float, int, bool
OPTION_COLUMNS: dict[str, str] = {
    "renderer": "str",
    "fps": "float",
    "seed": "int",
    "still": "bool",
    "pose_scale": "float",
    "lip_scale": "float",
    "blink": "bool",
    "no_blink": "bool",
    "blink_rate": "float",
    "background": "background",
    "size": "str",
    "format": "str",
    "face_landmarks": "path",
    "save_landmarks": "path",
    "weights": "str",
    "detector": "str",
}
_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"0", "false", "no", "n", "off"}


class ManifestError(MakeItTalkError):
    """A manifest that cannot be read as a whole (missing file, header or columns)."""


@dataclass
class BatchJob:
    """One manifest row: 0-based `index`, its `line` in the file, paths and per-row options.

    `problem` is set when the row itself is unusable (bad value, duplicate output); the job
    then fails with that message without stopping the batch.
    """

    index: int
    line: int
    portrait: Path | None
    audio: Path | None
    output: Path | None
    options: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None

    @property
    def label(self) -> str:
        return str(self.output) if self.output is not None else f"line {self.line}"


@dataclass
class JobResult:
    job: BatchJob
    status: str  # "ok", "skipped", "failed"
    seconds: float = 0.0
    message: str = ""
    renderer: str = ""


# --------------------------------------------------------------------------------------------
# manifests


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """"i/n" with 1 <= i <= n -> (i, n); None -> None."""
    if text is None:
        return None
    try:
        left, right = str(text).split("/", 1)
        i, n = int(left), int(right)
    except ValueError:
        raise MakeItTalkError(f"--shard {text!r}: use I/N, e.g. 1/4 for the first of four shards") from None
    if n < 1 or not 1 <= i <= n:
        raise MakeItTalkError(f"--shard {text!r}: need 1 <= I <= N (shards count from 1), e.g. 1/4 ... 4/4")
    return i, n


def select_shard(jobs: Iterable[BatchJob], shard: tuple[int, int] | None) -> list[BatchJob]:
    jobs = list(jobs)
    if shard is None:
        return jobs
    i, n = shard
    return [job for job in jobs if job.index % n == i - 1]


def _convert(column: str, kind: str, value: Any, base: Path) -> Any:
    if isinstance(value, str):
        value = value.strip()
        if value == "":
            return None
    if value is None:
        return None
    if kind == "path":
        path = Path(str(value)).expanduser()
        return path if path.is_absolute() else base / path
    if kind == "background":
        text = str(value)
        candidate = Path(text).expanduser()
        if not candidate.is_absolute():
            candidate = base / candidate
        from makeittalk.pipelines.preflight import looks_like_image_path

        if looks_like_image_path(candidate):
            return candidate
        return text
    if kind == "float":
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{column} {value!r} is not a number") from None
    if kind == "int":
        try:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        except (TypeError, ValueError):
            raise ValueError(f"{column} {value!r} is not a whole number") from None
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"{column} {value!r} is not true/false")
    return str(value)


def _rows(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ManifestError(f"manifest {path} not found; check the path") from None
    except IsADirectoryError:
        raise ManifestError(f"{path} is a folder; give a manifest file (.csv or .jsonl)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"manifest {path} cannot be read ({exc}); save it as UTF-8 text") from None
    if suffix in (".jsonl", ".ndjson"):
        for number, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            try:
                data = json.loads(stripped)
            except json.JSONDecodeError as exc:
                yield number, {"__error__": f"not valid JSON ({exc.msg})"}
                continue
            if not isinstance(data, dict):
                yield number, {"__error__": "each line must be a JSON object"}
                continue
            yield number, data
        return
    if suffix in (".csv", ".tsv"):
        delimiter = "\t" if suffix == ".tsv" else ","
        reader = csv.reader(text.splitlines(), delimiter=delimiter)
        header: list[str] | None = None
        for number, cells in enumerate(reader, 1):
            if not cells or all(not c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
                continue
            if header is None:
                header = [c.strip().lower().replace("-", "_") for c in cells]
                missing = [c for c in REQUIRED_COLUMNS if c not in header]
                if missing:
                    raise ManifestError(
                        f"{path} line {number}: the header lacks {', '.join(missing)}; the first row must name the "
                        f"columns, e.g. 'portrait,audio,output' (optional: {', '.join(OPTION_COLUMNS)})"
                    )
                _check_columns(path, header, number)
                continue
            if len(cells) > len(header):
                yield number, {"__error__": f"{len(cells)} cells but the header has {len(header)} columns"}
                continue
            yield number, dict(zip(header, cells))
        if header is None:
            raise ManifestError(f"{path} is empty; it needs a header row 'portrait,audio,output' and one row per video")
        return
    raise ManifestError(f"{path}: a manifest is .csv, .tsv or .jsonl (one JSON object per line)")


def _check_columns(path: Path, columns: Iterable[str], number: int) -> None:
    known = set(REQUIRED_COLUMNS) | set(OPTION_COLUMNS)
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise ManifestError(
            f"{path} line {number}: unknown column(s) {', '.join(unknown)}; known: "
            f"{', '.join(REQUIRED_COLUMNS + tuple(OPTION_COLUMNS))}"
        )


def read_manifest(path: str | Path) -> list[BatchJob]:
    """The jobs of a manifest, in order (see the module docstring for the formats)."""
    path = Path(path)
    base = path.resolve().parent
    jobs: list[BatchJob] = []
    seen: dict[str, int] = {}
    for number, row in _rows(path):
        index = len(jobs)
        if "__error__" in row:
            jobs.append(BatchJob(index, number, None, None, None, problem=f"line {number}: {row['__error__']}"))
            continue
        row = {str(k).strip().lower().replace("-", "_"): v for k, v in row.items()}
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            unknown = [k for k in row if k not in REQUIRED_COLUMNS and k not in OPTION_COLUMNS]
            if unknown:
                jobs.append(BatchJob(index, number, None, None, None,
                                     problem=f"line {number}: unknown key(s) {', '.join(unknown)}"))
                continue
        problem = None
        values: dict[str, Any] = {}
        for column in REQUIRED_COLUMNS:
            value = _convert(column, "path", row.get(column), base)
            if value is None:
                problem = problem or f"line {number}: {column} is empty"
            values[column] = value
        options: dict[str, Any] = {}
        for column, kind in OPTION_COLUMNS.items():
            if column not in row:
                continue
            try:
                value = _convert(column, kind, row[column], base)
            except ValueError as exc:
                problem = problem or f"line {number}: {exc}"
                continue
            if value is not None:
                options[column] = value
        output = values["output"]
        if output is not None and problem is None:
            key = str(output.resolve())
            if key in seen:
                problem = f"line {number}: output {output} is also the output of line {seen[key]}"
            else:
                seen[key] = number
        jobs.append(BatchJob(index, number, values["portrait"], values["audio"], output, options, problem))
    return jobs


# --------------------------------------------------------------------------------------------
# running

_RENDER_KEYS = {
    "renderer": "renderer", "fps": "fps", "seed": "seed", "still": "still", "pose_scale": "pose_scale",
    "lip_scale": "lip_scale", "blink": "blink", "blink_rate": "blink_rate", "background": "background",
    "size": "size", "format": "video_format", "face_landmarks": "face_landmarks",
    "save_landmarks": "save_landmarks", "detector": "detector",
    # command-line only (not manifest columns)
    "batch_size": "batch_size", "precision": "precision",
}


def render_options(defaults: dict[str, Any], job: BatchJob) -> tuple[str, dict[str, Any]]:
    """(weights, keyword arguments of TalkingHead.render) for a job: defaults, then the row."""
    merged = dict(defaults)
    merged.update(job.options)
    if merged.pop("no_blink", False):
        merged["blink"] = False
    weights = str(merged.pop("weights", "default"))
    kwargs = {_RENDER_KEYS[k]: v for k, v in merged.items() if k in _RENDER_KEYS and v is not None}
    return weights, kwargs


def result_collector(on_result: Callable[[JobResult], None] | None) -> tuple[list[JobResult], Callable[[JobResult], None]]:
    """(results, record): record(result) appends to results and passes it to on_result."""
    results: list[JobResult] = []

    def record(result: JobResult) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    return results, record


def settled_without_rendering(job: BatchJob, overwrite: bool) -> JobResult | None:
    """The result of a row that needs no rendering (unusable, or its output exists), else None."""
    if job.problem is not None:
        return JobResult(job, "failed", 0.0, job.problem)
    if job.output.exists() and not overwrite:
        return JobResult(job, "skipped", 0.0, "output exists (pass --overwrite to render it again)")
    return None


def run_batch(
    jobs: Iterable[BatchJob],
    *,
    head_for: Callable[[str], Any],
    defaults: dict[str, Any] | None = None,
    overwrite: bool = False,
    progress_for: Callable[[BatchJob], Any] | None = None,
    on_result: Callable[[JobResult], None] | None = None,
    on_start: Callable[[BatchJob], None] | None = None,
) -> list[JobResult]:
    """Run `jobs`; `head_for(weights)` returns the (cached) TalkingHead for a weight set.

    KeyboardInterrupt stops the batch (the running job leaves no partial file) and
    propagates after the results so far have been passed to `on_result`.
    """
    defaults = dict(defaults or {})
    results, record = result_collector(on_result)

    for job in jobs:
        settled = settled_without_rendering(job, overwrite)
        if settled is not None:
            record(settled)
            continue
        if on_start is not None:
            on_start(job)
        started = time.perf_counter()
        try:
            weights, kwargs = render_options(defaults, job)
            head = head_for(weights)
            progress = progress_for(job) if progress_for is not None else None
            try:
                result = head.render(job.portrait, job.audio, job.output, overwrite=overwrite,
                                     progress=progress, **kwargs)
            finally:
                close = getattr(progress, "close", None)
                if close is not None:
                    close()
        except MakeItTalkError as exc:
            record(JobResult(job, "failed", time.perf_counter() - started, str(exc)))
        except KeyboardInterrupt:
            record(JobResult(job, "failed", time.perf_counter() - started, "interrupted"))
            raise
        except Exception as exc:  # noqa: BLE001 - one broken job must not stop the batch
            record(JobResult(job, "failed", time.perf_counter() - started,
                             f"internal error: {type(exc).__name__}: {exc}"))
        else:
            record(JobResult(job, "ok", time.perf_counter() - started,
                             f"{result.num_frames} frames, RTF {result.realtime_factor:.2f}", result.renderer))
    return results


def summary_table(results: list[JobResult]) -> str:
    """A plain-text table: line, status, seconds, renderer, output, message; then the totals."""
    rows = [("line", "status", "seconds", "renderer", "output", "message")]
    for r in results:
        rows.append((str(r.job.line), r.status, f"{r.seconds:.1f}", r.renderer or "-",
                     str(r.job.output) if r.job.output is not None else "-", r.message))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for row in rows:
        cells = [row[i].ljust(widths[i]) for i in range(5)] + [row[5]]
        lines.append("  ".join(cells).rstrip())
    counts = {status: sum(1 for r in results if r.status == status) for status in ("ok", "skipped", "failed")}
    lines.append(f"{len(results)} job(s): {counts['ok']} rendered, {counts['skipped']} skipped, "
                 f"{counts['failed']} failed")
    return "\n".join(lines)

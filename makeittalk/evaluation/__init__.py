"""Evaluation of landmark animation against real talking-face videos (`makeittalk eval`).

* `metrics`: D-LL, D-VL, D-A, D-L, D-V, D-Rot, D-Pos and the lagged mouth-opening correlation
  (pure NumPy; the exact definitions are in its docstring);
* `baselines`: the static-face and audio-RMS mouth baselines;
* `runner`: clip discovery, ground truth, predictions, the table and the JSON report.
"""

from makeittalk.evaluation.baselines import rms_baseline, static_baseline
from makeittalk.evaluation.metrics import DEFINITIONS, METRIC_NAMES, evaluate_sequence
from makeittalk.evaluation.runner import discover_clips, format_table, report_json, run_evaluation

__all__ = [
    "DEFINITIONS",
    "METRIC_NAMES",
    "discover_clips",
    "evaluate_sequence",
    "format_table",
    "report_json",
    "rms_baseline",
    "run_evaluation",
    "static_baseline",
]

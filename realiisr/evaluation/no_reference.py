"""The no-reference columns of the benchmark: scores of an output frame alone, for methods that may invent
texture that full-reference scores punish and a no-reference score may reward.

- ``niqe_thermal`` always, and ``niqe`` given the standard model's file (:mod:`realiisr.evaluation.niqe`);
- ``brisque`` from the ``brisque`` wheel's SVR (:mod:`realiisr.evaluation.brisque`), with OpenCV;
- pyiqa's learned scores (``musiq``, ``clipiqa``) when their weights are in the local torch hub folder.

Whatever cannot be built is returned with its reason, for the table's notes; nothing is downloaded.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

__all__ = ["LEARNED", "no_reference_metrics"]

#: pyiqa no-reference metrics the benchmark asks for (MUSIQ is the paper's; CLIP-IQA as in recent SR papers).
LEARNED = ("musiq", "clipiqa")


def no_reference_metrics(standard_niqe: Optional[Union[str, Path]] = None, *,
                         brisque_model: Optional[Union[str, Path]] = None,
                         learned: Sequence[str] = LEARNED) -> tuple[dict[str, Callable[[Any], float]], dict[str, str]]:
    """``(scorers, unavailable)``: name → score of a ``[1, h, w]`` frame in [0, 1], and name → why it is absent.

    ``brisque_model``: a folder with ``svm.txt`` and ``normalize.pickle`` (default: the installed wheel's).
    """
    from realiisr.evaluation.evaluate import load_metrics
    from realiisr.evaluation.niqe import no_reference_scores

    scorers = no_reference_scores(standard_niqe)
    unavailable: dict[str, str] = {}
    if standard_niqe is None:
        unavailable["niqe"] = "the standard model's file was not given (--niqe-model)"
    try:
        import cv2  # noqa: F401  (BRISQUE's filters and resize are OpenCV's, as in the model's training)

        from realiisr.evaluation.brisque import brisque, load_model

        model = load_model(brisque_model)
        scorers["brisque"] = lambda frame: brisque(frame, model)
    except (ImportError, FileNotFoundError, ValueError) as exc:
        unavailable["brisque"] = str(exc)
    loaded, missing = load_metrics(list(learned)) if learned else ({}, {})
    unavailable.update(missing)
    for name, metric in loaded.items():
        scorers[name] = lambda frame, metric=metric: float(metric(frame[None].float().clamp(0, 1)))
    return scorers, unavailable

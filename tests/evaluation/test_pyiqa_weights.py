"""pyiqa metrics are built only from local weight files: a missing one is named, nothing is downloaded."""
from __future__ import annotations

import pytest

from realiisr.evaluation.pyiqa_weights import WEIGHT_FILES, missing_weights


def test_missing_weights_names_the_file(tmp_path):
    assert missing_weights("psnr", hub=tmp_path) is None
    reason = missing_weights("lpips", hub=tmp_path)
    assert reason.startswith("weights not found") and str(tmp_path / WEIGHT_FILES["lpips"][0]) in reason
    for relative in WEIGHT_FILES["lpips"]:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(b"")
    assert missing_weights("lpips", hub=tmp_path) is None
    assert "not known to realiisr" in missing_weights("topiq_nr", hub=tmp_path)


def test_no_reference_metrics_report_what_is_absent(tmp_path, monkeypatch):
    pytest.importorskip("pyiqa")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty hub: the learned metrics cannot load
    from realiisr.evaluation.no_reference import no_reference_metrics

    scorers, unavailable = no_reference_metrics()
    assert "niqe_thermal" in scorers and "niqe" in unavailable
    for name in ("musiq", "clipiqa"):
        assert name not in scorers and str(tmp_path) in unavailable[name]

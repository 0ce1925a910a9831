"""``auto`` decides per device, instruction set and shape where the measurements say so."""
from __future__ import annotations

import pytest
import torch

from realiisr.ops import _dispatch, extension_state, toc_loss, use_backend

fused_only = pytest.mark.skipif(not extension_state().loaded, reason="needs the compiled extension")
CPU = torch.device("cpu")


@fused_only
@pytest.mark.parametrize("avx2_only", [False, True])
def test_avx2_only_cpus_keep_eager_where_it_measured_faster(monkeypatch, avx2_only):
    monkeypatch.setattr(_dispatch, "_cpu_is_avx2_only", lambda: avx2_only)
    monkeypatch.setattr(_dispatch, "_cpu_has_avx2", lambda: True)
    slow = "eager" if avx2_only else "fused"
    assert _dispatch.choose_backend("toc_loss", CPU, with_grad=True)[0] == slow
    assert _dispatch.choose_backend("toc_loss", CPU, with_grad=False)[0] == "fused"  # forward alone wins (2.0x)
    assert _dispatch.choose_backend("scale_attention", CPU, tokens=258)[0] == slow  # the tiny training shape
    assert _dispatch.choose_backend("scale_attention", CPU, tokens=2049)[0] == "fused"  # full sequence wins
    assert _dispatch.choose_backend("cac_embedding", CPU, with_grad=True)[0] == "fused"  # 2.5x there
    if avx2_only:
        assert "0.83x" in _dispatch.choose_backend("toc_loss", CPU, with_grad=True)[1]
    with use_backend("fused"):
        assert _dispatch.choose_backend("toc_loss", CPU, with_grad=True)[0] == "fused"  # forcing still works
    assert _dispatch.choose_backend("toc_loss", torch.device("cuda"), with_grad=True)[0] in ("fused", "eager")


@fused_only
def test_the_rule_reaches_the_op(monkeypatch):
    """A TOC loss that will be differentiated runs the eager reference on an AVX2-only CPU, the kernel without
    a gradient; the values agree either way."""
    import sys

    module = sys.modules["realiisr.ops.toc_loss"]  # the package's toc_loss attribute is the function

    calls = []
    real = module.toc_loss_map_reference
    monkeypatch.setattr(module, "toc_loss_map_reference", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    monkeypatch.setattr(_dispatch, "_cpu_is_avx2_only", lambda: True)
    sr, hr = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    plain = toc_loss(sr, hr)
    assert not calls
    trained = toc_loss(sr.clone().requires_grad_(), hr)
    assert calls == [1]
    torch.testing.assert_close(plain, trained.detach(), atol=1e-6, rtol=1e-6)


def test_max_cpu_isa_env_marks_the_cpu_avx2_only(monkeypatch):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    monkeypatch.setenv("REALIISR_MAX_CPU_ISA", "avx2")
    assert _dispatch._cpu_is_avx2_only()
    monkeypatch.setenv("REALIISR_MAX_CPU_ISA", "baseline")
    assert not _dispatch._cpu_has_avx2()


@pytest.mark.parametrize("aten, cap, expected", [
    ("AVX512", "", "avx512"), ("AVX512", "avx2", "avx2"), ("AVX512", "baseline", "baseline"),
    ("AVX2", "", "avx2"), ("AVX2", "avx512", "avx2"), ("DEFAULT", "avx2", "baseline"), ("AVX2", "junk", "avx2"),
])
def test_cpu_vector_isa_is_aten_capped_by_the_env(monkeypatch, aten, cap, expected):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: aten)
    monkeypatch.setenv("REALIISR_MAX_CPU_ISA", cap)
    assert _dispatch.cpu_vector_isa() == expected

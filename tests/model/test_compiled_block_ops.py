"""The VAR blocks' small ops through ``torch.compile`` (:mod:`realiisr.generators.block_ops`)."""
from __future__ import annotations

import shutil

import pytest
import torch

import realiisr
import realiisr.generators.blocks as blocks
from realiisr.generators.block_ops import _apply_rope_real, apply_rope
from realiisr.generators.blocks import rope_angles

needs_compiler = pytest.mark.skipif(
    not any(shutil.which(cc) for cc in ("c++", "g++", "clang++")), reason="torch.compile on a CPU needs a C++ compiler")


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return realiisr.build("real_iisr_x4_tiny").eval()


def test_real_and_complex_rope_agree():
    angles = rope_angles(16, [1, 2, 3])
    x = torch.randn(2, 4, 14, 16, dtype=torch.float64).float()
    torch.testing.assert_close(_apply_rope_real(x, angles.cos(), angles.sin()),
                               apply_rope(x, angles.cos(), angles.sin()), rtol=1e-6, atol=1e-6)


@needs_compiler
def test_compiled_small_ops_generate_what_eager_does(tiny):
    """Compiled (fused elementwise kernels, other roundings) against eager: logits of every scale to 1e-4 and
    the same tokens, through the plain and the static (CUDA-graph) generation paths."""
    lr = torch.rand(2, 3, 128, 128, generator=torch.Generator().manual_seed(3)) * 2 - 1
    eager = tiny.sample(lr, cfg=1.5, return_details=True)
    tiny.generator.compile_small_ops()
    try:
        for graphs in (False, True):
            compiled = tiny.sample(lr, cfg=1.5, return_details=True, cuda_graphs=graphs)
            for a, b in zip(eager["logits"], compiled["logits"], strict=True):
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
            for a, b in zip(eager["indices"], compiled["indices"], strict=True):
                assert torch.equal(a, b)
    finally:
        tiny.generator.compile_small_ops(False)
        tiny.generator.release_graphs()


def test_training_ignores_the_compiled_form(tiny, monkeypatch):
    """With gradients the blocks stay eager (the compiled functions are built for inference only)."""
    def refuse():
        raise AssertionError("compiled block ops used with gradients")

    monkeypatch.setattr(blocks, "compiled_block_ops", refuse)
    model = realiisr.build("real_iisr_x4_tiny")
    model.generator.compile_small_ops()
    lr = torch.rand(2, 3, 128, 128) * 2 - 1
    losses = model.training_losses(lr, lr)
    losses["total"].backward()
    assert model.generator.blocks[0].attn.mat_qkv.weight.grad is not None
    with torch.no_grad(), pytest.raises(AssertionError, match="compiled block ops used"):
        model.eval().sample(lr)

"""Generation from per-scale static passes (:class:`realiisr.generators.scale_graphs.ScaleGraphs`).

On a CPU the static-buffer path runs eagerly: these tests check that it gives the eager generation's very
numbers, keeps no state from one sample to the next, keys its captures correctly and leaves the loop free of
host synchronisations. The capture itself is checked by the CUDA test (run by benchmarks/device_check.sh).
"""
from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import realiisr
from realiisr.generators.scale_graphs import ScaleGraphs

#: ATen ops that wait for the device on CUDA (a value or a data-dependent shape read back by the host).
HOST_SYNC_OPS = {"_local_scalar_dense", "item", "nonzero", "is_nonzero", "equal", "allclose", "masked_select",
                 "unique", "_unique2", "unique_consecutive", "repeat_interleave"}


class HostSyncSpy(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.syncs: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.__name__.split(".")[0]
        boolean_index = name == "index" and any(
            t is not None and t.dtype == torch.bool for t in (args[1] if len(args) > 1 else ()))
        if name in HOST_SYNC_OPS or boolean_index:
            self.syncs.append(func.__name__)
        return func(*args, **(kwargs or {}))


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return realiisr.build("real_iisr_x4_tiny").eval()


def _lr(model, batch, seed):
    size = model.tokenizer.image_size
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _sample(model, lr, dtype, graphs, **settings):
    with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        return model.sample(lr, return_details=True, cuda_graphs=graphs, **settings)


@pytest.mark.parametrize("dtype", [None, torch.bfloat16])
@pytest.mark.parametrize("settings", [{"cfg": 1.5}, {"cfg": 3.0, "top_k": 8, "top_p": 0.9, "seed": 3}, {"cfg": 0.0}],
                         ids=["greedy", "sampled", "unguided"])
def test_static_passes_give_the_eager_numbers(tiny, dtype, settings):
    """Two different samples in a row through the same static buffers (a stale cache row or input would
    show in the second) equal the eager generation bit for bit: indices, logits of every scale, image."""
    tiny.generator.release_graphs()
    settings = dict(settings)
    seed = settings.pop("seed", None)
    for image_seed in (1, 2):
        lr = _lr(tiny, 2, image_seed)
        runs = []
        for graphs in (False, True):
            generator = torch.Generator().manual_seed(seed) if seed is not None else None
            runs.append(_sample(tiny, lr, dtype, graphs, generator=generator, **settings))
        eager, static = runs
        for a, b in zip(eager["indices"], static["indices"], strict=True):
            assert torch.equal(a, b)
        for a, b in zip(eager["logits"], static["logits"], strict=True):
            assert torch.equal(a, b)
        assert torch.equal(eager["img"], static["img"])
    assert len(tiny.generator.__dict__["_scale_graphs"]) == 1  # both samples used the one entry


def test_static_passes_reuse_their_kv_buffers(tiny):
    tiny.generator.release_graphs()
    _sample(tiny, _lr(tiny, 1, 0), None, True)
    (graphs,) = tiny.generator.__dict__["_scale_graphs"].values()
    first = [k.data_ptr() for k, _ in graphs.kv]
    _sample(tiny, _lr(tiny, 1, 1), None, True)
    assert [k.data_ptr() for k, _ in graphs.kv] == first
    assert all(block.attn.kv_buffers is None and not block.attn.caching for block in tiny.generator.blocks)


def test_captures_are_keyed_by_batch_and_weights_and_bounded(tiny):
    gen = tiny.generator
    gen.release_graphs()
    for batch in (1, 2, 3):
        _sample(tiny, _lr(tiny, batch, 0), None, True)
    keys = list(gen.__dict__["_scale_graphs"])
    assert [k[0][0] for k in keys] == [4, 6]  # the two latest batches (CFG doubles them)
    lr = _lr(tiny, 1, 0)
    _sample(tiny, lr, None, True)
    head = gen.head.weight
    try:
        with torch.no_grad():  # weights in new storage (as after ``.to()``): a graph would read the old one
            gen.head.weight = torch.nn.Parameter(head.clone())
        _sample(tiny, lr, None, True)
        latest = list(gen.__dict__["_scale_graphs"])
        assert [k[0][0] for k in latest] == [2, 2]  # batch 1 with the old weights, then with the new
        assert latest[0][:-1] == latest[1][:-1] and latest[0][-1] != latest[1][-1]
    finally:
        gen.head.weight = head
    start, cond = torch.zeros(2, gen.first_l, gen.width), torch.zeros(2, gen.width)
    plain = ScaleGraphs.key_for(gen, start, cond)
    assert ScaleGraphs.key_for(gen, start, cond, guided=False) != plain  # 2 tiles unguided, not 1 guided
    gen.compile_small_ops()
    try:  # graphs captured with eager small ops are not replayed for compiled ones
        assert ScaleGraphs.key_for(gen, start, cond) != plain
    finally:
        gen.compile_small_ops(False)
    gen.release_graphs()
    assert "_scale_graphs" not in gen.__dict__


def test_training_mode_and_cpu_capture_are_refused(tiny):
    gen = tiny.generator
    start = torch.zeros(2, gen.first_l, gen.width)
    cond = torch.zeros(2, gen.width)
    with pytest.raises(ValueError, match="CUDA graphs need CUDA tensors"):
        ScaleGraphs(gen, start, cond, capture=True)
    gen.train()
    try:
        with pytest.raises(RuntimeError, match="training mode"):
            ScaleGraphs(gen, start, cond, capture=False)
    finally:
        gen.eval()


@pytest.mark.parametrize("graphs", [False, True])
@pytest.mark.parametrize("settings", [{}, {"top_k": 8, "top_p": 0.9}], ids=["greedy", "sampled"])
def test_generation_loop_reads_nothing_back_from_the_device(tiny, graphs, settings):
    """Between the first scale and the last, nothing waits for the device (on CUDA such a read stalls the
    queue of launches every scale)."""
    lr = _lr(tiny, 2, 0)
    spy = HostSyncSpy()
    generate = tiny.generator.generate

    def spied(*args, **kwargs):
        with spy:
            return generate(*args, **kwargs)

    tiny.generator.generate = spied
    try:
        tiny.sample(lr, cfg=1.5, cuda_graphs=graphs, **settings)
    finally:
        del tiny.generator.generate
    assert spy.syncs == []


def test_the_spy_sees_a_host_sync(tiny):
    """The spy of the test above is not blind: an ``.item()`` and a boolean mask inside the loop are caught."""
    spy = HostSyncSpy()
    x = torch.arange(4.0)
    with spy:
        float(x.sum())
        x[x > 1]
    assert spy.syncs == ["_local_scalar_dense.default", "index.Tensor"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
@pytest.mark.parametrize("dtype, compiled", [(None, False), (torch.bfloat16, False), (None, True)],
                         ids=["fp32", "bf16", "fp32-compiled"])
def test_cuda_graphs_replay_the_eager_generation(dtype, compiled):
    """Captured passes (with the compiled small ops: compiled in the warm-up, captured after) give the eager
    generation's tokens and logits, on the first replay and on later ones."""
    torch.manual_seed(0)
    model = realiisr.build("real_iisr_x4_tiny", device="cuda").eval()
    runs = {}
    for graphs in (False, True, True):  # the second graphed run replays what the first captured
        model.generator.compile_small_ops(compiled and graphs)
        for seed in (1, 2):
            lr = _lr(model, 2, seed).cuda()
            with torch.autocast("cuda", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
                out = model.sample(lr, cfg=1.5, return_details=True, cuda_graphs=graphs)
            runs.setdefault((graphs, seed), []).append(out)
    (entry,) = model.generator.__dict__["_scale_graphs"].values()
    assert entry.captured
    tol = 1e-4 if compiled else 1e-5
    for seed in (1, 2):
        eager = runs[(False, seed)][0]
        for replay in runs[(True, seed)]:
            for a, b in zip(eager["indices"], replay["indices"], strict=True):
                assert torch.equal(a, b)
            for a, b in zip(eager["logits"], replay["logits"], strict=True):
                torch.testing.assert_close(a, b, rtol=tol, atol=tol)


def test_unguided_generation_runs_one_half_and_equals_guidance_at_zero_strength(tiny):
    """cfg 0 skips the negative half (the head sees B rows per scale, not 2B) and gives the numbers of the
    guided path whose weight t is (nearly) 0 at every scale."""
    rows: list[int] = []
    hook = tiny.generator.head.register_forward_hook(lambda module, args, out: rows.append(args[0].shape[0]))
    try:
        lr = _lr(tiny, 3, 5)
        unguided = _sample(tiny, lr, None, False, cfg=0.0)
        assert set(rows) == {3}
        rows.clear()
        guided = _sample(tiny, lr, None, False, cfg=1e-9)
        assert set(rows) == {6}
    finally:
        hook.remove()
    for a, b in zip(unguided["indices"], guided["indices"], strict=True):
        assert torch.equal(a, b)
    torch.testing.assert_close(unguided["img"], guided["img"], atol=1e-5, rtol=0)


def test_the_recipe_sets_the_default_guidance():
    shipped = realiisr.build("real_iisr_x4_flir")
    assert shipped.options["cfg"] == 0.0 and realiisr.build("real_iisr_x4_tiny").options["cfg"] == 1.0
    recipe = shipped.recipe.replace(options={**shipped.recipe.options, "cfg": -1})
    with pytest.raises(ValueError, match="option cfg must be a number >= 0"):
        realiisr.build(recipe)

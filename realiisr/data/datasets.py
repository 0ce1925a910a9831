"""Training data: real LR/HR pairs, HR-only frames with synthetic degradations, and synthetic thermal scenes.

Every dataset yields ``{"lr", "hr", "label", "name"}``: ``lr`` and ``hr`` are ``[3, crop, crop]`` in [-1, 1]
(the LR already resized to the HR grid with Pillow bicubic, as the reference prepares it) and ``label`` is
0 for a real SR sample or 1 for the reference's negative samples (LR → LR, the negative class of image-based
CFG). Random choices come from a generator seeded by (seed, epoch, index): the data are deterministic and a
resumed run sees exactly the samples an uninterrupted one would.
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import torch
from torch import Tensor
from torch.utils.data import Dataset

from realiisr.data.degradations import DegradationPipeline, load_pipeline
from realiisr.data.io import IMAGE_SUFFIXES, pil_bicubic, read_frame, shrink_frame

__all__ = ["DataError", "PairedThermalDataset", "DegradedThermalDataset", "ConcatThermalDataset", "item_generator"]

_LOG = logging.getLogger(__name__)


class DataError(ValueError):
    """A data problem that names the file or folder."""


def item_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch) * 1_000_033 + index)


def _images(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise DataError(f"folder {str(folder)!r} does not exist")
    found = {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    if not found:
        raise DataError(f"folder {str(folder)!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return found


def _augment(frames: Sequence[Tensor], generator: torch.Generator) -> list[Tensor]:
    """The same random flip/rotation for every frame."""
    flip, turns = bool(torch.randint(2, (), generator=generator)), int(torch.randint(4, (), generator=generator))
    out = []
    for frame in frames:
        frame = frame.flip(-1) if flip else frame
        out.append(torch.rot90(frame, turns, dims=(-2, -1)))
    return out


def _to_model(frame: Tensor) -> Tensor:
    return frame.clamp(0, 1).expand(3, -1, -1).mul(2).sub(1).contiguous()


@dataclass
class _Pair:
    name: str
    hr: Path
    lr: Path


class _Base(Dataset):
    def __init__(self, *, crop: int, scale: int, augment: bool, seed: int) -> None:
        if crop % scale:
            raise DataError(f"crop {crop} must be a multiple of the scale {scale}")
        self.crop, self.scale, self.augment, self.seed = crop, scale, augment, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _crop_box(self, h: int, w: int, generator: torch.Generator, align: int, what: str) -> tuple[int, int]:
        if h < self.crop or w < self.crop:
            raise DataError(f"{what} is {w}x{h}, smaller than the {self.crop}x{self.crop} crop")
        top = int(torch.randint((h - self.crop) // align + 1, (), generator=generator)) * align
        left = int(torch.randint((w - self.crop) // align + 1, (), generator=generator)) * align
        return top, left


class PairedThermalDataset(_Base):
    """Real pairs: ``root/HR`` and ``root/LR`` matched by file name (stem), LR stored at HR size or at 1/scale.

    Args:
        root: folder with ``HR/`` and ``LR/``.
        crop: HR crop side (the recipe's image size).
        scale: super-resolution factor.
        negatives: add the reference's LR→LR samples with label 1 (doubles the length).
        repeats: crops drawn per pair per epoch (a 512² or 1024×768 pair holds many crops).
        names: restrict to these stems (a train/val split).
        eight_bit: resize like 8-bit images (the reference's uint8 path); ``None``: when the files are 8-bit.
        on_error: ``"raise"`` or ``"skip"`` unpaired files (skips are logged and listed in ``self.skipped``).
        register: move each HR frame onto its LR's grid first (global magnification and sub-pixel shift, see
            :func:`realiisr.data.registration.estimate_similarity`) and crop the border that invalidates, so a
            model learns the degradation rather than the blur that undoes an unpredictable offset. The
            :class:`~realiisr.data.registration.Similarity` of each pair is in ``self.shifts``.
    """

    def __init__(
        self, root: Union[str, Path], *, crop: int = 128, scale: int = 4, augment: bool = True, negatives: bool = True,
        names: Optional[Sequence[str]] = None, seed: int = 0, on_error: str = "raise", cache: bool = True,
        repeats: int = 1, register: bool = False,
    ) -> None:
        super().__init__(crop=crop, scale=scale, augment=augment, seed=seed)
        self.register = register
        self.shifts: dict = {}
        self._registered: dict[str, tuple[Tensor, Tensor]] = {}
        if repeats < 1:
            raise DataError(f"repeats must be at least 1, got {repeats}")
        self.repeats = repeats
        root = Path(root)
        hr, lr = _images(root / "HR"), _images(root / "LR")
        unpaired = sorted(set(hr) ^ set(lr))
        self.skipped = [f"{n}: no {'LR' if n in hr else 'HR'} partner" for n in unpaired]
        if unpaired and on_error == "raise":
            raise DataError(f"{str(root)!r}: unpaired files {unpaired[:10]} (pass on_error='skip' to leave them out)")
        keep = sorted(set(hr) & set(lr))
        if names is not None:
            missing = sorted(set(names) - set(keep))
            if missing:
                raise DataError(f"{str(root)!r}: requested pairs {missing} are not there")
            keep = [n for n in keep if n in set(names)]
        if not keep:
            raise DataError(f"{str(root)!r}: no LR/HR pairs")
        for entry in self.skipped:
            _LOG.warning("skipping %s", entry)
        self.pairs = [_Pair(n, hr[n], lr[n]) for n in keep]
        self.negatives = negatives
        self._cache: Optional[dict[Path, Tensor]] = {} if cache else None

    def subset(self, names: Sequence[str], *, augment: Optional[bool] = None, negatives: Optional[bool] = None,
               repeats: Optional[int] = None) -> "PairedThermalDataset":
        """The same folder restricted to ``names`` (a train/val split) without listing or reading it again."""
        missing = sorted(set(names) - {p.name for p in self.pairs})
        if missing:
            raise DataError(f"requested pairs {missing} are not there")
        part = copy.copy(self)
        part.pairs = [p for p in self.pairs if p.name in set(names)]
        part.augment = self.augment if augment is None else augment
        part.negatives = self.negatives if negatives is None else negatives
        part.repeats = self.repeats if repeats is None else repeats
        return part

    def _read(self, path: Path) -> Tensor:
        if self._cache is not None and path in self._cache:
            return self._cache[path]
        frame = read_frame(path)
        if self._cache is not None:
            self._cache[path] = frame
        return frame

    def __len__(self) -> int:
        return len(self.pairs) * self.repeats * (2 if self.negatives else 1)

    def _frames(self, pair: _Pair) -> tuple[Tensor, Tensor]:
        """(HR, LR) of a pair; with ``register``, the HR moved onto the LR grid and both cropped."""
        hr, lr = self._read(pair.hr), self._read(pair.lr)
        if not self.register:
            return hr, lr
        if pair.name in self._registered:
            return self._registered[pair.name]
        from realiisr.data.registration import apply_similarity, estimate_similarity

        same_grid = self._lr_on_hr_grid(pair, hr, lr)
        if pair.name not in self.shifts:  # kept even when frames are not cached (it is the slow part)
            lr_up = same_grid if same_grid is not None else pil_bicubic(lr, *hr.shape[-2:], eight_bit=True)
            self.shifts[pair.name] = estimate_similarity(hr, lr_up)
            _LOG.info("pair %s: HR registered onto the LR grid by %s", pair.name, self.shifts[pair.name])
        sim = self.shifts[pair.name]
        step = 1 if same_grid is not None else self.scale
        edge = -(-sim.border(tuple(hr.shape[-2:])) // step)  # in LR pixels, so both grids stay aligned
        hr = apply_similarity(hr, sim)[:, edge * step : hr.shape[-2] - edge * step, edge * step : hr.shape[-1] - edge * step]
        lr = lr[:, edge : lr.shape[-2] - edge, edge : lr.shape[-1] - edge]
        frames = (hr.contiguous(), lr.contiguous())
        if self._cache is not None:
            self._registered[pair.name] = frames
        return frames

    def _lr_on_hr_grid(self, pair: _Pair, hr: Tensor, lr: Tensor) -> Tensor:
        """The LR frame at HR size, without a further resize when it is stored that way."""
        if lr.shape[-2:] == hr.shape[-2:]:
            return lr
        if (lr.shape[-2] * self.scale, lr.shape[-1] * self.scale) == tuple(hr.shape[-2:]):
            return None  # stored at 1/scale: cropped on its own grid
        raise DataError(
            f"pair {pair.name!r}: LR {tuple(lr.shape[-2:])} is neither the HR size {tuple(hr.shape[-2:])} nor 1/{self.scale} of it"
        )

    def __getitem__(self, key) -> dict:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        negative = index >= len(self.pairs) * self.repeats
        pair = self.pairs[index % len(self.pairs)]
        generator = item_generator(self.seed, epoch, index)
        hr, lr = self._frames(pair)
        same_grid = self._lr_on_hr_grid(pair, hr, lr)
        small = self.crop // self.scale
        if same_grid is not None:
            top, left = self._crop_box(*hr.shape[-2:], generator, 1, f"HR {pair.hr}")
            hr_crop = hr[:, top : top + self.crop, left : left + self.crop]
            lr_crop = lr[:, top : top + self.crop, left : left + self.crop]
            lr_small = pil_bicubic(lr_crop, small, small, eight_bit=True)
        else:
            top, left = self._crop_box(*hr.shape[-2:], generator, self.scale, f"HR {pair.hr}")
            hr_crop = hr[:, top : top + self.crop, left : left + self.crop]
            lr_small = lr[:, top // self.scale : top // self.scale + small, left // self.scale : left // self.scale + small]
            lr_crop = pil_bicubic(lr_small, self.crop, self.crop, eight_bit=True)
        lr_up = pil_bicubic(lr_small, self.crop, self.crop, eight_bit=True)
        if negative:  # LR → LR: the target is the LR frame itself, the input its further degraded copy
            hr_crop = lr_crop
            lr_up = pil_bicubic(pil_bicubic(lr_crop, small, small, eight_bit=True), self.crop, self.crop, eight_bit=True)
        if self.augment:
            lr_up, hr_crop = _augment([lr_up, hr_crop], generator)
        return {"lr": _to_model(lr_up), "hr": _to_model(hr_crop), "label": int(negative), "name": pair.name}


class DegradedThermalDataset(_Base):
    """HR-only frames (a folder, or a frame source such as synthetic scenes) with on-the-fly degradation.

    Args:
        source: a folder of HR frames, a packed-crops ``.npz`` file (:mod:`realiisr.data.packed`), or a callable
            ``(index, generator) -> [1, H, W]`` frame with ``length``.
        pipeline: the degradation pipeline, a preset name (default: the ``default`` preset; see
            :data:`realiisr.data.degradations.PRESETS`) or a YAML file of steps
            (:func:`~realiisr.data.degradations.load_pipeline`).
        repeats: crops drawn per frame per epoch (frames are larger than crops).
        contrast: the HR crop's contrast is scaled by a factor in ``[1 - contrast, 1 + contrast]`` about its mean
            before it is degraded, so LR and HR share it (an augmentation for AGC-processed frames of any
            contrast, not a degradation).
        shrink: frames of a folder are reduced this many times first (soft sources make truthful HR only at
            a smaller size).
    """

    def __init__(
        self, source: Union[str, Path, Callable[[int, torch.Generator], Tensor]], *, crop: int = 128, scale: int = 4,
        augment: bool = True, negatives: bool = False, pipeline: Union[None, str, DegradationPipeline] = None,
        repeats: int = 1, length: Optional[int] = None, seed: int = 0, contrast: float = 0.0, shrink: int = 1,
    ) -> None:
        super().__init__(crop=crop, scale=scale, augment=augment, seed=seed)
        self._packed: Optional[Tensor] = None
        if callable(source):
            if length is None:
                raise DataError("a frame-generating source needs a length")
            self.frames: list = list(range(length))
            self._make = source
        elif Path(source).suffix == ".npz":
            from realiisr.data.packed import load_packed

            self._packed, names = load_packed(source)
            self.frames = [f"{name}#{i}" for i, name in enumerate(names)]
            self._make = None
        else:
            self.frames = list(_images(Path(source)).values())
            self._make = None
            self._cache: dict[Path, Tensor] = {}
        if pipeline is None or isinstance(pipeline, str):
            pipeline = load_pipeline(pipeline or "default", scale)
        self.pipeline = pipeline
        if not 0 <= contrast < 1:
            raise DataError(f"contrast must be in [0, 1), got {contrast}")
        self.repeats, self.negatives, self.contrast, self.shrink = repeats, negatives, contrast, shrink

    def __len__(self) -> int:
        return len(self.frames) * self.repeats * (2 if self.negatives else 1)

    def _frame(self, index: int) -> Tensor:
        item = self.frames[index]
        if self._make is not None:
            return self._make(item, item_generator(self.seed, 0, item))
        if self._packed is not None:
            return self._packed[index]
        if item not in self._cache:
            self._cache[item] = shrink_frame(read_frame(item), self.shrink)
        return self._cache[item]

    def __getitem__(self, key) -> dict:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        base = len(self.frames) * self.repeats
        negative = index >= base
        frame_index = (index % base) % len(self.frames)
        generator = item_generator(self.seed, epoch, index)
        frame = self._frame(frame_index)
        top, left = self._crop_box(*frame.shape[-2:], generator, self.scale, f"frame {self.frames[frame_index]}")
        hr_crop = frame[:, top : top + self.crop, left : left + self.crop]
        if self.contrast:
            factor = 1 + self.contrast * (2 * float(torch.rand((), generator=generator)) - 1)
            mean = hr_crop.mean()
            hr_crop = ((hr_crop - mean) * factor + mean).clamp(0, 1)
        lr_small = self.pipeline(hr_crop, generator)
        if lr_small.shape[-1] * self.scale != self.crop:
            raise DataError(f"the degradation pipeline must end at 1/{self.scale} of the crop, got {tuple(lr_small.shape)}")
        lr_up = pil_bicubic(lr_small, self.crop, self.crop)
        if negative:
            hr_crop = lr_up
            small = self.crop // self.scale
            lr_up = pil_bicubic(pil_bicubic(lr_up, small, small), self.crop, self.crop)
        if self.augment:
            lr_up, hr_crop = _augment([lr_up, hr_crop], generator)
        return {"lr": _to_model(lr_up), "hr": _to_model(hr_crop), "label": int(negative), "name": f"frame{frame_index}"}


class ConcatThermalDataset(torch.utils.data.ConcatDataset):
    """Concatenation that accepts the ``(epoch, index)`` keys of the thermal datasets."""

    def __getitem__(self, key) -> dict:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        part = next(i for i, end in enumerate(self.cumulative_sizes) if index < end)
        start = self.cumulative_sizes[part - 1] if part else 0
        return self.datasets[part][(epoch, index - start)]

"""Clips in and out: video containers through PyAV (its wheel carries FFmpeg; no system FFmpeg), image
sequences (a folder or a glob) and multi-page TIFF, as grey frames (``[h, w]`` uint8 or uint16)."""
from __future__ import annotations

import glob
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Union

import numpy as np

__all__ = ["VIDEO_SUFFIXES", "Clip", "open_clip", "ClipWriter", "is_clip", "repeat_runs"]

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm")
_TIFF = (".tif", ".tiff")


@dataclass
class Clip:
    """A clip to read: where it comes from, its frame rate, and how to iterate its grey frames."""

    source: str
    kind: str  # "video", "sequence" or "tiff"
    fps: Fraction
    paths: Optional[list[Path]] = None  # the frames of a sequence
    count: Optional[int] = None  # frames, where the container or the sequence says

    @property
    def stem(self) -> str:
        return Path(self.source.rstrip("/*")).stem if self.kind != "sequence" else Path(self.source.split("*")[0]).name or "sequence"

    def frames(self) -> Iterator[np.ndarray]:
        """The frames in order: ``[h, w]`` grey (uint8 or uint16), or ``[h, w, 3]`` uint8 for a clip in colour
        (a palette video; a colour video of a grey camera, channels equal within 3 levels, comes as grey).
        ``ValueError`` naming the clip and the frame for what cannot be decoded or changes size (frames before it
        were already yielded)."""
        size, colour = None, None
        for index, frame in enumerate(self._decode()):
            if frame.ndim == 3:
                frame = frame[..., :3]
                if colour is None:  # the first frame decides, so one clip never mixes grey and colour frames
                    colour = int(np.ptp(frame.astype(np.int16), axis=-1).max()) > 3
                if not colour:
                    frame = frame.astype(np.float64).mean(axis=-1).round().astype(frame.dtype)
            if size is not None and frame.shape != size:
                raise ValueError(f"{self.source}: frame {index} is {frame.shape[1]}x{frame.shape[0]}, the clip's "
                                 f"earlier frames {size[1]}x{size[0]} (a clip keeps one frame size)")
            size = frame.shape
            yield frame
        if size is None:
            raise ValueError(f"{self.source}: the clip has no frames")

    def _decode(self) -> Iterator[np.ndarray]:
        from PIL import Image, ImageSequence

        if self.kind == "sequence":
            for path in self.paths or []:
                with Image.open(path) as image:
                    yield _grey(image)
        elif self.kind == "tiff":
            with Image.open(self.source) as image:
                for page in ImageSequence.Iterator(image):
                    yield _grey(page)
        else:
            import av

            index = 0
            try:
                with av.open(self.source) as container:
                    stream = container.streams.video[0]
                    for frame in container.decode(stream):
                        name = frame.format.name
                        if name.startswith(("gray1", "yuv420p1", "yuv444p1")):
                            fmt = "gray16le"  # 10-16-bit grey: its full depth
                        elif name.startswith("gray"):
                            fmt = "gray"
                        else:
                            fmt = "rgb24"  # grey or palette: Clip.frames tells them apart
                        yield frame.to_ndarray(format=fmt)
                        index += 1
            except av.FFmpegError as exc:
                raise ValueError(f"{self.source}: cannot decode frame {index} ({exc})") from exc


def _grey(image) -> np.ndarray:
    """A grey frame as it is, a colour one as RGB (:meth:`Clip.frames` decides which it keeps)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return np.asarray(image).astype(np.uint16)
    return np.asarray(image.convert("L" if image.mode in ("L", "1", "LA") else "RGB"))


def is_clip(path: Union[str, Path]) -> bool:
    """A video container, or a TIFF with more than one page."""
    path = Path(path)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return True
    if path.suffix.lower() in _TIFF and path.is_file():
        from PIL import Image

        with Image.open(path) as image:
            return getattr(image, "n_frames", 1) > 1
    return False


def open_clip(source: Union[str, Path], fps: Optional[float] = None) -> Clip:
    """A video file, a multi-page TIFF, or a sequence (a folder of frames or a glob, in name order; ``fps``,
    default 30, since frames carry none). Bad input gets a ``ValueError`` that names it."""
    from realiisr.data.io import IMAGE_SUFFIXES

    text = str(source)
    path = Path(text)
    if path.is_dir() or any(ch in text for ch in "*?["):
        paths = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if path.is_dir() \
            else sorted(Path(p) for p in glob.glob(text))
        if not paths:
            raise ValueError(f"{text}: the sequence has no frames")
        return Clip(text, "sequence", Fraction(fps or 30).limit_denominator(1001), paths=paths, count=len(paths))
    if not path.is_file():
        raise ValueError(f"{text}: no such clip")
    if path.suffix.lower() in _TIFF:
        from PIL import Image

        with Image.open(path) as image:
            pages = getattr(image, "n_frames", 1)
        return Clip(text, "tiff", Fraction(fps or 30).limit_denominator(1001), count=pages)
    import av

    try:
        with av.open(text) as container:
            if not container.streams.video:
                raise ValueError(f"{text}: no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or Fraction(30)
            count = int(stream.frames or 0) or None  # 0 where the container does not say
    except av.FFmpegError as exc:
        raise ValueError(f"{text}: cannot open the clip ({exc})") from exc
    return Clip(text, "video", Fraction(fps).limit_denominator(1001) if fps else Fraction(rate), count=count)


class ClipWriter:
    """Frames out to a container at the input's frame rate: H.264 (CRF 10, visually lossless, yuv420p) for 8-bit
    grey or colour frames, or FFV1 (``lossless``: grey, or RGB for colour; 16-bit frames always, as gray16le)."""

    def __init__(self, path: Union[str, Path], fps: Fraction, lossless: bool = False) -> None:
        self.path, self.fps, self.lossless = Path(path), fps, lossless
        self._container = None
        self._stream = None

    def write(self, frame: np.ndarray) -> None:
        import av

        if self._container is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._container = av.open(str(self.path), "w")
            sixteen = frame.dtype == np.uint16
            if self.lossless or sixteen:
                self._stream = self._container.add_stream("ffv1", rate=self.fps)
                self._stream.pix_fmt = "gray16le" if sixteen else ("bgr0" if frame.ndim == 3 else "gray")
            else:
                self._stream = self._container.add_stream("libx264", rate=self.fps)
                self._stream.pix_fmt = "yuv420p"
                self._stream.options = {"crf": "10", "preset": "medium"}
            self._stream.width, self._stream.height = frame.shape[1] - frame.shape[1] % 2, frame.shape[0] - frame.shape[0] % 2
        fmt = "gray16le" if frame.dtype == np.uint16 else ("rgb24" if frame.ndim == 3 else "gray")
        even = frame[: self._stream.height, : self._stream.width]  # yuv420p wants even sides
        for packet in self._stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(even), format=fmt)):
            self._container.mux(packet)

    def close(self) -> None:
        if self._container is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
            self._container = None

    def __enter__(self) -> "ClipWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def repeat_runs(frames: Iterable[Any]) -> Iterator[tuple[Any, int]]:
    """(frame, how many times it repeats) for each run of bit-identical consecutive frames: a 9 Hz camera's
    stream in a 30 fps container repeats every frame three or four times. A frame that fails to decode ends the
    run before it, which is yielded first; the failure is raised on the next read. Frames are arrays or CPU
    tensors; equal values in another dtype are another frame."""
    ahead = iter(frames)
    try:
        current = next(ahead)
    except StopIteration:
        return
    repeats = 1
    while True:
        try:
            following = next(ahead)
        except StopIteration:
            yield current, repeats
            return
        except (ValueError, OSError):
            yield current, repeats
            raise
        if following.shape == current.shape and following.dtype == current.dtype and np.array_equal(following, current):
            repeats += 1
        else:
            yield current, repeats
            current, repeats = following, 1

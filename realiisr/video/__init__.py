"""Thermal video: clips in and out (:mod:`~realiisr.video.io`: containers through PyAV, image sequences,
multi-page TIFF), crash-safe and resumable upscaling of each frame with its window of neighbours
(:mod:`~realiisr.video.upscale`; the fusion itself is :mod:`realiisr.inference.window`), the window model's training
windows (:mod:`~realiisr.video.window_data`), the temporal blend (:mod:`~realiisr.video.stabilise`) and the
flow-compensated flicker measure of temporal stability (:mod:`~realiisr.video.flicker`)."""

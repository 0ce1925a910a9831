"""Thermal video: clips in and out (:mod:`~realiisr.video.io`: containers through PyAV, image sequences,
multi-page TIFF), crash-safe and resumable frame-by-frame upscaling (:mod:`~realiisr.video.upscale`) and the
flow-compensated flicker measure of temporal stability (:mod:`~realiisr.video.flicker`)."""

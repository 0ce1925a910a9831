"""Frames as thermal cameras write them: pseudo-colour palettes (:mod:`~realiisr.camera.palettes`,
:mod:`~realiisr.camera.pseudocolour`) and radiometric frames whose counts must keep their meaning
(:mod:`~realiisr.camera.radiometric`). Numpy/torch only; the upscale path uses them
(:mod:`realiisr.inference.images`)."""

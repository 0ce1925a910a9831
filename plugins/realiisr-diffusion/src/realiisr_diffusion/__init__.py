"""A diffusion baseline generator for realiisr (entry point ``realiisr.generators: diffusion``)."""

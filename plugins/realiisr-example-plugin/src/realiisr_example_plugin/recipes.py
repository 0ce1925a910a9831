"""A recipe built on the builtin real_iisr_x4 with this plugin's components swapped in."""
from realiisr.core.recipes import apply_overrides, get_recipe

EDGE_ONLY_X4 = apply_overrides(
    get_recipe("real_iisr_x4"),
    {
        "name": "example_edge_only_x4",
        "description": "real_iisr_x4 with edge-only guidance and a gradient-direction loss (example plugin)",
        "guidance": {"type": "realiisr_example_plugin:edge_only", "width": 1536, "num_heads": 24},
        "losses.grad_dir": "realiisr_example_plugin:gradient_direction",
        "loss_weights.grad_dir": 0.1,
    },
)

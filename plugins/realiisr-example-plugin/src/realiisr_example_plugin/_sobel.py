import torch
import torch.nn.functional as F

_GX = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])


def sobel_xy(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel Sobel gradients with zero padding, as the Real-IISR reference computes its edge map."""
    channels = x.shape[1]
    gx = _GX.to(device=x.device, dtype=x.dtype).expand(channels, 1, 3, 3)
    gy = _GX.t().to(device=x.device, dtype=x.dtype).expand(channels, 1, 3, 3)
    return F.conv2d(x, gx, padding=1, groups=channels), F.conv2d(x, gy, padding=1, groups=channels)

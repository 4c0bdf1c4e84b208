"""The numbers a mask prompt on a sequence needs besides SAM 2.1's video graphs (model.json "video")."""
import numpy as np


def video_weights(state_dict) -> dict:
    """mask_downsample's convolution and no_mem_embed, from the SAM 2.1 state dict (numpy arrays)."""
    weight = np.asarray(state_dict["mask_downsample.weight"], np.float32).reshape(-1)
    bias = np.asarray(state_dict["mask_downsample.bias"], np.float32).reshape(-1)
    return {"mask_downsample": {"weight": [float(v) for v in weight], "bias": float(bias[0])},
            "no_mem_embed": [float(v) for v in np.asarray(state_dict["no_mem_embed"], np.float32).reshape(-1)]}

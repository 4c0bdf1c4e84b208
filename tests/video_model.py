"""Video helpers of the tests: the frames the page's Propagate tests share (one embedding cache)."""


def panning_frames(count: int, height: int = 48, width: int = 64, step: int = 2, seed: int = 5) -> list:
    """`count` RGB frames of one synthetic scene panning `step` pixels a frame (the same pixels wherever they
    are asked for, so page tests share their embeddings through one embedding cache)."""
    import numpy as np

    from synthetic import synthetic_image

    scene = synthetic_image(height + count * step, width + count * step, seed=seed)
    return [np.ascontiguousarray(scene[i * step:i * step + height, i * step:i * step + width]) for i in range(count)]

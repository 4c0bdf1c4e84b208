"""edgemask.runtime.grid_decoder against segment_anything's MaskDecoder + PromptEncoder: the same IoUs and
low-res logits for a batch of single-point prompts. The LayerNorms get gammas and betas away from 1 and 0
(random checkpoints leave them at their defaults, where a mistake in the rearranged norms would not show)."""

import numpy as np
import pytest


def official_decoder(seed):
    torch = pytest.importorskip("torch")
    from segment_anything.modeling import MaskDecoder, PromptEncoder, TwoWayTransformer

    torch.manual_seed(seed)
    pe = PromptEncoder(embed_dim=256, image_embedding_size=(64, 64), input_image_size=(1024, 1024), mask_in_chans=16)
    md = MaskDecoder(num_multimask_outputs=3, transformer=TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048,
                                                                            num_heads=8),
                     transformer_dim=256, iou_head_depth=3, iou_head_hidden_dim=256)
    with torch.no_grad():
        for name, prm in list(md.named_parameters()) + list(pe.named_parameters()):
            if "norm" in name or "output_upscaling.1" in name:
                prm.copy_(torch.randn_like(prm) * 0.5 + (1.0 if name.endswith("weight") else 0.0))
            elif prm.dim() >= 1:
                prm.mul_(1.5)
    sd = {"mask_decoder." + k: v.numpy() for k, v in md.state_dict().items()}
    sd.update({"prompt_encoder." + k: v.numpy() for k, v in pe.state_dict().items()})
    return torch, pe, md, sd


@pytest.mark.parametrize("workers", [1, 2])
def test_matches_official_decoder(workers):
    from edgemask.runtime.grid_decoder import GridDecoder

    torch, pe, md, sd = official_decoder(0)
    P = 19  # not a multiple of the chunk size
    emb = torch.randn(1, 256, 64, 64)
    coords = torch.rand(P, 1, 2) * 1024
    with torch.no_grad():
        sparse, dense = pe(points=(coords, torch.ones(P, 1)), boxes=None, masks=None)  # pads a point, as ours
        low, iou = md.predict_masks(emb, pe.get_dense_pe(), sparse, dense)
    ours_coords = torch.cat([coords, torch.zeros(P, 1, 2)], 1).numpy()
    ours_labels = np.tile(np.array([[1.0, -1.0]], np.float32), (P, 1))
    grid = GridDecoder(sd, 1024, workers=workers, mask_indices=(1, 2, 3))
    best = np.sort(iou.numpy()[:, 1:].max(1))
    thresh = (best[P // 2] + best[P // 2 - 1]) / 2  # half the prompts' masks are wanted, none at the border
    wanted = iou.numpy()[:, 1:].max(1) > thresh
    out = grid.decode(emb.numpy(), [(ours_coords[i:i + 1], ours_labels[i:i + 1]) for i in range(P)],
                      wanted=lambda scores: bool(scores[1:].max() > thresh))
    grid.close()
    assert np.abs(np.stack([o[0] for o in out]) - iou.numpy()).max() < 1e-5
    assert [o[1] is not None for o in out] == list(wanted) and 0 < wanted.sum() < P
    for (_, mine), ref, want in zip(out, low.numpy(), wanted):
        if want:
            assert mine.shape == (3, 256, 256)
            assert np.abs(mine - ref[1:]).max() <= 1e-4 * np.abs(ref).max()

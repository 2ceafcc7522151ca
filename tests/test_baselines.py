"""vfp.flow / vfp.baselines on synthetic motion with hand-computed expectations."""
from types import SimpleNamespace

import numpy as np
import torch

from vfp.baselines import COPY_LAST, FLOW, BaselineCache, baseline_batch, clip_masks, flow_extrapolation
from vfp.frames import to_model
from vfp.metrics import MetricAccumulator

H, W = 48, 64


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random texture (sums of sines) in [20, 235]: good for optical flow."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w))
    for _ in range(6):
        fx, fy, ph = rng.uniform(0.05, 0.25), rng.uniform(0.05, 0.25), rng.uniform(0, 6.3)
        img += np.sin(fx * xx + fy * yy + ph)
    return 20 + 215 * (img - img.min()) / (img.max() - img.min())


def translating_clip(n: int, dx: int, dy: int) -> torch.Tensor:
    """``[1, n, 3, H, W]`` in [-1, 1]: a window sliding over a larger texture by (dx, dy) per frame
    (the scene moves by (-dx, -dy) pixels per frame: a pure translation)."""
    big = texture(H + n * abs(dy) + 2, W + n * abs(dx) + 2)
    frames = [big[t * dy:t * dy + H, t * dx:t * dx + W] for t in range(n)]
    px = torch.tensor(np.stack(frames), dtype=torch.float32)
    return to_model(px.unsqueeze(1).expand(-1, 3, -1, -1)).unsqueeze(0)


def ev(**kw):
    base = {"mask": "difference", "moving_threshold": 10.0, "flow_threshold": 1.0, "skip_above_db": 0.0, "ssim": "rgb"}
    return SimpleNamespace(**{**base, **kw})


def psnr_interior(pred: torch.Tensor, target: torch.Tensor, border: int = 6) -> float:
    d = ((pred - target) * 127.5)[..., border:-border, border:-border]
    return float(10 * torch.log10(255**2 / d.pow(2).mean()))


def test_flow_baseline_predicts_a_pure_translation():
    clip = translating_clip(6, dx=2, dy=1)
    context, target = clip[:, :4], clip[:, 4:]
    pred = flow_extrapolation(context, 2)
    copy = context[:, -1:].expand_as(target)
    flow1, copy1 = psnr_interior(pred[:, 0], target[:, 0]), psnr_interior(copy[:, 0], target[:, 0])
    assert flow1 > 35.0, flow1  # almost exact away from the border (where content enters the frame)
    assert flow1 > copy1 + 15.0, (flow1, copy1)
    assert psnr_interior(pred[:, 1], target[:, 1], border=8) > psnr_interior(copy[:, 1], target[:, 1], border=8) + 10


def test_flow_mask_covers_the_moving_object_not_the_background():
    bg = texture(H, W, seed=1)
    obj = texture(16, 16, seed=2)
    frames = []
    for t in range(5):  # a 16x16 textured square moving right by 3 px per frame over a static background
        f = bg.copy()
        f[16:32, 8 + 3 * t:24 + 3 * t] = obj
        frames.append(f)
    px = torch.tensor(np.stack(frames), dtype=torch.float32).unsqueeze(1).expand(-1, 3, -1, -1)
    clip = to_model(px).unsqueeze(0)
    mask, keep = clip_masks(clip[:, :4], clip[:, 4:], ev(mask="flow"))
    m = mask[0, 0, 0]
    square = m[18:30, 8 + 3 * 4 + 2:24 + 3 * 4 - 2]  # the square's interior in the target frame
    assert square.float().mean() > 0.8
    far = torch.ones_like(m)
    far[4:44, :48] = False  # background more than ~10 px (Farneback's window) from the square's path
    assert m[far].float().mean() < 0.02
    assert m.float().mean() < 0.45  # the square is 8% of the frame; the mask spreads by the flow window
    assert keep.all()


def test_skip_above_db_drops_frozen_frames_from_moving_metrics():
    moving = translating_clip(6, dx=2, dy=0)
    frozen = moving[:, 3:4].expand(-1, 6, -1, -1, -1).clone()
    frozen[:, 4:] = moving[:, 3:4]  # copy-last is exact on both target frames (inf dB >= 50)
    frozen[:, 5] = moving[:, 5]  # ...except the second
    clip = torch.cat([moving, frozen])
    rec = baseline_batch(clip[:, :4], clip[:, 4:], ev(skip_above_db=50.0))
    assert rec["keep"].tolist() == [[True, True], [False, True]]
    assert rec["stats"][COPY_LAST]["n_moving"][1, 0] == 0  # left out of moving-area sums
    assert rec["stats"][COPY_LAST]["mse"][1, 0] == 0  # but still in whole-frame metrics
    acc = MetricAccumulator()
    acc.update(rec["stats"][FLOW])
    assert acc.counts()["psnr_moving_frame"][0] == 1


def test_cache_round_trip(tmp_path):
    clip = translating_clip(6, dx=1, dy=1).expand(2, -1, -1, -1, -1)
    rec = baseline_batch(clip[:, :4], clip[:, 4:], ev(mask="flow"))
    cache = BaselineCache(tmp_path, "k")
    cache.store(["0:a:0", "1:b:0"], rec)
    cache.save()
    again = BaselineCache(tmp_path, "k").lookup(["0:a:0", "1:b:0"])
    assert torch.equal(again["mask"], rec["mask"]) and torch.equal(again["keep"], rec["keep"])
    for name in (COPY_LAST, FLOW):
        for stat, v in rec["stats"][name].items():
            assert torch.allclose(again["stats"][name][stat], v, equal_nan=True), stat
    assert BaselineCache(tmp_path, "k").lookup(["0:a:0", "2:c:0"]) is None
    assert BaselineCache(tmp_path, "other").lookup(["0:a:0"]) is None

"""The default dataset: a small UCF-101-layout set of real xvid AVI files, generated from a seed.

Layout (exactly UCF-101's)::

    <root>/<Class>/v_<Class>_gGG_cCC.avi      320x240, 25 fps, mpeg4 (xvid tag)
    <root>/splits/classInd.txt                "1 Class" (1-based)
    <root>/splits/trainlist0K.txt             "Class/v_Class_g03_c01.avi 1"
    <root>/splits/testlist0K.txt              "Class/v_Class_g01_c01.avi"

Moving classes: a coloured texture panning with a class-specific velocity plus textured discs moving
with a second class-specific velocity. Each class has its own palette, so one frame tells the motion
direction (what a one-frame model needs). Near-static classes: a still texture with sensor noise;
the motion filter must drop them. Clips of one group share the scene (texture) and differ in start
offset, as in UCF-101, so splits must go by group.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vfp.data.layout import dataset_dir, write_split_lists

WIDTH, HEIGHT, FPS = 320, 240, 25


@dataclass(frozen=True)
class ClassSpec:
    name: str
    pan: tuple[int, int]        # background velocity (dx, dy) in pixels per frame
    sprite: tuple[int, int]     # disc velocity (dx, dy)
    palette: tuple[tuple[int, int, int], tuple[int, int, int]]
    static: bool = False


MOVING = (
    ClassSpec("PanLeft", (-4, 0), (-7, 0), ((200, 60, 40), (250, 220, 90))),
    ClassSpec("PanRight", (4, 0), (7, 1), ((30, 90, 200), (140, 230, 250))),
    ClassSpec("TiltUp", (0, -3), (2, -6), ((40, 160, 60), (220, 250, 120))),
    ClassSpec("TiltDown", (0, 3), (-2, 6), ((120, 40, 160), (250, 150, 220))),
    ClassSpec("DriftDiagonal", (3, 3), (6, -3), ((180, 120, 30), (60, 60, 60))),
    ClassSpec("SpritesOnly", (0, 0), (6, 4), ((20, 20, 30), (90, 110, 130))),
    ClassSpec("SlowPanLeft", (-2, 1), (-4, -3), ((90, 200, 190), (30, 40, 90))),
    ClassSpec("FastPanRight", (6, -1), (9, 2), ((250, 120, 0), (40, 0, 80))),
)
STATIC = (
    ClassSpec("StillLife", (0, 0), (0, 0), ((150, 150, 150), (60, 40, 30)), static=True),
    ClassSpec("QuietRoom", (0, 0), (0, 0), ((230, 210, 180), (90, 120, 100)), static=True),
    ClassSpec("EmptyDesk", (0, 0), (0, 0), ((100, 80, 60), (200, 200, 210)), static=True),
)


def class_specs(moving: int, static: int) -> list[ClassSpec]:
    if moving > len(MOVING) or static > len(STATIC):
        raise ValueError(f"the sample has at most {len(MOVING)} moving and {len(STATIC)} static classes")
    return list(MOVING[:moving]) + list(STATIC[:static])


def _blur(a: np.ndarray, k: int) -> np.ndarray:
    """Separable box blur of a 2-D array (edge-padded)."""
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (k // 2, k - 1 - k // 2)
        c = np.cumsum(np.pad(a, pad, mode="edge"), axis=axis, dtype=np.float64)
        c = np.concatenate([np.zeros_like(np.take(c, [0], axis=axis)), c], axis=axis)
        a = (np.take(c, range(k, c.shape[axis]), axis=axis) - np.take(c, range(0, c.shape[axis] - k), axis=axis)) / k
    return a


def texture(rng: np.random.Generator, height: int, width: int, palette) -> np.ndarray:
    """Coloured multi-scale noise texture, uint8 [H, W, 3]."""
    field = np.zeros((height, width))
    for cell, weight in ((24, 1.0), (8, 0.6), (3, 0.35)):
        coarse = rng.random((height // cell + 2, width // cell + 2))
        up = np.kron(coarse, np.ones((cell, cell)))[:height, :width]
        field += weight * _blur(up, cell)
    field = (field - field.min()) / (np.ptp(field) + 1e-9)
    c0, c1 = (np.array(c, dtype=np.float64) for c in palette)
    img = c0 + field[..., None] * (c1 - c0)
    return np.clip(img, 0, 255).astype(np.uint8)


def _checker(palette, cell: int = 8) -> np.ndarray:
    """High-contrast 64x64 checker in the class palette (dark / light), uint8 [64, 64, 3]."""
    yy, xx = np.mgrid[0:64, 0:64]
    on = ((yy // cell + xx // cell) % 2).astype(bool)
    dark = (np.array(palette[0]) * 0.25).astype(np.uint8)
    light = np.array(palette[1], dtype=np.uint8) // 2 + 127
    return np.where(on[..., None], light, dark).astype(np.uint8)


def render_clip(spec: ClassSpec, scene_seed: int, clip: int, n_frames: int) -> np.ndarray:
    """Frames uint8 [T, 240, 320, 3] of one clip; clips of one scene share textures."""
    scene = np.random.default_rng(scene_seed)
    (px, py), (sx, sy) = spec.pan, spec.sprite
    margin_x, margin_y = abs(px) * n_frames + 8, abs(py) * n_frames + 8
    canvas = texture(scene, HEIGHT + margin_y, WIDTH + margin_x, spec.palette)
    sprite_tex = _checker(spec.palette)
    n_sprites = 3
    centres = scene.uniform((0, 0), (WIDTH, HEIGHT), size=(n_sprites, 2))
    radii = scene.integers(14, 26, size=n_sprites)
    clip_rng = np.random.default_rng([scene_seed, clip])
    shift = clip_rng.integers(0, 40, size=2)  # clips of a group: same scene, other offsets
    noise = np.random.default_rng([scene_seed, clip, 1])
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    frames = np.empty((n_frames, HEIGHT, WIDTH, 3), dtype=np.uint8)
    for t in range(n_frames):
        ox = (0 if px >= 0 else margin_x - 8) + px * t
        oy = (0 if py >= 0 else margin_y - 8) + py * t
        frame = canvas[oy:oy + HEIGHT, ox:ox + WIDTH].copy()
        if not spec.static:
            for (cx, cy), r in zip(centres, radii):
                x = (cx + shift[0] + sx * t) % (WIDTH + 2 * r) - r
                y = (cy + shift[1] + sy * t) % (HEIGHT + 2 * r) - r
                inside = (xx - x) ** 2 + (yy - y) ** 2 < r * r
                ys, xs = np.nonzero(inside)
                frame[ys, xs] = sprite_tex[(ys - int(y)) % 64, (xs - int(x)) % 64]
        else:
            jitter = noise.normal(0, 1.5, size=frame.shape)
            frame = np.clip(frame + jitter, 0, 255).astype(np.uint8)
        frames[t] = frame
    return frames


def write_avi(path: Path, frames: np.ndarray) -> None:
    """Write uint8 [T, H, W, 3] as an xvid-tagged mpeg4 AVI, bit-exact for the same frames."""
    import imageio_ffmpeg

    height, width = frames.shape[1:3]
    writer = imageio_ffmpeg.write_frames(
        os.fspath(path), (width, height), fps=FPS, codec="mpeg4", pix_fmt_out="yuv420p", quality=None,
        output_params=["-vtag", "XVID", "-q:v", "4", "-threads", "1", "-fflags", "+bitexact",
                       "-flags:v", "+bitexact", "-f", "avi"],
        macro_block_size=16, ffmpeg_log_level="error",
    )
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(frame).tobytes())
    writer.close()


def generate_sample(root: Path, *, seed: int, moving_classes: int, static_classes: int, groups: int,
                    clips_per_group: int, frames: int) -> dict:
    """Generate the sample dataset into ``root`` (atomically: built beside it, then renamed; a non-empty
    ``root`` vfp did not make is refused, see :func:`vfp.data.layout.check_root`)."""
    specs = class_specs(moving_classes, static_classes)
    videos: dict[str, list[str]] = {}
    with dataset_dir(root) as tmp:  # a failure or Ctrl-C removes the temp folder and keeps the old root
        for class_index, spec in enumerate(specs):
            (tmp / spec.name).mkdir()
            for group in range(1, groups + 1):
                scene_seed = seed * 1_000_003 + class_index * 1009 + group
                for clip in range(1, clips_per_group + 1):
                    name = f"v_{spec.name}_g{group:02d}_c{clip:02d}.avi"
                    write_avi(tmp / spec.name / name, render_clip(spec, scene_seed, clip, frames))
                    videos.setdefault(spec.name, []).append(f"{spec.name}/{name}")
        write_split_lists(tmp / "splits", [s.name for s in specs], videos, test_groups=_test_groups(groups))
    return {"classes": len(specs), "videos": sum(map(len, videos.values()))}


def _test_groups(groups: int) -> dict[int, set[int]]:
    """Official-style test groups of splits 1..3: split k tests on groups 2k-1 and 2k."""
    del groups  # groups >= 6 is checked by the config
    return {k: {2 * k - 1, 2 * k} for k in (1, 2, 3)}

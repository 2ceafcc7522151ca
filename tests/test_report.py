import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from urllib.parse import unquote

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg

from vfp.baselines import predictors
from vfp.frames import to_model
from vfp.gif import CONTEXT_COLOUR, EXPECTED_COLOUR, GENERATED_COLOUR, write_gif_pair
from vfp.metrics import MetricAccumulator, per_step_metrics
from vfp.report import write_report
from vfp.report_plots import loss_figure
from vfp.results import flat_metrics


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs: list[str] = []
        self.tables: list[str] = []
        self.cells: list[str] = []
        self._in_td = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a.get("src"))
        elif tag == "table":
            self.tables.append(a.get("id"))
        elif tag == "td":
            self._in_td = True
            self.cells.append("")

    def handle_endtag(self, tag):
        if tag == "td":
            self._in_td = False

    def handle_data(self, data):
        if self._in_td:
            self.cells[-1] += data


def _frames(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return to_model(torch.randint(0, 256, shape, generator=g, dtype=torch.uint8))


def _build(tmp_path, stem="clip <1> & \"x\""):
    b, n_in, t, c, h, w = 2, 3, 4, 1, 16, 16
    ctx = _frames((b, n_in, c, h, w), 0)
    target = _frames((b, t, c, h, w), 1)
    pred = (target + 0.1 * torch.randn(target.shape, generator=torch.Generator().manual_seed(3))).clamp(-1, 1)
    last = ctx[:, -1]
    acc_m = MetricAccumulator()
    acc_m.update(per_step_metrics(pred, target, last))
    steps = {"model": acc_m.per_step()}
    for name, predict in predictors().items():  # copy-last and flow extrapolation
        acc = MetricAccumulator()
        acc.update(per_step_metrics(predict(ctx, t), target, last))
        steps[name] = acc.per_step()
    flat = flat_metrics(steps["model"], {k: v for k, v in steps.items() if k != "model"})
    out_dir = tmp_path / "report"
    # one pair outside out_dir (must be copied), one already inside out_dir
    pair_outside = write_gif_pair(ctx[0], pred[0], target[0], tmp_path / "elsewhere", stem)
    pair_inside = write_gif_pair(ctx[1], pred[1], target[1], out_dir / "gifs", "clip_002")
    history = [{"epoch": e, "iteration": 10 * e + i, "loss": 1.0 / (1 + 10 * e + i), "loss_gdl": 0.5 / (1 + e)}
               for e in range(3) for i in range(10)]
    index = write_report(out_dir, model="convlstm", flat=flat, steps=steps, loss_history=history,
                         gif_pairs=[pair_outside, pair_inside])
    return index, out_dir, flat


def test_report_html_structure(tmp_path):
    index, out_dir, flat = _build(tmp_path)
    assert index == out_dir / "index.html"
    text = index.read_text()
    p = _Collector()
    p.feed(text)
    assert "metrics-table" in p.tables
    assert len(p.imgs) == 3 + 4  # psnr, ssim, loss + 2 GIF pairs
    for src in p.imgs:
        assert src and not src.startswith(("/", "file:", "http")), src
        target = (out_dir / unquote(src)).resolve()
        assert target.is_file(), src
        assert out_dir.resolve() in target.parents
    for key in ["psnr_t1", "copy_last_psnr_t1", "psnr_gain_t1", "ssim_mean", "copy_last_ssim_t4", "mse_gain_t2",
                "flow_psnr_t1", "psnr_gain_flow_t1", "psnr_frame_t1"]:
        assert f"{flat[key]:.4f}" in p.cells, key
    head = re.search(r'<table id="metrics-table"><thead><tr>(.*?)</tr>', text).group(1)
    assert re.findall(r"<th>(.*?)</th>", head) == ["Metric", "Step", "convlstm", "copy-last", "flow",
                                                    "gain vs copy-last", "gain vs flow"]  # three columns + gains
    # escaping of the stem
    assert 'clip &lt;1&gt; &amp; &quot;x&quot;' in text
    assert "clip <1>" not in text
    assert (out_dir / "gifs" / 'clip <1> & "x"_expected_large.gif').is_file()


def test_report_deterministic_and_no_history(tmp_path):
    index, out_dir, flat = _build(tmp_path)
    first = index.read_text()
    index2, _, _ = _build(tmp_path)
    assert index2.read_text() == first
    steps = {"model": {"psnr": [30.0, 25.0], "ssim": [0.9, 0.8]},
             "copy_last": {"psnr": [28.0, 20.0], "ssim": [0.85, 0.7]}}
    idx = write_report(tmp_path / "r2", model="copy_last", flat=None, steps=steps, loss_history=None, gif_pairs=[])
    text = idx.read_text()
    assert "No training loss history" in text
    assert not (tmp_path / "r2" / "loss.png").exists()
    assert "2.0000" in text and "5.0000" in text


def test_loss_legend_sits_beside_the_curves_with_many_series():
    """A GAN logs 16+ scalars (G and D losses, per scale): the legend must not cover the plot, and no two
    series may share both colour and line style."""
    names = ["loss_g", "loss_d", "d_real", "d_fake"] + [f"{k}_s{s}" for k in ("lp", "gdl", "adv") for s in (4, 16, 32, 64)]
    history = [{"epoch": e, **{n: (i + 1) / (e + 1) for i, n in enumerate(names)}} for e in range(1, 9)]
    fig, plotted = loss_figure(history)
    assert plotted == names
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    (ax,), (legend,) = fig.axes, fig.legends
    assert len(legend.get_texts()) == len(names)
    assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))
    assert legend.get_window_extent(renderer).x1 <= fig.bbox.x1 + 1  # inside the image, not cut off
    looks = {(line.get_color(), line.get_linestyle()) for line in ax.get_lines()}
    assert len(looks) == len(names)


def test_report_explains_the_gif_timeline(tmp_path):
    index, _, _ = _build(tmp_path)
    note = re.search(r'<p id="timeline-note">(.*?)</p>', index.read_text(), re.S)
    assert note, "the gallery must say what the bar under the GIF frames means"
    for rgb, meaning in ((CONTEXT_COLOUR, "context"), (EXPECTED_COLOUR, "true future"),
                         (GENERATED_COLOUR, "predicted future")):
        assert re.search(rf"rgb\({rgb[0]}, {rgb[1]}, {rgb[2]}\)\"></span> {meaning}", note.group(1)), meaning


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.path.exists("/usr/bin/chromium"):
        return "/usr/bin/chromium"
    return None


CHROMIUM = _chromium()


def test_report_renders_in_headless_chromium(tmp_path, need_tool):
    chromium = CHROMIUM or need_tool("chromium", package="chromium")  # skipped locally, fails under CI
    index, out_dir, _ = _build(tmp_path)
    profile = tmp_path / "profile"
    base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--virtual-time-budget=5000"]
    url = index.resolve().as_uri()
    res = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True, timeout=60)
    dom = res.stdout
    assert res.returncode == 0, res.stderr[-2000:]
    assert 'id="metrics-table"' in dom
    n_img = len(re.findall(r"<img\b", dom))
    assert n_img == 7
    m = re.search(r'data-images-loaded="(\d+)"', dom)
    assert m, "load script did not run: " + dom[:500]
    assert int(m.group(1)) == n_img
    assert f'data-images-total="{n_img}"' in dom

    shot = tmp_path / "shot.png"
    res = subprocess.run(base + [f"--screenshot={shot}", "--window-size=1200,1600", url],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (1200, 1600)
        colours = im.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 20

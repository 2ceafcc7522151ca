"""Training on two "nodes" of this machine: torchrun's c10d rendezvous on loopback, gloo, CPU.

Two torchrun launches with ``--nnodes=2 --nproc_per_node=1`` (each in its own folder: no shared
storage) train the same tiny model as one ``--nnodes=1 --nproc_per_node=2`` launch, with the same
global batch and seed. Every process runs one thread (``OMP_NUM_THREADS=1``; torchrun sets it only
when it starts more than one process per node), so the two runs compute the same sums in the same order.
``VFP_CLIP_LOG`` makes each rank record the clip indices and clips it trained on.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from vfp.handlers.checkpoint import checkpoint_files

REPO = Path(__file__).resolve().parents[1]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]  # what the `torchrun` command runs
VFP_TORCHRUN = [sys.executable, "-m", "vfp.torchrun"]
CLIPS_PER_EPOCH, BATCH, EPOCHS = 16, 4, 2
NODES = ("127.0.0.1", "127.0.0.2")  # --local-addr of the two "nodes"; c10d ranks nodes in this order


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(clip_log: Path | None = None) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p))
    env.pop("VFP_CLIP_LOG", None)
    if clip_log is not None:
        env["VFP_CLIP_LOG"] = str(clip_log)
    return env


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_params, write_video, moving_frames) -> Path:
    """Four training and two validation videos (12 frames, 32x32), their split lists, tiny seq2seq params."""
    root = tmp_path_factory.mktemp("multinode")
    lists = {"train": [], "val": []}
    for i in range(6):
        video = write_video(root / "videos" / "Pan" / f"v_Pan_g{i + 1:02d}_c01.avi",
                            moving_frames(12, 32, 32, dx=1 + i % 3, seed=i))
        lists["train" if i < 4 else "val"].append(f"{video}\t12")
    for name, lines in lists.items():
        (root / "split" / f"{name}.txt").parent.mkdir(exist_ok=True)
        (root / "split" / f"{name}.txt").write_text("\n".join(lines) + "\n")
    # seq2seq without scheduled sampling (its draws depend on the per-process batch), no batch norm (the
    # statistics would be per process), a constant LR (cosine follows train.epochs): one process and two
    # compute the same function of the global batch, up to the order of the gradient sums
    tiny_params(root, model="seq2seq", data={"size": [16, 16], "interval": 1, "cache": ""},
                train={"epochs": EPOCHS, "batch_size": BATCH, "crop": 0, "starts": "all", "clips_per_epoch": CLIPS_PER_EPOCH,
                       "num_workers": 0, "snapshot_videos": 0, "device": "cpu", "n_saved": 3},
                seq2seq={"lr": 0.001, "n_output": 2, "lr_schedule": {"kind": "constant"},
                         "sampling": {"start": 0.0, "end": 0.0},
                         "net": {"n_input": 2, "embed": 8, "hidden": [8], "stride": 4, "residual": True}},
                evaluate={"horizon": 2, "batch_size": 4})
    return root


def _train_args(project: Path, out: Path, *extra: str) -> list[str]:
    return [str(REPO / "stages" / "train.py"), "--params", str(project / "params.yaml"),
            "--split-dir", str(project / "split"), "--out", str(out), *extra]


def _start(cmd: list[str], cwd: Path, clip_log: Path | None = None) -> subprocess.Popen:
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(cmd, cwd=cwd, env=_env(clip_log), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _finish(proc: subprocess.Popen, timeout: float = 240) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(proc.args)} exited {proc.returncode}:\n{out[-2000:]}\n{err[-3000:]}"
    return out + err


def _node_cmd(launcher: list[str], port: int, addr: str, nnodes: int = 2, nproc: int = 1) -> list[str]:
    return [*launcher, f"--nnodes={nnodes}", f"--nproc_per_node={nproc}", "--rdzv_backend=c10d",
            f"--rdzv_endpoint=127.0.0.1:{port}", f"--local-addr={addr}"]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def max_abs_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


def _clip_log(folder: Path) -> dict[tuple[int, int], dict]:
    """``{(epoch, rank): {"indices": [...], "clips": [...]}}`` from the ``rank<R>.jsonl`` files in ``folder``."""
    seen: dict[tuple[int, int], dict] = {}
    for path in sorted(folder.glob("rank*.jsonl")):
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            entry = seen.setdefault((rec["epoch"], rec["rank"]), {"indices": [], "clips": []})
            entry["indices"] += rec.get("indices", [])
            entry["clips"] += rec.get("clips", [])
    return seen


@pytest.fixture(scope="module")
def runs(project) -> dict:
    """The single-node run (one launch, 2 processes) and the two-node run (two launches), side by side."""
    single_port, pair_port = free_port(), free_port()
    started = time.monotonic()
    single = _start(_node_cmd(TORCHRUN, single_port, NODES[0], nnodes=1, nproc=2)
                    + _train_args(project, project / "single" / "out"),
                    project / "single", project / "single" / "clips")
    nodes = [_start(_node_cmd(TORCHRUN, pair_port, addr) + _train_args(project, project / f"node{i}" / "out"),
                    project / f"node{i}", project / f"node{i}" / "clips") for i, addr in enumerate(NODES)]
    logs = [_finish(p) for p in (single, *nodes)]
    return {"logs": logs, "seconds": time.monotonic() - started}


@pytest.mark.slow
def test_two_node_equals_single_node(project, runs):
    single = project / "single" / "out"
    writers = [i for i in range(2) if (project / f"node{i}" / "out").exists()]
    assert writers == [0], f"only rank 0's node writes the run folder; written on nodes {writers}"
    two_node = project / "node0" / "out"
    ckpts = checkpoint_files(single)
    assert [it for it, _ in ckpts] == [it for it, _ in checkpoint_files(two_node)]
    assert len(ckpts) == EPOCHS  # one per epoch
    for _, path in ckpts:
        diff = max_abs_diff(_weights(path), _weights(two_node / path.name))
        print(f"{path.name}: max |single-node - two-node| weight difference {diff:.3g}")
        assert diff <= 1e-6, f"{path.name}: weights differ by {diff}"
    exported = [torch.load(d / "model.pt", weights_only=True)["state_dict"] for d in (single, two_node)]
    assert max((exported[0][k] - exported[1][k]).abs().max().item() for k in exported[0]) <= 1e-6
    print(f"three torchrun launches (4 workers) took {runs['seconds']:.0f} s")


@pytest.mark.slow
def test_two_node_ranks_see_disjoint_data_each_epoch(project, runs):
    single = _clip_log(project / "single" / "clips")
    two_node = _clip_log(project / "node0" / "clips") | _clip_log(project / "node1" / "clips")
    assert sorted(two_node) == [(e, r) for e in range(1, EPOCHS + 1) for r in (0, 1)]
    orders = []
    for epoch in range(1, EPOCHS + 1):
        a, b = two_node[(epoch, 0)], two_node[(epoch, 1)]
        assert len(a["indices"]) == len(b["indices"]) == CLIPS_PER_EPOCH // 2
        assert not set(a["indices"]) & set(b["indices"]), f"epoch {epoch}: both ranks got the same indices"
        assert sorted(a["indices"] + b["indices"]) == list(range(CLIPS_PER_EPOCH))  # all of the epoch, once
        assert len(a["clips"]) == len(b["clips"]) == CLIPS_PER_EPOCH // 2
        assert not set(a["clips"]) & set(b["clips"]), f"epoch {epoch}: both ranks trained on the same clip"
        for rank in (0, 1):  # the same share as on one node
            assert two_node[(epoch, rank)] == single[(epoch, rank)], f"epoch {epoch} rank {rank}"
        orders.append(a["indices"])
    assert orders[0] != orders[1]  # a new shuffle each epoch


@pytest.mark.slow
def test_multinode_resume_on_another_number_of_processes(project, runs):
    """One process trains epoch 1; two nodes resume it for epoch 2 (the second node has no run folder)."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["epochs"] = 1  # not part of the run's identity: a later run with more epochs continues it
    (project / "resume").mkdir()
    (project / "resume" / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = project / "resume" / "out"
    one = _train_args(project, out)
    one[2] = str(project / "resume" / "params.yaml")
    _finish(_start([sys.executable, *one], project / "resume"))
    (epoch1, _), = checkpoint_files(out)

    port = free_port()
    nodes = [_start(_node_cmd(VFP_TORCHRUN, port, addr) + _train_args(project, folder), folder.parent)
             for addr, folder in zip(NODES, (out, project / "resume_node1" / "out"))]
    first, _ = (_finish(p) for p in nodes)
    assert f"resuming from {out / f'checkpoint_{epoch1}.pt'}" in first
    assert not (project / "resume_node1" / "out").exists()  # rank 1 got the checkpoint over the process group
    reference = project / "single" / "out"
    for it, path in checkpoint_files(out):
        diff = max_abs_diff(_weights(path), _weights(reference / path.name))
        print(f"{path.name}: max |resumed - single-node run| weight difference {diff:.3g}")
        assert diff <= 1e-6, f"{path.name}: resumed run differs from the uninterrupted one by {diff}"
    assert [it for it, _ in checkpoint_files(out)] == [it for it, _ in checkpoint_files(reference)]


def _failing(cmd: list[str], cwd: Path) -> tuple[subprocess.Popen, float]:
    return subprocess.Popen(cmd, cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True), time.monotonic()


def _one_line(started: tuple[subprocess.Popen, float], limit: float = 300) -> str:
    proc, t0 = started
    out, err = proc.communicate(timeout=limit)  # a hang fails here
    assert proc.returncode == 1, (proc.returncode, out[-1000:], err[-3000:])
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: rendezvous"), err[-3000:]
    print(f"{time.monotonic() - t0:.0f} s -> {lines[0]}")
    return lines[0]


@pytest.mark.slow
def test_multinode_rendezvous_not_reached_is_one_line(tmp_path):
    """The store not reachable (nothing listens there) and the second node never coming: one line each."""
    script = tmp_path / "hello.py"
    script.write_text("import torch.distributed as dist\ndist.init_process_group('gloo')\n")
    closed, alone = free_port(), free_port()  # nobody listens on `closed`; is_host=false: this node only connects
    unreachable = _failing([*_node_cmd(VFP_TORCHRUN, closed, NODES[1]), "--rdzv-conf=is_host=false,read_timeout=3",
                            str(script)], tmp_path)
    missing = _failing([*_node_cmd(VFP_TORCHRUN, alone, NODES[0]), "--rdzv-conf=join_timeout=3", str(script)],
                       tmp_path)
    line = _one_line(unreachable)
    assert f"127.0.0.1:{closed} not reachable within 3 s" in line and "read_timeout" in line
    line = _one_line(missing)
    assert "2 nodes did not all join within 3 s" in line and "join_timeout" in line


def test_multinode_resume_with_another_epoch_length():
    from ignite.engine import Engine

    from vfp.distributed import fit_epoch_length, note_global_batch
    from vfp.errors import VfpError

    said = []
    trainer = Engine(lambda e, b: None)
    trainer.load_state_dict({"epoch": 3, "epoch_length": 8, "max_epochs": 10})  # saved at an epoch's end
    fit_epoch_length(trainer, 6, said.append)
    assert (trainer.state.epoch, trainer.state.iteration, trainer.state.epoch_length) == (3, 18, 6)
    assert said and "8 -> 6 iterations per epoch" in said[0]
    trainer.load_state_dict({"iteration": 27, "epoch_length": 8, "max_epochs": 10})  # Ctrl-C inside epoch 4
    with pytest.raises(VfpError, match="middle of epoch 4"):
        fit_epoch_length(trainer, 6, said.append)
    assert note_global_batch(16, 2, said.append) == 8 and len(said) == 1  # divides: nothing said
    assert note_global_batch(16, 3, said.append) == 5 and "a global batch of 15" in said[-1]


@pytest.mark.slow
def test_multinode_failed_worker_ends_in_its_message_and_one_line(tmp_path):
    proc, _ = _failing([*VFP_TORCHRUN, "--nnodes=1", "--nproc_per_node=1", "--rdzv_backend=c10d",
                        f"--rdzv_endpoint=127.0.0.1:{free_port()}", str(REPO / "stages" / "train.py"),
                        "--params", "missing.yaml"], tmp_path)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1
    lines = err.strip().splitlines()  # the stage's own line, then the launcher's
    assert len(lines) == 2 and lines[0].startswith("error: missing.yaml"), err[-3000:]
    assert lines[1] == "error: 1 worker process failed (first: rank 0, exit code 1)"

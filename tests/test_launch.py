"""vfp.launch: a worker's VfpError reaches the caller as the same error type and message (no traceback text)."""
from __future__ import annotations

import ignite.distributed as idist
import pytest

from vfp.config import ConfigError
from vfp.launch import launch


def _fail_on_rank_1(message: str) -> None:
    if idist.get_rank() == 1:
        raise ConfigError(message)
    idist.barrier()  # rank 0 waits in a collective: the launcher must still end, with rank 1's error


def _ok(path: str) -> None:
    with open(f"{path}.{idist.get_rank()}", "w") as f:
        f.write(str(idist.get_world_size()))


@pytest.mark.slow
def test_worker_error_comes_back_typed():
    with pytest.raises(ConfigError) as info:
        launch(_fail_on_rank_1, "params.yaml: train.epochs must be >= 1", nproc_per_node=2, backend="gloo")
    assert str(info.value) == "params.yaml: train.epochs must be >= 1"
    assert info.value.__cause__ is None and "Traceback" not in str(info.value)


@pytest.mark.slow
def test_two_workers_run(tmp_path):
    launch(_ok, str(tmp_path / "rank"), nproc_per_node=2, backend="gloo")
    assert [(tmp_path / f"rank.{r}").read_text() for r in (0, 1)] == ["2", "2"]

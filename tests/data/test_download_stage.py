"""The download stage with data.source: ucf101 and no reachable server: one line, exit 1, nothing written."""
import socket
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_server_is_one_line_error(tmp_path):
    base = f"http://127.0.0.1:{_closed_port()}"
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"]["source"] = "ucf101"
    params["ucf101"].update(rar_url=f"{base}/UCF101.rar", splits_url=f"{base}/splits.zip",
                            download_dir=str(tmp_path / "dl"))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    proc = subprocess.run([sys.executable, str(REPO / "stages/download.py")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and base in lines[0] and "data.source: folder" in lines[0]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "data" / "raw").exists()

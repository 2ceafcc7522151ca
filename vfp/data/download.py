"""Resumable, verified HTTP downloads.

``download_file`` streams a URL to ``<dest>.part`` with a tqdm progress bar,
resumes an interrupted transfer with ``Range: bytes=N-``, verifies size and
sha256, and only then renames the file into place.  Network failures become a
one-line :class:`vfp.errors.VfpError`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import time
import warnings
from pathlib import Path

import requests
import urllib3
from tqdm import tqdm

from vfp.errors import VfpError

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # 1 MiB


class _Dropped(Exception):
    """The connection dropped after the response started; resumable."""


def sha256_file(path: Path, *, progress: bool = False) -> str:
    """sha256 hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as f, tqdm(
        total=size, unit="B", unit_scale=True, unit_divisor=1024,
        desc=f"sha256 {path.name}", disable=not progress, leave=False,
    ) as bar:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
            bar.update(len(chunk))
    return h.hexdigest()


def verify_file(path: Path, *, size: int | None = None, sha256: str | None = None,
                progress: bool = False) -> str | None:
    """Return None if ``path`` matches ``size``/``sha256`` (those given), else a short reason."""
    actual = path.stat().st_size
    if size is not None and actual != size:
        return f"size is {actual} bytes, expected {size}"
    if sha256:
        digest = sha256_file(path, progress=progress)
        if digest.lower() != sha256.lower():
            return f"sha256 is {digest}, expected {sha256.lower()}"
    return None


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _reason(exc: BaseException) -> str:
    """A few words saying why a request failed."""
    if isinstance(exc, requests.exceptions.HTTPError):
        return str(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error (certificate could not be verified or handshake failed)"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return "server stopped sending data (read timed out)"
    # Walk the cause chain for the low-level reason.
    seen = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, socket.gaierror) or "NameResolution" in type(cur).__name__:
            return "DNS lookup failed (no network or unknown host)"
        if isinstance(cur, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cur, (TimeoutError, socket.timeout)):
            return "connection timed out"
        if isinstance(cur, OSError) and cur.errno in (101, 113):  # ENETUNREACH, EHOSTUNREACH
            return "network unreachable"
        nxt = cur.__cause__ or cur.__context__
        if nxt is None and cur.args and isinstance(cur.args[0], BaseException):
            nxt = cur.args[0]
        if nxt is None and len(cur.args) > 1 and isinstance(cur.args[1], BaseException):
            nxt = cur.args[1]
        cur = nxt
    if isinstance(exc, (urllib3.exceptions.ProtocolError, requests.exceptions.ChunkedEncodingError)):
        return "connection closed before the end of the file"
    text = str(exc)
    if "Name or service not known" in text or "Temporary failure in name resolution" in text:
        return "DNS lookup failed (no network or unknown host)"
    if "Connection refused" in text:
        return "connection refused"
    return f"network error ({type(exc).__name__})"


def _fail(url: str, reason: str, hint: str | None) -> VfpError:
    msg = f"download failed: {url}: {reason}"
    if hint:
        msg += f"; {hint}"
    return VfpError(_one_line(msg))


def _content_range_start(value: str | None) -> int | None:
    m = re.match(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)", value or "")
    return int(m.group(1)) if m else None


def _total_from(resp: requests.Response, offset: int) -> int | None:
    cr = resp.headers.get("Content-Range")
    if cr:
        m = re.search(r"/(\d+)\s*$", cr)
        if m:
            return int(m.group(1))
    cl = resp.headers.get("Content-Length")
    if cl and cl.isdigit():
        return offset + int(cl)
    return None


def download_file(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    size: int | None = None,
    insecure_tls: bool = False,
    retries: int = 5,
    backoff: float = 2.0,
    timeout: float = 60.0,
    progress: bool = True,
    hint: str | None = None,
    session: requests.Session | None = None,
) -> Path:
    """Download ``url`` to ``dest`` (resumable, verified) and return ``dest``.

    - An existing ``dest`` that matches ``size``/``sha256`` is kept: no request is made.
      One that does not match is moved to ``<dest>.part`` and downloaded again from zero.
    - Data goes to ``<dest>.part``; a later call resumes it with ``Range: bytes=N-``
      (206 appends; a 200 answer means the server ignored Range: restart from zero;
      416 means the part is already complete).
    - When the connection drops mid-way, the download resumes up to ``retries`` times
      (waiting ``backoff * 2**k`` seconds, capped at 30 s).
    - The finished ``.part`` is checked against ``size`` and ``sha256`` (those given);
      on mismatch it is deleted and a VfpError is raised, ``dest`` is never created.
    - ``insecure_tls=True`` turns off certificate verification, with a loud warning.
    - Failures raise :class:`VfpError` with one line: the URL, the reason, and ``hint``.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")

    if _verified_already(dest, size, sha256, progress):
        return dest
    if insecure_tls:
        _warn_insecure_tls(url)

    own_session = session is None
    sess = session or requests.Session()
    try:
        _fetch_with_retries(sess, url, part, size=size, verify=not insecure_tls, timeout=timeout,
                            progress=progress, retries=retries, backoff=backoff, hint=hint)
    finally:
        if own_session:
            sess.close()

    bad = verify_file(part, size=size, sha256=sha256, progress=progress)
    if bad is not None:
        part.unlink(missing_ok=True)
        raise _fail(url, f"downloaded file is corrupt: {bad}; the partial file was deleted, "
                    "run again to retry (or fix the checksum in params.yaml if the published file changed)",
                    hint)
    os.replace(part, dest)
    log.info("downloaded %s", dest)
    return dest


def _fetch_with_retries(sess: requests.Session, url: str, part: Path, *, size: int | None, verify: bool,
                        timeout: float, progress: bool, retries: int, backoff: float, hint: str | None) -> None:
    """Fill ``part`` from ``url`` (resuming it), retrying dropped connections (see :func:`download_file`)."""
    failures = 0
    while True:
        offset = part.stat().st_size if part.exists() else 0
        if size is not None and offset > size:
            log.warning("%s is larger than expected (%d > %d); restarting", part, offset, size)
            part.unlink()
            offset = 0
        if size is not None and offset == size:
            break  # already complete: verify below without asking the server
        try:
            done = _fetch(sess, url, part, offset, verify=verify,
                          timeout=timeout, progress=progress)
        except _Dropped as exc:
            failures += 1
            if failures > retries:
                raise _fail(url, f"connection dropped {failures} times ({exc}); "
                            f"partial data kept in {part}, run again to resume", hint) from None
            wait = min(30.0, backoff * 2 ** (failures - 1))
            log.warning("download of %s interrupted (%s); resuming in %.0f s (%d/%d)",
                        url, exc, wait, failures, retries)
            time.sleep(wait)
            continue
        except requests.exceptions.RequestException as exc:
            if failures and failures <= retries:
                # A reconnect after a drop failed: count it as another drop.
                failures += 1
                wait = min(30.0, backoff * 2 ** (failures - 1))
                time.sleep(wait)
                continue
            raise _fail(url, _reason(exc), hint) from None
        if done:
            break


def _verified_already(dest: Path, size: int | None, sha256: str | None, progress: bool) -> bool:
    """True when ``dest`` exists and matches; a mismatching ``dest`` is deleted (downloaded again)."""
    if not dest.exists():
        return False
    bad = verify_file(dest, size=size, sha256=sha256, progress=progress)
    if bad is None:
        log.info("%s already downloaded and verified", dest)
        return True
    log.warning("%s exists but %s; downloading it again", dest, bad)
    dest.unlink()
    return False


def _warn_insecure_tls(url: str) -> None:
    msg = (f"TLS CERTIFICATE VERIFICATION IS DISABLED for {url} (insecure_tls: true); "
           "the download could be tampered with. Only use this on a network you trust.")
    log.warning(msg)
    warnings.warn(msg, stacklevel=3)


def _fetch(sess: requests.Session, url: str, part: Path, offset: int, *, verify: bool,
           timeout: float, progress: bool) -> bool:
    """One GET; append to ``part`` from ``offset``. True when the body is complete."""
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    # Ask for the raw bytes (no transparent gzip) so offsets stay meaningful.
    headers["Accept-Encoding"] = "identity"
    with sess.get(url, headers=headers, stream=True, verify=verify,
                  timeout=(min(timeout, 30.0), timeout)) as resp:
        if resp.status_code == 416 and offset:
            log.info("server says %s is already complete (416)", part)
            return True
        if resp.status_code == 206:
            start = _content_range_start(resp.headers.get("Content-Range"))
            if start != offset:
                log.warning("server answered Range %d with %r; restarting from zero",
                            offset, resp.headers.get("Content-Range"))
                part.unlink(missing_ok=True)
                return False
            mode = "ab"
        elif resp.status_code == 200:
            if offset:
                log.warning("server ignored the Range request; restarting %s from zero", part.name)
            offset = 0
            mode = "wb"
        else:
            raise requests.exceptions.HTTPError(f"server answered HTTP {resp.status_code} {resp.reason}",
                                                response=resp)
        total = _total_from(resp, offset)
        got = offset
        with open(part, mode) as f, tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
            desc=part.name[: -len(".part")], disable=not progress, miniters=1,
        ) as bar:
            # raw.read1 hands over whatever has arrived, so bytes received before a
            # drop are written (iter_content would discard a partly filled chunk).
            while True:
                try:
                    chunk = resp.raw.read1(CHUNK)
                except (urllib3.exceptions.HTTPError, requests.exceptions.RequestException,
                        OSError) as exc:  # OSError: socket errors (reset, timeout)
                    raise _Dropped(f"{got} bytes so far: {_reason(exc)}") from exc
                if not chunk:
                    break
                f.write(chunk)  # a disk error here is not a network drop: let it propagate
                got += len(chunk)
                bar.update(len(chunk))
        if total is not None and got < total:
            raise _Dropped(f"{got} of {total} bytes received")
        return True

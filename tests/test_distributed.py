"""``--ray`` (issue 14): a local Ray runtime on 127.0.0.1, shared by this module's tests.

The folder compressed as Ray tasks gives the single-process path's files byte for
byte, its table and exit status; a re-run skips finished files; a bad image (one
the driver cannot read, one a task refuses) fails alone; a worker killed mid-task
is retried and the folder completes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sgaplus.cli.main import main


@pytest.fixture(scope="module")
def ray_runtime():
    """Two CPUs on the loopback interface (Ray binds to the machine's address unless
    told it is not a cluster, which must be said before ray is imported)."""
    old = os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             logging_level="ERROR", log_to_driver=False)
    assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
    yield ray
    ray.shutdown()
    if old is None:
        del os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"]


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory, tiny_model) -> Path:
    from sgaplus.zoo import save_model

    path = tmp_path_factory.mktemp("models") / "tiny.pt"
    save_model(tiny_model, path)
    return path



def folder(root: Path, photo_png: Path) -> Path:
    src = root / "in"
    src.mkdir()
    photo = Image.open(photo_png)
    photo.save(src / "a.png")
    photo.transpose(Image.FLIP_LEFT_RIGHT).save(src / "b.png")
    (src / "c.png").write_bytes(b"\x89PNG broken")  # the driver cannot read it
    big = np.random.default_rng(0).integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
    Image.fromarray(big).save(src / "d.png")  # a task refuses it: above --max-memory
    return src


def compress(capsys, src: Path, out: Path, model: Path, *extra: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["compress", str(src), "-o", str(out), "--model", str(model), "--iters", "5",
                 "--device", "cpu", "--max-memory", "1G", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_ray_folder_equals_one_process_and_resumes(ray_runtime, tmp_path, capsys, tiny_ckpt, photo_png,
                                                   one_thread):
    src = folder(tmp_path, photo_png)
    here, there = tmp_path / "here", tmp_path / "there"
    code_here, table_here, err_here = compress(capsys, src, here, tiny_ckpt)
    code_there, table_there, err_there = compress(capsys, src, there, tiny_ckpt, "--ray")
    assert code_here == code_there == 2
    assert sorted(p.name for p in there.iterdir()) == ["a.sgp", "b.sgp"]
    for name in ("a.sgp", "b.sgp"):
        assert (there / name).read_bytes() == (here / name).read_bytes()
    strip = lambda table: [line[:-7] for line in table.splitlines()]  # noqa: E731  (seconds differ)
    assert strip(table_there) == strip(table_here) and "mean of 2" in table_there
    messages = lambda err: [line for line in err.splitlines()  # noqa: E731  (without the bar)
                            if line.strip() and not line.startswith("images:")]
    assert messages(err_there) == messages(err_here)
    failures = [line for line in err_there.splitlines() if line.startswith("sgaplus: error: ")]
    assert len(failures) == 2 and "c.png: " in err_there  # one line per failed image
    assert "d.png: coding 1 image(s) of 1024x1024 needs about" in err_there

    (there / "b.sgp").unlink()
    before = (there / "a.sgp").stat().st_mtime_ns
    code, table, err = compress(capsys, src, there, tiny_ckpt, "--ray")
    assert code == 2 and "1 file was already finished" in table
    assert (there / "a.sgp").stat().st_mtime_ns == before
    assert (there / "b.sgp").read_bytes() == (here / "b.sgp").read_bytes()
    assert [line.split()[0] for line in table.splitlines()[1:3]] == ["b.png", "mean"]


def _task_processes(name: str) -> list[int]:
    """Processes of this test's Ray runtime running task ``name`` (Ray retitles a worker
    ``ray::<task>`` while it runs one); only descendants of this process."""
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if not cmdline.startswith(f"ray::{name}"):
            continue
        pid = int(entry)
        while pid > 1:
            try:
                pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                break
            if pid == me:
                found.append(int(entry))
                break
    return found


def test_a_killed_worker_is_retried_and_the_folder_completes(ray_runtime, tmp_path, capsys, model,
                                                             photo_png, one_thread):
    src = tmp_path / "in"
    src.mkdir()
    photo = Image.open(photo_png)
    photo.save(src / "a.png")
    photo.transpose(Image.FLIP_TOP_BOTTOM).save(src / "b.png")
    out = tmp_path / "out"
    result: list[int] = []
    argv = ["compress", str(src), "-o", str(out), "--iters", "120", "--device", "cpu", "--ray"]
    runner = threading.Thread(target=lambda: result.append(main(argv)))
    runner.start()
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and runner.is_alive() and time.monotonic() < deadline:
        running = _task_processes("code_batch")
        if running:
            time.sleep(1.0)  # well inside the task, not at its first instruction
            if running[0] in _task_processes("code_batch"):
                os.kill(running[0], signal.SIGKILL)
                killed = running[0]
        time.sleep(0.05)
    runner.join(timeout=600)
    assert killed is not None, "no running task was seen to kill"
    assert result == [0]
    assert sorted(p.name for p in out.iterdir()) == ["a.sgp", "b.sgp"]
    for name in ("a", "b"):
        png = tmp_path / f"{name}.png"
        assert main(["decompress", str(out / f"{name}.sgp"), "-o", str(png)]) == 0
        assert Image.open(png).size == (96, 64)


def test_experiment_units_as_ray_tasks_equal_one_process(ray_runtime, tmp_path, tiny_family,
                                                         tiny_images_dir, monkeypatch, one_thread):
    """The missing units of an experiment refined as Ray tasks: the same figures as here."""
    import json

    from sgaplus.experiments import PROTOCOLS
    from test_experiments import TINY

    monkeypatch.setitem(PROTOCOLS, "tiny", TINY)
    monkeypatch.setenv("SGAPLUS_WARM_STARTS", str(tmp_path / "none"))
    argv = ["experiment", "curves", "--protocol", "tiny", "--data", str(tiny_images_dir),
            "--models", *tiny_family, "--device", "cpu", "--out"]
    assert main([*argv, str(tmp_path / "here")]) == 0
    assert main([*argv, str(tmp_path / "there"), "--ray"]) == 0
    units = lambda root: sorted(p for p in (root / "units").rglob("*.json")  # noqa: E731
                                if len(p.relative_to(root / "units").parts) == 3)  # model/setting/image
    here, there = units(tmp_path / "here"), units(tmp_path / "there")
    assert len(here) >= 10 and [p.relative_to(tmp_path / "here") for p in here] == \
        [p.relative_to(tmp_path / "there") for p in there]
    for a, b in zip(here, there):
        ua, ub = json.loads(a.read_text()), json.loads(b.read_text())
        assert {k: ua[k] for k in ("before", "after", "history", "actual_bpp")} == \
            {k: ub[k] for k in ("before", "after", "history", "actual_bpp")}
    assert (tmp_path / "there" / "report.md").read_text().count("partial") == \
        (tmp_path / "here" / "report.md").read_text().count("partial")


def test_compress_joins_a_ray_start_cluster_that_authenticates(tmp_path, photo_png):
    """README's cluster recipe on one machine: a `ray start --head` whose home has a
    ~/.ray/auth_token refuses clients that do not present it, and Ray's client presents it
    only with RAY_AUTH_MODE=token; sgaplus sets that itself when it finds the token. The head
    runs in a session of its own, stopped by signalling that session alone (`ray stop` would
    stop every Ray runtime of the machine)."""
    import secrets
    import socket

    home = tmp_path / "home"
    (home / ".ray").mkdir(parents=True)
    (home / ".ray" / "auth_token").write_text(secrets.token_hex(32))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(photo_png.read_bytes())
    env = {k: v for k, v in os.environ.items() if k != "RAY_AUTH_MODE"}
    env.update(HOME=str(home), RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(Path(__file__).parents[1] / "src"), env.get("PYTHONPATH", "")]))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    head = subprocess.Popen([str(Path(sys.executable).with_name("ray")), "start", "--head", "--block",
                             f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=1",
                             "--include-dashboard=false", "--disable-usage-stats"],
                            env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(2)
        proc = subprocess.run([sys.executable, "-m", "sgaplus.cli", "compress", str(tmp_path / "in"), "-o",
                               str(tmp_path / "out"), "--iters", "2", "--device", "cpu", "--ray", f"127.0.0.1:{port}"],
                              env=env, capture_output=True, text=True, timeout=300)
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        head.wait(timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.sgp"]

"""The shared runner: backends agree, failures are isolated, interrupted runs resume exactly."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from aistpp.cli import app
from aistpp.core import formats
from aistpp.core.runner import RunOptions, run_jobs

SEQS = [f"gBR_sBM_cAll_d04_mBR0_ch{i:02d}" for i in range(1, 13)]


@pytest.fixture(scope="module")
def many(synth_data, tmp_path_factory):
    """An annotation folder with 12 sequences (synth's two keypoints2d files, copied), a split and
    an ignore list, for runs long enough to interrupt."""
    root = tmp_path_factory.mktemp("many")
    (root / "keypoints2d").mkdir()
    shutil.copytree(synth_data.anno_dir / "cameras", root / "cameras")
    sources = sorted((synth_data.anno_dir / "keypoints2d").glob("*.pkl"))
    for i, seq in enumerate(SEQS):
        shutil.copy(sources[i % len(sources)], root / "keypoints2d" / f"{seq}.pkl")
    formats.write_mapping(root / "cameras" / "mapping.txt", {s: "setting1" for s in SEQS})
    formats.write_lines(root / "splits" / "small.txt", SEQS[:3])
    formats.write_lines(root / "ignore_list.txt", [SEQS[1]])
    return root


def _arrays(folder: Path) -> dict:
    return {p.name: formats.load_keypoints3d(p) for p in sorted(folder.glob("*.pkl"))}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        all(np.array_equal(a[n][k], b[n][k], equal_nan=True) for k in ("keypoints3d", "keypoints3d_optim")) for n in a)


def _triangulate(anno: Path, out: Path, *extra: str):
    return CliRunner().invoke(app, ["triangulate", "--anno-dir", str(anno), "--save-dir", str(out), "--quiet", *extra])


def test_backends_give_identical_outputs(synth_data, tmp_path):
    import ray  # noqa: F401  (in the test extra: the Ray backend is always checked)
    results = {}
    for executor in ("serial", "processes", "ray"):
        res = _triangulate(synth_data.anno_dir, tmp_path / executor, "--executor", executor, "--workers", "2")
        assert res.exit_code == 0, res.output
        results[executor] = _arrays(tmp_path / executor)
    assert len(results["serial"]) == len(synth_data.sequences)
    assert _same(results["serial"], results["processes"]) and _same(results["serial"], results["ray"])


def _fails_on_third(name: str) -> dict:
    if name.endswith("3"):
        raise ValueError(f"boom in {name}\nsecond line")
    return {"length": len(name)}


@pytest.mark.parametrize("executor", ["serial", "processes"])
def test_a_failing_sequence_does_not_stop_the_others(executor, tmp_path):
    names = ["seq1", "seq2", "seq3", "seq4"]
    report = run_jobs(_fails_on_third, names, RunOptions(executor=executor, workers=2, quiet=True,
                                                         report=tmp_path / "r.json", log_file=tmp_path / "log"))
    assert [it.status for it in report.items] == ["done", "done", "failed", "done"]
    assert report.items[2].error.startswith("ValueError: boom in seq3")
    saved = json.loads((tmp_path / "r.json").read_text())
    assert (saved["done"], saved["failed"]) == (3, 1)
    logged = [json.loads(line) for line in (tmp_path / "log").read_text().splitlines()]
    assert sorted(r["name"] for r in logged) == names


def test_cli_failed_sequence_is_reported_and_the_others_written(many, tmp_path):
    anno = tmp_path / "anno"
    shutil.copytree(many, anno)
    (anno / "keypoints2d" / f"{SEQS[4]}.pkl").write_bytes(b"not a pickle")
    res = _triangulate(anno, tmp_path / "out", "--sequence-names", ",".join(SEQS[3:6]), "--executor", "serial")
    assert res.exit_code == 2  # the failure is bad input (an unreadable file): exit 2, as any user error
    assert "2 done, 0 skipped, 1 failed" in res.output and SEQS[4] in res.output
    assert sorted(p.stem for p in (tmp_path / "out").glob("*.pkl")) == [SEQS[3], SEQS[5]]


def test_selection_split_ignore_list_and_dry_run(many, tmp_path):
    out = tmp_path / "out"
    res = _triangulate(many, out, "--split", "small", "--dry-run")
    assert res.exit_code == 0, res.output
    assert f"{SEQS[0]}: would run" in res.output and SEQS[1] not in res.output  # ignored
    assert "2 would run" in res.output and not out.exists()
    res = _triangulate(many, out, "--split", "small", "--include-ignored", "--executor", "serial")
    assert res.exit_code == 0 and sorted(p.stem for p in out.glob("*.pkl")) == SEQS[:3]
    res = _triangulate(many, out, "--split", "small", "--include-ignored", "--dry-run")
    assert res.output.count("skip (output exists)") == 3


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from aistpp.cli import main; main()", *args]


def _wait_for_outputs(proc: subprocess.Popen, folder: Path, count: int, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        if folder.is_dir() and len(list(folder.glob("*.pkl"))) >= count:
            return
        time.sleep(0.02)


def test_sigkill_then_resume_matches_an_uninterrupted_run(many, tmp_path):
    reference = tmp_path / "reference"
    assert _triangulate(many, reference, "--executor", "serial", "--include-ignored").exit_code == 0
    out = tmp_path / "out"
    args = _cli("triangulate", "--anno-dir", str(many), "--save-dir", str(out), "--executor", "serial",
                "--include-ignored", "--quiet")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for_outputs(proc, out, 3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = len(list(out.glob("*.pkl")))
    assert 0 < written < len(SEQS), "the run was not caught mid-way"
    # what a kill during a write leaves: a temporary file beside the output
    (out / f".{SEQS[-1]}.pkl.k1ll3d.tmp").write_bytes(b"half")
    res = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert _same(_arrays(out), _arrays(reference))
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{s}.pkl" for s in SEQS)  # no stray temporaries


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(many, tmp_path):
    out = tmp_path / "out"
    args = _cli("triangulate", "--anno-dir", str(many), "--save-dir", str(out), "--workers", "2",
                "--include-ignored", "--quiet")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_outputs(proc, out, 2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, (proc.returncode, stderr)
    assert "run the same command again to resume" in " ".join(stdout.split()) and "Traceback" not in stderr
    assert len(list(out.glob("*.pkl"))) < len(SEQS)
    res = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{s}.pkl" for s in SEQS)


def test_ray_tasks_ask_for_gpus_with_cuda():
    from aistpp.core.ray_backend import task_resources

    assert task_resources(RunOptions(device="cuda", gpus_per_task=0.5)) == {"num_gpus": 0.5, "num_cpus": 1}
    assert task_resources(RunOptions(device="cpu")) == {"num_cpus": 1}


def test_cuda_without_a_gpu_is_a_clear_error_before_any_work(synth_data, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out = tmp_path / "motions"
    res = CliRunner().invoke(app, ["fit-smpl", "--anno-dir", str(synth_data.anno_dir), "--smpl-dir",
                                   str(synth_data.smpl_dir), "--save-dir", str(out), "--device", "cuda"])
    assert res.exit_code == 2 and "no CUDA device" in res.output and "Traceback" not in res.output
    assert not out.exists() or not any(out.iterdir())


def test_worker_processes_do_not_import_torch():
    """The step jobs that never use torch must not pay for importing it in every worker."""
    code = ("import sys; from aistpp.core.runner import RunOptions, run_jobs; "
            "r = run_jobs(_probe, ['a', 'b'], RunOptions(executor='processes', workers=2, quiet=True)); "
            "print([it.info['torch'] for it in r.items])")
    probe = "def _probe(name):\n    import sys\n    return {'torch': 'torch' in sys.modules}\n"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    res = subprocess.run([sys.executable, "-c", probe + code], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[False, False]"


def test_exit_code_1_when_a_failure_is_not_bad_input(monkeypatch, synth_data, tmp_path):
    """A bug in a job (not an AistppError) is exit 1, with the others still written."""
    import aistpp.pipeline.triangulate as tri

    original = tri.triangulate_keypoints

    def flaky(rig, kp, *args, **kwargs):
        if flaky.calls == 0:
            flaky.calls += 1
            raise ZeroDivisionError("a bug")
        return original(rig, kp, *args, **kwargs)

    flaky.calls = 0
    monkeypatch.setattr(tri, "triangulate_keypoints", flaky)
    res = _triangulate(synth_data.anno_dir, tmp_path / "out", "--executor", "serial")
    assert res.exit_code == 1 and "ZeroDivisionError: a bug" in res.output
    assert len(list((tmp_path / "out").glob("*.pkl"))) == len(synth_data.sequences) - 1


def _staged(name: str) -> dict:
    from aistpp.core.runner import report_stage

    for stage in ("load", "fit", "write"):
        report_stage(name, stage)
    if name == "bad":
        raise ValueError("stopped in write")
    return {}


@pytest.mark.parametrize("executor", ["serial", "processes"])
def test_stages_reach_the_report(executor):
    report = run_jobs(_staged, ["a", "b", "bad"], RunOptions(executor=executor, workers=2, quiet=True))
    assert [it.info.get("stages") for it in report.items] == [["load", "fit", "write"]] * 3
    assert report.items[2].status == "failed"


def test_fit_smpl_reports_its_stages(synth_data, tmp_path):
    report_file = tmp_path / "r.json"
    res = CliRunner().invoke(app, ["fit-smpl", "--anno-dir", str(synth_data.anno_dir), "--smpl-dir",
                                   str(synth_data.smpl_dir), "--save-dir", str(tmp_path / "m"), "--device", "cpu",
                                   "--sequence-names", synth_data.sequences[0], "--iterations", "5", "--quiet",
                                   "--report", str(report_file)])
    assert res.exit_code == 0, res.output
    (item,) = json.loads(report_file.read_text())["items"]
    assert item["info"]["stages"] == ["initialise", "fit all frames", "write"]  # one solve: a short sequence


# ---- processes: workers die with their parent, a dead worker costs one sequence (issue 16) ----
_SLEEPER = r"""
import os, sys, time
from pathlib import Path
from aistpp.core.runner import RunOptions, run_jobs
folder = Path(sys.argv[1])

def job(name):
    (folder / f"{name}.{os.getpid()}").write_text("")
    time.sleep(60)

run_jobs(job, ["a", "b"], RunOptions(executor="processes", workers=2, quiet=True))
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")  # a zombie is dead


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and PR_SET_PDEATHSIG are Linux's")
def test_workers_die_when_the_main_process_is_killed(tmp_path):
    """Item 4: SIGKILL of the main process; its pool's workers are gone within seconds."""
    proc = subprocess.Popen([sys.executable, "-c", _SLEEPER, str(tmp_path)], stderr=subprocess.PIPE)
    end = time.monotonic() + 60
    while len(list(tmp_path.iterdir())) < 2 and time.monotonic() < end and proc.poll() is None:
        time.sleep(0.05)
    pids = [int(p.suffix[1:]) for p in tmp_path.iterdir()]
    assert len(pids) == 2 and all(_alive(p) for p in pids), proc.stderr.read() if proc.poll() is not None else pids
    proc.kill()
    proc.wait()
    end = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < end:
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids), "workers outlived their parent"


def _dies_on_b(name: str) -> dict:
    if name == "b":
        os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer or a crash in compiled code would
    time.sleep(0.05)
    return {"n": name}


def test_a_dying_worker_fails_only_its_sequence(tmp_path):
    """Item 8: BrokenProcessPool does not escape: that sequence is failed, the pool is
    restarted, the others finish, and the report and log are written."""
    names = ["a", "b", "c", "d", "e", "f"]
    report = run_jobs(_dies_on_b, names, RunOptions(executor="processes", workers=2, quiet=True,
                                                    report=tmp_path / "r.json", log_file=tmp_path / "log"))
    status = {it.name: it.status for it in report.items}
    assert status == {n: "failed" if n == "b" else "done" for n in names}
    assert "worker process died" in report.items[1].error and not report.items[1].bad_input
    saved = json.loads((tmp_path / "r.json").read_text())
    assert (saved["done"], saved["failed"]) == (5, 1)
    assert sorted(json.loads(line)["name"] for line in (tmp_path / "log").read_text().splitlines()) == names


# ---- files: a live run's temporaries are its own (issue 16, item 5) ---------------------------
def test_a_second_run_keeps_a_live_runs_temporaries(many, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        tmp = out / f".{SEQS[0]}.pkl.{owner.pid}-x1y2z3.tmp"
        tmp.write_bytes(b"being written")
        res = _triangulate(many, out, "--executor", "serial", "--sequence-names", SEQS[0])
        assert res.exit_code == 2 and f"another aistpp run (pid {owner.pid})" in res.stderr, res.output
        assert str(out) in res.stderr and tmp.read_bytes() == b"being written"
        assert not (out / f"{SEQS[0]}.pkl").exists()
    finally:
        owner.kill()
        owner.wait()
    res = _triangulate(many, out, "--executor", "serial", "--sequence-names", SEQS[0])  # owner gone: stale
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == [f"{SEQS[0]}.pkl"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_reused_pid_does_not_hold_a_folder(tmp_path):
    """A temporary whose pid now belongs to another program (not Python), or that nobody wrote
    for an hour, is stale."""
    from aistpp.core.runner import remove_stale_temporaries

    out = tmp_path / "x.pkl"
    sleeper = subprocess.Popen(["sleep", "30"])  # a live pid that is not an aistpp run
    python = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    end = time.monotonic() + 10
    while b"sleep(30)" not in Path(f"/proc/{python.pid}/cmdline").read_bytes() and time.monotonic() < end:
        time.sleep(0.01)  # until the child has exec'd (its command line names python)
    try:
        (tmp_path / f".x.pkl.{sleeper.pid}-abc.tmp").write_bytes(b"old")
        assert remove_stale_temporaries([out]) == 1
        tmp = tmp_path / f".x.pkl.{python.pid}-abc.tmp"
        tmp.write_bytes(b"recent")
        with pytest.raises(formats.AistppError, match="another aistpp run"):
            remove_stale_temporaries([out])
        old = time.time() - 7200
        os.utime(tmp, (old, old))
        assert remove_stale_temporaries([out]) == 1
    finally:
        for proc in (sleeper, python):
            proc.kill()
            proc.wait()


def test_temporaries_carry_their_owners_pid(tmp_path):
    with formats.atomic_path(tmp_path / "x.pkl") as tmp:
        assert tmp.name.startswith(f".x.pkl.{os.getpid()}-") and tmp.name.endswith(".tmp")
        tmp.write_bytes(b"1")


def _slow_writer(out: str, name: str) -> dict:
    formats.write_lines(Path(out) / f"{name}.txt", [name])
    if name == "a":
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C (serial: this process) once 'a' is written
        time.sleep(2)
    return {}


def test_ctrl_c_counts_what_was_written(tmp_path):
    """Item 15: after Ctrl-C the summary counts an output written before the interruption."""
    import functools

    report = run_jobs(functools.partial(_slow_writer, str(tmp_path)), ["a"], RunOptions(executor="serial", quiet=True),
                      outputs=lambda n: [tmp_path / f"{n}.txt"])
    assert report.interrupted and report.count("done") == 1 and (tmp_path / "a.txt").exists()


def test_report_and_log_paths_are_checked_before_any_work(tmp_path):
    """A --report that is a folder, a --log-file that is a named pipe: refused at once (not after
    the run, not by blocking on the pipe), nothing run."""
    ran = tmp_path / "ran"
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "pipe")
    for options in (RunOptions(executor="serial", quiet=True, report=tmp_path / "folder"),
                    RunOptions(executor="serial", quiet=True, log_file=tmp_path / "pipe")):
        with pytest.raises(formats.AistppError, match="folder|regular file"):
            run_jobs(lambda n: ran.write_text(n), ["a"], options)
    assert not ran.exists()

"""`patrolwatch mqtt-credentials` run by a real user who is not root.

The unit tests fake ``geteuid``; here the command runs in a forked process that really is
another user (``nobody`` when the suite runs as root, else the user running it), so the
kernel, not a monkeypatch, refuses to give the files away. The child is forked, not
exec'd: the interpreter may live where ``nobody`` cannot read it (``/root/.pyenv``), so
everything it needs is imported before the fork. It never skips.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import stat
import tempfile
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

import patrolwatch.mqtt_credentials  # noqa: F401  (imported before the fork, see above)
from patrolwatch.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def other_user() -> tuple[int, int]:
    """Return (uid, gid) of a user who is not root: nobody when we are root, else us."""
    if os.geteuid() != 0:
        return os.geteuid(), os.getegid()
    nobody = pwd.getpwnam("nobody")
    return nobody.pw_uid, nobody.pw_gid


@pytest.fixture
def out_dir(other_user: tuple[int, int]) -> Iterator[Path]:
    """A folder that user owns, outside pytest's root-only temp tree."""
    path = Path(tempfile.mkdtemp(prefix="patrol-creds-"))
    path.chmod(0o755)
    if os.geteuid() == 0:
        os.chown(path, *other_user)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run_as(uid: int, gid: int, out_dir: Path, argv: list[str]) -> tuple[int, str]:
    """Run the command line in a forked child that is ``uid``; return (status, stdout)."""
    out = out_dir / "stdout.txt"
    # The roster goes in the user's own folder: the checkout may be one that user cannot
    # read (a clone in a `mktemp -d` folder is 0700, root's).
    roster = out_dir / "units.yaml"
    shutil.copyfile(ROOT / "config/units.yaml", roster)
    roster.chmod(0o644)
    build_parser()  # its lazy imports (experiment commands, getpass) while root reads them
    pid = os.fork()
    if pid == 0:  # the child: become the user, run, never return into pytest
        status = 3
        try:
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(gid)
                os.setuid(uid)
            os.chdir(out_dir)
            for name in [k for k in os.environ if k.startswith("PATROL_")]:
                del os.environ[name]
            os.environ["PATROL_UNITS"] = str(roster)
            with out.open("w") as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
                try:
                    status = main(argv)
                except BaseException:
                    traceback.print_exc()
        finally:
            os._exit(status)
    _, wait_status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(wait_status), out.read_text() if out.exists() else ""


def test_as_a_real_non_root_user_the_uids_are_not_applied_and_it_says_what_to_do(
        other_user: tuple[int, int], out_dir: Path) -> None:
    uid, gid = other_user
    assert uid != 0
    status, output = run_as(uid, gid, out_dir, [
        "mqtt-credentials", "--out", str(out_dir), "--broker-uid", "1883",
        "--secrets-uid", "10001"])
    assert status == 0, output
    for name in ("passwd", "acl", "credentials.txt"):
        st = (out_dir / name).stat()
        assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o600, uid), name
    assert "--secrets-uid 10001 not applied: only root can give files away" in output, output
    assert f"sudo chown 1883:1883 {out_dir / 'passwd'}" in output, output

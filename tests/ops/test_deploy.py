"""deploy.sh end to end (local target, a real daemon): a good build goes live and is
healthy; a deliberately broken build is rolled back to the previous release.

Slow (two builds, three daemon starts, a health timeout): ``pytest -m slow``."""

from __future__ import annotations

import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import REPO, free_port, short_tmpdir

pytestmark = pytest.mark.slow
SHARED_VENV = Path(os.environ.get("VIRTUOSO_TEST_VENV", "/work/main/.venv"))


def _no_cache(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    return None if "__pycache__" in info.name else info


def _copy_source(dest: Path) -> Path:
    """This checkout without its venv, as deploy.sh would take it."""
    dest.mkdir(parents=True)
    skip = {".venv", ".git", "__pycache__", ".mypy_cache", ".ruff_cache"}
    archive = dest.parent / f"{dest.name}.tar"
    with tarfile.open(archive, "w") as tar:
        for path in REPO.iterdir():
            if path.name not in skip:
                tar.add(
                    path, arcname=path.name, filter=lambda i: None if "__pycache__" in i.name else i
                )
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    return dest


class Site:
    def __init__(self) -> None:
        self.tmp = short_tmpdir()
        self.prefix = self.tmp / "opt"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = self.tmp / "virtuoso.toml"
        self.config.write_text(
            f'[daemon]\nport = {self.port}\nsocket = "{self.tmp}/ctl.sock"\n'
            f'state_dir = "{self.tmp}/state"\ndemo = true\n'
            "[memcached]\nenabled = false\n[demo]\nn_alts = 4\n"
        )

    def seed(self) -> Path:
        """The release that was running before: the shared venv, hard-linked."""
        seed = self.prefix / "releases" / "0-seed"
        seed.mkdir(parents=True)
        subprocess.run(["cp", "-al", str(SHARED_VENV), str(seed / ".venv")], check=True)
        subprocess.run(["rm", "-rf", str(seed / ".venv" / "bin")], check=True)
        subprocess.run(
            ["cp", "-a", str(SHARED_VENV / "bin"), str(seed / ".venv" / "bin")], check=True
        )
        (seed / "requirements.lock").write_bytes((REPO / "requirements.lock").read_bytes())
        (self.prefix / "current").symlink_to(seed)
        return seed

    def deploy(
        self, source: Path, *extra: str, timeout: int = 60
    ) -> subprocess.CompletedProcess[str]:
        argv = [
            str(REPO / "scripts" / "deploy.sh"), "local", "--prefix", str(self.prefix),
            "--source", str(source), "--config", str(self.config), "--url", self.url,
            "--timeout", str(timeout), *extra,
        ]  # fmt: skip
        return subprocess.run(argv, capture_output=True, text=True, timeout=600)

    def current(self) -> Path:
        return (self.prefix / "current").resolve()

    def healthy(self) -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(self.url + "/health", timeout=5) as resp:
                return resp.status == 200
        except OSError:
            return False


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    yield s
    subprocess.run(
        [str(REPO / "scripts" / "deploy.sh"), "local", "--prefix", str(s.prefix), "--stop"],
        timeout=30,
        check=False,
    )


def test_a_good_build_goes_live_and_a_broken_one_is_rolled_back(site: Site) -> None:
    seed = site.seed()
    good = _copy_source(site.tmp / "good")
    proc = site.deploy(good)
    assert proc.returncode == 0, proc.stderr
    release = site.current()
    assert release.parent == site.prefix / "releases" and release.name != "0-seed"
    assert (
        (release / ".venv/bin/virtuoso-daemon")
        .read_text()
        .startswith(f"#!{release}/.venv/bin/python")
    )
    assert site.healthy()

    broken = _copy_source(site.tmp / "broken")
    app = broken / "virtuoso_daemon" / "http" / "app.py"
    app.write_text(
        app.read_text().replace(
            "def create_app(runtime: Runtime) -> web.Application:\n",
            "def create_app(runtime: Runtime) -> web.Application:\n"
            '    raise RuntimeError("a deliberately broken build")\n',
        )
    )
    proc = site.deploy(broken, timeout=15)
    assert proc.returncode == 1
    assert f"rolling back to {release.name}" in proc.stderr
    assert f"rolled back to {release.name}; it is healthy" in proc.stderr
    assert site.current() == release and site.healthy()

    proc = site.deploy(good, "--rollback")  # on demand: back to the release before
    assert proc.returncode == 0, proc.stderr
    assert site.current() == seed and site.healthy()

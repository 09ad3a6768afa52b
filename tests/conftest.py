import subprocess
from pathlib import Path

import pytest

from support import CC


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run tests marked slow (long fuzzing, full guest boots)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def build(tmp_path_factory):
    """build(name, C source, ...) -> path of a static aarch64 executable compiled with the real
    cross compiler (once per session); `headers` are written beside the source first."""
    out = tmp_path_factory.mktemp("user-bin")
    built = {}

    def compile_(name: str, source: str, freestanding: bool = False, pie: bool = False,
                 headers: dict | None = None, libs: tuple = ()) -> Path:
        if name not in built:
            for hname, text in (headers or {}).items():
                (out / hname).write_text(text)
            src = out / f"{name}.c"
            src.write_text(source)
            exe = out / name
            flags = ["-O2", "-static-pie" if pie else "-static"]
            if freestanding:
                flags += ["-nostdlib", "-ffreestanding", "-fno-builtin", "-mgeneral-regs-only",
                          f"-I{out}"]
            r = subprocess.run([CC, *flags, "-o", str(exe), str(src), *libs],
                               capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
            built[name] = exe
        return built[name]
    return compile_

"""The package as a user installs it: a wheel built from python/ (setup.py puts libdln.so
inside), installed into a fresh folder, imported from elsewhere with no DLN_LIBRARY: the
README's one-liner runs and prints the default experiment's rel_gap."""
import os
import shutil
import subprocess
import sys
import zipfile

from conftest import ROOT


def test_the_wheel_carries_the_library_and_the_readme_line_runs(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DLN_LIBRARY", "PYTHONPATH")}
    env["DLN_LIBRARY"] = os.environ["DLN_LIBRARY"]  # the build under test goes into the wheel
    src = tmp_path / "src"  # a copy, so the build leaves nothing in the source tree
    shutil.copytree(os.path.join(ROOT, "python"), src,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache", "tests"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path / "wheel"), str(src)], check=True, env=env, cwd=str(tmp_path))
    (wheel,) = (tmp_path / "wheel").iterdir()
    assert "dln/libdln.so" in zipfile.ZipFile(wheel).namelist()
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tmp_path / "site"),
                    str(wheel)], check=True, env=env)
    del env["DLN_LIBRARY"]
    env["PYTHONPATH"] = str(tmp_path / "site")
    line = "import dln; print(dln.train(*dln.synthetic(seed=1), depth=4, width=4)['rel_gap'])"
    p = subprocess.run([sys.executable, "-c", line + "; print(dln._lib.path)"], capture_output=True, text=True,
                       env=env, cwd=str(tmp_path), check=True)
    rel_gap, path = p.stdout.split()
    assert float(rel_gap) <= 1e-6  # the default experiment reaches the optimum (as `dln train`)
    assert path.startswith(str(tmp_path / "site"))  # the library installed with the package

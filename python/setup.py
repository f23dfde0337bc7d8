"""setup.py: puts the project's libdln.so inside the package it installs (pip install ./python
from a source tree where `make` has run; it runs `make build/libdln.so` itself otherwise,
or takes $DLN_LIBRARY). The wheel is platform-specific: it carries a shared library."""
import os
import shutil
import subprocess

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        lib = os.environ.get("DLN_LIBRARY") or os.path.join(ROOT, "build", "libdln.so")
        if not os.path.exists(lib):
            subprocess.check_call(["make", "-C", ROOT, "build/libdln.so"])
        shutil.copy2(lib, os.path.join(self.build_lib, "dln", "libdln.so"))


class BinaryDistribution(Distribution):
    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildWithLibrary}, distclass=BinaryDistribution)

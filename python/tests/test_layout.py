"""The ctypes mirrors of the public structs against the C compiler: every size and field
offset, the enum values and the version, from a program compiled against include/dln/."""
import ctypes as C
import os
import subprocess

import dln
from dln import _lib
from conftest import ROOT

ENUMS = {"DLN_OK": _lib.OK, "DLN_EINPUT": _lib.EINPUT, "DLN_ERUNTIME": _lib.ERUNTIME, "DLN_ENOMEM": _lib.ENOMEM,
         "DLN_BACKEND_AUTO": 0, "DLN_BACKEND_CPU": _lib.BACKENDS["cpu"], "DLN_BACKEND_CUDA": _lib.BACKENDS["cuda"],
         "DLN_MATH_TF32": _lib.MATH_TF32, "DLN_CAP_TF32": _lib.CAP_TF32, "DLN_F32": _lib.F32,
         "DLN_LR_ARORA": _lib.LR_ARORA, "DLN_DATA_FULL": _lib.DATA_MODES["full"],
         "DLN_DATA_COMPRESSED": _lib.DATA_MODES["compressed"], "DLN_SOLVER_SVD": 1, "DLN_SOLVER_QR": 2,
         "DLN_STOP_OBSERVER": 4, "DLN_VERDICT_CRITICAL": 1, "DLN_VERDICT_DECREASING": 3, "DLN_MAX_DIM": 1 << 24,
         "DLN_TRAIN_NOTE_MAX": _lib.TRAIN_NOTE_MAX}


def test_structs_enums_and_version_match_the_headers(tmp_path):
    lines = ['#include <stddef.h>', '#include <stdio.h>', '#include "dln/dln.h"', "int main(void) {"]
    for cname, cls in _lib.STRUCTS.items():
        lines.append('printf("%s %%zu\\n", sizeof(%s));' % (cname, cname))
        for field, _ in cls._fields_:
            lines.append('printf("%s.%s %%zu\\n", offsetof(%s, %s));' % (cname, field, cname, field))
    for name in ENUMS:
        lines.append('printf("%s %%ld\\n", (long)%s);' % (name, name))
    lines += ['printf("version %s\\n", DLN_VERSION);', "return 0; }"]
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines) + "\n")
    exe = tmp_path / "layout"
    subprocess.run(["cc", "-std=c11", "-I", os.path.join(ROOT, "include"), str(src), "-o", str(exe)], check=True)
    got = dict(line.split(" ", 1) for line in subprocess.run([str(exe)], capture_output=True, text=True,
                                                             check=True).stdout.splitlines())
    checked = 0
    for cname, cls in _lib.STRUCTS.items():
        assert int(got[cname]) == C.sizeof(cls), "sizeof(%s): C %s, ctypes %d" % (cname, got[cname], C.sizeof(cls))
        for field, _ in cls._fields_:
            off = getattr(cls, field).offset
            assert int(got[cname + "." + field]) == off, "%s.%s: C offset %s, ctypes %d" % (
                cname, field, got[cname + "." + field], off)
            checked += 1
    for name, value in ENUMS.items():
        assert int(got[name]) == value, "%s: C %s, Python %d" % (name, got[name], value)
    assert got["version"] == dln.__version__
    assert checked > 100  # every field of the nine structs was compared

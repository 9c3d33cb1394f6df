"""Build script: compiles every ``.pyx`` under ``src/attnsearch`` with OpenMP.

Environment variables
---------------------
ATTNSEARCH_FAIL_NO_OPENMP=1
    Abort the build when the compiler cannot build and run an OpenMP program
    (CI sets it). Without it a missing OpenMP gives a loud warning and a
    serial build.
ATTNSEARCH_NATIVE=0
    Do not pass ``-march=native``. Use it for wheels that must run on other
    CPUs than the build machine (the kernels then use SSE2 vectors only and
    run about 2-4x slower on AVX2/AVX-512 machines).
ATTNSEARCH_CYTHON_DEBUG=1
    Turn bounds checks, wraparound and initialisation checks back on.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SRC = ROOT / "src"
CSRC = ROOT / "csrc"

OPENMP_TEST_PROGRAM = textwrap.dedent(
    """
    #include <omp.h>
    #include <stdio.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel num_threads(2) reduction(+:n)
        n += 1;
        printf("%d\\n", n);
        return n == 2 ? 0 : 1;
    }
    """
)


def _env_flag(name, default="0"):
    return os.environ.get(name, default).strip().lower() in ("1", "true", "yes", "on")


def _compiler_accepts(
    compiler, flags, source="int main(void) { return 0; }\n", run=False, link_flags=()
):
    """Compile (and optionally run) ``source`` with ``flags`` using ``compiler``."""
    tmp = tempfile.mkdtemp(prefix="attnsearch_check_")
    try:
        src = os.path.join(tmp, "check.c")
        with open(src, "w") as fh:
            fh.write(source)
        objects = compiler.compile([src], output_dir=tmp, extra_postargs=list(flags))
        exe = os.path.join(tmp, "check")
        compiler.link_executable(
            objects, exe, output_dir=tmp, extra_postargs=list(link_flags)
        )
        if run:
            exe_path = os.path.join(tmp, compiler.executable_filename("check"))
            result = subprocess.run([exe_path], capture_output=True, timeout=60)
            return result.returncode == 0
        return True
    except Exception:
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _openmp_flags(compiler):
    """Flags that make ``compiler`` build OpenMP code, or None when it cannot."""
    if compiler.compiler_type == "msvc":
        candidates = [(["/openmp"], [])]
    elif sys.platform == "darwin":
        # Apple clang needs the user's CPPFLAGS/LDFLAGS
        # (-Xpreprocessor -fopenmp, -lomp).
        candidates = [([], []), (["-fopenmp"], ["-fopenmp"])]
    else:
        candidates = [(["-fopenmp"], ["-fopenmp"])]
    for compile_flags, link_flags in candidates:
        if _compiler_accepts(
            compiler,
            compile_flags,
            OPENMP_TEST_PROGRAM,
            run=True,
            link_flags=link_flags,
        ):
            return compile_flags, link_flags
    return None


class BuildExtWithOpenMP(build_ext):
    """build_ext that detects OpenMP and vector ISA flags with the real compiler."""

    def build_extensions(self):
        compiler = self.compiler
        compile_flags, link_flags = [], []
        if compiler.compiler_type != "msvc":
            compile_flags.append("-O3")
            if _env_flag("ATTNSEARCH_NATIVE", "1"):
                if _compiler_accepts(compiler, ["-march=native"]):
                    compile_flags.append("-march=native")
                else:
                    print(
                        "attnsearch: compiler rejects -march=native; "
                        "building generic code"
                    )
            # Lets `#pragma omp simd` vectorise reductions even in a serial build.
            if _compiler_accepts(compiler, ["-fopenmp-simd"]):
                compile_flags.append("-fopenmp-simd")
            compile_flags.append("-Wno-unknown-pragmas")
        else:
            compile_flags += ["/O2"]

        omp = _openmp_flags(compiler)
        self.openmp_enabled = omp is not None
        if omp is None:
            message = (
                "\n" + "*" * 78 + "\n"
                "attnsearch: the compiler cannot build OpenMP programs.\n"
                "The kernels are built SERIAL: num_threads is ignored and every\n"
                "parallel loop runs on one core. Install an OpenMP runtime\n"
                "(libgomp for gcc, libomp for clang) and rebuild for full speed.\n"
                + "*" * 78
                + "\n"
            )
            if _env_flag("ATTNSEARCH_FAIL_NO_OPENMP"):
                raise RuntimeError(message + "ATTNSEARCH_FAIL_NO_OPENMP=1: aborting.")
            print(message, file=sys.stderr)
        else:
            compile_flags += omp[0]
            link_flags += omp[1]

        for ext in self.extensions:
            flags = list(compile_flags)
            if compiler.compiler_type != "msvc" and ext.name.startswith(
                "attnsearch.search"
            ):
                # No fused multiply-adds in the search kernels: their arithmetic then
                # matches the Python reference bit for bit (the tests compare
                # trajectories); attention keeps FMA contraction for speed.
                flags.append("-ffp-contract=off")
            ext.extra_compile_args = list(ext.extra_compile_args or []) + flags
            ext.extra_link_args = list(ext.extra_link_args or []) + link_flags
        super().build_extensions()


class BuildPyWithHeaders(build_py):
    """Install csrc/*.h as attnsearch/include (for third-party cimports of our .pxd)."""

    def run(self):
        super().run()
        target = Path(self.build_lib) / "attnsearch" / "include"
        target.mkdir(parents=True, exist_ok=True)
        for header in CSRC.glob("*.h"):
            shutil.copy2(header, target / header.name)


def _render_templates():
    """Render every ``*.tp`` (Cython's Tempita) beside itself, without the suffix:
    the engine's per-problem dispatch is generated from one list of problems."""
    from Cython import Tempita

    for template in sorted((SRC / "attnsearch").rglob("*.tp")):
        target = template.with_suffix("")
        text = Tempita.sub(template.read_text(encoding="utf-8"))
        # Rewrite only on change, so that cythonize's timestamps stay meaningful.
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")


def _extensions():
    _render_templates()
    debug = _env_flag("ATTNSEARCH_CYTHON_DEBUG")
    directives = {
        "language_level": 3,
        "boundscheck": debug,
        "wraparound": debug,
        "initializedcheck": debug,
        "cdivision": True,
        "embedsignature": True,
    }
    extensions = []
    for pyx in sorted((SRC / "attnsearch").rglob("*.pyx")):
        module = ".".join(pyx.relative_to(SRC).with_suffix("").parts)
        extensions.append(
            Extension(
                module,
                [str(pyx.relative_to(ROOT))],
                include_dirs=[str(CSRC.relative_to(ROOT)), np.get_include()],
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
            )
        )
    return cythonize(
        extensions,
        compiler_directives=directives,
        include_path=[str(SRC)],
        annotate=_env_flag("ATTNSEARCH_CYTHON_ANNOTATE"),
    )


setup(
    ext_modules=_extensions(),
    cmdclass={"build_ext": BuildExtWithOpenMP, "build_py": BuildPyWithHeaders},
)

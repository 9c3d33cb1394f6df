"""Build script: compiles every ``.pyx`` under ``src/attnsearch`` with OpenMP, and
each kernel family once per CPU target for the runtime dispatch.

Kernel families and targets are listed in ``src/attnsearch/_cpu_targets.py``.
On x86-64 with gcc or clang, a family such as ``attention._kernels`` is built
for the baseline (``_kernels``, SSE2) and once more per further target
(``_kernels_avx2``, ``_kernels_avx512``): a small generated C file per variant
defines the target's name and module init symbol and ``#include``-s the one C
file Cython generated, which is then compiled with that target's flags
(NumPy's ``*.dispatch.c`` and PyTorch's per-capability copies of a kernel file
do the same). ``attnsearch._dispatch`` loads the best variant the CPU runs. A
target whose flags or probe the compiler rejects is skipped with a message.
Everything else is compiled for the baseline, so the installed package runs on
any x86-64 CPU. Other architectures build the portable code once.

Environment variables
---------------------
ATTNSEARCH_FAIL_NO_OPENMP=1
    Abort the build when the compiler cannot build and run an OpenMP program
    (CI sets it). Without it a missing OpenMP gives a loud warning and a
    serial build.
ATTNSEARCH_NATIVE=1
    Build every module once for this machine (``-march=native``) and no
    variants: for people who build and run on one machine. The result may
    crash with "Illegal instruction" on another CPU; never ship it.
ATTNSEARCH_CYTHON_DEBUG=1
    Turn bounds checks, wraparound and initialisation checks back on, and keep
    debug symbols (otherwise compiled with ``-g0``).
"""

import os
import platform
import runpy
import shutil
import subprocess
import sys
import sysconfig
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
# Generated per-target wrapper sources (see the module docstring).
VARIANT_DIR = Path("build") / "cpu_targets"

_CPU = runpy.run_path(str(SRC / "attnsearch" / "_cpu_targets.py"))
TARGETS, FAMILIES, variant_module = (
    _CPU["TARGETS"],
    _CPU["FAMILIES"],
    _CPU["variant_module"],
)
FAMILY_MODULES = {spec["module"]: spec["targets"] for spec in FAMILIES.values()}

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


def _is_x86_64():
    return platform.machine().lower() in ("x86_64", "amd64")


def _native_build():
    return _env_flag("ATTNSEARCH_NATIVE")


class BuildExtWithOpenMP(build_ext):
    """build_ext that detects OpenMP and each CPU target's flags with the real
    compiler, and builds the extensions in parallel (one per core)."""

    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:
            self.parallel = os.cpu_count() or 1

    def _target_flags(self, compiler):
        """Target -> the first flag set the compiler accepts (None: skip it)."""
        chosen = {}
        for name, target in TARGETS.items():
            chosen[name] = next(
                (
                    list(flags)
                    for flags in target["flags"]
                    if _compiler_accepts(
                        compiler,
                        list(flags),
                        target["probe"] + "int main(void) { return 0; }\n",
                    )
                ),
                None,
            )
        return chosen

    def _remove_stale_variants(self, building):
        """Delete variant modules of an earlier in-place build that this build
        does not make (a -march=native build, a target the compiler now
        rejects): the dispatch would load them beside the new canonical module."""
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
        for module, targets in FAMILY_MODULES.items():
            for target in targets:
                name = variant_module(module, target)
                if name == module or name in building:
                    continue
                stale = SRC.joinpath(*name.split(".")).with_name(
                    name.rsplit(".", 1)[1] + suffix
                )
                if stale.exists():
                    print(f"attnsearch: removing the stale variant {stale}")
                    stale.unlink()

    def build_extensions(self):
        compiler = self.compiler
        compile_flags, link_flags = [], []
        unix = compiler.compiler_type != "msvc"
        if unix:
            compile_flags.append("-O3")
            if not _env_flag("ATTNSEARCH_CYTHON_DEBUG"):
                compile_flags.append("-g0")
            # Lets `#pragma omp simd` vectorise reductions even in a serial build.
            if _compiler_accepts(compiler, ["-fopenmp-simd"]):
                compile_flags.append("-fopenmp-simd")
            compile_flags.append("-Wno-unknown-pragmas")
        else:
            compile_flags += ["/O2"]

        target_flags = {"baseline": []}
        if _native_build():
            if unix and _compiler_accepts(compiler, ["-march=native"]):
                target_flags["native"] = ["-march=native"]
            else:
                print(
                    "attnsearch: compiler rejects -march=native; building generic code"
                )
                target_flags["native"] = []
        elif unix and _is_x86_64():
            target_flags = self._target_flags(compiler)
            if target_flags["baseline"] is None:
                raise RuntimeError("attnsearch: the compiler rejects -march=x86-64")
            for name, flags in target_flags.items():
                if flags is None:
                    print(
                        f"attnsearch: the compiler cannot build the {name} target "
                        f"({' '.join(TARGETS[name]['flags'][0])}): its variants are "
                        "skipped and the dispatch uses the next lower target"
                    )
        kept = [
            e
            for e in self.extensions
            if target_flags.get(e._attnsearch_target) is not None
        ]
        self.extensions[:] = kept
        if self.inplace:
            self._remove_stale_variants({e.name for e in kept})

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
            flags = list(compile_flags) + target_flags[ext._attnsearch_target]
            if unix and ext.name.startswith("attnsearch.search"):
                # No contracted multiply-adds in the search kernels: their arithmetic
                # then matches the Python reference bit for bit (the tests compare
                # trajectories) on every target; attention keeps FMA contraction.
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


def _variant_source(module, target):
    """Write the wrapper C file that compiles the C of ``module`` for ``target``."""
    generated = SRC.joinpath(*module.split(".")).with_suffix(".c")
    wrapper = VARIANT_DIR.joinpath(
        *variant_module(module, target).split(".")
    ).with_suffix(".c")
    (ROOT / wrapper).parent.mkdir(parents=True, exist_ok=True)
    init = "PyInit_" + module.rsplit(".", 1)[1]
    text = (
        f"/* Generated by setup.py: {module} compiled for the {target} target. */\n"
        f'#define ATTNSEARCH_TARGET_NAME "{target}"\n'
        f"#define {init} PyInit_{variant_module(module, target).rsplit('.', 1)[1]}\n"
        f'#include "{os.path.relpath(ROOT / generated, ROOT / wrapper.parent)}"\n'
    )
    if not (ROOT / wrapper).exists() or (ROOT / wrapper).read_text() != text:
        (ROOT / wrapper).write_text(text)
    return str(wrapper)


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
    sources = sorted((SRC / "attnsearch").rglob("*.pyx"))
    if not sources:
        # An sdist without its .pyx files would otherwise install a package with
        # no compiled modules, and `import attnsearch` would fail only later.
        raise RuntimeError(f"attnsearch: no Cython sources under {SRC / 'attnsearch'}")

    def extension(name, source, target):
        ext = Extension(
            name,
            [source],
            include_dirs=[str(CSRC.relative_to(ROOT)), np.get_include()],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        )
        if name in FAMILY_MODULES:
            ext.define_macros.append(("ATTNSEARCH_TARGET_NAME", f'"{target}"'))
        return ext

    native = _native_build()
    canonical_target = "native" if native else "baseline"
    extensions = []
    for pyx in sources:
        module = ".".join(pyx.relative_to(SRC).with_suffix("").parts)
        extensions.append(
            extension(module, str(pyx.relative_to(ROOT)), canonical_target)
        )
    extensions = cythonize(
        extensions,
        compiler_directives=directives,
        include_path=[str(SRC)],
        annotate=_env_flag("ATTNSEARCH_CYTHON_ANNOTATE"),
        nthreads=os.cpu_count() or 1,
    )
    for ext in extensions:
        ext._attnsearch_target = canonical_target
    if native or not _is_x86_64():
        return extensions
    for module, targets in FAMILY_MODULES.items():
        for target in targets:
            if target == "baseline":
                continue
            variant = extension(
                variant_module(module, target), _variant_source(module, target), target
            )
            variant._attnsearch_target = target
            # The wrapper only #includes Cython's C file: rebuild when that or a
            # header of csrc/ it includes changes (cythonize tracks headers for
            # the canonical module only).
            generated = SRC.joinpath(*module.split(".")).with_suffix(".c")
            headers = sorted(str(h.relative_to(ROOT)) for h in ROOT.glob("csrc/*.h"))
            variant.depends = [str(generated.relative_to(ROOT)), *headers]
            extensions.append(variant)
    return extensions


setup(
    ext_modules=_extensions(),
    cmdclass={"build_ext": BuildExtWithOpenMP, "build_py": BuildPyWithHeaders},
)

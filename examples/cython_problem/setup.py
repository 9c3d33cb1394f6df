"""Build the example problem in place: python setup.py build_ext --inplace

attnsearch.get_include() holds the C headers that attnsearch/search/cython_api.pxd
refers to; Cython finds the .pxd itself on sys.path (attnsearch is installed).
"""

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

import attnsearch

extension = Extension(
    "number_partitioning",
    ["number_partitioning.pyx"],
    include_dirs=[attnsearch.get_include(), np.get_include()],
    extra_compile_args=["-O3"],
)
setup(
    name="number-partitioning-example",
    ext_modules=cythonize(
        [extension],
        compiler_directives={"language_level": 3},
        include_path=[attnsearch.get_pxd_path()],
    ),
)

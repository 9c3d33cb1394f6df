"""Thread counts (``attnsearch/_threading.py``): ``effective_n_threads`` caps what
it is asked for. Regressions: 5000 threads took 1.4 s for 1 ms of work, and the
huge counts below crashed."""

import time

import numpy as np
from _isolation import assert_clean_exit, run_python

from attnsearch import effective_n_threads
from attnsearch._threading import max_threads
from attnsearch.search import Ising, simulated_annealing


def test_thread_counts_are_capped():
    assert effective_n_threads(5000) <= max_threads()
    assert effective_n_threads(2**40) <= max_threads()  # no OverflowError
    assert effective_n_threads(100, n_tasks=3) <= 3
    assert effective_n_threads(-(2**40)) == 1
    start = time.perf_counter()
    ising = Ising(np.zeros(20), {(i, i + 1): 1.0 for i in range(19)})
    simulated_annealing(ising, num_sweeps=10, seed=0, num_threads=5000)
    assert time.perf_counter() - start < 5  # 5000 threads took 1.4 s for 1 ms


def test_huge_thread_counts_do_not_crash():
    completed = run_python(
        """
        import numpy as np
        from attnsearch.attention import scaled_dot_product_attention
        from attnsearch.search import Ising, simulated_annealing
        ising = Ising(np.zeros(10), {(0, 1): 1.0})
        for threads in (32767, 65534, 10**6, 2**40):
            simulated_annealing(ising, num_sweeps=5, num_chains=3, seed=0,
                                num_threads=threads)
        q = np.ones((64, 4, 8, 16), np.float32)
        scaled_dot_product_attention(q, q, q, num_threads=10**6)
        print("ok")
        """
    )
    assert_clean_exit(completed)

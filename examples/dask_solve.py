"""Annealing chains spread over a Dask cluster, and attention over a dask array
============================================================================

    python examples/dask_solve.py

Starts a LocalCluster of two worker processes on this machine; point a
``dask.distributed.Client`` at a real scheduler to use many machines. The
merged result is bitwise identical to the one-machine run with the same seed.
Needs the dask extra: pip install "attnsearch[dask]".
"""

import numpy as np
from _common import SMALL, data_file
from dask.distributed import Client, LocalCluster

from attnsearch.attention import dask as attention_dask
from attnsearch.attention import scaled_dot_product_attention
from attnsearch.search import MaxCut, simulated_annealing
from attnsearch.search import dask as search_dask

if __name__ == "__main__":  # worker processes import this file: guard the work
    graph = MaxCut.from_gset(data_file("gset", "G11.txt" if SMALL else "G1.txt"))
    chains, sweeps = (8, 200) if SMALL else (64, 2000)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        merged = search_dask.solve(
            "anneal", graph, num_chains=chains, client=client, seed=0, num_sweeps=sweeps
        )
        tasks = merged.params["distributed"]["n_tasks"]
        print(
            f"Dask: cut {merged.objective:.0f} from {chains} chains in {tasks} "
            f"tasks, {merged.elapsed:.2f} s"
        )
        local = simulated_annealing(graph, num_chains=chains, seed=0, num_sweeps=sweeps)
        assert np.array_equal(merged.states, local.states)
        print(
            f"one machine: cut {local.objective:.0f} in {local.elapsed:.2f} s "
            "(the same chains, bit for bit)"
        )

        import dask.array as da

        batch, n = (8, 128) if SMALL else (64, 1024)
        rng = np.random.default_rng(0)
        x = rng.standard_normal((batch, 8, n, 64), dtype=np.float32)
        q = da.from_array(x, chunks=(1, 8, n, 64))  # one sequence per block
        out = attention_dask.scaled_dot_product_attention(q, q, q, causal=True)
        result = out.compute()  # on the cluster: each block runs the fused kernel
        expected = scaled_dot_product_attention(x, x, x, causal=True)
        print(
            f"attention over {out.numblocks[0]} blocks: shape {result.shape}, max "
            f"|difference| to the NumPy call {np.abs(result - expected).max():.1e}"
        )

"""attnsearch's samplers in D-Wave Ocean code: any BQM, any labels
===============================================================

    python examples/dimod_sampler.py

Needs the dimod extra: pip install "attnsearch[dimod]".
"""

import dimod

from attnsearch.search.dimod import (
    SimulatedAnnealingSampler,
    SteepestDescentSampler,
    TabuSampler,
)

# A small scheduling-style QUBO with string labels: pick exactly one shift each.
people, shifts = ["ana", "bo", "cy"], ["early", "late"]
bqm = dimod.BinaryQuadraticModel("BINARY")
for person in people:
    variables = [(person, shift) for shift in shifts]
    bqm.update(dimod.generators.combinations(variables, 1, strength=4.0))
for shift in shifts:  # and not everyone on the same shift
    for i, a in enumerate(people):
        for b in people[i + 1 :]:
            bqm.add_quadratic((a, shift), (b, shift), 1.0)

for sampler in (SimulatedAnnealingSampler(), TabuSampler(), SteepestDescentSampler()):
    sampleset = sampler.sample(bqm, num_reads=10, seed=0)
    best = sampleset.first
    plan = {p: s for (p, s), value in best.sample.items() if value}
    print(
        f"{type(sampler).__name__:>26}: energy {best.energy:g}, {plan}, "
        f"{sampleset.info['timing']['sampling_ns'] / 1e6:.2f} ms"
    )

# Bigger: a +-1 spin glass on the complete graph of 200 spins (dimod's RAN1).
bqm = dimod.generators.ran_r(1, 200, seed=1)
sampleset = SimulatedAnnealingSampler().sample(
    bqm, num_reads=32, num_sweeps=1000, seed=0
)
low, high = sampleset.info["beta_range"]
print(
    f"ran_r(1, 200): lowest energy {sampleset.first.energy:g} over "
    f"{len(sampleset)} reads, beta from {low:.3g} to {high:.3g}"
)

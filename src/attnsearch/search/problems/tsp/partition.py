"""One tour on every core: the tour cut into segments, each improved as a path.

A round of *tour partitioning* (LKH's ``SUBPROBLEM_SIZE`` with segment
partitioning, in the form of a path with fixed ends):

1. ``cut``: the current tour, rotated by the round's offset, is cut into
   segments of about ``segment_size`` consecutive cities. Each segment becomes
   an instance of its own, numbered locally so that its first and last cities
   are 0 and 1: coordinates, candidate lists restricted to the segment
   (the pair (0, 1) left out; lists stay ordered by distance, padded with
   their last entry), and the tour ``0, 2, 3, ..., m-1, 1``, a cycle through
   the edge (0, 1) that stands for the rest of the tour.
2. ``improve_segments`` (``_core.pyx``, ``prange`` over segments): iterated
   local search on each segment with the instance's moves, kicks and undo.
   The edge (0, 1) has length -inf there (``TSPData.fixed_sum``): no move
   gains by removing it and no kick cuts it, so the segment stays a path from
   its first to its last city, over the same cities.
3. ``merge``: each segment's cycle, read from 0 away from 1, is written back
   into the segment's own positions: concatenation, so the tour stays a
   permutation and its length changes by the sum of the segments' changes.

Between rounds the offset moves by the golden ratio of a segment, so the
boundaries, whose edges a round cannot change, fall elsewhere every time.
A round's tour is the previous round's local optimum except where the old cut
kept cities apart, so after round 0 a segment's first descent starts only from
the cities that had a candidate in another segment of the previous round, or
ended one (``recheck="boundaries"``; about 2 % of the cities for two segments
of a uniform tour): each segment's slots of the previous round are known from
the tour alone, since the merge writes a segment into its own positions.

Why bitwise identical for any thread count: the partition depends on the tour,
the round and ``segment_size`` only; a segment's search reads only its own
arrays and its own xoshiro256++ stream, seeded from (the chain's stream,
round, segment index); the merge writes each segment into its own positions.
Which thread runs a segment, and when, changes nothing (unless the deadline
stops segments part way).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ._core import improve_segments
from ._reference import TSPReference

__all__ = [
    "DEFAULT_KICKS_PER_CITY",
    "DEFAULT_SEGMENT_SIZE",
    "MIN_SEGMENT_SIZE",
    "Segments",
    "TourPartition",
    "cut",
    "merge",
    "segment_starts",
]

#: Cities per segment by default.
DEFAULT_SEGMENT_SIZE = 10_000
#: The smallest segment_size accepted (a kick needs room for its three parts).
MIN_SEGMENT_SIZE = 64
#: Kicks per city of a segment in one round.
DEFAULT_KICKS_PER_CITY = 1.0
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def segment_starts(n: int, segment_size: int) -> npt.NDArray[np.int64]:
    """Start positions of ``round(n / segment_size)`` (at least 1) near-equal
    segments of ``n`` positions, and ``n``."""
    n_segments = max(1, int(round(n / segment_size)))
    return (np.arange(n_segments + 1, dtype=np.int64) * n) // n_segments


def round_offset(round_index: int, n: int, n_segments: int) -> int:
    """Rotation of the tour before round ``round_index`` is cut: the golden
    ratio's multiples of a segment, so boundaries never repeat a round's."""
    length = n // n_segments
    return int((round_index * _GOLDEN) % 1.0 * length) % max(n, 1)


@dataclass
class Segments:
    """A cut tour: segment s holds slots ``starts[s] .. starts[s+1]-1``."""

    starts: npt.NDArray[np.int64]
    cities: npt.NDArray[np.int64]  # the global city of each slot (local order)
    tours: npt.NDArray[np.int32]  # each segment's local tour (a cycle via (0, 1))
    xs: npt.NDArray[np.float64]
    ys: npt.NDArray[np.float64]
    neighbours: npt.NDArray[np.int32]  # (n, k) local candidate lists


def cut(
    tour: npt.NDArray[np.integer],
    starts: npt.NDArray[np.int64],
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    neighbours: npt.NDArray[np.int32],
) -> Segments:
    """Cut ``tour`` at ``starts`` into local instances (see the module's notes)."""
    n = len(tour)
    heads, ends = starts[:-1], starts[1:]
    sizes = ends - heads
    head_of_slot = np.repeat(heads, sizes)
    segment_of_slot = np.repeat(np.arange(len(sizes)), sizes)
    # Local order: first city, last city, then the inner ones in tour order.
    source = np.arange(n, dtype=np.int64) - 1
    source[heads] = heads
    source[heads + 1] = ends - 1
    cities = np.asarray(tour, dtype=np.int64)[source]
    local = np.arange(n, dtype=np.int64) - head_of_slot
    local_of = np.empty(n, dtype=np.int64)
    local_of[cities] = local
    segment_of = np.empty(n, dtype=np.int64)
    segment_of[cities] = segment_of_slot
    # The tour in path order, as local ids: 0, 2, 3, ..., m-1, 1.
    tours = (np.arange(n, dtype=np.int64) - head_of_slot + 1).astype(np.int32)
    tours[heads] = 0
    tours[ends - 1] = 1
    # Candidates inside the segment, nearest first, the pair (0, 1) left out.
    global_lists = neighbours[cities]
    lists = local_of[global_lists]
    valid = segment_of[global_lists] == segment_of_slot[:, None]
    valid &= lists + local[:, None] != 1
    order = np.argsort(~valid, axis=1, kind="stable")
    lists = np.take_along_axis(lists, order, axis=1)
    count = valid.sum(axis=1)
    # A city without candidates inside gets its successor on the path.
    fallback = np.where(
        local == 0, 2, np.where(local == 1, sizes[segment_of_slot] - 1, local + 1)
    )
    fallback = np.where(fallback == sizes[segment_of_slot], 1, fallback)
    last = np.where(count > 0, lists[np.arange(n), np.maximum(count - 1, 0)], fallback)
    columns = np.arange(lists.shape[1])[None, :]
    lists = np.where(columns < count[:, None], lists, last[:, None])
    return Segments(
        starts=np.asarray(starts, dtype=np.int64),
        cities=cities,
        tours=tours,
        xs=np.ascontiguousarray(x[cities]),
        ys=np.ascontiguousarray(y[cities]),
        neighbours=np.ascontiguousarray(lists, dtype=np.int32),
    )


def merge(segments: Segments) -> npt.NDArray[np.int32]:
    """The tour (in the cut tour's positions) with each segment's path: its
    cycle read from local city 0 away from 1 (which it ends at)."""
    starts, tours, cities = segments.starts, segments.tours, segments.cities
    out = np.empty(len(tours), dtype=np.int32)
    for s in range(len(starts) - 1):
        first, end = int(starts[s]), int(starts[s + 1])
        cycle = tours[first:end]
        at = int(np.flatnonzero(cycle == 0)[0])
        path = np.roll(cycle, -at)
        if path[-1] != 1:  # the edge (0, 1) is at the front: read backwards
            path = np.concatenate((path[:1], path[:0:-1]))
        if path[-1] != 1:
            raise RuntimeError(f"segment {s} lost its fixed edge")
        out[first:end] = cities[first + path.astype(np.int64)]
    return out


def segment_rng_states(
    chain_state: npt.NDArray[np.uint64], round_index: int, n_segments: int
) -> npt.NDArray[np.uint64]:
    """xoshiro256++ states of a round's segments: child (round, s) of a
    SeedSequence over the chain's own stream state (so they follow the run's
    seed and chain, and never the thread that runs them)."""
    entropy = [int(word) for word in chain_state]
    states = np.empty((n_segments, 4), dtype=np.uint64)
    for s in range(n_segments):
        sequence = np.random.SeedSequence(entropy, spawn_key=(round_index, s))
        states[s] = sequence.generate_state(4, np.uint64)
        if not states[s].any():
            states[s, 0] = 0x9E3779B97F4A7C15
    return states


class TourPartition:
    """Rounds of partitioned iterated local search on one TSP's tours.

    Parameters
    ----------
    tsp : TSP
        With coordinates and candidate lists.
    segment_size : int
        Cities per segment (about; at least MIN_SEGMENT_SIZE).
    kicks_per_city : float
        Kicks per city of a segment in one round (a segment's budget is
        ``ceil(kicks_per_city * m)``).
    recheck : "boundaries" or "all"
        The cities a round after the first starts its descents from: those
        the previous round's cut kept from a candidate or ended a segment
        with (the tour must be the previous round's), or every city.
    """

    def __init__(
        self,
        tsp: Any,
        segment_size: int = DEFAULT_SEGMENT_SIZE,
        kicks_per_city: float = DEFAULT_KICKS_PER_CITY,
        recheck: str = "boundaries",
    ) -> None:
        if tsp.coords is None or tsp._plane is None:
            raise ValueError(
                "tour partitioning needs coordinates, not a distance matrix"
            )
        if tsp.candidates is None:
            raise ValueError("tour partitioning needs candidate lists")
        if not (
            isinstance(segment_size, (int, np.integer))
            and segment_size >= MIN_SEGMENT_SIZE
        ):
            raise ValueError(
                f"segment_size must be an int >= {MIN_SEGMENT_SIZE}, "
                f"got {segment_size!r}"
            )
        if not (math.isfinite(kicks_per_city) and kicks_per_city >= 0):
            raise ValueError(f"kicks_per_city must be >= 0, got {kicks_per_city!r}")
        if recheck not in ("boundaries", "all"):
            raise ValueError(f'recheck must be "boundaries" or "all", got {recheck!r}')
        self.recheck = recheck
        self.tsp = tsp
        self.segment_size = int(segment_size)
        self.kicks_per_city = float(kicks_per_city)
        self.x = np.ascontiguousarray(tsp._plane[:, 0])
        self.y = np.ascontiguousarray(tsp._plane[:, 1])
        self.starts = segment_starts(tsp.n, self.segment_size)
        self.n_segments = len(self.starts) - 1
        #: Wall seconds of the last round outside its segments' search (cut,
        #: queue, merge): a run with a deadline starts no round that cannot
        #: finish this part in time (0.4 s at a million cities).
        self.overhead_s = 0.0

    def kicks(self, budget: int | None = None) -> npt.NDArray[np.int64]:
        """Each segment's kicks in a round: ceil(kicks_per_city * m), or
        ``budget`` shared in proportion to the sizes (the last round of a
        run with max_iters)."""
        sizes = np.diff(self.starts)
        full = np.ceil(self.kicks_per_city * sizes).astype(np.int64)
        if budget is None or budget >= full.sum():
            return full
        share = (budget * sizes) // sizes.sum()
        share[: budget - int(share.sum())] += 1
        return np.minimum(share, full)

    def cut(
        self, tour: npt.NDArray[np.integer], round_index: int
    ) -> tuple[int, Segments]:
        """The round's rotation and its segments."""
        offset = round_offset(round_index, len(tour), self.n_segments)
        rotated = np.roll(np.asarray(tour), -offset)
        return offset, cut(rotated, self.starts, self.x, self.y, self.tsp.candidates)

    def queued(
        self, tour: npt.NDArray[np.integer], round_index: int, segments: Segments
    ) -> npt.NDArray[np.uint8] | None:
        """Per slot of ``segments``: whether the city starts the round's first
        descent (None: every city). After round 0 (``recheck="boundaries"``),
        the cities with a candidate in another segment of the previous round
        and the ends of its segments; the rest of ``tour``, the previous
        round's result, is a local optimum of the lists that cut left."""
        if round_index == 0 or self.recheck == "all":
            return None
        n = len(tour)
        previous = round_offset(round_index - 1, n, self.n_segments)
        position = np.empty(n, dtype=np.int64)
        position[np.asarray(tour, dtype=np.int64)] = np.arange(n)
        segment_of = (
            np.searchsorted(self.starts, (position - previous) % n, side="right") - 1
        )
        candidates = self.tsp.candidates
        split = (segment_of[candidates] != segment_of[:, None]).any(axis=1)
        ends = np.concatenate((self.starts[:-1], self.starts[1:] - 1))
        split[np.asarray(tour)[(ends + previous) % n]] = True
        return split[segments.cities].astype(np.uint8)

    def round(
        self,
        tour: npt.NDArray[np.integer],
        round_index: int,
        chain_state: npt.NDArray[np.uint64],
        kicks: npt.NDArray[np.int64],
        tolerance: float,
        deadline: float = math.inf,
        num_threads: int = 1,
    ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64], float]:
        """One round: the new tour, (kicks, kept, evaluations, moves) summed
        over the segments, and the change of length (sum of the segments')."""
        started = time.monotonic()
        offset, segments = self.cut(tour, round_index)
        rng_states = segment_rng_states(chain_state, round_index, self.n_segments)
        queued = self.queued(tour, round_index, segments)
        searching = time.monotonic()
        counts, deltas = improve_segments(
            self.tsp._core,
            segments.tours,
            segments.xs,
            segments.ys,
            segments.neighbours,
            segments.starts,
            rng_states,
            kicks,
            tolerance,
            deadline,
            num_threads,
            queued,
        )
        searched = time.monotonic()
        merged = np.roll(merge(segments), offset)
        self.overhead_s = time.monotonic() - searched + (searching - started)
        return merged, counts.sum(axis=0), float(deltas.sum())

    def reference_round(
        self,
        tour: npt.NDArray[np.integer],
        round_index: int,
        chain_state: npt.NDArray[np.uint64],
        kicks: npt.NDArray[np.int64],
        tolerance: float,
    ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64], float]:
        """``round`` through the Python mirror (``TSPReference.segment_search``),
        segment by segment: the tests compare the two."""
        from ..._rng import ChainRNG

        tsp = self.tsp
        offset, segments = self.cut(tour, round_index)
        rng_states = segment_rng_states(chain_state, round_index, self.n_segments)
        reference = tsp._reference
        queued = self.queued(tour, round_index, segments)
        totals = np.zeros(4, dtype=np.int64)
        deltas = np.zeros(self.n_segments)
        for s in range(self.n_segments):
            first, end = int(segments.starts[s]), int(segments.starts[s + 1])
            mirror = TSPReference(
                end - first,
                tsp.metric,
                None,
                segments.xs[first:end],
                segments.ys[first:end],
                [k for k in tsp.moves if k != "lk"],
                reference.cdf,
                neighbours=segments.neighbours[first:end],
                kick_length=reference.kick_length,
                lk_depth=reference.lk_depth,
                lk_breadth=reference.lk_breadth,
                lk_max_flip=reference.lk_max_flip,
                lk_alternate=reference.lk_alternate,
                fixed_ends=True,
            )
            path, stats = mirror.segment_search(
                segments.tours[first:end],
                ChainRNG(rng_states[s]),
                int(kicks[s]),
                tolerance,
                None if queued is None else queued[first:end],
            )
            segments.tours[first:end] = path
            totals += np.array(stats[:4], dtype=np.int64)
            deltas[s] = stats[4]
        merged = np.roll(merge(segments), offset)
        return merged, totals, float(deltas.sum())

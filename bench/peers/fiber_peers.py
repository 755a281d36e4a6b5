"""greenlet peer of bench/fiber_shapes.ts: the same shapes, timed the same
way (OPS operations per call, median ns per operation over ROUNDS rounds),
printed as one JSON object per line for bench/fiber_compare.ts.

    pip install greenlet && python3 bench/peers/fiber_peers.py
"""

import contextvars
import json
import statistics
import sys
import time

import greenlet
from greenlet import getcurrent

OPS = 1000
ROUNDS = 15
ROUND_SECONDS = 0.05


def ping_pong():
    """Two greenlets switching to each other; one op is one switch."""
    main = getcurrent()
    state = {"remaining": 0}

    def body():
        while True:
            state["remaining"] -= 1
            (pong if state["remaining"] > 0 else main).switch()

    def body2():
        while True:
            state["remaining"] -= 1
            (ping if state["remaining"] > 0 else main).switch()

    ping = greenlet.greenlet(body)
    pong = greenlet.greenlet(body2)

    def call():
        state["remaining"] = OPS
        ping.switch()

    return call


def ring_switch():
    """Eight greenlets passing control around a ring; one op is one switch."""
    main = getcurrent()
    size = 8
    ring = []
    state = {"remaining": 0}

    def make_body(index):
        def body():
            following = ring[(index + 1) % size]
            while True:
                state["remaining"] -= 1
                (following if state["remaining"] > 0 else main).switch()
        return body

    for i in range(size):
        ring.append(greenlet.greenlet(make_body(i)))

    def call():
        state["remaining"] = OPS
        ring[0].switch()

    return call


def round_trip():
    """main -> greenlet -> main; one op is one round trip (two switches)."""
    main = getcurrent()

    def body():
        while True:
            main.switch()

    echo = greenlet.greenlet(body)

    def call():
        switch = echo.switch
        for _ in range(OPS):
            switch()

    return call


def create_run_finish():
    """A new greenlet switched into once that returns at once."""

    def body():
        return 1

    def call():
        make = greenlet.greenlet
        for _ in range(OPS):
            make(body).switch()

    return call


def local_get():
    """greenlet's per-greenlet storage: a ContextVar read (each greenlet has
    its own context)."""
    var = contextvars.ContextVar("value")
    var.set(1)

    def call():
        get = var.get
        total = 0
        for _ in range(OPS):
            total += get()
        assert total >= 0

    return call


class Local:
    """A per-greenlet attribute object kept in greenlet's instance dict, the
    design of evergreen's ``local``: every attribute read looks in the
    current greenlet's dict for this object."""

    __slots__ = ()

    def __getattribute__(self, name):
        try:
            return getcurrent().__dict__[id(self)][name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        getcurrent().__dict__.setdefault(id(self), {})[name] = value


def local_property_get():
    values = Local()
    values.count = 1

    def call():
        total = 0
        for _ in range(OPS):
            total += values.count
        assert total >= 0

    return call


SHAPES = [
    ("switch", ping_pong),
    ("switch_ring8", ring_switch),
    ("round_trip", round_trip),
    ("create_run_finish", create_run_finish),
    ("local_get", local_get),
    ("local_property_get", local_property_get),
]


def measure(call):
    """Median ns per operation over ROUNDS rounds of about ROUND_SECONDS."""
    start = time.perf_counter_ns()
    calls = 0
    while time.perf_counter_ns() - start < ROUND_SECONDS * 1e9:
        call()
        calls += 1
    per_round = max(1, calls)
    samples = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter_ns()
        for _ in range(per_round):
            call()
        samples.append((time.perf_counter_ns() - t0) / (per_round * OPS))
    return statistics.median(samples), min(samples)


def main():
    only = set(sys.argv[1:])
    for key, make in SHAPES:
        if only and key not in only:
            continue
        median, best = measure(make())
        print(json.dumps({
            "peer": "greenlet " + greenlet.__version__,
            "key": key,
            "ns": round(median, 2),
            "best_ns": round(best, 2),
        }), flush=True)


if __name__ == "__main__":
    main()

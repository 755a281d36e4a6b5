"""gevent peer of bench/loop_compare.ts: the loop shapes timed the same way
(best and median of ROUNDS rounds, ns per operation), printed as one JSON
object per line.

    pip install gevent && python3 bench/peers/loop_peers_gevent.py [quick]
"""

import json
import statistics
import sys
import time

import gevent
from gevent import get_hub

QUICK = len(sys.argv) > 1 and sys.argv[1] == "quick"
ROUNDS = 3 if QUICK else 7
PEER = "gevent " + gevent.__version__


def emit(key, samples_ns, extra=None):
    record = {
        "peer": PEER,
        "key": key,
        "ns": statistics.median(samples_ns),
        "best_ns": min(samples_ns),
    }
    if extra:
        record.update(extra)
    print(json.dumps(record), flush=True)


def sleep0(tasks, per_task):
    """`tasks` greenlets each calling gevent.sleep(0) `per_task` times."""

    def body():
        for _ in range(per_task):
            gevent.sleep(0)

    samples = []
    for _ in range(ROUNDS):
        greenlets = [gevent.spawn(body) for _ in range(tasks)]
        t0 = time.perf_counter_ns()
        gevent.joinall(greenlets)
        samples.append((time.perf_counter_ns() - t0) / (tasks * per_task))
    return samples


def spawn_finish(count):
    """Spawn `count` greenlets with an empty body, run them all to the end."""

    def body():
        pass

    samples = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter_ns()
        greenlets = [gevent.spawn(body) for _ in range(count)]
        gevent.joinall(greenlets)
        samples.append((time.perf_counter_ns() - t0) / count)
    return samples


def million_timers(count):
    """libxev's million-timers: `count` timers, the timeout growing by 1 ms
    every 1000 timers; ns per timer for scheduling, then for dispatching."""
    loop = get_hub().loop
    fired = [0]

    def callback():
        fired[0] += 1

    t0 = time.perf_counter_ns()
    timers = []
    timeout_ms = 1
    for i in range(count):
        if i % 1000 == 0:
            timeout_ms += 1
        timer = loop.timer(timeout_ms / 1000.0)
        timer.start(callback)
        timers.append(timer)
    t1 = time.perf_counter_ns()
    while fired[0] < count:
        gevent.sleep(0.001)
    t2 = time.perf_counter_ns()
    for timer in timers:
        timer.close()
    return (t1 - t0) / 1e6, (t2 - t1) / 1e6, timeout_ms


if __name__ == "__main__":
    emit("sleep0_10", sleep0(10, 10_000 if QUICK else 100_000))
    emit("sleep0_1000", sleep0(1000, 100 if QUICK else 1000))
    emit("spawn_100k", spawn_finish(100_000))
    count = 100_000 if QUICK else 1_000_000
    init_ms, dispatch_ms, last_ms = million_timers(count)
    print(json.dumps({
        "peer": PEER,
        "key": "million_timers",
        "count": count,
        "init_ms": init_ms,
        "dispatch_ms": dispatch_ms,
        "last_timeout_ms": last_ms,
    }), flush=True)

#!/usr/bin/env python3
"""Benchmark of the whole market pipeline, simulator to API (not a test).

Three parts, each on a freshly started stack (memcached, simulator, daemon):

``latency``
    For a few sampled tickers (first, middle and last symbol of each feed), the time
    from the simulator's push to the new value being visible in
    ``GET /api/market/ticker/{symbol}``. The simulator computes and encodes a tick
    ahead of its time and pushes it when its clock reaches it; every ticker event
    carries ``E`` = ``C`` = that time (at speed 1 the clock is the wall clock, anchored
    at start-up and advanced by the monotonic clock; the offset is measured and
    printed), and ccxt turns ``C`` into the ticker's ``timestamp``, so
    the API's ``ticker.ts`` *is* the push time of the value it shows. One poller per
    sampled symbol sleeps until 5 ms before the next push is due (one tick after the
    value it last saw), then polls back to back (``--poll-gap-ms`` apart) until ``ts``
    changes. Latency = the wall time the first poll showing the new ``ts`` returned,
    minus ``ts``: an upper bound, too high by at most that poll's window (the time
    since the last poll that still showed the old value; reported as ``resolution``).
    Polling only from just before the expected push until the value shows keeps the
    probe's own load on the daemon small (reported as ``polls_per_s``). The same value's
    legs are reported too: ``ws`` = arrival at an independent websocket client of
    the simulator (the exchange side: tick computation, encoding, send), ``feed`` =
    the daemon's receive time (``ticker.recv_ts``: ccxt parse and wake-up).
``rate``
    Steps of increasing offered ticker rate (``MARKETS@TICK``: markets watched,
    simulator tick in seconds; offered = markets / tick tickers/s, every ticker stream
    pushes every tick). Per step: warm up (every ticker present, backfill done, a
    settle period), then over ``--rate-seconds`` compare the tickers the simulator
    pushed (its tick counter x markets) with what the daemon's ticker cache consumed
    (``stats.ticker_cache.received``) and published on the bus, and watch bus drops,
    restarts, feed reconnects and latency (first vs last third). A step keeps up when
    consumed >= 97 % of offered, no drops, no restarts or reconnects and the latency
    median did not grow by more than 25 ms.
``soak``
    ``--soak-markets`` markets for ``--soak-seconds``: the daemon's RSS (psutil)
    every ``--sample-seconds``, plus restarts, drops and whether tickers keep moving;
    start, end, max and the slope of RSS (over the whole run and its second half).

The simulator runs in its own process by default (``--sim external``: ``virtuoso-sim``
with the same settings as ``--demo``, the daemon's feeds built by
:func:`virtuoso_daemon.process.demo.demo_exchanges`), so the daemon's RSS and CPU are
its own and the tick interval can be varied. ``--sim demo`` runs ``virtuoso-daemon
--demo`` instead (simulator inside the daemon; tick fixed at 0.25 s). The daemon is
always the real ``python -m virtuoso_daemon --config <generated toml>``.

Usage::

    .venv/bin/python scripts/bench_pipeline.py --json out.json     # all parts (~35 min)
    .venv/bin/python scripts/bench_pipeline.py --parts latency [--sim demo] [--kinds tickers]
    .venv/bin/python scripts/bench_pipeline.py --parts rate --rate-steps 82@0.25,300@0.25
    .venv/bin/python scripts/bench_pipeline.py --parts soak --soak-after-warm --trades-limit 50

Progress goes to stderr as it runs, the summary to stdout; ``--json`` keeps every
figure and the raw latency samples. Figures and findings: ``docs/market.md``,
"Pipeline latency, rate and memory".
"""

from __future__ import annotations

import sys

from bench.pipeline import main

if __name__ == "__main__":
    sys.exit(main())

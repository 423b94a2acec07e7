"""``virtuoso-sim``: run the simulated exchange alone until interrupted."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

import anyio

from virtuoso_daemon.core.event_loop import anyio_backend_options
from virtuoso_daemon.sim.config import SimConfig
from virtuoso_daemon.sim.server import Simulator


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="virtuoso-sim",
        description="A simulated exchange (Binance: spot /api/v3 and USD-M futures /fapi/v1; "
        "OKX v5: /api/v5 and /ws/v5; REST and websocket streams) with a factor-model "
        "market, ground truth at /__sim/truth and faults on demand at /__sim/faults.",
        epilog="Point ccxt at it with virtuoso_daemon.sim.ccxt_overrides(base_url, 'spot').",
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 = any free)")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument(
        "--symbols",
        default="40",
        help="number of alts besides BTC, or a comma list of bases, e.g. ETH,SOL (default 40)",
    )
    p.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per wall second (default 1)"
    )
    p.add_argument(
        "--tick-interval",
        type=float,
        default=0.25,
        help="wall seconds between market steps and pushes (default 0.25)",
    )
    p.add_argument(
        "--dialect",
        default="binance",
        help="API(s) to serve on the port: binance, okx, or binance,okx (default binance)",
    )
    p.add_argument("--no-perpetuals", action="store_true", help="list spot markets only")
    p.add_argument(
        "--no-rate-limit",
        action="store_true",
        help="do not enforce Binance request weights (for benchmarks)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def config_from_args(ns: argparse.Namespace) -> SimConfig:
    symbols: list[str] | None = None
    n_alts = 40
    raw = ns.symbols.strip()
    if raw.isdigit():
        n_alts = int(raw)
    else:
        symbols = [s.strip().upper() for s in raw.split(",") if s.strip()]
    return SimConfig(
        seed=ns.seed,
        n_alts=n_alts,
        symbols=symbols,
        speed=ns.speed,
        tick_interval=ns.tick_interval,
        perpetuals=not ns.no_perpetuals,
        rate_limits=not ns.no_rate_limit,
        dialects=tuple(d.strip().lower() for d in ns.dialect.split(",") if d.strip()),
    )


async def _run(sim: Simulator, host: str, port: int) -> None:
    async with anyio.create_task_group() as tg:
        await tg.start(sim.serve, host, port)
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                logging.getLogger("virtuoso.sim").info("virtuoso-sim stopping")
                tg.cancel_scope.cancel()
                break


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    logging.basicConfig(
        level=ns.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if ns.speed <= 0 or ns.tick_interval <= 0:
        print("virtuoso-sim: --speed and --tick-interval must be positive", file=sys.stderr)
        return 2
    try:
        config = config_from_args(ns)
    except ValueError as err:  # e.g. an unknown --dialect
        print(f"virtuoso-sim: {err}", file=sys.stderr)
        return 2
    sim = Simulator(config)
    options = anyio_backend_options("uvloop")
    try:
        anyio.run(_run, sim, ns.host, ns.port, backend="asyncio", backend_options=options)
    except OSError as err:
        print(f"virtuoso-sim: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""gunicorn settings for the web app (simple API, JSON API, downloads, site)."""

import faulthandler
import gc
import multiprocessing
import os

# A worker killed by a fatal signal (SIGSEGV, SIGABRT...) prints every thread's Python stack to
# the error log first, so that a crash in a C extension says which request's code it was in.
# Set in the master, the handler is inherited by every forked worker.
faulthandler.enable(all_threads=True)

bind = os.environ.get("WAREHOUSE_BIND", "127.0.0.1:" + os.environ.get("WAREHOUSE_PORT", "8000"))
# One worker per core. Cached reads are answered on each worker's event loop and never wait,
# and what does wait (PostgreSQL, Redis) waits on the worker's threads, not its loop. A second
# worker per core only competes for the same core: on 2 cores, 2 workers served random simple
# pages at 14,000-16,900 req/s against 4 workers' 12,400-13,700, and a uv resolve cost the
# server 18-21 ms of CPU against 23-41 ms (bench/RESULTS.md).
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
# An asyncio (uvloop) worker: installers' cached reads are answered on its event loop, the
# rest of the site on a pool of WEB_THREADS threads (see warehouse/asgi.py).
worker_class = "warehouse.asgi.WebWorker"
# Each worker listens on its own socket (SO_REUSEPORT), and the kernel hands every new
# connection to one of them. On a shared socket every idle worker wakes for each connection
# and all but one find nothing to accept.
reuse_port = True
timeout = 30
graceful_timeout = 10
keepalive = 5
# Workers are not recycled unless asked (WEB_MAX_REQUESTS=N): every cache a worker holds is
# bounded, and a recycled worker drops them all, closes its keep-alive connections and, with
# SO_REUSEPORT, resets the connections still queued on its socket. A count of requests is no
# measure of time either: 500,000 once came round in about a minute of a benchmark's load.
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
# Load the app once in the master so workers share its memory.
preload_app = True
accesslog = os.environ.get("WAREHOUSE_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("WAREHOUSE_LOG_LEVEL", "info")
proc_name = "warehouse-web"


def post_fork(server, worker):
    # What the master loaded is never freed: keep it out of the garbage collector's full
    # passes, which would otherwise walk all of it (long pauses, and copy-on-write faults).
    gc.freeze()
    # Connections made in the master (while preloading) must not be shared across workers.
    registry = server.app.wsgi().registry
    if "db.engine" in registry:
        registry["db.engine"].dispose(close=False)
    if "redis.client" in registry:
        registry["redis.client"].connection_pool.reset()

# gunicorn's control socket defaults to one path per user (~/.gunicorn/gunicorn.ctl), which
# several servers on one machine (web, uploads, tests) would fight over; we do not use it.
control_socket_disable = True


def child_exit(server, worker):
    # A dead worker's Prometheus samples must not be counted as if it were still serving.
    from warehouse.metrics import mark_process_dead

    mark_process_dead(worker.pid)

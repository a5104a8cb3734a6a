"""gunicorn settings for the uploads app (``POST /legacy/``); the CDN routes /legacy/ here.

Same application as the web app, tuned for a few long requests with large bodies:

* Bodies never sit in memory. gunicorn hands the body to the app as a stream; WebOb copies
  a body over 10 KiB to a temporary file before parsing it, and its multipart parser writes
  every part over 1,000 bytes (the distribution itself) to another temporary file; the upload
  pipeline then streams the file part into its own scratch file while hashing it. So the
  temporary directory must be on disk, not a RAM-backed tmpfs: WAREHOUSE_UPLOAD_TMPDIR
  points it elsewhere, and it needs room for about three copies of the largest upload per
  worker.
* Limits: the CDN refuses bodies over 2 GiB before reading them and drops chunked ones past
  128 MB (config/varnish/default.vcl); the app holds the body to the largest project limit
  and the form while WebOb spools it (warehouse/upload/limits.py: 413, with or without
  Content-Length), then the file to its project's limit while streaming it; gunicorn's
  header limits below keep the request head small.
* A long timeout: a sync worker is busy for the whole transfer plus inspection and the write
  to the archive. Workers are recycled often, since parsing archives can leave a worker's
  memory fragmented.
"""

import faulthandler
import multiprocessing
import os

# A worker killed by a fatal signal (SIGSEGV, SIGABRT...) prints every thread's Python stack to
# the error log first, so that a crash in a C extension says which request's code it was in.
# Set in the master, the handler is inherited by every forked worker.
faulthandler.enable(all_threads=True)

bind = os.environ.get(
    "WAREHOUSE_BIND", "127.0.0.1:" + os.environ.get("WAREHOUSE_UPLOADS_PORT", "8002")
)
workers = int(os.environ.get("UPLOADS_CONCURRENCY", multiprocessing.cpu_count() + 1))
worker_class = "sync"
timeout = 300
graceful_timeout = 120
keepalive = 5
max_requests = 500
max_requests_jitter = 50
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
preload_app = True
accesslog = os.environ.get("WAREHOUSE_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("WAREHOUSE_LOG_LEVEL", "info")
proc_name = "warehouse-uploads"
# No control socket: its default place is under ~, which the image's user cannot write, and
# several servers on one machine would fight over it; we do not use it.
control_socket_disable = True

if os.environ.get("WAREHOUSE_UPLOAD_TMPDIR"):
    # Set before the app is loaded, so every tempfile the workers make lands there.
    os.makedirs(os.environ["WAREHOUSE_UPLOAD_TMPDIR"], exist_ok=True)
    os.environ["TMPDIR"] = os.environ["WAREHOUSE_UPLOAD_TMPDIR"]


def post_fork(server, worker):
    # Connections made in the master (while preloading) must not be shared across workers.
    from warehouse.wsgi import application

    registry = application.registry
    if "db.engine" in registry:
        registry["db.engine"].dispose(close=False)
    if "redis.client" in registry:
        registry["redis.client"].connection_pool.reset()


def child_exit(server, worker):
    # A dead worker's Prometheus samples must not be counted as if it were still serving.
    from warehouse.metrics import mark_process_dead

    mark_process_dead(worker.pid)

# Multi-stage: build tools and uv live only in the builder; the final image holds the venv
# and the code, and runs as an unprivileged user.
FROM python:3.11-slim AS builder
# uv comes from PyPI like every other dependency: the build needs the package registries only.
RUN pip install --no-cache-dir "uv>=0.13,<0.14"
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
RUN python -m venv /opt/venv
COPY requirements/main.txt /tmp/requirements.txt
RUN uv pip install --python /opt/venv/bin/python --no-cache -r /tmp/requirements.txt
COPY pyproject.toml README.md /src/
COPY requirements/main.in /src/requirements/main.in
COPY warehouse /src/warehouse
RUN uv pip install --python /opt/venv/bin/python --no-cache --no-deps /src

FROM python:3.11-slim
RUN groupadd --system warehouse && useradd --system --gid warehouse --home /app warehouse
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY config /app/config
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    WAREHOUSE_ENV=production \
    WAREHOUSE_BIND=0.0.0.0:8000 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
USER warehouse
EXPOSE 8000
# web by default; compose overrides the command for uploads, worker and beat.
CMD ["sh", "-c", "rm -rf $PROMETHEUS_MULTIPROC_DIR && mkdir -p $PROMETHEUS_MULTIPROC_DIR && exec gunicorn -c config/gunicorn-web.conf.py 'warehouse.asgi:make_asgi_app()'"]

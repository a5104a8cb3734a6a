"""Upstream indexes: other PEP 503/691 indexes whose projects this index mirrors.

An upstream's projects become ordinary projects here (rows in ``projects``, ``releases``,
``release_files``), so the simple API, the JSON API, search, XML-RPC and the change log serve
them with no extra work on the read path. Side tables say which upstream a project and a file
come from; only the rare paths (a file not stored yet, a name not known yet) read them.

* :mod:`.models`: upstreams, their allowances, the side tables, the sync queue (checkpoints).
* :mod:`.filters`: bandersnatch's filter plugins, read from an unmodified bandersnatch config.
* :mod:`.client`: talking to an upstream (PEP 691 JSON, PEP 503 HTML, the JSON API).
* :mod:`.sync`: what changed upstream, and applying one project's state here (journaled).
* :mod:`.fetch`: a file's first request: fetch, verify, store.
* :mod:`.tasks`: the Celery tasks (queue ``upstreams``) and the beat job.
"""


def includeme(config) -> None:
    from warehouse.upstreams.fetch import FileFetcher
    from warehouse.upstreams.sync import OnDemandPages

    registry = config.registry
    # Read by the download view and the simple API only when they would answer 404.
    registry["upstreams.fetcher"] = FileFetcher(registry)
    registry["upstreams.on_demand"] = OnDemandPages(registry)
    config.include("warehouse.upstreams.views")

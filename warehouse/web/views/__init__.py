"""The site's pages, one module per area.

Each module adds its routes and views in its own ``includeme`` and is listed in
``warehouse.web.AREAS``. Views are thin: parse the request, ask a query function
(:mod:`warehouse.web.queries`) or a service, return a dict for the template named in
``renderer=``. Templates live in ``warehouse/web/templates/<area>/``.
"""

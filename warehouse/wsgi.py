"""The WSGI application that gunicorn serves (``warehouse.wsgi:application``)."""

from warehouse.config import make_wsgi_app

application = make_wsgi_app()

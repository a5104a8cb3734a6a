"""Accounts: users and their passwords, emails and second factors; sessions, the security
policy, CSRF protection, and the account pages.

``config.include("warehouse.accounts")`` brings all of it; it also includes
``warehouse.email`` and ``warehouse.events``, which the account pages need.
"""


def includeme(config) -> None:
    # Imported here: the models alone (workers, CLI jobs) need none of the services.
    from warehouse.accounts.interfaces import IUserService
    from warehouse.accounts.services import user_service_factory

    config.register_service_factory(user_service_factory, IUserService)
    config.include("warehouse.accounts.sessions")
    config.include("warehouse.accounts.security")
    config.include("warehouse.accounts.csrf")
    config.include("warehouse.email")
    config.include("warehouse.events")
    config.include("warehouse.accounts.views")

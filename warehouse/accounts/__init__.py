from warehouse.accounts.interfaces import IUserService
from warehouse.accounts.services import user_service_factory


def includeme(config) -> None:
    config.register_service_factory(user_service_factory, IUserService)
    config.include("warehouse.accounts.security")

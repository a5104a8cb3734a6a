from warehouse.tokens.interfaces import ITokenService
from warehouse.tokens.services import token_service_factory


def includeme(config) -> None:
    config.register_service_factory(token_service_factory, ITokenService)
    config.include("warehouse.tokens.views")

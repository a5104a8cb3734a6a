"""Projects, releases, files, and the journal."""


def includeme(config) -> None:
    # Imported here, not at the top: a worker or a CLI job that only needs the models must not
    # load the services' dependencies (Pyramid's registry, the accounts' password hashing).
    from warehouse.packaging.interfaces import IProjectService
    from warehouse.packaging.management import ProjectManagement, project_management_factory
    from warehouse.packaging.services import project_service_factory

    config.register_service_factory(project_service_factory, IProjectService)
    config.register_service_factory(project_management_factory, ProjectManagement)

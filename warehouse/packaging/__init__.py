"""Projects, releases, files, and the journal."""

from warehouse.packaging.interfaces import IProjectService
from warehouse.packaging.management import ProjectManagement, project_management_factory
from warehouse.packaging.services import project_service_factory


def includeme(config) -> None:
    config.register_service_factory(project_service_factory, IProjectService)
    config.register_service_factory(project_management_factory, ProjectManagement)

"""``/classifiers/``: every trove classifier, as a tree, each a link to its search."""

from __future__ import annotations

import dataclasses
import functools

import trove_classifiers
from pyramid.view import view_config


@dataclasses.dataclass
class ClassifierNode:
    label: str  # the last part, e.g. "Django"
    classifier: str  # the whole string, e.g. "Framework :: Django"
    children: list[ClassifierNode] = dataclasses.field(default_factory=list)


def current_classifiers() -> list[str]:
    return [
        c
        for c in trove_classifiers.sorted_classifiers
        if c not in trove_classifiers.deprecated_classifiers
    ]


@functools.cache
def classifier_tree() -> tuple[ClassifierNode, ...]:
    """Top-level groups, each with its descendants; built once per process."""
    roots: list[ClassifierNode] = []
    nodes: dict[str, ClassifierNode] = {}
    for classifier in current_classifiers():
        parts = classifier.split(" :: ")
        for depth in range(1, len(parts) + 1):
            path = " :: ".join(parts[:depth])
            if path in nodes:
                continue
            node = ClassifierNode(label=parts[depth - 1], classifier=path)
            nodes[path] = node
            parent = nodes.get(" :: ".join(parts[: depth - 1])) if depth > 1 else None
            (parent.children if parent else roots).append(node)
    return tuple(roots)


@view_config(route_name="classifiers", renderer="classifiers.html", request_method="GET")
def classifiers_page(request):
    return {"tree": classifier_tree()}


def includeme(config) -> None:
    config.add_route("classifiers", "/classifiers/")
    config.scan(__name__)

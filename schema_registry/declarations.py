"""The subjects the apps declare at start-up (in their AppConfig.ready), each with its first schema and where its
stored documents live. The registry creates them on `migrate` (services.subjects_sync) and never imports the
apps: a document source names its model by label, resolved through the app registry."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import models

FREE_FORM: dict[str, Any] = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"}


@dataclass(frozen=True)
class Documents:
    """Where a subject's documents are stored: a JSON field of a model, and the field stamping its version."""

    model: str  # "app_label.ModelName"
    field: str
    version_field: str = "schema_version"

    def model_class(self) -> type[models.Model]:
        return apps.get_model(self.model)

    def manager(self) -> Any:
        return self.model_class()._default_manager


@dataclass(frozen=True)
class Declaration:
    name: str
    description: str
    schema: dict[str, Any]
    compatibility: str = "BACKWARD"
    documents: Documents | None = None
    # The app's code owns the versions (an algorithm's hyperparameters): the API does not register them.
    managed: bool = False


DECLARED: dict[str, Declaration] = {}
# Callables returning more declarations, asked on first use: an app whose subjects need heavy imports (the
# algorithm plugins load scikit-learn) does not slow every process's start-up.
_PROVIDERS: list[Callable[[], list[Declaration]]] = []
_provided: dict[str, Declaration] | None = None


def subject_declare(
    name: str,
    *,
    description: str,
    schema: dict[str, Any] | None = None,
    compatibility: str = "BACKWARD",
    documents: Documents | None = None,
    managed: bool = False,
) -> None:
    DECLARED[name] = Declaration(
        name=name,
        description=description,
        schema=schema if schema is not None else dict(FREE_FORM),
        compatibility=compatibility,
        documents=documents,
        managed=managed,
    )


def subjects_provider_register(provider: Callable[[], list[Declaration]]) -> None:
    global _provided
    _PROVIDERS.append(provider)
    _provided = None


def declared() -> dict[str, Declaration]:
    """Every declared subject by name: those declared directly, then those of the providers."""
    global _provided
    if _provided is None:
        _provided = {}
        for provider in _PROVIDERS:
            for declaration in provider():
                _provided[declaration.name] = declaration
    return {**_provided, **DECLARED}


def declaration_get(name: str) -> Declaration | None:
    return DECLARED.get(name) or declared().get(name)

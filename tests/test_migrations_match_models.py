"""The models and the chain of migrations describe the same database.

`tortoise makemigrations` compares the state the migrations build with the models; a change to
a model without its migration (or a merge that chains two migrations wrongly) would make a
fresh database differ from what the code expects. Differences in an enum field's description
(the list of its values, which tortoise keeps in the field's comment) are not the database's
shape and are ignored; anything else, a column's length included, is drift.
"""

from __future__ import annotations

from typing import Any

import pytest
from tortoise.context import TortoiseContext
from tortoise.migrations.autodetector import MigrationAutodetector, OperationGenerator
from tortoise.migrations.operations import AlterField

from milestones.database import tortoise_config

_NOT_SHAPE = {"description", "docstring"}


def _shape(field: Any) -> dict[str, Any]:
    described = field.describe(serializable=True)
    return {key: value for key, value in described.items() if key not in _NOT_SHAPE}


async def _drift() -> list[str]:
    config = tortoise_config("sqlite://:memory:")
    context = TortoiseContext()
    context.__enter__()
    try:
        await context.init(config=config)
        detector = MigrationAutodetector(context.apps, config["apps"])
        await detector.loader.build_graph()
        old = await detector._project_state()
        new = detector._current_state()
        found = []
        for operation in OperationGenerator(old, new).generate(app_labels=["models"]):
            if isinstance(operation, AlterField):
                before = old.models[("models", operation.model_name)].fields[operation.name]
                if _shape(before) == _shape(operation.field):
                    continue
                found.append(
                    f"{operation.describe()}: {_shape(before)} -> {_shape(operation.field)}"
                )
            else:
                found.append(operation.describe())
        return found
    finally:
        await context.close_connections()
        context.__exit__(None, None, None)


@pytest.mark.asyncio
async def test_migrations_build_the_models() -> None:
    assert await _drift() == [], "run `tortoise makemigrations` and review the migration"


def test_the_migrations_form_one_chain() -> None:
    """One leaf: two migrations that depend on the same parent are a merge left unchained."""
    import importlib
    import pkgutil

    from milestones import migrations

    names = sorted(m.name for m in pkgutil.iter_modules(migrations.__path__))
    parents: dict[str, list[str]] = {}
    for name in names:
        module = importlib.import_module(f"milestones.migrations.{name}")
        for _, parent in module.Migration.dependencies:
            parents.setdefault(parent, []).append(name)
    assert {p: c for p, c in parents.items() if len(c) > 1} == {}
    leaves = [name for name in names if name not in parents]
    assert leaves == [names[-1]], leaves

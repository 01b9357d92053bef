"""Lookups whose SQL the ORM builds once per database (and process), for the hottest paths of the API.

Building a queryset's SQL (filters resolved, joins set up, columns named, the compiler's as_sql) cost the ORM
about a millisecond for the lookup of a prediction (a version with its model and project, and the caller's
role in a subquery): more than PostgreSQL took to answer it, and over half of a one-row prediction's time
in the view (cProfile). A `PreparedLookup` builds its queryset once per database with stand-in values,
keeps the SQL and where each value goes in its parameters, and from then on only runs it and makes the
object with the ORM's own parts (the compiler's columns, converters and related populators, as
`QuerySet.first()` does): the same fields, `select_related` objects and annotations.

The queryset's shape must not depend on the values, which are ids (or the like) a row must equal: one beyond
its column's range finds nothing. It may not prefetch. A plan is kept per database and holds nothing of a
connection, so every thread shares it: Django's ASGI handler runs each request's sync code in a new thread, with
a connection object of its own (a plan per connection was a plan per request there).
"""

import inspect
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.db import connections, router
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators

# Stand-in values: near the top of a 32-bit integer column's range (the ORM answers a value out of a column's
# range with no query at all), where no id of this service is and no constant of a lookup would be.
_STAND_IN_BASE = 2_147_480_000


# The bits of a value's column by the type the ORM gave the value (psycopg's, on PostgreSQL); a plain int
# (SQLite, a column with no wrapper) is 64.
_BITS = {"Int2": 16, "Int4": 32, "Int8": 64}


def _fits(value: int, kind: type) -> bool:
    bits = _BITS.get(kind.__name__, 64)
    return -(2 ** (bits - 1)) <= value < 2 ** (bits - 1)


class _Plan:
    def __init__(self, queryset: QuerySet, stand_ins: dict[int, str], others: list[Any]) -> None:
        if getattr(queryset, "_prefetch_related_lookups", ()):
            raise ValueError("a prepared lookup cannot prefetch")
        compiler = queryset.query.get_compiler(using=queryset.db)
        self.sql, params = compiler.as_sql()
        # (name, type) where a value goes (the type the ORM gave it: psycopg's Int4 for a 32-bit column on
        # PostgreSQL, say), (None, constant) for the queryset's own constants: those that do not change with
        # the stand-ins (`others`: the parameters of the queryset built with other ones), whatever they equal.
        self.slots = [
            (stand_ins[param], type(param))
            if isinstance(param, int) and not isinstance(param, bool) and param in stand_ins and param != other
            else (None, param)
            for param, other in zip(params, others, strict=True)
        ]
        unplaced = set(stand_ins.values()) - {name for name, _ in self.slots}
        if unplaced:
            raise ValueError(f"the queryset does not use {sorted(unplaced)} as a parameter")
        select, klass_info = compiler.select, compiler.klass_info
        self.model = klass_info["model"]
        fields = klass_info["select_fields"]
        self.start, self.end = fields[0], fields[-1] + 1
        self.init_list = [column[0].target.attname for column in select[self.start : self.end]]
        # Django 5.2's signature (the stubs describe a later one, with a fetch mode).
        self.populators = get_related_populators(klass_info, select, queryset.db)  # type: ignore[call-arg]
        self.annotations = list(compiler.annotation_col_map.items())
        # As SQLCompiler.get_converters() makes them, with the backend's methods (SQLite's) unbound from the
        # connection that built the plan: each call binds them to its own.
        ops = compiler.connection.ops
        self.converters = [
            (position, [_unbound(converter, ops) for converter in converters], expression)
            for position, (converters, expression) in compiler.get_converters(
                [column[0] for column in select[: compiler.col_count]]
            ).items()
        ]


def _unbound(converter: Any, ops: Any) -> tuple[Any, bool]:
    if getattr(converter, "__self__", None) is ops:
        return converter.__func__, True
    return converter, False


M = TypeVar("M", bound=Model)


class PreparedLookup(Generic[M]):
    """`build(**values)` -> a queryset of `model` (its first row is the answer, ordered by primary key unless it
    is ordered, as .first() does); its arguments name the values. `lookup.first(**values)`: the object, or None.

        versions = PreparedLookup(ModelVersion, lambda model_id, number: ModelVersion.objects.filter(...))
        version = versions.first(model_id=3, number=1)
    """

    def __init__(self, model: type[M], build: Callable[..., QuerySet], names: tuple[str, ...] = ()) -> None:
        self.model = model
        self.build = build
        self.names = names or tuple(inspect.signature(build).parameters)  # `names` for a build(**values)
        self._plans: dict[tuple[str, str], _Plan] = {}

    def _queryset(self, **values: Any) -> QuerySet:
        queryset = self.build(**values)
        if not queryset.ordered:
            queryset = queryset.order_by("pk")
        return queryset[:1]

    def _plan(self, connection: Any, alias: str) -> _Plan:
        key = (alias, connection.vendor)
        plan = self._plans.get(key)
        if plan is None:
            stand_ins = {name: _STAND_IN_BASE + index for index, name in enumerate(self.names)}
            queryset = self._queryset(**stand_ins).using(alias)
            others = {name: value + len(self.names) for name, value in stand_ins.items()}
            other_params = self._queryset(**others).using(alias).query.get_compiler(using=alias).as_sql()[1]
            plan = self._plans[key] = _Plan(
                queryset, {value: name for name, value in stand_ins.items()}, list(other_params)
            )
        return plan

    def first(self, **values: Any) -> M | None:
        if set(values) != set(self.names):
            raise TypeError(f"expected the values {sorted(self.names)}, got {sorted(values)}")
        if any(type(value) is not int for value in values.values()):
            return self._queryset(**values).first()  # not an id: the ORM's own path, which validates it
        alias = router.db_for_read(self.model) or "default"
        connection = connections[alias]
        plan = self._plan(connection, alias)
        if any(not _fits(values[name], kind) for name, kind in plan.slots if name is not None):
            # An id beyond its column's range (20 digits in a URL) is no row's; the database would refuse it.
            return None
        params: list[Any] = [constant if name is None else constant(values[name]) for name, constant in plan.slots]
        with connection.cursor() as cursor:
            cursor.execute(plan.sql, params)
            found = cursor.fetchone()
        if found is None:
            return None
        row = list(found)
        for position, converters, expression in plan.converters:
            value = row[position]
            for converter, of_ops in converters:
                if of_ops:
                    value = converter(connection.ops, value, expression, connection)
                else:
                    value = converter(value, expression, connection)
            row[position] = value
        obj = plan.model.from_db(alias, plan.init_list, row[plan.start : plan.end])
        for populator in plan.populators:
            populator.populate(row, obj)
        for name, position in plan.annotations:
            setattr(obj, name, row[position])
        return obj

"""Validating many FHIR resources of few shapes with the `fhir.resources` models, fast.

fhir.resources validates a resource in Python, element by element (about 0.3 ms for an Observation
on a laptop): 200,000 resources would take a minute. An export builds resources of a handful of
*shapes* (which elements are present, nested how) that differ only in their primitive values. So:

1. the first resource of each shape (resource type + the tree of element names) is validated in full
   by its model (`Model.model_validate`): element names, cardinality, required elements, choice
   types, bindings, and its values;
2. every resource, that one included, then has each primitive value checked against the FHIR
   primitive type the model declares at that place (string, code, uri, id, dateTime, instant, date,
   decimal, ...), with the very pydantic validators the models use, and a cache of values already
   seen per type (dates, codes and displays repeat).

A resource passes only if a full validation of it would pass: its structure is that of a resource the
model accepted and each of its values is accepted by the model's own type at that place.
`strict=True` validates every resource in full instead (the tests use both).
"""

from __future__ import annotations

import functools
import types
import typing
from typing import Any

from pydantic import TypeAdapter

Leaf = tuple[Any, ...]  # shape of a subtree (hashable)


def _shape(value: Any, leaves: list[Any]) -> Any:
    if isinstance(value, dict):
        return tuple((k, _shape(v, leaves)) for k, v in value.items())
    if isinstance(value, list):
        return ("[",) + tuple(_shape(v, leaves) for v in value)
    leaves.append(value)
    return type(value).__name__


def _unwrap(annotation: Any) -> Any:
    """Optional[X] / List[X] / X | None -> X (an Annotated primitive or an element type)."""
    while True:
        origin = typing.get_origin(annotation)
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0]
        elif origin in (list, typing.List):  # noqa: UP006
            annotation = typing.get_args(annotation)[0]
        else:
            return annotation


@functools.lru_cache(maxsize=None)
def _adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)


def _fields_by_alias(model: Any) -> dict[str, Any]:
    return {(f.alias or name): f.annotation for name, f in model.model_fields.items()}


@functools.lru_cache(maxsize=None)
def _fields(model: Any) -> dict[str, Any]:
    return _fields_by_alias(model)


def _plan(model: Any, value: Any, out: list[TypeAdapter[Any] | None], annotation: Any = None) -> None:
    """The type adapter of every leaf of `value` (in `_shape`'s order), `value` being of `model` (or of
    the primitive `annotation`)."""
    if isinstance(value, dict):
        fields = _fields(model)
        for k, v in value.items():
            if k == "resourceType":
                _plan(None, v, out, None)
                continue
            ann = _unwrap(fields[k])
            klass = ann.get_model_klass() if hasattr(ann, "get_model_klass") else None
            _plan(klass, v, out, None if klass is not None else ann)
    elif isinstance(value, list):
        for v in value:
            _plan(model, v, out, annotation)
    else:
        out.append(_adapter(annotation) if annotation is not None else None)


class ShapeValidator:
    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
        self._plans: dict[tuple[Any, Any], list[TypeAdapter[Any] | None]] = {}
        self._seen: set[tuple[int, Any]] = set()
        self.full = 0  # resources validated in full

    def validate(self, model: Any, data: dict[str, Any]) -> None:
        """Raise pydantic.ValidationError (or ValueError) unless `data` is a valid `model` resource."""
        if self.strict:
            model.model_validate(data)
            self.full += 1
            return
        leaves: list[Any] = []
        key = (model, _shape(data, leaves))
        plan = self._plans.get(key)
        if plan is None:
            model.model_validate(data)
            self.full += 1
            plan = []
            _plan(model, data, plan)
            if len(plan) != len(leaves):  # pragma: no cover - the walks must agree
                raise ValueError("internal: FHIR validation plan does not fit the resource")
            self._plans[key] = plan
        seen = self._seen
        for adapter, v in zip(plan, leaves, strict=True):
            if adapter is None:
                continue
            mark = (id(adapter), v)
            if mark in seen:
                continue
            adapter.validate_python(v)
            if len(seen) < 200_000 and (not isinstance(v, str) or len(v) <= 64):
                seen.add(mark)  # codes, dates, displays repeat; long free text does not

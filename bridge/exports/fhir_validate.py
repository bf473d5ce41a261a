"""Validating many FHIR resources of few shapes with the `fhir.resources` models, fast.

fhir.resources validates in Python, element by element (about 0.3 ms for one Observation): the
200,000 resources of a large family would take a minute. But an export builds its resources from a
handful of patterns that differ only in their primitive values. So each element (a dict in the JSON)
is checked against the model the resource's model declares at that place:

1. an element whose set of child names (and which of them are lists) was not seen before for that
   model is validated in full by the model (`Model.model_validate`, children included): element
   names, cardinality, required children, choice types, and the values;
2. otherwise its primitive children are each checked with the very pydantic validator the model
   declares for them (string, code, uri, id, dateTime, instant, date, decimal, ...), values already
   seen for that type being skipped, and its element children are checked the same way, recursively.

The constraints fhir.resources enforces are local to an element (required children, one-of-many
choice types, primitive formats), so an element passes here exactly when a full validation of it
would pass. Elements shared by many resources (a member's reference, a coded concept) are `pin`ned
once validated and not walked again. `strict=True` validates every resource in full instead.
"""

from __future__ import annotations

import functools
import types
import typing
from typing import Any

from pydantic import TypeAdapter

# per model: alias -> (element model or None, primitive adapter or None)
Info = dict[str, tuple[Any, "TypeAdapter[Any] | None"]]


def _unwrap(annotation: Any) -> Any:
    """Optional[X] / List[X] / X | None -> X (an Annotated primitive or an element type)."""
    while True:
        origin = typing.get_origin(annotation)
        if origin in (typing.Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        elif origin is list:
            annotation = typing.get_args(annotation)[0]
        else:
            return annotation


@functools.cache
def _adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)


@functools.cache
def _info(model: Any) -> Info:
    out: Info = {}
    for name, f in model.model_fields.items():
        ann = _unwrap(f.annotation)
        klass = ann.get_model_klass() if hasattr(ann, "get_model_klass") else None
        out[f.alias or name] = (klass, None) if klass is not None else (None, _adapter(ann))
    return out


class ShapeValidator:
    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
        self._known: dict[tuple[Any, tuple[str, ...]], list[tuple[Any, TypeAdapter[Any] | None]]] = {}
        self._pinned: dict[int, Any] = {}  # id -> the object (kept alive, so the id stays its own)
        self._seen: set[tuple[int, type, Any]] = set()
        self.full = 0  # elements validated in full

    def pin(self, element: dict[str, Any], model: Any) -> None:
        """Validate a shared element once; later resources that reuse the same object skip it."""
        if id(element) not in self._pinned:
            model.model_validate(element)
            self._pinned[id(element)] = element

    def validate(self, model: Any, data: dict[str, Any]) -> None:
        """Raise pydantic.ValidationError (or ValueError) unless `data` is a valid `model` resource."""
        if self.strict:
            model.model_validate(data)
            self.full += 1
            return
        self._element(model, data)

    def _element(self, model: Any, d: Any) -> None:
        if type(d) is not dict:
            model.model_validate(d)  # not an element at all: let the model say so
            return
        if id(d) in self._pinned:
            return
        sig = tuple([k + "[" if type(v) is list else k for k, v in d.items()])
        key = (model, sig)
        plan = self._known.get(key)
        if plan is None:
            model.model_validate(d)
            self.full += 1
            info = _info(model)
            # in the dict's own key order: (element model, primitive adapter) per child
            self._known[key] = [(None, None) if k == "resourceType" else info[k] for k in d]
            return
        seen = self._seen
        for (klass, adapter), v in zip(plan, d.values(), strict=True):
            for x in v if type(v) is list else (v,):
                if klass is not None:
                    self._element(klass, x)
                elif adapter is not None:
                    mark = (id(adapter), type(x), x)
                    if mark in seen:
                        continue
                    adapter.validate_python(x)
                    if len(seen) < 50_000 and (type(x) is not str or len(x) <= 64):
                        seen.add(mark)  # codes, dates, displays repeat; long free text does not

"""Hosted subscription forms (SPEC §5)."""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    field_validator,
    model_validator,
)

from stepwise.domain.jsonvalues import checked_document
from stepwise.domain.keys import Key
from stepwise.domain.paths import DataPath
from stepwise.domain.problems import Problem, from_validation_error

HONEYPOT = "website"  # the field people never see; bots fill it in
RESERVED_NAMES = ("email", HONEYPOT)


class FormField(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: DataPath
    label: str | None = Field(default=None, max_length=200)
    required: bool = False


class FormSpec(BaseModel):
    """A form: which profile fields it asks for, which lists it joins, and how it confirms."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    fields: list[DataPath | FormField] = Field(default_factory=list, max_length=50)
    lists: list[Key] = Field(default_factory=list, max_length=50)
    double_opt_in: bool = True
    confirmation_draft: Key | None = None
    success_url: str | None = Field(
        default=None, max_length=2048, json_schema_extra={"pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^\\r\\n\\u0000]*$"}
    )

    @model_validator(mode="wrap")
    @classmethod
    def _storable(cls, data: Any, handler: ModelWrapValidatorHandler[FormSpec]) -> FormSpec:
        return checked_document(data, handler)

    @field_validator("success_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().startswith(("http://", "https://")):
            raise ValueError("success_url must start with http:// or https://")
        if value is not None and any(ch in value for ch in "\r\n\0"):
            raise ValueError("success_url must not contain line breaks")
        return value

    @field_validator("title")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is not None and any(ch in value for ch in "\r\n\0"):
            raise ValueError("title must not contain line breaks")  # it goes into a Subject header
        return value

    @model_validator(mode="after")
    def _distinct_fields(self) -> FormSpec:
        paths = [f if isinstance(f, str) else f.path for f in self.fields]
        for index, path in enumerate(paths):
            if path in RESERVED_NAMES:
                raise ValueError(f"fields[{index}]: {path!r} is reserved (the address and the spam trap use it)")
            for other in paths[:index]:
                if path == other or path.startswith(other + ".") or other.startswith(path + "."):
                    raise ValueError(f"fields[{index}]: {path!r} overlaps the field {other!r}")
        return self

    def field_list(self) -> list[FormField]:
        """The fields with labels, in order."""
        return [f if isinstance(f, FormField) else FormField(path=f) for f in self.fields]


def form_problems(body: Any) -> list[Problem]:
    """Shape problems of a form body (references are checked against the account separately)."""
    try:
        FormSpec.model_validate(body)
    except ValidationError as exc:
        return from_validation_error(exc, body)
    return []


def form_reference_problems(spec: FormSpec, lists: frozenset[str], drafts: frozenset[str]) -> list[Problem]:
    """Problems with the lists and draft a form refers to."""
    found = [Problem(f"$.lists[{i}]", f"unknown list {key!r}") for i, key in enumerate(spec.lists) if key not in lists]
    if spec.confirmation_draft and spec.confirmation_draft not in drafts:
        found.append(Problem("$.confirmation_draft", f"unknown draft {spec.confirmation_draft!r}"))
    return found

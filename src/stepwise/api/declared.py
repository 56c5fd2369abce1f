"""What the OpenAPI document adds to the schemas of request models defined outside the API package.

The models of the services (a draft, a bulk update, a posted event) validate with rules that pydantic
does not put into their JSON Schema: an address field is checked by `parse_email`, a draft needs an
HTML or a text body, a bulk update names exactly one of `where` and `emails` and changes something.
`declare` writes those rules into the generated document, as closely as JSON Schema can say them;
validation itself is unchanged (the models and services still decide, with their own messages).
"""

from __future__ import annotations

from typing import Any

from stepwise.domain.emails import EMAIL_SCHEMA

_NO_NUL = "^[^\\u0000]*$"
_ONE_LINE = "^[^\\r\\n\\u0000]*$"
_OPTIONAL_EMAIL = {"anyOf": [{"type": "string", "maxLength": 0}, {"type": "string", **EMAIL_SCHEMA}, {"type": "null"}]}


def _draft(schema: dict[str, Any]) -> None:
    properties = schema["properties"]
    for name in ("from_email", "reply_to"):
        properties[name] = {**_OPTIONAL_EMAIL, "title": properties[name].get("title", name)}
    for name, pattern in (("subject", _ONE_LINE), ("from_name", _ONE_LINE), ("html", _NO_NUL), ("text", _NO_NUL)):
        properties[name]["pattern"] = pattern
    # "a draft needs an HTML or a text body"
    schema["anyOf"] = [
        {"required": ["html"], "properties": {"html": {"type": "string", "minLength": 1}}},
        {"required": ["text"], "properties": {"text": {"type": "string", "minLength": 1}}},
    ]


def _bulk_update(schema: dict[str, Any]) -> None:
    schema["properties"]["emails"]["anyOf"][0]["items"] = {"type": "string", **EMAIL_SCHEMA}
    schema["allOf"] = [
        # exactly one of `where` and `emails`
        {
            "oneOf": [
                {"required": ["where"], "properties": {"where": {"not": {"type": "null"}}}},
                {"required": ["emails"], "properties": {"emails": {"type": "array"}}},
            ]
        },
        # at least one of `set` and `unset`, not empty
        {
            "anyOf": [
                {"required": ["set"], "properties": {"set": {"type": "object", "minProperties": 1}}},
                {"required": ["unset"], "properties": {"unset": {"type": "array", "minItems": 1}}},
            ]
        },
    ]


def _posted_event(schema: dict[str, Any]) -> None:
    schema["properties"]["email"].update(EMAIL_SCHEMA)


DECLARED = {"DraftBody": _draft, "BulkUpdate": _bulk_update, "PostedEvent": _posted_event}


def declare(document: dict[str, Any]) -> dict[str, Any]:
    """Add the rules above to the components of a generated OpenAPI document (in place; returned)."""
    schemas = document.get("components", {}).get("schemas", {})
    for name, add in DECLARED.items():
        if name in schemas:
            add(schemas[name])
    return document

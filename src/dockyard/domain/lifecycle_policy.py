"""ECR lifecycle policy text: its grammar, AWS's validation and the parsed form.

    parse_policy(text) -> Policy      raises LifecyclePolicyInvalid with AWS's message

The checks run in two passes, as ECR's do: first the JSON schema of the document (shape, types,
enums, minimums; details worded like the JSON-schema validator ECR uses, e.g. ``object has
missing required properties (["rules"])``), then the rules across the policy (unique
priorities, ``any`` last, one untagged rule and unique prefixes per storage class, count types
and actions that go together). Every message has AWS's frame::

    Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint:
    'Lifecycle policy validation failure: <detail>'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dockyard.domain.errors import LifecyclePolicyInvalid

MAX_RULES = 50
MAX_WILDCARDS = 4
#: "You cannot configure lifecycle policies that delete images that have been in archive for
#: less than 90 days" (ECR User Guide, archive).
ARCHIVE_MINIMUM_DAYS = 90


class TagStatus(StrEnum):
    TAGGED = "tagged"
    UNTAGGED = "untagged"
    ANY = "any"


class StorageClass(StrEnum):
    STANDARD = "standard"
    ARCHIVE = "archive"


class CountType(StrEnum):
    IMAGE_COUNT_MORE_THAN = "imageCountMoreThan"
    SINCE_IMAGE_PUSHED = "sinceImagePushed"
    SINCE_IMAGE_PULLED = "sinceImagePulled"
    SINCE_IMAGE_TRANSITIONED = "sinceImageTransitioned"


class ActionType(StrEnum):
    EXPIRE = "expire"
    TRANSITION = "transition"


@dataclass(frozen=True)
class Rule:
    priority: int
    tag_status: TagStatus
    count_type: CountType
    count_number: int
    action: ActionType
    storage_class: StorageClass = StorageClass.STANDARD
    prefixes: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...]  # by priority, lowest number first


def parse_policy(text: str) -> Policy:
    try:
        document = json.loads(text)
    except ValueError:
        raise invalid("Could not map policyString into LifecyclePolicy.") from None
    _check_object(document, _TOP)
    rules = tuple(sorted((_rule(r) for r in document["rules"]), key=lambda r: r.priority))
    _check_policy(rules)
    return Policy(rules)


def invalid(detail: str) -> LifecyclePolicyInvalid:
    return LifecyclePolicyInvalid(
        "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: "
        f"'Lifecycle policy validation failure: {detail}'"
    )


# -- pass 1: the JSON schema ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    kind: str  # JSON-schema primitive type
    enum: tuple[str, ...] = ()
    minimum: int | None = None
    items: _Field | None = None
    min_items: int = 0
    max_items: int | None = None
    nullable_one_of: bool = False  # AWS's schema has a oneOf here: null matches none of it


@dataclass(frozen=True)
class _Object:
    required: tuple[str, ...]
    fields: dict[str, _Field | _Object]


_STRING = _Field("string")
_SELECTION = _Object(
    ("tagStatus", "countType", "countNumber"),
    {
        "tagStatus": _Field("string", enum=tuple(TagStatus)),
        "tagPatternList": _Field("array", items=_STRING, min_items=1),
        "tagPrefixList": _Field("array", items=_STRING, min_items=1),
        "storageClass": _Field("string", enum=tuple(StorageClass)),
        "countType": _Field("string", enum=tuple(CountType)),
        "countUnit": _Field("string", enum=("days",), nullable_one_of=True),
        "countNumber": _Field("integer", minimum=1),
    },
)
_ACTION = _Object(
    ("type",),
    {
        "type": _Field("string", enum=tuple(ActionType)),
        "targetStorageClass": _Field("string", enum=("archive",), nullable_one_of=True),
    },
)
_RULE = _Object(
    ("rulePriority", "selection", "action"),
    {
        "rulePriority": _Field("integer", minimum=1),
        "description": _STRING,
        "selection": _SELECTION,
        "action": _ACTION,
    },
)
_TOP = _Object(("rules",), {"rules": _Field("array", min_items=1, max_items=MAX_RULES)})


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {float: "number", str: "string", list: "array", dict: "object"}[type(value)]


def _wrong_type(value: Any, allowed: str) -> LifecyclePolicyInvalid:
    return invalid(
        f"instance type ({_type_name(value)}) does not match any allowed primitive "
        f'type (allowed: ["{allowed}"])'
    )


def _check_object(value: Any, schema: _Object) -> None:
    if not isinstance(value, dict):
        raise _wrong_type(value, "object")
    missing = [name for name in schema.required if name not in value]
    if missing:
        raise invalid(f"object has missing required properties ({_json_list(missing)})")
    extra = sorted(name for name in value if name not in schema.fields)
    if extra:
        raise invalid(
            "object instance has properties which are not allowed by the schema: "
            f"({_json_list(extra)})"
        )
    for name, field in schema.fields.items():
        if name in value:
            _check(value[name], field)


def _check(value: Any, field: _Field | _Object) -> None:
    if isinstance(field, _Object):
        _check_object(value, field)
    elif value is None and field.nullable_one_of:
        raise invalid("instance failed to match exactly one schema (matched 0 out of 2)")
    elif _type_name(value) != field.kind:
        raise _wrong_type(value, field.kind)
    elif field.kind == "array":
        _check_array(value, field)
    elif field.enum and value not in field.enum:
        raise invalid(
            f"instance value ({value}) not found in enum :(possible values: "
            f"{_json_list(sorted(field.enum))})"
        )
    elif field.minimum is not None and value < field.minimum:
        raise invalid(
            "numeric instance is lower than the required minimum "
            f"(minimum: {field.minimum}, found: {value})"
        )


def _check_array(value: list[Any], field: _Field) -> None:
    if len(value) < field.min_items:
        raise invalid(
            f"array is too short: must have at least {field.min_items} elements but "
            f"instance has {len(value)} elements"
        )
    if field.max_items is not None and len(value) > field.max_items:
        raise invalid(
            f"array is too long: must have at most {field.max_items} elements but "
            f"instance has {len(value)} elements"
        )
    for item in value:
        if field.items is not None:
            _check(item, field.items)


def _json_list(names: list[str]) -> str:
    return "[" + ",".join(f'"{n}"' for n in names) + "]"


# -- pass 2: one rule, then the policy -----------------------------------------------------------


def _rule(document: dict[str, Any]) -> Rule:
    _check_object(document, _RULE)
    sel, action = document["selection"], document["action"]
    rule = Rule(
        priority=document["rulePriority"],
        tag_status=TagStatus(sel["tagStatus"]),
        count_type=CountType(sel["countType"]),
        count_number=sel["countNumber"],
        action=ActionType(action["type"]),
        storage_class=StorageClass(sel.get("storageClass", StorageClass.STANDARD)),
        prefixes=tuple(sel.get("tagPrefixList", ())),
        patterns=tuple(sel.get("tagPatternList", ())),
        description=document.get("description", ""),
    )
    _check_tag_lists(rule, sel)
    _check_count(rule, sel)
    _check_action(rule, action)
    return rule


def _check_tag_lists(rule: Rule, sel: dict[str, Any]) -> None:
    given = [name for name in ("tagPatternList", "tagPrefixList") if name in sel]
    where = f"rule with priority {rule.priority}"
    if rule.tag_status is TagStatus.TAGGED and len(given) != 1:
        raise invalid(
            f"{where}: tagStatus tagged requires exactly one of tagPatternList and tagPrefixList"
        )
    if rule.tag_status is not TagStatus.TAGGED and given:
        raise invalid(f"{where}: {given[0]} can only be used with tagStatus tagged")
    for pattern in rule.patterns:
        if pattern.count("*") > MAX_WILDCARDS:
            raise invalid(
                f"{where}: tagPatternList value '{pattern}' has more than {MAX_WILDCARDS} wildcards"
            )


def _check_count(rule: Rule, sel: dict[str, Any]) -> None:
    where = f"rule with priority {rule.priority}"
    since = rule.count_type is not CountType.IMAGE_COUNT_MORE_THAN
    if since and "countUnit" not in sel:
        raise invalid(f"{where}: countUnit is required with countType {rule.count_type}")
    if not since and "countUnit" in sel:
        raise invalid(f"{where}: countUnit cannot be used with countType {rule.count_type}")
    archive_count = rule.count_type is CountType.SINCE_IMAGE_TRANSITIONED
    if archive_count != (rule.storage_class is StorageClass.ARCHIVE):
        raise invalid(
            f"{where}: storageClass archive goes with countType "
            "sinceImageTransitioned, and only with it"
        )
    if archive_count and rule.count_number < ARCHIVE_MINIMUM_DAYS:
        raise invalid(
            f"{where}: images must stay in archive for at least "
            f"{ARCHIVE_MINIMUM_DAYS} days before they can expire "
            f"(countNumber {rule.count_number})"
        )


# Which actions each count type is documented with: archived images can only expire, pull age
# only archives (ECR User Guide, lifecycle policy properties).
_ACTIONS_OF = {
    CountType.IMAGE_COUNT_MORE_THAN: (ActionType.EXPIRE, ActionType.TRANSITION),
    CountType.SINCE_IMAGE_PUSHED: (ActionType.EXPIRE, ActionType.TRANSITION),
    CountType.SINCE_IMAGE_PULLED: (ActionType.TRANSITION,),
    CountType.SINCE_IMAGE_TRANSITIONED: (ActionType.EXPIRE,),
}


def _check_action(rule: Rule, action: dict[str, Any]) -> None:
    where = f"rule with priority {rule.priority}"
    transition = rule.action is ActionType.TRANSITION
    if transition != ("targetStorageClass" in action):
        raise invalid(
            f"{where}: targetStorageClass is required with action type transition, and only with it"
        )
    if rule.action not in _ACTIONS_OF[rule.count_type]:
        raise invalid(
            f"{where}: countType {rule.count_type} cannot be used with action type {rule.action}"
        )


def _check_policy(rules: tuple[Rule, ...]) -> None:
    priorities = [rule.priority for rule in rules]
    duplicates = sorted({p for p in priorities if priorities.count(p) > 1})
    if duplicates:
        raise invalid(f"rulePriority must be unique: {duplicates[0]} is used more than once")
    for storage_class in StorageClass:
        _check_storage_class([r for r in rules if r.storage_class is storage_class])


def _check_storage_class(rules: list[Rule]) -> None:
    """Rules of one storage class see the same images: `any` last, one untagged rule, each
    prefix once. (Archive rules come after standard ones, e.g. "archive after 30 days, any"
    then "expire after 90 days in archive, any".)"""
    for rule in rules:
        if rule.tag_status is TagStatus.ANY and rule.priority != rules[-1].priority:
            raise invalid(
                f"rule with priority {rule.priority}: a rule with tagStatus any must "
                "have the highest rulePriority value (be evaluated last)"
            )
    untagged = [r.priority for r in rules if r.tag_status is TagStatus.UNTAGGED]
    if len(untagged) > 1:
        raise invalid(
            f"only one rule may select untagged images; rules with priority "
            f"{untagged[0]} and {untagged[1]} both do"
        )
    seen: dict[str, int] = {}
    for rule in rules:
        for prefix in rule.prefixes:
            if prefix in seen:
                raise invalid(
                    f"tag prefix '{prefix}' is used by the rules with priority "
                    f"{seen[prefix]} and {rule.priority}; prefixes must be unique"
                )
            seen[prefix] = rule.priority

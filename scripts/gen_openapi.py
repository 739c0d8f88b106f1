"""Generate `minik/apiserver/openapi_data.json.gz`: the schema definitions of every built-in kind.

Role in the flow: this is a build-time step *below* the API server. It reads the official `kubernetes`
Python client's model classes (a test/dev dependency, never needed at run time) and writes the OpenAPI
schema definitions that `minik.apiserver.openapi` serves as `/openapi/v3` and `/openapi/v2` and uses
for strict field validation. Run it again when the resource table (`minik/api/resources.py`) grows:

    /tmp/venv/bin/python scripts/gen_openapi.py

Definitions are named as Kubernetes names them (`io.k8s.api.core.v1.Pod`,
`io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`, ...) and use OpenAPI v3 references
(`#/components/schemas/<name>`). The output is deterministic: sorted keys, no gzip timestamp.

What the Python client cannot tell us, and how we fill it in:
  * Go package of a model class (the client drops it): assigned by reachability from the served kinds,
    core first, with the apimachinery meta types and the client's group-prefixed names fixed up front.
  * int32 vs int64 (the client says `int`): Kubernetes uses int32 unless a field is listed in `_INT64`.
  * Quantity fields (the client says `str`): listed in `_QUANTITY`.
  * IntOrString fields: detected from the model's `int | str` annotation.
  * patch strategies / list types: not available; we do not emit them (so the server must not
    advertise strategic merge patch).
"""

from __future__ import annotations

import argparse
import gzip
import inspect
import json
import re
import sys
import typing
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from minik.api.resources import BUILTIN_RESOURCES  # noqa: E402

OUTPUT = ROOT / "minik" / "apiserver" / "openapi_data.json.gz"
REF = "#/components/schemas/"

META = "io.k8s.apimachinery.pkg.apis.meta.v1"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
PATCH = f"{META}.Patch"

# apimachinery meta/v1 types, whatever group references them.
_META_CLASSES = {
    "V1ObjectMeta", "V1ListMeta", "V1LabelSelector", "V1LabelSelectorRequirement", "V1ManagedFieldsEntry",
    "V1OwnerReference", "V1Status", "V1StatusDetails", "V1StatusCause", "V1DeleteOptions", "V1Preconditions",
    "V1WatchEvent", "V1Condition", "V1APIResourceList", "V1APIResource", "V1APIGroup", "V1APIGroupList",
    "V1APIVersions", "V1GroupVersionForDiscovery", "V1ServerAddressByClientCIDR",
}

# The client prefixes a class with its group when two groups share a kind name (CoreV1Event, EventsV1Event).
_PREFIX_GROUPS = {"Core": "", "Events": "events.k8s.io", "Discovery": "discovery.k8s.io",
                  "Apiextensions": "apiextensions.k8s.io"}

# Kinds served outside the resource table: subresource bodies and meta kinds.
_EXTRA_KINDS = (
    ("autoscaling", "v1", "Scale"),
    ("policy", "v1", "Eviction"),
    ("", "v1", "Binding"),
)
_META_KINDS = ("Status", "DeleteOptions", "WatchEvent", "APIResourceList")

# Seeds used only to give core types their package (PodTemplateSpec is core, though apps uses it).
_CORE_SEEDS = ("V1PodTemplate", "V1ObjectReference", "V1PersistentVolumeClaim")

# Go int64 fields (everything else the client calls `int` is int32). Generations are always int64.
_INT64_ANYWHERE = {"generation", "observedGeneration"}
_INT64 = {
    "V1ObjectMeta": {"deletionGracePeriodSeconds"},
    "V1ListMeta": {"remainingItemCount"},
    "V1DeleteOptions": {"gracePeriodSeconds"},
    "V1PodSpec": {"activeDeadlineSeconds", "terminationGracePeriodSeconds"},
    "V1PodSecurityContext": {"runAsUser", "runAsGroup", "fsGroup", "supplementalGroups"},
    "V1SecurityContext": {"runAsUser", "runAsGroup"},
    "V1Probe": {"terminationGracePeriodSeconds"},
    "V1SleepAction": {"seconds"},
    "V1Toleration": {"tolerationSeconds"},
    "V1JobSpec": {"activeDeadlineSeconds"},
    "V1CronJobSpec": {"startingDeadlineSeconds"},
    "V1ControllerRevision": {"revision"},
    "V1ContainerImage": {"sizeBytes"},
    "V1ServiceAccountTokenProjection": {"expirationSeconds"},
    "V1LinuxContainerUser": {"uid", "gid", "supplementalGroups"},
    "V1NodeSwapStatus": {"capacity"},
    "V1JSONSchemaProps": {"maxItems", "maxLength", "maxProperties", "minItems", "minLength", "minProperties"},
}

# Fields holding resource.Quantity values (or maps of them); the client types them as plain strings.
_QUANTITY = {
    "V1ResourceRequirements": {"limits", "requests"},
    "V1VolumeResourceRequirements": {"limits", "requests"},
    "V1EmptyDirVolumeSource": {"sizeLimit"},
    "V1ResourceFieldSelector": {"divisor"},
    "V1ResourceQuotaSpec": {"hard"},
    "V1ResourceQuotaStatus": {"hard", "used"},
    "V1LimitRangeItem": {"default", "defaultRequest", "max", "min", "maxLimitRequestRatio"},
    "V1NodeStatus": {"allocatable", "capacity"},
    "V1PersistentVolumeClaimStatus": {"allocatedResources", "capacity"},
    "V1PodSpec": {"overhead"},
    "V1ContainerStatus": {"allocatedResources"},
    "V1PodStatus": {"allocatedResources"},
    "V1NodeAllocatableMappedResources": {"quantity"},
    "V1NodeAllocatableOverheadResources": {"perContainer", "perPod"},
}

# `object` fields that hold arbitrary JSON (no type at all), as apiextensions' JSON/JSONSchemaPropsOr*.
_ANY_JSON_CLASSES = {"V1JSONSchemaProps"}

_STANDARD_DESCRIPTIONS = {
    "kind_metadata": "Standard object's metadata. More info: "
                     "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
    "list_metadata": "Standard list metadata. More info: "
                     "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
}

_HAND_WRITTEN: dict[str, dict] = {
    INT_OR_STRING: {
        "description": "IntOrString is a type that can hold an int32 or a string.  When used in JSON or YAML "
                       "marshalling and unmarshalling, it produces or consumes the inner type.  This allows you to "
                       "have, for example, a JSON field that can accept a name or number.",
        "type": "string",
        "format": "int-or-string",
    },
    QUANTITY: {
        "description": "Quantity is a fixed-point representation of a number. It provides convenient "
                       "marshaling/unmarshaling in JSON and YAML, in addition to String() and AsInt64() accessors."
                       "\n\nThe serialization format is:\n\n``` <quantity>        ::= <signedNumber><suffix>\n\n"
                       "\t(Note that <suffix> may be empty, from the \"\" case in <decimalSI>.)\n\n"
                       "<digit>           ::= 0 | 1 | ... | 9 <digits>          ::= <digit> | <digit><digits> "
                       "<number>          ::= <digits> | <digits>.<digits> | <digits>. | .<digits> "
                       "<sign>            ::= \"+\" | \"-\" <signedNumber>    ::= <number> | <sign><number> "
                       "<suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI> "
                       "<binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei\n\n"
                       "\t(International System of units; See: http://physics.nist.gov/cuu/Units/binary.html)\n\n"
                       "<decimalSI>       ::= m | \"\" | k | M | G | T | P | E\n\n"
                       "\t(Note that 1024 = 1Ki but 1000 = 1k; I didn't choose the capitalization.)\n\n"
                       "<decimalExponent> ::= \"e\" <signedNumber> | \"E\" <signedNumber> ```\n\n"
                       "No matter which of the three exponent forms is used, no quantity may represent a number "
                       "greater than 2^63-1 in magnitude, nor may it have more than 3 decimal places. Numbers larger "
                       "or more precise will be capped or rounded up. (E.g.: 0.1m will rounded up to 1m.) This may "
                       "be extended in the future if we require larger or smaller quantities.",
        "type": "string",
    },
    PATCH: {
        "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.",
        "type": "object",
    },
    f"{META}.Table": {
        "description": "Table is a tabular representation of a set of API resources. The server transforms the "
                       "object into a set of preferred columns for quickly reviewing the objects.",
        "type": "object",
        "required": ["columnDefinitions", "rows"],
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this "
                           "representation of an object."},
            "kind": {"type": "string", "description": "Kind is a string value representing the REST resource "
                     "this object represents."},
            "metadata": {"allOf": [{"$ref": f"{REF}{META}.ListMeta"}],
                         "description": _STANDARD_DESCRIPTIONS["list_metadata"]},
            "columnDefinitions": {"type": "array", "items": {"$ref": f"{REF}{META}.TableColumnDefinition"},
                                  "description": "columnDefinitions describes each column in the returned items "
                                  "array. The number of cells per row will always match the number of column "
                                  "definitions."},
            "rows": {"type": "array", "items": {"$ref": f"{REF}{META}.TableRow"},
                     "description": "rows is the list of items in the table."},
        },
        "x-kubernetes-group-version-kind": [{"group": "meta.k8s.io", "kind": "Table", "version": "v1"}],
    },
    f"{META}.TableColumnDefinition": {
        "description": "TableColumnDefinition contains information about a column returned in the Table.",
        "type": "object",
        "required": ["name", "type", "format", "description", "priority"],
        "properties": {
            "name": {"type": "string", "description": "name is a human readable name for the column."},
            "type": {"type": "string", "description": "type is an OpenAPI type definition for this column, such "
                     "as number, integer, string, or array."},
            "format": {"type": "string", "description": "format is an optional OpenAPI type modifier for this "
                       "column. A format modifies the type and imposes additional rules, like date or time "
                       "formatting for a string. The 'name' format is applied to the primary identifier column "
                       "which has type 'string' to assist in clients identifying column is the resource name."},
            "description": {"type": "string", "description": "description is a human readable description of "
                            "this column."},
            "priority": {"type": "integer", "format": "int32", "description": "priority is an integer defining "
                         "the relative importance of this column compared to others. Lower numbers are considered "
                         "higher priority. Columns that may be omitted in limited space scenarios should be given "
                         "a higher priority."},
        },
    },
    f"{META}.TableRow": {
        "description": "TableRow is an individual row in a table.",
        "type": "object",
        "required": ["cells"],
        "properties": {
            "cells": {"type": "array", "items": {}, "description": "cells will be as wide as the column "
                      "definitions array and may contain strings, numbers (float64 or int64), booleans, simple "
                      "maps, lists, or null."},
            "conditions": {"type": "array", "items": {"$ref": f"{REF}{META}.TableRowCondition"},
                           "description": "conditions describe additional status of a row that are relevant for "
                           "a human user."},
            "object": {"type": "object", "description": "This field contains the requested additional "
                       "information about each object based on the includeObject policy when requesting the "
                       "Table."},
        },
    },
    f"{META}.TableRowCondition": {
        "description": "TableRowCondition allows a row to be marked with additional information.",
        "type": "object",
        "required": ["type", "status"],
        "properties": {
            "type": {"type": "string", "description": "Type of row condition. The only defined value is "
                     "'Completed' indicating that the object this row represents has reached a completed state."},
            "status": {"type": "string", "description": "Status of the condition, one of True, False, Unknown."},
            "reason": {"type": "string", "description": "(brief) machine readable reason for the condition's "
                       "last transition."},
            "message": {"type": "string", "description": "Human readable message indicating details about last "
                        "transition."},
        },
    },
}


def go_package(group: str, version: str) -> str:
    """The Go package prefix Kubernetes uses in definition names for a group/version."""
    if group == "apiextensions.k8s.io":
        return f"io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{version}"
    if group in ("meta.k8s.io",):
        return META
    short = group.split(".")[0] if group else "core"
    return f"io.k8s.api.{short}.{version}"


def _models():
    import kubernetes.client.models as models  # test dependency; only the generator needs it
    return models


def _class_for_kind(models, group: str, version: str, kind: str):
    prefix = next((p for p, g in _PREFIX_GROUPS.items() if g == group), None)
    candidates = [f"{version.capitalize()}{kind}"]
    if prefix:
        candidates.insert(0, f"{prefix}{version.capitalize()}{kind}")
    for name in candidates:
        cls = getattr(models, name, None)
        if cls is not None:
            return cls
    raise SystemExit(f"no client model for {group or 'core'}/{version} {kind} (tried {candidates})")


def _type_names(type_str: str) -> list[str]:
    """Model class names referenced by an `openapi_types` entry such as `List[V1Container]`."""
    return [t for t in re.findall(r"[A-Za-z0-9_]+", type_str)
            if t not in ("List", "Dict", "list", "dict", "str", "int", "bool", "float", "object", "datetime", "date",
                         "bytes")]


def _class_doc(cls) -> str:
    doc = inspect.getdoc(cls) or ""
    return doc.split("Attributes:")[0].split("NOTE: This class is auto generated")[0].strip()


def _field_meta(cls) -> dict[str, tuple[str, bool, object]]:
    """json name -> (description, required, annotation) for both client generations.

    The pydantic client (>= v33) keeps descriptions and requiredness on `model_fields`; the legacy client
    keeps descriptions in property docstrings and rejects None in setters of required fields.
    """
    out: dict[str, tuple[str, bool, object]] = {}
    fields = getattr(cls, "model_fields", None)
    if fields is not None:
        for name, info in fields.items():
            json_name = info.serialization_alias or name
            out[json_name] = (info.description or "", info.is_required(), info.annotation)
        return out
    for attr, json_name in cls.attribute_map.items():
        prop = getattr(cls, attr, None)
        doc = inspect.getdoc(prop) or ""
        paragraphs = [p.replace("# noqa: E501", "").strip() for p in doc.split("\n\n")]
        described = len(paragraphs) > 1 and not paragraphs[1].startswith(":return:")
        required = False
        try:
            obj = cls.__new__(cls)
            obj.local_vars_configuration = type("C", (), {"client_side_validation": True})()
            setattr(obj, attr, None)
        except ValueError:
            required = True
        except Exception:  # noqa: BLE001 - legacy setters vary; treat as optional
            required = False
        out[json_name] = (" ".join(paragraphs[1].split()) if described else "", required, None)
    return out


def _is_int_or_string(annotation) -> bool:
    args = set()
    stack = [annotation]
    while stack:
        a = stack.pop()
        if a in (int, str):
            args.add(a)
        stack.extend(typing.get_args(a))
    return args == {int, str}


class Generator:
    """Walks the client's model graph from the served kinds and emits named schema definitions."""

    def __init__(self, models):
        self.models = models
        self.package_of: dict[str, str] = {}  # class name -> Go package prefix
        self.gvks: dict[str, list[dict]] = {}  # class name -> x-kubernetes-group-version-kind
        self.list_classes: set[str] = set()
        self.definitions: dict[str, dict] = {}

    # -- package assignment ---------------------------------------------------------------------------
    def _closure(self, roots: list[str]) -> list[str]:
        seen: list[str] = []
        queue = deque(roots)
        visited = set()
        while queue:
            name = queue.popleft()
            if name in visited:
                continue
            visited.add(name)
            seen.append(name)
            cls = getattr(self.models, name)
            for type_str in cls.openapi_types.values():
                queue.extend(_type_names(type_str))
        return seen

    def assign_packages(self, roots_by_group: dict[tuple[str, str], list[str]]) -> None:
        for (group, version), roots in roots_by_group.items():
            for name in self._closure(roots):
                self.package_of.setdefault(name, go_package(group, version))
        for name in list(self.package_of):
            if name in _META_CLASSES:
                self.package_of[name] = META
                continue
            m = re.match(r"^([A-Z][a-z]+)(V\d+(?:alpha\d+|beta\d+)?)[A-Z]", name)
            if m and m.group(1) in _PREFIX_GROUPS:
                self.package_of[name] = go_package(_PREFIX_GROUPS[m.group(1)], m.group(2).lower())

    def definition_name(self, class_name: str) -> str:
        short = re.sub(r"^(?:[A-Z][a-z]+)?V\d+(?:alpha\d+|beta\d+)?", "", class_name)
        return f"{self.package_of[class_name]}.{short}"

    # -- schemas --------------------------------------------------------------------------------------
    def _ref(self, class_name: str) -> dict:
        return {"$ref": REF + self.definition_name(class_name)}

    def _scalar(self, type_str: str, *, int64: bool) -> dict:
        if type_str == "str":
            return {"type": "string"}
        if type_str == "int":
            return {"type": "integer", "format": "int64" if int64 else "int32"}
        if type_str == "bool":
            return {"type": "boolean"}
        if type_str == "float":
            return {"type": "number", "format": "double"}
        if type_str == "datetime":
            return {"type": "string", "format": "date-time"}
        if type_str == "date":
            return {"type": "string", "format": "date"}
        if type_str == "bytes":
            return {"type": "string", "format": "byte"}
        raise SystemExit(f"unexpected scalar type {type_str!r}")

    def _value_schema(self, type_str: str, *, cls_name: str, json_name: str, annotation) -> dict:
        int64 = json_name in _INT64_ANYWHERE or json_name in _INT64.get(cls_name, ())
        quantity = json_name in _QUANTITY.get(cls_name, ())
        m = re.fullmatch(r"[Ll]ist\[(.+)\]", type_str)  # `List[X]` (pydantic client) or `list[X]` (legacy)
        if m:
            return {"type": "array", "items": self._value_schema(m.group(1), cls_name=cls_name,
                                                                   json_name=json_name, annotation=None)}
        m = re.fullmatch(r"Dict\[str, (.+)\]|dict\(str, (.+)\)", type_str)
        if m:
            return {"type": "object", "additionalProperties": self._value_schema(
                m.group(1) or m.group(2), cls_name=cls_name, json_name=json_name, annotation=None)}
        if quantity and type_str == "str":
            return {"$ref": REF + QUANTITY}
        if type_str == "object":
            if annotation is not None and _is_int_or_string(annotation):
                return {"$ref": REF + INT_OR_STRING}
            if cls_name in _ANY_JSON_CLASSES:
                return {}
            return {"type": "object"}
        if hasattr(self.models, type_str):
            return self._ref(type_str)
        return self._scalar(type_str, int64=int64)

    def build(self, class_name: str) -> dict:
        cls = getattr(self.models, class_name)
        meta = _field_meta(cls)
        properties: dict[str, dict] = {}
        required: list[str] = []
        for attr, type_str in cls.openapi_types.items():
            json_name = cls.attribute_map[attr]
            description, is_required, annotation = meta.get(json_name, ("", False, None))
            if not description and json_name == "metadata" and class_name in self.gvks:
                key = "list_metadata" if class_name in self.list_classes else "kind_metadata"
                description = _STANDARD_DESCRIPTIONS[key]
            schema = self._value_schema(type_str, cls_name=class_name, json_name=json_name,
                                        annotation=annotation)
            if "$ref" in schema and description:
                # OpenAPI v3 ignores siblings of $ref; Kubernetes wraps refs in allOf to keep the description.
                schema = {"allOf": [schema]}
            if description:
                schema["description"] = description
            properties[json_name] = schema
            if is_required:
                required.append(json_name)
        out: dict = {"type": "object", "properties": properties}
        doc = _class_doc(cls)
        if doc:
            out["description"] = doc
        if required:
            out["required"] = sorted(required)
        if class_name in self.gvks:
            out["x-kubernetes-group-version-kind"] = self.gvks[class_name]
        return out

    def run(self) -> dict:
        models = self.models
        roots_by_group: dict[tuple[str, str], list[str]] = {("", "v1"): list(_CORE_SEEDS)}
        served = [(r.group, r.version, r.kind) for r in BUILTIN_RESOURCES]
        for group, version, kind in [*served, *_EXTRA_KINDS]:
            roots = roots_by_group.setdefault((group, version), [])
            for k in (kind, kind + "List") if (group, version, kind) in served else (kind,):
                cls = _class_for_kind(models, group, version, k)
                roots.append(cls.__name__)
                self.gvks[cls.__name__] = [{"group": group, "kind": k, "version": version}]
                if k.endswith("List") and k != kind:
                    self.list_classes.add(cls.__name__)
        for kind in _META_KINDS:
            cls = _class_for_kind(models, "", "v1", kind)
            roots_by_group[("", "v1")].append(cls.__name__)
            self.gvks[cls.__name__] = [{"group": "", "kind": kind, "version": "v1"}]
        # core first, so PodTemplateSpec & co. land in core/v1 even though apps/batch reach them too
        ordered = dict(sorted(roots_by_group.items(), key=lambda kv: (kv[0][0] != "", kv[0])))
        self.assign_packages(ordered)
        reachable = self._closure([n for roots in ordered.values() for n in roots
                                  if n not in _CORE_SEEDS or n in self.gvks])
        for class_name in reachable:
            self.definitions[self.definition_name(class_name)] = self.build(class_name)
        self.definitions.update(_HAND_WRITTEN)
        return self.definitions


def _check_curated(models) -> None:
    """Fail loudly when the client renames a field the curated tables mention (they would silently rot)."""
    for table in (_INT64, _QUANTITY):
        for class_name, fields in table.items():
            cls = getattr(models, class_name, None)
            if cls is None:
                continue  # not in this client release; nothing to fix up
            missing = set(fields) - set(cls.attribute_map.values())
            if missing:
                raise SystemExit(f"{class_name} has no field(s) {sorted(missing)}; update the generator tables")


def _check(definitions: dict) -> None:
    """Every $ref must resolve; kinds must carry their GVK."""
    text = json.dumps(definitions)
    for ref in set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', text)):
        if ref not in definitions:
            raise SystemExit(f"dangling reference {ref}")
    for r in BUILTIN_RESOURCES:
        want = {"group": r.group, "kind": r.kind, "version": r.version}
        if not any(want in d.get("x-kubernetes-group-version-kind", []) for d in definitions.values()):
            raise SystemExit(f"no definition for {r.api_version} {r.kind}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    models = _models()
    _check_curated(models)
    definitions = Generator(models).run()
    _check(definitions)
    import kubernetes  # the client release the schemas came from, recorded for provenance

    source = {"generator": "scripts/gen_openapi.py", "kubernetes-python-client": kubernetes.__version__}
    payload = json.dumps({"definitions": definitions, "source": source}, sort_keys=True, separators=(",", ":"),
                         ensure_ascii=False).encode()
    data = gzip.compress(payload, compresslevel=9, mtime=0)
    args.output.write_bytes(data)
    print(f"wrote {args.output} ({len(definitions)} definitions, {len(payload)} bytes json, "
          f"{len(data)} bytes gzipped)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

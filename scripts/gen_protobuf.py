"""Generate `minik/apiserver/protobuf_data.json.gz`: the field tables the protobuf body decoder needs.

Role in the flow: a build-time step *below* the API server. client-go ≥ 1.32 typed clients (kubectl
1.32+ `create configmap|secret|deployment|...`, `drain`, ...) send request bodies as Kubernetes
protobuf; `minik.apiserver.protobuf` turns them into the dict the same object would be as JSON. To do
that it needs, per Go struct, what the gogo-generated code and encoding/json know: field number →
(json name, pointer or not, omitempty, inline, Go type). All of it is in the Go struct definitions and
their `json:"..."` / `protobuf:"..."` tags, so this script parses the Go sources:

    /tmp/venv/bin/python scripts/gen_protobuf.py /tmp/k8s-src

The argument is a directory holding the files below at their repository paths. They were fetched from
the public kubernetes/kubernetes repository with a code-search tool (`read_file`, 16,000-character
pages) and saved without their doc comments, consts and funcs (the parser skips those anyway, so the
original files work unchanged). Which commit each file comes from (the search index stores one
version per commit that touched a file, not release tags; `kubectl.1.33` reports gitCommit
8adc0f041b8e, which the index does not hold):

    staging/src/k8s.io/api/core/v1/types.go              0226316d6a24ddc42701b5f874eda5b729648ca7
        (newest stored version, past v1.35: Lifecycle.stopSignal, PodSpec.resources, PodStatus
        observedGeneration/allocatedResources, NodeStatus.declaredFeatures, ...; first transcribed
        from 815c3d8f, then every field/type added up to 0226316d inserted at its source position)
    staging/src/k8s.io/api/batch/v1/types.go             815c3d8f70473678341a03abc0a6fb7bab000d3c
    staging/src/k8s.io/api/apps/v1/types.go              0122c43a017029d0572474da5a6382e1463f9710
        (v1.33: has DeploymentSpec.podReplacementPolicy)
    staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/types.go  007b1173faf533318108a04b3fdc227173aa4cb1
    staging/src/k8s.io/api/coordination/v1/types.go      9d38f210ca15c5df4abae15d76261ebbe184606f
        (+ LeaseSpec fields 6/7 from coordination/v1beta1 of v1.33, which mirrors v1)
    staging/src/k8s.io/api/discovery/v1/types.go         054d429d9f8bc8de4fc82e6cf2281e12a13fe1f2
    staging/src/k8s.io/api/events/v1/types.go            111ee70e6858c152190d0f964e49d4b5edbcd3b8
    staging/src/k8s.io/api/policy/v1/types.go            083e3f3e0db4c37bf3fb4e6715a9d8d035cab428
    staging/src/k8s.io/api/autoscaling/v1/types.go       0226316d6a24ddc42701b5f874eda5b729648ca7
    staging/src/k8s.io/api/authentication/v1/types.go    008b3652959ca58af8be3fb5b6ecfe9ae7638282
        (TokenRequest only)
    staging/src/k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1/types.go
                                                         61c7fad92cb749def0714b9ede24f86b16c6918e
    staging/src/k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1/types_jsonschema.go
                                                         0dbde3ef622b4111ca10a43a8774e60097ad958c

Field numbers never change in Kubernetes, so an older file only lacks newer fields; the decoder skips
unknown field numbers, as gogo does. The Go sources are not committed; the generated data is.

Rules taken from the sources and from Go itself:
  * The wire type comes from the Go type, not from the tag: tags are sometimes wrong
    (`DefaultMode *int32 protobuf:"bytes,3,..."`, `Maximum *float64 protobuf:"bytes,9,..."`); the
    gogo-generated marshallers follow the Go type.
  * Fields without a protobuf tag (`metav1.TypeMeta`) are not on the wire. TypeMeta comes from the
    runtime.Unknown envelope.
  * Embedded structs with an empty json name (`json:",inline"`, `json:""`) are flattened, as
    encoding/json flattens anonymous struct fields; on the wire they are an ordinary nested message.
  * Types with their own wire and JSON form are not parsed: metav1.Time / MicroTime (Timestamp
    {seconds, nanos}; time_proto.go, micro_time_proto.go), resource.Quantity ({string}),
    intstr.IntOrString ({type, intVal, strVal}), runtime.RawExtension ({raw}); types.UID is a string.
    metav1.FieldsV1 and apiextensions JSON carry raw JSON; JSONSchemaPropsOrArray / OrBool /
    OrStringArray have MarshalJSON methods (apiextensions v1 marshal.go, commit 04791b4906602ffda).
    The decoder implements those by the `marshal` name recorded here.

Output: `{"kinds": {"<group>/<version>/<Kind>": message}, "messages": {name: {"fields": [...],
"marshal": ...}}}`, each field `[number, json name, flags, type]` with flags from "p" (pointer),
"o" (omitempty), "i" (inline), "x" (json:"-"), and type a scalar code ("s" string, "b" bool, "i32",
"i64", "u32", "u64", "f32", "f64", "y" []byte), "@<special>", "m:<message>", ["list", t] or
["map", key, value]. Deterministic: sorted keys, compact, no gzip timestamp.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "minik" / "apiserver" / "protobuf_data.json.gz"

META = "k8s.io/apimachinery/pkg/apis/meta/v1"
CRD = "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

SOURCE_FILES = (
    "staging/src/k8s.io/api/core/v1/types.go",
    "staging/src/k8s.io/api/apps/v1/types.go",
    "staging/src/k8s.io/api/batch/v1/types.go",
    "staging/src/k8s.io/api/coordination/v1/types.go",
    "staging/src/k8s.io/api/discovery/v1/types.go",
    "staging/src/k8s.io/api/events/v1/types.go",
    "staging/src/k8s.io/api/policy/v1/types.go",
    "staging/src/k8s.io/api/autoscaling/v1/types.go",
    "staging/src/k8s.io/api/authentication/v1/types.go",
    "staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/types.go",
    "staging/src/k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1/types.go",
    "staging/src/k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1/types_jsonschema.go",
)

# (group, version, kind) → (Go package, Go type). "*" as group/version: any (client-go registers
# DeleteOptions in every group-version, so the envelope names the group of the resource deleted).
KINDS = (
    ("", "v1", "Pod", "k8s.io/api/core/v1", "Pod"),
    ("", "v1", "Service", "k8s.io/api/core/v1", "Service"),
    ("", "v1", "Endpoints", "k8s.io/api/core/v1", "Endpoints"),
    ("", "v1", "ConfigMap", "k8s.io/api/core/v1", "ConfigMap"),
    ("", "v1", "Secret", "k8s.io/api/core/v1", "Secret"),
    ("", "v1", "ServiceAccount", "k8s.io/api/core/v1", "ServiceAccount"),
    ("", "v1", "Namespace", "k8s.io/api/core/v1", "Namespace"),
    ("", "v1", "Node", "k8s.io/api/core/v1", "Node"),
    ("", "v1", "Event", "k8s.io/api/core/v1", "Event"),
    ("", "v1", "ResourceQuota", "k8s.io/api/core/v1", "ResourceQuota"),
    ("", "v1", "LimitRange", "k8s.io/api/core/v1", "LimitRange"),
    ("", "v1", "PersistentVolumeClaim", "k8s.io/api/core/v1", "PersistentVolumeClaim"),
    ("", "v1", "Binding", "k8s.io/api/core/v1", "Binding"),
    ("apps", "v1", "Deployment", "k8s.io/api/apps/v1", "Deployment"),
    ("apps", "v1", "ReplicaSet", "k8s.io/api/apps/v1", "ReplicaSet"),
    ("apps", "v1", "DaemonSet", "k8s.io/api/apps/v1", "DaemonSet"),
    ("apps", "v1", "StatefulSet", "k8s.io/api/apps/v1", "StatefulSet"),
    ("apps", "v1", "ControllerRevision", "k8s.io/api/apps/v1", "ControllerRevision"),
    ("batch", "v1", "Job", "k8s.io/api/batch/v1", "Job"),
    ("batch", "v1", "CronJob", "k8s.io/api/batch/v1", "CronJob"),
    ("coordination.k8s.io", "v1", "Lease", "k8s.io/api/coordination/v1", "Lease"),
    ("discovery.k8s.io", "v1", "EndpointSlice", "k8s.io/api/discovery/v1", "EndpointSlice"),
    ("events.k8s.io", "v1", "Event", "k8s.io/api/events/v1", "Event"),
    ("autoscaling", "v1", "Scale", "k8s.io/api/autoscaling/v1", "Scale"),
    ("policy", "v1", "Eviction", "k8s.io/api/policy/v1", "Eviction"),
    # `kubectl create token` (serviceaccounts/token subresource body)
    ("authentication.k8s.io", "v1", "TokenRequest", "k8s.io/api/authentication/v1", "TokenRequest"),
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition", CRD, "CustomResourceDefinition"),
    ("*", "*", "DeleteOptions", META, "DeleteOptions"),
)

# Types whose wire and JSON forms are hand-written in apimachinery (see the module docstring).
SPECIAL_TYPES = {
    (META, "Time"): "@Time",
    (META, "MicroTime"): "@MicroTime",
    ("k8s.io/apimachinery/pkg/api/resource", "Quantity"): "@Quantity",
    ("k8s.io/apimachinery/pkg/util/intstr", "IntOrString"): "@IntOrString",
    ("k8s.io/apimachinery/pkg/runtime", "RawExtension"): "@RawExtension",
}
# Named scalar types of packages not parsed here.
EXTERNAL_SCALARS = {("k8s.io/apimachinery/pkg/types", "UID"): "s"}
# Structs parsed here whose JSON form comes from a MarshalJSON method.
CUSTOM_MARSHAL = {
    (META, "FieldsV1"): "raw",  # helper.go: Raw, or null
    (CRD, "JSON"): "raw",  # marshal.go: Raw if non-empty, else null
    (CRD, "JSONSchemaPropsOrArray"): "or_array",
    (CRD, "JSONSchemaPropsOrBool"): "or_bool",
    (CRD, "JSONSchemaPropsOrStringArray"): "or_string_array",
}
BUILTIN_SCALARS = {
    "string": "s", "bool": "b", "int32": "i32", "int64": "i64", "int": "i64", "uint32": "u32",
    "uint64": "u64", "uint": "u64", "float64": "f64", "float32": "f32",
}
# Short message names: "k8s.io/api/core/v1" → "core/v1".
_PACKAGE_PREFIXES = ("k8s.io/api/", "k8s.io/apimachinery/pkg/apis/", "k8s.io/apiextensions-apiserver/pkg/apis/")


class GenError(Exception):
    pass


# --------------------------------------------------------------------------------------------------
# Go source parsing (just enough for type declarations)
# --------------------------------------------------------------------------------------------------


@dataclass
class GoField:
    name: str  # Go field name; "" for an embedded field
    type: str  # Go type expression, e.g. "*metav1.Time", "map[string][]byte"
    tag: str  # the raw tag text between backquotes


@dataclass
class GoPackage:
    path: str
    imports: dict[str, str] = field(default_factory=dict)  # alias → import path
    structs: dict[str, list[GoField]] = field(default_factory=dict)
    named: dict[str, str] = field(default_factory=dict)  # type Name <expr>


def strip_comments(text: str) -> str:
    """Go source without comments; string, rune and raw-string literals are kept intact."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                raise GenError("unterminated block comment")
            i = j + 2
        elif c in "`\"'":
            j = i + 1
            while j < n and text[j] != c:
                if c != "`" and text[j] == "\\":
                    j += 1
                j += 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


_IMPORT_LINE = re.compile(r'^\s*(?:([A-Za-z_]\w*|\.)\s+)?"([^"]+)"\s*$')
_FIELD_LINE = re.compile(r"^\s*(?:([A-Za-z_]\w*)\s+)?([^\s`]+)\s*(`[^`]*`)?\s*$")


def package_path(relative: str) -> str:
    parts = Path(relative).parts
    if "src" not in parts:
        raise GenError(f"{relative}: expected a path under staging/src/")
    return "/".join(parts[parts.index("src") + 1:-1])


def parse_go_file(text: str, pkg: GoPackage) -> None:
    lines = strip_comments(text).splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("import"):
            i = _parse_imports(lines, i, pkg)
        elif line.startswith("type "):
            i = _parse_type(lines, i, pkg)
        else:
            i += 1


def _parse_imports(lines: list[str], i: int, pkg: GoPackage) -> int:
    rest = lines[i][len("import"):].strip()
    block = []
    if rest.startswith("("):
        i += 1
        while lines[i].strip() != ")":
            block.append(lines[i])
            i += 1
    else:
        block.append(rest)
    for entry in block:
        if not entry.strip():
            continue
        m = _IMPORT_LINE.match(entry)
        if not m:
            raise GenError(f"cannot parse import {entry!r}")
        path = m.group(2)
        pkg.imports[m.group(1) or path.rsplit("/", 1)[-1]] = path
    return i + 1


def _parse_type(lines: list[str], i: int, pkg: GoPackage) -> int:
    m = re.match(r"^type\s+(\w+)\s*(=\s*)?(.*)$", lines[i])
    if not m:
        raise GenError(f"cannot parse type declaration {lines[i]!r}")
    name, rest = m.group(1), m.group(3).strip()
    if rest == "struct{}" or rest == "struct {}":
        pkg.structs[name] = []
        return i + 1
    if rest.startswith("struct"):
        fields, i = [], i + 1
        while lines[i].strip() != "}":
            text = lines[i].strip()
            if text:
                fields.append(_parse_field(text))
            i += 1
        pkg.structs[name] = fields
        return i + 1
    pkg.named[name] = rest
    return i + 1


def _parse_field(text: str) -> GoField:
    m = _FIELD_LINE.match(text)
    if not m:
        raise GenError(f"cannot parse struct field {text!r}")
    name, typ, tag = m.group(1), m.group(2), (m.group(3) or "``")[1:-1]
    if "," in (name or ""):
        raise GenError(f"multi-name fields are not supported: {text!r}")
    return GoField(name or "", typ, tag)


def tag_value(tag: str, key: str) -> str | None:
    m = re.search(rf'(?:^|\s){key}:"([^"]*)"', tag)
    return m.group(1) if m else None


# --------------------------------------------------------------------------------------------------
# Resolution into field tables
# --------------------------------------------------------------------------------------------------


class Resolver:
    def __init__(self, packages: dict[str, GoPackage]):
        self.packages = packages
        self.messages: dict[str, dict] = {}
        self._queue: deque[tuple[str, str]] = deque()

    @staticmethod
    def message_name(pkg: str, name: str) -> str:
        for prefix in _PACKAGE_PREFIXES:
            if pkg.startswith(prefix):
                return f"{pkg[len(prefix):]}.{name}"
        raise GenError(f"no short name for package {pkg}")

    def require(self, pkg: str, name: str) -> str:
        """The message name of a struct, queued for its own table."""
        if pkg not in self.packages or name not in self.packages[pkg].structs:
            raise GenError(f"struct {pkg}.{name} is not in the sources")
        msg = self.message_name(pkg, name)
        if msg not in self.messages:
            self.messages[msg] = {}  # placeholder until processed
            self._queue.append((pkg, name))
        return msg

    def run(self) -> None:
        while self._queue:
            pkg, name = self._queue.popleft()
            msg = self.message_name(pkg, name)
            table: dict = {"fields": [self._field(pkg, name, f) for f in self.packages[pkg].structs[name]
                                      if self._on_wire(pkg, name, f)]}
            numbers = [f[0] for f in table["fields"]]
            if len(numbers) != len(set(numbers)):
                raise GenError(f"{msg}: duplicate field numbers {numbers}")
            marshal = CUSTOM_MARSHAL.get((pkg, name))
            if marshal:
                table["marshal"] = marshal
            self.messages[msg] = table

    def _on_wire(self, pkg: str, struct: str, f: GoField) -> bool:
        proto = tag_value(f.tag, "protobuf")
        if proto is not None and proto != "-":
            return True
        target = self._split(pkg, f.type.lstrip("*"))
        if f.name == "" and target == (META, "TypeMeta"):
            return False  # TypeMeta travels in the runtime.Unknown envelope
        raise GenError(f"{pkg}.{struct}: field {f.name or f.type} has no protobuf tag")

    def _field(self, pkg: str, struct: str, f: GoField) -> list:
        proto = tag_value(f.tag, "protobuf")
        number = next((int(p) for p in proto.split(",") if p.isdigit()), None)
        if number is None:
            raise GenError(f"{pkg}.{struct}.{f.name}: no field number in {proto!r}")
        json_tag = tag_value(f.tag, "json")
        json_name, _, options = (json_tag or "").partition(",")
        flags = ""
        typ = f.type
        if typ.startswith("*"):
            flags += "p"
            typ = typ[1:]
        if "omitempty" in options.split(","):
            flags += "o"
        if json_tag == "-":
            flags += "x"
        if f.name == "" and not json_name:
            flags += "i"  # anonymous struct field: encoding/json flattens it
        elif not json_name:
            json_name = f.name or typ.rsplit(".", 1)[-1]
        return [number, json_name, flags, self.resolve(pkg, typ)]

    def _split(self, pkg: str, expr: str) -> tuple[str, str]:
        if "." in expr:
            alias, name = expr.split(".", 1)
            imports = self.packages[pkg].imports
            if alias not in imports:
                raise GenError(f"{pkg}: unknown import alias {alias!r} in {expr!r}")
            return imports[alias], name
        return pkg, expr

    def resolve(self, pkg: str, expr: str):
        """The type descriptor of a Go type expression (without a leading '*')."""
        if expr == "[]byte":
            return "y"
        if expr.startswith("[]"):
            return ["list", self.resolve(pkg, expr[2:])]
        if expr.startswith("map["):
            depth, i = 0, 3
            for i in range(3, len(expr)):
                depth += {"[": 1, "]": -1}.get(expr[i], 0)
                if depth == 0:
                    break
            return ["map", self.resolve(pkg, expr[4:i]), self.resolve(pkg, expr[i + 1:])]
        if expr.startswith("*"):
            raise GenError(f"pointer inside a composite type is not supported: {expr}")
        if expr in BUILTIN_SCALARS:
            return BUILTIN_SCALARS[expr]
        target_pkg, name = self._split(pkg, expr)
        if (target_pkg, name) in SPECIAL_TYPES:
            return SPECIAL_TYPES[(target_pkg, name)]
        if (target_pkg, name) in EXTERNAL_SCALARS:
            return EXTERNAL_SCALARS[(target_pkg, name)]
        declared = self.packages.get(target_pkg)
        if declared is None:
            raise GenError(f"package {target_pkg} (for {expr}) is not in the sources")
        if name in declared.structs:
            return "m:" + self.require(target_pkg, name)
        if name in declared.named:
            return self.resolve(target_pkg, declared.named[name])
        raise GenError(f"type {target_pkg}.{name} is not declared in the sources")


def load_packages(source_dir: Path) -> dict[str, GoPackage]:
    packages: dict[str, GoPackage] = {}
    for relative in SOURCE_FILES:
        path = source_dir / relative
        if not path.is_file():
            raise GenError(f"missing source file {path}")
        pkg_path = package_path(relative)
        pkg = packages.setdefault(pkg_path, GoPackage(pkg_path))
        imports_before = dict(pkg.imports)
        pkg.imports = {}
        parse_go_file(path.read_text(encoding="utf-8"), pkg)
        # Imports are per file; types of the package see the union (aliases agree in practice).
        pkg.imports = {**imports_before, **pkg.imports}
    return packages


def build(source_dir: Path) -> dict:
    resolver = Resolver(load_packages(source_dir))
    kinds = {}
    for group, version, kind, pkg, name in KINDS:
        kinds[f"{group}/{version}/{kind}"] = resolver.require(pkg, name)
    resolver.run()
    return {"kinds": kinds, "messages": resolver.messages}


def write(data: dict, output: Path) -> int:
    raw = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    blob = gzip.compress(raw, compresslevel=9, mtime=0)
    output.write_bytes(blob)
    return len(blob)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("source_dir", type=Path, help="directory holding staging/src/k8s.io/... files")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    try:
        data = build(args.source_dir)
    except GenError as exc:
        print(f"gen_protobuf: {exc}", file=sys.stderr)
        return 1
    size = write(data, args.output)
    print(f"wrote {args.output} ({len(data['messages'])} messages, {len(data['kinds'])} kinds, {size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Read infra/*.tf (python-hcl2) into something the checks can ask questions of.

Terraform itself is not run here: the checks read the data the configuration is driven by (the
``locals`` maps) and the few expressions that turn that data into resources, which they pin by
their text so the Python mirror below cannot drift from the HCL unnoticed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
from hcl2 import SerializationOptions

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"

_OPTIONS = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
_VAR = re.compile(r"^\$\{(?:tostring\()?var\.([a-z0-9_]+)\)?\}$")


def parse(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        data: dict[str, Any] = hcl2.load(handle, serialization_options=_OPTIONS)
    return data


@dataclass
class Infra:
    resources: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    data: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    # --- generic ------------------------------------------------------------------------------

    def resource(self, rtype: str, name: str) -> dict[str, Any]:
        try:
            return self.resources[rtype][name]
        except KeyError:
            raise AssertionError(f"infra/ declares no {rtype}.{name}") from None

    def of_type(self, rtype: str) -> dict[str, dict[str, Any]]:
        return self.resources.get(rtype, {})

    def var_default(self, name: str) -> Any:
        return self.variables[name].get("default")

    def value(self, raw: Any, tfvars: dict[str, Any] | None = None) -> Any:
        """A literal, or ``${var.x}`` / ``${tostring(var.x)}`` resolved to its default (or tfvars)."""
        if isinstance(raw, str):
            match = _VAR.match(raw)
            if match:
                name = match.group(1)
                if tfvars and name in tfvars:
                    return tfvars[name]
                if name not in self.variables:
                    raise AssertionError(f"infra/ uses var.{name} but declares no such variable")
                return self.var_default(name)
        return raw

    # --- the data the configuration is driven by ------------------------------------------------

    @property
    def functions(self) -> dict[str, dict[str, Any]]:
        functions: dict[str, dict[str, Any]] = self.locals["functions"]
        return functions

    def function_env_keys(self, name: str) -> dict[str, Any]:
        """The environment of one function, as local.function_env builds it (keys -> raw values)."""
        f = self.functions[name]
        env: dict[str, Any] = {}
        for group in f["env_groups"]:
            env.update(self.locals["env_groups"][group])
        env["THREADS"] = f"${{tostring({f['concurrency']})}}"
        if f["verifies_oidc"]:
            env["OIDC_AUDIENCE"] = f"${{local.function_urls[{name}]}}"
            env["OIDC_ALLOWED_EMAILS"] = "callers"
            env["OIDC_SIGNATURE_CHECKED_BY_PLATFORM"] = "true"
        for target in f["enqueues"]:
            env["FUNCTION_URL_" + target.upper().replace("-", "_")] = f"${{local.function_urls[{target}]}}"
        env.update(f["settings"])
        return env

    def secret_env_keys(self, name: str) -> set[str]:
        return {self.locals["secrets"][key]["env"] for key in self.functions[name]["secrets"]}


def _merge_blocks(blocks: list[dict[str, Any]], into: dict[str, Any]) -> None:
    for block in blocks:
        for key, value in block.items():
            if key in into:
                raise AssertionError(f"declared twice in infra/: {key}")
            into[key] = value


@cache
def load() -> Infra:
    infra = Infra()
    paths = sorted(INFRA.glob("*.tf"))
    assert paths, "infra/ has no .tf files"
    for path in paths:
        infra.files[path.name] = path.read_text()
        parsed = parse(path)
        for block in parsed.get("resource", []):
            for rtype, named in block.items():
                for name, body in named.items():
                    bucket = infra.resources.setdefault(rtype, {})
                    assert name not in bucket, f"{rtype}.{name} declared twice"
                    bucket[name] = body
        for block in parsed.get("data", []):
            for dtype, named in block.items():
                infra.data.setdefault(dtype, {}).update(named)
        _merge_blocks(parsed.get("locals", []), infra.locals)
        _merge_blocks(parsed.get("variable", []), infra.variables)
        _merge_blocks(parsed.get("output", []), infra.outputs)
    return infra


def load_tfvars(path: Path) -> dict[str, Any]:
    return parse(path)

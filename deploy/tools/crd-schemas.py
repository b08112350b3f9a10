"""Extract the OpenAPI schemas of operators' CRDs into tests/deploy/crds/, for the offline tests.

    python deploy/tools/crd-schemas.py CRD.yaml [CRD.yaml ...] [compose-spec.json]

Takes CRD files as the operators release them (see tests/deploy/crds/SOURCES.md for which) and
writes one compact JSON schema per served version, without descriptions (they do not validate
anything and are most of the bytes).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

OUT = Path(__file__).resolve().parents[2] / "tests" / "deploy" / "crds"


def without_descriptions(node: Any) -> Any:
    if isinstance(node, dict):
        # A string is documentation; a dict under that key is a property named "description".
        return {
            k: without_descriptions(v)
            for k, v in node.items()
            if not (k == "description" and isinstance(v, str))
        }
    if isinstance(node, list):
        return [without_descriptions(item) for item in node]
    return node


def main(paths: list[str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for path in paths:
        if path.endswith(".json"):  # the Compose Specification's schema, not a CRD
            schema = without_descriptions(json.loads(Path(path).read_text()))
            target = OUT / Path(path).name
            target.write_text(json.dumps(schema, separators=(",", ":"), sort_keys=True) + "\n")
            print(f"wrote {target.relative_to(OUT.parents[2])}")
            continue
        for doc in yaml.safe_load_all(Path(path).read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = doc["spec"]["group"], doc["spec"]["names"]["kind"]
            for version in doc["spec"]["versions"]:
                if not version.get("served"):
                    continue
                schema = without_descriptions(version["schema"]["openAPIV3Schema"])
                target = OUT / f"{group}_{version['name']}_{kind}.json"
                target.write_text(json.dumps(schema, separators=(",", ":"), sort_keys=True) + "\n")
                print(f"wrote {target.relative_to(OUT.parents[2])}")


if __name__ == "__main__":
    main(sys.argv[1:])

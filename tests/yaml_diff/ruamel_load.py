"""The reference's YAML loader on a batch of documents.

Reads one JSON string (a YAML document) per line on stdin and writes one JSON object
per line: {"ok": data} or {"error": message}, the data tagged as cairn's
`yaml-json` command writes it (src/project/yaml/json.rs; a timestamp by its kind). A document the loader accepts
although it has a duplicate key (ruamel skips the check in a mapping with a merge key)
also gets "duplicate_key": true.
"""

import datetime
import json
import sys

from ruamel.yaml import YAML
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

try:
    from ruamel.yaml.cyaml import CParser
except ImportError:  # pragma: no cover
    CParser = None

LOADER = YAML(typ="safe", pure=False)
if CParser is None or LOADER.Parser is not CParser:
    sys.exit(
        "ruamel.yaml is not using its C loader (libyaml): install ruamel.yaml.clib "
        "(.ci/install-deps does)"
    )


class Recursive(Exception):
    pass


def compact(v):
    """JSON text as serde_json writes it compactly."""
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def tagged(x, open_ids=(), key=False):
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, int):
        return {"int": str(x)}
    if isinstance(x, float):
        return {"float": repr(x)}
    if isinstance(x, datetime.datetime):
        return {"timestamp": "datetime"}
    if isinstance(x, datetime.date):
        return {"timestamp": "date"}
    if isinstance(x, bytes):
        return {"binary": x.hex()}
    if id(x) in open_ids:
        raise Recursive()
    inner = open_ids + (id(x),)
    if isinstance(x, dict):
        return {"map": [[tagged(k, inner, True), tagged(v, inner)] for k, v in x.items()]}
    if isinstance(x, list):
        return [tagged(v, inner) for v in x]
    if isinstance(x, tuple):
        # A list key becomes a tuple; elsewhere only `!!pairs` makes one.
        items = [tagged(v, inner) for v in x]
        return {"tuple": items} if key else items
    if isinstance(x, (set, frozenset)):
        return {"set": sorted(compact(tagged(v, inner)) for v in x)}
    return {"other": type(x).__name__}


def has_duplicate_key(doc):
    """Whether a mapping has two equal keys (merge keys aside), by Python equality."""
    constructor = YAML(typ="safe", pure=False).constructor
    root = YAML(typ="safe", pure=False).compose(doc)
    seen, todo = set(), [root]
    duplicate = False
    while todo:
        node = todo.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, SequenceNode):
            todo.extend(node.value)
        elif isinstance(node, MappingNode):
            keys = []
            for k, v in node.value:
                todo.extend([k, v])
                if isinstance(k, ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                    try:
                        key = constructor.construct_object(k, deep=True)
                    except Exception:
                        continue
                    if any(key == other for other in keys):
                        duplicate = True
                    keys.append(key)
    return duplicate


def main():
    out = sys.stdout
    for line in sys.stdin:
        doc = json.loads(line)
        try:
            data = LOADER.load(doc)
            result = {"ok": tagged(data)}
            if has_duplicate_key(doc):
                result["duplicate_key"] = True
        except Recursive:
            result = {"error": "recursive", "recursive": True}
        except Exception as e:  # every loader error is a rejection
            result = {"error": f"{type(e).__name__}: {e}"}
        out.write(json.dumps(result) + "\n")


main()

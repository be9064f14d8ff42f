"""Seeded YAML documents for the differential test: mutations of the conformance corpus.

    generate.py --seed S --cases N CORPUS_DIR  > documents.jsonl

Each output line is one document as a JSON string. The same seed and corpus always give
the same documents. Mutations work on the text, so they reach what a parser sees:
indentation, flow and block styles, continuation lines, quoting and folding, comments,
anchors and merge keys, odd whitespace, unicode, tabs, document markers, scalar forms.
"""

import argparse
import json
import pathlib
import random
import re

SCALARS = [
    "1_000", "0b101", "0x1F", "0x_1f", "0o17", "017", "-0", "+12", "1e3", "1E5", "1.5e+3",
    "6.8523015e+5", "685.230_15e+03", "1_0.5", "0.", ".5", "-.5", ".inf", "-.Inf", "+.INF",
    ".nan", ".NaN", "~", "null", "Null", "NULL", "true", "False", "TRUE", "yes", "No", "on",
    "OFF", "y", "n", "2020-01-01", "2020-1-1", "2001-12-14t21:59:43.10-05:00",
    "2001-12-14 21:59:43.10", "2002-12-14", "12:30", "1:20:30", "190:20:30", "1.2.3",
    "3.0", "3.10", "v2", "-", ".", "e3", "0x", "0o", "1e", "+", "'3.0'", '"3.0"',
    "'it''s'", '"\\x41\\u00e9\\t"', '"\\N\\_\\L"', "!!str 3", '!!int "7"', "! 5", '! "5"',
    "!!float 1", "!!bool yes", "!!null x", "!!str", "!!int 0x10", "!!binary aGVsbG8=",
    "!!set {a, b}", "!!omap [a: 1]", "!!pairs [a: 1, a: 2]", '!!binary "aGVsbA=="',
    "!!binary aGVsbG8", "!!set [a]", "!!omap {a: 1}", "!!timestamp 2020-01-01", "!foo bar", "!<tag:yaml.org,2002:str> 5",
    "<<", "'<<'", "a b c", "a: b", "a #b", "a#b", "@x", "`x`", "%x", "&a x", "*a", "| x",
    "> x", "[a, b]", "{a: 1}", "[]", "{}", "''", '""', "' '", "é", "😀", "\u00a0x",
    "x\u2028y", "\ufeffx", "-1_0", "0b", "._5", "1__0", "0x1F.5",
]

KEYS = [
    "run", "needs", "outputs", "x", "1", "1.0", "true", "null", "~", "''", "'a b'", '"k"',
    "? k", "<<", "a b", "é", "-x", "a:b", "[k]", "{k: 1}",
]


def lines_of(doc):
    return doc.split("\n")


def indent_of(line):
    return len(line) - len(line.lstrip(" "))


def content_lines(ls):
    return [i for i, l in enumerate(ls) if l.strip() and not l.lstrip().startswith("#")]


def m_reindent(r, doc):
    """Every indentation scaled by one factor (2 -> 1, 3, 4, 8)."""
    f = r.choice([0.5, 1.5, 2, 4])
    out = []
    for l in lines_of(doc):
        n = indent_of(l)
        out.append(" " * int(n * f) + l[n:])
    return "\n".join(out)


def m_shift_line(r, doc):
    """One line indented one or two more or fewer."""
    ls = lines_of(doc)
    idx = content_lines(ls)
    if not idx:
        return doc
    i = r.choice(idx)
    n = indent_of(ls[i])
    d = r.choice([-2, -1, 1, 2])
    ls[i] = " " * max(0, n + d) + ls[i][n:]
    return "\n".join(ls)


def m_flow_continuation(r, doc):
    """A flow sequence or mapping broken after a comma, continued at some indentation."""
    ls = lines_of(doc)
    idx = [i for i, l in enumerate(ls) if re.search(r"[\[{].*,", l)]
    if not idx:
        return m_to_flow(r, doc)
    i = r.choice(idx)
    l = ls[i]
    commas = [m.start() for m in re.finditer(",", l)]
    c = r.choice(commas)
    ind = r.choice([0, 1, 2, indent_of(l), indent_of(l) + 2, indent_of(l) + 4])
    rest = l[c + 1:].lstrip(" ") if r.random() < 0.8 else l[c + 1:]
    ls[i: i + 1] = [l[: c + 1], " " * ind + rest]
    return "\n".join(ls)


def m_flow_break_before_close(r, doc):
    """The closing bracket alone on the next line, at some indentation."""
    ls = lines_of(doc)
    idx = [i for i, l in enumerate(ls) if l.rstrip().endswith(("]", "}"))]
    if not idx:
        return doc
    i = r.choice(idx)
    l = ls[i].rstrip()
    ind = r.choice([0, 1, 2, indent_of(l)])
    ls[i: i + 1] = [l[:-1] + r.choice(["", ",", " "]), " " * ind + l[-1]]
    return "\n".join(ls)


def m_to_flow(r, doc):
    """A block sequence (`- a` lines under a key) turned into `[a, b]`, maybe split."""
    ls = lines_of(doc)
    for start in r.sample(range(len(ls)), len(ls)):
        l = ls[start]
        if not re.match(r"^\s*[^\s#-][^:]*:\s*$", l):
            continue
        items, j = [], start + 1
        while j < len(ls) and re.match(r"^\s*- [^:]+$", ls[j]):
            items.append(ls[j].strip()[2:].strip())
            j += 1
        if not items:
            continue
        if r.random() < 0.5:
            body = l.rstrip() + " [" + ", ".join(items) + "]"
            ls[start:j] = [body]
        else:
            ind = r.choice([0, indent_of(l), indent_of(l) + 2])
            parts = [l.rstrip() + " [" + items[0] + ","]
            parts += [" " * ind + it + "," for it in items[1:]]
            parts[-1] = parts[-1].rstrip(",") + "]"
            ls[start:j] = parts
        return "\n".join(ls)
    return doc


def m_to_block(r, doc):
    """A one-line flow sequence `key: [a, b]` turned into a block sequence."""
    ls = lines_of(doc)
    idx = [i for i, l in enumerate(ls) if re.match(r"^(\s*)([^\s#][^:]*):\s*\[([^\[\]]*)\]\s*$", l)]
    if not idx:
        return doc
    i = r.choice(idx)
    m = re.match(r"^(\s*)([^\s#][^:]*):\s*\[([^\[\]]*)\]\s*$", ls[i])
    items = [x.strip() for x in m.group(3).split(",") if x.strip()]
    ind = len(m.group(1)) + r.choice([0, 2, 4])
    ls[i: i + 1] = [m.group(1) + m.group(2) + ":"] + [" " * ind + "- " + x for x in items]
    return "\n".join(ls)


def m_block_mapping_to_flow(r, doc):
    """The innermost block mapping under a key written as `{k: v, ...}`."""
    ls = lines_of(doc)
    for start in r.sample(range(len(ls)), len(ls)):
        l = ls[start]
        if not re.match(r"^\s*[^\s#-][^:]*:\s*$", l):
            continue
        n = indent_of(l)
        items, j = [], start + 1
        while j < len(ls) and ls[j].strip() and indent_of(ls[j]) > n:
            m = re.match(r"^\s*([^\s#:][^:]*):\s+(\S.*)$", ls[j])
            if not m or m.group(2).startswith(("[", "{", "|", ">", "#")):
                items = []
                break
            items.append(f"{m.group(1)}: {m.group(2)}")
            j += 1
        if items:
            sep = r.choice([", ", ",", ",\n" + " " * r.choice([0, n, n + 2])])
            ls[start:j] = [l.rstrip() + " {" + sep.join(items) + "}"]
            return "\n".join(ls)
    return doc


def m_quote(r, doc):
    """A plain value quoted (single, double) or a quoted one unquoted."""
    ls = lines_of(doc)
    idx = [i for i, l in enumerate(ls) if re.match(r"^\s*[^#]*:\s+\S", l)]
    if not idx:
        return doc
    i = r.choice(idx)
    m = re.match(r"^(\s*[^#]*?:\s+)(.*)$", ls[i])
    v = m.group(2)
    q = r.choice(["'", '"', "unquote"])
    if q == "unquote":
        v = v.strip("'\"")
    elif q == "'":
        v = "'" + v.replace("'", "''") + "'"
    else:
        v = '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    ls[i] = m.group(1) + v
    return "\n".join(ls)


def m_fold(r, doc):
    """A value written as a block scalar (`|`, `>`, with chomping and indentation)."""
    ls = lines_of(doc)
    idx = [i for i, l in enumerate(ls) if re.match(r"^\s*[^#\-][^#]*:\s+[^\s\[{|>]", l)]
    if not idx:
        return doc
    i = r.choice(idx)
    m = re.match(r"^(\s*)([^#]*?:)\s+(.*)$", ls[i])
    n = len(m.group(1))
    head = r.choice(["|", ">", "|-", ">-", "|+", ">+", "|2", ">1-", "| # c"])
    ind = n + r.choice([1, 2, 4, 0])
    words = m.group(3).split(" ")
    body = [" " * ind + w for w in words] if r.random() < 0.5 else [" " * ind + m.group(3)]
    if r.random() < 0.3:
        body.insert(1, "")
    ls[i: i + 1] = [m.group(1) + m.group(2) + " " + head] + body
    return "\n".join(ls)


def m_plain_continuation(r, doc):
    """A plain value split over two lines (a multi-line plain scalar)."""
    ls = lines_of(doc)
    idx = [i for i, l in enumerate(ls) if re.match(r"^\s*[^#]*:\s+\S+ \S", l)]
    if not idx:
        return doc
    i = r.choice(idx)
    l = ls[i]
    cut = l.rindex(" ")
    ind = r.choice([0, indent_of(l), indent_of(l) + 1, indent_of(l) + 2, indent_of(l) + 6])
    ls[i: i + 1] = [l[:cut], " " * ind + l[cut + 1:]]
    return "\n".join(ls)


def m_comment(r, doc):
    ls = lines_of(doc)
    i = r.randrange(len(ls) + 1)
    kind = r.random()
    if kind < 0.4 or i == len(ls):
        ls.insert(i, " " * r.choice([0, 1, 2, 4, 7]) + r.choice(["# c", "#", "#: x", "# é ünï"]))
    elif kind < 0.8:
        ls[i] = ls[i] + r.choice([" # c", "  #c", "\t# tab", " #"])
    else:
        ls[i] = ls[i] + "#c"
    return "\n".join(ls)


def m_anchor_merge(r, doc):
    """An action given an anchor; a new action merges it and overrides a key."""
    ls = lines_of(doc)
    acts = [i for i, l in enumerate(ls) if re.match(r"^  [^\s#][^:]*:\s*$", l)]
    if not acts:
        return doc
    i = r.choice(acts)
    name = r.choice(["a", "base", "x1", "é"])
    ls[i] = ls[i].rstrip() + " &" + name
    extra = r.choice([
        [f"  copy_{name}:", f"    <<: *{name}", "    run: python:v2 other.py"],
        [f"  copy_{name}: {{<<: *{name}, run: 'r:v2 x.R'}}"],
        [f"  copy_{name}:", f"    <<: [*{name}]", "    needs: []"],
        [f"  copy_{name}: *{name}"],
        [f"  copy_{name}:", f"    <<: *{name}", f"    <<: *{name}"],
        [f"  copy_{name}:", "    run: a", "    run: b", f"    <<: *{name}"],
        [f"  copy_{name}:", f"    <<: {{run: x}}", "    needs: [*undefined]"],
    ])
    j = i + 1
    while j < len(ls) and (not ls[j].strip() or indent_of(ls[j]) > 2):
        j += 1
    ls[j:j] = extra
    return "\n".join(ls)


def m_whitespace(r, doc):
    ls = lines_of(doc)
    i = r.randrange(len(ls))
    l = ls[i]
    kind = r.randrange(9)
    if kind == 0:
        ls[i] = l + r.choice([" ", "  ", "\t", " \t "])
    elif kind == 1 and ": " in l:
        ls[i] = l.replace(": ", r.choice([":\t", ": \t", " : ", ":  ", "\t: "]), 1)
    elif kind == 2:
        n = indent_of(l)
        ls[i] = r.choice(["\t", " \t", "\t "]) * (1 if n else 1) + l[n:] if r.random() < 0.3 else l[:n] + "\t" + l[n:]
    elif kind == 3:
        return doc.replace("\n", "\r\n")
    elif kind == 4:
        ls.insert(i, r.choice(["", " ", "   ", "\t", "  \t"]))
    elif kind == 5 and l.lstrip().startswith("- "):
        ls[i] = l.replace("- ", r.choice(["-\t", "-  ", "-   "]), 1)
    elif kind == 6:
        return doc.rstrip("\n") if r.random() < 0.5 else doc + "\n\n\n"
    elif kind == 7:
        return doc.replace("\n", "\r") if r.random() < 0.2 else doc.replace("\n", "\u0085", 1)
    else:
        ls[i] = l.replace(" ", "\u00a0", 1) if r.random() < 0.5 else l.replace(" ", "\u3000", 1)
    return "\n".join(ls)


def m_unicode(r, doc):
    ls = lines_of(doc)
    idx = content_lines(ls)
    if not idx:
        return doc
    i = r.choice(idx)
    s = r.choice(["é", "ü", "漢字", "😀", "\u2028", "\u2029", "\ufeff", "\u200b", "ß", "İ", "\u00ad"])
    pos = r.randrange(indent_of(ls[i]), len(ls[i]) + 1)
    ls[i] = ls[i][:pos] + s + ls[i][pos:]
    out = "\n".join(ls)
    if r.random() < 0.1:
        out = "\ufeff" + out
    return out


def m_markers(r, doc):
    kind = r.randrange(8)
    if kind == 0:
        return "---\n" + doc
    if kind == 1:
        return doc.rstrip("\n") + "\n...\n"
    if kind == 2:
        return "%YAML 1.2\n---\n" + doc
    if kind == 3:
        return "%YAML 1.1\n---\n" + doc
    if kind == 4:
        return "--- # c\n" + doc + r.choice(["---\n", "...\n---\n", "--- x\n", "...\n# end\n"])
    if kind == 5:
        return "%TAG !e! tag:example.com,2000:\n---\n" + doc
    if kind == 6:
        ls = lines_of(doc)
        i = r.randrange(len(ls))
        ls.insert(i, r.choice(["---", "...", " ---", "----", "--- a"]))
        return "\n".join(ls)
    return "--- " + doc


def m_scalar(r, doc):
    """A value replaced by one of many scalar forms (or a key by one of many keys)."""
    ls = lines_of(doc)
    idx = [i for i, l in enumerate(ls) if re.match(r"^\s*[^#]*:( |$)", l)]
    if not idx:
        return doc
    i = r.choice(idx)
    l = ls[i]
    if r.random() < 0.7 and re.match(r"^(\s*(?:- )?[^#:]*:)\s+(.*)$", l):
        m = re.match(r"^(\s*(?:- )?[^#:]*:)\s+(.*)$", l)
        ls[i] = m.group(1) + " " + r.choice(SCALARS)
    else:
        m = re.match(r"^(\s*(?:- )?)([^#:]*)(:.*)$", l)
        if m:
            ls[i] = m.group(1) + r.choice(KEYS) + m.group(3)
    return "\n".join(ls)


def m_flow_oddities(r, doc):
    ls = lines_of(doc)
    idx = [i for i, l in enumerate(ls) if "[" in l or "{" in l]
    if not idx:
        return m_to_flow(r, doc)
    i = r.choice(idx)
    l = ls[i]
    edits = [
        lambda s: s.replace("]", ",]", 1),
        lambda s: s.replace("]", ", ,]", 1),
        lambda s: s.replace("[", "[a: 1, ", 1),
        lambda s: s.replace("[", "[? q, ", 1),
        lambda s: s.replace("[", "[ # c\n", 1),
        lambda s: s.replace(", ", " ,", 1),
        lambda s: s.replace(", ", ",", 1),
        lambda s: s.replace("[", "[\n", 1),
        lambda s: s.replace("[", "[\t", 1),
        lambda s: s.replace("]", "\t]", 1),
        lambda s: s.replace("{", "{a, ", 1),
        lambda s: s.replace("{", '{"q":1, ', 1),
        lambda s: s.replace("{", "{x:1, ", 1),
        lambda s: s.replace("[", "[-a, ", 1),
        lambda s: s.replace("[", "[- a, ", 1),
        lambda s: s.replace("]", "", 1),
        lambda s: s.replace("[", "[[", 1),
        lambda s: s + " x",
    ]
    ls[i] = r.choice(edits)(l)
    return "\n".join(ls)


def m_damage(r, doc):
    """Small random damage: a character removed, doubled or swapped."""
    if not doc:
        return doc
    i = r.randrange(len(doc))
    kind = r.randrange(4)
    if kind == 0:
        return doc[:i] + doc[i + 1:]
    if kind == 1:
        return doc[:i] + doc[i] + doc[i:]
    if kind == 2:
        return doc[:i] + r.choice(":-?[]{},#&*!|>'\"%@` \t\n") + doc[i:]
    ls = lines_of(doc)
    j = r.randrange(len(ls))
    k = r.randrange(len(ls))
    ls[j], ls[k] = ls[k], ls[j]
    return "\n".join(ls)


def m_explicit_keys(r, doc):
    ls = lines_of(doc)
    idx = [i for i, l in enumerate(ls) if re.match(r"^\s*[^\s#\-?][^:]*:\s+\S", l)]
    if not idx:
        return doc
    i = r.choice(idx)
    m = re.match(r"^(\s*)([^:]*):\s+(.*)$", ls[i], re.S)
    if not m:
        return doc
    n = m.group(1)
    ls[i: i + 1] = [f"{n}? {m.group(2)}", f"{n}: {m.group(3)}"]
    return "\n".join(ls)


def m_issue_example(r, doc):
    """The shape real studies use: `needs: [a, b,` continued at the key's indentation."""
    ind = r.choice(["", " ", "  ", "    ", "      "])
    extra = "\n".join([
        "  summarise:",
        "    run: r:v2 analysis/summarise.R",
        "    needs: [extract_cases, extract_controls_1,",
        ind + "extract_controls_2]",
        "    outputs:",
        "      moderately_sensitive:",
        "        table: output/summary.csv",
    ])
    return doc.rstrip("\n") + "\n" + extra + "\n"


MUTATIONS = [
    m_reindent, m_shift_line, m_flow_continuation, m_flow_break_before_close, m_to_flow,
    m_to_block, m_block_mapping_to_flow, m_quote, m_fold, m_plain_continuation, m_comment,
    m_anchor_merge, m_whitespace, m_unicode, m_markers, m_scalar, m_flow_oddities,
    m_damage, m_explicit_keys, m_issue_example,
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("corpus")
    args = ap.parse_args()
    corpus = [
        p.read_text(encoding="utf-8")
        for p in sorted(pathlib.Path(args.corpus).glob("*.yaml"))
    ]
    r = random.Random(args.seed)
    for _ in range(args.cases):
        doc = r.choice(corpus)
        for _ in range(r.choice([1, 1, 2, 2, 3, 4])):
            mutation = r.choice(MUTATIONS)
            try:
                doc = mutation(r, doc)
            except (AttributeError, IndexError, ValueError):
                pass  # a text pattern that did not fit: the document stays as it was
        print(json.dumps(doc))


main()

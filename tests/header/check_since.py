#!/usr/bin/env python3
"""Every public name in evio.h says the version that added it (`@since X.Y`).

Checked: each exported function (EVIO_EXPORT), each typedef, and each field of a struct
that grows by appending fields (its first field is `size`, as in evio_events). The
version must be X.Y with X.Y no later than the header's own EVIO_VERSION_MAJOR/MINOR.

Usage: check_since.py include/evio.h     (exit 1 and one line per missing @since)
"""
import re
import sys

DOC = re.compile(r"/\*\*<?(.*?)\*/", re.S)
SINCE = re.compile(r"@since\s+(\d+)\.(\d+)\b")


def line_of(text, pos):
    return text.count("\n", 0, pos) + 1


def doc_before(text, start, docs):
    """The /** */ comment that ends right before `start` (only blanks between)."""
    for m in reversed(docs):
        if m.end() <= start:
            return m.group(1) if text[m.end():start].strip() == "" else None
    return None


def doc_after(text, end, docs):
    """A /**< */ comment that starts on the same line right after `end`."""
    for m in docs:
        if m.start() >= end:
            gap = text[end:m.start()]
            ok = m.group(0).startswith("/**<") and gap.strip() == "" and "\n" not in gap
            return m.group(1) if ok else None
    return None


def matching_brace(text, open_pos):
    depth = 0
    for i in range(open_pos, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return i
    return len(text)


def blank_comments(text):
    """The text with every comment replaced by spaces (positions kept)."""
    return re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=re.S)


def declared_name(decl):
    """The name a declaration declares: `int x`, `char *x[4]`, `void (*x)(int)`."""
    fn = re.search(r"\(\s*\*\s*(\w+)\s*\)", decl)
    if fn:
        return fn.group(1)
    return re.findall(r"\w+", re.sub(r"\[[^]]*\]\s*$", "", decl))[-1]


def functions(code):
    for m in re.finditer(r"^EVIO_EXPORT\b[^;(]*?\b(evio_\w+)\s*\(", code, re.M):
        yield m.group(1), m.start(), None


def typedefs(code):
    for m in re.finditer(r"^typedef\b", code, re.M):
        end = code.index(";", m.start())
        brace = code.find("{", m.start(), end)
        if brace >= 0:
            close = matching_brace(code, brace)
            end = code.index(";", close)
            name = code[close + 1:end].split()[-1]
            yield name, m.start(), (brace, close)
        else:
            yield declared_name(code[m.start():end]), m.start(), None


def fields(code, body):
    """(name, start, end) of each member declaration between the braces `body`."""
    pos = body[0] + 1
    while True:
        end = code.find(";", pos, body[1])
        if end < 0:
            return
        decl = code[pos:end]
        start = pos + len(decl) - len(decl.lstrip())
        yield declared_name(decl), start, end + 1
        pos = end + 1


def missing(text):
    docs = list(DOC.finditer(text))
    code = blank_comments(text)
    major = int(re.search(r"#define EVIO_VERSION_MAJOR (\d+)", text).group(1))
    minor = int(re.search(r"#define EVIO_VERSION_MINOR (\d+)", text).group(1))

    def check(what, name, doc, pos):
        m = SINCE.search(doc or "")
        if not m:
            return [f"{line_of(text, pos)}: {what} {name} has no @since"]
        if (int(m.group(1)), int(m.group(2))) > (major, minor):
            return [f"{line_of(text, pos)}: {what} {name}: @since {m.group(1)}.{m.group(2)}"
                    f" is later than this header ({major}.{minor})"]
        return []

    errors = []
    for name, start, _ in functions(code):
        errors += check("function", name, doc_before(text, start, docs), start)
    for name, start, body in typedefs(code):
        errors += check("type", name, doc_before(text, start, docs), start)
        members = list(fields(code, body)) if body else []
        if members and members[0][0] == "size":  # a struct that grows by appending
            for field, fstart, fend in members:
                doc = doc_before(text, fstart, docs) or doc_after(text, fend, docs)
                errors += check("field", f"{name}.{field}", doc, fstart)
    return errors


def main():
    path = sys.argv[1]
    with open(path, encoding="utf-8") as f:
        errors = missing(f.read())
    for e in sorted(errors, key=lambda e: int(e.split(":")[0])):
        print(f"{path}:{e}")
    if errors:
        print(f"{len(errors)} public names without @since: say the version that added each "
              "(@since X.Y in its doc comment)")
        return 1
    print(f"{path}: every function, type and growing-struct field says @since")
    return 0


if __name__ == "__main__":
    sys.exit(main())

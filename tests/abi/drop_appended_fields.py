#!/usr/bin/env python3
"""Drop, from a new ABI dump, the fields appended to structs that carry their own size.

A struct whose first field is `size` (evio_events, evio_dial_options) may grow: fields
appended after the end of the old struct are compatible, because the library reads only
the `size` bytes the caller says it has. abidiff cannot be told exactly that (its
"has_data_member_inserted_at = end" suppression also hides reordered fields), so
scripts/abi-check removes the appended fields here and lets abidiff compare the rest
with no suppression at all: any other change to the struct is still reported.

Usage: drop_appended_fields.py BASELINE.abi NEW.abi > NEW-without-appended.abi
"""
import sys
import xml.etree.ElementTree as ET


def first_field_is_size(struct):
    member = struct.find("data-member/var-decl")
    return member is not None and member.get("name") == "size"


def field_names(struct):
    return {m.get("name") for m in struct.findall("data-member/var-decl")}


def grown_structs(baseline):
    """name -> (size in bits, field names) of each size-carrying struct in the baseline."""
    old = {}
    for struct in baseline.iter("class-decl"):
        if struct.get("size-in-bits") and first_field_is_size(struct):
            old[struct.get("name")] = (int(struct.get("size-in-bits")), field_names(struct))
    return old


def drop_appended(new, old_structs):
    """Remove the new fields that lie past the old end; a field the old struct had stays
    wherever it went, so abidiff reports it moved."""
    for struct in new.iter("class-decl"):
        size, names = old_structs.get(struct.get("name"), (None, None))
        if size is None or int(struct.get("size-in-bits", 0)) <= size:
            continue
        for member in struct.findall("data-member"):
            appended = int(member.get("layout-offset-in-bits", 0)) >= size
            if appended and member.find("var-decl").get("name") not in names:
                struct.remove(member)
        struct.set("size-in-bits", str(size))


def main():
    baseline = ET.parse(sys.argv[1]).getroot()
    new = ET.parse(sys.argv[2])
    drop_appended(new.getroot(), grown_structs(baseline))
    new.write(sys.stdout, encoding="unicode")
    return 0


if __name__ == "__main__":
    sys.exit(main())

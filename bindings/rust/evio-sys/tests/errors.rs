//! The error codes against the one list in the C header.
//!
//! `include/evio.h` defines every code once, as a row `XX(NAME, value, "text")` of
//! `EVIO_ERRNO_MAP`. This test reads those rows and checks that `src/lib.rs` declares
//! exactly one `pub const EVIO_<NAME>: evio_error = <value>;` per row (plus `EVIO_OK`), and
//! nothing else of type `evio_error`, and that the library's `evio_strerror` gives each
//! code the row's text (the `evio` crate's `Error` takes its descriptions from there). A
//! row added to the header, or a constant added here, fails it until the other side agrees.

use std::collections::BTreeMap;
use std::ffi::CStr;
use std::path::{Path, PathBuf};

use evio_sys::{evio_error, evio_strerror, EVIO_OK};

#[derive(Debug)]
struct Row {
    name: String,
    value: evio_error,
    text: String,
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The rows of `EVIO_ERRNO_MAP` in the header, in order. Every line of the macro's body
/// must be a row: anything else fails, so a reformatted list cannot be half read.
fn header_rows() -> Vec<Row> {
    let path = manifest_dir().join("../../../include/evio.h");
    let header = read(&path);
    let mut lines = header.lines();
    let first = lines
        .by_ref()
        .find(|l| l.starts_with("#define EVIO_ERRNO_MAP(XX)"))
        .unwrap_or_else(|| panic!("{}: no `#define EVIO_ERRNO_MAP(XX)`", path.display()));
    let mut rows = Vec::new();
    let mut continued = first.trim_end().ends_with('\\');
    while continued {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("{}: EVIO_ERRNO_MAP runs off the end", path.display()));
        let body = line.trim_end();
        continued = body.ends_with('\\');
        let row = body.trim_end_matches('\\').trim();
        rows.push(parse_row(row).unwrap_or_else(|| {
            panic!(
                "{}: EVIO_ERRNO_MAP line is not `XX(NAME, value, \"text\")`: {line:?}",
                path.display()
            )
        }));
    }
    assert!(
        !rows.is_empty(),
        "{}: EVIO_ERRNO_MAP has no rows",
        path.display()
    );
    rows
}

/// `XX(EPERM, -1, "operation not permitted on this thread")`.
fn parse_row(row: &str) -> Option<Row> {
    let args = row.strip_prefix("XX(")?.strip_suffix(')')?;
    let (name, rest) = args.split_once(',')?;
    let (value, text) = rest.split_once(',')?;
    let name = name.trim();
    let text = text.trim().strip_prefix('"')?.strip_suffix('"')?;
    let plain_name = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric());
    if !plain_name || text.contains(['"', '\\']) {
        return None;
    }
    Some(Row {
        name: name.to_string(),
        value: value.trim().parse().ok()?,
        text: text.to_string(),
    })
}

/// Every `pub const NAME: evio_error = value;` in `src/lib.rs`. A constant of that type
/// written any other way fails, so none can hide from the comparison.
fn rust_constants() -> BTreeMap<String, evio_error> {
    let path = manifest_dir().join("src/lib.rs");
    let mut consts = BTreeMap::new();
    for (n, line) in read(&path).lines().enumerate() {
        if !line.contains(": evio_error =") {
            continue;
        }
        let parsed = line
            .trim()
            .strip_prefix("pub const ")
            .and_then(|l| l.strip_suffix(';'))
            .and_then(|l| l.split_once(": evio_error ="))
            .and_then(|(name, v)| Some((name.trim().to_string(), v.trim().parse().ok()?)));
        let Some((name, value)) = parsed else {
            panic!(
                "{}:{}: write error constants as `pub const EVIO_X: evio_error = -N;`: {line:?}",
                path.display(),
                n + 1
            );
        };
        assert!(
            consts.insert(name.clone(), value).is_none(),
            "{name} is declared twice"
        );
    }
    consts
}

#[test]
fn constants_are_the_headers_list() {
    let mut want: BTreeMap<String, evio_error> = header_rows()
        .into_iter()
        .map(|r| (format!("EVIO_{}", r.name), r.value))
        .collect();
    want.insert("EVIO_OK".to_string(), 0);
    let have = rust_constants();

    let missing: Vec<String> = want
        .iter()
        .filter(|(k, _)| !have.contains_key(*k))
        .map(|(k, v)| format!("pub const {k}: evio_error = {v};"))
        .collect();
    let extra: Vec<&String> = have.keys().filter(|k| !want.contains_key(*k)).collect();
    let wrong: Vec<String> = want
        .iter()
        .filter_map(|(k, v)| {
            let h = have.get(k)?;
            (h != v).then(|| format!("{k} is {h} in evio-sys, {v} in evio.h"))
        })
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && wrong.is_empty(),
        "evio-sys/src/lib.rs disagrees with EVIO_ERRNO_MAP in include/evio.h:\n\
         missing from evio-sys: {missing:#?}\nnot in evio.h: {extra:?}\nwrong value: {wrong:#?}"
    );
    assert_eq!(EVIO_OK, 0);
}

#[test]
fn strerror_gives_each_row_its_text() {
    for row in header_rows() {
        // SAFETY: evio_strerror returns a static NUL-terminated string (never NULL).
        let text = unsafe { CStr::from_ptr(evio_strerror(row.value)) };
        assert_eq!(
            text.to_str().unwrap(),
            row.text,
            "evio_strerror(EVIO_{}) differs from its row in evio.h",
            row.name
        );
    }
}

#[test]
fn row_parser_is_strict() {
    let r = parse_row(r#"XX(EPERM, -1, "operation not permitted on this thread")"#).unwrap();
    assert_eq!((r.name.as_str(), r.value), ("EPERM", -1));
    assert_eq!(r.text, "operation not permitted on this thread");
    for bad in [
        "",
        "XX(EPERM, -1)",
        "XX(EPERM, x, \"t\")",
        "XX(E PERM, -1, \"t\")",
        "XX(EPERM, -1, t)",
        "/* comment */",
    ] {
        assert!(parse_row(bad).is_none(), "{bad:?} parsed");
    }
}

//! Checks the Rust declarations against the C header: sizes and field offsets of the
//! structs, values of the enums and version macros, as a C compiler sees them. The error
//! codes (`EVIO_E…`) are checked against the header's own list in `tests/errors.rs`.
//!
//! Compiles a small C program with `$CC` (default `cc`) against the `evio.h` the build
//! script found. Set `EVIO_SYS_SKIP_C_LAYOUT=1` to skip where no C compiler exists.

use std::collections::HashMap;
use std::mem::{offset_of, size_of};
use std::path::PathBuf;
use std::process::Command;

use evio_sys::*;

const PROBE: &str = r#"
#include <stdio.h>
#include <stddef.h>
#include <evio.h>
#define S(T) printf("sizeof %s %zu\n", #T, sizeof(T));
#define O(T, F) printf("offsetof %s.%s %zu\n", #T, #F, offsetof(T, F));
#define V(X) printf("value %s %ld\n", #X, (long)(X));
int main(void) {
    evio_events init = EVIO_EVENTS_INIT;
    printf("init.size %zu\n", init.size);
    printf("init.tail_zero %d\n", init.drained == NULL && init.input_closed == NULL &&
           init.low_watermark == 0 && init.high_watermark == 0 && init.output_limit == 0 &&
           init.idle_timeout_ns == 0 && init.dial_failed == NULL);
    evio_dial_options dial = EVIO_DIAL_OPTIONS_INIT;
    printf("dial.size %zu\n", dial.size);
    V(EVIO_DIAL_TIMEOUT_DEFAULT_NS)
    S(evio_events) S(evio_dial_options) S(evio_input_stream) S(evio_error) S(evio_action) S(evio_load_balance) S(evio_engine)
    O(evio_events, size) O(evio_events, udata) O(evio_events, num_loops)
    O(evio_events, load_balance) O(evio_events, serving) O(evio_events, opened)
    O(evio_events, closed) O(evio_events, detached) O(evio_events, prewrite)
    O(evio_events, data) O(evio_events, tick) O(evio_events, engine)
    O(evio_events, drained) O(evio_events, input_closed) O(evio_events, low_watermark)
    O(evio_events, high_watermark) O(evio_events, output_limit) O(evio_events, idle_timeout_ns)
    O(evio_events, dial_failed) O(evio_dial_options, size) O(evio_dial_options, timeout_ns)
    O(evio_input_stream, buf) O(evio_input_stream, len) O(evio_input_stream, cap)
    V(EVIO_OK)
    V(EVIO_NONE) V(EVIO_DETACH) V(EVIO_CLOSE) V(EVIO_SHUTDOWN)
    V(EVIO_LB_RANDOM) V(EVIO_LB_ROUND_ROBIN) V(EVIO_LB_LEAST_CONNECTIONS) V(EVIO_LB_SOURCE_HASH)
    V(EVIO_ENGINE_DEFAULT) V(EVIO_ENGINE_NATIVE) V(EVIO_ENGINE_STD)
    V(EVIO_VERSION_MAJOR) V(EVIO_VERSION_MINOR) V(EVIO_VERSION_PATCH) V(EVIO_VERSION)
    return 0;
}
"#;

fn c_view() -> Option<HashMap<String, i64>> {
    if std::env::var_os("EVIO_SYS_SKIP_C_LAYOUT").is_some() {
        eprintln!("EVIO_SYS_SKIP_C_LAYOUT set: C layout comparison skipped");
        return None;
    }
    let Some(include) = option_env!("EVIO_SYS_INCLUDE_DIR") else {
        panic!("the build script found no evio.h (set EVIO_INCLUDE_DIR)");
    };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("evio-sys-layout");
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("probe.c");
    let exe = dir.join("probe");
    std::fs::write(&src, PROBE).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let status = Command::new(&cc)
        .args(["-std=c99", "-Wall", "-Werror", "-o"])
        .arg(&exe)
        .arg(&src)
        .arg(format!("-I{include}"))
        .status()
        .unwrap_or_else(|e| panic!("cannot run C compiler {cc:?}: {e}"));
    assert!(status.success(), "compiling the layout probe failed");
    let out = Command::new(&exe).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    Some(
        text.lines()
            .map(|l| {
                // "init.size N", "sizeof T N", "offsetof T.F N", "value X N"
                let w: Vec<&str> = l.split_whitespace().collect();
                let (key, v) = if w.len() == 2 {
                    (w[0], w[1])
                } else {
                    (w[1], w[2])
                };
                (key.to_string(), v.parse::<i64>().unwrap())
            })
            .collect(),
    )
}

#[test]
fn layout_matches_c_header() {
    let Some(c) = c_view() else { return };
    let get = |k: &str| *c.get(k).unwrap_or_else(|| panic!("probe printed no {k}"));

    assert_eq!(get("init.size"), size_of::<evio_events>() as i64);
    assert_eq!(
        get("init.tail_zero"),
        1,
        "EVIO_EVENTS_INIT zeroes the fields since 1.1"
    );
    let init = evio_events::new();
    assert!(init.drained.is_none() && init.input_closed.is_none());
    assert_eq!(
        (init.low_watermark, init.high_watermark, init.output_limit),
        (0, 0, 0)
    );
    assert_eq!(init.idle_timeout_ns, 0);
    assert!(init.dial_failed.is_none());
    assert_eq!(get("dial.size"), size_of::<evio_dial_options>() as i64);
    assert_eq!(
        evio_dial_options::new().size,
        size_of::<evio_dial_options>()
    );
    assert_eq!(evio_dial_options::new().timeout_ns, 0);
    assert_eq!(
        get("EVIO_DIAL_TIMEOUT_DEFAULT_NS"),
        EVIO_DIAL_TIMEOUT_DEFAULT_NS
    );
    assert_eq!(
        get("evio_dial_options"),
        size_of::<evio_dial_options>() as i64
    );
    assert_eq!(evio_events::new().size, size_of::<evio_events>());
    assert_eq!(get("evio_events"), size_of::<evio_events>() as i64);
    assert_eq!(
        get("evio_input_stream"),
        size_of::<evio_input_stream>() as i64
    );
    assert_eq!(get("evio_error"), size_of::<evio_error>() as i64);
    assert_eq!(get("evio_action"), size_of::<evio_action>() as i64);
    assert_eq!(
        get("evio_load_balance"),
        size_of::<evio_load_balance>() as i64
    );

    macro_rules! off {
        ($t:ident, $($f:ident),*) => {$(
            assert_eq!(
                get(concat!(stringify!($t), ".", stringify!($f))),
                offset_of!($t, $f) as i64,
                concat!("offset of ", stringify!($t), ".", stringify!($f))
            );
        )*};
    }
    off!(
        evio_events,
        size,
        udata,
        num_loops,
        load_balance,
        serving,
        opened,
        closed,
        detached,
        prewrite,
        data,
        tick,
        engine,
        drained,
        input_closed,
        low_watermark,
        high_watermark,
        output_limit,
        idle_timeout_ns,
        dial_failed
    );
    off!(evio_dial_options, size, timeout_ns);
    off!(evio_input_stream, buf, len, cap);

    macro_rules! val {
        ($($c:ident),*) => {$(
            assert_eq!(get(stringify!($c)), $c as i64, stringify!($c));
        )*};
    }
    val!(
        EVIO_OK,
        EVIO_NONE,
        EVIO_DETACH,
        EVIO_CLOSE,
        EVIO_SHUTDOWN,
        EVIO_LB_RANDOM,
        EVIO_LB_ROUND_ROBIN,
        EVIO_LB_LEAST_CONNECTIONS,
        EVIO_LB_SOURCE_HASH,
        EVIO_ENGINE_DEFAULT,
        EVIO_ENGINE_NATIVE,
        EVIO_ENGINE_STD,
        EVIO_VERSION_MAJOR,
        EVIO_VERSION_MINOR,
        EVIO_VERSION_PATCH,
        EVIO_VERSION
    );
}

/// Every function the header exports (`EVIO_EXPORT type name(`) is declared in
/// `src/lib.rs` (`pub fn name(`), and nothing else is: a function added to `evio.h` fails
/// this until evio-sys declares it.
#[test]
fn every_header_function_is_declared() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let header = std::fs::read_to_string(dir.join("../../../include/evio.h")).unwrap();
    let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
    let name_before_paren = |s: &str| -> Option<String> {
        let head = &s[..s.find('(')?];
        let name = head
            .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .next()?;
        (!name.is_empty()).then(|| name.to_string())
    };
    let want: std::collections::BTreeSet<String> = header
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("EVIO_EXPORT "))
        .filter_map(name_before_paren)
        .collect();
    let have: std::collections::BTreeSet<String> = lib
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("pub fn "))
        .filter_map(name_before_paren)
        .collect();
    assert!(
        want.len() > 30,
        "parsed only {} functions from evio.h",
        want.len()
    );
    let missing: Vec<_> = want.difference(&have).collect();
    let extra: Vec<_> = have.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "evio-sys and evio.h disagree: missing from evio-sys {missing:?}, not in evio.h {extra:?}"
    );
}

#[test]
fn library_version_matches_header_major() {
    let v = unsafe { evio_version() };
    assert_eq!(v / 10000, EVIO_VERSION_MAJOR, "library version {v}");
    let s = unsafe { std::ffi::CStr::from_ptr(evio_version_string()) };
    assert!(s
        .to_str()
        .unwrap()
        .starts_with(&format!("{EVIO_VERSION_MAJOR}.")));
}

#[test]
fn strerror_never_null() {
    for code in [0, EVIO_EINVAL, EVIO_ENOTCONN, -9999, 5] {
        let p = unsafe { evio_strerror(code) };
        assert!(!p.is_null());
    }
}

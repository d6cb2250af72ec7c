//! Finds libevio.
//!
//! 1. `EVIO_LIB_DIR`, if set: a directory holding `libevio.so` (e.g. the C build tree).
//!    Links `-L$EVIO_LIB_DIR -levio` and exports the directory as the rpath.
//! 2. Otherwise `pkg-config evio` (honouring `PKG_CONFIG_PATH`, so
//!    `PKG_CONFIG_PATH=<build>/pkgconfig-uninstalled` uses a build tree).
//!
//! Exports to dependent build scripts (`links = "evio"`):
//! - `DEP_EVIO_RPATH`: `:`-separated directories a binary should carry as rpath (empty for
//!   a library installed in a system directory).
//! - `DEP_EVIO_INCLUDE`: the directory holding `evio.h`, when known.
//!
//! Also sets `EVIO_SYS_INCLUDE_DIR` for this crate's own tests (the layout test).

use std::env;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=EVIO_LIB_DIR");
    println!("cargo:rerun-if-env-changed=EVIO_INCLUDE_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    // docs.rs and similar doc-only builds have no library; declarations need none.
    if env::var_os("DOCS_RS").is_some() {
        return;
    }

    let mut rpath: Vec<PathBuf> = Vec::new();
    let mut include: Option<PathBuf> =
        if let Some(dir) = env::var_os("EVIO_LIB_DIR").filter(|d| !d.is_empty()) {
            let dir = PathBuf::from(dir);
            let dir = dir.canonicalize().unwrap_or(dir);
            if !has_library(&dir) {
                println!(
                    "cargo:warning=EVIO_LIB_DIR={} holds no libevio.so; linking will likely fail",
                    dir.display()
                );
            }
            println!("cargo:rustc-link-search=native={}", dir.display());
            println!("cargo:rustc-link-lib=dylib=evio");
            // This crate's own test binaries get the rpath directly.
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
            rpath.push(dir.clone());
            include_from_cmake_cache(&dir)
        } else {
            match pkg_config::Config::new()
                .atleast_version("1.1")
                .probe("evio")
            {
                Ok(lib) => {
                    // pkg-config already printed -L, -l and the -Wl options for this crate.
                    for args in &lib.ld_args {
                        let mut it = args.iter();
                        while let Some(a) = it.next() {
                            if a == "-rpath" || a == "-R" {
                                if let Some(d) = it.next() {
                                    rpath.push(PathBuf::from(d));
                                }
                            } else if let Some(d) = a.strip_prefix("-rpath=") {
                                rpath.push(PathBuf::from(d));
                            }
                        }
                    }
                    lib.include_paths
                        .iter()
                        .find(|p| p.join("evio.h").is_file())
                        .cloned()
                }
                Err(e) => panic!(
                    "\n\nevio-sys: cannot find libevio.\n\
                 Either set EVIO_LIB_DIR to a directory holding libevio.so (e.g. the CMake \
                 build directory),\nor make `pkg-config evio` work (install evio, or set \
                 PKG_CONFIG_PATH=<build>/pkgconfig-uninstalled).\n\npkg-config said: {e}\n"
                ),
            }
        };

    if let Some(dir) = env::var_os("EVIO_INCLUDE_DIR").filter(|d| !d.is_empty()) {
        include = Some(PathBuf::from(dir));
    }
    if include.is_none() {
        // In the evio source tree: bindings/rust/evio-sys -> include/.
        let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
        let in_tree = manifest.join("../../../include");
        if in_tree.join("evio.h").is_file() {
            include = Some(in_tree.canonicalize().unwrap_or(in_tree));
        }
    }

    let rpath: Vec<String> = rpath.iter().map(|p| p.display().to_string()).collect();
    println!("cargo:rpath={}", rpath.join(":"));
    if let Some(inc) = include {
        println!("cargo:include={}", inc.display());
        println!("cargo:rustc-env=EVIO_SYS_INCLUDE_DIR={}", inc.display());
        println!("cargo:rerun-if-changed={}", inc.join("evio.h").display());
    }
}

fn has_library(dir: &Path) -> bool {
    ["libevio.so", "libevio.dylib", "libevio.a"]
        .iter()
        .any(|n| dir.join(n).exists())
}

/// A CMake build tree knows its source tree, which holds `include/evio.h`.
fn include_from_cmake_cache(dir: &Path) -> Option<PathBuf> {
    let cache = std::fs::read_to_string(dir.join("CMakeCache.txt")).ok()?;
    let src = cache
        .lines()
        .find_map(|l| l.strip_prefix("evio_SOURCE_DIR:STATIC="))?;
    let inc = Path::new(src.trim()).join("include");
    inc.join("evio.h").is_file().then_some(inc)
}

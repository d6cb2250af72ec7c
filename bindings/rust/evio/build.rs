//! Gives this crate's test and example binaries an rpath to the directory evio-sys linked
//! libevio from (exported by evio-sys as `DEP_EVIO_RPATH`), so they run without
//! `LD_LIBRARY_PATH` against a build tree.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_EVIO_RPATH");
    if let Ok(dirs) = std::env::var("DEP_EVIO_RPATH") {
        for dir in dirs.split(':').filter(|d| !d.is_empty()) {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        }
    }
}

//! The threaded browser build (`--features threads` on wasm32, scripts/build.sh) links its
//! memory as shared and imported, so that the page's workers can all run on it, and exports the
//! thread-local storage symbols that wasm-bindgen's thread support sets up for each worker.
//! Nothing for any other build.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let wasm = std::env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|a| a == "wasm32");
    if wasm && std::env::var_os("CARGO_FEATURE_THREADS").is_some() {
        for arg in ["--shared-memory", "--import-memory", "--export=__wasm_init_tls", "--export=__tls_size",
            "--export=__tls_align", "--export=__tls_base"] {
            println!("cargo:rustc-link-arg={arg}");
        }
    }
}

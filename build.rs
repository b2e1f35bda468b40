//! Embeds the shipped model when it is present in the source tree.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(fer_shipped_model)");
    println!("cargo::rerun-if-changed=models/sldcnn-fer2013/model.bpk");
    println!("cargo::rerun-if-changed=models/sldcnn-fer2013/config.json");
    // The manifest directory of this build, read when the script runs (not `env!`, which would
    // freeze the directory the script binary was compiled in).
    let root = std::env::var_os("CARGO_MANIFEST_DIR").map(std::path::PathBuf::from).unwrap_or_default();
    let dir = root.join("models/sldcnn-fer2013");
    if dir.join("model.bpk").is_file() && dir.join("config.json").is_file() {
        println!("cargo::rustc-cfg=fer_shipped_model");
    }
}

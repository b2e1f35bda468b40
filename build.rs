//! Embeds the shipped networks when all of them are present in the source tree.

/// The directories under `models/` of the embedded networks (`classify::weights::EMBEDDED`).
const EMBEDDED: [&str; 4] = ["sldcnn-fer2013", "sldcnn-fer2013-e92", "sldcnn-fer2013-ba", "sldcnn-fer2013-wide"];

fn main() {
    println!("cargo::rustc-check-cfg=cfg(fer_shipped_model)");
    // The manifest directory of this build, read when the script runs (not `env!`, which would
    // freeze the directory the script binary was compiled in).
    let root = std::env::var_os("CARGO_MANIFEST_DIR").map(std::path::PathBuf::from).unwrap_or_default();
    let mut complete = true;
    for name in EMBEDDED {
        for file in ["model.bpk", "config.json"] {
            println!("cargo::rerun-if-changed=models/{name}/{file}");
            complete &= root.join("models").join(name).join(file).is_file();
        }
    }
    if complete {
        println!("cargo::rustc-cfg=fer_shipped_model");
    }
}

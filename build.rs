//! Embeds the shipped model when it is present in the source tree.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(fer_shipped_model)");
    println!("cargo::rerun-if-changed=models/sldcnn-fer2013/model.bpk");
    println!("cargo::rerun-if-changed=models/sldcnn-fer2013/config.json");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/sldcnn-fer2013");
    if dir.join("model.bpk").is_file() && dir.join("config.json").is_file() {
        println!("cargo::rustc-cfg=fer_shipped_model");
    }
}

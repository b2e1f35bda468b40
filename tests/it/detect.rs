//! The YuNet engine (`crates/yunet-cpu`) against numbers computed by the original
//! libfacedetection (PyPI `yuface` 2023.5.1) and its NumPy re-implementation, stored as small
//! numbers in `tests/fixtures/` (no pixels): raw head outputs on a synthetic image, and the
//! original library's detections on the Solvay photograph from ../shared/data.

use std::path::Path;

use serde_json::Value;
use yunet_cpu::{Isa, Network, Workspace};

use super::util::shared_data;

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn network() -> Network {
    let weights = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/yunet/yunet.f32")).unwrap();
    Network::from_bytes(&weights).unwrap()
}

fn f(v: &Value) -> f32 {
    v.as_f64().unwrap() as f32
}

/// The fixture's synthetic image as RGB (its formula is given per B, G, R channel).
fn synthetic_rgb(width: usize, height: usize) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(width * height * 3);
    for y in 0..height {
        for x in 0..width {
            let b = (7 * x + 3 * y) % 256;
            let g = (2 * x + 11 * y + 40) % 256;
            let r = (x * x + y) % 256;
            rgb.extend([r as u8, g as u8, b as u8]);
        }
    }
    rgb
}

#[test]
fn raw_head_outputs_match_the_original_network_on_a_synthetic_image() {
    let fx = fixture("yunet_synthetic.json");
    let (w, h) = (fx["image"]["width"].as_u64().unwrap() as usize, fx["image"]["height"].as_u64().unwrap() as usize);
    assert_eq!((w, h), (100, 70), "the formula below is the fixture's");
    let rgb = synthetic_rgb(w, h);
    let mut checked = 0;
    for isa in Isa::available() {
        let net = network().with_isa(isa);
        let mut ws = Workspace::new();
        net.forward(&rgb, w, h, &mut ws);
        for (level, stride) in ["8", "16", "32"].iter().enumerate() {
            let lv = &fx["heads"][*stride];
            let (cols, rows) = ws.level_size(level);
            assert_eq!((cols as u64, rows as u64), (lv["map_width"].as_u64().unwrap(), lv["map_height"].as_u64().unwrap()));
            for p in lv["positions"].as_array().unwrap() {
                let (r, c) = (p["row"].as_u64().unwrap() as usize, p["col"].as_u64().unwrap() as usize);
                let got = &ws.head(level)[(r * cols + c) * 16..][..16];
                let want: Vec<f32> = std::iter::once(f(&p["cls"]))
                    .chain(p["bbox"].as_array().unwrap().iter().map(f))
                    .chain(std::iter::once(f(&p["obj"])))
                    .chain(p["kps"].as_array().unwrap().iter().map(f))
                    .collect();
                for (k, (g, e)) in got.iter().zip(&want).enumerate() {
                    assert!((g - e).abs() <= 1e-4 + 1e-4 * e.abs(), "{isa:?} stride {stride} ({r},{c}) channel {k}: {g} vs {e}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 16 * 28, "{checked} values compared");
}

#[test]
fn detections_match_the_original_library_on_the_solvay_photo() {
    let Some(data) = shared_data() else { return };
    let fx = fixture("yunet_original_solvay.json");
    let img = image::open(data.join("images/solvay1927_scientists.jpg")).unwrap().into_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    assert_eq!((w as u64, h as u64), (fx["image"]["width"].as_u64().unwrap(), fx["image"]["height"].as_u64().unwrap()));
    let want = fx["facedetect_cnn"]["faces"].as_array().unwrap();
    // The library's own threshold and NMS; no resizing (it pads to a multiple of 32).
    let got = network().detect(img.as_raw(), w, h, 0.2, 0.45, &mut Workspace::new());
    assert_eq!(got.len(), want.len(), "faces found");
    for (i, row) in want.iter().enumerate() {
        let v: Vec<f32> = row.as_array().unwrap().iter().map(f).collect();
        // The library truncates to integers (score·100, box corner and size, landmarks); our
        // JPEG decoder may differ from libjpeg-turbo by a grey level here and there.
        let g = got.iter().min_by(|a, b| ((a.x1 - v[1]).abs() + (a.y1 - v[2]).abs()).total_cmp(&((b.x1 - v[1]).abs() + (b.y1 - v[2]).abs()))).unwrap();
        let near = |a: f32, b: f32| (a - b).abs() <= 2.0;
        assert!((g.score * 100.0 - v[0]).abs() <= 2.0, "face {i}: score {} vs {}", g.score, v[0] / 100.0);
        assert!(near(g.x1, v[1]) && near(g.y1, v[2]) && near(g.x2 - g.x1, v[3]) && near(g.y2 - g.y1, v[4]), "face {i}: box {g:?} vs {v:?}");
        for k in 0..5 {
            assert!(near(g.landmarks[k][0], v[5 + 2 * k]) && near(g.landmarks[k][1], v[6 + 2 * k]), "face {i} landmark {k}: {:?} vs {v:?}", g.landmarks[k]);
        }
    }
}

#[test]
fn classify_json_gives_landmarks_with_yunet_and_none_with_seetaface() {
    let Some(data) = shared_data() else { return };
    let img = data.join("images/single_face_justin.jpg");
    let faces = |detector: &str| -> Vec<Value> {
        let out = super::util::run(&["classify", img.to_str().unwrap(), "--json", "--detector", detector]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap().as_array().unwrap().clone()
    };
    let yunet = faces("yunet");
    assert_eq!(yunet.len(), 1, "one face in the photo");
    let (lm, b) = (&yunet[0]["landmarks"], &yunet[0]["box"]);
    // The eyes lie inside the box, the left one left of the right one, both above the mouth.
    let (le, re, ml) = (&lm["left_eye"], &lm["right_eye"], &lm["mouth_left"]);
    let (x0, y0) = (f(&b["x"]), f(&b["y"]));
    let (x1, y1) = (x0 + f(&b["width"]), y0 + f(&b["height"]));
    for p in [le, re, ml] {
        assert!((x0..x1).contains(&f(&p[0])) && (y0..y1).contains(&f(&p[1])), "{p} outside {b}");
    }
    assert!(f(&le[0]) < f(&re[0]) && f(&le[1]) < f(&ml[1]));
    let seeta = faces("seetaface");
    assert!(seeta.iter().all(|face| face["landmarks"].is_null()), "SeetaFace gives no landmarks");
}

//! `fer-batch report` checked like a person would: the page is opened in headless Chromium,
//! which must load it without errors, find every chart series in the DOM, and take a
//! screenshot. Needs Debian's chromium (scripts/deps.sh installs it; scripts/test.sh sets
//! FER_REQUIRE_BROWSER=1 so that a missing browser fails instead of skipping).

use std::process::Command;

use crate::util::*;

fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser"].into_iter().find(|b| Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()));
    if found.is_none() {
        assert!(std::env::var_os("FER_REQUIRE_BROWSER").is_none(), "chromium is required (scripts/deps.sh installs it)");
        eprintln!("note: chromium not installed; skipping the browser check of the report");
    }
    found
}

const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

#[test]
fn report_opens_in_a_browser_with_every_chart() {
    let Some(browser) = chromium() else { return };
    let Some(clip) = video("single_face_phone_596x336.mp4") else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.parquet");
    let mut args = vec!["run", clip.to_str().unwrap(), "--out", out.to_str().unwrap(), "--sample-fps", "4"];
    args.extend(model_args());
    assert_eq!(run(&args).status.code(), Some(0));
    let html = dir.path().join("report.html");
    let timeline_png = dir.path().join("timeline.png");
    assert_eq!(run(&["report", out.to_str().unwrap(), "--out", html.to_str().unwrap(), "--png", timeline_png.to_str().unwrap()]).status.code(), Some(0));
    let png = image::open(&timeline_png).expect("timeline PNG decodes").into_rgb8();
    assert!(png.width() >= 800 && png.height() >= 200);
    assert!(png.pixels().any(|p| p.0 != [255, 255, 255]), "timeline PNG is blank");
    let url = format!("file://{}", html.display());
    let profile = dir.path().join("profile");

    // The DOM as the browser built it: every expression series and the people line.
    let dom = Command::new(browser)
        .args(FLAGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--enable-logging=stderr", "--v=0", "--dump-dom"])
        .arg(&url)
        .output()
        .expect("chromium runs");
    assert!(dom.status.success(), "chromium failed: {}", String::from_utf8_lossy(&dom.stderr));
    let text = String::from_utf8_lossy(&dom.stdout);
    let console = String::from_utf8_lossy(&dom.stderr);
    assert!(!console.contains("Uncaught") && !console.contains("CONSOLE("), "page errors: {console}");
    for name in CLASSES {
        assert!(text.contains(&format!("data-expression=\"{name}\"")), "no {name} series");
    }
    for id in ["timeline-0", "people-0", "persons-0", "overall", "metadata"] {
        assert!(text.contains(&format!("id=\"{id}\"")), "no #{id}");
    }
    assert!(text.contains("single_face_phone_596x336.mp4"));
    assert!(!text.contains("<img"), "no face images in the report");

    // A screenshot: a real PNG of the page.
    let png = dir.path().join("shot.png");
    let shot = Command::new(browser)
        .args(FLAGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--window-size=900,1200"])
        .arg(format!("--screenshot={}", png.display()))
        .arg(&url)
        .output()
        .expect("chromium runs");
    assert!(shot.status.success());
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000, "screenshot is {} bytes", bytes.len());
}

/// Decodes standard base64 (the report's inline images).
fn unbase64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &c)| n | (u32::from(val(c)) << (18 - 6 * i)));
        out.extend(n.to_be_bytes()[1..chunk.len()].iter());
    }
    out
}

#[test]
fn thumbnails_only_when_asked_and_with_faces_blanked() {
    let Some(clip) = video("talking_head_woman_596x336.mp4") else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.parquet");
    let mut args = vec!["run", clip.to_str().unwrap(), "--out", out.to_str().unwrap(), "--sample-fps", "2"];
    args.extend(model_args());
    assert_eq!(run(&args).status.code(), Some(0));
    // By default the page holds no image of the footage.
    let plain = dir.path().join("plain.html");
    assert_eq!(run(&["report", out.to_str().unwrap(), "--out", plain.to_str().unwrap()]).status.code(), Some(0));
    let page = std::fs::read_to_string(&plain).unwrap();
    assert!(!page.contains("<img") && page.contains("No face images are included"));
    // Asked for: three stills, at most 480 px wide, the face covered by the flat grey.
    let html = dir.path().join("thumbs.html");
    let o = run(&["report", out.to_str().unwrap(), "--out", html.to_str().unwrap(), "--thumbnails", clip.to_str().unwrap(), "--thumbnail-count", "3"]);
    assert_eq!(o.status.code(), Some(0));
    let page = std::fs::read_to_string(&html).unwrap();
    let images: Vec<&str> = page.split("data:image/png;base64,").skip(1).map(|s| &s[..s.find('"').unwrap()]).collect();
    assert_eq!(images.len(), 3, "three thumbnails");
    for b64 in images {
        let img = image::load_from_memory(&unbase64(b64)).expect("a valid PNG").to_rgb8();
        assert!(img.width() <= 480 && img.width() >= 400, "scaled to the page: {}", img.width());
        let grey = img.pixels().filter(|p| p.0 == [48, 48, 48]).count();
        // The face (~120 px in the source, ~95 px here) is a flat block, not pixels.
        assert!(grey >= 60 * 60, "the face box is blanked: {grey} grey pixels");
    }
}

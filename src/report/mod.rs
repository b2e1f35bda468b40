//! `fer-batch report`: a self-contained HTML page (inline SVG, no scripts, no network) that
//! shows a run the way the paper's Figures 6–9 and Tables 6/8 do.
//!
//! In: the three Parquet tables of a single-file run (`results.parquet` and its siblings).
//! Out: HTML with, per video, a stacked-area timeline of the share of people per expression
//! per window, people present over time and per-person dominant-expression bars, plus the
//! overall percentages and the run's metadata. Face crops are never included.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float32Type, Float64Type, Int64Type};

pub mod png;

use crate::classify::Expression;
use crate::sink::sibling_paths;

/// Colour of each expression in every chart (angry … neutral); the same palette colours the
/// annotated video ([`crate::render::EXPRESSION_COLORS`]).
pub use crate::render::EXPRESSION_COLORS as COLORS;

/// Errors building a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A table could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// File.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// One crowd window as the report needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowPoint {
    /// Window start (s).
    pub start_s: f64,
    /// Window end (s).
    pub end_s: f64,
    /// People present.
    pub people: f64,
    /// Percent per expression.
    pub pct: [f64; 7],
}

/// One person as the report needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonBar {
    /// Person id.
    pub person_id: i64,
    /// Face rows.
    pub frames: f64,
    /// Mean smoothed probabilities.
    pub mean: [f64; 7],
    /// Dominant label.
    pub dominant: String,
}

/// Everything the page shows, per video.
#[derive(Debug, Default)]
pub struct ReportData {
    /// Crowd windows per video, in time order.
    pub windows: BTreeMap<String, Vec<WindowPoint>>,
    /// Persons per video, most frames first.
    pub persons: BTreeMap<String, Vec<PersonBar>>,
    /// Key-value metadata of the faces table.
    pub metadata: Vec<(String, String)>,
    /// Face-free annotated stills `(caption, PNG bytes)`, only when the user asked for them
    /// (`report --thumbnails VIDEO`); empty by default.
    pub thumbnails: Vec<(String, Vec<u8>)>,
}

/// A table read back: its record batches and its key-value metadata.
type TableContents = (Vec<RecordBatch>, Vec<(String, String)>);

fn read(path: &Path) -> Result<TableContents, ReportError> {
    crate::sink::read_table(path).map_err(|e| ReportError::Read { path: path.to_path_buf(), reason: e.to_string() })
}

fn column<'a>(b: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a dyn Array, ReportError> {
    b.column_by_name(name)
        .map(|c| c.as_ref())
        .ok_or_else(|| ReportError::Read { path: path.to_path_buf(), reason: format!("no column {name}: not a fer-batch table") })
}

/// Standard base64 (RFC 4648, with padding), for inline images.
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            out.push(if i <= chunk.len() { ABC[(n >> shift) as usize & 63] as char } else { '=' });
        }
    }
    out
}

/// Row `i` of a Float32, Float64 or Int64 column as `f64`; null or another type gives NaN.
pub(crate) fn f64_at(c: &dyn Array, i: usize) -> f64 {
    if c.is_null(i) {
        return f64::NAN;
    }
    if let Some(a) = c.as_primitive_opt::<Float32Type>() {
        f64::from(a.value(i))
    } else if let Some(a) = c.as_primitive_opt::<Float64Type>() {
        a.value(i)
    } else if let Some(a) = c.as_primitive_opt::<Int64Type>() {
        a.value(i) as f64
    } else {
        f64::NAN
    }
}

/// Row `i` of a Utf8 or dictionary-of-Utf8 column; null or another type gives "".
pub(crate) fn str_at(c: &dyn Array, i: usize) -> String {
    if c.is_null(i) {
        return String::new();
    }
    match c.data_type() {
        DataType::Utf8 => c.as_string::<i32>().value(i).to_string(),
        DataType::Dictionary(_, _) => {
            let d = c.as_any_dictionary();
            let key = d.normalized_keys()[i];
            let values = d.values();
            if values.data_type() == &DataType::Utf8 { values.as_string::<i32>().value(key).to_string() } else { String::new() }
        }
        _ => String::new(),
    }
}

impl ReportData {
    /// Reads the tables of the single-file output whose faces table is `faces`.
    pub fn load(faces: &Path) -> Result<Self, ReportError> {
        let paths = sibling_paths(faces);
        let (_, metadata) = read(&paths.faces)?;
        let mut data = ReportData { metadata, ..Default::default() };
        let (crowd, _) = read(&paths.crowd)?;
        for b in &crowd {
            let (video, start, end, people) = (
                column(b, "video", &paths.crowd)?,
                column(b, "window_start_s", &paths.crowd)?,
                column(b, "window_end_s", &paths.crowd)?,
                column(b, "people", &paths.crowd)?,
            );
            let pct: Vec<&dyn Array> = Expression::ALL.iter().map(|e| column(b, &format!("pct_{}", e.name()), &paths.crowd)).collect::<Result<_, _>>()?;
            for i in 0..b.num_rows() {
                let mut p = [0.0; 7];
                for (k, c) in pct.iter().enumerate() {
                    p[k] = f64_at(*c, i);
                }
                data.windows.entry(str_at(video, i)).or_default().push(WindowPoint {
                    start_s: f64_at(start, i),
                    end_s: f64_at(end, i),
                    people: f64_at(people, i),
                    pct: p,
                });
            }
        }
        let (persons, _) = read(&paths.persons)?;
        for b in &persons {
            let (video, pid, frames, dom) = (
                column(b, "video", &paths.persons)?,
                column(b, "person_id", &paths.persons)?,
                column(b, "frames", &paths.persons)?,
                column(b, "dominant_label", &paths.persons)?,
            );
            let mean: Vec<&dyn Array> = Expression::ALL.iter().map(|e| column(b, &format!("mean_s_{}", e.name()), &paths.persons)).collect::<Result<_, _>>()?;
            for i in 0..b.num_rows() {
                let mut m = [0.0; 7];
                for (k, c) in mean.iter().enumerate() {
                    m[k] = f64_at(*c, i);
                }
                data.persons.entry(str_at(video, i)).or_default().push(PersonBar {
                    person_id: f64_at(pid, i) as i64,
                    frames: f64_at(frames, i),
                    mean: m,
                    dominant: str_at(dom, i),
                });
            }
        }
        for w in data.windows.values_mut() {
            w.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
        }
        for p in data.persons.values_mut() {
            p.sort_by(|a, b| b.frames.total_cmp(&a.frames).then(a.person_id.cmp(&b.person_id)));
        }
        Ok(data)
    }

    /// People-weighted share of each expression over all windows of all videos (percent).
    pub fn overall_pct(&self) -> [f64; 7] {
        let mut sum = [0.0; 7];
        let mut people = 0.0;
        for w in self.windows.values().flatten() {
            if w.people > 0.0 {
                for (s, p) in sum.iter_mut().zip(w.pct) {
                    *s += p * w.people;
                }
                people += w.people;
            }
        }
        if people > 0.0 { sum.map(|s| s / people) } else { [0.0; 7] }
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const W: f64 = 760.0;
const H: f64 = 220.0;
const PAD_L: f64 = 46.0;
const PAD_B: f64 = 26.0;

/// Stacked-area SVG of `pct` over time; windows without people are drawn as gaps.
pub fn timeline_svg(windows: &[WindowPoint], id: &str) -> String {
    let t_end = windows.iter().map(|w| w.end_s).fold(0.0, f64::max).max(1e-9);
    let x = |t: f64| PAD_L + (W - PAD_L - 10.0) * t / t_end;
    let y = |p: f64| 10.0 + (H - PAD_B - 10.0) * (1.0 - p / 100.0);
    let mut s = format!(
        r#"<svg id="{id}" class="timeline" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="share of people per expression over time">"#
    );
    axes(&mut s, t_end, "% of people");
    // One polygon per expression and run of consecutive windows with people.
    for (k, (expression, color)) in Expression::ALL.iter().zip(COLORS).enumerate() {
        let mut runs: Vec<Vec<&WindowPoint>> = Vec::new();
        for w in windows {
            if w.people > 0.0 {
                match runs.last_mut() {
                    Some(r) if r.last().is_some_and(|p| (p.end_s - w.start_s).abs() < 1e-6) => r.push(w),
                    _ => runs.push(vec![w]),
                }
            }
        }
        let mut d = String::new();
        for r in runs {
            let lower = |w: &WindowPoint| w.pct[..k].iter().sum::<f64>();
            let upper = |w: &WindowPoint| w.pct[..=k].iter().sum::<f64>();
            let mut pts = Vec::new();
            for w in &r {
                pts.push((x(w.start_s), y(upper(w))));
                pts.push((x(w.end_s), y(upper(w))));
            }
            for w in r.iter().rev() {
                pts.push((x(w.end_s), y(lower(w))));
                pts.push((x(w.start_s), y(lower(w))));
            }
            d += "M";
            d += &pts.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect::<Vec<_>>().join(" L");
            d += " Z ";
        }
        let _ = write!(s, r#"<path class="series" data-expression="{}" d="{}" fill="{}" stroke="none"/>"#, expression.name(), d.trim(), color);
    }
    s + "</svg>"
}

/// Tick positions 0, step, 2·step, … ≤ `end`, with step 1, 2 or 5 × 10ⁿ giving 4–10 ticks.
pub fn nice_ticks(end: f64) -> Vec<f64> {
    if !(end > 0.0 && end.is_finite()) {
        return vec![0.0];
    }
    let raw = end / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| end / s <= 8.0).unwrap_or(10.0 * mag);
    (0..).map(|i| f64::from(i) * step).take_while(|t| *t <= end + 1e-9).collect()
}

fn axes(s: &mut String, t_end: f64, y_label: &str) {
    let _ = write!(s, r##"<line x1="{PAD_L}" y1="{}" x2="{}" y2="{}" stroke="#333"/>"##, H - PAD_B, W - 10.0, H - PAD_B);
    let _ = write!(s, r##"<line x1="{PAD_L}" y1="10" x2="{PAD_L}" y2="{}" stroke="#333"/>"##, H - PAD_B);
    for t in nice_ticks(t_end) {
        let px = PAD_L + (W - PAD_L - 10.0) * t / t_end;
        let _ = write!(s, r#"<text x="{px:.1}" y="{}" font-size="11" text-anchor="middle">{t}s</text>"#, H - 8.0);
    }
    let _ = write!(s, r#"<text x="12" y="{}" font-size="11" transform="rotate(-90 12 {})" text-anchor="middle">{y_label}</text>"#, H / 2.0, H / 2.0);
}

/// Line chart of people present per window.
pub fn people_svg(windows: &[WindowPoint], id: &str) -> String {
    let t_end = windows.iter().map(|w| w.end_s).fold(0.0, f64::max).max(1e-9);
    let max = windows.iter().map(|w| w.people).fold(1.0, f64::max);
    let x = |t: f64| PAD_L + (W - PAD_L - 10.0) * t / t_end;
    let y = |p: f64| 10.0 + (H - PAD_B - 10.0) * (1.0 - p / max);
    let mut s = format!(r#"<svg id="{id}" class="people" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="people present over time">"#);
    axes(&mut s, t_end, "people");
    let pts: Vec<String> = windows.iter().map(|w| format!("{:.1},{:.1}", x((w.start_s + w.end_s) / 2.0), y(w.people))).collect();
    let _ = write!(s, r##"<polyline class="series" data-series="people" points="{}" fill="none" stroke="#1f77b4" stroke-width="2"/>"##, pts.join(" "));
    let _ = write!(s, r#"<text x="{}" y="20" font-size="11">max {max:.0}</text>"#, PAD_L + 6.0);
    s + "</svg>"
}

/// One 100%-stacked bar per person (mean smoothed probabilities), most-seen first.
pub fn persons_svg(persons: &[PersonBar], id: &str, limit: usize) -> String {
    let rows = persons.len().min(limit);
    let row_h = 18.0;
    let h = 10.0 + row_h * rows as f64;
    let mut s =
        format!(r#"<svg id="{id}" class="persons" viewBox="0 0 {W} {h}" width="{W}" height="{h}" role="img" aria-label="dominant expression per person">"#);
    for (r, p) in persons.iter().take(rows).enumerate() {
        let y = 5.0 + row_h * r as f64;
        let _ = write!(s, r#"<text x="0" y="{:.1}" font-size="11">#{} ({:.0})</text>"#, y + 12.0, p.person_id, p.frames);
        let mut x = 90.0;
        let total: f64 = p.mean.iter().sum::<f64>().max(1e-9);
        for ((mean, expression), color) in p.mean.iter().zip(Expression::ALL).zip(COLORS) {
            let w = (W - 200.0) * mean / total;
            let _ = write!(
                s,
                r#"<rect class="series" data-expression="{}" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{}" fill="{}"/>"#,
                expression.name(),
                row_h - 4.0,
                color
            );
            x += w;
        }
        let _ = write!(s, r#"<text x="{:.1}" y="{:.1}" font-size="11">{}</text>"#, W - 100.0, y + 12.0, esc(&p.dominant));
    }
    s + "</svg>"
}

/// The whole page.
pub fn render_html(data: &ReportData, title: &str) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{t}</title><style>
body{{font-family:sans-serif;max-width:820px;margin:2em auto;color:#222}} h1{{font-size:1.4em}} h2{{font-size:1.15em;margin-top:2em}}
table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}} .legend span{{display:inline-block;margin-right:12px}}
.sw{{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}} pre{{white-space:pre-wrap;font-size:.8em;background:#f6f6f6;padding:8px}}
</style></head><body><h1>{t}</h1>"#,
        t = esc(title)
    );
    h += r#"<p class="legend">"#;
    for (k, e) in Expression::ALL.iter().enumerate() {
        let _ = write!(h, r#"<span><i class="sw" style="background:{}"></i>{}</span>"#, COLORS[k], e.name());
    }
    h += "</p><h2>Overall share of people per expression</h2><table id=\"overall\"><tr>";
    for e in Expression::ALL {
        let _ = write!(h, "<th>{}</th>", e.name());
    }
    h += "</tr><tr>";
    for v in data.overall_pct() {
        let _ = write!(h, "<td>{v:.1}%</td>");
    }
    h += "</tr></table>";
    for (i, (video, windows)) in data.windows.iter().enumerate() {
        let _ = write!(h, "<h2>{}</h2><h3>Share of people per expression</h3>", esc(video));
        h += &timeline_svg(windows, &format!("timeline-{i}"));
        h += "<h3>People present</h3>";
        h += &people_svg(windows, &format!("people-{i}"));
        if let Some(p) = data.persons.get(video) {
            let _ = write!(h, "<h3>Per person (mean smoothed probabilities, {} people; most seen first)</h3>", p.len());
            h += &persons_svg(p, &format!("persons-{i}"), 40);
        }
    }
    h += "<h2>Run</h2><table id=\"metadata\">";
    for (k, v) in &data.metadata {
        if k == "ARROW:schema" {
            continue;
        }
        let v = if v.len() > 400 { format!("{}…", &v[..v.floor_char_boundary(400)]) } else { v.clone() };
        let _ = write!(h, "<tr><th>{}</th><td style=\"text-align:left\"><pre>{}</pre></td></tr>", esc(k), esc(&v));
    }
    h += "</table>";
    if data.thumbnails.is_empty() {
        h += "<p>Generated by fer-batch. No face images are included.</p></body></html>\n";
    } else {
        h += "<h2>Annotated frames</h2><div id=\"thumbnails\">";
        for (caption, png) in &data.thumbnails {
            let _ = write!(
                h,
                "<figure style=\"display:inline-block;margin:4px\"><img alt=\"{c}\" src=\"data:image/png;base64,{b}\"><figcaption>{c}</figcaption></figure>",
                c = esc(caption),
                b = base64(png)
            );
        }
        h += "</div><p>Generated by fer-batch. The annotated frames above were asked for; every face in them is blanked out.</p></body></html>\n";
    }
    h
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, coded) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")] {
            assert_eq!(super::base64(plain.as_bytes()), coded);
        }
        assert_eq!(super::base64(&[0xff, 0xfe]), "//4=");
    }

    use super::*;

    fn w(start: f64, people: f64, happy: f64) -> WindowPoint {
        let mut pct = [0.0; 7];
        if people > 0.0 {
            pct[3] = happy;
            pct[6] = 100.0 - happy;
        }
        WindowPoint { start_s: start, end_s: start + 1.0, people, pct }
    }

    #[test]
    fn ticks_are_round_numbers() {
        assert_eq!(nice_ticks(15.5), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0]);
        assert_eq!(nice_ticks(75.0), vec![0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0]);
        assert_eq!(nice_ticks(3.0), vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]);
        assert_eq!(nice_ticks(0.0), vec![0.0]);
    }

    #[test]
    fn overall_share_is_people_weighted() {
        let mut d = ReportData::default();
        d.windows.insert("a".into(), vec![w(0.0, 1.0, 100.0), w(1.0, 3.0, 0.0), w(2.0, 0.0, 0.0)]);
        let o = d.overall_pct();
        assert!((o[3] - 25.0).abs() < 1e-9 && (o[6] - 75.0).abs() < 1e-9);
    }

    #[test]
    fn charts_have_one_series_per_expression_and_escape_text() {
        let ws = vec![w(0.0, 2.0, 50.0), w(1.0, 0.0, 0.0), w(2.0, 2.0, 100.0)];
        let svg = timeline_svg(&ws, "t");
        assert_eq!(svg.matches("class=\"series\"").count(), 7);
        // Two runs of windows with people → two sub-paths for the happy series.
        let happy = svg.split("data-expression=\"happy\" d=\"").nth(1).unwrap();
        assert_eq!(happy.split('"').next().unwrap().matches('M').count(), 2);
        let mut d = ReportData::default();
        d.windows.insert("<clip>.mp4".into(), ws);
        d.persons.insert("<clip>.mp4".into(), vec![PersonBar { person_id: 1, frames: 5.0, mean: [0.1; 7], dominant: "happy".into() }]);
        let html = render_html(&d, "t & t");
        assert!(html.contains("&lt;clip&gt;.mp4") && !html.contains("<clip>") && html.contains("t &amp; t"));
        assert!(html.contains("id=\"timeline-0\"") && html.contains("id=\"people-0\"") && html.contains("id=\"persons-0\""));
    }
}

//! PNG export of the crowd timeline (for slides): the same stacked share of people per
//! expression as the HTML report, rasterised with a built-in 5×7 pixel font (no font files).
//!
//! In: [`WindowPoint`]s per video. Out: an RGB PNG, one panel per video.

use image::{Rgb, RgbImage};

use super::{COLORS, WindowPoint, nice_ticks};
use crate::classify::Expression;

/// 5×7 glyphs, one `u8` per row (low 5 bits, MSB = leftmost pixel).
fn glyph(c: char) -> [u8; 7] {
    match c {
        '0' => [14, 17, 19, 21, 25, 17, 14],
        '1' => [4, 12, 4, 4, 4, 4, 14],
        '2' => [14, 17, 1, 2, 4, 8, 31],
        '3' => [31, 2, 4, 2, 1, 17, 14],
        '4' => [2, 6, 10, 18, 31, 2, 2],
        '5' => [31, 16, 30, 1, 1, 17, 14],
        '6' => [6, 8, 16, 30, 17, 17, 14],
        '7' => [31, 1, 2, 4, 8, 8, 8],
        '8' => [14, 17, 17, 14, 17, 17, 14],
        '9' => [14, 17, 17, 15, 1, 2, 12],
        'a' => [0, 0, 14, 1, 15, 17, 15],
        'b' => [16, 16, 22, 25, 17, 17, 30],
        'c' => [0, 0, 14, 16, 16, 17, 14],
        'd' => [1, 1, 13, 19, 17, 17, 15],
        'e' => [0, 0, 14, 17, 31, 16, 14],
        'f' => [6, 9, 8, 28, 8, 8, 8],
        'g' => [0, 15, 17, 17, 15, 1, 14],
        'h' => [16, 16, 22, 25, 17, 17, 17],
        'i' => [4, 0, 12, 4, 4, 4, 14],
        'l' => [12, 4, 4, 4, 4, 4, 14],
        'm' => [0, 0, 26, 21, 21, 17, 17],
        'n' => [0, 0, 22, 25, 17, 17, 17],
        'o' => [0, 0, 14, 17, 17, 17, 14],
        'p' => [0, 0, 30, 17, 30, 16, 16],
        'r' => [0, 0, 22, 25, 16, 16, 16],
        's' => [0, 0, 14, 16, 14, 1, 30],
        't' => [8, 8, 28, 8, 8, 9, 6],
        'u' => [0, 0, 17, 17, 17, 19, 13],
        'v' => [0, 0, 17, 17, 17, 10, 4],
        'w' => [0, 0, 17, 17, 21, 21, 10],
        'x' => [0, 0, 17, 10, 4, 10, 17],
        'y' => [0, 0, 17, 17, 15, 1, 14],
        'k' => [16, 16, 18, 20, 24, 20, 18],
        '%' => [24, 25, 2, 4, 8, 19, 3],
        '.' => [0, 0, 0, 0, 0, 12, 12],
        '_' => [0, 0, 0, 0, 0, 0, 31],
        '-' => [0, 0, 0, 31, 0, 0, 0],
        ':' => [0, 12, 12, 0, 12, 12, 0],
        _ => [0; 7],
    }
}

fn text(img: &mut RgbImage, x: u32, y: u32, s: &str, scale: u32, color: Rgb<u8>) {
    for (i, c) in s.to_ascii_lowercase().chars().enumerate() {
        let g = glyph(c);
        for (row, bits) in g.iter().enumerate() {
            for col in 0..5 {
                if bits & (16 >> col) != 0 {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            let px = x + (i as u32 * 6 + col) * scale + dx;
                            let py = y + row as u32 * scale + dy;
                            if px < img.width() && py < img.height() {
                                img.put_pixel(px, py, color);
                            }
                        }
                    }
                }
            }
        }
    }
}

fn hex(c: &str) -> Rgb<u8> {
    let v = u32::from_str_radix(c.trim_start_matches('#'), 16).unwrap_or(0);
    Rgb([(v >> 16) as u8, (v >> 8) as u8, v as u8])
}

fn fill(img: &mut RgbImage, x0: u32, y0: u32, x1: u32, y1: u32, c: Rgb<u8>) {
    for y in y0.min(img.height())..y1.min(img.height()) {
        for x in x0.min(img.width())..x1.min(img.width()) {
            img.put_pixel(x, y, c);
        }
    }
}

/// Width and panel height of the PNG in pixels.
pub const WIDTH: u32 = 1200;
const PANEL: u32 = 300;

/// Renders one panel per video: stacked shares over time, axis ticks, legend and title.
pub fn timeline_png(videos: &[(&str, &[WindowPoint])]) -> RgbImage {
    let legend_h = 40;
    let h = legend_h + PANEL * videos.len().max(1) as u32;
    let mut img = RgbImage::from_pixel(WIDTH, h, Rgb([255, 255, 255]));
    let black = Rgb([30, 30, 30]);
    let mut x = 10;
    for (k, e) in Expression::ALL.iter().enumerate() {
        fill(&mut img, x, 12, x + 16, 28, hex(COLORS[k]));
        text(&mut img, x + 22, 13, e.name(), 2, black);
        x += 22 + e.name().len() as u32 * 12 + 24;
    }
    let (left, right) = (70u32, WIDTH - 20);
    for (v, (name, windows)) in videos.iter().enumerate() {
        let top = legend_h + v as u32 * PANEL + 30;
        let bottom = top + PANEL - 70;
        text(&mut img, left, top - 24, name, 2, black);
        let t_end = windows.iter().map(|w| w.end_s).fold(0.0, f64::max).max(1e-9);
        let xpix = |t: f64| left + ((right - left) as f64 * t / t_end) as u32;
        for w in windows.iter().filter(|w| w.people > 0.0) {
            let (x0, x1) = (xpix(w.start_s), xpix(w.end_s).max(xpix(w.start_s) + 1));
            let mut acc = 0.0;
            for k in 0..7 {
                let y_hi = bottom - ((bottom - top) as f64 * (acc + w.pct[k]) / 100.0).round() as u32;
                let y_lo = bottom - ((bottom - top) as f64 * acc / 100.0).round() as u32;
                fill(&mut img, x0, y_hi, x1, y_lo, hex(COLORS[k]));
                acc += w.pct[k];
            }
        }
        fill(&mut img, left, bottom, right, bottom + 2, black);
        fill(&mut img, left - 2, top, left, bottom, black);
        for t in nice_ticks(t_end) {
            let px = xpix(t);
            fill(&mut img, px, bottom, px + 2, bottom + 8, black);
            let label = format!("{t}s");
            text(&mut img, px.saturating_sub(label.len() as u32 * 6), bottom + 12, &label, 2, black);
        }
        for (p, label) in [(0.0, "0%"), (50.0, "50%"), (100.0, "100%")] {
            let py = bottom - ((bottom - top) as f64 * p / 100.0) as u32;
            text(&mut img, 4, py.saturating_sub(7), label, 2, black);
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panels_are_drawn_in_the_expression_colours() {
        let mut pct = [0.0; 7];
        pct[3] = 60.0;
        pct[6] = 40.0;
        let ws = vec![WindowPoint { start_s: 0.0, end_s: 1.0, people: 5.0, pct }, WindowPoint { start_s: 1.0, end_s: 2.0, people: 0.0, pct: [0.0; 7] }];
        let img = timeline_png(&[("clip.mp4", &ws)]);
        assert_eq!(img.width(), WIDTH);
        // Inside the first window: happy (green) at the bottom, neutral (grey) on top.
        let x = 70 + (WIDTH - 90) / 4;
        let (top, bottom) = (40 + 30, 40 + 30 + PANEL - 70);
        assert_eq!(*img.get_pixel(x, bottom - 5), hex(COLORS[3]));
        assert_eq!(*img.get_pixel(x, top + 5), hex(COLORS[6]));
        // The second window has nobody: left white.
        assert_eq!(*img.get_pixel(70 + 3 * (WIDTH - 90) / 4, bottom - 5), Rgb([255, 255, 255]));
    }
}

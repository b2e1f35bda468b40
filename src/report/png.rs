//! PNG export of the crowd timeline (for slides): the same stacked share of people per
//! expression as the HTML report, rasterised with the built-in 5×7 pixel font of
//! [`crate::render`] (no font files).
//!
//! In: [`WindowPoint`]s per video. Out: an RGB PNG, one panel per video.

use image::{Rgb, RgbImage};

use super::{COLORS, WindowPoint, nice_ticks};
use crate::classify::Expression;
use crate::render::{draw_text as text, fill_rect as fill, hex};

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
            for (pct, color) in w.pct.iter().zip(COLORS) {
                let y_hi = bottom - ((bottom - top) as f64 * (acc + pct) / 100.0).round() as u32;
                let y_lo = bottom - ((bottom - top) as f64 * acc / 100.0).round() as u32;
                fill(&mut img, x0, y_hi, x1, y_lo, hex(color));
                acc += pct;
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

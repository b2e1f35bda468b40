//! Drawing on RGB images without font files or a graphics library: a built-in 5×7 pixel font,
//! filled, outlined and half-transparent rectangles, outlined dots, the expression colours, and
//! the per-face overlay (box, landmark dots, tag, probability bar) of the annotated video and
//! images.
//!
//! In: an [`RgbImage`] and what to draw on it. Out: the same image, drawn on in place.
//!
//! Invariants:
//! - Everything is clipped to the image: any coordinates are safe, nothing panics.
//! - [`EXPRESSION_COLORS`] is the one palette: the HTML report's series, its PNG timeline and
//!   the annotated footage all colour an expression the same way.

use image::{Rgb, RgbImage};

use crate::classify::Expression;

/// Colour of each expression, indexed by [`Expression::index`], as CSS hex (matplotlib's
/// "tab10" colours: angry red, disgust brown, fear purple, happy green, sad blue, surprise
/// orange, neutral grey).
pub const EXPRESSION_COLORS: [&str; Expression::COUNT] = ["#d62728", "#8c564b", "#9467bd", "#2ca02c", "#1f77b4", "#ff7f0e", "#7f7f7f"];

/// Width of a glyph of the built-in font, in font pixels.
pub const GLYPH_WIDTH: u32 = 5;
/// Height of a glyph of the built-in font, in font pixels.
pub const GLYPH_HEIGHT: u32 = 7;
/// Horizontal advance per character (glyph plus one pixel of spacing), in font pixels.
pub const GLYPH_ADVANCE: u32 = 6;

/// `#rrggbb` (leading `#` optional) as an RGB colour; black if it does not parse.
pub fn hex(color: &str) -> Rgb<u8> {
    let v = u32::from_str_radix(color.trim_start_matches('#'), 16).unwrap_or(0);
    Rgb([(v >> 16) as u8, (v >> 8) as u8, v as u8])
}

/// The colour of `expression` from [`EXPRESSION_COLORS`].
pub fn expression_rgb(expression: Expression) -> Rgb<u8> {
    hex(EXPRESSION_COLORS[expression.index()])
}

/// 5×7 glyphs, one `u8` per row (low 5 bits, MSB = leftmost pixel). Lower-case letters,
/// digits and a little punctuation; anything else is blank.
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
        'j' => [2, 0, 6, 2, 2, 18, 12],
        'k' => [16, 16, 18, 20, 24, 20, 18],
        'l' => [12, 4, 4, 4, 4, 4, 14],
        'm' => [0, 0, 26, 21, 21, 17, 17],
        'n' => [0, 0, 22, 25, 17, 17, 17],
        'o' => [0, 0, 14, 17, 17, 17, 14],
        'p' => [0, 0, 30, 17, 30, 16, 16],
        'q' => [0, 0, 13, 19, 15, 1, 1],
        'r' => [0, 0, 22, 25, 16, 16, 16],
        's' => [0, 0, 14, 16, 14, 1, 30],
        't' => [8, 8, 28, 8, 8, 9, 6],
        'u' => [0, 0, 17, 17, 17, 19, 13],
        'v' => [0, 0, 17, 17, 17, 10, 4],
        'w' => [0, 0, 17, 17, 21, 21, 10],
        'x' => [0, 0, 17, 10, 4, 10, 17],
        'y' => [0, 0, 17, 17, 15, 1, 14],
        'z' => [0, 0, 31, 2, 4, 8, 31],
        '#' => [10, 10, 31, 10, 31, 10, 10],
        '%' => [24, 25, 2, 4, 8, 19, 3],
        '.' => [0, 0, 0, 0, 0, 12, 12],
        '_' => [0, 0, 0, 0, 0, 0, 31],
        '-' => [0, 0, 0, 31, 0, 0, 0],
        ':' => [0, 12, 12, 0, 12, 12, 0],
        _ => [0; 7],
    }
}

/// Width in pixels of `s` drawn at `scale` (no trailing spacing).
pub fn text_width(s: &str, scale: u32) -> u32 {
    let n = s.chars().count() as u32;
    (n * GLYPH_ADVANCE).saturating_sub(GLYPH_ADVANCE - GLYPH_WIDTH) * scale
}

/// Draws `s` (upper case is drawn as lower case) with its top-left corner at (`x`, `y`), each
/// font pixel a `scale`×`scale` square.
pub fn draw_text(img: &mut RgbImage, x: u32, y: u32, s: &str, scale: u32, color: Rgb<u8>) {
    for (i, c) in s.to_ascii_lowercase().chars().enumerate() {
        let left = x.saturating_add(i as u32 * GLYPH_ADVANCE * scale);
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..GLYPH_WIDTH {
                if bits & (16 >> col) != 0 {
                    let px = left.saturating_add(col * scale);
                    let py = y.saturating_add(row as u32 * scale);
                    fill_rect(img, px, py, px.saturating_add(scale), py.saturating_add(scale), color);
                }
            }
        }
    }
}

/// Fills the rectangle `[x0, x1) × [y0, y1)`.
pub fn fill_rect(img: &mut RgbImage, x0: u32, y0: u32, x1: u32, y1: u32, color: Rgb<u8>) {
    for y in y0.min(img.height())..y1.min(img.height()) {
        for x in x0.min(img.width())..x1.min(img.width()) {
            img.put_pixel(x, y, color);
        }
    }
}

/// Mixes `color` into the rectangle `[x0, x1) × [y0, y1)` with opacity `alpha` (0–1).
pub fn blend_rect(img: &mut RgbImage, x0: u32, y0: u32, x1: u32, y1: u32, color: Rgb<u8>, alpha: f32) {
    let alpha = alpha.clamp(0.0, 1.0);
    for y in y0.min(img.height())..y1.min(img.height()) {
        for x in x0.min(img.width())..x1.min(img.width()) {
            let px = img.get_pixel_mut(x, y);
            for (dst, src) in px.0.iter_mut().zip(color.0) {
                *dst = (f32::from(*dst) * (1.0 - alpha) + f32::from(src) * alpha).round() as u8;
            }
        }
    }
}

/// Outlines `[x0, x1) × [y0, y1)` with lines `thickness` pixels wide, inside the rectangle.
pub fn stroke_rect(img: &mut RgbImage, x0: u32, y0: u32, x1: u32, y1: u32, thickness: u32, color: Rgb<u8>) {
    let t = thickness.max(1);
    fill_rect(img, x0, y0, x1, y0.saturating_add(t).min(y1), color);
    fill_rect(img, x0, y1.saturating_sub(t).max(y0), x1, y1, color);
    fill_rect(img, x0, y0, x0.saturating_add(t).min(x1), y1, color);
    fill_rect(img, x1.saturating_sub(t).max(x0), y0, x1, y1, color);
}

/// One face to draw: where it is, who it is, and its probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceOverlay {
    /// Left edge of the face box, image pixels.
    pub x: f32,
    /// Top edge of the face box, image pixels.
    pub y: f32,
    /// Width of the face box, image pixels.
    pub width: f32,
    /// Height of the face box, image pixels.
    pub height: f32,
    /// Number shown after `#`: the person (track) id in videos, the face number in images.
    pub id: u32,
    /// The label drawn (the smoothed label in videos); also the box colour.
    pub label: Expression,
    /// Probability of each expression (the smoothed ones in videos), indexed by
    /// [`Expression::index`]; drawn as the bar chart.
    pub probabilities: [f32; Expression::COUNT],
    /// Five facial landmarks `[x, y]` in image pixels (eyes, nose tip, mouth corners; see
    /// [`crate::detect::Landmarks`]), drawn as dots; `None` (e.g. SeetaFace) draws none.
    pub landmarks: Option<[[f32; 2]; 5]>,
}

impl FaceOverlay {
    /// The tag text: `#<id> <label> <probability of the label in %>`, e.g. `#2 happy 87%`.
    pub fn tag(&self) -> String {
        let p = self.probabilities[self.label.index()];
        let pct = if p.is_finite() { (p * 100.0).round().clamp(0.0, 100.0) } else { 0.0 };
        format!("#{} {} {pct:.0}%", self.id, self.label.name())
    }
}

/// Font and line scale for overlays on a `width`×`height` image: 1 up to 399 px on the short
/// side, 2 up to 799, 3 for 1080p.
pub fn overlay_scale(width: u32, height: u32) -> u32 {
    1 + width.min(height) / 400
}

/// Pixel layout of one [`FaceOverlay`] at a scale, all clipped to the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    /// Face box `[x0, x1) × [y0, y1)`.
    face: [u32; 4],
    /// Tag background.
    tag: [u32; 4],
    /// Probability bar panel.
    bars: [u32; 4],
}

/// Padding around the tag text and the bars.
fn pad(scale: u32) -> u32 {
    scale + 1
}

/// Width of one probability bar.
fn bar_width(scale: u32) -> u32 {
    4 * scale
}

/// Height of a bar at probability 1.
fn bar_height(scale: u32) -> u32 {
    16 * scale
}

fn layout(face: &FaceOverlay, tag: &str, scale: u32, img_w: u32, img_h: u32) -> Layout {
    let to_px = |v: f32, max: u32| {
        if v.is_finite() { v.round().clamp(0.0, max as f32) as u32 } else { 0 }
    };
    let x0 = to_px(face.x, img_w);
    let y0 = to_px(face.y, img_h);
    let x1 = to_px(face.x + face.width, img_w).max(x0);
    let y1 = to_px(face.y + face.height, img_h).max(y0);

    let pad = pad(scale);
    let tag_w = text_width(tag, scale) + 2 * pad;
    let tag_h = GLYPH_HEIGHT * scale + 2 * pad;
    // Above the box when there is room, else just inside its top edge.
    let tag_y = if y0 >= tag_h { y0 - tag_h } else { y0 };
    let tag_x = x0.min(img_w.saturating_sub(tag_w));

    let bars_w = Expression::COUNT as u32 * (bar_width(scale) + scale) - scale + 2 * pad;
    let bars_h = bar_height(scale) + 2 * pad;
    // Below the box when there is room, else just inside its bottom edge.
    let bars_y = if y1 + bars_h <= img_h { y1 } else { y1.saturating_sub(bars_h) };
    let bars_x = x0.min(img_w.saturating_sub(bars_w));
    Layout { face: [x0, y0, x1, y1], tag: [tag_x, tag_y, tag_x + tag_w, tag_y + tag_h], bars: [bars_x, bars_y, bars_x + bars_w, bars_y + bars_h] }
}

/// Fill of the landmark dots. White in a black ring reads on light and dark skin alike, and
/// survives video encoding: 4:2:0 chroma subsampling would wash a few coloured pixels out, but
/// keeps the full-resolution brightness contrast.
pub const LANDMARK_FILL: Rgb<u8> = Rgb([255, 255, 255]);
/// Ring around each landmark dot (see [`LANDMARK_FILL`]).
pub const LANDMARK_OUTLINE: Rgb<u8> = Rgb([0, 0, 0]);

/// Radius in pixels of the landmark dots of a face whose box has `short_side` pixels on its
/// short side: 0 (one pixel) below 25 px, 1 up to 74 px, then one more per 50 px, at most 6
/// (the ring adds one). Small faces get small dots so that the five do not cover the face.
pub fn landmark_radius(short_side: f32) -> u32 {
    if short_side.is_finite() { (short_side / 50.0).round().clamp(0.0, 6.0) as u32 } else { 1 }
}

/// Fills a disc of `radius` pixels centred on the pixel nearest to (`cx`, `cy`): pixels
/// (`dx`, `dy`) from the centre with `dx² + dy² ≤ r² + r/2`, a round shape at small radii (a
/// single pixel at 0, a plus at 1, a 5×5 square less its corners at 2). Clipped; non-finite
/// centres draw nothing.
pub fn fill_disc(img: &mut RgbImage, cx: f32, cy: f32, radius: u32, color: Rgb<u8>) {
    if !(cx.is_finite() && cy.is_finite()) {
        return;
    }
    let (cx, cy) = (cx.round() as i64, cy.round() as i64);
    let r = i64::from(radius);
    let limit = r * r + r / 2;
    for dy in -r..=r {
        for dx in -r..=r {
            let (x, y) = (cx.saturating_add(dx), cy.saturating_add(dy));
            let inside = dx * dx + dy * dy <= limit;
            if inside && (0..i64::from(img.width())).contains(&x) && (0..i64::from(img.height())).contains(&y) {
                img.put_pixel(x as u32, y as u32, color);
            }
        }
    }
}

/// Draws the face's landmarks, if it has any, as [`LANDMARK_FILL`] dots of
/// [`landmark_radius`] in a one-pixel [`LANDMARK_OUTLINE`] ring.
pub fn draw_landmarks(img: &mut RgbImage, face: &FaceOverlay) {
    let Some(points) = face.landmarks else {
        return;
    };
    let r = landmark_radius(face.width.min(face.height));
    for [x, y] in points {
        fill_disc(img, x, y, r + 1, LANDMARK_OUTLINE);
    }
    for [x, y] in points {
        fill_disc(img, x, y, r, LANDMARK_FILL);
    }
}

/// Draws one face: its box in the label's colour, its landmark dots ([`draw_landmarks`]), the
/// [`FaceOverlay::tag`] on a label-coloured background above it, and a 7-bar chart of its
/// probabilities (expression colours, in class order angry … neutral) on a dark panel below
/// it. `scale` comes from [`overlay_scale`].
pub fn draw_face_overlay(img: &mut RgbImage, face: &FaceOverlay, scale: u32) {
    let scale = scale.max(1);
    let tag = face.tag();
    let l = layout(face, &tag, scale, img.width(), img.height());
    let color = expression_rgb(face.label);
    let [x0, y0, x1, y1] = l.face;
    // 3 px at scale 1: thinner lines lose their colour to 4:2:0 chroma subsampling in video.
    stroke_rect(img, x0, y0, x1, y1, 2 * scale + 1, color);
    // Under the tag and the bars, which stay readable where they overlap the face.
    draw_landmarks(img, face);

    let [tx0, ty0, tx1, ty1] = l.tag;
    fill_rect(img, tx0, ty0, tx1, ty1, color);
    let pad = pad(scale);
    draw_text(img, tx0 + pad, ty0 + pad, &tag, scale, Rgb([255, 255, 255]));

    let [bx0, by0, bx1, by1] = l.bars;
    blend_rect(img, bx0, by0, bx1, by1, Rgb([0, 0, 0]), 0.6);
    let base = by1 - pad;
    for (k, &p) in face.probabilities.iter().enumerate() {
        let p = if p.is_finite() { p.clamp(0.0, 1.0) } else { 0.0 };
        let h = (p * bar_height(scale) as f32).round() as u32;
        let left = bx0 + pad + k as u32 * (bar_width(scale) + scale);
        fill_rect(img, left, base - h.max(1), left + bar_width(scale), base, hex(EXPRESSION_COLORS[k]));
    }
}

/// Draws every face of `faces` with [`draw_face_overlay`] at the [`overlay_scale`] of `img`.
pub fn draw_faces(img: &mut RgbImage, faces: &[FaceOverlay]) {
    let scale = overlay_scale(img.width(), img.height());
    for face in faces {
        draw_face_overlay(img, face, scale);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, y: f32, side: f32, label: Expression, p: f32) -> FaceOverlay {
        let mut probabilities = [(1.0 - p) / 6.0; 7];
        probabilities[label.index()] = p;
        FaceOverlay { x, y, width: side, height: side, id: 3, label, probabilities, landmarks: None }
    }

    #[test]
    fn text_draws_the_glyph_pattern() {
        let mut img = RgbImage::new(20, 10);
        let white = Rgb([255, 255, 255]);
        draw_text(&mut img, 1, 1, "1", 1, white);
        // '1' = [4, 12, 4, 4, 4, 4, 14]: the stem is column 2, the foot spans columns 1–3.
        for row in 0..7 {
            assert_eq!(*img.get_pixel(1 + 2, 1 + row), white, "row {row}");
        }
        assert_eq!(*img.get_pixel(1 + 1, 1 + 6), white);
        assert_eq!(*img.get_pixel(1, 1), Rgb([0, 0, 0]));
        let lit = img.pixels().filter(|p| p.0 == [255, 255, 255]).count();
        assert_eq!(lit, [4u8, 12, 4, 4, 4, 4, 14].iter().map(|b| b.count_ones() as usize).sum::<usize>());
        assert_eq!(text_width("ab", 2), (6 + 5) * 2);
    }

    #[test]
    fn every_tag_character_has_a_glyph() {
        for e in Expression::ALL {
            for c in e.name().chars() {
                assert_ne!(glyph(c), [0; 7], "{c} of {}", e.name());
            }
        }
        for c in "0123456789#%".chars() {
            assert_ne!(glyph(c), [0; 7], "{c}");
        }
    }

    #[test]
    fn drawing_is_clipped_to_the_image() {
        let mut img = RgbImage::new(4, 3);
        fill_rect(&mut img, 2, 1, 100, 100, Rgb([9, 9, 9]));
        assert_eq!(img.pixels().filter(|p| p.0 == [9, 9, 9]).count(), 2 * 2);
        draw_text(&mut img, u32::MAX - 3, u32::MAX - 3, "88", 3, Rgb([1, 2, 3]));
        blend_rect(&mut img, 0, 0, 9, 9, Rgb([255, 255, 255]), 0.5);
        assert_eq!(img.get_pixel(0, 0).0, [128, 128, 128]);
        // Faces partly or wholly outside, and degenerate images, do not panic.
        for (x, y, side) in [(-50.0, -50.0, 80.0), (2.0, 2.0, 500.0), (1e9, 1e9, 10.0), (f32::NAN, 0.0, 5.0)] {
            for (w, h) in [(1, 1), (4, 3), (64, 48)] {
                let mut img = RgbImage::new(w, h);
                draw_face_overlay(&mut img, &face(x, y, side, Expression::Sad, 0.5), 2);
            }
        }
    }

    #[test]
    fn overlay_draws_box_tag_and_bars_in_class_colours() {
        let mut img = RgbImage::from_pixel(200, 150, Rgb([255, 255, 255]));
        let f = face(60.0, 40.0, 50.0, Expression::Happy, 0.9);
        assert_eq!(f.tag(), "#3 happy 90%");
        draw_face_overlay(&mut img, &f, 1);
        let green = hex(EXPRESSION_COLORS[Expression::Happy.index()]);
        // Box edges (3 px lines at scale 1) in the label's colour; the inside untouched.
        assert_eq!(*img.get_pixel(60, 65), green);
        assert_eq!(*img.get_pixel(109, 65), green);
        assert_eq!(*img.get_pixel(85, 41), green);
        assert_eq!(*img.get_pixel(85, 65), Rgb([255, 255, 255]));
        // Tag above the box: label-coloured background with white text.
        let l = layout(&f, &f.tag(), 1, 200, 150);
        assert_eq!(l.tag[3], 40, "tag sits on the box's top edge");
        let tag_px: Vec<Rgb<u8>> = (l.tag[0]..l.tag[2]).flat_map(|x| (l.tag[1]..l.tag[3]).map(move |y| (x, y))).map(|(x, y)| *img.get_pixel(x, y)).collect();
        assert!(tag_px.contains(&green) && tag_px.contains(&Rgb([255, 255, 255])));
        // Bars below the box: the happy bar is the tallest and in happy's colour.
        assert_eq!(l.bars[1], 90, "bars start under the box");
        let column_height = |k: u32| {
            let x = l.bars[0] + pad(1) + k * (bar_width(1) + 1) + 1;
            (l.bars[1]..l.bars[3]).filter(|&y| *img.get_pixel(x, y) == hex(EXPRESSION_COLORS[k as usize])).count()
        };
        let heights: Vec<usize> = (0..7).map(column_height).collect();
        assert_eq!(heights[3], 14, "0.9 × 16 px, rounded: {heights:?}");
        assert!(heights.iter().enumerate().all(|(k, &h)| k == 3 || (1..=2).contains(&h)), "{heights:?}");
    }

    #[test]
    fn tag_and_bars_move_inside_at_the_image_edges() {
        let f = face(0.0, 0.0, 40.0, Expression::Neutral, 1.0);
        let l = layout(&f, &f.tag(), 1, 40, 40);
        assert_eq!(l.tag[1], 0, "no room above: inside the top edge");
        assert_eq!(l.bars[3], 40, "no room below: inside the bottom edge");
        assert_eq!(overlay_scale(596, 336), 1);
        assert_eq!(overlay_scale(1280, 720), 2);
        assert_eq!(overlay_scale(1920, 1080), 3);
    }

    /// The pixels of `img` equal to `color`.
    fn pixels_of(img: &RgbImage, color: Rgb<u8>) -> Vec<(u32, u32)> {
        img.enumerate_pixels().filter(|(_, _, p)| **p == color).map(|(x, y, _)| (x, y)).collect()
    }

    #[test]
    fn discs_are_round_centred_on_the_nearest_pixel_and_clipped() {
        let red = Rgb([255, 0, 0]);
        let mut img = RgbImage::new(20, 20);
        fill_disc(&mut img, 5.4, 6.6, 1, red);
        assert_eq!(pixels_of(&img, red), [(5, 6), (4, 7), (5, 7), (6, 7), (5, 8)], "a plus around (5, 7)");
        let mut img = RgbImage::new(20, 20);
        fill_disc(&mut img, 10.0, 10.0, 2, red);
        assert_eq!(pixels_of(&img, red).len(), 25 - 4, "5×5 less the corners");
        assert_eq!(*img.get_pixel(8, 8), Rgb([0, 0, 0]));
        let mut img = RgbImage::new(4, 4);
        fill_disc(&mut img, 0.0, 0.0, 1, red);
        assert_eq!(pixels_of(&img, red), [(0, 0), (1, 0), (0, 1)]);
        for (x, y) in [(-1e9, 3.0), (f32::NAN, 1.0), (2.0, f32::INFINITY), (1e30, 1e30)] {
            fill_disc(&mut img, x, y, 3, red);
        }
        assert_eq!(pixels_of(&img, red).len(), 3, "nothing drawn off the image");
    }

    #[test]
    fn landmarks_are_white_dots_in_a_dark_ring_sized_by_the_face() {
        let grey = Rgb([128, 128, 128]);
        let points = [[70.0, 55.0], [95.0, 55.0], [82.0, 68.0], [72.0, 78.0], [93.0, 78.0]];
        let mut f = face(60.0, 40.0, 50.0, Expression::Happy, 0.9);
        f.landmarks = Some(points);
        let mut img = RgbImage::from_pixel(200, 150, grey);
        draw_landmarks(&mut img, &f);
        assert_eq!(landmark_radius(50.0), 1);
        // Radius 1 (a plus of 5 pixels) in a radius-2 ring: 21 - 5 = 16 ring pixels per point.
        let white = pixels_of(&img, LANDMARK_FILL);
        assert_eq!(white.len(), 5 * 5);
        assert_eq!(pixels_of(&img, LANDMARK_OUTLINE).len(), 5 * 16);
        for [x, y] in points {
            let (x, y) = (x as u32, y as u32);
            for (px, py) in [(x, y), (x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)] {
                assert!(white.contains(&(px, py)), "({px}, {py}) of ({x}, {y})");
            }
            for (px, py) in [(x - 2, y), (x + 2, y), (x - 1, y - 1), (x + 1, y + 1)] {
                assert_eq!(*img.get_pixel(px, py), LANDMARK_OUTLINE, "ring at ({px}, {py})");
            }
            assert_eq!(*img.get_pixel(x + 3, y), grey, "nothing beyond the ring");
        }
        assert_eq!(landmark_radius(150.0), 3, "bigger faces, bigger dots");
        assert_eq!(landmark_radius(20.0), 0, "a single pixel in a plus-shaped ring");
        assert_eq!(landmark_radius(1e6), 6);
        assert_eq!(landmark_radius(f32::NAN), 1);
    }

    #[test]
    fn the_overlay_draws_landmarks_only_when_present() {
        let overlay_on_grey = |f: &FaceOverlay| {
            let mut img = RgbImage::from_pixel(200, 150, Rgb([90, 90, 90]));
            draw_face_overlay(&mut img, f, 1);
            img
        };
        let mut f = face(60.0, 40.0, 50.0, Expression::Sad, 0.8);
        let without = overlay_on_grey(&f);
        f.landmarks = Some([[75.0, 58.0], [95.0, 58.0], [85.0, 68.0], [77.0, 78.0], [93.0, 78.0]]);
        let with = overlay_on_grey(&f);
        let changed: Vec<(u32, u32)> = with.enumerate_pixels().filter(|&(x, y, p)| p != without.get_pixel(x, y)).map(|(x, y, _)| (x, y)).collect();
        assert_eq!(changed.len(), 5 * 21, "five dots with their rings, nothing else");
        assert!(changed.iter().all(|&(x, y)| (72..=97).contains(&x) && (55..=81).contains(&y)));
        assert_eq!(*with.get_pixel(85, 68), LANDMARK_FILL);
        assert_eq!(*without.get_pixel(85, 68), Rgb([90, 90, 90]));
    }
}

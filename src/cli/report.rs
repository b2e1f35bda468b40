//! `fer-batch report`: results → self-contained HTML.

use anyhow::Context as _;

use super::Status;
use super::args::{GlobalArgs, ReportArgs};
use crate::report::{ReportData, render_html};

pub(super) fn run(a: ReportArgs, g: &GlobalArgs) -> anyhow::Result<Status> {
    let mut data = ReportData::load(&a.results)?;
    if let Some(video) = &a.thumbnails {
        let thumbs = crate::annotate::thumbnails(video, &a.results, a.thumbnail_count, 480)?;
        data.thumbnails = thumbs.into_iter().map(|t| (format!("frame {} at {:.1} s, {} face(s)", t.frame_index, t.timestamp_s, t.faces), t.png)).collect();
    }
    let title = a.title.clone().unwrap_or_else(|| format!("fer-batch report: {}", a.results.display()));
    let html = render_html(&data, &title);
    let tmp = a.out.with_extension("html.tmp");
    std::fs::write(&tmp, html).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &a.out).with_context(|| format!("writing {}", a.out.display()))?;
    if let Some(png) = &a.png {
        let videos: Vec<(&str, &[crate::report::WindowPoint])> = data.windows.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect();
        let img = crate::report::png::timeline_png(&videos);
        let tmp = png.with_extension("png.tmp");
        img.save_with_format(&tmp, image::ImageFormat::Png).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, png).with_context(|| format!("writing {}", png.display()))?;
    }
    if !g.quiet {
        eprintln!("fer-batch: report written to {} ({} video(s))", a.out.display(), data.windows.len());
    }
    Ok(Status::Success)
}

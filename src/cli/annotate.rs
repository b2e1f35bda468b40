//! `fer-batch annotate VIDEO --results R --out OUT.mp4`, and `fer-batch run VIDEO --annotate
//! OUT.mp4`, which runs the pipeline and then does the same (see [`crate::annotate`]).

use anyhow::bail;

use super::Status;
use super::args::{AnnotateArgs, GlobalArgs, RunArgs};
use crate::annotate::{annotate_video, check_output};

pub(super) fn run(a: AnnotateArgs, g: &GlobalArgs) -> anyhow::Result<Status> {
    annotate(&a.video, &a.results, &a.out, g)?;
    Ok(Status::Success)
}

/// `fer-batch run`, followed by the annotated video when `--annotate` is given and the run
/// succeeded. `--annotate` takes exactly one video file; that and the output are checked before
/// anything is decoded.
pub(super) fn run_then_annotate(a: RunArgs, g: &GlobalArgs) -> anyhow::Result<Status> {
    let Some(out) = a.annotate.clone() else {
        return super::run::run(a, g);
    };
    let video = match a.inputs.as_slice() {
        [video] if video.is_file() => video.clone(),
        inputs => {
            bail!("--annotate needs exactly one video file as input (got {} input(s){})", inputs.len(), if inputs.len() == 1 { ", not a file" } else { "" })
        }
    };
    check_output(&video, &out)?;
    let results = a.out.clone();
    let status = super::run::run(a, g)?;
    if status != Status::Success {
        eprintln!("fer-batch: the run did not complete; no annotated video was written");
        return Ok(status);
    }
    annotate(&video, &results, &out, g)?;
    Ok(status)
}

fn annotate(video: &std::path::Path, results: &std::path::Path, out: &std::path::Path, g: &GlobalArgs) -> anyhow::Result<()> {
    let s = annotate_video(video, results, out)?;
    if s.unreached_frames > 0 {
        eprintln!("fer-batch: warning: {} analysed frame(s) in {} lie past the end of the decoded video", s.unreached_frames, s.table.display());
    }
    if !g.quiet {
        eprintln!(
            "fer-batch: annotated video written in {:.1}s: {} frames ({}x{}, {}), faces drawn on {} of them ({} boxes).\n  video: {}",
            s.seconds,
            s.frames,
            s.width,
            s.height,
            s.encoder,
            s.frames_with_faces,
            s.faces_drawn,
            s.out.display()
        );
    }
    Ok(())
}

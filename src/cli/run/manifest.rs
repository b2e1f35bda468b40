//! `--manifest FILE`: a list of input videos with their camera name and recording start.
//!
//! One input per line, `path[,camera[,start_utc]]`:
//!
//! ```text
//! # nightly upload, hall cameras
//! 2024-05-01/hall-1.mp4,hall-1,2024-05-01T08:30:00Z
//! 2024-05-01/hall-2.mp4,hall-2
//! /archive/door.mkv,,2024-05-01T09:00:00+02:00
//! "odd, name.mp4",front
//! ```
//!
//! - Blank lines and lines starting with `#` are ignored; fields are trimmed.
//! - A field may be quoted with `"` (write `""` for a quote inside), e.g. a path with a comma.
//! - Relative paths are relative to the manifest's directory, not the working directory.
//! - An empty camera or start field means "not given" (the camera then comes from `--camera`,
//!   the start from the container's `creation_time`).
//! - `start_utc` is RFC 3339 (`2024-05-01T08:30:00Z`, fractional seconds and `±HH:MM` allowed).
//!
//! Any malformed line is an error that names the file and the line number.

use std::path::{Path, PathBuf};

use crate::pipeline::VideoInput;
use crate::pipeline::output::parse_utc_micros;

/// Errors reading a manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file cannot be read.
    #[error("cannot read manifest {path}")]
    Read {
        /// The manifest.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A line does not follow `path[,camera[,start_utc]]`.
    #[error("{path}:{line}: {reason}")]
    Line {
        /// The manifest.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The manifest lists no input.
    #[error("manifest {path} lists no input")]
    Empty {
        /// The manifest.
        path: PathBuf,
    },
}

/// Reads the manifest at `path` into inputs, in file order.
pub fn read_manifest(path: &Path) -> Result<Vec<VideoInput>, ManifestError> {
    let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read { path: path.to_path_buf(), source })?;
    let base = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let inputs = parse_manifest(&text, base).map_err(|(line, reason)| ManifestError::Line { path: path.to_path_buf(), line, reason })?;
    if inputs.is_empty() {
        return Err(ManifestError::Empty { path: path.to_path_buf() });
    }
    Ok(inputs)
}

/// Parses manifest text; relative paths are joined to `base`. Errors are `(line, reason)`.
fn parse_manifest(text: &str, base: &Path) -> Result<Vec<VideoInput>, (usize, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields = split_fields(line).map_err(|r| (i + 1, r))?;
        if fields.len() > 3 {
            return Err((i + 1, format!("{} fields; expected path[,camera[,start_utc]] (quote a path that contains a comma)", fields.len())));
        }
        let mut fields = fields.into_iter();
        let file = fields.next().unwrap_or_default();
        if file.is_empty() {
            return Err((i + 1, "empty path".to_owned()));
        }
        let camera = fields.next().filter(|c| !c.is_empty());
        let start_utc = fields.next().filter(|s| !s.is_empty());
        if let Some(s) = &start_utc
            && parse_utc_micros(s).is_none()
        {
            return Err((i + 1, format!("start time {s:?} is not an RFC 3339 time such as 2024-05-01T08:30:00Z")));
        }
        let file = PathBuf::from(file);
        let path = if file.is_absolute() { file } else { base.join(file) };
        out.push(VideoInput { path, camera, start_utc });
    }
    Ok(out)
}

/// Splits one line on commas, honouring `"`-quoted fields; fields are trimmed.
fn split_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        let mut field = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    Some('"') if chars.next_if_eq(&'"').is_some() => field.push('"'),
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("unterminated quoted field".to_owned()),
                }
            }
            while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
            if chars.peek().is_some_and(|c| *c != ',') {
                return Err("text after a closing quote".to_owned());
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                field.push(c);
            }
            field.truncate(field.trim_end().len());
        }
        fields.push(field);
        if chars.next().is_none() {
            return Ok(fields);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<VideoInput>, (usize, String)> {
        parse_manifest(text, Path::new("/data/manifests"))
    }

    #[test]
    fn fields_comments_and_relative_paths() {
        let v = parse("\u{feff}# header\n\n  a.mp4  \nsub/b c.mp4, cam 2 ,2024-05-01T08:30:00Z\r\n/abs/ü.mkv,,2024-05-01T10:30:00+02:00\n\"x, y.mp4\",door\n")
            .unwrap();
        assert_eq!(v.len(), 4);
        assert_eq!(v[0], VideoInput { path: "/data/manifests/a.mp4".into(), camera: None, start_utc: None });
        assert_eq!(v[1].path, Path::new("/data/manifests/sub/b c.mp4"));
        assert_eq!(v[1].camera.as_deref(), Some("cam 2"));
        assert_eq!(v[1].start_utc.as_deref(), Some("2024-05-01T08:30:00Z"));
        assert_eq!(v[2].path, Path::new("/abs/ü.mkv"));
        assert_eq!(v[2].camera, None);
        assert_eq!(v[3].path, Path::new("/data/manifests/x, y.mp4"));
        assert_eq!(v[3].camera.as_deref(), Some("door"));
    }

    #[test]
    fn malformed_lines_name_their_number() {
        assert_eq!(parse("a.mp4\nb.mp4,cam,2024-05-01T08:30:00Z,extra\n").unwrap_err().0, 2);
        assert_eq!(parse("# c\n\nb.mp4,cam,yesterday\n").unwrap_err().0, 3);
        assert!(parse("b.mp4,cam,yesterday\n").unwrap_err().1.contains("yesterday"));
        assert_eq!(parse(",cam\n").unwrap_err().0, 1);
        assert_eq!(parse("\"open.mp4,cam\n").unwrap_err().0, 1);
        assert_eq!(parse("\"a\"b.mp4\n").unwrap_err().0, 1);
    }

    #[test]
    fn split_fields_handles_quotes() {
        assert_eq!(split_fields("a,b,c").unwrap(), ["a", "b", "c"]);
        assert_eq!(split_fields("a,,").unwrap(), ["a", "", ""]);
        assert_eq!(split_fields(r#""say ""hi""" , x"#).unwrap(), [r#"say "hi""#, "x"]);
    }
}

//! The decode stage's error: why a video could not be opened or decoded.
//!
//! Every variant carries the file's path and every message names it on one line, so callers
//! can log an error once and move on to the next video (ripgrep's `err_message!`).

use std::path::{Path, PathBuf};

/// Why a video could not be opened or decoded. Every message names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The path does not exist.
    #[error("{}: no such file", .path.display())]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// The file exists but may not be read.
    #[error("{}: permission denied", .path.display())]
    PermissionDenied {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be opened for another reason (a directory, an I/O error, …).
    #[error("{}: cannot open: {reason}", .path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The file has zero bytes.
    #[error("{}: file is empty (0 bytes)", .path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// FFmpeg does not recognise the file as a media container.
    #[error("{}: not a recognised media file ({reason})", .path.display())]
    NotMedia {
        /// The file.
        path: PathBuf,
        /// What FFmpeg reported.
        reason: String,
    },
    /// The container holds no video stream (e.g. audio only).
    #[error("{}: no video stream (streams found: {found})", .path.display())]
    NoVideoStream {
        /// The file.
        path: PathBuf,
        /// The kinds of stream that are present, e.g. `audio`, or `none`.
        found: String,
    },
    /// FFmpeg has no working decoder for the video codec.
    #[error("{}: unsupported video codec `{codec}` ({reason})", .path.display())]
    UnsupportedCodec {
        /// The file.
        path: PathBuf,
        /// FFmpeg's codec name.
        codec: String,
        /// What FFmpeg reported.
        reason: String,
    },
    /// Frames are larger than [`DecodeOptions::max_pixels`](super::DecodeOptions::max_pixels).
    #[error(
        "{}: frame size {width}x{height} exceeds the limit of {max_pixels} pixels",
        .path.display()
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Frame width claimed by the stream.
        width: u64,
        /// Frame height claimed by the stream.
        height: u64,
        /// The configured limit.
        max_pixels: u64,
    },
    /// Decoding failed: nothing decodes, or reading stopped part-way.
    #[error("{}: decode failed: {reason}", .path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// [`DecodeOptions`](super::DecodeOptions) are unusable.
    #[error("{}: invalid decode options: {reason}", .path.display())]
    InvalidOptions {
        /// The file.
        path: PathBuf,
        /// Which option and why.
        reason: String,
    },
}

impl DecodeError {
    /// The error for a failed file-system operation on `path`: [`DecodeError::NotFound`],
    /// [`DecodeError::PermissionDenied`], else [`DecodeError::Open`].
    pub fn from_io(path: &Path, err: &std::io::Error) -> Self {
        let path = path.to_owned();
        match err.kind() {
            std::io::ErrorKind::NotFound => Self::NotFound { path },
            std::io::ErrorKind::PermissionDenied => Self::PermissionDenied { path },
            _ => Self::Open { path, reason: err.to_string() },
        }
    }

    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::NotFound { path }
            | Self::PermissionDenied { path }
            | Self::Open { path, .. }
            | Self::Empty { path }
            | Self::NotMedia { path, .. }
            | Self::NoVideoStream { path, .. }
            | Self::UnsupportedCodec { path, .. }
            | Self::TooLarge { path, .. }
            | Self::Decode { path, .. }
            | Self::InvalidOptions { path, .. } => path,
        }
    }
}

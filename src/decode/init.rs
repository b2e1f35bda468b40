//! FFmpeg's process-wide set-up: [`init`] and the route of FFmpeg's own log into `tracing`
//! (video-rs `src/init.rs` + `src/ffi.rs::init_logging`).
//!
//! The callback is installed only where the C `va_list` ABI is known (SysV x86_64); elsewhere
//! FFmpeg prints its errors itself.

use std::cell::{Cell, RefCell};
use std::ffi::{CStr, c_char, c_int, c_void};
use std::sync::Once;

use ff::ffi as av_sys;
use ffmpeg_next as ff;

/// Initialises FFmpeg once per process and routes its log into `tracing` (target `ffmpeg`).
///
/// Idempotent and cheap after the first call; [`Decoder::open`](super::Decoder::open) calls it
/// too. FFmpeg errors and warnings become `debug` events (the decoder reports failures
/// itself), fatal messages `error`, info `trace`; FFmpeg's verbose and debug output is dropped.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if let Err(err) = ff::init() {
            tracing::warn!("ffmpeg init failed: {err:?}");
        }
        install_log_callback();
    });
}

#[cfg(all(target_arch = "x86_64", not(windows)))]
thread_local! {
    /// `print_prefix` state that `av_log_format_line2` keeps between calls on one thread.
    static LOG_PRINT_PREFIX: Cell<c_int> = const { Cell::new(1) };
    /// A partial FFmpeg log line (FFmpeg sometimes logs one line in several calls).
    static LOG_LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// How bindgen spells a C `va_list` parameter on SysV x86_64 (an array decays to a pointer).
#[cfg(all(target_arch = "x86_64", not(windows)))]
type AvVaListArg = *mut av_sys::__va_list_tag;

/// Routes FFmpeg's log into `tracing` where the `va_list` ABI is known; elsewhere only lets
/// FFmpeg print errors.
fn install_log_callback() {
    // SAFETY: sets FFmpeg's global log level and callback; `log_to_tracing` is a valid
    // `extern "C"` function for the whole program and does not unwind into C.
    #[cfg(all(target_arch = "x86_64", not(windows)))]
    unsafe {
        av_sys::av_log_set_level(av_sys::AV_LOG_INFO);
        av_sys::av_log_set_callback(Some(log_to_tracing));
    }
    // SAFETY: sets FFmpeg's global log level.
    #[cfg(not(all(target_arch = "x86_64", not(windows))))]
    unsafe {
        av_sys::av_log_set_level(av_sys::AV_LOG_ERROR);
    }
}

/// FFmpeg log callback: formats the message and emits it as a `tracing` event.
#[cfg(all(target_arch = "x86_64", not(windows)))]
unsafe extern "C" fn log_to_tracing(avcl: *mut c_void, level: c_int, fmt: *const c_char, args: AvVaListArg) {
    use tracing::Level;
    let tracing_level = if level <= av_sys::AV_LOG_FATAL {
        Level::ERROR
    } else if level <= av_sys::AV_LOG_WARNING {
        Level::DEBUG
    } else if level <= av_sys::AV_LOG_INFO {
        Level::TRACE
    } else {
        return;
    };
    let enabled = match tracing_level {
        Level::ERROR => tracing::enabled!(target: "ffmpeg", Level::ERROR),
        Level::DEBUG => tracing::enabled!(target: "ffmpeg", Level::DEBUG),
        _ => tracing::enabled!(target: "ffmpeg", Level::TRACE),
    };
    if !enabled || fmt.is_null() {
        return;
    }

    let mut buf = [0 as c_char; 1024];
    let mut print_prefix = LOG_PRINT_PREFIX.try_with(Cell::get).unwrap_or(1);
    // SAFETY: `buf` is writable for its full length, `fmt`/`args` come straight from FFmpeg
    // and are consumed exactly once, and the function always NUL-terminates `buf`.
    let written = unsafe { av_sys::av_log_format_line2(avcl, level, fmt, args, buf.as_mut_ptr(), buf.len() as c_int, &mut print_prefix) };
    LOG_PRINT_PREFIX.try_with(|p| p.set(print_prefix)).ok();
    if written < 0 {
        return;
    }
    // SAFETY: NUL-terminated by `av_log_format_line2` (the last byte is never overwritten).
    let part = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy();

    LOG_LINE
        .try_with(|line| {
            let Ok(mut line) = line.try_borrow_mut() else {
                return;
            };
            line.push_str(&part);
            if !line.ends_with('\n') && line.len() < 4096 {
                return;
            }
            let message = line.trim_end();
            match tracing_level {
                Level::ERROR => tracing::error!(target: "ffmpeg", "{message}"),
                Level::DEBUG => tracing::debug!(target: "ffmpeg", "{message}"),
                _ => tracing::trace!(target: "ffmpeg", "{message}"),
            }
            line.clear();
        })
        .ok();
}

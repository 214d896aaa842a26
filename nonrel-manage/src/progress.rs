//! Progress bars on standard error, drawn only when it is a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::io::{self, IsTerminal, Read, Write};
use std::time::Duration;

/// Whether bars are drawn: standard error is a terminal and `--quiet` was not given.
pub(crate) fn drawn(quiet: bool) -> bool {
    !quiet && io::stderr().is_terminal()
}

fn target(draw: bool) -> ProgressDrawTarget {
    if draw {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

/// A bar over `len` records: the count, the rate and the time left.
pub(crate) fn records(draw: bool, what: &str, len: u64) -> ProgressBar {
    let style = ProgressStyle::with_template("{msg} [{bar:30}] {human_pos}/{human_len} records, {rate}, {eta} left")
        .expect("a valid template")
        .with_key("rate", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.0}/s", state.per_sec());
        })
        .progress_chars("=> ");
    ProgressBar::with_draw_target(Some(len), target(draw)).with_style(style).with_message(what.to_owned())
}

/// A bar over `len` bytes read.
pub(crate) fn bytes(draw: bool, what: &str, len: u64) -> ProgressBar {
    let style = ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes}, {bytes_per_sec}, {eta} left")
        .expect("a valid template")
        .progress_chars("=> ");
    ProgressBar::with_draw_target(Some(len), target(draw)).with_style(style).with_message(what.to_owned())
}

/// A spinner for work whose size is not known beforehand, with the time it has taken.
pub(crate) fn spinner(draw: bool, what: &str) -> ProgressBar {
    let style = ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("a valid template");
    let bar = ProgressBar::with_draw_target(None, target(draw)).with_style(style).with_message(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// A writer that advances a bar by one for each line written.
pub(crate) struct LineCounter<W> {
    pub(crate) inner: W,
    pub(crate) bar: ProgressBar,
}

impl<W: Write> Write for LineCounter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bar.inc(buf[..n].iter().filter(|&&b| b == b'\n').count() as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that advances a bar by the bytes read.
pub(crate) struct ByteCounter<R> {
    pub(crate) inner: R,
    pub(crate) bar: ProgressBar,
}

impl<R: Read> Read for ByteCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

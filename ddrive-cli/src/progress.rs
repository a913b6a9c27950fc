//! Progress of a long command: an indicatif bar (files, bytes, rate, ETA) when stderr is a
//! terminal, a plain line a second otherwise, and `status` JSON Lines with `--json`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::output::Out;

/// How often plain lines and JSON status lines are printed.
const EVERY: Duration = Duration::from_secs(1);

pub(crate) struct Progress {
    out: Out,
    verb: &'static str,
    bar: Option<ProgressBar>,
    files_total: u64,
    files_done: u64,
    bytes_total: u64,
    bytes_done: u64,
    started: Instant,
    last: Instant,
}

impl Progress {
    pub(crate) fn new(out: Out, verb: &'static str) -> Progress {
        let terminal = !out.json
            && std::io::stderr().is_terminal()
            && std::env::var("TERM").map_or(true, |t| t != "dumb");
        let bar = terminal.then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{prefix} [{bar:30}] {msg} files, {binary_bytes}/{binary_total_bytes} \
                 ({binary_bytes_per_sec}, ETA {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(verb);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let now = Instant::now();
        Progress {
            out,
            verb,
            bar,
            files_total: 0,
            files_done: 0,
            bytes_total: 0,
            bytes_done: 0,
            started: now,
            last: now,
        }
    }

    /// More work found.
    pub(crate) fn add_total(&mut self, files: u64, bytes: u64) {
        self.files_total += files;
        self.bytes_total += bytes;
        if let Some(bar) = &self.bar {
            bar.set_length(self.bytes_total);
        }
        self.show(false);
    }

    /// Work done.
    pub(crate) fn done(&mut self, files: u64, bytes: u64) {
        self.files_done += files;
        self.bytes_done += bytes;
        if let Some(bar) = &self.bar {
            bar.set_position(self.bytes_done);
        }
        self.show(false);
    }

    fn seconds_remaining(&self) -> Option<u64> {
        let elapsed = self.started.elapsed().as_secs_f64();
        if self.bytes_done == 0 || elapsed == 0.0 {
            return None;
        }
        let rate = self.bytes_done as f64 / elapsed;
        Some(((self.bytes_total.saturating_sub(self.bytes_done)) as f64 / rate) as u64)
    }

    fn show(&mut self, force: bool) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{}/{}", self.files_done, self.files_total));
            return;
        }
        if !force && self.last.elapsed() < EVERY {
            return;
        }
        self.last = Instant::now();
        let percent = if self.bytes_total > 0 {
            self.bytes_done as f64 * 100.0 / self.bytes_total as f64
        } else if self.files_total > 0 {
            self.files_done as f64 * 100.0 / self.files_total as f64
        } else {
            100.0
        };
        if self.out.json {
            self.out.line(
                "status",
                json!({"percent_done": (percent * 10.0).round() / 10.0,
                       "files_done": self.files_done, "total_files": self.files_total,
                       "bytes_done": self.bytes_done, "total_bytes": self.bytes_total,
                       "seconds_elapsed": self.started.elapsed().as_secs(),
                       "seconds_remaining": self.seconds_remaining()}),
            );
        } else {
            eprintln!(
                "{}: {}/{} files, {}/{} ({percent:.0}%)",
                self.verb,
                self.files_done,
                self.files_total,
                HumanBytes(self.bytes_done),
                HumanBytes(self.bytes_total)
            );
        }
    }

    /// Prints the last state and clears the bar.
    pub(crate) fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.set_message(format!("{}/{}", self.files_done, self.files_total));
            bar.finish();
        } else if self.files_total > 0 {
            self.show(true);
        }
    }

    pub(crate) fn files_done(&self) -> u64 {
        self.files_done
    }

    pub(crate) fn bytes_done(&self) -> u64 {
        self.bytes_done
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

//! Showing an image pull's progress on standard error, as `docker pull` does: on a terminal
//! one progress bar per layer (`indicatif`), otherwise one plain line per layer state change,
//! so that logs of scripted pulls stay short. Standard output is left to the command's result
//! (`berth create` prints the container id there, which scripts capture).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use berth_runtime::image::{Image, ImageStore, LayerStatus, PullEvent};
use indicatif::{MultiProgress, ProgressBar, ProgressState, ProgressStyle};

use super::image::human_size;

/// Pull `reference` into `store`, showing progress on standard error.
pub async fn pull(store: &ImageStore, reference: &str) -> berth_runtime::Result<Image> {
    if std::io::stderr().is_terminal() {
        let bars = Bars::new();
        let result = store
            .pull_with_progress(reference, &|e| bars.handle(&e))
            .await;
        bars.finish();
        result
    } else {
        let plain = Mutex::new(Plain::default());
        store
            .pull_with_progress(reference, &|e| {
                // A panic elsewhere while holding the lock leaves the state usable.
                let lines = plain.lock().unwrap_or_else(|p| p.into_inner()).lines(&e);
                for line in lines {
                    eprintln!("{line}");
                }
            })
            .await
    }
}

/// A digest as Docker shows a layer: its first 12 hex digits.
pub fn short_digest(digest: &str) -> &str {
    let hex = digest.split_once(':').map_or(digest, |(_, hex)| hex);
    hex.get(..12).unwrap_or(hex)
}

/// What a layer status is called on a line of its own; byte counts are not part of it, so
/// that each state is one line however long the download takes.
fn status_text(status: &LayerStatus) -> &'static str {
    match status {
        LayerStatus::AlreadyExists => "Already exists",
        LayerStatus::Downloading { .. } => "Downloading",
        LayerStatus::Downloaded => "Download complete",
        LayerStatus::Unpacking => "Extracting",
        LayerStatus::Done => "Pull complete",
    }
}

/// Plain-text progress: a line per layer when it is listed (`Pulling fs layer`) and whenever
/// its state changes, never one per byte count.
#[derive(Default)]
pub struct Plain {
    /// Each layer's last state shown.
    shown: HashMap<String, &'static str>,
}

impl Plain {
    /// The lines to print for `event` (often none).
    pub fn lines(&mut self, event: &PullEvent) -> Vec<String> {
        match event {
            PullEvent::Resolved { layers, .. } => layers
                .iter()
                .map(|l| {
                    self.shown.insert(l.digest.clone(), "Pulling fs layer");
                    format!("{}: Pulling fs layer", short_digest(&l.digest))
                })
                .collect(),
            PullEvent::Layer { digest, status } => {
                let text = status_text(status);
                if self.shown.insert(digest.clone(), text) == Some(text) {
                    return Vec::new();
                }
                vec![format!("{}: {text}", short_digest(digest))]
            }
            // The caller prints the result.
            _ => Vec::new(),
        }
    }
}

/// Terminal progress: a bar per layer while it downloads, its state otherwise.
struct Bars {
    multi: MultiProgress,
    /// Each layer's bar, and whether it is styled as downloading.
    bars: Mutex<HashMap<String, (ProgressBar, bool)>>,
}

impl Bars {
    fn new() -> Bars {
        Bars {
            multi: MultiProgress::new(),
            bars: Mutex::new(HashMap::new()),
        }
    }

    fn text_style() -> ProgressStyle {
        // A template without user input: it parses.
        ProgressStyle::with_template("{prefix}: {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
    }

    fn download_style() -> ProgressStyle {
        ProgressStyle::with_template("{prefix}: {msg} [{bar:50}] {sizes}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ")
            // Docker's units (`12.3MB/50.1MB`), as `berth image ls` shows sizes.
            .with_key("sizes", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let total = s.len().unwrap_or(0);
                let _ = write!(w, "{}/{}", human_size(s.pos()), human_size(total));
            })
    }

    fn handle(&self, event: &PullEvent) {
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            PullEvent::Resolved { layers, .. } => {
                for l in layers {
                    // Styled before it is added, which draws it: no bare first frame.
                    let bar = ProgressBar::new(l.size)
                        .with_style(Self::text_style())
                        .with_prefix(short_digest(&l.digest).to_string())
                        .with_message("Pulling fs layer");
                    let bar = self.multi.add(bar);
                    bars.insert(l.digest.clone(), (bar, false));
                }
            }
            PullEvent::Layer { digest, status } => {
                let Some((bar, downloading)) = bars.get_mut(digest) else {
                    return;
                };
                match *status {
                    LayerStatus::Downloading { current, total } => {
                        if !*downloading {
                            bar.set_style(Self::download_style());
                            bar.set_message("Downloading");
                            *downloading = true;
                        }
                        bar.set_length(total);
                        bar.set_position(current);
                    }
                    other => {
                        if *downloading {
                            bar.set_style(Self::text_style());
                            *downloading = false;
                        }
                        let text = status_text(&other);
                        if matches!(other, LayerStatus::Done | LayerStatus::AlreadyExists) {
                            bar.finish_with_message(text);
                        } else {
                            bar.set_message(text);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// Leave the bars of a failed pull where they stopped.
    fn finish(&self) {
        let bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        for (bar, _) in bars.values() {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use berth_runtime::image::LayerInfo;

    use super::*;

    fn layer(digest: &str, status: LayerStatus) -> PullEvent {
        PullEvent::Layer {
            digest: digest.to_string(),
            status,
        }
    }

    #[test]
    fn short_digests() {
        assert_eq!(short_digest("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(short_digest("sha256:abc"), "abc");
        assert_eq!(short_digest("0123456789abcdef"), "0123456789ab");
    }

    #[test]
    fn plain_lines_one_per_state_change() {
        let a = "sha256:aaaaaaaaaaaaaaaa";
        let b = "sha256:bbbbbbbbbbbbbbbb";
        let mut p = Plain::default();
        let mut out = p.lines(&PullEvent::Resolved {
            reference: "x".into(),
            digest: "sha256:m".into(),
            layers: vec![
                LayerInfo {
                    digest: a.into(),
                    size: 30,
                },
                LayerInfo {
                    digest: b.into(),
                    size: 5,
                },
            ],
        });
        out.extend(p.lines(&layer(b, LayerStatus::AlreadyExists)));
        for current in [0, 10, 20, 30] {
            out.extend(p.lines(&layer(a, LayerStatus::Downloading { current, total: 30 })));
        }
        for s in [
            LayerStatus::Downloaded,
            LayerStatus::Unpacking,
            LayerStatus::Done,
        ] {
            out.extend(p.lines(&layer(a, s)));
        }
        out.extend(p.lines(&PullEvent::Done {
            reference: "x".into(),
            digest: "sha256:m".into(),
        }));
        assert_eq!(
            out,
            [
                "aaaaaaaaaaaa: Pulling fs layer",
                "bbbbbbbbbbbb: Pulling fs layer",
                "bbbbbbbbbbbb: Already exists",
                "aaaaaaaaaaaa: Downloading",
                "aaaaaaaaaaaa: Download complete",
                "aaaaaaaaaaaa: Extracting",
                "aaaaaaaaaaaa: Pull complete",
            ]
        );
    }
}

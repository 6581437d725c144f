//! Progress of an image pull, for callers that show it (a CLI progress bar, an API event).
//!
//! [`ImageStore::pull_with_progress`](super::ImageStore::pull_with_progress) reports
//! [`PullEvent`]s to a callback as the pull goes: first [`PullEvent::Resolved`] with the
//! layers the manifest lists, then [`PullEvent::Layer`] events per layer, and
//! [`PullEvent::Done`] last (only when the pull succeeds). Byte counts are throttled
//! ([`Throttle`]) so that the callback costs a fast pull next to nothing.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::AsyncWrite;

/// What a pull reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PullEvent {
    /// The manifest was found: what will be pulled.
    Resolved {
        /// The normalized reference (`docker.io/library/busybox:latest`).
        reference: String,
        /// The image manifest digest (of the platform's manifest, for an image index).
        digest: String,
        /// The image's layers, base layer first.
        layers: Vec<LayerInfo>,
    },
    /// A layer changed state, or downloaded more bytes.
    Layer {
        /// The layer's (compressed blob) digest.
        digest: String,
        /// Where the layer is now.
        status: LayerStatus,
    },
    /// The image is recorded in the store.
    Done {
        /// The normalized reference, as in [`PullEvent::Resolved`].
        reference: String,
        /// The image manifest digest, as in [`PullEvent::Resolved`].
        digest: String,
    },
}

/// A layer as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// The digest of the layer's compressed blob (`sha256:...`).
    pub digest: String,
    /// Size in bytes of the compressed blob (0 when the manifest says nonsense).
    pub size: u64,
}

/// Where a layer is in its pull. Each layer's last status is [`LayerStatus::AlreadyExists`]
/// or [`LayerStatus::Done`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerStatus {
    /// Blob and unpacked snapshot were in the store already: nothing was done for it.
    AlreadyExists,
    /// Bytes downloaded so far of `total`; the first report has `current == 0`, the last
    /// `current` equal to the bytes the registry sent.
    Downloading {
        /// Bytes received so far.
        current: u64,
        /// The blob's size in bytes as the manifest gives it.
        total: u64,
    },
    /// The blob is in the store, digest verified.
    Downloaded,
    /// The layer is being unpacked into its snapshot.
    Unpacking,
    /// Blob and snapshot are in the store.
    Done,
}

/// The callback a pull reports to. Called on the pull's task, so it must be quick (no
/// blocking I/O beyond a terminal write).
pub type Progress<'a> = &'a (dyn Fn(PullEvent) + Send + Sync);

/// At most one byte-count report per this interval, per layer...
pub const REPORT_INTERVAL: Duration = Duration::from_millis(100);
/// ...unless this many bytes arrived since the last one.
pub const REPORT_BYTES: u64 = 1 << 20;

/// Decides which byte counts of one download are worth reporting: the first, then one per
/// [`REPORT_INTERVAL`] or [`REPORT_BYTES`], whichever comes first, and the final count.
#[derive(Debug, Default, Clone)]
pub struct Throttle {
    /// When and at which count the last report was made; `None` before the first.
    last: Option<(Instant, u64)>,
}

impl Throttle {
    /// A throttle that has reported nothing yet, so it reports the next count.
    pub fn new() -> Throttle {
        Throttle::default()
    }

    /// Whether to report `current` bytes of `total` at `now`; if so, it counts as reported.
    pub fn should_report(&mut self, now: Instant, current: u64, total: u64) -> bool {
        let report = match self.last {
            None => true,
            // Never the same count twice (the final report after the last write).
            Some((_, at)) if at == current => false,
            Some((when, at)) => {
                current >= total
                    || current.saturating_sub(at) >= REPORT_BYTES
                    || now.saturating_duration_since(when) >= REPORT_INTERVAL
            }
        };
        if report {
            self.last = Some((now, current));
        }
        report
    }
}

/// An [`AsyncWrite`] that counts the bytes written through it and reports the count of a
/// layer's download, throttled: so that `oci-client`'s `pull_blob`, which verifies the digest
/// as it writes, can be used unchanged.
pub(crate) struct CountingWriter<'a, W> {
    inner: W,
    digest: &'a str,
    total: u64,
    written: u64,
    throttle: Throttle,
    progress: Progress<'a>,
}

impl<'a, W> CountingWriter<'a, W> {
    /// Reports `Downloading { current: 0, .. }` at once, so that a slow first byte shows.
    pub(crate) fn new(
        inner: W,
        digest: &'a str,
        total: u64,
        progress: Progress<'a>,
    ) -> CountingWriter<'a, W> {
        let mut w = CountingWriter {
            inner,
            digest,
            total,
            written: 0,
            throttle: Throttle::new(),
            progress,
        };
        w.report(false);
        w
    }

    /// Report the count if the throttle lets it through, or in any case with `force`
    /// (unless already reported).
    fn report(&mut self, force: bool) {
        let now = Instant::now();
        let due = self.throttle.should_report(now, self.written, self.total);
        let unreported = self.throttle.last.map(|(_, at)| at) != Some(self.written);
        if due || (force && unreported) {
            if force {
                self.throttle.last = Some((now, self.written));
            }
            (self.progress)(PullEvent::Layer {
                digest: self.digest.to_string(),
                status: LayerStatus::Downloading {
                    current: self.written,
                    total: self.total,
                },
            });
        }
    }

    /// Report the final count (if not yet reported) and return the inner writer.
    pub(crate) fn finish(mut self) -> W {
        self.report(true);
        self.inner
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for CountingWriter<'_, W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = res {
            this.written += n as u64;
            this.report(false);
        }
        res
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::io::AsyncWriteExt;

    use super::*;

    #[test]
    fn throttle_reports_first_then_by_time_or_bytes_and_the_end() {
        let t0 = Instant::now();
        let mut t = Throttle::new();
        let total = 10 << 20;
        assert!(t.should_report(t0, 0, total), "the first count");
        assert!(!t.should_report(t0, 0, total), "never the same count twice");
        assert!(!t.should_report(t0 + Duration::from_millis(10), 1000, total));
        assert!(!t.should_report(t0 + Duration::from_millis(99), 2000, total));
        assert!(t.should_report(t0 + REPORT_INTERVAL, 3000, total), "time");
        let t1 = t0 + REPORT_INTERVAL;
        assert!(!t.should_report(t1, 3000 + REPORT_BYTES - 1, total));
        assert!(t.should_report(t1, 3000 + REPORT_BYTES, total), "bytes");
        assert!(t.should_report(t1, total, total), "the end");
        assert!(!t.should_report(t1 + REPORT_INTERVAL, total, total));
    }

    #[tokio::test]
    async fn counting_writer_reports_few_monotonic_counts_ending_at_the_size() {
        let events = Mutex::new(Vec::new());
        let record = |e: PullEvent| events.lock().unwrap().push(e);
        let size = 5u64 << 20;
        let mut w = CountingWriter::new(Vec::new(), "sha256:ab", size, &record);
        // 5 MiB in 4 KiB writes, all within one interval: byte-based reports only.
        for _ in 0..(size / 4096) {
            w.write_all(&[7u8; 4096]).await.unwrap();
        }
        let out = w.finish();
        assert_eq!(out.len() as u64, size);
        let counts: Vec<u64> = events
            .into_inner()
            .unwrap()
            .into_iter()
            .map(|e| match e {
                PullEvent::Layer {
                    status: LayerStatus::Downloading { current, total },
                    ..
                } => {
                    assert_eq!(total, size);
                    current
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(counts.first(), Some(&0));
        assert_eq!(counts.last(), Some(&size));
        assert!(counts.windows(2).all(|w| w[0] < w[1]), "{counts:?}");
        // 0, one per MiB (at most one more per elapsed interval on a slow machine).
        assert!(counts.len() <= 12, "{counts:?}");
    }

    #[test]
    fn finish_reports_a_short_download_once() {
        let events = Mutex::new(Vec::new());
        let record = |e: PullEvent| events.lock().unwrap().push(e);
        let w = CountingWriter::new(Vec::<u8>::new(), "sha256:ab", 0, &record);
        w.finish();
        assert_eq!(events.into_inner().unwrap().len(), 1, "0 of 0, once");
    }
}

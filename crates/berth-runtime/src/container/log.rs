//! Container logs in the CRI format kubelet and `crictl` use: one record per line,
//! `<RFC 3339 nanosecond timestamp> <stdout|stderr> <P|F> <content>`, where `P` marks a
//! partial line (split because it exceeded the buffer, or because the stream ended in the
//! middle) and `F` the record that completes it.

use std::io::Write;

use super::record::format_timestamp;

/// Lines longer than this are split into partial records, as kubelet does.
pub const MAX_RECORD: usize = 16 * 1024;

/// Output stream of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output (also a terminal's output).
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Turns a stream of output chunks into CRI records; holds the unfinished line.
#[derive(Debug)]
pub struct LineSplitter {
    stream: Stream,
    pending: Vec<u8>,
}

impl LineSplitter {
    /// A splitter for one stream.
    pub fn new(stream: Stream) -> LineSplitter {
        LineSplitter {
            stream,
            pending: Vec::new(),
        }
    }

    /// Append the records for `chunk` to `out`, timestamped `now`.
    pub fn push(&mut self, chunk: &[u8], now: jiff::Timestamp, out: &mut Vec<u8>) {
        let ts = format_timestamp(now);
        self.pending.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(nl) = self.pending[start..].iter().position(|&b| b == b'\n') {
            let end = start + nl;
            self.record(&ts, start, end, true, out);
            start = end + 1;
        }
        while self.pending.len() - start >= MAX_RECORD {
            self.record(&ts, start, start + MAX_RECORD, false, out);
            start += MAX_RECORD;
        }
        self.pending.drain(..start);
    }

    /// Flush the unfinished line at the end of the stream as a full record.
    pub fn finish(&mut self, now: jiff::Timestamp, out: &mut Vec<u8>) {
        if !self.pending.is_empty() {
            let ts = format_timestamp(now);
            self.record(&ts, 0, self.pending.len(), true, out);
            self.pending.clear();
        }
    }

    fn record(&self, ts: &str, start: usize, end: usize, full: bool, out: &mut Vec<u8>) {
        let tag = if full { "F" } else { "P" };
        let _ = write!(out, "{ts} {} {tag} ", self.stream.as_str());
        out.extend_from_slice(&self.pending[start..end]);
        out.push(b'\n');
    }
}

/// One parsed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// The timestamp text.
    pub time: &'a str,
    /// `stdout` or `stderr`.
    pub stream: &'a str,
    /// Whether more of this line follows in the next record of the stream.
    pub partial: bool,
    /// The content, without the newline.
    pub content: &'a [u8],
}

/// Parse one record (without its trailing newline).
pub fn parse(line: &[u8]) -> Option<Record<'_>> {
    let mut parts = line.splitn(4, |&b| b == b' ');
    let time = std::str::from_utf8(parts.next()?).ok()?;
    let stream = std::str::from_utf8(parts.next()?).ok()?;
    let tag = parts.next()?;
    let content = parts.next().unwrap_or_default();
    let partial = match tag {
        b"P" => true,
        b"F" => false,
        _ => return None,
    };
    Some(Record {
        time,
        stream,
        partial,
        content,
    })
}

/// What to show of a log.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Only the last N lines.
    pub tail: Option<usize>,
    /// Only lines at or after this time.
    pub since: Option<jiff::Timestamp>,
    /// Prefix each line with its timestamp.
    pub timestamps: bool,
    /// Keep streaming new lines until the container exits.
    pub follow: bool,
}

/// A complete log line reassembled from its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Timestamp of the record that completed the line.
    pub time: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// The content with its newline.
    pub content: Vec<u8>,
}

/// Reassembles lines from records, possibly fed in pieces as a log grows.
#[derive(Debug, Default)]
pub struct Reassembler {
    partial_stdout: Vec<u8>,
    partial_stderr: Vec<u8>,
    carry: Vec<u8>,
}

impl Reassembler {
    /// Feed bytes read from the log file; returns the lines they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Line> {
        self.carry.extend_from_slice(bytes);
        let mut lines = Vec::new();
        let mut start = 0;
        while let Some(nl) = self.carry[start..].iter().position(|&b| b == b'\n') {
            let end = start + nl;
            if let Some(r) = parse(&self.carry[start..end]) {
                let buf = if r.stream == "stderr" {
                    &mut self.partial_stderr
                } else {
                    &mut self.partial_stdout
                };
                buf.extend_from_slice(r.content);
                if !r.partial {
                    let mut content = std::mem::take(buf);
                    content.push(b'\n');
                    lines.push(Line {
                        time: r.time.to_string(),
                        stream: r.stream.to_string(),
                        content,
                    });
                }
            }
            start = end + 1;
        }
        self.carry.drain(..start);
        lines
    }
}

/// Whether `line` passes the `since` filter.
pub fn keep(line: &Line, options: &LogOptions) -> bool {
    match &options.since {
        Some(since) => line
            .time
            .parse::<jiff::Timestamp>()
            .is_ok_and(|t| t >= *since),
        None => true,
    }
}

/// Render a line as shown to the user.
pub fn render(line: &Line, options: &LogOptions, out: &mut Vec<u8>) {
    if options.timestamps {
        out.extend_from_slice(line.time.as_bytes());
        out.push(b' ');
    }
    out.extend_from_slice(&line.content);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts() -> jiff::Timestamp {
        "2024-05-06T07:08:09.123456789Z".parse().unwrap()
    }

    #[test]
    fn lines_become_full_records() {
        let mut s = LineSplitter::new(Stream::Stdout);
        let mut out = Vec::new();
        s.push(b"hello\nwor", ts(), &mut out);
        s.push(b"ld\n", ts(), &mut out);
        s.push(b"tail", ts(), &mut out);
        s.finish(ts(), &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "2024-05-06T07:08:09.123456789Z stdout F hello\n\
             2024-05-06T07:08:09.123456789Z stdout F world\n\
             2024-05-06T07:08:09.123456789Z stdout F tail\n"
        );
    }

    #[test]
    fn long_lines_are_split_and_reassembled() {
        let mut s = LineSplitter::new(Stream::Stderr);
        let mut out = Vec::new();
        let long = vec![b'x'; MAX_RECORD + 10];
        s.push(&long, ts(), &mut out);
        s.push(b"\n", ts(), &mut out);
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.lines().next().unwrap().contains(" stderr P "));
        assert!(text.lines().nth(1).unwrap().contains(" stderr F "));
        let mut r = Reassembler::default();
        // Feed in two arbitrary pieces: a record split across reads must still parse.
        let (a, b) = out.split_at(100);
        let mut lines = r.feed(a);
        lines.extend(r.feed(b));
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].content.len(), MAX_RECORD + 11);
        assert_eq!(lines[0].stream, "stderr");
    }

    #[test]
    fn since_and_timestamps() {
        let line = Line {
            time: "2024-05-06T07:08:09.123456789Z".into(),
            stream: "stdout".into(),
            content: b"a\n".to_vec(),
        };
        let mut o = LogOptions {
            since: Some("2024-05-06T07:08:10Z".parse().unwrap()),
            timestamps: true,
            ..Default::default()
        };
        assert!(!keep(&line, &o));
        o.since = Some("2024-05-06T07:08:09Z".parse().unwrap());
        assert!(keep(&line, &o));
        let mut out = Vec::new();
        render(&line, &o, &mut out);
        assert_eq!(out, b"2024-05-06T07:08:09.123456789Z a\n");
    }

    #[test]
    fn garbage_records_are_skipped() {
        assert!(parse(b"no").is_none());
        assert!(parse(b"t stdout X y").is_none());
        let r = parse(b"t stdout F").unwrap();
        assert_eq!(r.content, b"");
    }
}

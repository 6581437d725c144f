//! Restart back-off of crashing containers, as the kubelet does it: the first restart is
//! immediate, then 10 s doubling up to 5 minutes; a container that ran for 10 minutes
//! without crashing starts over.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The first delay (the kubelet's 10 s); each one after doubles the last.
pub const INITIAL: Duration = Duration::from_secs(10);
/// The longest delay back-off grows to (the kubelet's 5 minutes).
pub const MAX: Duration = Duration::from_secs(300);
/// Running this long forgives earlier crashes.
pub const RESET_AFTER: Duration = Duration::from_secs(600);

/// Back-off state of the containers of one pod, by container name.
#[derive(Debug, Default)]
pub struct Backoff {
    entries: HashMap<String, Entry>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// The delay that applies to the next restart.
    delay: Duration,
    /// When the next restart may happen.
    until: Instant,
}

/// Whether a container may restart now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Restart now.
    Go,
    /// Wait: the delay in force and when it ends.
    Wait(Duration, Instant),
}

impl Backoff {
    /// May `container`, which exited at `finished` after running for `ran`, restart at
    /// `now`? Call [`Backoff::restarted`] when it does.
    pub fn verdict(
        &self,
        container: &str,
        finished: Instant,
        ran: Duration,
        now: Instant,
    ) -> Verdict {
        if ran >= RESET_AFTER {
            return Verdict::Go;
        }
        match self.entries.get(container) {
            None => Verdict::Go,
            Some(e) => {
                let until = e.until.max(finished + e.delay);
                if now >= until {
                    Verdict::Go
                } else {
                    Verdict::Wait(e.delay, until)
                }
            }
        }
    }

    /// Earlier crashes of `container` no longer count: the next restart is immediate again.
    pub fn forget(&mut self, container: &str) {
        self.entries.remove(container);
    }

    /// `container` was restarted at `now`: the next restart waits longer.
    pub fn restarted(&mut self, container: &str, now: Instant) {
        let delay = match self.entries.get(container) {
            None => INITIAL,
            Some(e) => (e.delay * 2).min(MAX),
        };
        // The wait counts from the next exit, which `verdict` adds; `until` only keeps a
        // container that crashes instantly from restarting before `delay` has passed.
        self.entries
            .insert(container.to_string(), Entry { delay, until: now });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_restart_is_immediate_then_doubles_to_the_cap() {
        let mut b = Backoff::default();
        let t0 = Instant::now();
        assert_eq!(b.verdict("c", t0, Duration::ZERO, t0), Verdict::Go);
        b.restarted("c", t0);
        let mut expected = INITIAL;
        let mut now = t0;
        for _ in 0..8 {
            match b.verdict("c", now, Duration::ZERO, now) {
                Verdict::Wait(d, until) => {
                    assert_eq!(d, expected);
                    assert_eq!(until, now + expected);
                    now = until;
                }
                Verdict::Go => panic!("restarted without waiting"),
            }
            assert_eq!(
                b.verdict("c", now - expected, Duration::ZERO, now),
                Verdict::Go
            );
            b.restarted("c", now);
            expected = (expected * 2).min(MAX);
        }
        assert_eq!(expected, MAX);
    }

    #[test]
    fn long_run_resets_the_delay() {
        let mut b = Backoff::default();
        let t0 = Instant::now();
        b.restarted("c", t0);
        b.restarted("c", t0);
        assert!(matches!(
            b.verdict("c", t0, Duration::ZERO, t0),
            Verdict::Wait(..)
        ));
        assert_eq!(b.verdict("c", t0, RESET_AFTER, t0), Verdict::Go);
        // Restarted after the long run, the delay starts over.
        b.forget("c");
        b.restarted("c", t0);
        assert_eq!(
            b.verdict("c", t0, Duration::ZERO, t0),
            Verdict::Wait(INITIAL, t0 + INITIAL)
        );
    }
}

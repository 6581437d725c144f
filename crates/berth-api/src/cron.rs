//! Cron schedules as CronJobs use them, once for both sides: API validation admits exactly
//! what [`Schedule::parse`] parses, and the CronJob controller runs what it parsed.
//!
//! The grammar is `github.com/robfig/cron/v3`'s `ParseStandard`, which Kubernetes uses: five
//! fields (minute, hour, day of month, month, day of week) with `*`, `?`, lists, ranges,
//! steps and month/weekday names; the descriptors `@yearly` (`@annually`), `@monthly`,
//! `@weekly`, `@daily` (`@midnight`), `@hourly` and `@every <Go duration>`; an optional
//! `TZ=`/`CRON_TZ=` prefix (which CronJob validation then refuses in favour of
//! `spec.timeZone`). Error messages are that parser's, because Kubernetes returns them
//! verbatim in the field error.
//!
//! Next times follow the same library: a five-field schedule fires at the first matching
//! minute strictly after a time, searching at most five years ahead, with Vixie cron's day
//! rule (when neither day field is a `*`, a day matches if either does); `@every d` fires
//! `d` (at least one second, truncated to whole seconds) after the previous time truncated
//! to its second, so it counts from the earliest time the controller starts from.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// Why a schedule does not parse; the message is robfig/cron's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CronError(String);

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    kind: Kind,
    /// The zone of a `TZ=`/`CRON_TZ=` prefix.
    zone: Option<TimeZone>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Fields(Fields),
    /// `@every`: whole seconds, at least one.
    Every(i64),
}

/// The allowed values of each field as bit sets; [`STAR`] marks a field given as `*`/`?`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fields {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
}

/// Set in a field written as `*` or `?` (without a step above 1): the day rule needs it.
const STAR: u64 = 1 << 63;

/// One field's allowed range and optional names.
struct Bounds {
    min: u64,
    max: u64,
    names: &'static [(&'static str, u64)],
}

const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ],
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &[
        ("sun", 0),
        ("mon", 1),
        ("tue", 2),
        ("wed", 3),
        ("thu", 4),
        ("fri", 5),
        ("sat", 6),
    ],
};

/// Every value of a field, marked as a star.
fn all(b: &Bounds) -> u64 {
    bits(b.min, b.max, 1) | STAR
}

fn bits(lo: u64, hi: u64, step: u64) -> u64 {
    (lo..=hi)
        .step_by(usize::try_from(step).unwrap_or(usize::MAX))
        .fold(0, |acc, v| acc | 1 << v)
}

fn has(field: u64, value: i8) -> bool {
    u32::try_from(value).is_ok_and(|v| v < 63 && field & (1 << v) != 0)
}

impl Schedule {
    /// Parse a schedule as `cron.ParseStandard` does.
    pub fn parse(spec: &str) -> Result<Schedule, CronError> {
        if spec.is_empty() {
            return Err(CronError("empty spec string".into()));
        }
        let mut spec = spec;
        let mut zone = None;
        if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
            let eq = spec.find('=').unwrap_or(0);
            let end = spec.find(' ').unwrap_or(spec.len());
            let name = spec.get(eq + 1..end).unwrap_or("");
            zone = Some(load_location(name).ok_or_else(|| {
                CronError(format!(
                    "provided bad location {name}: unknown time zone {name}"
                ))
            })?);
            spec = spec.get(end..).unwrap_or("").trim();
        }
        let kind = if spec.starts_with('@') {
            descriptor(spec)?
        } else {
            Kind::Fields(five_fields(spec)?)
        };
        Ok(Schedule { kind, zone })
    }

    /// The zone named by a `TZ=`/`CRON_TZ=` prefix, which takes precedence over any other.
    pub fn time_zone(&self) -> Option<&TimeZone> {
        self.zone.as_ref()
    }

    /// The first time strictly after `after` that the schedule fires, its fields read in
    /// `tz` (unless the schedule names its own zone); `None` if it does not fire within
    /// five years.
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        match &self.kind {
            Kind::Every(secs) => {
                Timestamp::from_second(floor_second(after).checked_add(*secs)?).ok()
            }
            Kind::Fields(f) => f.next_after(after, self.zone.as_ref().unwrap_or(tz)),
        }
    }

    /// The times the schedule fired after `since` up to and including `now`: the latest,
    /// how many, and the first after `now`.
    pub fn runs_between(&self, since: Timestamp, now: Timestamp, tz: &TimeZone) -> Runs {
        let mut runs = Runs::default();
        if let Kind::Every(secs) = self.kind {
            // Evenly spaced: counted, not walked, however long the controller was away.
            let Some(first) = floor_second(since).checked_add(secs) else {
                return runs;
            };
            let last_second = floor_second(now);
            if first <= last_second {
                let later = (last_second - first) / secs;
                runs.count = u64::try_from(later).unwrap_or(0) + 1;
                runs.latest = Timestamp::from_second(first + later * secs).ok();
            }
            let next = runs
                .latest
                .map_or(Some(first), |l| l.as_second().checked_add(secs));
            runs.next = next.and_then(|n| Timestamp::from_second(n).ok());
            return runs;
        }
        let mut t = since;
        while let Some(at) = self.next_after(t, tz) {
            if at > now {
                runs.next = Some(at);
                break;
            }
            runs.latest = Some(at);
            runs.count += 1;
            t = at;
        }
        runs
    }
}

/// What [`Schedule::runs_between`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Runs {
    /// The most recent time at or before `now`.
    pub latest: Option<Timestamp>,
    /// How many times fell in the interval.
    pub count: u64,
    /// The first time after `now`, if there is one within five years.
    pub next: Option<Timestamp>,
}

/// Go's `time.Time.Unix()` after dropping the fraction: seconds rounded down.
fn floor_second(t: Timestamp) -> i64 {
    t.as_second() - i64::from(t.subsec_nanosecond() < 0)
}

/// Go's `time.LoadLocation`: `""` is UTC and `Local` the machine's zone.
fn load_location(name: &str) -> Option<TimeZone> {
    match name {
        "" | "UTC" => Some(TimeZone::UTC),
        "Local" => Some(TimeZone::system()),
        _ => TimeZone::get(name).ok(),
    }
}

/// Whether the IANA database knows a zone name (`UTC`, `Europe/Paris`, ...).
pub fn known_time_zone(name: &str) -> bool {
    !name.is_empty() && jiff::tz::db().get(name).is_ok()
}

fn descriptor(spec: &str) -> Result<Kind, CronError> {
    let at = |minute: u64, hour: u64, dom: u64, month: u64, dow: u64| {
        Ok(Kind::Fields(Fields {
            minute,
            hour,
            dom,
            month,
            dow,
        }))
    };
    match spec {
        "@yearly" | "@annually" => at(1, 1, 1 << 1, 1 << 1, all(&DOW)),
        "@monthly" => at(1, 1, 1 << 1, all(&MONTHS), all(&DOW)),
        "@weekly" => at(1, 1, all(&DOM), all(&MONTHS), 1),
        "@daily" | "@midnight" => at(1, 1, all(&DOM), all(&MONTHS), all(&DOW)),
        "@hourly" => at(1, all(&HOURS), all(&DOM), all(&MONTHS), all(&DOW)),
        _ => match spec.strip_prefix("@every ") {
            Some(d) => {
                let nanos = go_duration(d)
                    .map_err(|e| CronError(format!("failed to parse duration {spec}: {e}")))?;
                // `cron.Every`: under a second runs every second; fractions are dropped.
                let secs = (nanos / 1_000_000_000).max(1);
                Ok(Kind::Every(i64::try_from(secs).unwrap_or(i64::MAX)))
            }
            None => Err(CronError(format!("unrecognized descriptor: {spec}"))),
        },
    }
}

fn five_fields(spec: &str) -> Result<Fields, CronError> {
    let fields: Vec<&str> = spec.split_whitespace().collect();
    let [minute, hour, dom, month, dow] = fields.as_slice() else {
        return Err(CronError(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        )));
    };
    Ok(Fields {
        minute: field(minute, &MINUTES)?,
        hour: field(hour, &HOURS)?,
        dom: field(dom, &DOM)?,
        month: field(month, &MONTHS)?,
        dow: field(dow, &DOW)?,
    })
}

/// A comma-separated list of ranges; empty elements (`1,,2`) are skipped, as Go's
/// `FieldsFunc` does.
fn field(text: &str, b: &Bounds) -> Result<u64, CronError> {
    text.split(',')
        .filter(|e| !e.is_empty())
        .try_fold(0, |acc, expr| Ok(acc | range(expr, b)?))
}

/// One list element: `*`, `?`, `N`, `N-M`, each optionally `/step`.
fn range(expr: &str, b: &Bounds) -> Result<u64, CronError> {
    let err = |m: String| Err(CronError(m));
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_high.len() == 1;
    let (start, mut end, mut star);
    if low_high[0] == "*" || low_high[0] == "?" {
        (start, end, star) = (b.min, b.max, STAR);
    } else {
        start = int_or_name(low_high[0], b)?;
        end = match low_high.len() {
            1 => start,
            2 => int_or_name(low_high[1], b)?,
            _ => return err(format!("too many hyphens: {expr}")),
        };
        star = 0;
    }
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = atoi(range_and_step[1])?;
            // "N/step" means "N-max/step".
            if single {
                end = b.max;
            }
            // `*/2` restricts the field: no longer a star for the day rule.
            if step > 1 {
                star = 0;
            }
            step
        }
        _ => return err(format!("too many slashes: {expr}")),
    };
    if start < b.min {
        return err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            b.min
        ));
    }
    if end > b.max {
        return err(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            b.max
        ));
    }
    if start > end {
        return err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    if step == 0 {
        return err(format!("step of range should be a positive number: {expr}"));
    }
    Ok(bits(start, end, step) | star)
}

fn int_or_name(expr: &str, b: &Bounds) -> Result<u64, CronError> {
    let lower = expr.to_ascii_lowercase();
    match b.names.iter().find(|(n, _)| *n == lower) {
        Some((_, v)) => Ok(*v),
        None => atoi(expr),
    }
}

/// Go's `strconv.Atoi` followed by the parser's non-negative check.
fn atoi(expr: &str) -> Result<u64, CronError> {
    let digits = expr.strip_prefix(['+', '-']).unwrap_or(expr);
    let negative = expr.starts_with('-');
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(CronError(format!(
            "failed to parse int from {expr}: strconv.Atoi: parsing \"{expr}\": invalid syntax"
        )));
    }
    let Ok(n) = digits.parse::<i64>() else {
        return Err(CronError(format!(
            "failed to parse int from {expr}: strconv.Atoi: parsing \"{expr}\": value out of range"
        )));
    };
    if negative && n != 0 {
        return Err(CronError(format!(
            "negative number (-{n}) not allowed: {expr}"
        )));
    }
    Ok(n.unsigned_abs())
}

/// Go's `time.ParseDuration`, returning nanoseconds.
fn go_duration(s: &str) -> Result<i128, String> {
    let invalid = || format!("time: invalid duration \"{s}\"");
    let mut rest = s;
    let negative = rest.starts_with('-');
    rest = rest.strip_prefix(['+', '-']).unwrap_or(rest);
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(a) => {
                let n = a.bytes().take_while(u8::is_ascii_digit).count();
                a.split_at(n)
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = after
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(after.len(), |(i, _)| i);
        let (unit, after) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration \"{s}\""));
        }
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(format!("time: unknown unit \"{unit}\" in duration \"{s}\"")),
        };
        let whole: i128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut value = whole.checked_mul(scale).ok_or_else(invalid)?;
        let mut div = 1i128;
        for d in frac_part.bytes().take(18) {
            div *= 10;
            value += i128::from(d - b'0') * scale / div;
        }
        total = total.checked_add(value).ok_or_else(invalid)?;
        if total > i128::from(i64::MAX) {
            return Err(invalid());
        }
        rest = after;
    }
    Ok(if negative { -total } else { total })
}

impl Fields {
    /// `dayMatches`: with a star in either day field both must match, otherwise either.
    fn day_matches(&self, t: DateTime) -> bool {
        let dom = has(self.dom, t.day());
        let dow = has(self.dow, t.weekday().to_sunday_zero_offset());
        if self.dom & STAR != 0 || self.dow & STAR != 0 {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// Walk the wall clock of `tz` field by field (month, day, hour, minute), skipping
    /// whole units that cannot match.
    fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let start = after.to_zoned(tz.clone()).datetime();
        // Five-field schedules fire at second 0: the first whole minute after `after`.
        let mut t = start
            .with()
            .second(0)
            .subsec_nanosecond(0)
            .build()
            .ok()?
            .checked_add(1.minute())
            .ok()?;
        let last_year = t.year().checked_add(5)?;
        while t.year() <= last_year {
            if !has(self.month, t.month()) {
                t = t
                    .first_of_month()
                    .start_of_day()
                    .checked_add(1.month())
                    .ok()?;
            } else if !self.day_matches(t) {
                t = t.start_of_day().tomorrow().ok()?;
            } else if !has(self.hour, t.hour()) {
                t = t
                    .with()
                    .minute(0)
                    .build()
                    .ok()?
                    .checked_add(1.hour())
                    .ok()?;
            } else if !has(self.minute, t.minute()) {
                t = t.checked_add(1.minute()).ok()?;
            } else {
                // A wall time in a gap moves forward, one in a fold takes its first instance;
                // either may land at or before `after`, and then the walk goes on.
                let ts = tz.to_ambiguous_zoned(t).compatible().ok()?.timestamp();
                if ts > after {
                    return Some(ts);
                }
                t = t.checked_add(1.minute()).ok()?;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn next(spec: &str, after: &str) -> String {
        Schedule::parse(spec)
            .unwrap()
            .next_after(at(after), &TimeZone::UTC)
            .map_or("never".to_string(), |t| t.to_string())
    }

    fn parse_err(spec: &str) -> String {
        Schedule::parse(spec).unwrap_err().to_string()
    }

    #[test]
    fn accepts_standard_schedules() {
        for ok in [
            "* * * * *",
            "*/5 * * * *",
            "0 0 * * 0",
            "15 3 1-15/2 jan-JUN mon,wed,fri",
            "0 0 ? * *",
            "5/15 * * * *",
            "@yearly",
            "@annually",
            "@monthly",
            "@weekly",
            "@daily",
            "@midnight",
            "@hourly",
            "@every 1h30m",
            "@every 5s",
            "@every 0s",
            "@every 1.5s",
            "TZ=UTC 0 * * * *",
            "CRON_TZ=Europe/Paris @daily",
            "1,,2 * * * *",
            "0 0 31 2 *",
        ] {
            assert!(
                Schedule::parse(ok).is_ok(),
                "{ok}: {:?}",
                Schedule::parse(ok)
            );
        }
    }

    #[test]
    fn rejects_with_robfig_messages() {
        let cases = [
            ("", "empty spec string"),
            ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
            (
                "* * * * * *",
                "expected exactly 5 fields, found 6: [* * * * * *]",
            ),
            ("60 * * * *", "end of range (60) above maximum (59): 60"),
            ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
            ("* * * * 7", "end of range (7) above maximum (6): 7"),
            (
                "5-1 * * * *",
                "beginning of range (5) beyond end of range (1): 5-1",
            ),
            (
                "*/0 * * * *",
                "step of range should be a positive number: */0",
            ),
            (
                "x * * * *",
                "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax",
            ),
            (
                "-1 * * * *",
                "failed to parse int from : strconv.Atoi: parsing \"\": invalid syntax",
            ),
            ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
            ("1/2/3 * * * *", "too many slashes: 1/2/3"),
            ("@fortnightly", "unrecognized descriptor: @fortnightly"),
            ("@hourly ", "unrecognized descriptor: @hourly "),
            (
                "@every x",
                "failed to parse duration @every x: time: invalid duration \"x\"",
            ),
            (
                "@every 5",
                "failed to parse duration @every 5: time: missing unit in duration \"5\"",
            ),
            (
                "@every 1d",
                "failed to parse duration @every 1d: time: unknown unit \"d\" in duration \"1d\"",
            ),
            (
                "TZ=Mars/Olympus * * * * *",
                "provided bad location Mars/Olympus: unknown time zone Mars/Olympus",
            ),
        ];
        for (spec, want) in cases {
            assert_eq!(parse_err(spec), want, "{spec}");
        }
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(go_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(go_duration("-2m"), Ok(-120_000_000_000));
        assert_eq!(go_duration("0"), Ok(0));
        assert!(go_duration("1").is_err());
        assert!(go_duration("1d").is_err());
        assert!(go_duration("").is_err());
    }

    #[test]
    fn five_field_schedules_step_like_cron() {
        let cases = [
            ("* * * * *", "2026-01-01T00:00:30Z", "2026-01-01T00:01:00Z"),
            ("* * * * *", "2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"),
            (
                "*/15 * * * *",
                "2026-01-01T00:01:00Z",
                "2026-01-01T00:15:00Z",
            ),
            (
                "5/15 * * * *",
                "2026-01-01T00:21:00Z",
                "2026-01-01T00:35:00Z",
            ),
            (
                "5 4 * * sun",
                "2026-01-01T00:00:00Z",
                "2026-01-04T04:05:00Z",
            ),
            (
                "0 0 1 jan *",
                "2026-01-01T00:00:00Z",
                "2027-01-01T00:00:00Z",
            ),
            ("@yearly", "2026-06-01T00:00:00Z", "2027-01-01T00:00:00Z"),
            ("@monthly", "2026-01-31T12:00:00Z", "2026-02-01T00:00:00Z"),
            ("@hourly", "2026-01-01T00:59:59Z", "2026-01-01T01:00:00Z"),
            ("@daily", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"),
            ("@weekly", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z"),
            (
                "0 9-17/4 * * mon-fri",
                "2026-01-02T10:00:00Z",
                "2026-01-02T13:00:00Z",
            ),
            ("0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"),
            (
                "59 23 31 12 *",
                "2026-12-31T23:59:00Z",
                "2027-12-31T23:59:00Z",
            ),
            // Day of month 31 only exists in some months.
            ("0 0 31 * *", "2026-04-01T00:00:00Z", "2026-05-31T00:00:00Z"),
        ];
        for (spec, after, want) in cases {
            assert_eq!(next(spec, after), want, "{spec} after {after}");
        }
    }

    #[test]
    fn day_fields_combine_like_vixie_cron() {
        // Both restricted: either matches (2026-01-02 is a Friday, before the 13th).
        assert_eq!(
            next("0 0 13 * 5", "2026-01-01T00:00:00Z"),
            "2026-01-02T00:00:00Z"
        );
        // A star in either: both must match.
        assert_eq!(
            next("0 0 * * 5", "2026-01-01T00:00:00Z"),
            "2026-01-02T00:00:00Z"
        );
        assert_eq!(
            next("0 0 13 * *", "2026-01-01T00:00:00Z"),
            "2026-01-13T00:00:00Z"
        );
        assert_eq!(
            next("0 0 13 * ?", "2026-01-01T00:00:00Z"),
            "2026-01-13T00:00:00Z"
        );
        // `*/1` is still a star; `*/2` is a restriction, so then either day matches.
        assert_eq!(
            next("0 0 13 * */1", "2026-01-01T00:00:00Z"),
            "2026-01-13T00:00:00Z"
        );
        assert_eq!(
            next("0 0 */2 * 1", "2026-01-01T00:00:00Z"),
            "2026-01-03T00:00:00Z"
        );
    }

    #[test]
    fn impossible_dates_never_fire() {
        assert_eq!(next("0 0 31 2 *", "2026-01-01T00:00:00Z"), "never");
        assert_eq!(next("0 0 30 2 *", "2026-01-01T00:00:00Z"), "never");
    }

    #[test]
    fn every_counts_whole_seconds_from_the_previous_time() {
        assert_eq!(
            next("@every 5s", "2026-01-01T00:00:00Z"),
            "2026-01-01T00:00:05Z"
        );
        // The fraction of the start is dropped, and so is the duration's.
        assert_eq!(
            next("@every 5s", "2026-01-01T00:00:00.7Z"),
            "2026-01-01T00:00:05Z"
        );
        assert_eq!(
            next("@every 2.9s", "2026-01-01T00:00:00Z"),
            "2026-01-01T00:00:02Z"
        );
        // Under a second (or negative) is every second.
        assert_eq!(
            next("@every 10ms", "2026-01-01T00:00:00Z"),
            "2026-01-01T00:00:01Z"
        );
        assert_eq!(
            next("@every -5s", "2026-01-01T00:00:00Z"),
            "2026-01-01T00:00:01Z"
        );
        assert_eq!(
            next("@every 1h30m", "2026-01-01T23:00:00Z"),
            "2026-01-02T00:30:00Z"
        );
    }

    #[test]
    fn time_zones_shift_the_schedule() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        let s = Schedule::parse("0 9 * * *").unwrap();
        assert_eq!(s.time_zone(), None);
        let t = s.next_after(at("2026-01-01T00:00:00Z"), &berlin).unwrap();
        assert_eq!(t.to_string(), "2026-01-01T08:00:00Z");
        // A prefix names the zone itself, whatever the caller's.
        let s = Schedule::parse("CRON_TZ=Europe/Berlin 0 9 * * *").unwrap();
        assert_eq!(s.time_zone(), Some(&berlin));
        let t = s
            .next_after(at("2026-01-01T00:00:00Z"), &TimeZone::UTC)
            .unwrap();
        assert_eq!(t.to_string(), "2026-01-01T08:00:00Z");
        // Spring forward in Berlin (2026-03-29 02:00 -> 03:00): 02:30 does not exist and
        // moves to 03:30 local, 01:30 UTC.
        let s = Schedule::parse("30 2 * * *").unwrap();
        let t = s.next_after(at("2026-03-28T12:00:00Z"), &berlin).unwrap();
        assert_eq!(t.to_string(), "2026-03-29T01:30:00Z");
    }

    #[test]
    fn runs_between_finds_the_latest_and_the_next() {
        let utc = TimeZone::UTC;
        let runs = |spec: &str, since: &str, now: &str| {
            Schedule::parse(spec)
                .unwrap()
                .runs_between(at(since), at(now), &utc)
        };
        let r = runs(
            "*/10 * * * *",
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:35:00Z",
        );
        assert_eq!(r.latest, Some(at("2026-01-01T00:30:00Z")));
        assert_eq!(r.count, 3);
        assert_eq!(r.next, Some(at("2026-01-01T00:40:00Z")));
        let r = runs(
            "*/10 * * * *",
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:05:00Z",
        );
        assert_eq!((r.latest, r.count), (None, 0));
        assert_eq!(r.next, Some(at("2026-01-01T00:10:00Z")));
        // Constant delays count from `since`, not from the wall clock.
        let r = runs(
            "@every 1h30m",
            "2026-01-01T00:00:07Z",
            "2026-01-01T04:00:00Z",
        );
        assert_eq!(r.latest, Some(at("2026-01-01T03:00:07Z")));
        assert_eq!(r.count, 2);
        assert_eq!(r.next, Some(at("2026-01-01T04:30:07Z")));
        let r = runs(
            "@every 5s",
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:04.9Z",
        );
        assert_eq!((r.latest, r.count), (None, 0));
        assert_eq!(r.next, Some(at("2026-01-01T00:00:05Z")));
        let r = runs("@every 5s", "2026-01-01T00:00:00Z", "2026-01-01T00:00:05Z");
        assert_eq!((r.latest, r.count), (Some(at("2026-01-01T00:00:05Z")), 1));
        // A year away from an every-second schedule is counted, not walked.
        let r = runs("@every 1s", "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z");
        assert_eq!(r.count, 365 * 86_400);
        assert_eq!(r.latest, Some(at("2026-01-01T00:00:00Z")));
        // Walking and counting agree.
        let walked = Schedule::parse("* * * * *").unwrap();
        let counted = Schedule::parse("@every 1m").unwrap();
        let (since, now) = (at("2026-01-01T00:00:00Z"), at("2026-01-01T01:00:30Z"));
        assert_eq!(
            walked.runs_between(since, now, &utc),
            counted.runs_between(since, now, &utc)
        );
        assert_eq!(
            runs("0 0 31 2 *", "2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z"),
            Runs::default()
        );
    }

    #[test]
    fn zone_names() {
        assert!(known_time_zone("UTC"));
        assert!(known_time_zone("Europe/Paris"));
        assert!(!known_time_zone(""));
        assert!(!known_time_zone("Mars/Base"));
    }
}

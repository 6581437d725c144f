//! Cron schedules as CronJobs use them: five fields (minute, hour, day of month, month, day
//! of week) with `*`, lists, ranges, steps and month/day names, or one of `@yearly`,
//! `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`. As in Vixie cron,
//! when both day fields are restricted a day matches if either does. Small enough to own:
//! the crates for it bring their own time library, and this one works in `jiff` time zones.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// A parsed schedule: the allowed values of each field as bit sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    days_restricted: bool,
    weekdays_restricted: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn value(text: &str, names: &[&str], offset: u32) -> Result<u32, String> {
    if let Some(i) = names.iter().position(|n| text.eq_ignore_ascii_case(n)) {
        return Ok(i as u32 + offset);
    }
    text.parse()
        .map_err(|_| format!("{text:?} is not a number or a name"))
}

/// The bit set of one field; `restricted` is false for `*` (and `?`).
fn field(
    text: &str,
    min: u32,
    max: u32,
    names: &[&str],
    offset: u32,
) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    let mut restricted = true;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let s: u32 = s.parse().map_err(|_| format!("bad step {s:?}"))?;
                if s == 0 {
                    return Err("a step of 0".into());
                }
                (r, s)
            }
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            if part == range {
                restricted = false;
            }
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, names, offset)?, value(b, names, offset)?)
        } else {
            let v = value(range, names, offset)?;
            // `5/15` means from 5 to the end in steps of 15.
            (v, if step > 1 { max } else { v })
        };
        // Sunday may be written 7: alone it is 0; ending a range it adds Sunday.
        let mut sunday = false;
        let (lo, hi) = match (max, lo, hi) {
            (6, 7, 7) => (0, 0),
            (6, lo, 7) => {
                sunday = true;
                (lo, 6)
            }
            _ => (lo, hi),
        };
        if lo < min || hi > max || lo > hi {
            return Err(format!("{part:?} is outside {min}-{max}"));
        }
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
        if sunday {
            bits |= 1;
        }
    }
    Ok((bits, restricted))
}

impl Schedule {
    /// Parse a schedule, or say what is wrong with it.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let text = text.trim();
        let expanded = match text {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other if other.starts_with('@') => return Err(format!("unknown schedule {other:?}")),
            other => other,
        };
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        let [m, h, dom, mon, dow] = parts.as_slice() else {
            return Err(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), found {}",
                parts.len()
            ));
        };
        let (minutes, _) = field(m, 0, 59, &[], 0)?;
        let (hours, _) = field(h, 0, 23, &[], 0)?;
        let (days, days_restricted) = field(dom, 1, 31, &[], 0)?;
        let (months, _) = field(mon, 1, 12, &MONTHS, 1)?;
        let (weekdays, weekdays_restricted) = field(dow, 0, 6, &DAYS, 0)?;
        Ok(Schedule {
            minutes,
            hours: hours as u32,
            days: days as u32,
            months: months as u16,
            weekdays: weekdays as u8,
            days_restricted,
            weekdays_restricted,
        })
    }

    fn matches(&self, t: DateTime) -> bool {
        let day = self.days & (1 << t.day()) != 0;
        let weekday = self.weekdays & (1 << t.weekday().to_sunday_zero_offset()) != 0;
        let day_ok = match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => day || weekday,
            (true, false) => day,
            (false, true) => weekday,
            (false, false) => true,
        };
        self.minutes & (1 << t.minute()) != 0
            && self.hours & (1 << t.hour()) != 0
            && self.months & (1 << t.month()) != 0
            && day_ok
    }

    /// The first scheduled time strictly after `after`, within about five years.
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let start = after.to_zoned(tz.clone()).datetime();
        let mut t = start
            .with()
            .second(0)
            .subsec_nanosecond(0)
            .build()
            .ok()?
            .checked_add(1.minute())
            .ok()?;
        let limit = start.checked_add(5.years()).ok()?;
        while t < limit {
            if self.months & (1 << t.month()) == 0 {
                // Skip to the first minute of the next month.
                t = t
                    .first_of_month()
                    .checked_add(1.month())
                    .ok()?
                    .start_of_day();
                continue;
            }
            if self.matches(t) {
                let ts = tz.to_ambiguous_zoned(t).compatible().ok()?.timestamp();
                if ts > after {
                    return Some(ts);
                }
            }
            t = if self.hours & (1 << t.hour()) == 0 {
                t.with()
                    .minute(0)
                    .build()
                    .ok()?
                    .checked_add(1.hour())
                    .ok()?
            } else {
                t.checked_add(1.minute()).ok()?
            };
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
            .unwrap()
            .to_string()
    }

    #[test]
    fn schedules_parse_and_step_like_cron() {
        assert_eq!(
            next("* * * * *", "2026-01-01T00:00:30Z"),
            "2026-01-01T00:01:00Z"
        );
        assert_eq!(
            next("*/15 * * * *", "2026-01-01T00:01:00Z"),
            "2026-01-01T00:15:00Z"
        );
        assert_eq!(
            next("5 4 * * sun", "2026-01-01T00:00:00Z"),
            "2026-01-04T04:05:00Z"
        );
        assert_eq!(
            next("0 0 1 jan *", "2026-01-01T00:00:00Z"),
            "2027-01-01T00:00:00Z"
        );
        assert_eq!(
            next("@hourly", "2026-01-01T00:59:59Z"),
            "2026-01-01T01:00:00Z"
        );
        assert_eq!(
            next("@weekly", "2026-01-01T00:00:00Z"),
            "2026-01-04T00:00:00Z"
        );
        assert_eq!(
            next("0 9-17/4 * * mon-fri", "2026-01-02T10:00:00Z"),
            "2026-01-02T13:00:00Z"
        );
        // Either day field matches when both are restricted.
        assert_eq!(
            next("0 0 13 * 5", "2026-01-01T00:00:00Z"),
            "2026-01-02T00:00:00Z"
        );
        assert_eq!(
            next("0 0 29 2 *", "2026-03-01T00:00:00Z"),
            "2028-02-29T00:00:00Z"
        );
        assert_eq!(
            next("0 0 * * 7", "2026-01-01T00:00:00Z"),
            "2026-01-04T00:00:00Z"
        );
    }

    #[test]
    fn time_zones_shift_the_schedule() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        let t = Schedule::parse("0 9 * * *")
            .unwrap()
            .next_after(at("2026-01-01T00:00:00Z"), &tz)
            .unwrap();
        assert_eq!(t.to_string(), "2026-01-01T08:00:00Z");
    }

    #[test]
    fn bad_schedules_are_errors() {
        for bad in [
            "",
            "* * * *",
            "61 * * * *",
            "* * 0 * *",
            "*/0 * * * *",
            "@often",
            "* * * foo *",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad:?}");
        }
    }
}

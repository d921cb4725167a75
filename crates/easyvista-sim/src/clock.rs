//! The simulator's clock and the timestamp formats of the API.
//!
//! Instants are kept as milliseconds since the Unix epoch and shown at one fixed offset. Every
//! change takes a stamp from [`Clock::next_stamp`], which never repeats and never goes back.

use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};

use crate::config::{ClockMode, UserDateFormat};

/// Milliseconds since the Unix epoch.
pub(crate) type Millis = i64;

pub(crate) struct Clock {
    offset: FixedOffset,
    start: Option<(Millis, Instant)>,
    last_stamp: Mutex<Millis>,
}

impl Clock {
    pub(crate) fn new(mode: ClockMode, offset: FixedOffset) -> Self {
        let start = match mode {
            ClockMode::Real => None,
            ClockMode::StartAt(at) => Some((at.timestamp_millis(), Instant::now())),
        };
        Self { offset, start, last_stamp: Mutex::new(0) }
    }

    pub(crate) fn offset(&self) -> FixedOffset {
        self.offset
    }

    pub(crate) fn now(&self) -> Millis {
        match self.start {
            None => Utc::now().timestamp_millis(),
            Some((at, since)) => {
                at + i64::try_from(since.elapsed().as_millis()).unwrap_or(i64::MAX / 2)
            }
        }
    }

    /// A stamp for a change: the current millisecond, or one past the last stamp handed out, so
    /// that a range search `LAST_UPDATE:(t;)` always tells two changes apart.
    pub(crate) fn next_stamp(&self) -> Millis {
        let now = self.now();
        let mut last = self.last_stamp.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *last = now.max(*last + 1);
        *last
    }

    pub(crate) fn to_local(&self, ms: Millis) -> DateTime<FixedOffset> {
        let utc = DateTime::from_timestamp_millis(ms).unwrap_or_default();
        utc.with_timezone(&self.offset)
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmm±HH:MM`, the read format of every timestamp.
    pub(crate) fn format(&self, ms: Millis) -> String {
        let mut out = String::with_capacity(29);
        self.write(&mut out, ms);
        out
    }

    /// Writes the read format of `ms` without the cost of a format string.
    pub(crate) fn write(&self, out: &mut String, ms: Millis) {
        use crate::employees::push_padded;
        let local = self.to_local(ms).naive_local();
        let offset = self.offset.local_minus_utc();
        let fields: [(u64, usize, char); 7] = [
            (u64::try_from(local.year()).unwrap_or(0), 4, '-'),
            (u64::from(local.month()), 2, '-'),
            (u64::from(local.day()), 2, 'T'),
            (u64::from(local.hour()), 2, ':'),
            (u64::from(local.minute()), 2, ':'),
            (u64::from(local.second()), 2, '.'),
            (
                u64::from(local.and_utc().timestamp_subsec_millis()),
                3,
                if offset < 0 { '-' } else { '+' },
            ),
        ];
        for (value, width, separator) in fields {
            push_padded(out, value, width);
            out.push(separator);
        }
        let offset = u64::from(offset.unsigned_abs());
        push_padded(out, offset / 3600, 2);
        out.push(':');
        push_padded(out, offset % 3600 / 60, 2);
    }

    /// Parses a bound of a range search. Only millisecond precision is honoured; a bound without
    /// an offset is read as UTC, which is not the instance's zone (a real pitfall).
    pub(crate) fn parse_bound(&self, text: &str) -> Result<Millis, BoundError> {
        if let Ok(at) = DateTime::parse_from_rfc3339(text) {
            if !has_millis(text) {
                return Err(BoundError::Precision);
            }
            return Ok(at.timestamp_millis());
        }
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
            if !has_millis(text) {
                return Err(BoundError::Precision);
            }
            return Ok(naive.and_utc().timestamp_millis());
        }
        if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
            return self
                .offset
                .from_local_datetime(&midnight)
                .single()
                .map(|at| at.timestamp_millis())
                .ok_or(BoundError::Invalid);
        }
        Err(BoundError::Invalid)
    }

    /// Parses a date written in the REST user's format, with or without a time.
    pub(crate) fn parse_user_date(&self, text: &str, format: UserDateFormat) -> Option<Millis> {
        let (date_fmt, with_time) = match format {
            UserDateFormat::MonthDayYear => ("%m/%d/%Y", "%m/%d/%Y %H:%M:%S"),
            UserDateFormat::DayMonthYear => ("%d/%m/%Y", "%d/%m/%Y %H:%M:%S"),
        };
        let text = text.trim();
        let naive = NaiveDateTime::parse_from_str(text, with_time).ok().or_else(|| {
            NaiveDate::parse_from_str(text, date_fmt).ok().and_then(|d| d.and_hms_opt(0, 0, 0))
        })?;
        self.offset.from_local_datetime(&naive).single().map(|at| at.timestamp_millis())
    }

    /// `YYYY-MM-DD`, the read format of date-only columns.
    pub(crate) fn format_day(&self, ms: Millis) -> String {
        self.to_local(ms).format("%Y-%m-%d").to_string()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BoundError {
    /// Seconds instead of milliseconds: the real server answers 590.
    Precision,
    /// Not a date at all.
    Invalid,
}

fn has_millis(text: &str) -> bool {
    let Some(time) = text.split('T').nth(1) else { return false };
    let digits_after_dot = time
        .split_once('.')
        .map(|(_, rest)| rest.chars().take_while(char::is_ascii_digit).count())
        .unwrap_or(0);
    digits_after_dot >= 3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock() -> Clock {
        let offset = FixedOffset::east_opt(3600).expect("valid offset");
        let start = offset.with_ymd_and_hms(2025, 11, 28, 16, 14, 41).single().expect("valid date");
        Clock::new(ClockMode::StartAt(start), offset)
    }

    #[test]
    fn stamps_never_repeat() {
        let clock = clock();
        let a = clock.next_stamp();
        let b = clock.next_stamp();
        let c = clock.next_stamp();
        assert!(a < b && b < c);
    }

    #[test]
    fn formats_with_millis_and_offset() {
        let clock = clock();
        let ms = clock.parse_bound("2025-11-28T16:14:41.133+01:00").expect("valid bound");
        assert_eq!(clock.format(ms), "2025-11-28T16:14:41.133+01:00");
        let west = Clock::new(
            ClockMode::Real,
            FixedOffset::west_opt(4 * 3600 + 1800).expect("valid offset"),
        );
        assert_eq!(west.format(ms), "2025-11-28T10:44:41.133-04:30");
    }

    #[test]
    fn second_precision_bound_is_refused() {
        assert_eq!(clock().parse_bound("2025-11-28T16:14:41+01:00"), Err(BoundError::Precision));
    }

    #[test]
    fn bound_without_offset_is_read_as_utc() {
        let clock = clock();
        let ms = clock.parse_bound("2025-11-28T16:14:41.133").expect("valid bound");
        assert_eq!(clock.format(ms), "2025-11-28T17:14:41.133+01:00");
    }

    #[test]
    fn user_dates_follow_the_profile_format() {
        let clock = clock();
        let ms = clock.parse_user_date("11/20/2016 12:12:12", UserDateFormat::MonthDayYear);
        assert_eq!(ms.map(|ms| clock.format(ms)).as_deref(), Some("2016-11-20T12:12:12.000+01:00"));
        assert_eq!(
            clock.parse_user_date("2016-11-20T12:12:12Z", UserDateFormat::MonthDayYear),
            None
        );
    }
}

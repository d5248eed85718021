//! IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) for the `date` header, formatted once per second.
//!
//! The caller passes the current Unix time: the codec never reads a clock, so tests are hermetic
//! and a worker reads the time once per event-loop turn.
#![deny(clippy::indexing_slicing)]

/// Length of an IMF-fixdate.
const LEN: usize = 29;

/// A per-worker cache of the formatted HTTP date; reformats only when the second changes.
#[derive(Clone, Debug)]
pub struct DateCache {
    unix_secs: u64,
    text: [u8; LEN],
}

impl Default for DateCache {
    fn default() -> Self {
        let mut cache = Self {
            unix_secs: 0,
            text: [0; LEN],
        };
        format(0, &mut cache.text);
        cache
    }
}

impl DateCache {
    /// A cache holding the epoch; the first [`get`](Self::get) formats the real time.
    pub fn new() -> Self {
        Self::default()
    }

    /// The date for `unix_secs` (seconds since 1970-01-01T00:00:00Z), e.g.
    /// `Sun, 06 Nov 1994 08:49:37 GMT`.
    pub fn get(&mut self, unix_secs: u64) -> &[u8; LEN] {
        if unix_secs != self.unix_secs {
            self.unix_secs = unix_secs;
            format(unix_secs, &mut self.text);
        }
        &self.text
    }
}

/// Formats `unix_secs` as IMF-fixdate into `out`. Years past 9999 are clamped to 9999-12-31.
fn format(unix_secs: u64, out: &mut [u8; LEN]) {
    const MAX_SECS: u64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    const WDAY: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MON: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let secs = unix_secs.min(MAX_SECS);
    let days = secs / 86_400;
    let sod = secs % 86_400;
    let (year, month, day) = civil_from_days(days);

    let mut w = Writer { out, pos: 0 };
    w.put(WDAY.get((days % 7) as usize).map_or(b"Thu", |d| *d));
    w.put(b", ");
    w.two(day);
    w.put(b" ");
    w.put(
        MON.get(month.saturating_sub(1) as usize)
            .map_or(b"Jan", |m| *m),
    );
    w.put(b" ");
    w.two(year / 100);
    w.two(year % 100);
    w.put(b" ");
    w.two(sod / 3600);
    w.put(b":");
    w.two(sod % 3600 / 60);
    w.put(b":");
    w.two(sod % 60);
    w.put(b" GMT");
    debug_assert_eq!(w.pos, LEN);
}

/// Days since the epoch to (year, month 1..=12, day 1..=31) in the proleptic Gregorian calendar,
/// counting in 400-year eras of 146 097 days from 0000-03-01 (so leap days fall at era ends).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = z / 146_097;
    let doe = z % 146_097; // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era, 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1st
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

struct Writer<'a> {
    out: &'a mut [u8; LEN],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, s: &[u8]) {
        for &b in s {
            if let Some(slot) = self.out.get_mut(self.pos) {
                *slot = b;
            }
            self.pos += 1;
        }
    }

    fn two(&mut self, n: u64) {
        let n = (n % 100) as u8;
        self.put(&[b'0' + n / 10, b'0' + n % 10]);
    }
}
